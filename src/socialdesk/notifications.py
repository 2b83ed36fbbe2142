# SPDX-License-Identifier: AGPL-3.0-or-later
"""In-app notifications (the bell): who is told what, and what they have read.

A notification belongs to one member of one workspace. Domain code creates them inside
its own transaction with :func:`notify` (so they exist exactly when the change does);
members list them and mark them read. Nobody ever sees another member's notifications.

Who hears about what:

============================  ===============================================
approval_requested            the approver it was sent to, or everyone who may decide
approved / rejected           the post's author and whoever asked for approval
comment                       the post's participants (author, earlier commenters,
                              requesters, deciders, the approver it was sent to)
mentioned                     members named in a comment (``@Ana Lima``, ``@ana@example.com``)
delivery_failed               owners, admins, managers and the post's author
channel_needs_reconnect       owners, admins and managers (once per episode)
============================  ===============================================
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission, Role, require
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import NotFound, ValidationError
from socialdesk.storage.tables import Channel, Delivery, Membership, Notification, User
from socialdesk.storage.types import utcnow

__all__ = [
    "KINDS",
    "channel_needs_reconnect",
    "delivery_failed",
    "delivery_trouble",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "member_ids",
    "mentioned_user_ids",
    "notify",
    "open_notification",
    "post_link",
    "unread_count",
    "unread_for",
]

KINDS = frozenset(
    {
        "approval_requested",
        "approved",
        "rejected",
        "comment",
        "mentioned",
        "delivery_failed",
        "channel_needs_reconnect",
        "inbox_overdue",
    }
)
MAX_TITLE = 300
MAX_BODY = 1000
MAX_PAGE = 100
#: Who is told about failures: the people who can fix a post or a connection.
_FIXERS = (Role.OWNER, Role.ADMIN, Role.MANAGER)


def excerpt(text: str, length: int = 140) -> str:
    """The start of a text on one line, cut at a word with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= length:
        return flat
    cut = flat[: length - 1].rsplit(" ", 1)[0] or flat[: length - 1]
    return cut.rstrip(",.;:") + "…"


def post_link(workspace_id: uuid.UUID, post_id: uuid.UUID) -> str:
    """The page of a post's review and discussion."""
    return f"/w/{workspace_id}/approvals/{post_id}"


def notify(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    user_ids: Iterable[uuid.UUID | None],
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
    exclude: Collection[uuid.UUID | None] = (),
) -> list[Notification]:
    """One notification per distinct recipient (minus ``exclude``), in the caller's transaction."""
    if kind not in KINDS:
        raise ValidationError(f"unknown notification kind {kind!r}", field="kind")
    title = " ".join(title.split())
    if not title:
        raise ValidationError("a notification needs a title", field="title")
    recipients = [
        user_id
        for user_id in dict.fromkeys(user_ids)
        if user_id is not None and user_id not in exclude
    ]
    created = [
        Notification(
            workspace_id=workspace_id,
            user_id=user_id,
            kind=kind,
            title=excerpt(title, MAX_TITLE),
            body=body[:MAX_BODY],
            link=link,
        )
        for user_id in recipients
    ]
    session.add_all(created)
    return created


def member_ids(
    session: Session, *, workspace_id: uuid.UUID, roles: Collection[Role] | None = None
) -> list[uuid.UUID]:
    """The members of a workspace (with one of ``roles``, when given) whose account works."""
    query = (
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, User.disabled_at.is_(None))
        .order_by(Membership.created_at)
    )
    if roles is not None:
        query = query.where(Membership.role.in_([role.value for role in roles]))
    return list(session.scalars(query))


def mentioned_user_ids(session: Session, *, workspace_id: uuid.UUID, text: str) -> set[uuid.UUID]:
    """Members named in ``text`` as ``@`` + their e-mail or their name (case-insensitive).

    At each ``@`` the longest name that matches wins, so ``@Ana Lima`` mentions Ana Lima
    and not a member named Ana; a name must end at a word boundary (``@Anabel`` is not Ana).
    """
    if "@" not in text:
        return set()
    rows = session.execute(
        select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id, User.disabled_at.is_(None))
    ).all()
    candidates: list[tuple[str, uuid.UUID]] = []
    for user_id, name, email in rows:
        candidates.append((email.casefold(), user_id))
        if name.strip():
            candidates.append((" ".join(name.split()).casefold(), user_id))
    candidates.sort(key=lambda item: len(item[0]), reverse=True)
    folded = text.casefold()
    found: set[uuid.UUID] = set()
    start = folded.find("@")
    while start != -1:
        rest = folded[start + 1 :]
        for handle, user_id in candidates:
            if not rest.startswith(handle):
                continue
            if _ends_there(rest, len(handle)):
                found.add(user_id)
                break
        start = folded.find("@", start + 1)
    return found


