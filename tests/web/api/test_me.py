# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.config import Settings
from socialdesk.storage import Database
from tests.web.api.helpers import CSRF, browser_cookie, make_person


def test_me_with_token_lists_only_the_token_workspace(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.get("/api/v1/me", headers=ana.bearer)
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["email"] == "ana@example.com"
    assert [w["name"] for w in body["workspaces"]] == ["Acme"]
    assert body["token_workspace_id"] == str(ana.workspace.id)
    assert "password" not in response.text


def test_me_with_browser_session(client: TestClient, db: Database, settings: Settings) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    client.cookies.update(browser_cookie(settings, ana.user))
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["token_workspace_id"] is None


def test_anonymous_gets_401_json(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_bad_token_is_refused_without_echoing_it(client: TestClient) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer sdk_not-a-real-token"})
    assert response.status_code == 401
    assert "not-a-real-token" not in response.text


def test_browser_post_without_csrf_token_is_refused(
    client: TestClient, db: Database, settings: Settings
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    client.cookies.update(browser_cookie(settings, ana.user))
    refused = client.post("/api/v1/workspaces", json={"name": "Second"})
    assert refused.status_code == 403
    accepted = client.post(
        "/api/v1/workspaces", json={"name": "Second"}, headers={"X-CSRF-Token": CSRF}
    )
    assert accepted.status_code == 201
    assert accepted.json()["role"] == "owner"
