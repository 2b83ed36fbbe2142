# SPDX-License-Identifier: AGPL-3.0-or-later
"""What every browser test does: watch the console, sign in, take screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Page, expect

from tests.web.ui.helpers import PASSWORD

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def watch_console(page: Page, problems: list[str]) -> None:
    """Console errors include CSP refusals (an inline style or script would show here)."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    """Always into tmp_path; into docs/screenshots/ only with SOCIALDESK_SCREENSHOTS set."""
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if os.environ.get("SOCIALDESK_SCREENSHOTS"):
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Through the sign-in form, as a person would; waits until it has let them in."""
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
