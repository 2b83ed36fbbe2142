# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts import invitations
from socialdesk.errors import NotFound
from socialdesk.storage import Database
from tests.web.api.helpers import make_person


def test_invitation_link_is_returned_once_and_revocable(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}/invitations"
    created = client.post(
        base, json={"email": "new@example.com", "role": "marketer"}, headers=ana.bearer
    )
    assert created.status_code == 201
    url = created.json()["url"]
    assert url.startswith("http://127.0.0.1:8000/invite/inv_")
    listed = client.get(base, headers=ana.bearer)
    assert [i["email"] for i in listed.json()] == ["new@example.com"]
    assert url.rsplit("/", 1)[1] not in listed.text

    assert client.delete(f"{base}/{created.json()['id']}", headers=ana.bearer).status_code == 204
    assert client.get(base, headers=ana.bearer).json() == []
    token = url.rsplit("/", 1)[1]
    with pytest.raises(NotFound, match="not valid"), db.transaction() as session:
        invitations.find_open_invitation(session, token=token)


def test_inviting_a_member_is_refused(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/invitations",
        json={"email": "ana@example.com", "role": "manager"},
        headers=ana.bearer,
    )
    assert response.status_code == 422
    assert "already a member" in response.json()["error"]["message"]
