# SPDX-License-Identifier: AGPL-3.0-or-later
"""The calendar in a real browser: drag a post to another day (saved by the server), a
drag into the past (refused: the post goes back, the reason is shown), the keyboard way
to a post, the phone's list view, and a retry from the failures view.

Times are chosen in a time zone where it is now between 02:00 and 21:59, so that
"today 23:50" is ahead and "today 00:05" is behind, whatever the hour of the run.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import select

from socialdesk.storage.tables import Delivery, Post, User
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.publishing.calendar_data import make_channel, make_posts
from tests.web.ui.helpers import make_user, make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ZONES = ("Europe/Paris", "America/New_York", "Asia/Tokyo", "Pacific/Auckland", "UTC")
REASON = "Mastodon said: Validation failed: Text character limit of 500 exceeded"


def _zone() -> str:
    for name in ZONES:
        if 2 <= dt.datetime.now(ZoneInfo(name)).hour <= 21:
            return name
    raise AssertionError("some zone always has a daytime hour")


def _drag(page: Page, source: Locator, target: Locator) -> None:
    """Press on the post, move in small steps as a hand does (FullCalendar follows the
    pointer between frames), release over the lower part of the target day."""
    expect(source).to_be_visible()
    source.scroll_into_view_if_needed()
    page.mouse.wheel(0, 250)
    page.wait_for_timeout(200)
    start = source.bounding_box()
    end = target.bounding_box()
    assert start
    assert end
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = end["x"] + end["width"] / 2, end["y"] + end["height"] * 0.7
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x0 + (x1 - x0) * step / 20, y0 + (y1 - y0) * step / 20)
        page.wait_for_timeout(25)
    page.mouse.up()


def _scheduled_at(server: LiveServer, post_id: uuid.UUID) -> dt.datetime | None:
    with server.db.transaction() as session:
        return session.get_one(Post, post_id).scheduled_at


def test_calendar_drag_refusal_keyboard_phone_and_retry(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    db = live_server.db
    zone_name = _zone()
    zone = ZoneInfo(zone_name)
    owner = make_user(db, "ana@example.com", name="Ana Lima")
    with db.transaction() as session:
        session.get_one(User, owner.user.id).timezone = zone_name
    workspace = make_workspace(db, owner)
    mastodon = make_channel(db, workspace.id)
    bluesky = make_channel(
        db, workspace.id, network="bluesky", handle="acme.bsky.social", display_name="Acme"
    )
    today = dt.datetime.now(zone).date()
    tomorrow = today + dt.timedelta(days=1)

    def local(day: dt.date, hour: int, minute: int) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)

    [movable] = make_posts(
        db,
        workspace.id,
        channels=[mastodon, bluesky],
        count=1,
        start=local(tomorrow, 23, 50),
        step=dt.timedelta(),
        text="Move me to today",
        author_id=owner.user.id,
    )
    [too_late] = make_posts(
        db,
        workspace.id,
        channels=[mastodon],
        count=1,
        start=local(tomorrow, 0, 5),
        step=dt.timedelta(),
        text="Cannot go back in time",
    )
    make_posts(
        db,
        workspace.id,
        channels=[bluesky],
        count=1,
        start=local(tomorrow, 12, 0),
        step=dt.timedelta(),
        status="in_review",
        text="Waiting for the client",
    )
    [failed] = make_posts(
        db,
        workspace.id,
        channels=[mastodon],
        count=1,
        start=local(today, 0, 30),
        step=dt.timedelta(),
        status="failed",
        state="failed",
        last_error=REASON,
        text="A post that was too long",
    )
    before = _scheduled_at(live_server, too_late)

    problems: list[str] = []
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id=zone_name, base_url=live_server.url
    )
    page = context.new_page()
    watch_console(page, problems)
    sign_in(page, "ana@example.com")
    page.goto(f"/w/{workspace.id}/calendar?view=month&date={today.isoformat()}")
    expect(page.get_by_role("heading", name="Calendar", exact=True)).to_be_visible()

    today_cell = page.locator(f'[role="gridcell"][data-date="{today.isoformat()}"]')
    tomorrow_cell = page.locator(f'[role="gridcell"][data-date="{tomorrow.isoformat()}"]')
    moving = tomorrow_cell.locator(".sd-event", has_text="Move me to today")
    expect(moving).to_be_visible()
    # Coloured by status, with its channels' initials.
    expect(moving.locator(".sd-chip")).to_have_count(2)

    # 1. A drag to another day: the server saves the new time.
    _drag(page, moving, today_cell)
    expect(page.locator(".toast").filter(has_text="Moved to")).to_be_visible()
    expect(today_cell.locator(".sd-event", has_text="Move me to today")).to_be_visible()
    assert _scheduled_at(live_server, movable) == local(today, 23, 50)
    with db.transaction() as session:
        dues = session.scalars(select(Delivery.due_at).where(Delivery.post_id == movable)).all()
    assert dues == [local(today, 23, 50)] * 2

    # 2. A drag into the past: refused by the server, the post goes back, the reason shows.
    late = tomorrow_cell.locator(".sd-event", has_text="Cannot go back in time")
    _drag(page, late, today_cell)
    expect(page.locator(".toast-error")).to_contain_text("is in the past")
    expect(tomorrow_cell.locator(".sd-event", has_text="Cannot go back in time")).to_be_visible()
    expect(today_cell.locator(".sd-event", has_text="Cannot go back in time")).to_have_count(0)
    assert _scheduled_at(live_server, too_late) == before
    screenshot(page, tmp_path, "calendar")

    # 3. The keyboard: every post is a link; Enter opens its page with the deliveries.
    link = page.locator("a", has=page.locator(".sd-event", has_text="Move me to today"))
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/calendar/posts/{movable}$"))
    expect(page.get_by_role("heading", name="Move me to today")).to_be_visible()
    expect(page.get_by_text("acme.bsky.social")).to_be_visible()
    expect(page.get_by_label("New date and time")).to_have_value(
        local(today, 23, 50).strftime("%Y-%m-%dT%H:%M")
    )

    # 4. The filters narrow what is shown, and the CSV link follows them.
    page.goto(f"/w/{workspace.id}/calendar?view=month&date={today.isoformat()}")
    page.get_by_label("Status", exact=True).select_option("in_review")
    expect(page.locator(".sd-event")).to_have_count(1)
    expect(page.locator(".sd-event")).to_contain_text("Waiting for the client")
    expect(page.locator("#calendar-export")).to_have_attribute(
        "href", re.compile("status=in_review")
    )

    # 5. The failures view: the network's reason, and a retry that queues it again.
    page.goto(f"/w/{workspace.id}/failures")
    expect(page.get_by_text(REASON)).to_be_visible()
    screenshot(page, tmp_path, "failures")
    page.get_by_role("button", name=re.compile("^Retry")).click()
    expect(page.get_by_text(f"Trying {mastodon.handle} again now.")).to_be_visible()
    expect(page.get_by_text("Nothing failed")).to_be_visible()
    with db.transaction() as session:
        state = session.scalars(select(Delivery.state).where(Delivery.post_id == failed)).one()
    assert state == "pending"

    # 6. On a phone the calendar opens as a list.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, timezone_id=zone_name, base_url=live_server.url
    )
    small = phone.new_page()
    watch_console(small, problems)
    sign_in(small, "ana@example.com")
    small.goto(f"/w/{workspace.id}/calendar")
    expect(small.locator(".sd-event-in-list").first).to_be_visible()
    screenshot(small, tmp_path, "calendar-390")

    # The refused move is logged by the browser as a failed request; nothing else may be
    # (a CSP refusal or a script error would show here).
    problems = [p for p in problems if not re.search(r"status of 422", p)]
    assert problems == []
    context.close()
    phone.close()
