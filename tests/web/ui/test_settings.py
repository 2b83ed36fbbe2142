# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

from fastapi.testclient import TestClient

from socialdesk.storage import Database
from socialdesk.storage.tables import Workspace
from tests.web.ui.helpers import make_user, make_workspace, post_form, sign_in, text_of


def _workspace(db: Database, workspace: Workspace) -> tuple[str, str]:
    with db.transaction() as session:
        found = session.get_one(Workspace, workspace.id)
        return found.name, found.timezone


def test_settings_update(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{workspace.id}/settings")
    assert "Owner" in text_of(page)
    response = post_form(
        client,
        f"/w/{workspace.id}/settings",
        {"name": "Acme Coffee Roasters", "timezone": "America/Chicago"},
    )
    assert response.status_code == 303
    assert "saved" in text_of(client.get(response.headers["location"]))
    assert _workspace(db, workspace) == ("Acme Coffee Roasters", "America/Chicago")


def test_bad_timezone_shows_an_error_and_changes_nothing(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    response = post_form(
        client, f"/w/{workspace.id}/settings", {"name": "Renamed", "timezone": "Europe/Atlantis"}
    )
    assert response.status_code == 422
    assert 'id="f-timezone-error"' in response.text
    assert "is not a time zone" in text_of(response)
    assert 'value="Europe/Atlantis"' in response.text
    assert 'value="Renamed"' in response.text
    # Neither field changed, not even the valid name.
    assert _workspace(db, workspace) == ("Acme Coffee", "UTC")
