# SPDX-License-Identifier: AGPL-3.0-or-later
"""Working the inbox: list conversations with filters, open one, set status, assign, tag, note.

Every function checks the caller's permission (``inbox.read`` to look, ``inbox.work`` to
change), validates everything before it writes, and works in the caller's transaction.
Lists are one query (with their channel, contact and assignee joined), never one per row.

Status: ``open`` (someone must act), ``pending`` (we answered and wait for the person),
``closed`` (resolved; ``resolved_at`` is set). A closed conversation opens again when the
person writes after it was closed (see :mod:`socialdesk.inbox.ingest`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, cast, exists, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, can, require
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import NotFound, ValidationError
from socialdesk.storage.tables import (
    Channel,
    InboxAction,
    InboxContact,
    InboxConversation,
    InboxItem,
    InboxNote,
    Membership,
    User,
)
from socialdesk.storage.types import utcnow

__all__ = [
    "SORTS",
    "STATUSES",
    "ConversationFilter",
    "ConversationRow",
    "ConversationView",
    "NoteView",
    "add_note",
    "bulk_update",
    "clean_tags",
    "get_conversation",
    "list_conversations",
    "open_conversation",
    "update_conversation",
]

STATUSES = ("open", "pending", "closed")
SENTIMENTS = ("negative", "neutral", "positive")
Sort = Literal["newest", "oldest", "priority", "waiting"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "priority", "waiting")
MAX_PAGE = 200
MAX_BULK = 500
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_NOTE = 5000


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """What the inbox list shows; every field narrows it (empty: no condition)."""

    statuses: Collection[str] = ()
    networks: Collection[str] = ()
    channel_ids: Collection[uuid.UUID] = ()
    sentiments: Collection[str] = ()
    assignee_id: uuid.UUID | None = None
    unassigned: bool = False
    tag: str | None = None
    #: Only conversations where the oldest unanswered message is older than this.
    unanswered_for: dt.timedelta | None = None
    min_priority: int | None = None
    contact_id: uuid.UUID | None = None
    #: Words in the subject (the first message).
    search: str | None = None
    sort: Sort = "newest"

    def validate(self) -> None:
        for name, values, allowed in (
            ("status", self.statuses, STATUSES),
            ("sentiment", self.sentiments, SENTIMENTS),
        ):
            unknown = sorted(set(values) - set(allowed))
            if unknown:
                raise ValidationError(
                    f"unknown {name} {', '.join(unknown)}; choose from {', '.join(allowed)}",
                    field=name,
                )
        if self.sort not in SORTS:
            raise ValidationError(f"sort by one of {', '.join(SORTS)}", field="sort")
        if self.unanswered_for is not None and self.unanswered_for.total_seconds() < 0:
            raise ValidationError("unanswered_for cannot be negative", field="unanswered_for")
        if self.assignee_id is not None and self.unassigned:
            raise ValidationError("ask for one assignee or for unassigned, not both")


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the inbox list."""

    conversation: InboxConversation
    network: str
    channel_handle: str
    contact: InboxContact | None
    assignee: User | None


