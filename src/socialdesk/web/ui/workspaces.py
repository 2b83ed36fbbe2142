# SPDX-License-Identifier: AGPL-3.0-or-later
"""The workspace switcher (home page) and creating workspaces."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.roles import ROLE_DESCRIPTIONS, Permission, Role
from socialdesk.errors import ValidationError
from socialdesk.web.deps import OptionalPrincipalDep, PrincipalDep, SessionDep
from socialdesk.web.ui.common import (
    WorkspaceView,
    field_errors,
    flash,
    landing_path,
    page,
    redirect,
    user_shell,
    workspace_view,
)

router = APIRouter()

AnyMemberView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_READ))]


@router.get("/")
def home(request: Request, principal: OptionalPrincipalDep, session: SessionDep) -> Response:
    if principal is None:
        return redirect("/setup" if users.count_users(session) == 0 else "/login")
    shell = user_shell(request, session, principal.user)
    return page(
        request,
        "home.html",
        shell=shell,
        values={},
        errors={},
        role_descriptions=ROLE_DESCRIPTIONS,
    )


@router.post("/workspaces")
def create_workspace(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    try:
        workspace = workspaces.create_workspace(
            session,
            name=name,
            owner=principal.user,
            timezone=timezone.strip() or "UTC",
            actor=principal.actor(request),
        )
    except ValidationError as exc:
        return page(
            request,
            "home.html",
            shell=user_shell(request, session, principal.user),
            status_code=422,
            values={"name": name, "timezone": timezone},
            errors=field_errors(exc),
            role_descriptions=ROLE_DESCRIPTIONS,
            show_new_form=True,
        )
    flash(request, f"{workspace.name} is ready. Invite the people you work with.")
    return redirect(landing_path(workspace.id, Role.OWNER))


@router.get("/w/{workspace_id}")
def workspace_home(workspace_id: uuid.UUID, view: AnyMemberView) -> Response:
    return redirect(landing_path(workspace_id, view.access.role))
