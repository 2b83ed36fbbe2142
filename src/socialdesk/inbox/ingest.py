# SPDX-License-Identifier: AGPL-3.0-or-later
"""Storing what a connector fetched or a network pushed: each item once, linked, in one go.

:func:`ingest_items` stores one page in the caller's transaction, with a fixed number of
statements whatever the page's size (no query per item):

1. the page's external ids already stored are read in one query and skipped, so a
   replayed page costs one SELECT;
2. the authors are upserted as contacts (``INSERT … ON CONFLICT DO UPDATE``: their
   handle, name and followers are kept current);
3. the conversations are created if new (``ON CONFLICT DO NOTHING``) and read back;
4. the items are inserted with ``ON CONFLICT (channel_id, external_id) DO NOTHING``, so
   two workers storing the same item at once store it once (the natural key wins);
5. the touched conversations' times (first inbound, first response, what waits for an
   answer) are recomputed from their items with three grouped queries: items arriving out
   of order, or twice, give the same result as items arriving in order once;
6. with a cursor, the channel's sync state moves to it in the same transaction, so a
   restart neither misses nor doubles an item.

Sentiment and language are not computed here but by :mod:`socialdesk.inbox.analysis`
right after (the sync and webhook jobs call it), so storing stays fast and a network's
retries never wait for a model.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk.connectors.base import InboundItem
from socialdesk.inbox.bulk import insert_rows, one_of, plan_for_actual_values
from socialdesk.notifications import excerpt
from socialdesk.storage.tables import (
    Delivery,
    InboxContact,
    InboxConversation,
    InboxItem,
    InboxSyncState,
)
from socialdesk.storage.types import utcnow

__all__ = ["ChannelRef", "IngestResult", "ingest_items", "refresh_conversations", "save_cursor"]

#: Rows per INSERT statement (PostgreSQL allows 65,535 parameters, SQLite 32,766).
_CHUNK = 800
#: A known author's profile is written again when it changed, or after this long (its
#: ``last_seen_at``).
CONTACT_REFRESH = dt.timedelta(hours=1)
#: How far back a reply's "our post" is looked for among thread parts and first comments.
_PART_LOOKBACK = dt.timedelta(days=90)

_contacts = cast(Table, InboxContact.__table__)
_conversations = cast(Table, InboxConversation.__table__)
_items = cast(Table, InboxItem.__table__)
_sync = cast(Table, InboxSyncState.__table__)


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """The channel items are stored for (a snapshot: no session needed)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    network: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    stored: int
    duplicates: int
    #: Conversations that got a new item.
    conversation_ids: tuple[uuid.UUID, ...]


def _insert_for(session: Session) -> Callable[[Table], Any]:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def ingest_items(
    session: Session,
    *,
    channel: ChannelRef,
    items: Sequence[InboundItem],
    cursor: str | None = None,
    save_sync_cursor: bool = False,
    now: dt.datetime | None = None,
) -> IngestResult:
    """Store a page of ``channel``'s items once each; with ``save_sync_cursor``, its cursor too."""
    now = now or utcnow()
    plan_for_actual_values(session)
    unique = list({item.external_id: item for item in reversed(items)}.values())[::-1]
    existing = _existing_ids(session, channel=channel, external_ids=[i.external_id for i in unique])
    fresh = [item for item in unique if item.external_id not in existing]
    inserted: list[tuple[int, uuid.UUID]] = []
    if fresh:
        contact_ids = _upsert_contacts(session, channel=channel, items=fresh, now=now)
        conversation_ids = _ensure_conversations(
            session, channel=channel, items=fresh, contact_ids=contact_ids, now=now
        )
        post_ids = _our_posts(session, channel=channel, items=fresh, now=now)
        inserted = _insert_items(
            session,
            channel=channel,
            items=fresh,
            contact_ids=contact_ids,
            conversation_ids=conversation_ids,
            post_ids=post_ids,
            now=now,
        )
    touched = tuple(dict.fromkeys(conversation for _id, conversation in inserted))
    if touched:
        refresh_conversations(session, conversation_ids=touched)
    if save_sync_cursor:
        save_cursor(session, channel=channel, cursor=cursor, stored=len(inserted), now=now)
    return IngestResult(
        received=len(items),
        stored=len(inserted),
        duplicates=len(items) - len(inserted),
        conversation_ids=touched,
    )