def _ends_there(rest: str, index: int) -> bool:
    """Whether a name ends at ``index``: "@ana." ends a sentence, "@anabel" is someone else."""
    if index >= len(rest):
        return True
    char = rest[index]
    if char.isalnum() or char in "_-@":
        return False
    if char == ".":  # the end of a sentence, or the middle of an address?
        return not (index + 1 < len(rest) and rest[index + 1].isalnum())
    return True


# -- reading ------------------------------------------------------------------------------


def list_notifications(
    session: Session,
    *,
    access: Access,
    limit: int = 20,
    unread_only: bool = False,
    before: dt.datetime | None = None,
) -> list[Notification]:
    """The caller's own notifications in this workspace, newest first."""
    require(access.role, Permission.WORKSPACE_READ)
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"ask for between 1 and {MAX_PAGE} notifications", field="limit")
    query = select(Notification).where(
        Notification.workspace_id == access.workspace.id,
        Notification.user_id == access.user.id,
    )
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    if before is not None:
        query = query.where(Notification.created_at < before)
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    return list(session.scalars(query))


def unread_count(session: Session, *, access: Access) -> int:
    require(access.role, Permission.WORKSPACE_READ)
    return unread_for(session, workspace_id=access.workspace.id, user_id=access.user.id)


def unread_for(session: Session, *, workspace_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """The unread count of one member (the caller vouches that they are that member)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.workspace_id == workspace_id,
                Notification.user_id == user_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def open_notification(
    session: Session, *, access: Access, notification_id: uuid.UUID
) -> Notification:
    """One of the caller's notifications, now marked read; NotFound for anyone else's."""
    require(access.role, Permission.WORKSPACE_READ)
    found = session.scalars(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.workspace_id == access.workspace.id,
            Notification.user_id == access.user.id,
        )
    ).first()
    if found is None:
        raise NotFound("no such notification")
    if found.read_at is None:
        found.read_at = utcnow()
    return found


def mark_read(session: Session, *, access: Access, ids: Collection[uuid.UUID]) -> int:
    """Mark some of the caller's notifications read; ids of anyone else's change nothing."""
    require(access.role, Permission.WORKSPACE_READ)
    if not ids:
        return 0
    if len(ids) > MAX_PAGE:
        raise ValidationError(f"mark at most {MAX_PAGE} notifications at once", field="ids")
    return _mark(session, access=access, ids=ids)


def mark_all_read(session: Session, *, access: Access) -> int:
    require(access.role, Permission.WORKSPACE_READ)
    return _mark(session, access=access, ids=None)


def _mark(session: Session, *, access: Access, ids: Collection[uuid.UUID] | None) -> int:
    statement = (
        update(Notification)
        .where(
            Notification.workspace_id == access.workspace.id,
            Notification.user_id == access.user.id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    return cast(CursorResult[Any], session.execute(statement)).rowcount


# -- publishing: failures and reconnects ------------------------------------------------


def delivery_trouble(session: Session, *, delivery: Delivery) -> list[Notification]:
    """Tell the people who can fix it that a delivery failed or its channel needs reconnecting.

    The publisher calls this after settling a delivery; anything else is not trouble.
    """
    if delivery.state == "failed":
        return delivery_failed(session, delivery=delivery)
    if delivery.state == "held" and delivery.channel.status == "needs_reconnect":
        return channel_needs_reconnect(session, channel=delivery.channel)
    return []


def delivery_failed(session: Session, *, delivery: Delivery) -> list[Notification]:
    channel = delivery.channel
    network = connector_class(channel.network).display_name
    post = delivery.post
    fixers = member_ids(session, workspace_id=delivery.workspace_id, roles=_FIXERS)
    members = set(member_ids(session, workspace_id=delivery.workspace_id))
    author = post.author_id if post.author_id in members else None
    return notify(
        session,
        workspace_id=delivery.workspace_id,
        user_ids=[*fixers, author],
        kind="delivery_failed",
        title=f"A post failed on {network} ({channel.handle})",
        body=f"{delivery.last_error or 'The network refused it.'} — “{excerpt(delivery.text, 80)}”",
        link=f"/w/{delivery.workspace_id}/failures",
    )


def channel_needs_reconnect(session: Session, *, channel: Channel) -> list[Notification]:
    """Once per episode: nothing new if this channel's members were told since it broke."""
    title = f"Reconnect {connector_class(channel.network).display_name} {channel.handle}"
    already = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.workspace_id == channel.workspace_id,
            Notification.kind == "channel_needs_reconnect",
            Notification.title == title,
            Notification.created_at >= channel.status_changed_at,
        )
    )
    if already:
        return []
    return notify(
        session,
        workspace_id=channel.workspace_id,
        user_ids=member_ids(session, workspace_id=channel.workspace_id, roles=_FIXERS),
        kind="channel_needs_reconnect",
        title=title,
        body=(
            f"{channel.status_reason or 'The network no longer accepts our sign-in.'} Its posts"
            " wait and go out once the channel is connected again."
        ),
        link=f"/w/{channel.workspace_id}/channels",
    )
