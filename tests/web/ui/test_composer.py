# SPDX-License-Identifier: AGPL-3.0-or-later
"""The composer: who may open it, what the form saves, the live check, UTM tags, media."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.connectors.base import AccountInfo, Credentials
from socialdesk.connectors.instagram import InstagramConnector
from socialdesk.errors import ValidationError
from socialdesk.media.library import store_file
from socialdesk.publishing import queue
from socialdesk.publishing.channels import save_connected_channel
from socialdesk.publishing.scheduling import to_utc
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, Delivery, Post, User, Workspace
from socialdesk.web.ui.composer import build_draft, parse_form, tag_links, with_utm
from tests.web.ui.helpers import (
    add_member,
    make_user,
    make_workspace,
    session_csrf,
    sign_in,
    text_of,
)

FormData = list[tuple[str, str]]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post_pairs(
    client: TestClient, path: str, pairs: FormData, headers: dict[str, str] | None = None
) -> Any:
    """Post form fields that repeat (``channels``, ``media.id``) in order, as browsers do."""
    return client.post(path, content=urlencode(pairs), headers={**FORM, **(headers or {})})


@dataclass
class Desk:
    """A signed-in manager's browser, their workspace, and its two channels."""

    client: TestClient
    workspace: Workspace
    bluesky: Channel
    mastodon: Channel
    db: Database
    settings: Settings

    @property
    def path(self) -> str:
        return f"/w/{self.workspace.id}/compose"

    def form(self, *fields: tuple[str, str], channels: tuple[Channel, ...] = ()) -> FormData:
        data = [("csrf_token", session_csrf(self.client))]
        data += [("channels", str(c.id)) for c in channels or (self.bluesky, self.mastodon)]
        return data + list(fields)

    def submit(self, *fields: tuple[str, str], channels: tuple[Channel, ...] = ()) -> Any:
        return post_pairs(self.client, self.path, self.form(*fields, channels=channels))

    def check(self, *fields: tuple[str, str], channels: tuple[Channel, ...] = ()) -> Any:
        return post_pairs(
            self.client,
            f"{self.path}/check",
            self.form(*fields, channels=channels),
            headers={"HX-Request": "true"},
        )

    def posts(self) -> list[Post]:
        with self.db.transaction(workspace_id=self.workspace.id) as session:
            found = list(session.scalars(select(Post)))
            for post in found:
                for delivery in post.deliveries:
                    _ = delivery.channel, list(delivery.media)
            session.expunge_all()
            return found

    def image(self, name: str, size: tuple[int, int], tmp_path: Path) -> uuid.UUID:
        path = tmp_path / name
        Image.new("RGB", size, "#c98a5a").save(path)
        with self.db.transaction(workspace_id=self.workspace.id) as session:
            asset = store_file(
                session,
                settings=self.settings,
                workspace_id=self.workspace.id,
                source=path,
                filename=name,
                actor=Actor.cli(),
            )
            return asset.id


def connect(
    db: Database,
    settings: Settings,
    workspace: Workspace,
    network: str,
    handle: str,
    *,
    extra: dict[str, str] | None = None,
    timezone: str | None = None,
) -> Channel:
    """A channel as if verified by its network (no network is called here)."""
    with db.transaction(workspace_id=workspace.id) as session:
        channel = save_connected_channel(
            session,
            vault=Vault(settings),
            workspace_id=workspace.id,
            network=network,
            base_url=f"https://{network}.example",
            account=AccountInfo(external_id=f"{network}:{handle}", handle=handle),
            credentials=Credentials(access_token="secret", extra=extra or {}),
            actor=Actor.cli(),
            timezone=timezone,
        )
        session.expunge(channel)
        return channel


@pytest.fixture
def desk(client: TestClient, db: Database, settings: Settings) -> Desk:
    ana = make_user(db, "ana@example.com", name="Ana Lima")
    with db.transaction() as session:
        session.get_one(User, ana.user.id).timezone = "Europe/Paris"
    workspace = make_workspace(db, ana)
    bluesky = connect(db, settings, workspace, "bluesky", "acme.bsky.social")
    mastodon = connect(db, settings, workspace, "mastodon", "acme@mastodon.social")
    sign_in(client, "ana@example.com")
    return Desk(client, workspace, bluesky, mastodon, db, settings)


# -- who may compose -----------------------------------------------------------------------


