# SPDX-License-Identifier: AGPL-3.0-or-later
"""What the calendar, the lists and the failures view read, without one query per post.

A month of posts is read in two queries whatever its size: the posts (with their
authors), then every delivery of those posts joined with its channel. Rows come back as
plain tuples and become small frozen dataclasses, so a month of 1,000 posts costs two
round trips and no ORM bookkeeping per row. The failures view is one query too.

Everything here is read-only; changes go through ``publishing.posts`` and
``publishing.queue``, which check permissions and rules.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    Text,
    cast,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, contains_eager, lazyload

from socialdesk.connectors.registry import CONNECTORS
from socialdesk.errors import NotFound, ValidationError
from socialdesk.exports import csv_text
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing.channels import NEEDS_RECONNECT
from socialdesk.publishing.scheduling import to_local
from socialdesk.storage.tables import Channel, Delivery, Post, User

#: Every status a post can have, in the order people think of them, with its label.
POST_STATUSES: dict[str, str] = {
    "draft": "Draft",
    "in_review": "In review",
    "approved": "Approved",
    "scheduled": "Scheduled",
    "publishing": "Publishing",
    "published": "Published",
    "partly_failed": "Partly failed",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
#: Statuses a post may be dragged out of (``reschedule_post`` decides for real).
MOVABLE_STATUSES = frozenset({"draft", "in_review", "approved", "scheduled"})
#: Delivery states the failures view lists: gave up, may have gone out, or waiting on
#: a reconnect.
ATTENTION_STATES = (dl.FAILED, dl.UNCERTAIN, dl.HELD)
#: More posts than this in one calendar range is refused rather than served slowly.
MAX_ENTRIES = 5_000
MAX_RANGE = dt.timedelta(days=400)
TITLE_LENGTH = 80


@dataclass(frozen=True, slots=True)
class CalendarFilters:
    """What the calendar shows; an empty tuple means "any"."""

    channel_ids: tuple[uuid.UUID, ...] = ()
    labels: tuple[str, ...] = ()
    campaign_ids: tuple[uuid.UUID, ...] = ()
    statuses: tuple[str, ...] = ()
    author_ids: tuple[uuid.UUID, ...] = ()

    def __post_init__(self) -> None:
        unknown = [status for status in self.statuses if status not in POST_STATUSES]
        if unknown:
            known = ", ".join(POST_STATUSES)
            raise ValidationError(
                f"unknown status {unknown[0]!r}; use one of {known}", field="status"
            )

    @property
    def active(self) -> bool:
        return any(
            (self.channel_ids, self.labels, self.campaign_ids, self.statuses, self.author_ids)
        )


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A channel as lists show it (built once per channel, shared by its posts)."""

    id: uuid.UUID
    network: str
    handle: str
    display_name: str
    status: str
    network_name: str
    initials: str


class ChannelChip(NamedTuple):
    """One channel a post goes to, and how its delivery there stands."""

    channel: ChannelInfo
    state: str

    @property
    def network(self) -> str:
        return self.channel.network

    @property
    def handle(self) -> str:
        return self.channel.handle

    @property
    def network_name(self) -> str:
        return self.channel.network_name

    @property
    def initials(self) -> str:
        return self.channel.initials


class CalendarEntry(NamedTuple):
    """A post as the calendar and the lists show it.

    A tuple rather than a dataclass: a month view builds a thousand of them per request.
    ``created_at`` and ``updated_at`` are only read when asked for (the feed needs them).
    """

    id: uuid.UUID
    text: str
    status: str
    scheduled_at: dt.datetime
    timezone: str
    labels: tuple[str, ...]
    author_name: str
    is_recurring: bool
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    channels: tuple[ChannelChip, ...]

    @property
    def title(self) -> str:
        return post_title(self.text)

    @property
    def status_label(self) -> str:
        return POST_STATUSES.get(self.status, self.status)


