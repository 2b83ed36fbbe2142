# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ideas board: drafts without a date, as cards. Write one down in a second, edit,
label, duplicate, delete; "Schedule" opens it in the composer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.errors import ValidationError
from socialdesk.exports import csv_text
from socialdesk.media import thumbnails
from socialdesk.publishing import ideas, posts
from socialdesk.publishing.calendar import initials, network_name
from socialdesk.publishing.ideas import IdeaCard
from socialdesk.storage.tables import Channel, MediaAsset
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep
from socialdesk.web.ui.calendar import csv_response, file_slug
from socialdesk.web.ui.common import (
    WorkspaceView,
    all_or_nothing,
    field_errors,
    flash,
    page,
    redirect,
    workspace_view,
)
from socialdesk.web.ui.library import file_url

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_READ))]
WriteView = Annotated[WorkspaceView, Depends(workspace_view(Permission.CAMPAIGN_POSTS_WRITE))]


def compose_idea(workspace_id: uuid.UUID, post_id: uuid.UUID) -> str:
    return f"/w/{workspace_id}/compose?{urlencode({'post': str(post_id)})}"


@dataclass(frozen=True, slots=True)
class IdeaView:
    card: IdeaCard
    channels: list[Channel]
    media: list[MediaAsset]
    cover_url: str | None
    schedule_url: str
    author_initials: str

    @property
    def post(self) -> Any:
        return self.card.post


def idea_view(workspace_id: uuid.UUID, card: IdeaCard) -> IdeaView:
    post = card.post
    channels = [d.channel for d in post.deliveries]
    media: list[MediaAsset] = []
    for delivery in post.deliveries:
        for item in delivery.media:
            if item.asset not in media:
                media.append(item.asset)
    cover = next((a for a in media if thumbnails.has_thumbnail(a)), None)
    author = card.author
    return IdeaView(
        card=card,
        channels=channels,
        media=media,
        cover_url=file_url(workspace_id, cover.id, "thumb") if cover else None,
        schedule_url=compose_idea(workspace_id, post.id),
        author_initials=initials(author.name or author.email) if author else "?",
    )


def _ideas_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    q: str = "",
    label: str = "",
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    editing: uuid.UUID | None = None,
) -> Response:
    workspace_id = view.workspace.id
    cards = ideas.list_ideas(
        session, workspace_id=workspace_id, query=q[:200], label=label.strip() or None
    )
    return page(
        request,
        "ideas.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        ideas=[idea_view(workspace_id, card) for card in cards],
        labels=ideas.idea_label_counts(session, workspace_id=workspace_id),
        q=q,
        label=label,
        values=values or {},
        errors=errors or {},
        editing=editing,
        can_write=view.can(Permission.CAMPAIGN_POSTS_WRITE),
        network_name=network_name,
        export_url=f"/w/{workspace_id}/ideas/export.csv"
        + (
            "?" + urlencode({k: v for k, v in {"q": q, "label": label}.items() if v})
            if q or label
            else ""
        ),
        max_text=ideas.MAX_IDEA_TEXT,
    )


@router.get("/w/{workspace_id}/ideas")
def ideas_page(
    request: Request, view: ReadView, session: SessionDep, q: str = "", label: str = ""
) -> Response:
    return _ideas_page(request, session, view, q=q, label=label)


@router.get("/w/{workspace_id}/ideas/export.csv")
def export_ideas(view: ReadView, session: SessionDep, q: str = "", label: str = "") -> Response:
    cards = ideas.list_ideas(
        session, workspace_id=view.workspace.id, query=q[:200], label=label.strip() or None
    )
    header = [
        "id",
        "text",
        "labels",
        "channels",
        "media",
        "author",
        "created (UTC)",
        "updated (UTC)",
    ]
    rows = (
        (
            idea.post.id,
            idea.post.text,
            "|".join(idea.post.labels),
            "|".join(f"{network_name(c.network)} {c.handle}" for c in idea.channels),
            "|".join(a.original_filename for a in idea.media),
            (idea.card.author.email if idea.card.author else ""),
            idea.post.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            idea.post.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for idea in (idea_view(view.workspace.id, card) for card in cards)
    )
    today = utcnow().date().isoformat()
    return csv_response(
        csv_text(header, rows), f"socialdesk-{file_slug(view.workspace.name)}-ideas-{today}.csv"
    )


@router.post("/w/{workspace_id}/ideas")
def create_idea(
    request: Request,
    view: WriteView,
    session: SessionDep,
    text: Annotated[str, Form()] = "",
    labels: Annotated[str, Form()] = "",
) -> Response:
    try:
        with all_or_nothing(session):
            ideas.create_idea(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                text=text,
                labels=labels,
            )
    except ValidationError as exc:
        return _ideas_page(
            request,
            session,
            view,
            status_code=422,
            values={"text": text, "labels": labels},
            errors=field_errors(exc),
        )
    flash(request, "Idea saved.")
    return redirect(f"/w/{view.workspace.id}/ideas")


@router.post("/w/{workspace_id}/ideas/{post_id}")
def update_idea(
    request: Request,
    post_id: uuid.UUID,
    view: WriteView,
    session: SessionDep,
    text: Annotated[str, Form()] = "",
    labels: Annotated[str, Form()] = "",
) -> Response:
    post = ideas.get_idea(session, workspace_id=view.workspace.id, post_id=post_id)
    try:
        with all_or_nothing(session):
            ideas.update_idea(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                post=post,
                text=text,
                labels=labels,
            )
    except ValidationError as exc:
        session.refresh(post)
        return _ideas_page(
            request,
            session,
            view,
            status_code=422,
            values={"edit_text": text, "edit_labels": labels},
            errors={("edit_" + k): v for k, v in field_errors(exc, "text").items()},
            editing=post.id,
        )
    flash(request, "Idea updated.")
    return redirect(f"/w/{view.workspace.id}/ideas#idea-{post.id}")


@router.post("/w/{workspace_id}/ideas/{post_id}/duplicate")
def duplicate_idea(
    request: Request, post_id: uuid.UUID, view: WriteView, session: SessionDep
) -> Response:
    post = ideas.get_idea(session, workspace_id=view.workspace.id, post_id=post_id)
    copy = posts.duplicate_post(
        session, access=view.access, actor=view.principal.actor(request), post=post
    )
    flash(request, "Idea duplicated; the copy is first on the board.")
    return redirect(f"/w/{view.workspace.id}/ideas#idea-{copy.id}")


@router.post("/w/{workspace_id}/ideas/{post_id}/delete")
def delete_idea(
    request: Request, post_id: uuid.UUID, view: WriteView, session: SessionDep
) -> Response:
    post = ideas.get_idea(session, workspace_id=view.workspace.id, post_id=post_id)
    ideas.delete_idea(session, access=view.access, actor=view.principal.actor(request), post=post)
    flash(request, "Idea deleted.")
    return redirect(f"/w/{view.workspace.id}/ideas")