def save_cursor(
    session: Session, *, channel: ChannelRef, cursor: str | None, stored: int, now: dt.datetime
) -> None:
    """Move the channel's poller to ``cursor`` (None keeps the previous one)."""
    insert = _insert_for(session)
    values = {
        "channel_id": channel.id,
        "workspace_id": channel.workspace_id,
        "cursor": cursor,
        "last_synced_at": now,
        "items_stored": stored,
        "last_error": None,
        "last_error_code": None,
    }
    statement = insert(_sync).values(**values)
    new_cursor = statement.excluded.cursor if cursor is not None else _sync.c.cursor
    statement = statement.on_conflict_do_update(
        index_elements=[_sync.c.channel_id],
        set_={
            "cursor": new_cursor,
            "last_synced_at": statement.excluded.last_synced_at,
            "items_stored": _sync.c.items_stored + stored,
            "last_error": None,
            "last_error_code": None,
        },
    )
    session.execute(statement)


def _existing_ids(session: Session, *, channel: ChannelRef, external_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(external_ids), _CHUNK):
        chunk = external_ids[start : start + _CHUNK]
        found.update(
            session.execute(
                select(_items.c.external_id).where(
                    _items.c.channel_id == channel.id, one_of(session, _items.c.external_id, chunk)
                )
            ).scalars()
        )
    return found


def _upsert_contacts(
    session: Session,
    *,
    channel: ChannelRef,
    items: Sequence[InboundItem],
    now: dt.datetime,
) -> dict[str, uuid.UUID]:
    """The authors' contact ids by their external id (our own account gets none)."""
    authors = {
        item.author.external_id: item.author
        for item in items
        # Without the network's permission to see who wrote, there is nobody to link.
        if not item.from_us and item.author.external_id
    }
    if not authors:
        return {}
    # Most authors are known and unchanged: read them in one query and write only the
    # new and the changed (a row rewritten per page would be most of a page's cost).
    c = _contacts.c
    known: dict[str, uuid.UUID] = {}
    for row in session.execute(
        select(
            c.id,
            c.external_id,
            c.handle,
            c.display_name,
            c.avatar_url,
            c.profile_url,
            c.followers,
            c.last_seen_at,
        ).where(
            c.workspace_id == channel.workspace_id,
            c.network == channel.network,
            one_of(session, c.external_id, list(authors)),
        )
    ):
        author = authors[row.external_id]
        fresh = row.last_seen_at > now - CONTACT_REFRESH
        if (
            fresh
            and (row.handle, row.display_name) == (author.handle, author.display_name)
            and (
                (author.followers is None or author.followers == row.followers)
                and (author.avatar_url is None or author.avatar_url == row.avatar_url)
                and (author.url is None or author.url == row.profile_url)
            )
        ):
            known[row.external_id] = row.id
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "external_id": author.external_id,
            "handle": author.handle,
            "display_name": author.display_name,
            "avatar_url": author.avatar_url,
            "profile_url": author.url,
            "followers": author.followers,
        }
        for author in authors.values()
        if author.external_id not in known
    ]
    if not rows:
        return known
    constants = {
        "workspace_id": channel.workspace_id,
        "network": channel.network,
        "tags": [],
        "notes": "",
        "first_seen_at": now,
        "last_seen_at": now,
    }
    written = insert_rows(
        session,
        _contacts,
        rows,
        conflict=("workspace_id", "network", "external_id"),
        update={
            "handle": "excluded.handle",
            "display_name": "excluded.display_name",
            "avatar_url": "coalesce(excluded.avatar_url, inbox_contacts.avatar_url)",
            "profile_url": "coalesce(excluded.profile_url, inbox_contacts.profile_url)",
            "followers": "coalesce(excluded.followers, inbox_contacts.followers)",
            "last_seen_at": "excluded.last_seen_at",
        },
        returning=("id", "external_id"),
        constants=constants,
    )
    return {**known, **{row[1]: row[0] for row in written}}


