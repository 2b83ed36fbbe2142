# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Channels page, the consent-page flow through the browser, and public media URLs."""

from __future__ import annotations

import html
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import AccountInfo, Credentials
from socialdesk.media import public_urls
from socialdesk.publishing import channels
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, OAuthState, QueueSlot, VaultSecret, Workspace
from socialdesk.web.app import create_app
from tests.publishing.oauth_fakes import Networks, past
from tests.web.ui.conftest import BASE_URL
from tests.web.ui.helpers import (
    add_member,
    follow,
    make_user,
    make_workspace,
    post_form,
    sign_in,
    text_of,
)

_AUTHORIZE = re.compile(r'href="([^"]+)" data-authorize-url')


@pytest.fixture
def nets() -> Networks:
    return Networks(base_url=BASE_URL)


@pytest.fixture
def settings_overrides(nets: Networks) -> dict[str, object]:
    return nets.settings()


@pytest.fixture
def app(settings: Settings, db: Database, nets: Networks) -> Iterator[FastAPI]:
    application = create_app(settings, db=db)
    runtime = NetworkRuntime(transport_factory=nets.transport)
    application.state.network = runtime
    yield application
    runtime.close()


@pytest.fixture
def ana_workspace(db: Database) -> Workspace:
    return make_workspace(db, make_user(db, "ana@example.com", name="Ana"))


def add_channel(
    app: FastAPI,
    db: Database,
    workspace: Workspace,
    *,
    network: str = "mastodon",
    handle: str = "alice@mastodon.example",
    status: str = "active",
    reason: str | None = None,
) -> Channel:
    """A channel as a finished connection leaves it (no network needed)."""
    vault: Vault = app.state.vault
    with db.transaction(workspace_id=workspace.id) as session:
        channel = channels.save_connected_channel(
            session,
            vault=vault,
            workspace_id=workspace.id,
            network=network,
            base_url="https://mastodon.example",
            account=AccountInfo(external_id=uuid.uuid4().hex, handle=handle, display_name=""),
            credentials=Credentials(access_token="secret-token"),
            actor=Actor.cli(),
        )
        channel.status = status
        channel.status_reason = reason
    return channel


def channel_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Channel)) or 0)


def start(client: TestClient, workspace: Workspace, network: str, **form: str) -> str:
    """Press "Connect" and read where the forwarding page sends the browser."""
    response = post_form(client, f"/w/{workspace.id}/channels/connect/{network}", form)
    assert response.status_code == 200, text_of(response)
    assert response.headers["cache-control"] == "no-store"
    found = _AUTHORIZE.search(response.text)
    assert found, response.text[:500]
    url = html.unescape(found.group(1))
    assert f'content="0;url={found.group(1)}"' in response.text  # forwarded at once
    return url


def callback(client: TestClient, network: str, answer: dict[str, str]) -> str:
    response = client.get(f"/oauth/callback/{network}", params=answer)
    assert response.status_code == 303, text_of(response)
    location: str = response.headers["location"]
    return location


# -- connecting through the browser -----------------------------------------------------------


