# SPDX-License-Identifier: AGPL-3.0-or-later
"""Calendar queries (no query per post), filters, events, CSV, and the iCalendar feed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass

import icalendar
import pytest

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.publishing import calendar, ical, posts
from socialdesk.publishing.calendar import CalendarFilters
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, Delivery, Membership, Post, User
from socialdesk.storage.types import utcnow
from tests.publishing.calendar_data import QueryCounter, make_channel, make_posts
from tests.publishing.conftest import Desk

CLI = Actor.cli()
JAN = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
FEB = dt.datetime(2031, 2, 1, tzinfo=dt.UTC)


@dataclass
class Place:
    db: Database
    access: Access
    channel: Channel
    other: Channel

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.access.workspace.id


def _workspace(db: Database, email: str, name: str) -> Access:
    with db.transaction() as session:
        owner = users.create_user(session, email=email, password="x" * 12, actor=CLI)
        workspace = workspaces.create_workspace(session, name=name, owner=owner, actor=CLI)
        return workspaces.access_for(session, user=owner, workspace_id=workspace.id)


@pytest.fixture
def place(db: Database) -> Place:
    access = _workspace(db, "ana@example.com", "Acme")
    channel = make_channel(db, access.workspace.id)
    other = make_channel(db, access.workspace.id, network="bluesky", handle="acme.bsky.social")
    return Place(db=db, access=access, channel=channel, other=other)


def _entries(place: Place, **kw: object) -> list[calendar.CalendarEntry]:
    with place.db.transaction(place.workspace_id) as session:
        return calendar.calendar_entries(
            session,
            workspace_id=place.workspace_id,
            start=kw.pop("start", JAN),  # type: ignore[arg-type]
            end=kw.pop("end", FEB),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )


def test_a_month_of_a_thousand_posts_takes_three_queries(place: Place) -> None:
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=1_000,
        start=JAN + dt.timedelta(minutes=7),
        step=dt.timedelta(minutes=44),  # 1,000 x 44 min fits in January
    )
    with (
        place.db.transaction(place.workspace_id) as session,
        QueryCounter(place.db.engine) as counter,
    ):
        entries = calendar.calendar_entries(
            session, workspace_id=place.workspace_id, start=JAN, end=FEB
        )
    assert len(entries) == 1_000
    assert counter.count == 3, counter.statements  # posts, their deliveries, the channels
    assert all(len(entry.channels) == 2 for entry in entries)
    assert [e.scheduled_at for e in entries] == sorted(e.scheduled_at for e in entries)
    assert entries[0].channels[0].network == "bluesky"  # channels ordered by network


def test_the_range_is_half_open_and_other_workspaces_are_invisible(
    place: Place, db: Database
) -> None:
    make_posts(
        db, place.workspace_id, channels=[place.channel], count=1, start=JAN, step=dt.timedelta()
    )
    make_posts(
        db, place.workspace_id, channels=[place.channel], count=1, start=FEB, step=dt.timedelta()
    )
    stranger = _workspace(db, "eve@example.com", "Evil")
    theirs = make_channel(db, stranger.workspace.id)
    make_posts(
        db, stranger.workspace.id, channels=[theirs], count=3, start=JAN, step=dt.timedelta(hours=1)
    )
    [entry] = _entries(place)
    assert entry.scheduled_at == JAN
    # Asking for another workspace's id through a scoped session finds nothing either.
    with db.transaction(place.workspace_id) as session:
        assert (
            calendar.calendar_entries(
                session, workspace_id=stranger.workspace.id, start=JAN, end=FEB
            )
            == []
        )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (CalendarFilters(), {"a", "b", "c", "d"}),
        (CalendarFilters(statuses=("in_review",)), {"b"}),
        (CalendarFilters(statuses=("in_review", "failed")), {"b", "c"}),
        (CalendarFilters(labels=("launch",)), {"a", "c"}),
        (CalendarFilters(labels=("winter sale",)), {"b"}),
        (CalendarFilters(labels=("launch", "winter sale")), {"a", "b", "c"}),
        (CalendarFilters(labels=("launc",)), set()),
        (CalendarFilters(labels=("launch",), statuses=("scheduled",)), {"a"}),
    ],
)
def test_filters_by_status_and_label(
    place: Place, filters: CalendarFilters, expected: set[str]
) -> None:
    one = dt.timedelta(hours=1)
    for name, status, labels, at in (
        ("a", "scheduled", ["launch"], JAN + one),
        ("b", "in_review", ["winter sale", 'lau"nch'], JAN + 2 * one),
        ("c", "failed", ["launch", "x%_"], JAN + 3 * one),
        ("d", "scheduled", [], JAN + 4 * one),
    ):
        make_posts(
            place.db,
            place.workspace_id,
            channels=[place.channel],
            count=1,
            start=at,
            step=one,
            status=status,
            labels=labels,
            text=name,
        )
    assert {e.text for e in _entries(place, filters=filters)} == expected


def test_filters_by_channel_author_and_campaign(place: Place, db: Database) -> None:
    author = place.access.user.id
    campaign = uuid.uuid4()
    one = dt.timedelta(hours=1)
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=JAN,
        step=one,
        text="mastodon only",
        author_id=author,
    )
    make_posts(
        db,
        place.workspace_id,
        channels=[place.other],
        count=1,
        start=JAN + one,
        step=one,
        text="bluesky only",
        campaign_id=campaign,
    )
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=1,
        start=JAN + 2 * one,
        step=one,
        text="both",
    )

    def texts(filters: CalendarFilters) -> set[str]:
        return {e.text for e in _entries(place, filters=filters)}

    assert texts(CalendarFilters(channel_ids=(place.channel.id,))) == {"mastodon only", "both"}
    assert texts(CalendarFilters(channel_ids=(place.other.id,))) == {"bluesky only", "both"}
    assert texts(CalendarFilters(author_ids=(author,))) == {"mastodon only"}
    assert texts(CalendarFilters(campaign_ids=(campaign,))) == {"bluesky only"}
    # A post to two channels is one entry, with both channels.
    [both] = [e for e in _entries(place) if e.text == "both"]
    assert {c.handle for c in both.channels} == {place.channel.handle, place.other.handle}
    assert both.author_name == ""


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (FEB, JAN, "before its start"),
        (JAN, JAN + dt.timedelta(days=401), "at most 400 days"),
        (JAN.replace(tzinfo=None), FEB, "UTC offset"),
    ],
)
def test_bad_ranges_are_refused(
    place: Place, start: dt.datetime, end: dt.datetime, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _entries(place, start=start, end=end)


def test_too_many_posts_in_a_range_is_an_error_unless_truncating(place: Place) -> None:
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=5,
        start=JAN,
        step=dt.timedelta(hours=1),
    )
    with pytest.raises(ValidationError, match="more than 4 posts"):
        _entries(place, limit=4)
    assert len(_entries(place, limit=4, strict=False)) == 4


def test_unknown_status_filter_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown status 'sent'"):
        CalendarFilters(statuses=("sent",))


def _events(place: Place, *, movable: bool = True, **kw: object) -> dict[str, object]:
    with place.db.transaction(place.workspace_id) as session:
        return calendar.calendar_events(
            session,
            workspace_id=place.workspace_id,
            start=JAN,
            end=FEB,
            movable=movable,
            **kw,  # type: ignore[arg-type]
        )


def test_the_browser_gets_compact_events(place: Place) -> None:
    [moving] = make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=1,
        start=JAN,
        step=dt.timedelta(),
        labels=["launch"],
        text="First line\nsecond line",
        author_id=place.access.user.id,
    )
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=JAN + dt.timedelta(hours=1),
        step=dt.timedelta(),
        status="published",
        state="published",
        text="x" * 5000,
    )
    payload = _events(place)
    assert payload["statuses"]["partly_failed"] == "Partly failed"  # type: ignore[index]
    # Each channel once (in display order); events refer to it by index.
    assert payload["channels"] == [
        {
            "network": "bluesky",
            "networkName": "Bluesky",
            "handle": "acme.bsky.social",
            "initials": "AC",
        },
        {
            "network": "mastodon",
            "networkName": "Mastodon",
            "handle": place.channel.handle,
            "initials": "AC",
        },
    ]
    movable, published = payload["events"]  # type: ignore[misc]
    assert movable == {
        "id": str(moving),
        "title": "First line",
        "start": "2031-01-01T00:00:00Z",
        "editable": True,
        "status": "scheduled",
        "author": "ana@example.com",
        "channels": [(0, "pending"), (1, "pending")],
    }
    assert published["editable"] is False  # a published post stays where it went out
    assert published["channels"] == [(1, "published")]
    assert published["title"] == "x" * 79 + "…"
    readers = _events(place, movable=False)["events"]
    assert [e["editable"] for e in readers] == [False, False]  # type: ignore[attr-defined]
    assert _events(place, filters=CalendarFilters(statuses=("failed",)))["events"] == []
    with place.db.transaction(place.workspace_id) as session:
        one = calendar.post_event(
            session, workspace_id=place.workspace_id, post_id=moving, movable=True
        )
        assert [e["id"] for e in one["events"]] == [str(moving)]
        with pytest.raises(NotFound):
            calendar.post_event(
                session, workspace_id=place.workspace_id, post_id=uuid.uuid4(), movable=True
            )


def test_the_month_events_take_three_queries_and_refuse_too_many(place: Place) -> None:
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=300,
        start=JAN,
        step=dt.timedelta(hours=2),
    )
    with (
        place.db.transaction(place.workspace_id) as session,
        QueryCounter(place.db.engine) as counter,
    ):
        payload = calendar.calendar_events(
            session, workspace_id=place.workspace_id, start=JAN, end=FEB, movable=True
        )
    assert len(payload["events"]) == 300
    assert counter.count == 3, counter.statements
    with pytest.raises(ValidationError, match="more than 299 posts"):
        _events(place, limit=299)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Coffee", "AC"),
        ("acme.bsky.social", "A"),
        ("@ana@mastodon.social", "A"),
        ("Zoë", "Z"),
        ("", "?"),
        ("  ", "?"),
    ],
)
def test_initials(name: str, expected: str) -> None:
    assert calendar.initials(name) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello\nworld", "Hello"),
        ("\n\n  Spaced  \nx", "Spaced"),
        ("", "(no text)"),
        ("a" * 100, "a" * 79 + "…"),
    ],
)
def test_post_titles(text: str, expected: str) -> None:
    assert calendar.post_title(text) == expected


def test_posts_csv(place: Place) -> None:
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=1,
        start=JAN,
        step=dt.timedelta(),
        labels=["a", "b"],
        text='Hi, "you"\nline two',
    )
    body = calendar.posts_csv(
        _entries(place), timezone="Europe/Paris", url_for=lambda i: f"https://x/{i}"
    )
    header, row = list(csv.reader(io.StringIO(body)))
    assert header == list(calendar.POSTS_CSV_HEADER)
    record = dict(zip(header, row, strict=True))
    assert record["scheduled_at_utc"] == "2031-01-01T00:00:00Z"
    assert record["scheduled_at_local"] == "2031-01-01 01:00"
    assert record["channels"] == f"Bluesky {place.other.handle}; Mastodon {place.channel.handle}"
    assert record["labels"] == "a; b"
    assert record["text"] == 'Hi, "you"\nline two'


def test_attention_items_and_reconnects_in_one_query_each(place: Place, db: Database) -> None:
    broken = make_channel(
        db,
        place.workspace_id,
        network="x",
        handle="acme_x",
        status="needs_reconnect",
        status_reason="token revoked",
    )
    one = dt.timedelta(hours=1)
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel],
        count=30,
        start=JAN,
        step=one,
        status="failed",
        state="failed",
        last_error="rejected: too long",
    )
    make_posts(
        db,
        place.workspace_id,
        channels=[place.other],
        count=2,
        start=JAN,
        step=one,
        status="publishing",
        state="uncertain",
    )
    make_posts(
        db, place.workspace_id, channels=[broken], count=2, start=JAN, step=one, state="held"
    )
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel],
        count=5,
        start=JAN,
        step=one,
        state="pending",
    )
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=JAN,
        step=one,
        status="cancelled",
        state="failed",
    )
    with db.transaction(place.workspace_id) as session, QueryCounter(db.engine) as counter:
        items = calendar.attention_items(session, workspace_id=place.workspace_id)
        states = [item.delivery.state for item in items]
        titles = [item.title for item in items]
        handles = {item.channel.handle for item in items}
        retryable = {item.delivery.state: item.retryable for item in items}
        reconnect = calendar.channels_needing_reconnect(session, workspace_id=place.workspace_id)
    assert counter.count == 2, counter.statements
    assert sorted(states).count("failed") == 30  # the cancelled post's is left out
    assert states.count("uncertain") == 2
    assert states.count("held") == 2
    assert titles[0].startswith("Post ")
    assert handles == {place.channel.handle, place.other.handle, "acme_x"}
    # Uncertain ones are looked up first; held ones wait for the reconnect.
    assert retryable == {"failed": True, "uncertain": False, "held": False}
    assert [c.handle for c in reconnect] == ["acme_x"]


def test_upcoming_deliveries_of_a_channel(place: Place, db: Database) -> None:
    now = utcnow()
    one = dt.timedelta(hours=1)
    make_posts(db, place.workspace_id, channels=[place.channel], count=3, start=now + one, step=one)
    make_posts(
        db, place.workspace_id, channels=[place.channel], count=2, start=now - 5 * one, step=one
    )
    make_posts(db, place.workspace_id, channels=[place.other], count=2, start=now + one, step=one)
    make_posts(
        db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=now + one,
        step=one,
        status="draft",
    )
    with db.transaction(place.workspace_id) as session:
        channel = session.get_one(Channel, place.channel.id)
        upcoming = calendar.upcoming_deliveries(session, channel=channel, after=now)
        texts = [d.post.text.split("\n")[0] for d in upcoming]
    assert texts == ["Post 0", "Post 1", "Post 2"]


def test_distinct_labels(place: Place) -> None:
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=2,
        start=JAN,
        step=dt.timedelta(hours=1),
        labels=["b", "A"],
    )
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=JAN,
        step=dt.timedelta(hours=1),
        labels=["c", "b"],
    )
    with place.db.transaction(place.workspace_id) as session:
        assert calendar.distinct_labels(session, workspace_id=place.workspace_id) == ["A", "b", "c"]


# -- the iCalendar feed ----------------------------------------------------------------------


def _feed(place: Place) -> tuple[uuid.UUID, str]:
    with place.db.transaction(place.workspace_id) as session:
        feed, raw = ical.create_feed(session, access=place.access, actor=CLI)
    assert raw.startswith("cal_")
    return feed.id, raw


def _ics(db: Database, raw: str) -> icalendar.Calendar:
    with db.transaction() as session:
        feed, access = ical.open_feed(session, raw_token=raw)
        body = ical.feed_calendar(
            session,
            feed=feed,
            workspace_name=access.workspace.name,
            url_for=lambda i: f"https://desk.example/p/{i}",
        )
    return icalendar.Calendar.from_ical(body)


def test_feed_lists_planned_posts_in_utc_with_stable_uids(place: Place) -> None:
    now = utcnow()
    [planned] = make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel, place.other],
        count=1,
        start=now + dt.timedelta(days=2),
        step=dt.timedelta(),
        labels=["launch"],
        text="Winter blend\nis here",
    )
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=now + dt.timedelta(days=3),
        step=dt.timedelta(),
        status="draft",
        text="draft",
    )
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=now + dt.timedelta(days=3),
        step=dt.timedelta(),
        status="cancelled",
        text="cancelled",
    )
    make_posts(
        place.db,
        place.workspace_id,
        channels=[place.channel],
        count=1,
        start=now - dt.timedelta(days=60),
        step=dt.timedelta(),
        status="published",
        text="long ago",
    )
    _id, raw = _feed(place)
    document = _ics(place.db, raw)
    assert document["VERSION"] == "2.0"
    assert "Acme" in str(document["X-WR-CALNAME"])
    [event] = document.walk("VEVENT")
    assert str(event["UID"]) == f"{planned}@socialdesk"
    assert str(event["SUMMARY"]) == "Winter blend"
    description = str(event["DESCRIPTION"])
    assert "Winter blend\nis here" in description
    assert f"Mastodon {place.channel.handle}" in description
    assert f"Bluesky {place.other.handle}" in description
    assert f"https://desk.example/p/{planned}" in description
    start = event.decoded("DTSTART")
    assert start.utcoffset() == dt.timedelta(0)
    assert re.search(r"^DTSTART:\d{8}T\d{6}Z\r$", event.to_ical().decode(), flags=re.MULTILINE)
    assert event.decoded("DTEND") - start == dt.timedelta(minutes=15)
    assert int(event["SEQUENCE"]) >= 0
    assert event.decoded("DTSTAMP") is not None
    assert [str(c) for c in event["CATEGORIES"].cats] == ["launch"]
    # The same feed fetched again describes the same event the same way.
    [again] = _ics(place.db, raw).walk("VEVENT")
    assert again.to_ical() == event.to_ical()


def test_a_moved_post_keeps_its_uid_and_gets_a_higher_sequence(desk: Desk) -> None:
    channel, _account = desk.connect_mastodon("alice")
    workspace_id = desk.access.workspace.id
    with desk.db.transaction(workspace_id) as session:
        post = posts.create_post(
            session,
            settings=desk.settings,
            access=desk.access,
            actor=CLI,
            draft=PostDraft(
                text="Moving soon",
                channels=[ChannelContent(channel_id=channel.id)],
                when="at",
                at=utcnow() + dt.timedelta(days=1),
            ),
        )
        feed, raw = ical.create_feed(session, access=desk.access, actor=CLI)
    place = Place(db=desk.db, access=desk.access, channel=channel, other=channel)
    [before] = _ics(place.db, raw).walk("VEVENT")
    with desk.db.transaction(workspace_id) as session:
        # Make the change a little later than the creation, as it is in real life.
        session.get_one(Post, post.id).created_at -= dt.timedelta(seconds=30)
    with desk.db.transaction(workspace_id) as session:
        loaded = posts.get_post(session, post_id=post.id)
        posts.reschedule_post(
            session,
            access=desk.access,
            actor=CLI,
            post=loaded,
            at=utcnow() + dt.timedelta(days=2),
            timezone="Europe/Paris",
        )
    [after] = _ics(place.db, raw).walk("VEVENT")
    assert str(after["UID"]) == str(before["UID"]) == f"{post.id}@socialdesk"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART") - before.decoded("DTSTART") >= dt.timedelta(hours=23)
    assert after.decoded("DTSTAMP") >= before.decoded("DTSTAMP")
    assert feed.user_id == desk.access.user.id


def test_a_feed_token_is_stored_hashed_and_stops_working_when_revoked(place: Place) -> None:
    feed_id, raw = _feed(place)
    with place.db.transaction(place.workspace_id) as session:
        [stored] = ical.list_feeds(session, access=place.access)
        assert stored.token_hash != raw
        assert raw not in stored.token_hash
        ical.revoke_feed(session, access=place.access, actor=CLI, feed_id=feed_id)
        assert ical.list_feeds(session, access=place.access) == []
    with place.db.transaction() as session, pytest.raises(NotFound):
        ical.open_feed(session, raw_token=raw)
    with place.db.transaction(place.workspace_id) as session, pytest.raises(NotFound):
        ical.revoke_feed(session, access=place.access, actor=CLI, feed_id=feed_id)


@pytest.mark.parametrize("token", ["", "cal_", "cal_nope", "inv_" + "x" * 40, "cal_" + "x" * 300])
def test_unknown_tokens_open_nothing(place: Place, token: str) -> None:
    _feed(place)
    with place.db.transaction() as session, pytest.raises(NotFound, match="no such calendar feed"):
        ical.open_feed(session, raw_token=token)


def test_a_feed_stops_when_its_member_leaves_or_may_no_longer_read_posts(
    place: Place, db: Database
) -> None:
    with db.transaction() as session:
        bob = users.create_user(session, email="bob@example.com", password="x" * 12, actor=CLI)
        members.add_user(
            session, workspace_id=place.workspace_id, user=bob, role=Role.ANALYST, actor=CLI
        )
        bob_access = workspaces.access_for(session, user=bob, workspace_id=place.workspace_id)
    with db.transaction(place.workspace_id) as session:
        _feed_row, raw = ical.create_feed(session, access=bob_access, actor=CLI)
    with db.transaction() as session:
        ical.open_feed(session, raw_token=raw)  # works while bob is an analyst
    with db.transaction() as session:
        membership = session.query(Membership).filter_by(user_id=bob_access.user.id).one()
        membership.role = Role.APPROVER.value
    with db.transaction() as session, pytest.raises(NotFound):
        ical.open_feed(session, raw_token=raw)
    with db.transaction() as session:
        session.delete(session.query(Membership).filter_by(user_id=bob_access.user.id).one())
    with db.transaction() as session, pytest.raises(NotFound):
        ical.open_feed(session, raw_token=raw)
    with db.transaction() as session:
        assert session.get(User, bob_access.user.id) is not None


def test_an_approver_cannot_create_a_feed_and_feeds_are_capped(place: Place, db: Database) -> None:
    for _ in range(ical.MAX_FEEDS_PER_MEMBER):
        _feed(place)
    with db.transaction(place.workspace_id) as session, pytest.raises(Conflict):
        ical.create_feed(session, access=place.access, actor=CLI)
    approver = Access(workspace=place.access.workspace, user=place.access.user, role=Role.APPROVER)
    with db.transaction(place.workspace_id) as session, pytest.raises(Exception, match="may not"):
        ical.create_feed(session, access=approver, actor=CLI)


def test_opening_a_feed_scopes_the_session_to_its_workspace(place: Place, db: Database) -> None:
    stranger = _workspace(db, "eve@example.com", "Evil")
    theirs = make_channel(db, stranger.workspace.id)
    make_posts(
        db,
        stranger.workspace.id,
        channels=[theirs],
        count=1,
        start=utcnow() + dt.timedelta(days=1),
        step=dt.timedelta(),
    )
    _id, raw = _feed(place)
    with db.transaction() as session:
        ical.open_feed(session, raw_token=raw)
        assert session.query(Delivery).count() == 0  # only this workspace's rows are visible
    assert _ics(db, raw).walk("VEVENT") == []
