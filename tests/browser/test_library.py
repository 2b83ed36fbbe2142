# SPDX-License-Identifier: AGPL-3.0-or-later
"""The library in a real browser: several files uploaded at once (progress, cards appear),
alt text and tags, a template's live preview, a hashtag group, an idea; at 1280 and 390 px.

Screenshots go to tmp_path always, and to docs/screenshots/ only when the environment
has SOCIALDESK_SCREENSHOTS set.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from tests.browser.conftest import LiveServer
from tests.browser.helpers import screenshot, sign_in, watch_console
from tests.browser.test_import import PASSWORD
from tests.media.builders import mp4

pytestmark = [pytest.mark.browser, pytest.mark.slow]


PALETTES = [
    ("#3b2417", "#c08552", "#f3e9dc"),
    ("#1d3557", "#457b9d", "#f1faee"),
    ("#2d6a4f", "#95d5b2", "#fefae0"),
    ("#6d2e46", "#d5b9b2", "#fff1e6"),
    ("#3a0ca3", "#f72585", "#fdf0d5"),
]


def picture(path: Path, palette: tuple[str, str, str], size: tuple[int, int]) -> Path:
    """A calm illustration: a gradient, a sun and two hills."""
    width, height = size
    dark, mid, light = (Image.new("RGB", (1, 1), c).getpixel((0, 0)) for c in palette)
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(round(light[i] * (1 - t) + mid[i] * t) for i in range(3)),  # type: ignore[index]
        )
    draw.ellipse([width * 0.62, height * 0.14, width * 0.82, height * 0.14 + width * 0.2], fill=mid)
    draw.polygon([(0, height), (width * 0.35, height * 0.55), (width * 0.8, height)], fill=dark)
    draw.polygon([(width * 0.4, height), (width * 0.75, height * 0.62), (width, height)], fill=mid)
    image.save(path, quality=88)
    return path


@pytest.fixture
def workspace_id(live_server: LiveServer) -> str:
    with live_server.db.transaction() as session:
        ana = users.create_user(
            session, email="ana@example.com", password=PASSWORD, name="Ana Lima", actor=Actor.cli()
        )
        workspace = workspaces.create_workspace(
            session, name="Acme Coffee", owner=ana, actor=Actor.cli()
        )
    return str(workspace.id)


def _shots(page: Page, tmp_path: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    screenshot(page, tmp_path, name)


def test_library_ideas_and_templates(
    live_server: LiveServer, browser: Browser, workspace_id: str, tmp_path: Path
) -> None:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    watch_console(page, problems)
    sign_in(page, "ana@example.com", PASSWORD)
    ws = f"/w/{workspace_id}"

    # 1. Several files at once: each gets a progress bar, then its card.
    page.goto(f"{ws}/library")
    expect(page.get_by_text("Your library is empty")).to_be_visible()
    names = ["roastery.jpg", "harbour.jpg", "garden.jpg", "tasting.jpg", "neon-sign.jpg"]
    sizes = [(1600, 1067), (1200, 1200), (1080, 1350), (1600, 900), (1200, 800)]
    files = [
        picture(tmp_path / name, palette, size)
        for name, palette, size in zip(names, PALETTES, sizes, strict=True)
    ]
    video = tmp_path / "roastery-tour.mp4"
    video.write_bytes(mp4(seconds=74.0, width=1920, height=1080))
    page.locator("#upload-files").set_input_files([*map(str, files), str(video)])
    expect(page.locator(".lib-progress-item.is-done")).to_have_count(6, timeout=20_000)
    expect(page.locator("#library-grid .lib-card")).to_have_count(6)
    expect(page.locator("[data-library-count]")).to_have_text("6")
    expect(page.locator(".lib-card", has_text="roastery-tour.mp4")).to_contain_text("Video · 1:14")

    # 2. Describe and tag a few; filter by a tag.
    for name, alt, tags in (
        ("roastery.jpg", "The roaster at dawn, beans cooling on the tray", "roastery, summer"),
        ("garden.jpg", "Our terrace garden in June", "summer, terrace"),
        ("tasting.jpg", "Three cups lined up for a tasting", "events"),
    ):
        page.goto(f"{ws}/library")
        page.locator(".lib-card", has_text=name).get_by_role(
            "link", name=re.compile("^Edit")
        ).click()
        page.get_by_label("Alt text", exact=True).fill(alt)
        page.get_by_label("Tags", exact=True).fill(tags)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved the alt text and tags.")).to_be_visible()
    _shots(page, tmp_path, "library-asset")
    page.goto(f"{ws}/library")
    page.locator(".lib-tagbar").get_by_role("link", name=re.compile("^summer")).click()
    expect(page.locator("#library-grid .lib-card")).to_have_count(2)
    page.goto(f"{ws}/library")
    _shots(page, tmp_path, "library")

    # 3. A template: the sample fields follow the text; the preview is the server's.
    page.get_by_role("link", name="Templates & hashtags").click()
    form = page.locator("#new-template")
    form.get_by_label("Name").fill("Dish of the week")
    form.get_by_label("Text").fill("This week: {dish}, {price}. Come by {day}!")
    expect(form.locator("[data-variable]")).to_have_count(3)
    expect(form.locator("[data-template-preview-text]")).to_contain_text(
        "Give a sample value for {dish}, {price}, {day}"
    )
    form.get_by_label("{dish}").fill("Cold brew tonic")
    form.get_by_label("{price}").fill("€4.50")
    form.get_by_label("{day}").fill("Friday")
    expect(form.locator("[data-template-preview-text]")).to_have_text(
        "This week: Cold brew tonic, €4.50. Come by Friday!"
    )
    form.get_by_label("Text").fill("This week: {dish}. Come by {day!")
    expect(form.locator("[data-template-preview-text]")).to_contain_text("has no partner")
    form.get_by_label("Text").fill("This week: {dish}, {price}. Come by {day}!")
    form.get_by_role("button", name="Save template").click()
    expect(page.get_by_text("Saved the template “Dish of the week”.")).to_be_visible()
    group = page.locator("#new-group")
    group.get_by_label("Name").fill("Coffee")
    group.get_by_label("Hashtags").fill("#coffee #specialtycoffee #latteart #coffeeshop #roastery")
    group.get_by_role("button", name="Save group").click()
    expect(page.get_by_text("Saved the hashtag group “Coffee” (5 hashtags).")).to_be_visible()
    page.goto(f"{ws}/library/templates")
    _shots(page, tmp_path, "library-templates")

    # 4. Ideas: jot two down.
    page.get_by_role("link", name="Ideas", exact=True).click()
    for text, labels in (
        ("Behind the scenes: a 60-second roastery tour at dawn.", "video, summer"),
        ("Poll: oat, almond or dairy? Winner gets a week of specials.", "engagement"),
        ("Meet the team: Lea, our head roaster, answers your questions.", "people"),
    ):
        page.get_by_label("New idea").fill(text)
        page.get_by_label("Labels (optional)").fill(labels)
        page.get_by_role("button", name="Add idea").click()
        expect(page.get_by_text("Idea saved.")).to_be_visible()
    expect(page.locator(".idea-card")).to_have_count(3)
    _shots(page, tmp_path, "ideas")

    # 5. The same pages on a phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    small = phone.new_page()
    watch_console(small, problems)
    sign_in(small, "ana@example.com", PASSWORD)
    for path, name in (
        ("library", "library-390"),
        ("library/templates", "library-templates-390"),
        ("ideas", "ideas-390"),
    ):
        small.goto(f"{ws}/{path}")
        _shots(small, tmp_path, name)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # nothing sticks out sideways
    assert problems == []
    phone.close()
    context.close()
