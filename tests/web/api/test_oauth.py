# SPDX-License-Identifier: AGPL-3.0-or-later
"""``POST /api/v1/workspaces/{id}/channels/oauth/{network}``, finished by the browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from socialdesk.accounts.roles import Role
from socialdesk.config import Settings, load_settings
from socialdesk.publishing.oauth import OAUTH_NETWORKS
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, OAuthState
from socialdesk.web.app import create_app
from tests.publishing.oauth_fakes import Networks
from tests.web.api.helpers import browser_cookie, make_person

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def nets() -> Networks:
    return Networks(base_url=BASE_URL)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, nets: Networks) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="s" * 48,
        base_url=BASE_URL,
        **nets.settings(),
    )


@pytest.fixture
def client(settings: Settings, db: Database, nets: Networks) -> Iterator[TestClient]:
    app = create_app(settings, db=db)
    runtime = NetworkRuntime(transport_factory=nets.transport)
    app.state.network = runtime
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as test_client:
        yield test_client
    runtime.close()


def _count(db: Database, model: type[object]) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_an_api_client_starts_and_the_browser_finishes(
    client: TestClient, db: Database, settings: Settings, nets: Networks
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth/x", headers=ana.bearer
    )
    assert response.status_code == 200, response.text
    url = response.json()["authorize_url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith("http://x.test/i/oauth2/authorize?")
    assert query["redirect_uri"] == [f"{BASE_URL}/oauth/callback/x"]
    assert query["code_challenge_method"] == ["S256"]
    with db.transaction() as session:
        stored = session.scalars(select(OAuthState)).one()
    assert stored.user_id == ana.user.id
    assert query["state"][0] not in stored.state_hash

    # The person opens it in a browser signed in as the same user.
    client.cookies.update(browser_cookie(settings, ana.user))
    back = client.get("/oauth/callback/x", params=nets.consent(url))
    assert back.status_code == 303
    assert back.headers["location"] == f"/w/{ana.workspace.id}/channels"
    listed = client.get(f"/api/v1/workspaces/{ana.workspace.id}/channels", headers=ana.bearer)
    assert [(c["network"], c["handle"], c["status"]) for c in listed.json()] == [
        ("x", "ana", "active")
    ]
    assert "token" not in listed.text.lower().replace("status", "")


def test_mastodon_needs_its_instance(client: TestClient, db: Database, nets: Networks) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    path = f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth/mastodon"
    missing = client.post(path, headers=ana.bearer)
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "instance_url"
    started = client.post(path, headers=ana.bearer, json={"instance_url": "mastodon.example"})
    assert started.status_code == 200
    assert started.json()["authorize_url"].startswith("https://mastodon.example/oauth/authorize")
    assert len(nets.mastodon.apps) == 1


def test_unknown_fields_and_networks_are_refused(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth"
    extra = client.post(f"{base}/x", headers=ana.bearer, json={"client_secret": "x"})
    assert extra.status_code == 422
    for network in ("bluesky", "myspace"):
        assert client.post(f"{base}/{network}", headers=ana.bearer).status_code in (404, 405)
    assert _count(db, OAuthState) == 0


@pytest.mark.parametrize("role", [Role.MANAGER, Role.MARKETER, Role.ANALYST])
def test_only_connection_managers_may_start(client: TestClient, db: Database, role: Role) -> None:
    person = make_person(db, "bo@example.com", "Acme", role=role)
    response = client.post(
        f"/api/v1/workspaces/{person.workspace.id}/channels/oauth/x", headers=person.bearer
    )
    assert response.status_code == 403
    assert _count(db, OAuthState) == 0


def test_another_workspace_is_not_found(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    eve = make_person(db, "eve@example.com", "Evil")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth/x", headers=eve.bearer
    )
    assert response.status_code == 404
    assert _count(db, OAuthState) == 0


def test_an_unconfigured_network_names_its_settings(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "bare", database_url=database_url, secret_key="s" * 48
    )
    ana = make_person(db, "ana@example.com", "Acme")
    with TestClient(create_app(settings, db=db), base_url=BASE_URL) as bare:
        response = bare.post(
            f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth/linkedin", headers=ana.bearer
        )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "SOCIALDESK_LINKEDIN_CLIENT_ID and SOCIALDESK_LINKEDIN_CLIENT_SECRET" in message


def test_every_oauth_network_is_documented(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    documented = {
        path.rsplit("/", 1)[1]
        for path in paths
        if path.startswith("/api/v1/workspaces/{workspace_id}/channels/oauth/")
    }
    assert documented == set(OAUTH_NETWORKS)
    assert {"mastodon", "x", "linkedin", "facebook", "instagram", "threads"} == documented


def test_the_callback_refuses_a_browser_not_signed_in(
    client: TestClient, db: Database, nets: Networks
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    url = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/channels/oauth/x", headers=ana.bearer
    ).json()["authorize_url"]
    response = client.get("/oauth/callback/x", params=nets.consent(url))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert _count(db, Channel) == 0
    assert _count(db, OAuthState) == 1  # still there for the signed-in person
