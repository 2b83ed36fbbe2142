# SPDX-License-Identifier: AGPL-3.0-or-later
"""Approvals in a real browser: a manager sends a post, the client approves or rejects it.

Two browser contexts, two people: the manager on a laptop (1280 px), the approver on a
phone (390 px). Screenshots go to tmp_path, and to docs/screenshots/ only when
SOCIALDESK_SCREENSHOTS is set.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from socialdesk.accounts import workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.publishing import posts
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import Channel, Delivery, Post, User, VaultSecret, Workspace
from socialdesk.storage.types import utcnow
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.web.ui.helpers import add_member, make_user, make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _channel(live: LiveServer, workspace: Workspace) -> uuid.UUID:
    with live.db.transaction() as session:
        secret = VaultSecret(workspace_id=workspace.id, purpose="channel", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace.id,
            network="mastodon",
            external_id="109",
            handle="acme@mastodon.example",
            display_name="Acme Coffee",
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
        session.flush()
        return channel.id


def _draft(
    live: LiveServer, workspace: Workspace, author: uuid.UUID, channel_id: uuid.UUID, text: str
) -> uuid.UUID:
    """A draft planned for tomorrow morning, as the composer saves one."""
    with live.db.transaction() as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, author), workspace_id=workspace.id
        )
        scope_to_workspace(session, workspace.id)
        post = posts.create_post(
            session,
            settings=live.settings,
            access=access,
            actor=Actor.cli(),
            draft=PostDraft(text=text, channels=[ChannelContent(channel_id=channel_id)]),
        )
        planned = (utcnow() + dt.timedelta(days=1)).replace(
            hour=9, minute=0, second=0, microsecond=0
        )
        post.scheduled_at = planned
        for delivery in post.deliveries:
            delivery.due_at = planned
        return post.id


def test_send_for_approval_then_approve_and_reject(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    base = live_server.url
    db = live_server.db
    owner = make_user(db, "ana@example.com", name="Ana Lima")
    workspace = make_workspace(db, owner)
    mia = make_user(db, "mia@example.com", name="Mia Chen")
    carl = make_user(db, "carl@client.example", name="Carl Client")
    add_member(db, workspace, mia, Role.MANAGER)
    add_member(db, workspace, carl, Role.APPROVER)
    channel_id = _channel(live_server, workspace)
    first = _draft(live_server, workspace, mia.user.id, channel_id, "Our spring menu is here 🌸")
    second = _draft(live_server, workspace, mia.user.id, channel_id, "Happy hour from 5 pm")
    ws = f"/w/{workspace.id}"
    problems: list[str] = []

    manager_context = browser.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="Europe/Paris", base_url=base
    )
    manager = manager_context.new_page()
    watch_console(manager, problems)
    sign_in(manager, "mia@example.com")

    # 1. The manager finds the draft and sends it to the client.
    manager.goto(f"{ws}/approvals")
    manager.get_by_role("link", name="Drafts to send").click()
    manager.get_by_role("link", name=re.compile("Our spring menu is here")).click()
    expect(manager.get_by_role("heading", name="Review post")).to_be_visible()
    manager.get_by_label("Send to").select_option(label="Carl Client (carl@client.example)")
    manager.get_by_label("Note").fill("For Friday's newsletter, please.")
    screenshot(manager, tmp_path, "approvals-send-1280")
    manager.get_by_role("button", name="Send for approval").click()
    expect(manager.get_by_text("Sent for approval to Carl Client.")).to_be_visible()
    expect(manager.locator(".ap-title .badge")).to_have_text("Waiting for approval")
    # The second one goes to anyone who approves.
    manager.goto(f"{ws}/approvals/{second}")
    manager.get_by_role("button", name="Send for approval").click()
    expect(manager.get_by_text("Sent for approval to everyone who approves posts.")).to_be_visible()
    manager.goto(f"{ws}/approvals")
    expect(manager.locator(".ap-row")).to_have_count(2)
    screenshot(manager, tmp_path, "approvals-queue-1280")

    # 2. The client, on a phone, lands on what was sent and hears of it in the bell.
    client_context = browser.new_context(
        viewport={"width": 390, "height": 844},
        timezone_id="Europe/Paris",
        base_url=base,
        is_mobile=True,
        has_touch=True,
    )
    client = client_context.new_page()
    watch_console(client, problems)
    sign_in(client, "carl@client.example")
    client.goto(ws)
    expect(client).to_have_url(f"{base}{ws}/approvals")
    expect(client.locator("#bell-count")).to_contain_text("2")
    screenshot(client, tmp_path, "approvals-queue-390")
    client.get_by_role("button", name="Notifications").click()
    panel = client.locator("#bell-panel")
    expect(panel.get_by_text("Mia Chen asks you to approve a post")).to_have_count(2)
    screenshot(client, tmp_path, "approvals-bell-390")
    panel.get_by_role("button", name=re.compile("For Friday")).click()
    expect(client).to_have_url(f"{base}{ws}/approvals/{first}")
    expect(client.get_by_text("For Friday's newsletter, please.")).to_be_visible()
    screenshot(client, tmp_path, "approvals-review-390")

    # 3. Approve: the post is scheduled for its planned time.
    client.get_by_role("button", name="Approve", exact=True).click()
    expect(client.get_by_text("Approved and scheduled.")).to_be_visible()
    expect(client.locator(".ap-title .badge")).to_have_text("Scheduled")
    with db.transaction() as session:
        post = session.get_one(Post, first)
        assert post.status == "scheduled"
        [delivery] = session.scalars(select(Delivery).where(Delivery.post_id == first)).all()
        assert delivery.job_id is not None

    # 4. Reject the other one with a comment.
    client.goto(f"{ws}/approvals")
    client.get_by_role("link", name=re.compile("Happy hour")).click()
    client.get_by_role("button", name="Reject").click()
    expect(client.get_by_text("Write what should change (a comment).")).to_be_visible()
    client.get_by_label("Comment", exact=True).fill("Say until when, please: 5 to 7 pm?")
    client.get_by_role("button", name="Reject").click()
    expect(client.get_by_text("Rejected. The author sees your comment.")).to_be_visible()

    # 5. The author sees the rejection and its reason.
    manager.goto(f"{ws}/approvals")
    expect(manager.locator("#bell-count")).to_contain_text("2")
    manager.get_by_role("button", name="Notifications").click()
    manager.locator("#bell-panel").get_by_role(
        "button", name=re.compile("Carl Client rejected your post")
    ).click()
    expect(manager).to_have_url(f"{base}{ws}/approvals/{second}")
    rejection = manager.locator(".ap-rejection")
    expect(rejection).to_contain_text("Rejected by Carl Client")
    expect(rejection).to_contain_text("Say until when, please: 5 to 7 pm?")
    expect(manager.locator(".ap-title .badge")).to_have_text("Draft")
    screenshot(manager, tmp_path, "approvals-rejected-1280")
    with db.transaction() as session:
        assert session.get_one(Post, second).status == "draft"

    # The browser logs the 422 of the empty rejection; anything else is a problem.
    problems = [p for p in problems if not re.search(r"(status of|Error Code) 422", p)]
    assert problems == []
    manager_context.close()
    client_context.close()