def test_owner_connects_mastodon_through_the_consent_page(
    client: TestClient, db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{ana_workspace.id}/channels")
    assert page.status_code == 200
    assert "No channel yet" in text_of(page)
    assert "Continue to your instance" in text_of(page)

    url = start(client, ana_workspace, "mastodon", instance_url="mastodon.example")
    assert url.startswith("https://mastodon.example/oauth/authorize?")
    location = callback(client, "mastodon", nets.consent(url))
    assert location == f"/w/{ana_workspace.id}/channels"
    text = text_of(client.get(location))
    assert "Connected Alice (Mastodon)." in text
    assert "@alice@mastodon.example" in text
    assert "Active" in text
    assert channel_count(db) == 1


def test_a_bad_instance_address_is_shown_on_the_form(
    client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    sign_in(client, "ana@example.com")
    response = post_form(
        client, f"/w/{ana_workspace.id}/channels/connect/mastodon", {"instance_url": "a b"}
    )
    assert response.status_code == 422
    assert "is not an instance address" in text_of(response)
    assert 'value="a b"' in response.text
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_a_declined_consent_is_explained_and_changes_nothing(
    client: TestClient, db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    nets.x.consent_user = None
    sign_in(client, "ana@example.com")
    answer = nets.consent(start(client, ana_workspace, "x"))
    assert answer["error"] == "access_denied"
    location = callback(client, "x", answer)
    assert location == f"/w/{ana_workspace.id}/channels"
    assert "X was not connected: the permission was not given" in text_of(client.get(location))
    assert channel_count(db) == 0
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(VaultSecret)) == 0


def test_an_expired_flow_says_to_start_again(
    client: TestClient, db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    sign_in(client, "ana@example.com")
    answer = nets.consent(start(client, ana_workspace, "x"))
    with db.transaction() as session:
        session.execute(update(OAuthState).values(expires_at=past()))
    location = callback(client, "x", answer)
    assert location == f"/w/{ana_workspace.id}/channels"
    assert "The connection took too long; start again." in text_of(client.get(location))
    assert channel_count(db) == 0


def test_a_colleague_cannot_finish_my_flow(
    new_client: Callable[[], TestClient], db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    ana, bo = new_client(), new_client()
    add_member(db, ana_workspace, make_user(db, "bo@example.com"), Role.ADMIN)
    sign_in(ana, "ana@example.com")
    sign_in(bo, "bo@example.com")
    answer = nets.consent(start(ana, ana_workspace, "x"))

    location = callback(bo, "x", answer)
    assert location == "/"
    assert "started by someone else" in text_of(bo.get(location))
    assert channel_count(db) == 0
    assert callback(ana, "x", answer) == f"/w/{ana_workspace.id}/channels"
    assert channel_count(db) == 1


def test_facebook_pages_are_chosen_in_the_browser(
    client: TestClient, db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    other = nets.add_page("Other Client")
    sign_in(client, "ana@example.com")
    fb = nets.facebook
    answer = nets.meta_consent(start(client, ana_workspace, "facebook"), fb, fb.user_id)
    location = callback(client, "facebook", answer)
    assert location == f"/w/{ana_workspace.id}/channels/choose"
    assert "channel_choice" not in location  # the token stays in the session
    choose = client.get(location)
    assert choose.status_code == 200
    text = text_of(choose)
    assert "Acme Bakery" in text
    assert "Other Client" in text

    nothing = post_form(client, location, {})
    assert nothing.headers["location"] == location  # the choice is still there
    assert "Tick at least one account" in text_of(client.get(location))
    done = post_form(client, location, {"accounts": other.id})
    assert done.status_code == 303
    assert "Connected Other Client (Facebook)." in text_of(follow(client, done))
    with db.transaction() as session:
        assert session.scalars(select(Channel.external_id)).all() == [other.id]
    # Used up: the page now sends the browser back with a message.
    assert client.get(location).headers["location"] == f"/w/{ana_workspace.id}/channels"


def test_a_choice_can_be_cancelled(
    client: TestClient, db: Database, nets: Networks, ana_workspace: Workspace
) -> None:
    nets.add_page("Other Client")
    sign_in(client, "ana@example.com")
    fb = nets.facebook
    answer = nets.meta_consent(start(client, ana_workspace, "facebook"), fb, fb.user_id)
    callback(client, "facebook", answer)
    cancelled = post_form(client, f"/w/{ana_workspace.id}/channels/choose/cancel")
    assert "Nothing was connected." in text_of(follow(client, cancelled))
    assert channel_count(db) == 0
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_bluesky_form_refuses_what_cannot_work(
    client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    sign_in(client, "ana@example.com")
    path = f"/w/{ana_workspace.id}/channels/password/bluesky"
    empty = post_form(client, path, {"handle": "", "app_password": "abcd-efgh-ijkl-mnop"})
    assert empty.status_code == 422
    assert "Enter your handle" in text_of(empty)
    unreachable = post_form(
        client,
        path,
        {"handle": "ana.test", "app_password": "abcd-efgh", "service_url": "https://pds.invalid"},
    )
    assert unreachable.status_code == 422
    text = text_of(unreachable)
    assert "Bluesky did not accept this handle and app password" in text
    assert "abcd-efgh" not in unreachable.text  # the password is never shown back
    assert 'value="ana.test"' in unreachable.text
    assert channel_count(db) == 0


# -- the page and its health --------------------------------------------------------------


def test_the_page_shows_health_queue_and_reconnect(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    healthy = add_channel(app, db, ana_workspace, handle="alice@mastodon.example")
    with db.transaction(workspace_id=ana_workspace.id) as session:
        for weekday in range(5):
            session.add(
                QueueSlot(
                    workspace_id=ana_workspace.id,
                    channel_id=healthy.id,
                    weekday=weekday,
                    local_time="09:30",
                )
            )
    sign_in(client, "ana@example.com")
    members = text_of(client.get(f"/w/{ana_workspace.id}/members"))
    assert "need reconnecting" not in members
    assert "needs reconnecting" not in members

    broken = add_channel(
        app,
        db,
        ana_workspace,
        network="x",
        handle="acme",
        status="needs_reconnect",
        reason="X no longer accepts this channel's access",
    )
    add_channel(app, db, ana_workspace, handle="old@mastodon.example", status="disconnected")
    response = client.get(f"/w/{ana_workspace.id}/channels")
    text = text_of(response)
    assert "Needs reconnect" in text
    assert "X no longer accepts this channel's access." in text
    assert "Disconnected" in text
    assert "Active" in text
    assert "5 a week · Mon\u2013Fri 09:30" in text
    assert "No posting times" in text
    assert f'action="/w/{ana_workspace.id}/channels/connect/x"' in response.text
    assert f'action="/w/{ana_workspace.id}/channels/{broken.id}/disconnect"' in response.text
    # The channel needing care comes first.
    assert text.index("@acme") < text.index("@alice@mastodon.example")

    # Every workspace page says so, with the way to fix it.
    for page in ("members", "settings", "channels"):
        shown = client.get(f"/w/{ana_workspace.id}/{page}")
        assert "1 channel needs reconnecting" in text_of(shown)
        assert f'href="/w/{ana_workspace.id}/channels">Reconnect' in shown.text


def test_the_banner_is_only_about_the_current_workspace(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    ana = make_user(db, "zed@example.com")
    mine = make_workspace(db, ana, "Zed's")
    add_channel(app, db, ana_workspace, status="needs_reconnect", reason="revoked")
    add_member(db, ana_workspace, ana, Role.ANALYST)
    sign_in(client, "zed@example.com")
    assert "needs reconnecting" not in text_of(client.get(f"/w/{mine.id}/settings"))
    assert "needs reconnecting" in text_of(client.get(f"/w/{ana_workspace.id}/settings"))


def test_reconnecting_an_app_password_channel_fills_in_its_form(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    channel = add_channel(
        app, db, ana_workspace, network="bluesky", handle="ana.bsky.social", status="disconnected"
    )
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{ana_workspace.id}/channels")
    assert f'href="?reconnect={channel.id}#connect-bluesky"' in page.text
    filled = client.get(f"/w/{ana_workspace.id}/channels", params={"reconnect": str(channel.id)})
    assert 'value="ana.bsky.social"' in filled.text


def test_disconnecting_keeps_the_channel_visible(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    channel = add_channel(app, db, ana_workspace)
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{ana_workspace.id}/channels")
    assert "data-confirm=" in page.text
    done = post_form(client, f"/w/{ana_workspace.id}/channels/{channel.id}/disconnect")
    text = text_of(follow(client, done))
    assert "is disconnected" in text
    assert "Disconnected" in text
    with db.transaction() as session:
        assert session.get_one(Channel, channel.id).status == "disconnected"


def test_an_approver_sees_no_channels(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    """An approver (often the client) sees what was sent to them, not the accounts."""
    add_channel(app, db, ana_workspace)
    add_member(db, ana_workspace, make_user(db, "bo@example.com"), Role.APPROVER)
    sign_in(client, "bo@example.com")
    assert client.get(f"/w/{ana_workspace.id}/channels").status_code == 403
    approvals = client.get(f"/w/{ana_workspace.id}/approvals")
    assert approvals.status_code == 200
    assert f'href="/w/{ana_workspace.id}/channels"' not in approvals.text
    assert "@alice@mastodon.example" not in approvals.text


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MANAGER])
def test_readers_see_channels_but_only_managers_connect(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace, role: Role
) -> None:
    channel = add_channel(app, db, ana_workspace)
    add_member(db, ana_workspace, make_user(db, "bo@example.com"), role)
    sign_in(client, "bo@example.com")
    page = client.get(f"/w/{ana_workspace.id}/channels")
    assert page.status_code == 200
    text = text_of(page)
    assert "@alice@mastodon.example" in text
    assert "Only owners and admins can connect or disconnect channels." in text
    assert "/disconnect" not in page.text
    assert f'href="/w/{ana_workspace.id}/channels"' in page.text  # in the sidebar
    for path, form in (
        ("/channels/connect/x", {}),
        ("/channels/connect/mastodon", {"instance_url": "mastodon.example"}),
        ("/channels/password/bluesky", {"handle": "a", "app_password": "b"}),
        (f"/channels/{channel.id}/disconnect", {}),
        ("/channels/choose/cancel", {}),
    ):
        assert post_form(client, f"/w/{ana_workspace.id}{path}", form).status_code == 403
    with db.transaction() as session:
        assert session.get_one(Channel, channel.id).status == "active"
        assert session.scalar(select(func.count()).select_from(OAuthState)) == 0


def test_networks_without_their_app_say_which_settings_to_set(
    db: Database, tmp_path: Path, database_url: str, ana_workspace: Workspace
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "bare", secret_key="x" * 40, database_url=database_url
    )
    app = create_app(settings, db=db)
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as bare:
        sign_in(bare, "ana@example.com")
        page = bare.get(f"/w/{ana_workspace.id}/channels")
        # Long variable names may break after an underscore (<wbr>), not mid-word.
        assert "SOCIALDESK_<wbr>X_<wbr>CLIENT_<wbr>ID" in page.text
        text = text_of(page).replace("_ ", "_")
        assert "Not configured: set SOCIALDESK_X_CLIENT_ID on the server." in text
        assert "set SOCIALDESK_META_APP_ID and SOCIALDESK_META_APP_SECRET on the server" in text
        assert "Connect X" not in text
        assert "Continue to your instance" in text  # Mastodon needs no app
        refused = post_form(bare, f"/w/{ana_workspace.id}/channels/connect/x")
        assert refused.status_code == 422
        assert "X is not configured: set SOCIALDESK_X_CLIENT_ID" in text_of(refused)


def test_channels_of_another_workspace_are_not_found(
    app: FastAPI, client: TestClient, db: Database, ana_workspace: Workspace
) -> None:
    theirs = add_channel(app, db, ana_workspace)
    mallory = make_user(db, "mallory@example.com")
    mine = make_workspace(db, mallory, "Mallory's")
    sign_in(client, "mallory@example.com")
    assert client.get(f"/w/{ana_workspace.id}/channels").status_code == 404
    assert client.get(f"/w/{ana_workspace.id}/channels/choose").status_code == 404
    for workspace_id in (ana_workspace.id, mine.id):
        response = post_form(client, f"/w/{workspace_id}/channels/{theirs.id}/disconnect")
        assert response.status_code == 404
    assert post_form(client, f"/w/{ana_workspace.id}/channels/connect/x").status_code == 404
    own = client.get(f"/w/{mine.id}/channels", params={"reconnect": str(theirs.id)})
    assert own.status_code == 404
    assert "alice@mastodon.example" not in own.text
    with db.transaction() as session:
        assert session.get_one(Channel, theirs.id).status == "active"


# -- public media URLs -------------------------------------------------------------------------


@pytest.fixture
def stored_file(settings: Settings) -> str:
    relative = f"{uuid.uuid4()}/ab/{'ab' * 32}.jpg"
    target = settings.media_dir / relative
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    return relative


def test_a_signed_media_url_serves_the_file_without_sign_in(
    client: TestClient, settings: Settings, stored_file: str
) -> None:
    path = public_urls.signed_path(settings, relative=stored_file)
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == b"\xff\xd8\xff\xe0 a jpeg"
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert "set-cookie" not in response.headers
    assert client.head(path).status_code == 200


def test_an_expired_media_url_is_gone(
    client: TestClient, settings: Settings, stored_file: str
) -> None:
    path = public_urls.signed_path(
        settings, relative=stored_file, now=time.time() - 2 * public_urls.URL_SECONDS
    )
    assert client.get(path).status_code == 410


@pytest.mark.parametrize("tamper", ["signature", "path", "expiry", "traversal"])
def test_a_tampered_media_url_finds_nothing(
    client: TestClient, settings: Settings, stored_file: str, tamper: str
) -> None:
    _, prefix, expires, sig, relative = public_urls.signed_path(
        settings, relative=stored_file
    ).split("/", 4)
    if tamper == "signature":
        sig = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
    elif tamper == "path":
        relative = relative.replace(".jpg", ".png")
    elif tamper == "expiry":
        expires = str(int(expires) + 1)
    else:
        relative = quote("../secret.key", safe="")
    response = client.get(f"/{prefix}/{expires}/{sig}/{relative}")
    assert response.status_code == 404
    assert b"jpeg" not in response.content
