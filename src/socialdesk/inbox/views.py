# SPDX-License-Identifier: AGPL-3.0-or-later
"""What the inbox pages show, read in a fixed number of queries whatever the page's size.

:func:`inbox_list` is the left column (the conversations with their latest message, the
counts of the tabs, the channels and the members a conversation can go to);
:func:`conversation_page` the right one (the thread, what we asked the networks to do,
the person's card, the saved replies). Both only read; every change goes through the
domain modules (``conversations``, ``actions``, ``contacts``, ``saved_replies``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission, Role, can, require
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.registry import connector_class
from socialdesk.inbox import actions as inbox_actions
from socialdesk.inbox.conversations import (
    ConversationFilter,
    ConversationRow,
    ConversationView,
    list_conversations,
    open_conversation,
)
from socialdesk.inbox.saved_replies import list_saved_replies
from socialdesk.inbox.sla import (
    BusinessHours,
    business_hours_of,
    business_seconds,
    get_inbox_settings,
)
from socialdesk.storage.tables import (
    Channel,
    InboxAction,
    InboxConversation,
    InboxItem,
    Membership,
    SavedReply,
    User,
)
from socialdesk.storage.types import utcnow

__all__ = [
    "ConversationPage",
    "InboxCounts",
    "InboxList",
    "ListEntry",
    "conversation_page",
    "inbox_counts",
    "inbox_list",
    "is_overdue",
    "workers",
]

#: Action states that still need someone or something (a reply not sent yet, a failure).
OUTSTANDING = ("awaiting_approval", "pending", "sending", "uncertain", "failed", "rejected")
#: How long a rejected reply stays in the thread (so its author reads why).
_REJECTED_SHOWN = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class InboxCounts:
    """The inbox's tabs and the sidebar badge: one grouped query."""

    open: int = 0
    pending: int = 0
    closed: int = 0
    #: Not closed, and a message waits for our answer.
    unanswered: int = 0
    #: Open and assigned to the person looking.
    mine: int = 0
    #: Open and assigned to nobody.
    unassigned: int = 0


@dataclass(frozen=True, slots=True)
class ListEntry:
    row: ConversationRow
    #: The newest message of the conversation (ours included) and whether we wrote it.
    latest_text: str
    latest_from_us: bool
    #: Past the workspace's first-response target, in business time, and not answered.
    overdue: bool = False

    @property
    def conversation(self) -> InboxConversation:
        return self.row.conversation


@dataclass(frozen=True, slots=True)
class InboxList:
    entries: list[ListEntry]
    more: bool
    counts: InboxCounts
    channels: list[Channel]
    #: Members a conversation can be assigned to (they work the inbox).
    assignees: list[User]
    first_response_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    view: ConversationView
    #: What the channel's connector can do to an item (``Connector.inbox_actions``).
    can_do: frozenset[str]
    #: Replies not in the thread yet (waiting, sending, failed, rejected), oldest first.
    replies: list[InboxAction]
    #: Outstanding likes, hides and deletes by the item they are about.
    item_actions: dict[int, list[InboxAction]]
    #: Who asked for and decided each action (by user id).
    people: dict[uuid.UUID, User]
    saved_replies: list[SavedReply]
    assignees: list[User]
    #: The caller's replies wait for approval.
    reply_needs_approval: bool
    #: The caller may approve others' replies.
    may_decide: bool
    contact_total: int = 0
    overdue: bool = False
    first_response_minutes: int | None = None
    #: The network's longest reply, for the reply box's hint.
    max_length: int | None = None


def inbox_counts(session: Session, *, access: Access) -> InboxCounts:
    """Open, pending, closed, unanswered, mine and unassigned conversations: one query."""
    require(access.role, Permission.INBOX_READ)
    c = InboxConversation
    is_open = c.status == "open"
    row = session.execute(
        select(
            func.count(case((is_open, 1))),
            func.count(case((c.status == "pending", 1))),
            func.count(case((c.status == "closed", 1))),
            func.count(case((and_(c.status != "closed", c.awaiting_since.is_not(None)), 1))),
            func.count(case((and_(is_open, c.assignee_id == access.user.id), 1))),
            func.count(case((and_(is_open, c.assignee_id.is_(None)), 1))),
        ).where(c.workspace_id == access.workspace.id)
    ).one()
    return InboxCounts(
        open=row[0],
        pending=row[1],
        closed=row[2],
        unanswered=row[3],
        mine=row[4],
        unassigned=row[5],
    )


def is_overdue(
    conversation: InboxConversation,
    *,
    target_minutes: int | None,
    hours: BusinessHours,
    now: dt.datetime,
) -> bool:
    """Not answered yet and past the first-response target (business time, as the alerts)."""
    if target_minutes is None or conversation.status == "closed":
        return False
    started = conversation.first_inbound_at
    if started is None or conversation.first_response_at is not None:
        return False
    return business_seconds(started, now, hours) >= target_minutes * 60


