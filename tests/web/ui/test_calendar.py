# SPDX-License-Identifier: AGPL-3.0-or-later
"""The calendar pages: events JSON (a constant number of queries), drag-to-move on the
server's terms, a post's page, CSV export, the queue, and private iCalendar feeds."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import icalendar
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts.roles import Role
from socialdesk.publishing import queue
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Channel, Post, User, Workspace
from socialdesk.storage.types import utcnow
from tests.publishing.calendar_data import QueryCounter, make_channel, make_posts
from tests.web.ui.helpers import (
    Person,
    add_member,
    make_user,
    make_workspace,
    post_form,
    session_csrf,
    sign_in,
    text_of,
)

JSON = {"Accept": "application/json"}


@dataclass
class Scene:
    client: TestClient
    db: Database
    owner: Person
    workspace: Workspace
    channel: Channel

    @property
    def ws(self) -> str:
        return f"/w/{self.workspace.id}"

    def posts(self, count: int = 1, **kw: object) -> list[uuid.UUID]:
        kw.setdefault("channels", [self.channel])
        kw.setdefault("start", utcnow() + dt.timedelta(days=2))
        kw.setdefault("step", dt.timedelta(hours=1))
        return make_posts(self.db, self.workspace.id, count=count, **kw)  # type: ignore[arg-type]

    def scheduled_at(self, post_id: uuid.UUID) -> dt.datetime | None:
        with self.db.transaction() as session:
            return session.get_one(Post, post_id).scheduled_at


@pytest.fixture
def scene(client: TestClient, db: Database) -> Scene:
    owner = make_user(db, "ana@example.com", name="Ana Lima")
    with db.transaction() as session:
        session.get_one(User, owner.user.id).timezone = "Europe/Paris"
    workspace = make_workspace(db, owner)
    channel = make_channel(db, workspace.id)
    sign_in(client, "ana@example.com")
    return Scene(client=client, db=db, owner=owner, workspace=workspace, channel=channel)


def _member(scene: Scene, new_client: Callable[[], TestClient], role: Role) -> TestClient:
    email = f"{role.value}@example.com"
    person = make_user(scene.db, email)
    add_member(scene.db, scene.workspace, person, role)
    browser = new_client()
    sign_in(browser, email)
    return browser


def _month(scene: Scene, at: dt.datetime) -> dict[str, str]:
    start = at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return {"start": start.isoformat(), "end": end.isoformat()}


def test_the_calendar_page_is_a_shell_with_filters_and_no_inline_code(scene: Scene) -> None:
    bluesky = make_channel(
        scene.db, scene.workspace.id, network="bluesky", handle="acme.bsky.social"
    )
    scene.posts(labels=["launch"], channels=[bluesky])
    response = scene.client.get(f"{scene.ws}/calendar")
    assert response.status_code == 200
    page = response.text
    text = text_of(response)
    for label in ("Channel", "Status", "Label", "Author", "Campaign"):
        assert re.search(rf'<label for="filter-{label.lower()}">{label}</label>', page)
    assert "acme.bsky.social (Bluesky)" in text
    assert ">launch</option>" in page
    assert "Ana Lima" in text
    assert f'data-events-url="{scene.ws}/calendar/events"' in page
    assert f'data-post-url="{scene.ws}/calendar/posts/__id__"' in page
    assert 'data-timezone="Europe/Paris"' in page
    assert 'data-can-move="true"' in page
    assert "vendor/fullcalendar.global.js" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page
    assert not re.search(r'\sstyle="', page)
    # The sidebar links to the three pages.
    for slug in ("calendar", "queue", "failures"):
        assert f'href="{scene.ws}/{slug}"' in page
    # Filters in the address are kept (a shared or reloaded link shows the same thing).
    filtered = scene.client.get(f"{scene.ws}/calendar?status=failed&channel={bluesky.id}").text
    assert '<option value="failed" selected>' in filtered
    assert f'<option value="{bluesky.id}" selected>' in filtered


def test_events_of_a_month(scene: Scene) -> None:
    at = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)
    [post_id] = scene.posts(start=at, text="Spring menu\nwith details")
    scene.posts(start=at + dt.timedelta(days=40))  # next month
    response = scene.client.get(f"{scene.ws}/calendar/events", params=_month(scene, at))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    [event] = body["events"]
    assert event["id"] == str(post_id)
    assert event["title"] == "Spring menu"
    assert event["start"] == "2031-03-10T09:30:00Z"
    assert event["editable"] is True
    assert event["status"] == "scheduled"
    [(index, state)] = event["channels"]
    assert body["channels"][index]["handle"] == scene.channel.handle
    assert state == "pending"


def test_events_accept_fullcalendar_ranges_and_filters(scene: Scene) -> None:
    at = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)
    scene.posts(start=at, status="failed", state="failed", text="broken")
    scene.posts(start=at, text="fine")
    # FullCalendar sends offsets; an unencoded '+' arrives as a space.
    params = {"start": "2031-02-23T00:00:00+01:00", "end": "2031-04-06T00:00:00+02:00"}
    found = scene.client.get(f"{scene.ws}/calendar/events", params=params).json()["events"]
    assert {e["title"] for e in found} == {"broken", "fine"}
    raw = f"{scene.ws}/calendar/events?start=2031-02-23T00:00:00+01:00&end=2031-04-06&status=failed"
    assert [e["title"] for e in scene.client.get(raw).json()["events"]] == ["broken"]
    bad = scene.client.get(
        f"{scene.ws}/calendar/events?start=2031-03-01&end=2031-02-01", headers=JSON
    )
    assert bad.status_code == 422
    assert "before its start" in bad.json()["error"]["message"]
    assert (
        scene.client.get(f"{scene.ws}/calendar/events?channel=nope", headers=JSON).status_code
        == 422
    )
    assert (
        scene.client.get(f"{scene.ws}/calendar/events?status=sent", headers=JSON).status_code == 422
    )


def _count_month_queries(scene: Scene, at: dt.datetime) -> tuple[int, int]:
    with QueryCounter(scene.db.engine) as counter:
        response = scene.client.get(f"{scene.ws}/calendar/events", params=_month(scene, at))
    assert response.status_code == 200
    return counter.count, len(response.json()["events"])


def test_the_month_of_1000_posts_costs_the_same_queries_as_a_month_of_ten(scene: Scene) -> None:
    at = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    second = make_channel(scene.db, scene.workspace.id, network="bluesky", handle="b.bsky.social")
    scene.posts(count=10, start=at, step=dt.timedelta(hours=1), channels=[scene.channel, second])
    small, shown = _count_month_queries(scene, at)
    assert shown == 10
    scene.posts(
        count=990,
        start=at + dt.timedelta(hours=11),
        step=dt.timedelta(minutes=44),
        channels=[scene.channel, second],
    )
    large, shown = _count_month_queries(scene, at)
    assert shown == 1_000
    # Signing in, the workspace and its membership, then two for the posts: never one per
    # post (nor per delivery, channel or author).
    assert large == small
    assert large <= 8


def test_a_reader_sees_the_calendar_but_cannot_move_posts(
    scene: Scene, new_client: Callable[[], TestClient]
) -> None:
    [post_id] = scene.posts()
    analyst = _member(scene, new_client, Role.ANALYST)
    page = analyst.get(f"{scene.ws}/calendar")
    assert page.status_code == 200
    assert 'data-can-move="false"' in page.text
    days = {"start": utcnow().isoformat(), "end": (utcnow() + dt.timedelta(days=5)).isoformat()}
    [event] = analyst.get(f"{scene.ws}/calendar/events", params=days).json()["events"]
    assert event["editable"] is False
    before = scene.scheduled_at(post_id)
    refused = analyst.post(
        f"{scene.ws}/calendar/posts/{post_id}/reschedule",
        data={"at": (utcnow() + dt.timedelta(days=5)).isoformat()},
        headers={**JSON, "X-CSRF-Token": session_csrf(analyst)},
    )
    assert refused.status_code == 403
    assert scene.scheduled_at(post_id) == before
    approver = _member(scene, new_client, Role.APPROVER)
    assert approver.get(f"{scene.ws}/calendar").status_code == 403
    assert approver.get(f"{scene.ws}/calendar/events").status_code == 403


def _move(scene: Scene, post_id: uuid.UUID, at: str, **extra: str) -> object:
    return scene.client.post(
        f"{scene.ws}/calendar/posts/{post_id}/reschedule",
        data={"at": at, **extra},
        headers={**JSON, "X-CSRF-Token": session_csrf(scene.client)},
    )


def test_dropping_a_post_on_another_day_moves_it(scene: Scene) -> None:
    [post_id] = scene.posts(start=utcnow() + dt.timedelta(days=2))
    target = (utcnow() + dt.timedelta(days=3)).replace(microsecond=0)
    local = target.astimezone(
        dt.timezone(dt.timedelta(hours=1))
    ).isoformat()  # as the browser sends it
    response = _move(scene, post_id, local)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["message"].startswith("Moved to ")
    assert body["events"][0]["start"] == target.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert scene.scheduled_at(post_id) == target
    with scene.db.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        delivery_due = session.get_one(Post, post_id).deliveries[0].due_at
    assert "post.reschedule" in actions
    assert delivery_due == target  # the delivery (and its job) moved too


@pytest.mark.parametrize(
    ("setup", "at", "status", "message"),
    [
        ({}, "past", 422, "is in the past"),
        ({}, "not a time", 422, "not a date and time"),
        (
            {"status": "published", "state": "published"},
            "future",
            409,
            "published post cannot be rescheduled",
        ),
        (
            {"status": "failed", "state": "failed"},
            "future",
            409,
            "failed post cannot be rescheduled",
        ),
    ],
)
def test_a_refused_move_changes_nothing_and_says_why(
    scene: Scene, setup: dict[str, str], at: str, status: int, message: str
) -> None:
    [post_id] = scene.posts(**setup)
    before = scene.scheduled_at(post_id)
    when = {
        "past": (utcnow() - dt.timedelta(days=1)).isoformat(),
        "future": (utcnow() + dt.timedelta(days=4)).isoformat(),
    }.get(at, at)
    response = _move(scene, post_id, when)
    assert response.status_code == status  # type: ignore[attr-defined]
    assert message in response.json()["error"]["message"]  # type: ignore[attr-defined]
    assert scene.scheduled_at(post_id) == before


def test_moves_need_the_csrf_token_and_stay_in_their_workspace(
    scene: Scene, new_client: Callable[[], TestClient]
) -> None:
    [post_id] = scene.posts()
    target = (utcnow() + dt.timedelta(days=6)).isoformat()
    no_token = scene.client.post(
        f"{scene.ws}/calendar/posts/{post_id}/reschedule", data={"at": target}, headers=JSON
    )
    assert no_token.status_code == 403
    # Another workspace's owner cannot move it, nor see it, through their own workspace.
    eve = make_user(scene.db, "eve@example.com")
    theirs = make_workspace(scene.db, eve, name="Evil")
    browser = new_client()
    sign_in(browser, "eve@example.com")
    moved = browser.post(
        f"/w/{theirs.id}/calendar/posts/{post_id}/reschedule",
        data={"at": target},
        headers={**JSON, "X-CSRF-Token": session_csrf(browser)},
    )
    assert moved.status_code == 404
    assert browser.get(f"/w/{theirs.id}/calendar/posts/{post_id}").status_code == 404
    assert browser.get(f"{scene.ws}/calendar").status_code == 404
    days = {"start": utcnow().isoformat(), "end": (utcnow() + dt.timedelta(days=5)).isoformat()}
    assert browser.get(f"/w/{theirs.id}/calendar/events", params=days).json()["events"] == []
    assert len(scene.client.get(f"{scene.ws}/calendar/events", params=days).json()["events"]) == 1


def test_the_post_page_and_its_keyboard_move_form(scene: Scene) -> None:
    failed_channel = make_channel(
        scene.db, scene.workspace.id, network="bluesky", handle="acme.bsky.social"
    )
    [post_id] = scene.posts(text="Winter blend\nis here", labels=["launch"])
    page = scene.client.get(f"{scene.ws}/calendar/posts/{post_id}")
    assert page.status_code == 200
    text = text_of(page)
    assert "Winter blend" in text
    assert "launch" in text
    assert scene.channel.handle in text
    assert "Move this post" in text
    assert '<label for="f-at">New date and time</label>' in page.text
    # The form is read in the chosen zone (what a person types), then redirects back.
    response = post_form(
        scene.client,
        f"{scene.ws}/calendar/posts/{post_id}/reschedule",
        {"at": "2031-06-01T09:15", "timezone": "America/New_York"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{scene.ws}/calendar/posts/{post_id}"
    assert scene.scheduled_at(post_id) == dt.datetime(2031, 6, 1, 13, 15, tzinfo=dt.UTC)
    assert "Moved to" in text_of(scene.client.get(response.headers["location"]))
    # A refusal re-renders the form with the reason, and nothing changes.
    refused = post_form(
        scene.client,
        f"{scene.ws}/calendar/posts/{post_id}/reschedule",
        {"at": "2001-06-01T09:15", "timezone": "Europe/Paris"},
    )
    assert refused.status_code == 422
    assert "is in the past" in text_of(refused)
    assert 'value="2001-06-01T09:15"' in refused.text
    assert scene.scheduled_at(post_id) == dt.datetime(2031, 6, 1, 13, 15, tzinfo=dt.UTC)
    # A failed delivery shows the network's reason, a published one its link.
    [failed_id] = scene.posts(
        channels=[failed_channel],
        status="failed",
        state="failed",
        last_error="Bluesky said: text too long",
    )
    failed_page = text_of(scene.client.get(f"{scene.ws}/calendar/posts/{failed_id}"))
    assert "Bluesky said: text too long" in failed_page
    assert "Retry" in failed_page
    assert "Move this post" not in failed_page
    assert scene.client.get(f"{scene.ws}/calendar/posts/{uuid.uuid4()}").status_code == 404


def test_csv_export_of_the_shown_range(scene: Scene) -> None:
    at = dt.datetime(2031, 3, 10, 9, 30, tzinfo=dt.UTC)
    scene.posts(count=3, start=at, text="=cmd|' /C calc'!A0 {i}")
    scene.posts(count=2, start=at, status="failed", state="failed")
    response = scene.client.get(
        f"{scene.ws}/calendar/export.csv",
        # The range as FullCalendar sends it: local midnights in the viewer's zone.
        params={
            "start": "2031-03-01T00:00:00+01:00",
            "end": "2031-04-01T00:00:00+02:00",
            "status": "scheduled",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert (
        disposition
        == 'attachment; filename="socialdesk-acme-coffee-posts-2031-03-01-to-2031-03-31.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["scheduled_at_utc", "scheduled_at_local", "timezone", "status"]
    assert len(rows) == 4
    assert rows[1][1] == "2031-03-10 10:30"  # the viewer's zone, Europe/Paris
    assert rows[1][7].startswith("'=cmd")  # not a formula in a spreadsheet
    assert rows[1][9] == f"http://testserver{scene.ws}/calendar/posts/{rows[1][8]}"
    # Without a range: this month, with a header row even when empty.
    default = scene.client.get(f"{scene.ws}/calendar/export.csv")
    assert default.status_code == 200
    assert default.content.decode("utf-8-sig").startswith("scheduled_at_utc,")


def test_the_queue_page_edits_weekly_slots(
    scene: Scene, new_client: Callable[[], TestClient]
) -> None:
    page = scene.client.get(f"{scene.ws}/queue")
    assert page.status_code == 200
    assert scene.channel.handle in text_of(page)
    assert '<label for="f-mon">Monday</label>' in page.text
    path = f"{scene.ws}/queue/{scene.channel.id}/slots"
    saved = post_form(scene.client, path, {"mon": "09:00, 17:30", "wed": "12:00;9:05", "sun": ""})
    assert saved.status_code == 303
    with scene.db.transaction(scene.workspace.id) as session:
        channel = session.get_one(Channel, scene.channel.id)
        slots = [(s.weekday, s.local_time) for s in queue.list_slots(session, channel=channel)]
    assert slots == [(0, "09:00"), (0, "17:30"), (2, "09:05"), (2, "12:00")]
    shown = scene.client.get(saved.headers["location"])
    assert "now has 4 posting times a week" in text_of(shown)
    assert 'value="09:00, 17:30"' in shown.text
    # A bad time is shown with the form as typed, and the slots stay as they were.
    bad = post_form(scene.client, path, {"mon": "09:00", "tue": "25:99"})
    assert bad.status_code == 422
    assert "'25:99' is not a time of day" in text_of(bad)
    assert 'value="25:99"' in bad.text
    with scene.db.transaction(scene.workspace.id) as session:
        channel = session.get_one(Channel, scene.channel.id)
        assert len(queue.list_slots(session, channel=channel)) == 4
    # What goes out next on the channel is listed.
    scene.posts(count=2, text="Queued {i}")
    assert "Queued 0" in text_of(scene.client.get(f"{scene.ws}/queue?channel={scene.channel.id}"))
    # Analysts read the queue but cannot change it.
    analyst = _member(scene, new_client, Role.ANALYST)
    assert "Change the times" not in text_of(analyst.get(f"{scene.ws}/queue"))
    assert post_form(analyst, path, {"mon": "10:00"}).status_code == 403


def test_the_queue_without_channels_says_what_to_do(client: TestClient, db: Database) -> None:
    make_user(db, "solo@example.com")
    with db.transaction() as session:
        owner = session.scalars(select(User).where(User.email == "solo@example.com")).one()
    workspace = make_workspace(db, Person(user=owner, email="solo@example.com"), name="Empty")
    sign_in(client, "solo@example.com")
    response = client.get(f"/w/{workspace.id}/queue")
    assert response.status_code == 200
    assert "Connect a channel" in text_of(response)


def test_calendar_feeds_shown_once_work_without_a_session_and_can_be_revoked(
    scene: Scene, new_client: Callable[[], TestClient]
) -> None:
    [post_id] = scene.posts(text="Feed me")
    page = scene.client.get(f"{scene.ws}/calendar/feeds")
    assert "No feed yet" in text_of(page)
    created = post_form(scene.client, f"{scene.ws}/calendar/feeds")
    assert created.status_code == 200
    found = re.search(r'value="(http://testserver/feeds/cal_[^"]+\.ics)"', created.text)
    assert found, text_of(created)
    url = found.group(1)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    # Shown once: the list shows the feed, never its address again.
    listing = scene.client.get(f"{scene.ws}/calendar/feeds").text
    assert token not in listing
    assert "Feed 1" in text_of(scene.client.get(f"{scene.ws}/calendar/feeds"))
    # A calendar app has no session.
    app = new_client()
    feed = app.get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "set-cookie" not in feed.headers
    [event] = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
    assert str(event["UID"]) == f"{post_id}@socialdesk"
    assert str(event["URL"]) == f"http://testserver{scene.ws}/calendar/posts/{post_id}"
    assert app.head(url.removeprefix("http://testserver")).status_code == 200
    # Revoked: the address answers 404, like any unknown one.
    with scene.db.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "calendar_feed.create" in actions
    feed_id = re.search(r"/calendar/feeds/([0-9a-f-]+)/revoke", listing)
    assert feed_id
    revoked = post_form(scene.client, f"{scene.ws}/calendar/feeds/{feed_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert app.get(url.removeprefix("http://testserver")).status_code == 404
    assert app.get("/feeds/cal_guess.ics").status_code == 404
