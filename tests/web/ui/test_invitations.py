# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import User, Workspace
from tests.web.ui.conftest import BASE_URL
from tests.web.ui.helpers import (
    PASSWORD,
    csrf_of,
    make_user,
    make_workspace,
    post_form,
    role_of,
    sign_in,
    text_of,
)

_LINK = re.compile(r'value="(' + re.escape(BASE_URL) + r'(/invite/[^"]+))"')


def _invite(client: TestClient, workspace: Workspace, email: str, role: str) -> str:
    """Invite as the signed-in owner; the path of the link shown (once)."""
    response = post_form(client, f"/w/{workspace.id}/invitations", {"email": email, "role": role})
    assert response.status_code == 200, text_of(response)
    found = _LINK.search(response.text)
    assert found, "the invitation link is not shown"
    assert "shown only now" in text_of(response)
    return found.group(2)


def test_invitation_sign_up_end_to_end(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    link = _invite(client, workspace, "Bob@Example.com", "marketer")

    # Shown once: the members page lists the pending invitation, not its link.
    members_page = client.get(f"/w/{workspace.id}/members")
    assert "bob@example.com" in members_page.text
    assert link not in members_page.text

    bob = new_client()
    page = bob.get(link)
    assert page.status_code == 200
    text = text_of(page)
    assert "Acme Coffee" in text
    assert "bob@example.com" in text
    assert "Marketer" in text
    assert 'name="password_confirm"' in page.text

    csrf = csrf_of(page.text)
    mismatch = bob.post(
        f"{link}/signup",
        data={
            "csrf_token": csrf,
            "name": "Bob Stone",
            "password": PASSWORD,
            "password_confirm": PASSWORD + "x",
        },
    )
    assert mismatch.status_code == 422
    assert "not the same" in text_of(mismatch)
    assert 'value="Bob Stone"' in mismatch.text
    too_short = bob.post(
        f"{link}/signup",
        data={"csrf_token": csrf, "name": "Bob", "password": "short", "password_confirm": "short"},
    )
    assert too_short.status_code == 422
    assert 'id="f-password-error"' in too_short.text
    with db.transaction() as session:
        assert session.scalars(select(User).where(User.email == "bob@example.com")).first() is None

    joined = bob.post(
        f"{link}/signup",
        data={
            "csrf_token": csrf,
            "name": "Bob Stone",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "timezone": "America/New_York",
        },
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/w/{workspace.id}/members"
    landed = bob.get(joined.headers["location"])
    assert landed.status_code == 200
    assert "Welcome to Acme Coffee" in text_of(landed)
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.email == "bob@example.com")).one()
        assert (user.name, user.timezone) == ("Bob Stone", "America/New_York")
    assert role_of(db, workspace.id, user.id) == "marketer"
    assert "Acme Coffee" in bob.get("/").text

    # The link is spent.
    reused = new_client().get(link)
    assert reused.status_code == 404
    assert "already been used" in text_of(reused)
    assert "No invitation is waiting" in text_of(client.get(f"/w/{workspace.id}/members"))


def test_invitation_for_another_email(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    eve = make_user(db, "eve@example.com")
    sign_in(client, "ana@example.com")
    link = _invite(client, workspace, "bob@example.com", "analyst")

    eve_browser = new_client()
    sign_in(eve_browser, "eve@example.com")
    page = eve_browser.get(link)
    assert page.status_code == 200
    text = text_of(page)
    assert "signed in as eve@example.com" in text
    assert "Sign out and continue" in text
    assert f"{link}/accept" not in page.text

    refused = post_form(eve_browser, f"{link}/accept")
    assert refused.status_code == 403
    assert "this invitation is for bob@example.com" in text_of(refused).lower()
    assert role_of(db, workspace.id, eve.user.id) is None

    signed_out = post_form(eve_browser, "/logout", {"next": link})
    assert signed_out.headers["location"] == link
    assert 'name="password_confirm"' in eve_browser.get(link).text


def test_existing_account_signs_in_then_joins(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bob = make_user(db, "bob@example.com")
    sign_in(client, "ana@example.com")
    link = _invite(client, workspace, "bob@example.com", "manager")

    browser = new_client()
    page = browser.get(link)
    assert f'href="/login?next={link}"' in page.text
    assert 'name="password_confirm"' not in page.text
    # A sign-up attempt for an existing account is sent back to the page, creating nothing.
    attempt = post_form(
        browser, f"{link}/signup", {"password": PASSWORD, "password_confirm": PASSWORD}
    )
    assert attempt.headers["location"] == link

    csrf = csrf_of(browser.get(f"/login?next={link}").text)
    signed_in = browser.post(
        "/login",
        data={"csrf_token": csrf, "email": "bob@example.com", "password": PASSWORD, "next": link},
    )
    assert signed_in.headers["location"] == link
    assert "Join Acme Coffee" in text_of(browser.get(link))
    joined = post_form(browser, f"{link}/accept")
    assert joined.status_code == 303
    assert role_of(db, workspace.id, bob.user.id) == "manager"


def test_unusable_links_say_so(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bogus = client.get("/invite/inv_not-a-real-token")
    assert bogus.status_code == 404
    assert "not valid" in text_of(bogus)

    sign_in(client, "ana@example.com")
    link = _invite(client, workspace, "bob@example.com", "analyst")
    page = client.get(f"/w/{workspace.id}/members")
    invitation_id = re.search(r"/invitations/([0-9a-f-]+)/revoke", page.text)
    assert invitation_id
    revoked = post_form(client, f"/w/{workspace.id}/invitations/{invitation_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert "no longer works" in text_of(client.get(revoked.headers["location"]))
    assert client.get(link).status_code == 404


def test_invite_form_errors_keep_the_input(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    bad_email = post_form(
        client, f"/w/{workspace.id}/invitations", {"email": "not-an-email", "role": "analyst"}
    )
    assert bad_email.status_code == 422
    assert 'id="f-email-error"' in bad_email.text
    assert 'value="not-an-email"' in bad_email.text
    assert 'value="analyst" checked' in bad_email.text
    member = post_form(
        client, f"/w/{workspace.id}/invitations", {"email": "ana@example.com", "role": "analyst"}
    )
    assert member.status_code == 422
    assert "already a member" in text_of(member)
    bad_role = post_form(
        client, f"/w/{workspace.id}/invitations", {"email": "x@example.com", "role": "king"}
    )
    assert bad_role.status_code == 422
    assert 'id="f-role-error"' in bad_role.text
    assert Role.APPROVER.value in text_of(bad_role)