def test_the_page_renders_for_a_manager(
    desk: Desk, new_client: Callable[[], TestClient], db: Database
) -> None:
    bob = make_user(db, "bob@example.com")
    add_member(db, desk.workspace, bob, Role.MANAGER)
    browser = new_client()
    sign_in(browser, "bob@example.com")
    response = browser.get(desk.path)
    assert response.status_code == 200
    text = text_of(response)
    assert "New post" in text
    for expected in ("Bluesky", "Mastodon", "acme.bsky.social", "acme@mastodon.social"):
        assert expected in text
    for button in ("Save draft", "Add to queue", "Schedule", "Post now"):
        assert button in text
    # Every control has a label, and nothing inline that the CSP would refuse.
    assert 'href="' + desk.path + '"' in response.text  # the sidebar's "New post"
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert "<style" not in response.text
    assert not re.search(r'\sstyle="', response.text)
    assert unlabelled_controls(response.text) == []


def unlabelled_controls(page: str) -> list[str]:
    """Form controls with no label: none of ``for=``, ``aria-label``, a wrapping <label>."""
    missing = []
    for match in re.finditer(r"<(?:textarea|select|input)\b[^>]*>", page):
        tag = match.group(0)
        if 'type="hidden"' in tag or "aria-label" in tag:
            continue
        found = re.search(r'\s(?::)?id="([^"]+)"', tag)
        if found and (f'for="{found.group(1)}"' in page or f':for="{found.group(1)}' in page):
            continue
        before = page[: match.start()]
        if before.rfind("<label") > before.rfind("</label>"):
            continue  # inside its label
        missing.append(tag)
    return missing


@pytest.mark.parametrize("role", [Role.APPROVER, Role.ANALYST])
def test_hidden_from_roles_that_do_not_write_posts(
    desk: Desk, new_client: Callable[[], TestClient], db: Database, role: Role
) -> None:
    carol = make_user(db, "carol@example.com")
    add_member(db, desk.workspace, carol, role)
    browser = new_client()
    sign_in(browser, "carol@example.com")
    assert browser.get(desk.path).status_code == 403
    settings_page = browser.get(f"/w/{desk.workspace.id}/settings")
    assert settings_page.status_code == 200
    assert "New post" not in text_of(settings_page)
    refused = browser.post(
        f"{desk.path}/check", data={"csrf_token": session_csrf(browser), "text": "hi"}
    )
    assert refused.status_code == 403


def test_a_marketer_saves_drafts_only(
    desk: Desk, new_client: Callable[[], TestClient], db: Database
) -> None:
    dan = make_user(db, "dan@example.com")
    add_member(db, desk.workspace, dan, Role.MARKETER)
    browser = new_client()
    sign_in(browser, "dan@example.com")
    page = browser.get(desk.path)
    assert page.status_code == 200
    assert "Post now" not in text_of(page)
    assert "Your role saves drafts" in text_of(page)
    token = session_csrf(browser)
    channel = ("channels", str(desk.bluesky.id))
    saved = post_pairs(
        browser, desk.path, [("csrf_token", token), channel, ("text", "idea"), ("intent", "draft")]
    )
    assert saved.status_code == 303
    refused = post_pairs(
        browser,
        desk.path,
        [("csrf_token", token), channel, ("text", "now"), ("intent", "publish"), ("when", "now")],
    )
    assert refused.status_code == 403
    assert [p.status for p in desk.posts()] == ["draft"]


def test_another_workspace_is_not_found(desk: Desk, db: Database) -> None:
    other_owner = make_user(db, "eve@example.com")
    other = make_workspace(db, other_owner, name="Elsewhere")
    assert desk.client.get(f"/w/{other.id}/compose").status_code == 404
    response = desk.client.post(
        f"/w/{other.id}/compose/check", data={"csrf_token": session_csrf(desk.client)}
    )
    assert response.status_code == 404


# -- saving: draft, now, at a time, queue ---------------------------------------------------


def test_save_a_draft(desk: Desk) -> None:
    response = desk.submit(("text", "Spring menu soon"), ("intent", "draft"))
    assert response.status_code == 303
    assert response.headers["location"] == desk.path
    [post] = desk.posts()
    assert post.status == "draft"
    assert post.scheduled_at is None
    assert {d.channel.network for d in post.deliveries} == {"bluesky", "mastodon"}
    assert all(d.due_at is None for d in post.deliveries)
    assert "Draft saved for 2 channels." in text_of(desk.client.get(desk.path))


