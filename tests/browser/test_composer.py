# SPDX-License-Identifier: AGPL-3.0-or-later
"""Compose in a real browser and publish to two networks: Bluesky on the reference PDS
(``tests.support.pds``) and Mastodon on the fake served by its own process.

The manager picks both channels, writes once, tailors the Mastodon copy in its tab,
uploads an image (XHR with a progress bar) and describes it, watches the live counters,
and presses "Post now". The test then runs the worker once, as ``socialdesk serve``'s
embedded worker would, and reads the post back from the PDS and from the fake.

Screenshots (1280 and 390 px wide) go to tmp_path, and to docs/screenshots/ when the
environment has SOCIALDESK_SCREENSHOTS set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.connectors.base import Credentials
from socialdesk.handlers import build_handlers
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.tables import Channel
from socialdesk.worker import Worker
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.fakes.mastodon import FakeServer, run_server
from tests.support.pds import LocalPds, pds

__all__ = ["pds"]  # the session fixture

T = TypeVar("T")

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

PASSWORD = "a long enough passphrase"
TEXT = "Our spring menu is here 🌸 Lavender latte all week at the café. #coffee"
ALT = "A lavender latte with a leaf drawn in the foam, on a wooden table"


@pytest.fixture
def mastodon() -> Iterator[FakeServer]:
    with run_server("--no-rate-limits") as server:
        yield server


def _off_the_loop(function: Callable[[], T]) -> T:
    """Run ``function`` in a thread: Playwright's sync API keeps an event loop running in
    this one, and the connectors' runtime needs a loop of its own."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function).result()


def _connect(
    server: LiveServer, workspace_id: Any, *, network: str, base_url: str, credentials: Credentials
) -> Channel:
    return _off_the_loop(
        lambda: _connect_now(
            server, workspace_id, network=network, base_url=base_url, credentials=credentials
        )
    )


def _connect_now(
    server: LiveServer, workspace_id: Any, *, network: str, base_url: str, credentials: Credentials
) -> Channel:
    runtime = NetworkRuntime()
    try:
        return connect_channel(
            server.db,
            vault=Vault(server.settings),
            http=runtime.http,
            run=runtime.run,
            workspace_id=workspace_id,
            network=network,
            base_url=base_url,
            credentials=credentials,
            actor=Actor.cli(),
        )
    finally:
        runtime.close()


def _run_worker(server: LiveServer) -> int:
    return _off_the_loop(lambda: _run_worker_now(server))


def _run_worker_now(server: LiveServer) -> int:
    network = NetworkRuntime()
    try:
        handlers = build_handlers(
            db=server.db, settings=server.settings, vault=Vault(server.settings), network=network
        )
        return Worker(server.db, handlers, concurrency=2, poll_seconds=0.05).run_once()
    finally:
        network.close()


