# SPDX-License-Identifier: AGPL-3.0-or-later
"""People, workspaces and a browser's moves (read the CSRF token, post forms)."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import Membership, User, Workspace

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
#: Every page carries the token for htmx in <body hx-headers='{"X-CSRF-Token": "…"}'>.
_CSRF_HEADER = re.compile(r'"X-CSRF-Token": "([^"]+)"')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page) or _CSRF_HEADER.search(page)
    assert found, "the page has no CSRF token"
    return html.unescape(found.group(1))


def text_of(response: Response) -> str:
    """The page's text with tags dropped and whitespace collapsed, for 'in' checks."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def session_csrf(client: TestClient) -> str:
    """This browser's CSRF token (one per session), from a page it may open."""
    response = client.get("/login")
    if response.status_code == 303:  # signed in already
        response = client.get("/account")
    return csrf_of(response.text)


def post_form(client: TestClient, path: str, data: dict[str, str] | None = None) -> Response:
    """Post a form the way the browser does: with the session's CSRF token."""
    return client.post(path, data={"csrf_token": session_csrf(client), **(data or {})})


def follow(client: TestClient, response: Response) -> Response:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return client.get(response.headers["location"])


@dataclass
class Person:
    user: User
    email: str


def make_user(db: Database, email: str, *, name: str = "", admin: bool = False) -> Person:
    with db.transaction() as session:
        user = users.create_user(
            session, email=email, password=PASSWORD, name=name, is_admin=admin, actor=Actor.cli()
        )
    return Person(user=user, email=email)


def make_workspace(db: Database, owner: Person, name: str = "Acme Coffee") -> Workspace:
    with db.transaction() as session:
        return workspaces.create_workspace(
            session, name=name, owner=session.get_one(User, owner.user.id), actor=Actor.cli()
        )


def add_member(db: Database, workspace: Workspace, person: Person, role: Role) -> Membership:
    with db.transaction() as session:
        return members.add_user(
            session,
            workspace_id=workspace.id,
            user=session.get_one(User, person.user.id),
            role=role,
            actor=Actor.cli(),
        )


def role_of(db: Database, workspace_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    with db.transaction() as session:
        return session.scalars(
            select(Membership.role).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id
            )
        ).first()


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    page = client.get("/login").text
    response = client.post(
        "/login", data={"csrf_token": csrf_of(page), "email": email, "password": password}
    )
    assert response.status_code == 303, text_of(response)
    return response
