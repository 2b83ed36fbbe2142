# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every page renders for the people who may see it, and only shows what they may do."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from tests.web.ui.helpers import (
    add_member,
    make_user,
    make_workspace,
    post_form,
    role_of,
    sign_in,
    text_of,
)

PAGES = [
    ("/", "Your workspaces"),
    ("/w/{ws}/members", "Invite someone"),
    ("/w/{ws}/tokens", "New token"),
    ("/w/{ws}/audit", "Audit log"),
    ("/w/{ws}/settings", "Save changes"),
    ("/account", "Change password"),
]


@pytest.mark.parametrize(("path", "expected"), PAGES)
def test_every_page_renders_for_an_owner(
    client: TestClient, db: Database, path: str, expected: str
) -> None:
    ana = make_user(db, "ana@example.com", name="Ana Lima")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    response = client.get(path.format(ws=workspace.id))
    assert response.status_code == 200
    text = text_of(response)
    assert expected in text
    # The sidebar: wordmark, switcher with the workspace, user menu.
    assert "socialdesk" in text
    assert "Acme Coffee" in text
    assert "Sign out" in text
    # What the CSP allows: no inline script or style, scripts from our origin.
    assert "content-security-policy" in response.headers
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert "<style" not in response.text
    assert not re.search(r'\sstyle="', response.text)
    assert "X-CSRF-Token" in response.text