def test_publish_now(desk: Desk) -> None:
    response = desk.submit(("text", "Open today"), ("intent", "publish"), ("when", "now"))
    assert response.status_code == 303
    [post] = desk.posts()
    assert post.status == "scheduled"
    assert post.scheduled_at is not None
    assert all(d.due_at is not None and d.state == "pending" for d in post.deliveries)
    assert "Publishing now to 2 channels." in text_of(desk.client.get(desk.path))


def test_schedule_at_a_time_in_the_planners_time_zone(desk: Desk) -> None:
    day = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    response = desk.submit(
        ("text", "Tasting on Saturday"),
        ("intent", "publish"),
        ("when", "at"),
        ("at_date", day),
        ("at_time", "09:30"),
        ("timezone", "Europe/Paris"),
        ("repeat", ""),
    )
    assert response.status_code == 303, text_of(response)
    [post] = desk.posts()
    expected = to_utc(dt.datetime.fromisoformat(f"{day}T09:30"), "Europe/Paris")
    assert post.scheduled_at == expected
    assert post.timezone == "Europe/Paris"
    assert all(d.due_at == expected for d in post.deliveries)
    assert "(Europe/Paris) on 2 channels" in text_of(desk.client.get(desk.path))


def test_add_to_the_queue(desk: Desk) -> None:
    with desk.db.transaction(workspace_id=desk.workspace.id) as session:
        for channel in (desk.bluesky, desk.mastodon):
            queue.set_slots(
                session,
                channel=session.get_one(Channel, channel.id),
                slots=[(day, "10:00") for day in range(7)],
                actor=Actor.cli(),
            )
    response = desk.submit(("text", "In the queue"), ("intent", "publish"), ("when", "queue"))
    assert response.status_code == 303, text_of(response)
    [post] = desk.posts()
    assert post.status == "scheduled"
    assert all(d.due_at is not None for d in post.deliveries)
    assert "Added to the queue of 2 channels" in text_of(desk.client.get(desk.path))


def test_a_queue_without_slots_is_refused_and_says_why(desk: Desk) -> None:
    response = desk.submit(("text", "Queue me"), ("intent", "publish"), ("when", "queue"))
    assert response.status_code == 422
    assert "has no queue slots" in text_of(response)
    assert "No posting times yet for" in text_of(response)
    assert desk.posts() == []


# -- refused: every problem shown, what was typed kept -------------------------------------


def test_validation_errors_keep_everything_typed(desk: Desk) -> None:
    long_text = "Our spring menu is here. " * 14  # 350 characters: too long for Bluesky
    custom = "Short and sweet for Mastodon #coffee"
    response = desk.submit(
        ("text", long_text),
        (f"ch.{desk.mastodon.id}.custom", "1"),
        (f"ch.{desk.mastodon.id}.text", custom),
        (f"ch.{desk.mastodon.id}.spoiler_text", "food"),
        (f"ch.{desk.bluesky.id}.first_comment", "More at acme.example"),
        ("link_title", "The spring menu"),
        ("utm_campaign", "spring"),
        ("labels", "launch, spring"),
        ("intent", "publish"),
        ("when", "now"),
    )
    assert response.status_code == 422
    text = text_of(response)
    assert "Nothing was saved" in text
    assert "Bluesky allows 300" in text
    # What was typed is all there again.
    assert long_text.strip() in text
    assert custom in text
    assert 'value="food"' in response.text
    assert "More at acme.example" in text
    assert 'value="The spring menu"' in response.text
    assert 'value="spring"' in response.text
    assert 'value="launch, spring"' in response.text
    for channel in (desk.bluesky, desk.mastodon):
        assert re.search(rf'value="{channel.id}"[^>]*checked', response.text)
    assert desk.posts() == []


def test_a_time_in_the_past_is_refused(desk: Desk) -> None:
    response = desk.submit(
        ("text", "Too late"),
        ("intent", "publish"),
        ("when", "at"),
        ("at_date", "2020-01-01"),
        ("at_time", "10:00"),
        ("timezone", "Europe/Paris"),
    )
    assert response.status_code == 422
    assert "past" in text_of(response)
    assert desk.posts() == []


def test_a_missing_date_is_refused_at_the_field(desk: Desk) -> None:
    response = desk.submit(("text", "When?"), ("intent", "publish"), ("when", "at"))
    assert response.status_code == 422
    assert "Give the date and the time to publish at." in text_of(response)


def test_no_channel_is_refused(desk: Desk) -> None:
    data = [("csrf_token", session_csrf(desk.client)), ("text", "x"), ("intent", "draft")]
    response = post_pairs(desk.client, desk.path, data)
    assert response.status_code == 422
    assert "Choose at least one channel." in text_of(response)


