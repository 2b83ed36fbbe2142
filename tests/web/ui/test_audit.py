# SPDX-License-Identifier: AGPL-3.0-or-later
from __future__ import annotations

import re

from fastapi.testclient import TestClient

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.storage import Database
from socialdesk.storage.tables import User
from tests.web.ui.helpers import make_user, make_workspace, post_form, sign_in, text_of


def test_audit_page_shows_events_in_the_viewers_timezone(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    with db.transaction() as session:
        users.update_profile(
            session,
            user=session.get_one(User, ana.user.id),
            actor=Actor.cli(),
            timezone="Asia/Tokyo",
        )
    sign_in(client, "ana@example.com")
    post_form(
        client, f"/w/{workspace.id}/invitations", {"email": "bob@example.com", "role": "analyst"}
    )

    page = client.get(f"/w/{workspace.id}/audit")
    assert page.status_code == 200
    text = text_of(page)
    assert "workspace.create" in text
    assert "invitation.create" in text
    assert "bob@example.com" in text
    assert "ana@example.com" in text
    assert "Asia/Tokyo" in text
    # <time datetime="…+00:00"> shown as Tokyo time (UTC+9, no DST).
    stamp = re.search(
        r'<time datetime="[^"]*T(\d\d):(\d\d)[^"]*"[^>]*>[^<]*, (\d\d):(\d\d)</time>', page.text
    )
    assert stamp
    utc_hour, shown_hour = int(stamp.group(1)), int(stamp.group(3))
    assert (utc_hour + 9) % 24 == shown_hour

    filtered = text_of(client.get(f"/w/{workspace.id}/audit?action=invitation."))
    assert "invitation.create" in filtered
    assert "workspace.create" not in filtered


def test_audit_pages_older_events(client: TestClient, db: Database) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    with db.transaction() as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, ana.user.id), workspace_id=workspace.id
        )
        for number in range(1, 56):
            workspaces.update_workspace(
                session, access=access, actor=Actor.cli(), name=f"Name {number:02d}"
            )
    sign_in(client, "ana@example.com")
    first = client.get(f"/w/{workspace.id}/audit")
    assert "Name 55" in first.text
    assert "Name 06" in first.text
    assert "Name 05" not in first.text
    older = re.search(r'href="(/w/[^"]+/audit\?before=\d+)"', first.text)
    assert older
    second = client.get(older.group(1))
    assert "Name 05" in second.text
    assert "workspace.create" in second.text
    assert "Name 06" not in second.text
    assert "audit?before=" not in second.text


def test_audit_filter_keeps_custom_prefix_and_bad_paging_is_refused(
    client: TestClient, db: Database
) -> None:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    page = client.get(f"/w/{workspace.id}/audit?action=workspace.cre")
    assert '<option value="workspace.cre" selected>' in page.text
    assert "workspace.create" in text_of(page)
    assert client.get(f"/w/{workspace.id}/audit?before=abc").status_code == 422
