# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV import in a real browser: one bad row imports nothing and is reported; the fixed
file then schedules every post. The channel is a Mastodon account on the fake instance,
connected through the domain with the fake's in-process transport.

Screenshots go to tmp_path always, and to docs/screenshots/ only when the environment
has SOCIALDESK_SCREENSHOTS set.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.connectors.base import Credentials
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.tables import Post
from socialdesk.storage.types import utcnow
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.fakes.mastodon import MastodonFake

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long enough passphrase"


@pytest.fixture
def workspace_id(live_server: LiveServer) -> str:
    """Ana owns "Acme Coffee", which has the Mastodon channel acme@<fake instance>."""
    db = live_server.db
    with db.transaction() as session:
        ana = users.create_user(
            session, email="ana@example.com", password=PASSWORD, name="Ana", actor=Actor.cli()
        )
        workspace = workspaces.create_workspace(
            session, name="Acme Coffee", owner=ana, actor=Actor.cli(), timezone="Europe/Paris"
        )
    fake = MastodonFake()
    _account, token = fake.create_account("acme")

    def connect() -> None:
        network = NetworkRuntime(transport_factory=fake.transport)
        try:
            connect_channel(
                db,
                vault=Vault(live_server.settings),
                http=network.http,
                run=network.run,
                workspace_id=workspace.id,
                network="mastodon",
                base_url=fake.base_url,
                credentials=Credentials(access_token=token),
                actor=Actor.cli(),
            )
        finally:
            network.close()

    # Playwright's sync API keeps an event loop running on this thread (when its fixture
    # came first); the runtime runs its own, so it gets a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(connect).result(timeout=30)
    return str(workspace.id)


def _posts(live_server: LiveServer) -> list[Post]:
    with live_server.db.transaction() as session:
        return list(session.scalars(select(Post).order_by(Post.scheduled_at)))


def test_import_one_bad_row_then_a_good_file(
    live_server: LiveServer, browser: Browser, workspace_id: str, tmp_path: Path
) -> None:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    watch_console(page, problems)
    sign_in(page, "ana@example.com", PASSWORD)

    # The sidebar leads to the import page, which documents the columns and the handle.
    page.goto(f"/w/{workspace_id}/library")
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="Import posts")).to_be_visible()
    handle = page.locator(".import-handles code").first.inner_text()
    assert handle.startswith("acme@")
    for column in ("channel", "text", "at", "tz", "labels"):
        expect(
            page.locator(".import-columns-table code.action", has_text=column).first
        ).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the template").click()
    template = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert template.startswith("channel,text,at,tz,labels")
    assert handle in template

    day = (utcnow() + dt.timedelta(days=5)).date().isoformat()
    bad = tmp_path / "week.csv"
    bad.write_text(
        "channel,text,at,tz,labels\n"
        f"{handle},Monday: fresh beans,{day}T09:00,Europe/Paris,weekly\n"
        f"{handle},Tuesday: tasting at 5 pm,tomorrow-ish,Europe/Paris,events\n",
        encoding="utf-8",
    )
    page.locator("#import-file").set_input_files(str(bad))
    expect(page.locator("[data-file-name]")).to_have_text("week.csv")
    page.get_by_role("button", name="Check and import").click()
    problems_card = page.locator("#import-problems")
    expect(problems_card.get_by_role("heading")).to_contain_text(
        "Nothing was imported: 1 of 2 rows needs fixing"
    )
    row = problems_card.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(0)).to_have_text("3")
    expect(row.locator("td").nth(1)).to_have_text("at")
    expect(row).to_contain_text("'tomorrow-ish' is not a date and time")
    screenshot(page, tmp_path, "import-rejected")
    assert _posts(live_server) == []

    good = tmp_path / "week-fixed.csv"
    good.write_text(
        bad.read_text(encoding="utf-8").replace("tomorrow-ish", f"{day}T17:00"), encoding="utf-8"
    )
    page.locator("#import-file").set_input_files(str(good))
    page.get_by_role("button", name="Check and import").click()
    done = page.locator("#import-done")
    expect(done.get_by_role("heading")).to_contain_text("Imported 2 posts from week-fixed.csv")
    expect(done.locator("tbody tr")).to_have_count(2)
    expect(done.get_by_role("link", name="Monday: fresh beans")).to_be_visible()
    screenshot(page, tmp_path, "import-done")

    imported = _posts(live_server)
    assert [p.text for p in imported] == ["Monday: fresh beans", "Tuesday: tasting at 5 pm"]
    assert [p.status for p in imported] == ["scheduled", "scheduled"]
    assert imported[1].scheduled_at is not None
    assert imported[1].timezone == "Europe/Paris"
    assert imported[1].labels == ["events"]

    # A phone-width look at the same page.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    small = phone.new_page()
    watch_console(small, problems)
    sign_in(small, "ana@example.com", PASSWORD)
    small.goto(f"/w/{workspace_id}/import")
    expect(small.get_by_role("heading", name="Import posts")).to_be_visible()
    screenshot(small, tmp_path, "import-390")
    # The refused file's page is a 422, which Chromium logs; anything else is a problem.
    problems = [p for p in problems if not re.search(r"/import: .*status of 422", p)]
    assert problems == []
    phone.close()
    context.close()