# -- the live check -----------------------------------------------------------------------


def test_the_check_answers_per_channel_counters_and_problems(desk: Desk) -> None:
    text = "x" * 320
    response = desk.check(("text", text))
    assert response.status_code == 200
    body = response.text
    for channel, limit in ((desk.bluesky, 300), (desk.mastodon, 500)):
        counter = re.search(rf'<span id="count-{channel.id}"[^>]*hx-swap-oob="true"', body)
        assert counter, f"no counter for {channel.network}"
        assert f'<div id="problems-{channel.id}"' in body
        assert re.search(rf"320</span><span class=\"counter-limit\">/{limit}<", body)
    assert "The text is 320 characters long; Bluesky allows 300" in text_of(response)
    assert "counter-over" in body
    assert 'id="summary"' in body
    assert 'id="schedule-note"' in body
    # The previews: one per channel, in each network's look.
    assert "pv-bluesky" in body
    assert "pv-mastodon" in body


def test_the_check_uses_the_channels_own_limit(
    desk: Desk, db: Database, settings: Settings
) -> None:
    small = connect(
        db, settings, desk.workspace, "mastodon", "tiny@small.town", extra={"max_characters": "50"}
    )
    response = desk.check(("text", "y" * 60), channels=(small,))
    assert re.search(r'60</span><span class="counter-limit">/50<', response.text)
    assert "Mastodon allows 50" in response.text


def test_the_check_reports_hashtags_mentions_and_thread_parts(
    desk: Desk, db: Database, settings: Settings
) -> None:
    instagram = connect(db, settings, desk.workspace, "instagram", "acme.coffee")
    allowed = InstagramConnector.text_rules.max_hashtags
    assert allowed is not None
    tags = " ".join(f"#tag{i}" for i in range(allowed + 1))
    response = desk.check(
        ("text", tags),
        (f"ch.{desk.bluesky.id}.thread", "second part"),
        (f"ch.{desk.bluesky.id}.thread", ""),
        channels=(desk.bluesky, instagram),
    )
    text = text_of(response)
    assert f"{allowed + 1} hashtags; Instagram allows at most {allowed}" in text
    assert "Instagram needs at least one image or video" in text
    assert "Thread part 3 is empty" in text
    # The thread shows in Bluesky's preview as further posts.
    assert response.text.count('class="pv-post') >= 3


def test_the_check_shows_the_time_in_each_channels_zone(
    desk: Desk, db: Database, settings: Settings
) -> None:
    ny = connect(
        db, settings, desk.workspace, "bluesky", "ny.bsky.social", timezone="America/New_York"
    )
    day = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    response = desk.check(
        ("text", "hello"),
        ("when", "at"),
        ("at_date", day),
        ("at_time", "18:00"),
        ("timezone", "Europe/Paris"),
        channels=(ny,),
    )
    text = text_of(response)
    assert "Goes out" in text
    assert "(Europe/Paris)" in text
    assert "in America/New_York, the time zone of ny.bsky.social" in text


def test_crop_hints_come_from_the_networks_aspect_rules(
    desk: Desk, db: Database, settings: Settings, tmp_path: Path
) -> None:
    threads = connect(db, settings, desk.workspace, "threads", "acme.coffee")
    banner = desk.image("banner.png", (3000, 200), tmp_path)
    response = desk.check(
        ("text", "Wide"), ("media.id", str(banner)), ("media.alt", "A banner"), channels=(threads,)
    )
    text = text_of(response)
    assert "Crop hint" in text
    assert "Crop hint for Threads" in text
    assert "crop to 10:1" in text


def test_link_cards_use_the_typed_title_and_never_fetch(desk: Desk) -> None:
    response = desk.check(
        ("text", "Read it: https://acmecoffee.com/menu"),
        ("link_title", "Our spring menu"),
        ("link_description", "Lavender latte and more"),
        channels=(desk.bluesky,),
    )
    assert "pv-card" in response.text
    assert "Our spring menu" in response.text
    assert "acmecoffee.com" in response.text


# -- UTM --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://a.com", "https://a.com?utm_source=x&utm_medium=social"),
        ("https://a.com/p?q=1", "https://a.com/p?q=1&utm_source=x&utm_medium=social"),
        ("https://a.com/p#top", "https://a.com/p?utm_source=x&utm_medium=social#top"),
        ("https://a.com/?utm_source=kept", "https://a.com/?utm_source=kept&utm_medium=social"),
        ("a.com/path", "a.com/path?utm_source=x&utm_medium=social"),
        ("https://a.com/?", "https://a.com/?utm_source=x&utm_medium=social"),
    ],
)
def test_with_utm(url: str, expected: str) -> None:
    assert with_utm(url, {"utm_source": "x", "utm_medium": "social"}) == expected