def test_compose_and_publish_to_bluesky_and_mastodon(
    live_server: LiveServer,
    browser: Browser,
    pds: LocalPds,
    mastodon: FakeServer,
    tmp_path: Path,
) -> None:
    # A manager's workspace with a Bluesky account on the PDS and a Mastodon account.
    with live_server.db.transaction() as session:
        ana = users.create_user(
            session, email="ana@example.com", password=PASSWORD, name="Ana", actor=Actor.cli()
        )
        ana.timezone = "Europe/Paris"
        workspace_id = workspaces.create_workspace(
            session, name="Acme Coffee", owner=ana, actor=Actor.cli(), timezone="Europe/Paris"
        ).id
    account = pds.create_account()
    bluesky = _connect(
        live_server,
        workspace_id,
        network="bluesky",
        base_url=pds.url,
        credentials=Credentials(
            access_token=account.app_password, extra={"handle": account.handle}
        ),
    )
    created = mastodon.admin("POST", "accounts", {"username": "acme"})
    toots = _connect(
        live_server,
        workspace_id,
        network="mastodon",
        base_url=mastodon.base_url,
        credentials=Credentials(access_token=created["access_token"]),
    )
    photo = tmp_path / "latte.png"
    Image.new("RGB", (1200, 800), "#b48ad8").save(photo)

    problems: list[str] = []
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        timezone_id="Europe/Paris",
        base_url=live_server.url,
    )
    page = context.new_page()
    watch_console(page, problems)
    sign_in(page, "ana@example.com", PASSWORD)

    # The sidebar's "New post" opens the composer.
    page.goto(f"/w/{workspace_id}/settings")
    page.get_by_role("link", name="New post").click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()

    # 1. Both channels, grouped by network; the tabs and counters follow the choice.
    page.get_by_role("checkbox", name=re.compile(re.escape(account.handle))).check()
    page.get_by_role("checkbox", name=re.compile("acme@")).check()
    bluesky_tab = page.get_by_role("tab", name=re.compile(re.escape(account.handle)))
    mastodon_tab = page.get_by_role("tab", name=re.compile("acme@"))
    expect(bluesky_tab).to_be_visible()
    expect(mastodon_tab).to_be_visible()

    # 2. Write once; the counters come back from the server's check, per network.
    page.get_by_label("Text for every channel").fill(TEXT)
    expect(page.locator(f"#count-{bluesky.id}")).to_contain_text(f"{len(TEXT)}/300")
    expect(page.locator(f"#count-{toots.id}")).to_contain_text("/500")
    expect(page.locator(".preview")).to_have_count(2)
    expect(page.locator(".pv-bluesky .pv-text")).to_contain_text("Lavender latte")

    # 3. An image, uploaded with a progress bar, described for screen readers.
    page.get_by_label("Upload images or videos").set_input_files(str(photo))
    alt_field = page.get_by_label(re.compile("^Alt text"))
    expect(alt_field).to_be_visible()
    expect(page.locator(".pv-bluesky .pv-grid img")).to_have_count(1)
    expect(page.locator(".summary")).to_contain_text("warning")  # no alt text yet
    alt_field.fill(ALT)
    expect(page.locator(".summary")).not_to_contain_text("warning")
    expect(page.locator(".pv-bluesky .pv-grid img")).to_have_attribute("alt", ALT)

    # 4. Tailor the Mastodon copy in its tab (keyboard: arrows move between tabs).
    page.get_by_role("tab", name="All channels").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(mastodon_tab).to_be_focused()
    expect(mastodon_tab).to_have_attribute("aria-selected", "true")
    mastodon_text = page.get_by_label("Text on Mastodon")
    expect(mastodon_text).to_have_value(TEXT)
    mastodon_text.press("End")
    mastodon_text.press_sequentially(" #fediverse")
    expect(page.locator(f"#panel-{toots.id} .badge-custom")).to_be_visible()
    expect(page.locator(".pv-mastodon .pv-text")).to_contain_text("#fediverse")
    page.get_by_role("tab", name="All channels").click()
    screenshot(page, tmp_path, "composer")

    # The same page at a phone's width.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, timezone_id="Europe/Paris", base_url=live_server.url
    )
    small = phone.new_page()
    watch_console(small, problems)
    sign_in(small, "ana@example.com", PASSWORD)
    small.goto(f"/w/{workspace_id}/compose")
    small.get_by_role("checkbox", name=re.compile(re.escape(account.handle))).check()
    small.get_by_label("Text for every channel").fill(TEXT)
    expect(small.locator(f"#count-{bluesky.id}")).to_contain_text(f"{len(TEXT)}/300")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the composer scrolls sideways at 390 px ({width} px wide)"
    screenshot(small, tmp_path, "composer-390")
    phone.close()

    # 5. Post now.
    page.get_by_role("radio", name="Post now").check()
    page.get_by_role("button", name="Post now").click()
    expect(page.get_by_text("Publishing now to 2 channels.")).to_be_visible()
    assert _run_worker(live_server) >= 2

    # On the PDS: the record, with the image and its alt text.
    records = httpx.get(
        f"{pds.url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": account.did, "collection": "app.bsky.feed.post"},
        timeout=30,
    ).json()["records"]
    assert [r["value"]["text"] for r in records] == [TEXT]
    [image] = records[0]["value"]["embed"]["images"]
    assert image["alt"] == ALT

    # On the Mastodon fake: the tailored status, with the image described.
    statuses = mastodon.admin("GET", "statuses")["statuses"]
    assert [s["text"] for s in statuses] == [TEXT + " #fediverse"]
    status = httpx.get(
        f"{mastodon.base_url}/api/v1/statuses/{statuses[0]['id']}",
        headers={"Authorization": f"Bearer {created['access_token']}"},
        timeout=10,
    ).json()
    assert [m["description"] for m in status["media_attachments"]] == [ALT]

    assert problems == []
    context.close()
