# SPDX-License-Identifier: AGPL-3.0-or-later
"""Ways to call the API as someone: people with workspaces, tokens and browser cookies."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass

import itsdangerous

from socialdesk.accounts import members, tokens, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, Role, can
from socialdesk.config import Settings
from socialdesk.storage import Database
from socialdesk.storage.tables import User, Workspace
from socialdesk.web.security import SESSION_COOKIE

PASSWORD = "correct horse battery"
CSRF = "test-csrf-token"


@dataclass
class Person:
    user: User
    workspace: Workspace
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_person(db: Database, email: str, workspace_name: str, role: Role = Role.OWNER) -> Person:
    """A user who is ``role`` in a new workspace (owned by someone else unless owner)."""
    with db.transaction() as session:
        user = users.create_user(session, email=email, password=PASSWORD, actor=Actor.cli())
        if role is Role.OWNER:
            workspace = workspaces.create_workspace(
                session, name=workspace_name, owner=user, actor=Actor.cli()
            )
        else:
            owner = users.create_user(
                session,
                email=f"owner-{uuid.uuid4().hex[:6]}@example.com",
                password=PASSWORD,
                actor=Actor.cli(),
            )
            workspace = workspaces.create_workspace(
                session, name=workspace_name, owner=owner, actor=Actor.cli()
            )
            members.add_user(
                session, workspace_id=workspace.id, user=user, role=role, actor=Actor.cli()
            )
        access = workspaces.access_for(session, user=user, workspace_id=workspace.id)
        secret = ""
        if can(role, Permission.TOKENS_OWN):
            _token, secret = tokens.create_token(
                session, access=access, actor=Actor.cli(), name="t"
            )
    return Person(user=user, workspace=workspace, token=secret)


def browser_cookie(settings: Settings, user: User) -> dict[str, str]:
    """A signed session cookie exactly as SessionMiddleware writes it after sign-in."""
    data = {"uid": str(user.id), "fp": users.session_fingerprint(user), "csrf": CSRF}
    payload = base64.b64encode(json.dumps(data).encode())
    signed = itsdangerous.TimestampSigner(settings.resolved_secret_key()).sign(payload)
    return {SESSION_COOKIE: signed.decode()}
