# SPDX-License-Identifier: AGPL-3.0-or-later
"""What every UI page shares: the sidebar's data, flash messages, redirects, safe ``next``.

Workspace pages get a :class:`WorkspaceView` from :func:`workspace_view`: the caller's
access (which scopes the request's session to that workspace) and the list of their
workspaces for the switcher. The list is read *before* the session is scoped, because a
scoped session only sees the current workspace's memberships.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from socialdesk.accounts import workspaces
from socialdesk.accounts.roles import Permission, Role, can, require
from socialdesk.accounts.users import check_timezone, session_fingerprint
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import ValidationError
from socialdesk.storage.tables import User, Workspace
from socialdesk.web.deps import Principal, PrincipalDep, SessionDep, workspace_access
from socialdesk.web.security import sign_in
from socialdesk.web.templating import render

FlashKind = Literal["success", "error", "info"]
_FLASH_KEY = "flash"
_LAST_WORKSPACE_KEY = "ws"

#: Sidebar entries of a workspace: (label, path suffix, permission needed to see it).
NAV_ITEMS: tuple[tuple[str, str, Permission], ...] = (
    ("Calendar", "calendar", Permission.POSTS_READ),
    ("Queue", "queue", Permission.POSTS_READ),
    ("Inbox", "inbox", Permission.INBOX_READ),
    # Everyone: approvers see what was sent to them, the team what waits (see approvals.py).
    ("Approvals", "approvals", Permission.WORKSPACE_READ),
    ("Failures", "failures", Permission.POSTS_READ),
    ("Library", "library", Permission.POSTS_READ),
    ("Ideas", "ideas", Permission.POSTS_READ),
    ("Import", "import", Permission.POSTS_PUBLISH),
    ("Channels", "channels", Permission.POSTS_READ),
    ("Members", "members", Permission.MEMBERS_READ),
    ("API tokens", "tokens", Permission.TOKENS_OWN),
    ("Audit log", "audit", Permission.AUDIT_READ),
    ("Settings", "settings", Permission.WORKSPACE_READ),
)


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    href: str
    slug: str


@dataclass(frozen=True, slots=True)
class Shell:
    """What the sidebar shows: who is signed in, their workspaces, the one in use."""

    user: User
    memberships: list[tuple[Workspace, Role]]
    current: Workspace | None = None
    role: Role | None = None
    nav: list[NavLink] = field(default_factory=list)

    @property
    def compose_href(self) -> str | None:
        """The composer, for roles that write posts (the sidebar's "New post" button)."""
        if self.current is None or self.role is None:
            return None
        if not can(self.role, Permission.CAMPAIGN_POSTS_WRITE):
            return None
        return f"/w/{self.current.id}/compose"


def landing_path(workspace_id: uuid.UUID, role: Role) -> str:
    """The first page of a workspace this role may open (there is no dashboard yet)."""
    # Those who manage people start there (a new workspace's first task is inviting its
    # team); everyone else on the first page of the sidebar they may open.
    for _label, slug, permission in sorted(NAV_ITEMS, key=lambda item: item[1] != "members"):
        if can(role, permission):
            return f"/w/{workspace_id}/{slug}"
    return f"/w/{workspace_id}/settings"


def _nav_for(workspace_id: uuid.UUID, role: Role) -> list[NavLink]:
    return [
        NavLink(label=label, href=f"/w/{workspace_id}/{slug}", slug=slug)
        for label, slug, permission in NAV_ITEMS
        if can(role, permission)
    ]


def shell_for(
    request: Request,
    *,
    user: User,
    memberships: list[tuple[Workspace, Role]],
    current: Access | None = None,
) -> Shell:
    """The sidebar; outside a workspace it keeps the last workspace used in this browser."""
    if current is not None:
        request.session[_LAST_WORKSPACE_KEY] = str(current.workspace.id)
        workspace, role = current.workspace, current.role
    else:
        last = request.session.get(_LAST_WORKSPACE_KEY)
        found = [(w, r) for w, r in memberships if str(w.id) == last]
        if not found:
            return Shell(user=user, memberships=memberships)
        workspace, role = found[0]
    return Shell(
        user=user,
        memberships=memberships,
        current=workspace,
        role=role,
        nav=_nav_for(workspace.id, role),
    )


def user_shell(request: Request, session: Session, user: User) -> Shell:
    """The sidebar for a page outside any workspace (the session is not scoped)."""
    return shell_for(request, user=user, memberships=workspaces.workspaces_of(session, user=user))


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """A workspace page's caller, their access there, and the sidebar."""

    principal: Principal
    access: Access
    shell: Shell

    @property
    def workspace(self) -> Workspace:
        return self.access.workspace

    def can(self, permission: Permission) -> bool:
        return can(self.access.role, permission)


def workspace_view(permission: Permission) -> Callable[..., WorkspaceView]:
    """A dependency: the path's workspace, for a member whose role has ``permission``.

    Not a member (or no such workspace) is a 404, a member without the permission a 403.
    """

    def dependency(
        workspace_id: uuid.UUID, request: Request, principal: PrincipalDep, session: SessionDep
    ) -> WorkspaceView:
        memberships = workspaces.workspaces_of(session, user=principal.user)
        access = workspace_access(workspace_id, principal, session)
        require(access.role, permission)
        shell = shell_for(request, user=principal.user, memberships=memberships, current=access)
        return WorkspaceView(principal=principal, access=access, shell=shell)

    dependency.__name__ = f"workspace_view_{permission.name.lower()}"
    return dependency


def renew_sign_in(request: Request, user: User) -> None:
    """Sign this browser in again after a password change, keeping its last workspace."""
    last = request.session.get(_LAST_WORKSPACE_KEY)
    sign_in(request, user=user, fingerprint=session_fingerprint(user))
    if isinstance(last, str):
        request.session[_LAST_WORKSPACE_KEY] = last


def flash(request: Request, message: str, kind: FlashKind = "success") -> None:
    """A message for the next page this browser renders (Post/Redirect/Get)."""
    messages = list(request.session.get(_FLASH_KEY, []))
    messages.append({"kind": kind, "text": message})
    request.session[_FLASH_KEY] = messages


def pop_flashes(request: Request) -> list[dict[str, str]]:
    messages = request.session.pop(_FLASH_KEY, [])
    return [m for m in messages if isinstance(m, dict)]


def page(
    request: Request,
    template: str,
    *,
    shell: Shell | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a full page with the sidebar (when ``shell`` is given) and pending flashes."""
    values: dict[str, Any] = {"shell": shell, "flashes": pop_flashes(request)}
    values.update(context)
    return render(request, template, values, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET (Post/Redirect/Get)."""
    return RedirectResponse(path, status_code=303)


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not value or any(ch in value for ch in "\\\r\n\t") or not value.startswith("/"):
        return default
    if value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def field_errors(error: ValidationError, default_field: str = "form") -> dict[str, str]:
    """A validation error as ``{field: message}`` for the template."""
    return {error.field or default_field: error.message}


@contextmanager
def all_or_nothing(session: Session) -> Iterator[None]:
    """A savepoint: when a step after the first fails, the earlier steps are undone too.

    The request's transaction commits when the route returns, even when the route caught
    an error to re-render a form; this makes multi-step changes (create the user, then
    accept the invitation) leave nothing behind.
    """
    with session.begin_nested():
        yield


def client_timezone(value: str, fallback: str = "UTC") -> str:
    """A time zone the browser reported, or ``fallback`` when it sent nothing usable."""
    value = value.strip()
    if not value:
        return fallback
    try:
        return check_timezone(value)
    except ValidationError:
        return fallback
