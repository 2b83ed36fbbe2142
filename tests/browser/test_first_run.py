# SPDX-License-Identifier: AGPL-3.0-or-later
"""First run in a real browser: setup, sign out and in, a second workspace, an invitee.

Screenshots go to tmp_path always, and to docs/screenshots/ only when the environment
has SOCIALDESK_SCREENSHOTS set (so a normal test run never writes into the repository).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from socialdesk.web.security import setup_token
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough passphrase"


def test_first_run(live_server: LiveServer, browser: Browser, tmp_path: Path) -> None:
    base = live_server.url
    problems: list[str] = []
    # The browser's time zone is what the setup form proposes.
    admin = browser.new_context(
        viewport={"width": 1280, "height": 860}, timezone_id="Europe/Paris", base_url=base
    )
    page = admin.new_page()
    watch_console(page, problems)

    # 1. The setup link, as `socialdesk serve` prints it.
    token = setup_token(live_server.settings.resolved_secret_key())
    page.goto(f"/setup?token={token}")
    expect(page.get_by_role("heading", name="Welcome to socialdesk")).to_be_visible()
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
    page.get_by_label("Your name").fill("Ana Lima")
    page.get_by_label("E-mail").fill("ana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Workspace name").fill("Acme Coffee")
    screenshot(page, tmp_path, "setup")
    page.get_by_role("button", name="Create account and workspace").click()
    expect(page).to_have_url(re.compile(r"/w/[0-9a-f-]+/members$"))
    expect(page.get_by_text("Welcome to socialdesk!")).to_be_visible()

    # 2. Sign out from the user menu, then sign in again.
    page.get_by_role("button", name="Account menu for ana@example.com").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{base}/login")
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.get_by_label("E-mail").fill("ana@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, tmp_path, "login")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()

    # 3. A second workspace, from the switcher's "New workspace".
    page.get_by_role("button", name=re.compile("Workspace")).click()
    page.get_by_role("link", name="New workspace").click()
    page.get_by_label("Name", exact=True).fill("Northwind Outdoor")
    page.get_by_role("button", name="Create workspace").click()
    expect(page).to_have_url(re.compile(r"/w/[0-9a-f-]+/members$"))
    expect(page.get_by_text("Northwind Outdoor is ready.")).to_be_visible()
    workspace_path = page.url.removeprefix(base).removesuffix("/members")

    # 4. Invite a member; the link is shown once.
    page.get_by_label("Their e-mail").fill("bob@example.com")
    page.get_by_role("radio", name=re.compile("^Marketer")).check()
    page.get_by_role("button", name="Create invitation link").click()
    link_box = page.get_by_label("Invitation link")
    expect(link_box).to_have_value(re.compile(rf"^{re.escape(base)}/invite/inv_"))
    link = link_box.input_value()
    screenshot(page, tmp_path, "members-invited")

    # 5. The invitee opens the link in another browser and signs up.
    invitee_context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=base)
    invitee = invitee_context.new_page()
    watch_console(invitee, problems)
    invitee.goto(link)
    expect(invitee.get_by_role("heading", name="Northwind Outdoor")).to_be_visible()
    expect(invitee.get_by_text("bob@example.com").first).to_be_visible()
    invitee.get_by_label("Your name").fill("Bob Stone")
    invitee.get_by_label("Choose a password").fill(PASSWORD)
    invitee.get_by_label("Password again").fill(PASSWORD)
    screenshot(invitee, tmp_path, "invitation-390")
    invitee.get_by_role("button", name="Create account and join").click()
    expect(invitee).to_have_url(f"{base}{workspace_path}/members")
    expect(invitee.get_by_text("Welcome to Northwind Outdoor!")).to_be_visible()
    screenshot(invitee, tmp_path, "members-390")
    # The phone-width menu opens and lists the workspace.
    invitee.get_by_role("button", name="Menu", exact=True).click()
    expect(invitee.get_by_role("link", name="API tokens")).to_be_visible()
    invitee.goto("/")
    card = invitee.locator(".workspace-card", has_text="Northwind Outdoor")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Marketer")

    # 6. Back as the owner: the new member is listed; an htmx role change sticks.
    page.goto(f"{workspace_path}/members")
    role_select = page.get_by_label("Role of bob@example.com")
    expect(role_select).to_have_value("marketer")
    role_select.select_option("analyst")
    expect(page.locator(".toast")).to_contain_text("is now analyst")
    page.reload()
    expect(page.get_by_label("Role of bob@example.com")).to_have_value("analyst")
    # A refused change (the last owner stepping down) explains itself and puts the
    # control back: htmx posts with the CSRF header, the 409 page's message is shown.
    own_role = page.get_by_label("Role of ana@example.com")
    own_role.select_option("analyst")
    expect(page.locator(".toast-error")).to_contain_text("at least one owner")
    expect(own_role).to_have_value("owner")
    page.goto("/")
    screenshot(page, tmp_path, "workspaces")

    # The browser and htmx log the refused request above as errors; anything else
    # (a CSP refusal, a script error) is a problem.
    problems = [p for p in problems if not re.search(r"(status of|Error Code) 409", p)]
    assert problems == []
    admin.close()
    invitee_context.close()
