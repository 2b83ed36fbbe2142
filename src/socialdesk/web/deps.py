# SPDX-License-Identifier: AGPL-3.0-or-later
"""Dependencies shared by API and UI routes (``Annotated`` aliases, as in FastAPI's template).

``SessionDep`` is one transaction per request, committed before the response is sent.
``WorkspaceAccessDep`` resolves ``{workspace_id}`` from the path, checks membership and
scopes the session to that workspace: from then on the session cannot read or write
another workspace's rows (see ``storage.session``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.tokens import authenticate_token
from socialdesk.accounts.users import session_fingerprint
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access, access_for
from socialdesk.config import Settings
from socialdesk.errors import AuthenticationFailed, NotFound
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database, scope_to_workspace
from socialdesk.storage.tables import ApiToken, User
from socialdesk.web.security import LoginThrottle, check_csrf, session_user_id


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_vault(request: Request) -> Vault:
    vault: Vault = request.app.state.vault
    return vault


def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def get_network(request: Request) -> NetworkRuntime:
    network: NetworkRuntime = request.app.state.network
    return network


SettingsDep = Annotated[Settings, Depends(get_settings)]
NetworkDep = Annotated[NetworkRuntime, Depends(get_network)]
DbDep = Annotated[Database, Depends(get_db)]
VaultDep = Annotated[Vault, Depends(get_vault)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


def get_session(db: DbDep) -> Iterator[Session]:
    """One transaction per request, committed when the route returns.

    A route that calls a network first commits what it has (``session.commit()``), so no
    transaction (on SQLite: the write lock) is held while waiting for a network.
    """
    with db.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


# scope="function": commit when the route returns, before the response goes out.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user from a browser session, or a user through an API token."""

    user: User
    token: ApiToken | None = None
    token_access: Access | None = None

    def actor(self, request: Request) -> Actor:
        label = (
            self.user.email
            if self.token is None
            else f"{self.user.email} (token {self.token.name})"
        )
        return Actor(label=label, user_id=self.user.id, ip=client_ip(request))


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    raw = _bearer(request)
    if raw is not None:
        token, access = authenticate_token(session, raw=raw)
        return Principal(user=access.user, token=token, token_access=access)
    found = session_user_id(request)
    if found is None:
        return None
    user_id, fingerprint = found
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None or session_fingerprint(user) != fingerprint:
        request.session.clear()
        return None
    return Principal(user=user)


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(request: Request, principal: OptionalPrincipalDep) -> Principal:
    """A signed-in caller; unsafe requests from a browser must carry the CSRF token."""
    if principal is None:
        raise AuthenticationFailed("sign in, or send an API token as 'Authorization: Bearer …'")
    if principal.token is None:
        await check_csrf(request)
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def workspace_access(
    workspace_id: uuid.UUID, principal: PrincipalDep, session: SessionDep
) -> Access:
    if principal.token_access is not None:
        # A token opens exactly one workspace.
        if principal.token_access.workspace.id != workspace_id:
            raise NotFound("no such workspace")
        access = principal.token_access
    else:
        access = access_for(session, user=principal.user, workspace_id=workspace_id)
    scope_to_workspace(session, workspace_id)
    return access


WorkspaceAccessDep = Annotated[Access, Depends(workspace_access)]


def requires(permission: Permission) -> Callable[[Access], Access]:
    """A dependency: the caller's access to the path's workspace, with ``permission``."""

    def dependency(access: WorkspaceAccessDep) -> Access:
        require(access.role, permission)
        return access

    dependency.__name__ = f"requires_{permission.name.lower()}"
    return dependency