@dataclass(frozen=True, slots=True)
class AttentionItem:
    """A delivery that failed, may have gone out, or waits for its channel's reconnect."""

    delivery: Delivery

    @property
    def post(self) -> Post:
        return self.delivery.post

    @property
    def channel(self) -> Channel:
        return self.delivery.channel

    @property
    def title(self) -> str:
        return post_title(self.delivery.text or self.delivery.post.text)

    @property
    def retryable(self) -> bool:
        """What ``retry_delivery`` accepts (uncertain ones are looked up by the reconciler)."""
        return self.delivery.state in (dl.FAILED, dl.HELD) and (
            self.delivery.channel.status != NEEDS_RECONNECT
        )


def network_name(network: str) -> str:
    connector = CONNECTORS.get(network)
    return connector.display_name if connector is not None else network.capitalize()


def initials(name: str) -> str:
    """ "Acme Coffee" -> "AC", "@ana.bsky.social" -> "A": what a channel's avatar shows."""
    words = [w for w in name.replace("@", " ").replace(".", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1 or "." in name or "@" in name:
        return words[0][0].upper()
    return (words[0][0] + words[1][0]).upper()


def post_title(text: str) -> str:
    """The first non-empty line of a post, shortened for a calendar cell or a summary."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first:
        return "(no text)"
    if len(first) > TITLE_LENGTH:
        return first[: TITLE_LENGTH - 1].rstrip() + "…"
    return first


def check_range(start: dt.datetime, end: dt.datetime) -> None:
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ValidationError(f"the {name} of the range needs a UTC offset", field=name)
    if end <= start:
        raise ValidationError("the end of the range is before its start", field="end")
    if end - start > MAX_RANGE:
        raise ValidationError(
            f"a range of at most {MAX_RANGE.days} days can be shown at once", field="end"
        )


def _json_list_contains(session: Session, values: Sequence[str]) -> ColumnElement[bool]:
    """``Post.labels`` (a JSON list) contains one of ``values``, on SQLite and PostgreSQL."""
    functions = {"sqlite": func.json_each, "postgresql": func.json_array_elements_text}
    dialect = session.get_bind().dialect.name
    if dialect not in functions:
        raise NotImplementedError(f"label filters are not written for {dialect}")
    elements = functions[dialect](Post.labels).table_valued("value").alias("label")
    return exists(
        select(literal(1)).select_from(elements).where(column("value").in_(tuple(values)))
    )


def _key(column: Any) -> Any:
    """An id as the driver returns it, without making a ``uuid.UUID`` of it: for ids that
    only join rows in Python (thousands per month view; converting them is the slow part)."""
    return type_coerce(column, String).label(f"{column.table.name}_{column.key}_key")


_POST_COLUMNS = (
    Post.id,
    _key(Post.id),
    Post.text,
    Post.status,
    Post.scheduled_at,
    Post.timezone,
    Post.labels,
    User.name,
    User.email,
    or_(Post.recurrence_rule.is_not(None), Post.recurrence_parent_id.is_not(None)),
)
_REVISION_COLUMNS = (Post.created_at, Post.updated_at)


def _post_conditions(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    filters: CalendarFilters,
) -> list[ColumnElement[bool]]:
    conditions = [
        Post.workspace_id == workspace_id,
        Post.scheduled_at.is_not(None),
        Post.scheduled_at >= start,
        Post.scheduled_at < end,
    ]
    if filters.statuses:
        conditions.append(Post.status.in_(filters.statuses))
    if filters.author_ids:
        conditions.append(Post.author_id.in_(filters.author_ids))
    if filters.campaign_ids:
        conditions.append(Post.campaign_id.in_(filters.campaign_ids))
    if filters.channel_ids:
        conditions.append(
            exists().where(
                Delivery.post_id == Post.id, Delivery.channel_id.in_(filters.channel_ids)
            )
        )
    if filters.labels:
        conditions.append(_json_list_contains(session, filters.labels))
    return conditions


def calendar_entries(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    filters: CalendarFilters | None = None,
    limit: int = MAX_ENTRIES,
    strict: bool = True,
    revisions: bool = False,
) -> list[CalendarEntry]:
    """The posts planned in ``[start, end)`` with their channels: three queries in all
    (posts, their deliveries' states, the workspace's channels), whatever the count.

    More than ``limit`` posts is a ValidationError, or (``strict=False``) the first
    ``limit`` of them. ``revisions`` also reads when each post was created and changed.
    """
    check_range(start, end)
    conditions = _post_conditions(
        session,
        workspace_id=workspace_id,
        start=start,
        end=end,
        filters=filters or CalendarFilters(),
    )
    rows = session.execute(
        select(*_POST_COLUMNS, *(_REVISION_COLUMNS if revisions else ()))
        .outerjoin(User, User.id == Post.author_id)
        .where(*conditions)
        .order_by(Post.scheduled_at, Post.id)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit and strict:
        raise ValidationError(
            f"more than {limit} posts in this range; choose a shorter range or a filter",
            field="end",
        )
    # The deliveries of the same posts, chosen by the same conditions in the database
    # (rather than a thousand ids sent back); extra rows past a truncation are ignored.
    return _entries(
        session,
        workspace_id=workspace_id,
        rows=rows[:limit],
        deliveries_of=Delivery.post_id.in_(select(Post.id).where(*conditions)),
    )


def channel_infos(session: Session, *, workspace_id: uuid.UUID) -> dict[Any, ChannelInfo]:
    """Every channel of the workspace (disconnected ones too: old posts went to them),
    by driver key (see ``_key``), in display order."""
    return {
        key: ChannelInfo(
            id=channel_id,
            network=network,
            handle=handle,
            display_name=name,
            status=status,
            network_name=network_name(network),
            initials=initials(name or handle),
        )
        for channel_id, key, network, handle, name, status in session.execute(
            select(
                Channel.id,
                _key(Channel.id),
                Channel.network,
                Channel.handle,
                Channel.display_name,
                Channel.status,
            )
            .where(Channel.workspace_id == workspace_id)
            .order_by(Channel.network, Channel.handle)
        )
    }


def _entries(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    rows: Sequence[Row[*tuple[Any, ...]]],
    deliveries_of: ColumnElement[bool],
) -> list[CalendarEntry]:
    if not rows:
        return []
    channels = channel_infos(session, workspace_id=workspace_id)
    order = {key: index for index, key in enumerate(channels)}
    deliveries = session.execute(
        select(_key(Delivery.post_id), _key(Delivery.channel_id), Delivery.state).where(
            Delivery.workspace_id == workspace_id, deliveries_of
        )
    ).all()
    # Each post's channels in display order.
    in_order = sorted(deliveries, key=lambda row: order[row[1]])
    chips: dict[Any, list[ChannelChip]] = defaultdict(list)
    for post_key, channel_key, state in in_order:
        chips[post_key].append(ChannelChip(channels[channel_key], state))
    none: tuple[ChannelChip, ...] = ()
    revisions = len(rows[0]) > len(_POST_COLUMNS)
    return [
        CalendarEntry(
            row[0],
            row[2],
            row[3],
            row[4],
            row[5],
            tuple(row[6] or ()),
            row[7] or row[8] or "",
            bool(row[9]),
            row[10] if revisions else None,
            row[11] if revisions else None,
            tuple(chips[row[1]]) if row[1] in chips else none,
        )
        for row in rows
    ]


#: What the calendar's script needs of a post; the text is cut in the database (a title
#: is at most one line) so long posts cost no more than short ones.
_EVENT_COLUMNS = (
    _key(Post.id),
    func.substr(Post.text, 1, 4 * TITLE_LENGTH),
    Post.status,
    Post.scheduled_at,
    func.coalesce(func.nullif(User.name, ""), User.email),
    or_(Post.recurrence_rule.is_not(None), Post.recurrence_parent_id.is_not(None)),
)


def _id_text(raw: Any) -> str:
    """A ``_key`` id as its canonical text (SQLite stores 32 hex digits)."""
    if isinstance(raw, str) and len(raw) == 32:
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return str(raw)


def calendar_events(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    start: dt.datetime,
    end: dt.datetime,
    movable: bool,
    filters: CalendarFilters | None = None,
    limit: int = MAX_ENTRIES,
) -> dict[str, Any]:
    """The posts planned in ``[start, end)`` as the calendar page's script reads them:
    three queries whatever their number (see :func:`_events`)."""
    check_range(start, end)
    conditions = _post_conditions(
        session,
        workspace_id=workspace_id,
        start=start,
        end=end,
        filters=filters or CalendarFilters(),
    )
    return _events(
        session, workspace_id=workspace_id, conditions=conditions, movable=movable, limit=limit
    )


def post_event(
    session: Session, *, workspace_id: uuid.UUID, post_id: uuid.UUID, movable: bool
) -> dict[str, Any]:
    """One post in the same shape (the answer to a move)."""
    payload = _events(
        session,
        workspace_id=workspace_id,
        conditions=[Post.workspace_id == workspace_id, Post.id == post_id],
        movable=movable,
        limit=1,
    )
    if not payload["events"]:
        raise NotFound("no such post in this workspace")
    return payload


def _events(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    conditions: Sequence[ColumnElement[bool]],
    movable: bool,
    limit: int,
) -> dict[str, Any]:
    """Compact on purpose, since a busy month is a thousand posts: the channels are
    described once and each post refers to them by index, with its delivery's state; the
    script adds URLs and labels. Starts are UTC instants (the browser shows local time).

    This is the calendar's hot path, so it reads only what the script shows and builds
    plain dicts from the rows (no per-post objects), measured by ``bench/web.py``.
    """
    rows = session.execute(
        select(*_EVENT_COLUMNS)
        .outerjoin(User, User.id == Post.author_id)
        .where(*conditions)
        .order_by(Post.scheduled_at, Post.id)
        .limit(limit + 1)
    ).all()
    if len(rows) > limit:
        raise ValidationError(
            f"more than {limit} posts in this range; choose a shorter range or a filter",
            field="end",
        )
    channels = channel_infos(session, workspace_id=workspace_id) if rows else {}
    order = {key: index for index, key in enumerate(channels)}
    refs: dict[Any, list[tuple[int, str]]] = defaultdict(list)
    if rows:
        deliveries = session.execute(
            select(_key(Delivery.post_id), _key(Delivery.channel_id), Delivery.state).where(
                Delivery.workspace_id == workspace_id,
                Delivery.post_id.in_(select(Post.id).where(*conditions)),
            )
        ).all()
        for post_key, channel_key, state in deliveries:
            refs[post_key].append((order[channel_key], state))
    events: list[dict[str, Any]] = []
    for post_key, text, status, at, author, recurring in rows:
        event: dict[str, Any] = {
            "id": _id_text(post_key),
            "title": post_title(text),
            "start": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "editable": movable and status in MOVABLE_STATUSES,
            "status": status,
            "author": author or "",
            "channels": sorted(refs.get(post_key, ())),
        }
        if recurring:
            event["recurring"] = True
        events.append(event)
    return {
        "statuses": POST_STATUSES,
        "channels": [
            {
                "network": info.network,
                "networkName": info.network_name,
                "handle": info.handle,
                "initials": info.initials,
            }
            for info in channels.values()
        ],
        "events": events,
    }


def attention_items(
    session: Session, *, workspace_id: uuid.UUID, limit: int = 500
) -> list[AttentionItem]:
    """Failed, uncertain and held deliveries, newest first: one query (post and channel
    joined in)."""
    query = (
        select(Delivery)
        .join(Delivery.post)
        .options(contains_eager(Delivery.post), lazyload(Delivery.media))
        .where(
            Delivery.workspace_id == workspace_id,
            Delivery.state.in_(ATTENTION_STATES),
            Post.status != "cancelled",
        )
        .order_by(Delivery.updated_at.desc(), Delivery.id)
        .limit(limit)
    )
    return [AttentionItem(delivery=d) for d in session.scalars(query).unique()]


def channels_needing_reconnect(session: Session, *, workspace_id: uuid.UUID) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.workspace_id == workspace_id, Channel.status == NEEDS_RECONNECT)
            .order_by(Channel.network, Channel.handle)
        )
    )


def upcoming_deliveries(
    session: Session, *, channel: Channel, after: dt.datetime, limit: int = 20
) -> list[Delivery]:
    """What is next on one channel (its queue as it will go out): one query."""
    query = (
        select(Delivery)
        .join(Delivery.post)
        .options(contains_eager(Delivery.post), lazyload(Delivery.media))
        .where(
            Delivery.channel_id == channel.id,
            Delivery.state.in_((dl.PENDING, dl.HELD)),
            Delivery.due_at.is_not(None),
            Delivery.due_at >= after,
            Post.status.in_(("scheduled", "approved", "publishing")),
        )
        .order_by(Delivery.due_at, Delivery.id)
        .limit(limit)
    )
    return list(session.scalars(query).unique())


def distinct_labels(session: Session, *, workspace_id: uuid.UUID, sample: int = 2_000) -> list[str]:
    """Labels used in the workspace (for the filter's choices).

    The database reduces the posts to their distinct label lists (as JSON text), so a
    workspace of many posts with a few label combinations costs a few rows.
    """
    as_text = cast(Post.labels, Text)
    lists = session.scalars(
        select(as_text)
        .where(Post.workspace_id == workspace_id, as_text.is_not(None), as_text != "[]")
        .distinct()
        .limit(sample)
    )
    found = {label for text in lists for label in json.loads(text) if isinstance(label, str)}
    return sorted(found, key=str.casefold)


# -- CSV -------------------------------------------------------------------------------


POSTS_CSV_HEADER = (
    "scheduled_at_utc",
    "scheduled_at_local",
    "timezone",
    "status",
    "channels",
    "labels",
    "author",
    "text",
    "post_id",
    "url",
)


def posts_csv(
    entries: Iterable[CalendarEntry], *, timezone: str, url_for: Callable[[uuid.UUID], str]
) -> str:
    rows = (
        (
            e.scheduled_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            to_local(e.scheduled_at, timezone).strftime("%Y-%m-%d %H:%M"),
            timezone,
            e.status,
            "; ".join(f"{c.network_name} {c.handle}" for c in e.channels),
            "; ".join(e.labels),
            e.author_name,
            e.text,
            e.id,
            url_for(e.id),
        )
        for e in entries
    )
    return csv_text(POSTS_CSV_HEADER, rows)


FAILURES_CSV_HEADER = (
    "state",
    "channel",
    "network",
    "reason",
    "error_code",
    "attempts",
    "due_at_utc",
    "updated_at_utc",
    "post_text",
    "post_id",
    "delivery_id",
    "url",
)


def failures_csv(items: Iterable[AttentionItem], *, url_for: Callable[[uuid.UUID], str]) -> str:
    def utc(value: dt.datetime | None) -> str:
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""

    rows = (
        (
            item.delivery.state,
            item.channel.handle,
            network_name(item.channel.network),
            item.delivery.last_error or "",
            item.delivery.last_error_code or "",
            item.delivery.attempts,
            utc(item.delivery.due_at),
            utc(item.delivery.updated_at),
            item.delivery.text or item.post.text,
            item.post.id,
            item.delivery.id,
            url_for(item.post.id),
        )
        for item in items
    )
    return csv_text(FAILURES_CSV_HEADER, rows)
