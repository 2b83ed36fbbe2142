# SPDX-License-Identifier: AGPL-3.0-or-later
"""Workspace settings: name and time zone; everyone sees their own role here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from socialdesk.accounts import workspaces
from socialdesk.accounts.roles import ROLE_DESCRIPTIONS, Permission
from socialdesk.errors import ValidationError
from socialdesk.publishing import approvals
from socialdesk.web.deps import SessionDep
from socialdesk.web.ui.common import (
    WorkspaceView,
    field_errors,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_READ))]
ManageView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_MANAGE))]


def _settings_page(
    request: Request,
    view: WorkspaceView,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return page(
        request,
        "settings.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        values=values,
        errors=errors,
        may_manage=view.can(Permission.WORKSPACE_MANAGE),
        role_description=ROLE_DESCRIPTIONS[view.access.role],
        # The approvals card (its form posts to ui/approvals.py); the team sees it.
        shows_approvals=view.can(Permission.POSTS_READ),
        requirable_roles=approvals.REQUIRABLE_ROLES,
    )


@router.get("/w/{workspace_id}/settings")
def settings_page(request: Request, view: ReadView) -> Response:
    values = {"name": view.workspace.name, "timezone": view.workspace.timezone}
    return _settings_page(request, view, values=values, errors={})


@router.post("/w/{workspace_id}/settings")
def update_settings(
    request: Request,
    view: ManageView,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    try:
        workspaces.update_workspace(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            name=name,
            timezone=timezone.strip(),
        )
    except ValidationError as exc:
        return _settings_page(
            request,
            view,
            status_code=422,
            values={"name": name, "timezone": timezone},
            errors=field_errors(exc),
        )
    flash(request, "Workspace settings saved.")
    return redirect(f"/w/{view.workspace.id}/settings")