def test_tag_links_leaves_the_rest_of_the_text_alone() -> None:
    text = "See https://a.com and b.org/x, or mail me@c.com. #tag"
    assert tag_links(text, {"utm_medium": "social"}) == (
        "See https://a.com?utm_medium=social and b.org/x?utm_medium=social, or mail me@c.com. #tag"
    )
    assert tag_links(text, {}) == text


def test_utm_parameters_are_added_to_every_channels_links_on_save(desk: Desk) -> None:
    response = desk.submit(
        ("text", "New menu: https://acmecoffee.com/menu?lang=en"),
        (f"ch.{desk.bluesky.id}.first_comment", "Also https://acmecoffee.com/shop"),
        ("utm_source", "{network}"),
        ("utm_medium", "social"),
        ("utm_campaign", "spring"),
        ("intent", "draft"),
    )
    assert response.status_code == 303, text_of(response)
    [post] = desk.posts()
    assert post.text == "New menu: https://acmecoffee.com/menu?lang=en"  # as written
    by_network = {d.channel.network: d for d in post.deliveries}
    for network, delivery in by_network.items():
        assert delivery.text == (
            "New menu: https://acmecoffee.com/menu?lang=en"
            f"&utm_source={network}&utm_medium=social&utm_campaign=spring"
        )
    assert by_network["bluesky"].options["first_comment"] == (
        "Also https://acmecoffee.com/shop?utm_source=bluesky&utm_medium=social&utm_campaign=spring"
    )


def test_utm_tags_count_towards_the_limit(desk: Desk) -> None:
    text = "a" * 270 + " https://acmecoffee.com"
    untagged = desk.check(("text", text), channels=(desk.bluesky,))
    assert "counter-over" not in untagged.text
    tagged = desk.check(
        ("text", text), ("utm_campaign", "spring-2026-launch"), channels=(desk.bluesky,)
    )
    assert "counter-over" in tagged.text


# -- per-channel content ----------------------------------------------------------------------


def test_each_channel_gets_its_own_copy_and_options(desk: Desk) -> None:
    mid, bid = desk.mastodon.id, desk.bluesky.id
    response = desk.submit(
        ("text", "Shared text"),
        (f"ch.{mid}.custom", "1"),
        (f"ch.{mid}.text", "Mastodon's own text"),
        (f"ch.{mid}.thread", "Second toot"),
        (f"ch.{mid}.visibility", "unlisted"),
        (f"ch.{mid}.spoiler_text", "menu talk"),
        (f"ch.{mid}.poll_option", "Latte"),
        (f"ch.{mid}.poll_option", "Mocha"),
        (f"ch.{mid}.poll_option", ""),
        (f"ch.{mid}.poll_minutes", "60"),
        (f"ch.{bid}.custom", ""),
        (f"ch.{bid}.text", "ignored: not customised"),
        (f"ch.{bid}.first_comment", "First!"),
        ("intent", "draft"),
    )
    assert response.status_code == 303, text_of(response)
    [post] = desk.posts()
    by_network = {d.channel.network: d for d in post.deliveries}
    mastodon, bluesky = by_network["mastodon"], by_network["bluesky"]
    assert mastodon.text == "Mastodon's own text"
    assert mastodon.options == {
        "thread": ["Second toot"],
        "visibility": "unlisted",
        "spoiler_text": "menu talk",
        "poll": {
            "options": ["Latte", "Mocha"],
            "expires_in": 3600,
            "duration_minutes": 60,
            "multiple": False,
        },
    }
    assert bluesky.text == "Shared text"
    assert bluesky.options == {"first_comment": "First!"}


