# SPDX-License-Identifier: AGPL-3.0-or-later
"""A member's private iCalendar feed of the workspace's planned posts (RFC 5545).

The feed's URL carries an opaque token, shown once and stored only as its hash (like API
tokens). Calendar apps fetch the URL without a session, so the token is the whole
credential: it opens one workspace's planned posts read-only, and stops working when it
is revoked, when its member leaves the workspace, or when their role may no longer read
posts.

Each post is one VEVENT with a stable UID (the post's id), DTSTART in UTC, and
SEQUENCE / DTSTAMP / LAST-MODIFIED taken from the post's ``updated_at``, so clients
update a moved post instead of adding a second one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.opaque import hash_opaque_token, new_opaque_token
from socialdesk.accounts.roles import Permission, can, require
from socialdesk.accounts.workspaces import Access, access_for
from socialdesk.errors import Conflict, NotFound
from socialdesk.publishing.calendar import (
    POST_STATUSES,
    CalendarEntry,
    CalendarFilters,
    calendar_entries,
)
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import CalendarFeed, User
from socialdesk.storage.types import utcnow

TOKEN_PREFIX = "cal"  # noqa: S105 (a prefix, not a secret)
MAX_FEEDS_PER_MEMBER = 10
#: The feed covers what was planned a month ago up to a year ahead.
WINDOW_PAST = dt.timedelta(days=31)
WINDOW_AHEAD = dt.timedelta(days=366)
MAX_EVENTS = 10_000
#: Posts are instants; a calendar shows them as short events.
EVENT_LENGTH = dt.timedelta(minutes=15)
#: Statuses that appear in the feed (a draft with a date is not planned yet).
FEED_STATUSES = tuple(s for s in POST_STATUSES if s not in ("draft", "cancelled"))
PRODID = "-//socialdesk//Planned posts//EN"


def create_feed(session: Session, *, access: Access, actor: Actor) -> tuple[CalendarFeed, str]:
    """A new feed for the caller in this workspace, and its token (shown once)."""
    require(access.role, Permission.POSTS_READ)
    active = list_feeds(session, access=access)
    if len(active) >= MAX_FEEDS_PER_MEMBER:
        raise Conflict(
            f"you have {len(active)} calendar feeds in this workspace; revoke one you no "
            "longer use first"
        )
    raw, token_hash = new_opaque_token(TOKEN_PREFIX)
    feed = CalendarFeed(
        workspace_id=access.workspace.id, user_id=access.user.id, token_hash=token_hash
    )
    session.add(feed)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="calendar_feed.create",
        workspace_id=access.workspace.id,
        target_type="calendar_feed",
        target_id=feed.id,
    )
    return feed, raw


def list_feeds(session: Session, *, access: Access) -> list[CalendarFeed]:
    """The caller's feeds in this workspace that still work, newest first."""
    return list(
        session.scalars(
            select(CalendarFeed)
            .where(
                CalendarFeed.workspace_id == access.workspace.id,
                CalendarFeed.user_id == access.user.id,
                CalendarFeed.revoked_at.is_(None),
            )
            .order_by(CalendarFeed.created_at.desc())
        )
    )


def revoke_feed(
    session: Session, *, access: Access, actor: Actor, feed_id: uuid.UUID
) -> CalendarFeed:
    """Stop one of the caller's feeds from working (calendar apps get a 404 from then on)."""
    feed = session.get(CalendarFeed, feed_id)
    if (
        feed is None
        or feed.workspace_id != access.workspace.id
        or feed.user_id != access.user.id
        or feed.revoked_at is not None
    ):
        raise NotFound("no such calendar feed")
    feed.revoked_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="calendar_feed.revoke",
        workspace_id=access.workspace.id,
        target_type="calendar_feed",
        target_id=feed.id,
    )
    return feed


def open_feed(session: Session, *, raw_token: str) -> tuple[CalendarFeed, Access]:
    """The feed a token opens, with its member's access; scopes ``session`` to it.

    Any reason to refuse (unknown, revoked, member gone or without the right) is the same
    NotFound, so the answer tells a guesser nothing.
    """
    refused = NotFound("no such calendar feed")
    if not raw_token.startswith(f"{TOKEN_PREFIX}_") or len(raw_token) > 200:
        raise refused
    feed = session.scalars(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_opaque_token(raw_token))
    ).first()
    if feed is None or feed.revoked_at is not None:
        raise refused
    user = session.get(User, feed.user_id)
    if user is None:
        raise refused
    try:
        access = access_for(session, user=user, workspace_id=feed.workspace_id)
    except NotFound:
        raise refused from None
    if not can(access.role, Permission.POSTS_READ):
        raise refused
    scope_to_workspace(session, feed.workspace_id)
    return feed, access


def _event(entry: CalendarEntry, *, url: str) -> Event:
    event = Event()
    event.add("uid", f"{entry.id}@socialdesk")
    event.add("summary", entry.title)
    channels = ", ".join(f"{c.network_name} {c.handle}" for c in entry.channels)
    description = [entry.text.strip(), "", f"Channels: {channels or '(none)'}"]
    description.append(f"Status: {entry.status_label}")
    if entry.labels:
        description.append(f"Labels: {', '.join(entry.labels)}")
    description.append(url)
    event.add("description", "\n".join(description))
    start = entry.scheduled_at.astimezone(dt.UTC)
    event.add("dtstart", start)
    event.add("dtend", start + EVENT_LENGTH)
    assert entry.created_at is not None
    assert entry.updated_at is not None
    updated = entry.updated_at.astimezone(dt.UTC)
    created = entry.created_at.astimezone(dt.UTC)
    event.add("dtstamp", updated)
    event.add("created", created)
    event.add("last-modified", updated)
    # A revision number that only grows: seconds from creation to the last change.
    event.add("sequence", max(0, int((updated - created).total_seconds())))
    event.add("status", "TENTATIVE" if entry.status == "in_review" else "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    event.add("url", url)
    if entry.labels:
        event.add("categories", list(entry.labels))
    return event


def feed_calendar(
    session: Session,
    *,
    feed: CalendarFeed,
    workspace_name: str,
    url_for: Callable[[uuid.UUID], str],
    now: dt.datetime | None = None,
) -> bytes:
    """The feed as an ``.ics`` document: two queries, whatever the number of posts."""
    now = now or utcnow()
    entries = calendar_entries(
        session,
        workspace_id=feed.workspace_id,
        start=now - WINDOW_PAST,
        end=now + WINDOW_AHEAD,
        filters=CalendarFilters(statuses=FEED_STATUSES),
        limit=MAX_EVENTS,
        strict=False,
        revisions=True,
    )
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{workspace_name} · socialdesk")
    calendar.add("x-wr-caldesc", f"Posts planned in {workspace_name}")
    # How often clients should fetch again (RFC 7986, and the older Microsoft name).
    calendar.add("refresh-interval", dt.timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT15M")
    for entry in entries:
        calendar.add_component(_event(entry, url=url_for(entry.id)))
    document: bytes = calendar.to_ical()
    return document
