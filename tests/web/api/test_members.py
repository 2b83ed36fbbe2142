# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts import users
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.storage import Database
from tests.web.api.helpers import CSRF, PASSWORD, browser_cookie, make_person


def _add_user(db: Database, email: str) -> None:
    with db.transaction() as session:
        users.create_user(session, email=email, password=PASSWORD, actor=Actor.cli())


def test_owner_adds_changes_and_removes_a_member(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    _add_user(db, "bob@example.com")
    base = f"/api/v1/workspaces/{ana.workspace.id}/members"
    added = client.post(
        base, json={"email": "BOB@example.com", "role": "manager"}, headers=ana.bearer
    )
    assert added.status_code == 201, added.text
    member_id = added.json()["id"]
    assert added.json()["email"] == "bob@example.com"

    changed = client.patch(f"{base}/{member_id}", json={"role": "analyst"}, headers=ana.bearer)
    assert changed.json()["role"] == "analyst"
    listed = client.get(base, headers=ana.bearer).json()
    assert {(m["email"], m["role"]) for m in listed} == {
        ("ana@example.com", "owner"),
        ("bob@example.com", "analyst"),
    }
    assert client.delete(f"{base}/{member_id}", headers=ana.bearer).status_code == 204
    assert len(client.get(base, headers=ana.bearer).json()) == 1

    audit = client.get(f"/api/v1/workspaces/{ana.workspace.id}/audit", headers=ana.bearer).json()
    actions = [e["action"] for e in audit["events"]]
    assert actions[:3] == ["member.remove", "member.role_change", "member.add"]


def test_unknown_role_is_a_clear_422(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    _add_user(db, "bob@example.com")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/members",
        json={"email": "bob@example.com", "role": "superuser"},
        headers=ana.bearer,
    )
    assert response.status_code == 422
    assert "role" in response.json()["error"]["message"]


def test_the_last_owner_cannot_leave_or_be_demoted(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}/members"
    own_id = client.get(base, headers=ana.bearer).json()[0]["id"]
    demote = client.patch(f"{base}/{own_id}", json={"role": "admin"}, headers=ana.bearer)
    assert demote.status_code == 409
    assert "at least one owner" in demote.json()["error"]["message"]
    assert client.delete(f"{base}/{own_id}", headers=ana.bearer).status_code == 409


@pytest.mark.parametrize(
    ("role", "may_manage"),
    [
        (Role.ADMIN, True),
        (Role.MANAGER, False),
        (Role.MARKETER, False),
        (Role.ANALYST, False),
    ],
)
def test_only_admins_manage_members(
    client: TestClient, db: Database, role: Role, may_manage: bool
) -> None:
    person = make_person(db, "ana@example.com", "Acme", role=role)
    _add_user(db, "bob@example.com")
    response = client.post(
        f"/api/v1/workspaces/{person.workspace.id}/members",
        json={"email": "bob@example.com", "role": "manager"},
        headers=person.bearer,
    )
    assert response.status_code == (201 if may_manage else 403)


def test_an_admin_cannot_make_an_owner(client: TestClient, db: Database) -> None:
    admin = make_person(db, "ana@example.com", "Acme", role=Role.ADMIN)
    _add_user(db, "bob@example.com")
    response = client.post(
        f"/api/v1/workspaces/{admin.workspace.id}/members",
        json={"email": "bob@example.com", "role": "owner"},
        headers=admin.bearer,
    )
    assert response.status_code == 403


def test_an_approver_sees_nothing_but_the_workspace(
    client: TestClient, db: Database, settings: Settings
) -> None:
    approver = make_person(db, "ana@example.com", "Acme", role=Role.APPROVER)
    assert approver.token == ""
    client.cookies.update(browser_cookie(settings, approver.user))
    base = f"/api/v1/workspaces/{approver.workspace.id}"
    assert client.get(base).status_code == 200
    for path in ("/members", "/audit", "/invitations"):
        assert client.get(base + path).status_code == 403
    refused = client.post(f"{base}/tokens", json={"name": "x"}, headers={"X-CSRF-Token": CSRF})
    assert refused.status_code == 403