def test_split_into_thread_fits_each_part(desk: Desk) -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    response = desk.client.post(
        f"{desk.path}/split",
        data={
            "csrf_token": session_csrf(desk.client),
            "channel_id": str(desk.bluesky.id),
            "text": text,
            "numbering": "1",
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    parts = response.json()["parts"]
    assert len(parts) > 1
    assert all(len(part) <= 300 for part in parts)
    assert parts[-1].endswith(f"{len(parts)}/{len(parts)}")


def test_split_refuses_networks_without_threads(
    desk: Desk, db: Database, settings: Settings
) -> None:
    linkedin = connect(db, settings, desk.workspace, "linkedin", "acme")
    response = desk.client.post(
        f"{desk.path}/split",
        data={"csrf_token": session_csrf(desk.client), "channel_id": str(linkedin.id), "text": "x"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    assert "LinkedIn has no threads" in response.json()["error"]["message"]


# -- media ------------------------------------------------------------------------------------


def test_media_in_order_with_alt_text(desk: Desk, tmp_path: Path) -> None:
    first = desk.image("latte.jpg", (1200, 900), tmp_path)
    second = desk.image("beans.jpg", (1080, 1350), tmp_path)
    response = desk.submit(
        ("text", "Two photos"),
        ("media.id", str(second)),
        ("media.alt", "A bag of beans"),
        ("media.id", str(first)),
        ("media.alt", "A latte with a leaf"),
        ("intent", "publish"),
        ("when", "now"),
    )
    assert response.status_code == 303, text_of(response)
    [post] = desk.posts()
    for delivery in post.deliveries:
        assert [(m.asset_id, m.alt_text) for m in delivery.media] == [
            (second, "A bag of beans"),
            (first, "A latte with a leaf"),
        ]


def test_missing_alt_text_is_a_warning_in_the_check(desk: Desk, tmp_path: Path) -> None:
    photo = desk.image("latte.jpg", (1200, 900), tmp_path)
    response = desk.check(("text", "x"), ("media.id", str(photo)), ("media.alt", ""))
    assert "Latte.jpg has no alt text" in text_of(response)
    assert "problem-warning" in response.text


def test_media_files_and_the_library_are_the_workspaces_own(
    desk: Desk, db: Database, settings: Settings, tmp_path: Path
) -> None:
    photo = desk.image("latte.jpg", (40, 30), tmp_path)
    file = desk.client.get(f"{desk.path}/media/{photo}")
    assert file.status_code == 200
    assert file.headers["content-type"] == "image/jpeg"
    library = desk.client.get(f"{desk.path}/library", headers={"HX-Request": "true"})
    assert "latte.jpg" in library.text
    assert f"/compose/media/{photo}" in library.text
    # Another workspace's file is not there, even by its id.
    eve = make_user(db, "eve@example.com")
    other = make_workspace(db, eve, name="Elsewhere")
    path = tmp_path / "secret.png"
    Image.new("RGB", (10, 10), "red").save(path)
    with db.transaction(workspace_id=other.id) as session:
        secret = store_file(
            session,
            settings=settings,
            workspace_id=other.id,
            source=path,
            filename="secret.png",
            actor=Actor.cli(),
        ).id
    assert desk.client.get(f"{desk.path}/media/{secret}").status_code == 404
    check = desk.check(("text", "x"), ("media.id", str(secret)), ("media.alt", ""))
    assert "secret.png" not in check.text


def test_saving_with_someone_elses_channel_id_is_refused(
    desk: Desk, db: Database, settings: Settings
) -> None:
    eve = make_user(db, "eve@example.com")
    other = make_workspace(db, eve, name="Elsewhere")
    foreign = connect(db, settings, other, "bluesky", "eve.bsky.social")
    response = desk.submit(("text", "x"), ("intent", "draft"), channels=(foreign,))
    assert response.status_code == 422
    assert desk.posts() == []


def test_the_page_preselects_a_channel(desk: Desk) -> None:
    response = desk.client.get(f"{desk.path}?channel={desk.mastodon.id}")
    assert re.search(rf'value="{desk.mastodon.id}"[^>]*checked', response.text)
    assert not re.search(rf'value="{desk.bluesky.id}"[^>]*checked', response.text)


def test_recurring_schedule(desk: Desk) -> None:
    day = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    response = desk.submit(
        ("text", "Every week"),
        ("intent", "publish"),
        ("when", "at"),
        ("at_date", day),
        ("at_time", "08:00"),
        ("timezone", "Europe/Paris"),
        ("repeat", "weekly"),
        channels=(desk.bluesky,),
    )
    assert response.status_code == 303, text_of(response)
    parents = [p for p in desk.posts() if p.recurrence_parent_id is None]
    assert [p.recurrence_rule for p in parents] == ["FREQ=WEEKLY"]
    assert "then every week" in text_of(desk.client.get(desk.path))


def test_deliveries_point_at_the_chosen_channels(desk: Desk) -> None:
    desk.submit(("text", "only one"), ("intent", "draft"), channels=(desk.mastodon,))
    with desk.db.transaction(workspace_id=desk.workspace.id) as session:
        channel_ids = list(session.scalars(select(Delivery.channel_id)))
    assert channel_ids == [desk.mastodon.id]


# -- the form's meaning, without a server -----------------------------------------------------


def test_parse_form_keeps_order_and_ignores_junk() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    form = parse_form(
        [
            ("channels", str(b)),
            ("channels", "not-a-uuid"),
            ("channels", str(a)),
            ("channels", str(b)),
            ("media.id", str(c)),
            ("media.alt", "  described  "),
            ("media.id", "junk"),
            ("media.alt", "ignored"),
            (f"ch.{a}.thread", "two"),
            (f"ch.{a}.thread", "three"),
            (f"ch.{a}.poll_minutes", "soon"),
            ("text", "Line one\r\nLine two"),
        ],
        default_timezone="Europe/Paris",
    )
    assert form.channel_ids == [b, a]
    assert [(m.asset_id, m.alt_text) for m in form.media] == [(c, "described")]
    assert form.fields_of(a).thread == ["two", "three"]
    assert form.fields_of(a).poll_minutes == 1440
    assert form.text == "Line one\nLine two"
    assert form.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("fields", "when", "rule"),
    [
        ({"intent": "draft", "when": "now", "repeat": "weekly"}, "draft", None),
        ({"intent": "publish", "when": "now", "repeat": "weekly"}, "now", None),
        ({"intent": "publish", "when": "queue", "repeat": "daily"}, "queue", None),
        (
            {"intent": "publish", "when": "at", "repeat": "monthly", "at_date": "2031-05-02"},
            "at",
            "FREQ=MONTHLY",
        ),
    ],
)
def test_build_draft_repeats_only_at_a_chosen_time(
    fields: dict[str, str], when: str, rule: str | None
) -> None:
    form = parse_form([*fields.items(), ("at_time", "09:00")], default_timezone="UTC")
    draft = build_draft(form, {})
    assert (draft.when, draft.recurrence) == (when, rule)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"when": "at", "at_date": "2031-05-02", "at_time": ""}, "at", "date and the time"),
        ({"when": "at", "at_date": "2031-13-02", "at_time": "09:00"}, "at", "date and the time"),
        ({"when": "now", "timezone": "Mars/Olympus"}, "timezone", "not a known time zone"),
        ({"when": "sometime"}, None, "choose when to publish"),
        ({"when": "now", "utm_source": "x" * 101}, "utm_source", "longer than 100"),
    ],
)
def test_build_draft_refuses_bad_input(
    fields: dict[str, str], field: str | None, message: str
) -> None:
    form = parse_form([("intent", "publish"), *fields.items()], default_timezone="UTC")
    with pytest.raises(ValidationError) as caught:
        build_draft(form, {})
    assert caught.value.field == field
    assert message in caught.value.message


