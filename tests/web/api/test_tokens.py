# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.storage import Database
from tests.web.api.helpers import make_person


def test_token_lifecycle(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}/tokens"
    created = client.post(base, json={"name": "zapier"}, headers=ana.bearer)
    assert created.status_code == 201
    secret = created.json()["token"]
    assert secret.startswith("sdk_")
    new_headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=new_headers).status_code == 200

    listed = client.get(base, headers=ana.bearer)
    assert secret not in listed.text
    assert {t["name"] for t in listed.json()} == {"t", "zapier"}

    assert client.delete(f"{base}/{created.json()['id']}", headers=ana.bearer).status_code == 204
    assert client.get("/api/v1/me", headers=new_headers).status_code == 401


def test_expired_and_naive_expiry(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}/tokens"
    past = client.post(
        base, json={"name": "x", "expires_at": "2020-01-01T00:00:00Z"}, headers=ana.bearer
    )
    assert past.status_code == 422
    naive = client.post(
        base, json={"name": "x", "expires_at": "2099-01-01T00:00:00"}, headers=ana.bearer
    )
    assert naive.status_code == 422
    assert "offset" in naive.json()["error"]["message"]
