# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import ApiToken
from tests.web.ui.conftest import BASE_URL
from tests.web.ui.helpers import add_member, make_user, make_workspace, post_form, sign_in, text_of

_SECRET = re.compile(r'id="token-secret"[^>]*value="(sdk_[^"]+)"')


def _token_count(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ApiToken)) or 0


def test_token_is_shown_once_and_works(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    assert "No tokens yet" in text_of(client.get(f"/w/{workspace.id}/tokens"))

    response = post_form(
        client, f"/w/{workspace.id}/tokens", {"name": "Reporting sheet", "expires_days": "30"}
    )
    assert response.status_code == 200
    secret = _SECRET.search(response.text)
    assert secret
    raw = secret.group(1)
    text = text_of(response)
    assert "shown only once" in text
    assert f'curl -H "Authorization: Bearer {raw}" {BASE_URL}/api/v1/me' in text

    listing = client.get(f"/w/{workspace.id}/tokens")
    assert raw not in listing.text
    assert "Reporting sheet" in listing.text
    assert raw[:8] in listing.text  # the prefix tells tokens apart

    with db.transaction() as session:
        token = session.scalars(select(ApiToken)).one()
        assert token.expires_at is not None

    # The secret is a real token for the API.
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"})
    assert me.status_code == 200

    revoked = post_form(client, f"/w/{workspace.id}/tokens/{token.id}/revoke")
    assert revoked.status_code == 303
    assert "revoked" in text_of(client.get(revoked.headers["location"]))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


def test_bad_token_input_changes_nothing(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    for data, field in (
        ({"name": "Sheet", "expires_days": "soon"}, "expires_days"),
        ({"name": "Sheet", "expires_days": "0"}, "expires_days"),
        ({"name": "   ", "expires_days": ""}, "name"),
    ):
        response = post_form(client, f"/w/{workspace.id}/tokens", data)
        assert response.status_code == 422
        assert f'id="f-{field}-error"' in response.text
        assert "sdk_" not in response.text.split("</header>", 1)[1].split("Tokens in")[0]
    assert _token_count(db) == 0


def test_members_see_only_their_tokens_owners_see_all(
    client: TestClient, new_client: Callable[[], TestClient], db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    bob = make_user(db, "bob@example.com")
    add_member(db, workspace, bob, Role.MARKETER)
    sign_in(client, "ana@example.com")
    post_form(client, f"/w/{workspace.id}/tokens", {"name": "Ana's deploy bot"})
    bob_browser = new_client()
    sign_in(bob_browser, "bob@example.com")
    post_form(bob_browser, f"/w/{workspace.id}/tokens", {"name": "Bob's sheet"})

    bob_page = text_of(bob_browser.get(f"/w/{workspace.id}/tokens"))
    assert "Bob's sheet" in bob_page
    assert "Ana's deploy bot" not in bob_page
    ana_page = client.get(f"/w/{workspace.id}/tokens")
    assert "Bob's sheet" in text_of(ana_page)
    assert "bob@example.com" in ana_page.text  # owner column for admins

    with db.transaction() as session:
        anas = session.scalars(select(ApiToken).where(ApiToken.user_id == ana.user.id)).one()
    refused = post_form(bob_browser, f"/w/{workspace.id}/tokens/{anas.id}/revoke")
    assert refused.status_code == 403
