# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ideas board: draft posts without a date.

An idea can be a line of text and a few labels, with no channel yet; the composer turns
it into a post later. A draft saved from the composer without a time is an idea too, so
the board also shows drafts that already have channels and media. Only drafts without a
date can be edited or deleted here; anything scheduled belongs to the calendar.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.publishing.library_queries import json_list_contains, label_counts
from socialdesk.publishing.posts import MAX_LABELS, require_write
from socialdesk.storage.tables import Delivery, Post, User

MAX_IDEA_TEXT = 10_000
MAX_LABEL_LENGTH = 50


def clean_labels(raw: str | Sequence[str]) -> list[str]:
    """Labels as typed (``"launch, summer"``) as posts store them: trimmed, sorted, unique."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    labels = sorted({" ".join(item.split()) for item in items if item.strip()})
    if len(labels) > MAX_LABELS:
        raise ValidationError(f"at most {MAX_LABELS} labels per post", field="labels")
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise ValidationError(
            f"a label is longer than {MAX_LABEL_LENGTH} characters", field="labels"
        )
    return labels


def _clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError("write the idea down first", field="text")
    if len(text) > MAX_IDEA_TEXT:
        raise ValidationError(f"an idea is at most {MAX_IDEA_TEXT} characters", field="text")
    return text


def _is_idea() -> list[ColumnElement[bool]]:
    return [Post.status == "draft", Post.scheduled_at.is_(None)]


@dataclass(frozen=True, slots=True)
class IdeaCard:
    post: Post
    author: User | None


def list_ideas(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    query: str = "",
    label: str | None = None,
    limit: int = 200,
) -> list[IdeaCard]:
    """Ideas, most recently touched first, with their channels and media (no query per idea)."""
    statement = (
        select(Post)
        .where(Post.workspace_id == workspace_id, *_is_idea())
        .options(selectinload(Post.deliveries).selectinload(Delivery.media))
        .order_by(Post.updated_at.desc(), Post.id)
        .limit(limit)
    )
    if label:
        statement = statement.where(json_list_contains(session, Post.labels, label))
    for word in query.split()[:10]:
        statement = statement.where(func.lower(Post.text).contains(word.lower(), autoescape=True))
    posts = list(session.scalars(statement))
    author_ids = {p.author_id for p in posts if p.author_id is not None}
    authors = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(author_ids)))}
        if author_ids
        else {}
    )
    return [
        IdeaCard(post=p, author=authors.get(p.author_id) if p.author_id else None) for p in posts
    ]


def idea_label_counts(session: Session, *, workspace_id: uuid.UUID) -> list[tuple[str, int]]:
    return label_counts(
        session,
        table=Post,
        column=Post.labels,
        where=[Post.workspace_id == workspace_id, *_is_idea()],
    )


def get_idea(session: Session, *, workspace_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    post = session.scalars(
        select(Post)
        .where(Post.workspace_id == workspace_id, Post.id == post_id)
        .options(selectinload(Post.deliveries))
    ).first()
    if post is None:
        raise NotFound("no such idea in this workspace")
    if post.status != "draft" or post.scheduled_at is not None:
        raise Conflict("this post is scheduled already; change it from the calendar")
    return post


def create_idea(
    session: Session, *, access: Access, actor: Actor, text: str, labels: str | Sequence[str] = ()
) -> Post:
    """A draft with text and labels, no channel and no date."""
    require_write(access)
    post = Post(
        workspace_id=access.workspace.id,
        author_id=access.user.id,
        status="draft",
        text=_clean_text(text),
        labels=clean_labels(labels),
        timezone=access.workspace.timezone,
    )
    session.add(post)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="post.create",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"when": "draft", "idea": True},
    )
    return post


def update_idea(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    post: Post,
    text: str | None = None,
    labels: str | Sequence[str] | None = None,
) -> Post:
    """Change an idea's text and labels; channel copies that were not tailored follow."""
    require_write(access)
    if post.status != "draft" or post.scheduled_at is not None:
        raise Conflict("this post is scheduled already; change it from the calendar")
    new_text = post.text if text is None else _clean_text(text)
    new_labels = list(post.labels) if labels is None else clean_labels(labels)
    if new_text == post.text and new_labels == list(post.labels):
        return post
    for delivery in post.deliveries:
        if delivery.text == post.text:
            delivery.text = new_text
    post.text, post.labels = new_text, new_labels
    audit.record(
        session,
        actor=actor,
        action="post.update",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"idea": True},
    )
    return post


def delete_idea(session: Session, *, access: Access, actor: Actor, post: Post) -> None:
    """Delete an idea for good (it was never scheduled, so nothing went out)."""
    require_write(access)
    if post.status != "draft" or post.scheduled_at is not None:
        raise Conflict("only drafts without a date can be deleted from the ideas board")
    audit.record(
        session,
        actor=actor,
        action="post.delete",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"idea": True, "text": post.text[:80]},
    )
    session.delete(post)
    session.flush()