def _ensure_conversations(
    session: Session,
    *,
    channel: ChannelRef,
    items: Sequence[InboundItem],
    contact_ids: dict[str, uuid.UUID],
    now: dt.datetime,
) -> dict[str, uuid.UUID]:
    """Conversation ids by the network's conversation id, creating the new ones."""
    starters: dict[str, InboundItem] = {}
    for item in sorted(items, key=lambda i: (i.from_us, i.created_at)):
        starters.setdefault(item.conversation_id, item)
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "external_id": external,
            "kind": item.kind.value,
            "contact_id": None if item.from_us else contact_ids.get(item.author.external_id),
            "subject": excerpt(item.text, 300),
        }
        for external, item in starters.items()
    ]
    constants = {
        "workspace_id": channel.workspace_id,
        "channel_id": channel.id,
        "status": "open",
        "priority": 0,
        "tags": [],
        "item_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    insert_rows(
        session,
        _conversations,
        rows,
        conflict=("channel_id", "external_id"),
        constants=constants,
    )
    found: dict[str, uuid.UUID] = {}
    externals = list(starters)
    for start in range(0, len(externals), _CHUNK):
        found.update(
            {
                external: id_
                for id_, external in session.execute(
                    select(_conversations.c.id, _conversations.c.external_id).where(
                        _conversations.c.channel_id == channel.id,
                        one_of(
                            session, _conversations.c.external_id, externals[start : start + _CHUNK]
                        ),
                    )
                )
            }
        )
    return found


def _our_posts(
    session: Session, *, channel: ChannelRef, items: Sequence[InboundItem], now: dt.datetime
) -> dict[str, uuid.UUID]:
    """Our posts by the external id the items name (a delivery's id, or one of its parts)."""
    wanted = {item.our_post_id for item in items if item.our_post_id}
    if not wanted:
        return {}
    found: dict[str, uuid.UUID] = {
        external: post_id
        for external, post_id in session.execute(
            select(Delivery.external_id, Delivery.post_id).where(
                Delivery.channel_id == channel.id, Delivery.external_id.in_(wanted)
            )
        )
        if external is not None
    }
    missing = wanted - set(found)
    if missing:
        # Replies to a thread's later part or to a first comment name that part's id.
        recent = session.execute(
            select(Delivery.post_id, Delivery.part_ids).where(
                Delivery.channel_id == channel.id,
                Delivery.published_at >= now - _PART_LOOKBACK,
            )
        )
        for post_id, part_ids in recent:
            for part in part_ids or ():
                if part in missing:
                    found[part] = post_id
    return found


def _insert_items(
    session: Session,
    *,
    channel: ChannelRef,
    items: Sequence[InboundItem],
    contact_ids: dict[str, uuid.UUID],
    conversation_ids: dict[str, uuid.UUID],
    post_ids: dict[str, uuid.UUID],
    now: dt.datetime,
) -> list[tuple[int, uuid.UUID]]:
    rows = [
        {
            "conversation_id": conversation_ids[item.conversation_id],
            "external_id": item.external_id,
            "kind": item.kind.value,
            "contact_id": None if item.from_us else contact_ids.get(item.author.external_id),
            "author_handle": item.author.handle,
            "text": item.text,
            "created_at": item.created_at,
            "url": item.url,
            "in_reply_to": item.in_reply_to,
            "our_post_external_id": item.our_post_id,
            "from_us": item.from_us,
            "extra": dict(item.extra),
        }
        for item in items
    ]
    constants = {
        "workspace_id": channel.workspace_id,
        "channel_id": channel.id,
        "received_at": now,
        "priority": 0,
        "hidden": False,
        "liked": False,
        "deleted": False,
    }
    written = insert_rows(
        session,
        _items,
        rows,
        conflict=("channel_id", "external_id"),
        returning=("id", "conversation_id"),
        constants=constants,
    )
    inserted = [(row[0], row[1]) for row in written]
    links = {
        conversation_ids[item.conversation_id]: post_ids[item.our_post_id]
        for item in items
        if item.our_post_id and item.our_post_id in post_ids
    }
    _link_conversations_to_posts(session, links=links)
    return inserted


