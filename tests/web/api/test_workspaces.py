# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.config import Settings
from socialdesk.storage import Database
from tests.web.api.helpers import CSRF, browser_cookie, make_person


def test_update_workspace_and_refuse_bad_timezone_without_change(
    client: TestClient, db: Database
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    url = f"/api/v1/workspaces/{ana.workspace.id}"
    ok = client.patch(url, json={"name": "Acme Co", "timezone": "Europe/Paris"}, headers=ana.bearer)
    assert ok.status_code == 200
    assert ok.json()["timezone"] == "Europe/Paris"
    bad = client.patch(url, json={"name": "Other", "timezone": "Mars/Olympus"}, headers=ana.bearer)
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "timezone"
    assert "IANA" in bad.json()["error"]["message"]
    assert client.get(url, headers=ana.bearer).json()["name"] == "Acme Co"


def test_unknown_fields_are_refused(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.patch(
        f"/api/v1/workspaces/{ana.workspace.id}", json={"nmae": "typo"}, headers=ana.bearer
    )
    assert response.status_code == 422
    assert "nmae" in response.json()["error"]["message"]


def test_tokens_cannot_create_workspaces(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.post("/api/v1/workspaces", json={"name": "New"}, headers=ana.bearer)
    assert response.status_code == 403


def test_create_workspace_from_browser(
    client: TestClient, db: Database, settings: Settings
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    client.cookies.update(browser_cookie(settings, ana.user))
    response = client.post(
        "/api/v1/workspaces",
        json={"name": "  Spaced   Name ", "timezone": "America/New_York"},
        headers={"X-CSRF-Token": CSRF},
    )
    assert response.status_code == 201
    assert response.json()["name"] == "Spaced Name"
    names = [w["name"] for w in client.get("/api/v1/workspaces").json()]
    assert names == ["Acme", "Spaced Name"]