# -- templates, hashtag groups, approval ------------------------------------------------------


def _owner_access(desk: Desk, session: Any) -> Any:
    from socialdesk.accounts.workspaces import access_for

    user = session.scalars(select(User).where(User.email == "ana@example.com")).one()
    return access_for(session, user=user, workspace_id=desk.workspace.id)


def test_saved_templates_and_hashtag_groups_are_offered_and_filled_by_the_server(
    desk: Desk,
) -> None:
    from socialdesk.publishing import templates

    with desk.db.transaction(workspace_id=desk.workspace.id) as session:
        access = _owner_access(desk, session)
        template = templates.create_template(
            session, access=access, actor=Actor.cli(), name="Opening", text="Now open in {city}!"
        )
        templates.create_hashtag_group(
            session, access=access, actor=Actor.cli(), name="Coffee", hashtags="#coffee #latte"
        )
        template_id = template.id
    page = text_of(desk.client.get(desk.path))
    assert "Opening" in page
    assert "Coffee" in page
    assert "#coffee #latte" in page
    url = f"{desk.path}/templates/{template_id}"
    token = {"X-CSRF-Token": session_csrf(desk.client)}
    filled = desk.client.post(url, data={"value.city": "Lyon"}, headers=token)
    assert filled.status_code == 200
    assert filled.json() == {"text": "Now open in Lyon!"}
    missing = desk.client.post(url, data={}, headers={**token, "Accept": "application/json"})
    assert missing.status_code == 422
    assert "{city}" in missing.text
    typo = desk.client.post(url, data={"value.cty": "Lyon"}, headers=token)
    assert typo.status_code == 422


