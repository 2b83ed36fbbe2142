# SPDX-License-Identifier: AGPL-3.0-or-later
"""First run: the first administrator and their first workspace.

Open only while the database has no user, and only with the token that
``socialdesk serve`` prints (derived from the secret key), so a freshly started server
on a shared network cannot be claimed by whoever reaches it first.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.errors import ValidationError
from socialdesk.web.deps import SessionDep, SettingsDep, client_ip
from socialdesk.web.security import setup_token, sign_in
from socialdesk.web.ui.common import all_or_nothing, flash, landing_path, page, redirect

router = APIRouter()


def _token_is_valid(settings: Settings, token: str) -> bool:
    expected = setup_token(settings.resolved_secret_key())
    return hmac.compare_digest(expected.encode(), token.encode())


def _refused(request: Request, token: str) -> Response:
    return page(
        request, "setup_info.html", status_code=403 if token else 200, invalid_token=bool(token)
    )


@router.get("/setup")
def setup_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Query()] = "",
) -> Response:
    if users.count_users(session) > 0:
        return redirect("/login")
    if not _token_is_valid(settings, token):
        return _refused(request, token)
    return page(request, "setup.html", token=token, values={}, errors={})


@router.post("/setup")
def setup(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    workspace_name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    users.lock_first_run(session)
    if users.count_users(session) > 0:
        return redirect("/login")
    if not _token_is_valid(settings, token):
        return _refused(request, token)
    timezone = timezone.strip() or "UTC"
    step = "user"
    try:
        with all_or_nothing(session):
            user = users.create_user(
                session,
                email=email,
                password=password,
                name=name,
                is_admin=True,
                timezone=timezone,
                actor=Actor(label="first-run setup", ip=client_ip(request)),
            )
            step = "workspace"
            workspace = workspaces.create_workspace(
                session,
                name=workspace_name,
                owner=user,
                timezone=timezone,
                actor=Actor(label=user.email, user_id=user.id, ip=client_ip(request)),
            )
    except ValidationError as exc:
        field = exc.field or "form"
        if step == "workspace" and field == "name":
            field = "workspace_name"
        values = {"name": name, "email": email, "workspace_name": workspace_name}
        values["timezone"] = timezone
        return page(
            request,
            "setup.html",
            status_code=422,
            token=token,
            values=values,
            errors={field: exc.message},
        )
    sign_in(request, user=user, fingerprint=users.session_fingerprint(user))
    flash(request, f"Welcome to socialdesk! {workspace.name} is ready; invite your team next.")
    return redirect(landing_path(workspace.id, Role.OWNER))
