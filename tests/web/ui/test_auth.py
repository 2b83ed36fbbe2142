# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from socialdesk.storage import Database
from tests.web.ui.helpers import (
    PASSWORD,
    csrf_of,
    make_user,
    make_workspace,
    post_form,
    sign_in,
    text_of,
)


def _login(client: TestClient, email: str, password: str, next_path: str = "/") -> Response:
    csrf = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": csrf, "email": email, "password": password, "next": next_path},
    )


def test_sign_in_and_out(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com", name="Ana")
    workspace = make_workspace(db, ana)
    response = _login(client, "ANA@example.com ", PASSWORD, next_path=f"/w/{workspace.id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/w/{workspace.id}"
    home = client.get("/")
    assert home.status_code == 200
    assert "Acme Coffee" in home.text

    signed_out = post_form(client, "/logout")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/login"
    assert "You are signed out" in text_of(client.get("/login"))
    assert client.get("/").headers["location"] == "/login"


@pytest.mark.parametrize(
    "next_path", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_next_must_be_a_local_path(client: TestClient, db: Database, next_path: str) -> None:
    make_user(db, "ana@example.com")
    response = _login(client, "ana@example.com", PASSWORD, next_path=next_path)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_wrong_password_is_refused_and_keeps_the_email(client: TestClient, db: Database) -> None:
    make_user(db, "ana@example.com")
    response = _login(client, "ana@example.com", "wrong password!")
    assert response.status_code == 401
    assert "Wrong e-mail or password" in text_of(response)
    assert 'value="ana@example.com"' in response.text
    assert client.get("/").headers["location"] == "/login"


def test_signed_out_visitor_is_sent_to_sign_in_and_back(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    response = client.get(f"/w/{workspace.id}/members")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/w/{workspace.id}/members"
    login_page = client.get(response.headers["location"])
    assert f'name="next" value="/w/{workspace.id}/members"' in login_page.text


def test_post_without_csrf_token_is_refused(client: TestClient, db: Database) -> None:
    make_user(db, "ana@example.com")
    client.get("/login")
    response = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert "reload the page" in text_of(response)
    assert client.get("/").headers["location"] == "/login"


def test_signed_in_post_without_csrf_token_changes_nothing(
    client: TestClient, db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    response = client.post(f"/w/{workspace.id}/settings", data={"name": "Hijacked"})
    assert response.status_code == 403
    forged = client.post(
        f"/w/{workspace.id}/settings", data={"name": "Hijacked", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    assert "Hijacked" not in client.get(f"/w/{workspace.id}/settings").text


class TestThrottle:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, object]:
        return {"login_rate_limit": "3/minute"}

    def test_too_many_attempts_get_a_429_page(self, client: TestClient, db: Database) -> None:
        make_user(db, "ana@example.com")
        for _ in range(3):
            assert _login(client, "ana@example.com", "wrong password!").status_code == 401
        # Even the right password is refused while the limit holds.
        response = _login(client, "ana@example.com", PASSWORD)
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) >= 1
        assert "too many sign-in attempts" in text_of(response).lower()
        assert client.get("/").headers["location"] == "/login"
