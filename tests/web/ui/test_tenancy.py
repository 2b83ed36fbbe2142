# SPDX-License-Identifier: AGPL-3.0-or-later
"""A member of workspace A finds nothing under /w/{B}/…, whatever they try."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts import invitations, tokens, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import ApiToken, Invitation, Membership, User, Workspace
from tests.web.ui.helpers import (
    add_member,
    make_user,
    make_workspace,
    post_form,
    role_of,
    session_csrf,
    sign_in,
    text_of,
)

GET_PAGES = ["", "/members", "/tokens", "/audit", "/settings"]
POSTS = [
    ("/members/{member}/role", {"role": "analyst"}),
    ("/members/{member}/remove", {}),
    ("/leave", {}),
    ("/invitations", {"email": "spy@example.com", "role": "owner"}),
    ("/invitations/{invitation}/revoke", {}),
    ("/tokens", {"name": "spy"}),
    ("/tokens/{token}/revoke", {}),
    ("/settings", {"name": "Taken over", "timezone": "UTC"}),
]


@pytest.fixture
def two_workspaces(db: Database) -> tuple[Workspace, Workspace, dict[str, uuid.UUID]]:
    """A (where mallory is owner) and B (where she is nobody), with B's ids to aim at."""
    mallory = make_user(db, "mallory@example.com")
    workspace_a = make_workspace(db, mallory, "A")
    victim = make_user(db, "victim@example.com")
    workspace_b = make_workspace(db, victim, "B")
    bob = make_user(db, "bob@example.com")
    add_member(db, workspace_b, bob, Role.MARKETER)
    with db.transaction() as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, victim.user.id), workspace_id=workspace_b.id
        )
        invitation, _ = invitations.create_invitation(
            session, access=access, actor=Actor.cli(), email="new@example.com", role=Role.ANALYST
        )
        token, _ = tokens.create_token(session, access=access, actor=Actor.cli(), name="b-token")
        member = session.scalars(
            select(Membership.id).where(
                Membership.workspace_id == workspace_b.id, Membership.user_id == bob.user.id
            )
        ).one()
    ids = {"member": member, "invitation": invitation.id, "token": token.id, "bob": bob.user.id}
    return workspace_a, workspace_b, ids


@pytest.mark.parametrize("suffix", GET_PAGES)
def test_pages_of_another_workspace_are_not_found(
    client: TestClient,
    two_workspaces: tuple[Workspace, Workspace, dict[str, uuid.UUID]],
    suffix: str,
) -> None:
    workspace_a, workspace_b, _ = two_workspaces
    sign_in(client, "mallory@example.com")
    assert client.get(f"/w/{workspace_a.id}{suffix or '/members'}").status_code == 200
    response = client.get(f"/w/{workspace_b.id}{suffix}")
    assert response.status_code == 404
    assert "B" not in text_of(response).replace("socialdesk", "").split()
    # Not even a redirect to the login page or a hint that B exists.
    unknown = client.get(f"/w/{uuid.uuid4()}{suffix}")
    assert unknown.status_code == 404


@pytest.mark.parametrize(("template", "data"), POSTS)
def test_changes_to_another_workspace_are_not_found(
    client: TestClient,
    db: Database,
    two_workspaces: tuple[Workspace, Workspace, dict[str, uuid.UUID]],
    template: str,
    data: dict[str, str],
) -> None:
    _, workspace_b, ids = two_workspaces
    sign_in(client, "mallory@example.com")
    response = post_form(client, f"/w/{workspace_b.id}{template.format(**ids)}", data)
    assert response.status_code == 404
    with db.transaction() as session:
        assert session.get_one(Workspace, workspace_b.id).name == "B"
        invitation = session.get_one(Invitation, ids["invitation"])
        assert invitation.revoked_at is None
        assert session.get_one(ApiToken, ids["token"]).revoked_at is None
        assert session.scalars(select(ApiToken).where(ApiToken.name == "spy")).first() is None
    assert role_of(db, workspace_b.id, ids["bob"]) == "marketer"


def test_ids_of_another_workspace_are_not_found_inside_ones_own(
    client: TestClient,
    db: Database,
    two_workspaces: tuple[Workspace, Workspace, dict[str, uuid.UUID]],
) -> None:
    """Aiming at B's member, invitation or token through A's URLs finds nothing either."""
    workspace_a, workspace_b, ids = two_workspaces
    sign_in(client, "mallory@example.com")
    csrf = session_csrf(client)
    for path, data in (
        (f"/w/{workspace_a.id}/members/{ids['member']}/role", {"role": "analyst"}),
        (f"/w/{workspace_a.id}/members/{ids['member']}/remove", {}),
        (f"/w/{workspace_a.id}/invitations/{ids['invitation']}/revoke", {}),
        (f"/w/{workspace_a.id}/tokens/{ids['token']}/revoke", {}),
    ):
        response = client.post(path, data={"csrf_token": csrf, **data})
        assert response.status_code == 404, path
    assert role_of(db, workspace_b.id, ids["bob"]) == "marketer"