def test_a_template_of_another_workspace_is_not_found(desk: Desk, db: Database) -> None:
    from socialdesk.accounts.workspaces import access_for
    from socialdesk.publishing import templates

    eve = make_user(db, "eve@example.com")
    other = make_workspace(db, eve, name="Elsewhere")
    with db.transaction(workspace_id=other.id) as session:
        user = session.scalars(select(User).where(User.email == "eve@example.com")).one()
        access = access_for(session, user=user, workspace_id=other.id)
        theirs = templates.create_template(
            session, access=access, actor=Actor.cli(), name="Secret", text="secret plan"
        )
        theirs_id = theirs.id
    response = desk.client.post(
        f"{desk.path}/templates/{theirs_id}",
        data={},
        headers={"X-CSRF-Token": session_csrf(desk.client)},
    )
    assert response.status_code == 404
    assert "secret plan" not in response.text


def test_when_posts_need_approval_the_composer_sends_them_for_approval(
    desk: Desk, new_client: Callable[[], TestClient], db: Database
) -> None:
    from socialdesk.publishing import approvals

    with db.transaction(workspace_id=desk.workspace.id) as session:
        approvals.set_approval_mode(
            session,
            access=_owner_access(desk, session),
            actor=Actor.cli(),
            mode="roles",
            roles=["manager"],
        )
    mia = make_user(db, "mia@example.com")
    add_member(db, desk.workspace, mia, Role.MANAGER)
    browser = new_client()
    sign_in(browser, "mia@example.com")
    page = text_of(browser.get(desk.path))
    assert "Send for approval" in page
    saved = post_pairs(
        browser,
        desk.path,
        [
            ("csrf_token", session_csrf(browser)),
            ("channels", str(desk.bluesky.id)),
            ("text", "Please check"),
            ("intent", "publish"),
            ("when", "now"),
        ],
    )
    assert saved.status_code == 303
    [post] = desk.posts()
    assert post.status == "in_review"
    assert all(d.job_id is None for d in post.deliveries)  # nothing goes out before approval
    assert "Sent for approval" in text_of(browser.get(desk.path))
    # The owner's own posts do not need approval in this mode.
    assert "Send for approval" not in text_of(desk.client.get(desk.path))


def test_edit_a_scheduled_post_in_the_composer(desk: Desk) -> None:
    desk.submit(
        ("text", "Spring menu"),
        ("intent", "publish"),
        ("when", "at"),
        ("at_date", (dt.date.today() + dt.timedelta(days=3)).isoformat()),
        ("at_time", "09:30"),
        ("timezone", "Europe/Paris"),
    )
    [post] = desk.posts()
    page = desk.client.get(f"/w/{desk.workspace.id}/calendar/posts/{post.id}")
    edit_url = f"{desk.path}?post={post.id}"
    assert edit_url in page.text
    form = text_of(desk.client.get(edit_url))
    assert "Edit post" in form
    assert "Spring menu" in form
    assert "09:30" in desk.client.get(edit_url).text
    new_day = (dt.date.today() + dt.timedelta(days=4)).isoformat()
    saved = desk.submit(
        ("post_id", str(post.id)),
        ("text", "Summer menu"),
        ("intent", "publish"),
        ("when", "at"),
        ("at_date", new_day),
        ("at_time", "10:00"),
        ("timezone", "Europe/Paris"),
        channels=(desk.mastodon,),
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith(f"/calendar/posts/{post.id}")
    [edited] = desk.posts()
    assert edited.id == post.id
    assert edited.text == "Summer menu"
    assert [d.channel.network for d in edited.deliveries] == ["mastodon"]
    assert edited.scheduled_at == to_utc(
        dt.datetime.fromisoformat(f"{new_day}T10:00"), "Europe/Paris"
    )


def test_a_bad_edit_keeps_the_post_and_says_why(desk: Desk) -> None:
    desk.submit(("text", "Keep me"), ("intent", "draft"))
    [post] = desk.posts()
    refused = desk.submit(
        ("post_id", str(post.id)),
        ("text", "x" * 400),
        ("intent", "publish"),
        ("when", "now"),
    )
    assert refused.status_code == 422
    assert "Nothing was saved" in text_of(refused)
    assert "Edit post" in text_of(refused)
    [same] = desk.posts()
    assert same.text == "Keep me"
    assert same.status == "draft"


def test_the_composer_starts_with_media_from_the_library(desk: Desk, tmp_path: Path) -> None:
    asset_id = desk.image("menu.jpg", (1200, 800), tmp_path)
    page = desk.client.get(f"{desk.path}?media={asset_id}")
    assert page.status_code == 200
    assert str(asset_id) in page.text
