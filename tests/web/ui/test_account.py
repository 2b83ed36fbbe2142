# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.storage import Database
from socialdesk.storage.tables import User
from tests.web.ui.helpers import PASSWORD, make_user, post_form, sign_in, text_of

NEW_PASSWORD = "a much better passphrase"


def test_profile_update_and_errors(client: TestClient, db: Database) -> None:
    make_user(db, "ana@example.com", name="Ana")
    sign_in(client, "ana@example.com")
    refused = post_form(client, "/account/profile", {"name": "Ana L", "timezone": "Nowhere/Town"})
    assert refused.status_code == 422
    assert 'id="f-timezone-error"' in refused.text
    saved = post_form(client, "/account/profile", {"name": "Ana Lima", "timezone": "Asia/Tokyo"})
    assert saved.status_code == 303
    with db.transaction() as session:
        user = session.scalars(select(User)).one()
        assert (user.name, user.timezone) == ("Ana Lima", "Asia/Tokyo")


def test_password_change_signs_out_other_browsers_only(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    make_user(db, "ana@example.com")
    sign_in(client, "ana@example.com")
    laptop = new_client()
    sign_in(laptop, "ana@example.com")

    mismatch = post_form(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": "something else",
        },
    )
    assert mismatch.status_code == 422
    assert 'id="f-new_password_confirm-error"' in mismatch.text
    wrong = post_form(
        client,
        "/account/password",
        {
            "current_password": "not my password",
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 422
    assert 'id="f-current_password-error"' in wrong.text
    short = post_form(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "short", "new_password_confirm": "short"},
    )
    assert short.status_code == 422
    assert 'id="f-new_password-error"' in short.text
    assert laptop.get("/account").status_code == 200  # nothing changed so far

    changed = post_form(
        client,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirm": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 303
    assert "Password changed" in text_of(client.get("/account"))
    # The other browser is signed out; this one is not.
    assert laptop.get("/account").headers["location"] == "/login?next=/account"
    assert client.get("/account").status_code == 200
    sign_in(new_client(), "ana@example.com", NEW_PASSWORD)