def _link_conversations_to_posts(session: Session, *, links: dict[uuid.UUID, uuid.UUID]) -> None:
    if not links:
        return
    session.execute(
        update(_conversations)
        .where(_conversations.c.id == bindparam("b_id"), _conversations.c.post_id.is_(None))
        .values(post_id=bindparam("b_post")),
        [{"b_id": cid, "b_post": pid} for cid, pid in links.items()],
    )


def refresh_conversations(session: Session, *, conversation_ids: Sequence[uuid.UUID]) -> None:
    """Recompute the conversations' counts and times from their items (order-independent).

    A closed conversation opens again when someone writes after it was closed; a pending
    one (waiting for the person) opens again when they answer.
    """
    for start in range(0, len(conversation_ids), _CHUNK):
        _refresh_chunk(session, list(conversation_ids[start : start + _CHUNK]))


def _refresh_chunk(session: Session, ids: list[uuid.UUID]) -> None:
    i = _items.c
    inbound = ~i.from_us
    stats = (
        select(
            i.conversation_id.label("cid"),
            func.count().label("n"),
            func.max(i.created_at).label("last_item"),
            func.min(case((inbound, i.created_at))).label("first_in"),
            func.max(case((inbound, i.created_at))).label("last_in"),
            func.max(case((i.from_us, i.created_at))).label("last_out"),
        )
        .where(one_of(session, i.conversation_id, ids))
        .group_by(i.conversation_id)
        .subquery()
    )
    # One round trip: the aggregates, then per conversation (correlated subqueries on
    # ix_inbox_items_conversation) the first answer after the first message, the oldest
    # message after our last answer, and the earliest message (subject and starter).
    other = _items.alias("other")
    o = other.c

    def earliest(column: Any, *where: Any) -> Any:
        return (
            select(column)
            .where(o.conversation_id == stats.c.cid, *where)
            .order_by(o.created_at, o.id)
            .limit(1)
            .scalar_subquery()
        )

    first_inbound = (~o.from_us, o.created_at == stats.c.first_in)
    found = select(
        stats,
        earliest(o.created_at, o.from_us, o.created_at >= stats.c.first_in).label("first_response"),
        earliest(
            o.created_at,
            ~o.from_us,
            or_(stats.c.last_out.is_(None), o.created_at > stats.c.last_out),
        ).label("awaiting"),
        earliest(o.text, *first_inbound).label("starter_text"),
        earliest(o.contact_id, *first_inbound).label("starter_contact"),
    ).subquery("found")
    f = found.c
    c = _conversations.c
    # SET expressions read the row as it was: c.status is the status before this update.
    reopen_closed = and_(
        c.status == "closed",
        c.resolved_at.is_not(None),
        f.last_in.is_not(None),
        f.last_in > c.resolved_at,
    )
    reopen_pending = and_(
        c.status == "pending", c.awaiting_since.is_(None), f.awaiting.is_not(None)
    )
    subject = func.substr(func.replace(f.starter_text, "\n", " "), 1, 300)
    session.execute(
        update(_conversations)
        .where(c.id == f.cid)
        .values(
            item_count=f.n,
            last_item_at=f.last_item,
            first_inbound_at=f.first_in,
            last_inbound_at=f.last_in,
            last_response_at=f.last_out,
            first_response_at=f.first_response,
            awaiting_since=f.awaiting,
            status=case((reopen_closed, "open"), (reopen_pending, "open"), else_=c.status),
            resolved_at=case((reopen_closed, None), else_=c.resolved_at),
            subject=func.coalesce(subject, c.subject),
            contact_id=func.coalesce(f.starter_contact, c.contact_id),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