def test_workspace_root_opens_the_first_page_the_role_may_see(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    approver = make_user(db, "client@example.com")
    add_member(db, workspace, approver, Role.APPROVER)
    sign_in(client, "ana@example.com")
    assert client.get(f"/w/{workspace.id}").headers["location"] == f"/w/{workspace.id}/members"

    other = new_client()
    sign_in(other, "client@example.com")
    # An approver lands on what was sent to them for approval.
    assert other.get(f"/w/{workspace.id}").headers["location"] == f"/w/{workspace.id}/approvals"
    assert other.get(f"/w/{workspace.id}/members").status_code == 403
    settings_page = other.get(f"/w/{workspace.id}/settings")
    assert settings_page.status_code == 200
    assert "Approver" in settings_page.text
    assert f'href="/w/{workspace.id}/members"' not in settings_page.text
    assert f'href="/w/{workspace.id}/tokens"' not in settings_page.text


def test_analyst_sees_no_management_controls(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    dan = make_user(db, "dan@example.com")
    add_member(db, workspace, dan, Role.ANALYST)
    sign_in(client, "dan@example.com")

    page = client.get(f"/w/{workspace.id}/members")
    assert page.status_code == 200
    assert "ana@example.com" in page.text
    assert "<select" not in page.text
    assert "/invitations" not in page.text
    assert "/remove" not in page.text
    assert "Only owners and admins can invite" in text_of(page)
    # Nav: no audit log for analysts.
    assert f'href="/w/{workspace.id}/audit"' not in page.text
    assert client.get(f"/w/{workspace.id}/audit").status_code == 403

    settings_page = client.get(f"/w/{workspace.id}/settings")
    assert "Save changes" not in settings_page.text
    assert "disabled" in settings_page.text


def test_analyst_cannot_change_roles_even_by_posting(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    dan = make_user(db, "dan@example.com")
    membership = add_member(db, workspace, dan, Role.ANALYST)
    bob = make_user(db, "bob@example.com")
    bob_membership = add_member(db, workspace, bob, Role.MARKETER)
    sign_in(client, "dan@example.com")

    for target, role in ((membership, "owner"), (bob_membership, "analyst")):
        response = post_form(client, f"/w/{workspace.id}/members/{target.id}/role", {"role": role})
        assert response.status_code == 403
        assert "may not" in text_of(response)
    assert role_of(db, workspace.id, dan.user.id) == "analyst"
    assert role_of(db, workspace.id, bob.user.id) == "marketer"

    refused = [
        post_form(client, f"/w/{workspace.id}/members/{bob_membership.id}/remove"),
        post_form(client, f"/w/{workspace.id}/invitations", {"email": "x@example.com"}),
        post_form(client, f"/w/{workspace.id}/settings", {"name": "Renamed"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403]
    assert role_of(db, workspace.id, bob.user.id) == "marketer"


def test_admin_cannot_make_owners(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    adam = make_user(db, "adam@example.com")
    add_member(db, workspace, adam, Role.ADMIN)
    bob = make_user(db, "bob@example.com")
    bob_membership = add_member(db, workspace, bob, Role.MARKETER)
    sign_in(client, "adam@example.com")

    page = client.get(f"/w/{workspace.id}/members")
    assert '<option value="owner"' not in page.text
    assert 'value="owner"' not in page.text  # no owner radio in the invite form either
    response = post_form(
        client, f"/w/{workspace.id}/members/{bob_membership.id}/role", {"role": "owner"}
    )
    assert response.status_code == 403
    assert role_of(db, workspace.id, bob.user.id) == "marketer"


def test_owner_changes_a_role_with_a_plain_form(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bob = make_user(db, "bob@example.com", name="Bob Stone")
    bob_membership = add_member(db, workspace, bob, Role.MARKETER)
    sign_in(client, "ana@example.com")

    response = post_form(
        client, f"/w/{workspace.id}/members/{bob_membership.id}/role", {"role": "manager"}
    )
    assert response.status_code == 303
    assert role_of(db, workspace.id, bob.user.id) == "manager"
    assert "Bob Stone is now manager" in text_of(client.get(response.headers["location"]))


def test_owner_changes_a_role_with_htmx(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bob = make_user(db, "bob@example.com")
    bob_membership = add_member(db, workspace, bob, Role.MARKETER)
    sign_in(client, "ana@example.com")
    csrf = client.get(f"/w/{workspace.id}/members").text
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', csrf)
    assert token
    response = client.post(
        f"/w/{workspace.id}/members/{bob_membership.id}/role",
        data={"role": "analyst"},
        headers={"HX-Request": "true", "X-CSRF-Token": token.group(1)},
    )
    assert response.status_code == 200
    assert response.text.strip().startswith("<tr")
    assert '<option value="analyst" selected>' in response.text
    assert "sd:toast" in response.headers["hx-trigger"]
    assert role_of(db, workspace.id, bob.user.id) == "analyst"


def test_last_owner_cannot_step_down(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{workspace.id}/members")
    membership_id = re.search(r'id="member-([0-9a-f-]+)"', page.text)
    assert membership_id
    response = post_form(
        client, f"/w/{workspace.id}/members/{membership_id.group(1)}/role", {"role": "analyst"}
    )
    assert response.status_code == 303
    assert "at least one owner" in text_of(client.get(response.headers["location"]))
    assert role_of(db, workspace.id, ana.user.id) == "owner"

    left = post_form(client, f"/w/{workspace.id}/leave")
    assert left.status_code == 303
    assert role_of(db, workspace.id, ana.user.id) == "owner"


def test_owner_removes_a_member_and_a_member_leaves(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bob = make_user(db, "bob@example.com")
    bob_membership = add_member(db, workspace, bob, Role.MARKETER)
    chloe = make_user(db, "chloe@example.com")
    add_member(db, workspace, chloe, Role.MANAGER)
    sign_in(client, "ana@example.com")

    removed = post_form(client, f"/w/{workspace.id}/members/{bob_membership.id}/remove")
    assert removed.status_code == 303
    assert role_of(db, workspace.id, bob.user.id) is None
    assert "bob@example.com was removed" in text_of(client.get(removed.headers["location"]))

    chloe_browser = new_client()
    sign_in(chloe_browser, "chloe@example.com")
    left = post_form(chloe_browser, f"/w/{workspace.id}/leave")
    assert left.headers["location"] == "/"
    assert role_of(db, workspace.id, chloe.user.id) is None
    home = chloe_browser.get("/")
    assert "You left Acme Coffee" in text_of(home)
    assert "not in any workspace yet" in text_of(home)
    assert chloe_browser.get(f"/w/{workspace.id}/members").status_code == 404


def test_new_workspace_from_the_switcher(client: TestClient, db: Database) -> None:
    make_user(db, "ana@example.com")
    sign_in(client, "ana@example.com")
    refused = post_form(client, "/workspaces", {"name": "  ", "timezone": "Europe/Paris"})
    assert refused.status_code == 422
    assert 'id="f-name-error"' in refused.text
    assert 'value="Europe/Paris"' in refused.text

    created = post_form(client, "/workspaces", {"name": "Northwind", "timezone": ""})
    assert created.status_code == 303
    landed = client.get(created.headers["location"])
    assert landed.status_code == 200
    assert "Northwind is ready" in text_of(landed)
    home = client.get("/")
    assert "Northwind" in home.text
    assert "UTC" in home.text