def workers(session: Session, *, access: Access) -> list[User]:
    """Members a conversation may be assigned to (their role works the inbox), by name."""
    found = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == access.workspace.id)
    ).all()
    people = [user for user, role in found if can(Role(role), Permission.INBOX_WORK)]
    return sorted(people, key=lambda u: (u.name or u.email).lower())


def _latest(
    session: Session, conversation_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, bool]]:
    """Each conversation's newest item (text, from us): one query for the whole page."""
    if not conversation_ids:
        return {}
    i = InboxItem
    newest = (
        select(i.conversation_id.label("cid"), func.max(i.created_at).label("at"))
        .where(i.conversation_id.in_(list(conversation_ids)), ~i.deleted)
        .group_by(i.conversation_id)
        .subquery()
    )
    rows = session.execute(
        select(i.conversation_id, i.text, i.from_us, i.id)
        .join(newest, and_(newest.c.cid == i.conversation_id, newest.c.at == i.created_at))
        .order_by(i.id)
    ).all()
    # Two items at the same instant: the one stored last wins (ordered by id).
    return {cid: (text, from_us) for cid, text, from_us, _id in rows}


def inbox_list(
    session: Session,
    *,
    access: Access,
    filters: ConversationFilter,
    limit: int = 50,
    offset: int = 0,
    now: dt.datetime | None = None,
) -> InboxList:
    """The left column: six queries whatever the number of conversations shown."""
    now = now or utcnow()
    rows = list_conversations(
        session, access=access, filters=filters, limit=limit + 1, offset=offset, now=now
    )
    more = len(rows) > limit
    rows = rows[:limit]
    latest = _latest(session, [r.conversation.id for r in rows])
    settings = get_inbox_settings(session, workspace=access.workspace)
    target, hours = settings.first_response_minutes, business_hours_of(settings)
    entries = [
        ListEntry(
            row=row,
            latest_text=latest.get(row.conversation.id, (row.conversation.subject, False))[0],
            latest_from_us=latest.get(row.conversation.id, ("", False))[1],
            overdue=is_overdue(row.conversation, target_minutes=target, hours=hours, now=now),
        )
        for row in rows
    ]
    channels = list(
        session.scalars(
            select(Channel)
            .where(Channel.workspace_id == access.workspace.id)
            .order_by(Channel.network, Channel.handle)
        )
    )
    return InboxList(
        entries=entries,
        more=more,
        counts=inbox_counts(session, access=access),
        channels=channels,
        assignees=workers(session, access=access),
        first_response_minutes=target,
    )


def conversation_page(
    session: Session, *, access: Access, conversation_id: uuid.UUID
) -> ConversationPage:
    """The right column: the thread, pending actions, the person, saved replies."""
    view = open_conversation(session, access=access, conversation_id=conversation_id)
    try:
        connector = connector_class(view.channel.network)
        can_do, max_length = frozenset(connector.inbox_actions), connector.text_rules.max_length
    except Exception:  # a network this version no longer knows: read-only
        can_do, max_length = frozenset(), None
    cutoff = utcnow() - _REJECTED_SHOWN
    replies: list[InboxAction] = []
    item_actions: dict[int, list[InboxAction]] = {}
    for action in view.actions:
        if action.state not in OUTSTANDING:
            continue
        if action.state == "rejected" and (action.decided_at or action.created_at) < cutoff:
            continue
        if action.action == "reply":
            replies.append(action)
        else:
            item_actions.setdefault(action.item_id, []).append(action)
    ids = {a.requested_by_id for a in replies} | {a.decided_by_id for a in replies}
    ids.discard(None)
    people = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(list(ids))))}
        if ids
        else {}
    )
    contact_total = len(view.earlier) + 1 if view.contact is not None else 0
    may_work = can(access.role, Permission.INBOX_WORK)
    settings = get_inbox_settings(session, workspace=access.workspace)
    target = settings.first_response_minutes
    return ConversationPage(
        view=view,
        can_do=can_do,
        replies=replies,
        item_actions=item_actions,
        people=people,
        saved_replies=list_saved_replies(session, access=access) if may_work else [],
        assignees=workers(session, access=access) if may_work else [],
        reply_needs_approval=inbox_actions.reply_needs_approval(access),
        may_decide=may_work and not inbox_actions.reply_needs_approval(access),
        contact_total=contact_total,
        overdue=is_overdue(
            view.conversation,
            target_minutes=target,
            hours=business_hours_of(settings),
            now=utcnow(),
        ),
        first_response_minutes=target,
        max_length=max_length,
    )
