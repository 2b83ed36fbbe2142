# SPDX-License-Identifier: AGPL-3.0-or-later
"""The failures view: every failed or uncertain delivery with its reason and a retry,
channels needing reconnect first, CSV export, and no query per row."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Delivery, Job, Post, Workspace
from socialdesk.storage.types import utcnow
from tests.publishing.calendar_data import QueryCounter, make_channel, make_posts
from tests.web.ui.helpers import add_member, make_user, make_workspace, post_form, sign_in, text_of

REASON = "Mastodon said: Validation failed: Text character limit of 500 exceeded"


@pytest.fixture
def workspace(client: TestClient, db: Database) -> Workspace:
    owner = make_user(db, "ana@example.com", name="Ana Lima")
    workspace = make_workspace(db, owner)
    sign_in(client, "ana@example.com")
    return workspace


def _delivery(db: Database, post_id: uuid.UUID) -> Delivery:
    with db.transaction() as session:
        return session.scalars(select(Delivery).where(Delivery.post_id == post_id)).one()


def test_failures_list_reasons_and_reconnects_first(
    client: TestClient, db: Database, workspace: Workspace
) -> None:
    channel = make_channel(db, workspace.id)
    broken = make_channel(
        db,
        workspace.id,
        network="bluesky",
        handle="acme.bsky.social",
        status="needs_reconnect",
        status_reason="The app password was revoked",
    )
    yesterday = utcnow() - dt.timedelta(days=1)
    make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=yesterday,
        step=dt.timedelta(),
        status="failed",
        state="failed",
        last_error=REASON,
        text="Too long post",
    )
    make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=yesterday,
        step=dt.timedelta(),
        status="publishing",
        state="uncertain",
        text="Maybe out",
    )
    make_posts(
        db,
        workspace.id,
        channels=[broken],
        count=1,
        start=yesterday,
        step=dt.timedelta(),
        state="held",
        text="Waiting post",
    )
    make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=yesterday,
        step=dt.timedelta(),
        status="published",
        state="published",
        text="Fine post",
    )
    page = client.get(f"/w/{workspace.id}/failures")
    assert page.status_code == 200
    text = text_of(page)
    assert REASON in text
    assert "Too long post" in text
    assert "Maybe out" in text
    assert "It may have gone out" in text
    assert "Waiting post" in text
    assert "Fine post" not in text
    # Channels needing reconnect come first, with their reason and the way to fix it.
    assert text.index("Channels that need reconnecting") < text.index("Deliveries that need you")
    assert "The app password was revoked" in text
    assert f'href="/w/{workspace.id}/channels"' in page.text
    # Only the failed one can be retried from here (uncertain: looked up; held: reconnect).
    assert page.text.count("/retry") == 1


def test_retry_queues_the_delivery_again(
    client: TestClient, db: Database, workspace: Workspace
) -> None:
    channel = make_channel(db, workspace.id)
    [post_id] = make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=utcnow() - dt.timedelta(hours=1),
        step=dt.timedelta(),
        status="failed",
        state="failed",
        last_error=REASON,
    )
    delivery = _delivery(db, post_id)
    response = post_form(client, f"/w/{workspace.id}/failures/{delivery.id}/retry")
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/{workspace.id}/failures"
    after = _delivery(db, post_id)
    assert after.state == "pending"
    assert after.last_error is None
    assert after.attempts == 0
    with db.transaction() as session:
        job = session.get_one(Job, after.job_id)
        assert job.state == "queued"
        assert session.get_one(Post, post_id).status == "scheduled"
        assert "delivery.retry" in session.scalars(select(AuditEvent.action)).all()
    page = client.get(f"/w/{workspace.id}/failures")
    assert f"Trying {channel.handle} again now." in text_of(page)
    assert "Nothing failed" in text_of(page)
    # Retrying again is refused with the reason (it is no longer failed).
    again = post_form(client, f"/w/{workspace.id}/failures/{delivery.id}/retry")
    assert "only failed deliveries can be retried" in text_of(client.get(again.headers["location"]))


def test_retry_from_the_post_page_returns_there_and_never_elsewhere(
    client: TestClient, db: Database, workspace: Workspace
) -> None:
    channel = make_channel(db, workspace.id)
    [post_id] = make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=utcnow(),
        step=dt.timedelta(),
        status="failed",
        state="failed",
        last_error=REASON,
    )
    delivery = _delivery(db, post_id)
    here = f"/w/{workspace.id}/calendar/posts/{post_id}"
    response = post_form(client, f"/w/{workspace.id}/failures/{delivery.id}/retry", {"next": here})
    assert response.headers["location"] == here
    with db.transaction() as session:
        session.get_one(Delivery, delivery.id).state = "failed"
    evil = post_form(
        client, f"/w/{workspace.id}/failures/{delivery.id}/retry", {"next": "//evil.example/x"}
    )
    assert evil.headers["location"] == f"/w/{workspace.id}/failures"


def test_a_held_delivery_of_a_channel_needing_reconnect_says_so(
    client: TestClient, db: Database, workspace: Workspace
) -> None:
    broken = make_channel(db, workspace.id, status="needs_reconnect")
    [post_id] = make_posts(
        db,
        workspace.id,
        channels=[broken],
        count=1,
        start=utcnow(),
        step=dt.timedelta(),
        state="held",
    )
    delivery = _delivery(db, post_id)
    response = post_form(client, f"/w/{workspace.id}/failures/{delivery.id}/retry")
    page = text_of(client.get(response.headers["location"]))
    assert f"reconnect {broken.handle} first" in page
    assert _delivery(db, post_id).state == "held"


def test_readers_see_failures_but_cannot_retry(
    client: TestClient, new_client: Callable[[], TestClient], db: Database, workspace: Workspace
) -> None:
    channel = make_channel(db, workspace.id)
    [post_id] = make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=1,
        start=utcnow(),
        step=dt.timedelta(),
        status="failed",
        state="failed",
        last_error=REASON,
    )
    analyst = make_user(db, "dan@example.com")
    add_member(db, workspace, analyst, Role.ANALYST)
    browser = new_client()
    sign_in(browser, "dan@example.com")
    page = browser.get(f"/w/{workspace.id}/failures")
    assert REASON in text_of(page)
    assert "/retry" not in page.text
    delivery = _delivery(db, post_id)
    assert post_form(browser, f"/w/{workspace.id}/failures/{delivery.id}/retry").status_code == 403
    assert _delivery(db, post_id).state == "failed"
    # Another workspace's owner cannot retry it through their workspace.
    eve = make_user(db, "eve@example.com")
    theirs = make_workspace(db, eve, name="Evil")
    other = new_client()
    sign_in(other, "eve@example.com")
    assert post_form(other, f"/w/{theirs.id}/failures/{delivery.id}/retry").status_code == 404
    assert REASON not in text_of(other.get(f"/w/{theirs.id}/failures"))


def test_failures_csv(client: TestClient, db: Database, workspace: Workspace) -> None:
    channel = make_channel(db, workspace.id)
    make_posts(
        db,
        workspace.id,
        channels=[channel],
        count=2,
        start=utcnow(),
        step=dt.timedelta(hours=1),
        status="failed",
        state="failed",
        last_error=REASON,
        text="@everyone {i}",
    )
    response = client.get(f"/w/{workspace.id}/failures.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    today = utcnow().date().isoformat()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="socialdesk-acme-coffee-failures-{today}.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [
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
    ]
    assert len(rows) == 3
    assert rows[1][:6] == ["failed", channel.handle, "Mastodon", REASON, "rejected", "1"]
    assert rows[1][8].startswith("'@everyone")


def test_the_failures_page_costs_the_same_queries_for_3_or_60_rows(
    client: TestClient, db: Database, workspace: Workspace
) -> None:
    channels = [make_channel(db, workspace.id, handle=f"c{i}@mastodon.example") for i in range(3)]

    def count() -> int:
        with QueryCounter(db.engine) as counter:
            assert client.get(f"/w/{workspace.id}/failures").status_code == 200
        return counter.count

    for channel in channels:
        make_posts(
            db,
            workspace.id,
            channels=[channel],
            count=1,
            start=utcnow(),
            step=dt.timedelta(),
            status="failed",
            state="failed",
            last_error=REASON,
        )
    few = count()
    for channel in channels:
        make_posts(
            db,
            workspace.id,
            channels=[channel],
            count=19,
            start=utcnow(),
            step=dt.timedelta(minutes=1),
            status="failed",
            state="failed",
            last_error=REASON,
        )
    many = count()
    assert many == few
