# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox in a real browser, with the keyboard: find a conversation, take it, answer it.

The channel is connected to the Mastodon fake; the worker (run here, between the browser's
steps) syncs the inbox before and sends the reply after, so the reply is seen arriving on
the "network". Screenshots go to tmp_path, and to docs/screenshots/ only when
SOCIALDESK_SCREENSHOTS is set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from socialdesk.accounts import workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.connectors.base import Credentials
from socialdesk.handlers import build_handlers
from socialdesk.inbox import saved_replies
from socialdesk.inbox.sync import enqueue_sync
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.tables import InboxAction, InboxConversation, InboxItem, User
from socialdesk.storage.types import utcnow
from socialdesk.worker import Worker
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.fakes.mastodon import MastodonFake
from tests.web.ui.helpers import add_member, make_user, make_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_work_a_conversation_with_the_keyboard(
    live_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    db, settings = live_server.db, live_server.settings
    owner = make_user(db, "ana@example.com", name="Ana Lima")
    workspace = make_workspace(db, owner)
    mia = make_user(db, "mia@example.com", name="Mia Chen")
    add_member(db, workspace, mia, Role.MANAGER)
    fake = MastodonFake()
    network = NetworkRuntime(transport_factory=fake.transport)
    vault = Vault(settings)
    _account, token = fake.create_account("acme")
    channel = connect_channel(
        db,
        vault=vault,
        http=network.http,
        run=network.run,
        workspace_id=workspace.id,
        network="mastodon",
        base_url=fake.base_url,
        credentials=Credentials(access_token=token),
        actor=Actor.cli(),
    )

    def run_worker() -> None:
        handlers = build_handlers(db=db, settings=settings, vault=vault, network=network)
        Worker(db, handlers, concurrency=1, poll_seconds=0.05).run_once()

    try:
        ours = fake.post_as("acme", "Our winter menu is here")
        fake.post_as("bob", "@acme my order is late and nobody answers", in_reply_to_id=ours.id)
        fake.post_as("carol", "@acme the new roast is lovely")
        with db.transaction() as session:
            enqueue_sync(session, channel_id=channel.id, workspace_id=workspace.id, now=utcnow())
            access = workspaces.access_for(
                session, user=session.get_one(User, mia.user.id), workspace_id=workspace.id
            )
            saved_replies.create_saved_reply(
                session,
                access=access,
                name="Order late",
                text="Sorry {first_name}! Please send us your order number. — {agent_first_name}",
            )
        run_worker()
        with db.transaction() as session:
            assert len(session.scalars(select(InboxConversation)).all()) == 2
            bob_conversation = session.scalars(
                select(InboxItem.conversation_id).where(InboxItem.author_handle.startswith("bob"))
            ).one()

        ws = f"/w/{workspace.id}"
        problems: list[str] = []
        context = browser.new_context(
            viewport={"width": 1280, "height": 860},
            timezone_id="Europe/Paris",
            base_url=live_server.url,
        )
        page = context.new_page()
        watch_console(page, problems)
        sign_in(page, "mia@example.com")

        # 1. The inbox, from the sidebar.
        page.goto(ws)
        # The sidebar link says how many conversations wait for an answer.
        nav_link = page.get_by_role("navigation", name="Main").get_by_role(
            "link", name=re.compile(r"^Inbox \d+ unanswered$")
        )
        expect(nav_link).to_be_visible()
        nav_link.click()
        expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()
        rows = page.locator("[data-rows] [data-row-link]")
        expect(rows).to_have_count(2)
        expect(page.locator("[data-rows]")).to_contain_text("my order is late")
        expect(page.locator("[data-rows]")).to_contain_text("the new roast is lovely")
        # Both arrived in the same second: find Bob's row, whichever comes first.
        bob = 0 if "my order is late" in rows.nth(0).inner_text() else 1

        # 2. j, j, k moves through the list; Enter opens Bob's conversation.
        page.locator("body").press("j")
        expect(rows.nth(0)).to_be_focused()
        page.keyboard.press("j")
        expect(rows.nth(1)).to_be_focused()
        page.keyboard.press("k")
        expect(rows.nth(0)).to_be_focused()
        for _ in range(bob):
            page.keyboard.press("j")
        expect(rows.nth(bob)).to_be_focused()
        page.keyboard.press("Enter")
        pane = page.locator("#conversation")
        expect(pane.get_by_role("heading", level=2)).to_contain_text("Bob")
        expect(page).to_have_url(re.compile(rf"{ws}/inbox/{bob_conversation}"))
        expect(pane.locator(".ib-thread")).to_contain_text("my order is late and nobody answers")

        # 3. "a": assigned to me, without leaving the conversation.
        page.keyboard.press("a")
        expect(page.locator("#toasts")).to_contain_text("Assigned to you.")
        expect(pane.get_by_label("Assignee")).to_have_value(str(mia.user.id))
        with db.transaction() as session:
            assert session.get_one(InboxConversation, bob_conversation).assignee_id == mia.user.id

        # 4. "r": the reply box; a saved reply is filled in for Bob and for Mia.
        page.keyboard.press("r")
        box = pane.get_by_label(re.compile(r"^Reply to"))
        expect(box).to_be_focused()
        # With the keyboard: choose it, then Enter (the mouse inserts on choosing).
        pane.get_by_label("Saved reply").select_option(label="Order late")
        expect(box).to_have_value("")
        pane.get_by_label("Saved reply").press("Enter")
        expect(box).to_have_value(
            re.compile(r"^Sorry Bob! Please send us your order number\. — Mia$")
        )
        screenshot(page, tmp_path, "inbox-conversation")
        box.press("End")
        box.type(" Thanks!")
        pane.get_by_role("button", name="Send reply").click()
        expect(page.locator("#toasts")).to_contain_text("Reply on its way.")
        pending = pane.locator("[data-reply-state]")
        expect(pending).to_contain_text("Queued")
        expect(pending).to_contain_text("Thanks!")

        with db.transaction() as session:
            [action] = session.scalars(select(InboxAction)).all()
        assert action.action == "reply"
        assert action.state == "pending"
        assert action.text == "Sorry Bob! Please send us your order number. — Mia Thanks!"

        # 5. The worker sends it to the network once; the thread shows it as ours.
        run_worker()
        with db.transaction() as session:
            sent = session.get_one(InboxAction, action.id)
        assert sent.state == "done"
        replies = [s for s in fake.statuses_of(_account.id) if s.in_reply_to_id]
        assert len(replies) == 1
        assert "Please send us your order number" in replies[0].text
        page.reload()
        expect(pane.locator("[data-reply-state]")).to_have_count(0)
        expect(pane.locator(".ib-msg-ours").last).to_contain_text("Thanks!")

        # 6. The shortcuts are listed on "?", and Escape closes the list.
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("?")
        dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # 7. "x" selects a conversation for a bulk change.
        page.goto(f"{ws}/inbox")
        page.locator("body").press("j")
        page.keyboard.press("x")
        expect(page.locator("[data-selected-count]")).to_have_text("1 selected")
        page.get_by_label("With the selected conversations").select_option("close")
        page.locator("#inbox-bulk").get_by_role("button", name="Apply").click()
        expect(page.locator(".flashes")).to_contain_text("Close: 1 conversation.")
        expect(page.locator("[data-rows] [data-row-link]")).to_have_count(1)

        # 8. On a phone: the list first, then the conversation alone.
        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, base_url=live_server.url, is_mobile=True
        )
        small = phone.new_page()
        watch_console(small, problems)
        sign_in(small, "mia@example.com")
        small.goto(f"{ws}/inbox?tab=all")
        small_rows = small.locator("[data-rows] [data-row-link]")
        expect(small_rows).to_have_count(2)
        expect(small.locator("#conversation")).to_be_hidden()
        small.locator("[data-rows] [data-row-link]", has_text="Bob").click()
        expect(small.locator("#conversation").get_by_role("heading", level=2)).to_contain_text(
            "Bob"
        )
        expect(small.locator("#inbox-list")).to_be_hidden()
        screenshot(small, tmp_path, "inbox-phone")
        small.get_by_role("link", name="All conversations").click()
        expect(small.locator("#inbox-list")).to_be_visible()
        phone.close()
        context.close()
        assert problems == []
    finally:
        network.close()