@dataclass(frozen=True, slots=True)
class NoteView:
    note: InboxNote
    author: User | None


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation as the person working it sees it: the whole thread and who wrote."""

    conversation: InboxConversation
    channel: Channel
    contact: InboxContact | None
    assignee: User | None
    #: Oldest first, ours included.
    items: list[InboxItem]
    notes: list[NoteView]
    actions: list[InboxAction]
    #: The contact's other conversations in this workspace, newest first.
    earlier: list[InboxConversation] = field(default_factory=list)


_ListQuery = Select[InboxConversation, Channel, InboxContact, User]


def _list_query(access: Access) -> _ListQuery:
    assignee = aliased(User)
    return (
        select(InboxConversation, Channel, InboxContact, assignee)
        .join(Channel, Channel.id == InboxConversation.channel_id)
        .outerjoin(InboxContact, InboxContact.id == InboxConversation.contact_id)
        .outerjoin(assignee, assignee.id == InboxConversation.assignee_id)
        .where(InboxConversation.workspace_id == access.workspace.id)
    )


def list_conversations(
    session: Session,
    *,
    access: Access,
    filters: ConversationFilter | None = None,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> list[ConversationRow]:
    """The inbox: conversations matching ``filters``, in one query."""
    require(access.role, Permission.INBOX_READ)
    filters = filters or ConversationFilter()
    filters.validate()
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"ask for between 1 and {MAX_PAGE} conversations", field="limit")
    if offset < 0:
        raise ValidationError("offset cannot be negative", field="offset")
    c = InboxConversation
    query = _list_query(access)
    if filters.statuses:
        query = query.where(c.status.in_(list(filters.statuses)))
    if filters.networks:
        query = query.where(Channel.network.in_(list(filters.networks)))
    if filters.channel_ids:
        query = query.where(c.channel_id.in_(list(filters.channel_ids)))
    if filters.sentiments:
        query = query.where(c.sentiment_label.in_(list(filters.sentiments)))
    if filters.assignee_id is not None:
        query = query.where(c.assignee_id == filters.assignee_id)
    if filters.unassigned:
        query = query.where(c.assignee_id.is_(None))
    if filters.unanswered_for is not None:
        cutoff = (now or utcnow()) - filters.unanswered_for
        query = query.where(c.awaiting_since.is_not(None), c.awaiting_since <= cutoff)
    if filters.min_priority is not None:
        query = query.where(c.priority >= filters.min_priority)
    if filters.contact_id is not None:
        query = query.where(c.contact_id == filters.contact_id)
    if filters.search:
        query = query.where(c.subject.ilike(f"%{_escape_like(filters.search)}%", escape="\\"))
    if filters.tag:
        query = query.where(_has_tag(session, c.tags, filters.tag.strip().lstrip("#").lower()))
    rows = session.execute(_sorted(query, filters.sort).limit(limit).offset(offset)).all()
    return [
        ConversationRow(
            conversation=conversation,
            network=channel.network,
            channel_handle=channel.handle,
            contact=contact,
            assignee=assignee,
        )
        for conversation, channel, contact, assignee in rows
    ]


def _has_tag(session: Session, tags: Any, tag: str) -> ColumnElement[bool]:
    """The JSON list of tags contains ``tag`` (jsonb ``@>`` / SQLite ``json_each``)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(tags, postgresql.JSONB).contains([tag])
    each = func.json_each(tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _sorted(query: _ListQuery, sort: Sort) -> _ListQuery:
    c = InboxConversation
    if sort == "oldest":
        return query.order_by(c.last_item_at.asc(), c.id)
    if sort == "priority":
        return query.order_by(c.priority.desc(), c.last_item_at.desc(), c.id)
    if sort == "waiting":
        return query.order_by(c.awaiting_since.is_(None), c.awaiting_since.asc(), c.id)
    return query.order_by(c.last_item_at.desc(), c.id)


def get_conversation(
    session: Session, *, access: Access, conversation_id: uuid.UUID
) -> InboxConversation:
    """A conversation of this workspace; NotFound for any other."""
    require(access.role, Permission.INBOX_READ)
    conversation = session.scalars(
        select(InboxConversation).where(
            InboxConversation.id == conversation_id,
            InboxConversation.workspace_id == access.workspace.id,
        )
    ).first()
    if conversation is None:
        raise NotFound("no such conversation in this workspace")
    return conversation


def open_conversation(
    session: Session, *, access: Access, conversation_id: uuid.UUID, earlier_limit: int = 20
) -> ConversationView:
    """The whole thread, notes, actions, the contact and their earlier conversations."""
    conversation = get_conversation(session, access=access, conversation_id=conversation_id)
    channel = session.get_one(Channel, conversation.channel_id)
    contact = (
        session.get(InboxContact, conversation.contact_id) if conversation.contact_id else None
    )
    assignee = session.get(User, conversation.assignee_id) if conversation.assignee_id else None
    items = list(
        session.scalars(
            select(InboxItem)
            .where(InboxItem.conversation_id == conversation.id)
            .order_by(InboxItem.created_at, InboxItem.id)
        )
    )
    notes = [
        NoteView(note=note, author=author)
        for note, author in session.execute(
            select(InboxNote, User)
            .outerjoin(User, User.id == InboxNote.author_id)
            .where(InboxNote.conversation_id == conversation.id)
            .order_by(InboxNote.created_at, InboxNote.id)
        ).all()
    ]
    actions = list(
        session.scalars(
            select(InboxAction)
            .where(InboxAction.conversation_id == conversation.id)
            .order_by(InboxAction.created_at)
        )
    )
    earlier: list[InboxConversation] = []
    if contact is not None:
        earlier = list(
            session.scalars(
                select(InboxConversation)
                .where(
                    InboxConversation.contact_id == contact.id,
                    InboxConversation.id != conversation.id,
                )
                .order_by(InboxConversation.last_item_at.desc())
                .limit(earlier_limit)
            )
        )
    return ConversationView(
        conversation=conversation,
        channel=channel,
        contact=contact,
        assignee=assignee,
        items=items,
        notes=notes,
        actions=actions,
        earlier=earlier,
    )


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Tags as stored: trimmed, lower case, without '#', each once, in order."""
    cleaned: list[str] = []
    for raw in tags:
        tag = " ".join(raw.strip().lstrip("#").split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(
                f"the tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters", field="tags"
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags", field="tags")
    return cleaned


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValidationError(
            f"unknown status {status!r}; choose from {', '.join(STATUSES)}", field="status"
        )


def _check_assignee(session: Session, *, access: Access, user_id: uuid.UUID) -> None:
    role = session.scalar(
        select(Membership.role).where(
            Membership.workspace_id == access.workspace.id, Membership.user_id == user_id
        )
    )
    if role is None or not can(role, Permission.INBOX_WORK):
        raise ValidationError(
            "assign conversations to a member who works the inbox (owner, admin or manager)",
            field="assignee_id",
        )


def _set_status(conversation: InboxConversation, status: str, now: dt.datetime) -> None:
    if status == conversation.status:
        return
    conversation.status = status
    if status == "closed":
        conversation.resolved_at = now
    else:
        conversation.resolved_at = None
        conversation.resolution_alerted_at = None


def update_conversation(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    conversation_id: uuid.UUID,
    status: str | None = None,
    assignee_id: uuid.UUID | None = None,
    unassign: bool = False,
    tags: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> InboxConversation:
    """Change a conversation's status, assignee or tags (only what is given)."""
    require(access.role, Permission.INBOX_WORK)
    conversation = get_conversation(session, access=access, conversation_id=conversation_id)
    if status is not None:
        _check_status(status)
    if assignee_id is not None:
        if unassign:
            raise ValidationError("assign or unassign, not both", field="assignee_id")
        _check_assignee(session, access=access, user_id=assignee_id)
    cleaned = clean_tags(tags) if tags is not None else None
    now = now or utcnow()
    changes: dict[str, str | list[str] | None] = {}
    if status is not None and status != conversation.status:
        _set_status(conversation, status, now)
        changes["status"] = status
    if assignee_id is not None and assignee_id != conversation.assignee_id:
        conversation.assignee_id = assignee_id
        changes["assignee_id"] = str(assignee_id)
    if unassign and conversation.assignee_id is not None:
        conversation.assignee_id = None
        changes["assignee_id"] = None
    if cleaned is not None and cleaned != conversation.tags:
        conversation.tags = cleaned
        changes["tags"] = cleaned
    if changes:
        audit.record(
            session,
            actor=actor,
            action="inbox.conversation.update",
            workspace_id=access.workspace.id,
            target_type="inbox_conversation",
            target_id=conversation.id,
            details=changes,
        )
    return conversation


def bulk_update(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    conversation_ids: Collection[uuid.UUID],
    status: str | None = None,
    assignee_id: uuid.UUID | None = None,
    unassign: bool = False,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> int:
    """Apply one change to many conversations; all or nothing. Returns how many changed."""
    require(access.role, Permission.INBOX_WORK)
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        raise ValidationError("choose at least one conversation", field="conversation_ids")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"change at most {MAX_BULK} conversations at once")
    if status is not None:
        _check_status(status)
    if assignee_id is not None:
        _check_assignee(session, access=access, user_id=assignee_id)
    adding, removing = clean_tags(add_tags), set(clean_tags(remove_tags))
    if status is None and assignee_id is None and not unassign and not adding and not removing:
        raise ValidationError("say what to change: status, assignee or tags")
    found = list(
        session.scalars(
            select(InboxConversation).where(
                InboxConversation.id.in_(ids),
                InboxConversation.workspace_id == access.workspace.id,
            )
        )
    )
    if len(found) != len(ids):
        raise NotFound(f"{len(ids) - len(found)} of these conversations are not in this workspace")
    now = now or utcnow()
    for conversation in found:
        if status is not None:
            _set_status(conversation, status, now)
        if assignee_id is not None:
            conversation.assignee_id = assignee_id
        elif unassign:
            conversation.assignee_id = None
        if adding or removing:
            tags = [t for t in (conversation.tags or []) if t not in removing]
            conversation.tags = clean_tags([*tags, *adding])
    audit.record(
        session,
        actor=actor,
        action="inbox.conversation.bulk_update",
        workspace_id=access.workspace.id,
        target_type="inbox_conversation",
        details={
            "count": len(found),
            "status": status,
            "assignee_id": str(assignee_id) if assignee_id else None,
            "unassign": unassign,
            "add_tags": adding,
            "remove_tags": sorted(removing),
        },
    )
    return len(found)


def add_note(
    session: Session, *, access: Access, conversation_id: uuid.UUID, body: str
) -> NoteView:
    """An internal note on the conversation; members named ``@Name`` are notified."""
    require(access.role, Permission.INBOX_WORK)
    conversation = get_conversation(session, access=access, conversation_id=conversation_id)
    text = body.strip()
    if not text:
        raise ValidationError("write something in the note", field="body")
    if len(text) > MAX_NOTE:
        raise ValidationError(f"a note is at most {MAX_NOTE} characters", field="body")
    note = InboxNote(
        workspace_id=access.workspace.id,
        conversation_id=conversation.id,
        author_id=access.user.id,
        body=text,
    )
    session.add(note)
    from socialdesk import notifications

    mentioned = notifications.mentioned_user_ids(
        session, workspace_id=access.workspace.id, text=text
    )
    if mentioned:
        notifications.notify(
            session,
            workspace_id=access.workspace.id,
            user_ids=sorted(mentioned),
            kind="mentioned",
            title=f"{access.user.name or access.user.email} mentioned you in the inbox",
            body=notifications.excerpt(text, 200),
            link=conversation_link(access.workspace.id, conversation.id),
            exclude={access.user.id},
        )
    session.flush()
    return NoteView(note=note, author=access.user)


def conversation_link(workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> str:
    """The page of a conversation in the inbox UI."""
    return f"/w/{workspace_id}/inbox/{conversation_id}"


def touch_items(session: Session, *, item_ids: Collection[int], **values: bool) -> None:
    """Set flags (hidden, liked, deleted) on items, as an action on the network succeeded."""
    if item_ids:
        session.execute(
            update(InboxItem)
            .where(InboxItem.id.in_(list(item_ids)))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def count_open(session: Session, *, access: Access) -> int:
    """Conversations that need someone (the inbox badge)."""
    require(access.role, Permission.INBOX_READ)
    return (
        session.scalar(
            select(func.count())
            .select_from(InboxConversation)
            .where(
                InboxConversation.workspace_id == access.workspace.id,
                InboxConversation.status == "open",
            )
        )
        or 0
    )
