# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from socialdesk.config import Settings
from socialdesk.storage import Database
from socialdesk.storage.tables import Membership, User, Workspace
from socialdesk.web.security import setup_token
from tests.web.ui.helpers import PASSWORD, csrf_of, follow, make_user, text_of


def _token(settings: Settings) -> str:
    return setup_token(settings.resolved_secret_key())


def _counts(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Workspace)) or 0,
        )


def _form(token: str, csrf: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": csrf,
        "token": token,
        "name": "Ana Lima",
        "email": "ana@example.com",
        "password": PASSWORD,
        "workspace_name": "Acme Coffee",
        "timezone": "Europe/Paris",
    }
    data.update(overrides)
    return data


def test_home_without_any_user_sends_to_setup(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/setup"
    assert client.get("/login").headers["location"] == "/setup"


def test_setup_without_token_explains_how_to_get_one(client: TestClient) -> None:
    response = client.get("/setup")
    assert response.status_code == 200
    text = text_of(response)
    assert "socialdesk serve" in text
    assert "users create --admin" in text
    assert 'name="password"' not in response.text


def test_setup_with_a_wrong_token_is_refused(
    client: TestClient, settings: Settings, db: Database
) -> None:
    response = client.get("/setup?token=not-the-token")
    assert response.status_code == 403
    assert "not valid" in text_of(response)
    # Posting the form with a wrong token creates nothing either.
    csrf = csrf_of(response.text)
    refused = client.post("/setup", data=_form("not-the-token", csrf))
    assert refused.status_code == 403
    assert _counts(db) == (0, 0)


def test_setup_creates_admin_and_workspace_once(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _token(settings)
    page = client.get(f"/setup?token={token}")
    assert page.status_code == 200
    assert 'name="workspace_name"' in page.text

    response = client.post("/setup", data=_form(token, csrf_of(page.text)))
    assert response.status_code == 303
    landed = follow(client, response)
    assert landed.status_code == 200
    assert "Acme Coffee" in landed.text
    assert "Welcome to socialdesk" in text_of(landed)

    with db.transaction() as session:
        user = session.scalars(select(User)).one()
        assert user.is_admin
        assert user.name == "Ana Lima"
        assert user.timezone == "Europe/Paris"
        workspace = session.scalars(select(Workspace)).one()
        assert workspace.timezone == "Europe/Paris"
        membership = session.scalars(select(Membership)).one()
        assert (membership.user_id, membership.role) == (user.id, "owner")
    assert response.headers["location"] == f"/w/{workspace.id}/members"

    # Only once: the same link now sends to sign-in, and posting again creates nothing.
    assert client.get(f"/setup?token={token}").headers["location"] == "/login"
    again = client.post("/setup", data=_form(token, csrf_of(landed.text), email="eve@example.com"))
    assert again.status_code == 303
    assert again.headers["location"] == "/login"
    assert _counts(db) == (1, 1)


def test_setup_is_closed_once_a_user_exists(
    client: TestClient, settings: Settings, db: Database
) -> None:
    make_user(db, "cli-admin@example.com", admin=True)
    response = client.get(f"/setup?token={_token(settings)}")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert client.get("/").headers["location"] == "/login"


def test_setup_error_keeps_input_and_changes_nothing(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _token(settings)
    csrf = csrf_of(client.get(f"/setup?token={token}").text)
    response = client.post("/setup", data=_form(token, csrf, password="short"))
    assert response.status_code == 422
    assert "at least 10 characters" in text_of(response)
    assert 'value="ana@example.com"' in response.text
    assert 'value="Acme Coffee"' in response.text
    assert 'id="f-password-error"' in response.text
    assert _counts(db) == (0, 0)


def test_setup_workspace_error_does_not_leave_a_user_behind(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _token(settings)
    csrf = csrf_of(client.get(f"/setup?token={token}").text)
    response = client.post("/setup", data=_form(token, csrf, workspace_name="   "))
    assert response.status_code == 422
    assert 'id="f-workspace_name-error"' in response.text
    assert "needs a name" in text_of(response)
    assert _counts(db) == (0, 0)
    # The signed-out browser was not signed in by the half-done attempt.
    assert client.get("/").headers["location"] == "/setup"


def test_setup_bad_timezone_is_reported_next_to_the_field(
    client: TestClient, settings: Settings, db: Database
) -> None:
    token = _token(settings)
    csrf = csrf_of(client.get(f"/setup?token={token}").text)
    response = client.post("/setup", data=_form(token, csrf, timezone="Mars/Olympus"))
    assert response.status_code == 422
    assert 'id="f-timezone-error"' in response.text
    assert 'value="Mars/Olympus"' in response.text
    assert _counts(db) == (0, 0)
