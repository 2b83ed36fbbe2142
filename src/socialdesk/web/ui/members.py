# SPDX-License-Identifier: AGPL-3.0-or-later
"""Members of a workspace: roles, removal, leaving, and invitations by link."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import invitations, members
from socialdesk.accounts.roles import ROLE_DESCRIPTIONS, Permission, Role, parse_role
from socialdesk.errors import Conflict, ValidationError
from socialdesk.storage.tables import Membership
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.templating import render
from socialdesk.web.ui.common import (
    WorkspaceView,
    field_errors,
    flash,
    is_htmx,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.MEMBERS_READ))]
ManageView = Annotated[WorkspaceView, Depends(workspace_view(Permission.MEMBERS_MANAGE))]
AnyMemberView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_READ))]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as the viewer may act on them."""

    membership: Membership
    is_me: bool
    can_change_role: bool
    can_remove: bool


def assignable_roles(view: WorkspaceView) -> list[Role]:
    """Roles the viewer may give: only owners make owners."""
    if not view.can(Permission.MEMBERS_MANAGE):
        return []
    return [role for role in Role if role is not Role.OWNER or view.can(Permission.OWNERS_MANAGE)]


def member_row(view: WorkspaceView, membership: Membership) -> MemberRow:
    manages = view.can(Permission.MEMBERS_MANAGE)
    touches_owner = membership.role == Role.OWNER.value
    may_touch = manages and (not touches_owner or view.can(Permission.OWNERS_MANAGE))
    is_me = membership.user_id == view.access.user.id
    return MemberRow(
        membership=membership, is_me=is_me, can_change_role=may_touch, can_remove=may_touch
    )


def _members_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    status_code: int = 200,
    **context: Any,
) -> Response:
    workspace_id = view.workspace.id
    rows = [member_row(view, m) for m in members.list_members(session, workspace_id=workspace_id)]
    pending = (
        invitations.pending_invitations(session, workspace_id=workspace_id)
        if view.can(Permission.MEMBERS_MANAGE)
        else []
    )
    values: dict[str, Any] = {"values": {}, "errors": {}, "new_invitation": None}
    values.update(context)
    return page(
        request,
        "members.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        rows=rows,
        pending=pending,
        roles=assignable_roles(view),
        role_descriptions=ROLE_DESCRIPTIONS,
        **values,
    )


@router.get("/w/{workspace_id}/members")
def members_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    return _members_page(request, session, view)


def _toast(response: Response, message: str, kind: str = "success") -> None:
    response.headers["HX-Trigger"] = json.dumps({"sd:toast": {"message": message, "kind": kind}})


@router.post("/w/{workspace_id}/members/{membership_id}/role")
def change_role(
    request: Request,
    membership_id: uuid.UUID,
    view: ManageView,
    session: SessionDep,
    role: Annotated[str, Form()] = "",
) -> Response:
    membership = members.get_member(
        session, workspace_id=view.workspace.id, membership_id=membership_id
    )
    new_role = parse_role(role)
    try:
        members.change_role(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            membership=membership,
            role=new_role,
        )
    except Conflict as exc:
        if is_htmx(request):
            raise
        flash(request, exc.message, "error")
        return redirect(f"/w/{view.workspace.id}/members")
    message = f"{membership.user.name or membership.user.email} is now {new_role.value}."
    if not is_htmx(request):
        flash(request, message)
        return redirect(f"/w/{view.workspace.id}/members")
    if membership.user_id == view.access.user.id:
        # The viewer changed their own role: every control on the page may change.
        response = Response(status_code=204, headers={"HX-Refresh": "true"})
        flash(request, message)
        return response
    response = render(
        request,
        "_member_row.html",
        {
            "row": member_row(view, membership),
            "view": view,
            "roles": assignable_roles(view),
        },
    )
    _toast(response, message)
    return response


@router.post("/w/{workspace_id}/members/{membership_id}/remove")
def remove_member(
    request: Request, membership_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    membership = members.get_member(
        session, workspace_id=view.workspace.id, membership_id=membership_id
    )
    who = membership.user.name or membership.user.email
    leaving = membership.user_id == view.access.user.id
    try:
        members.remove_member(
            session, access=view.access, actor=view.principal.actor(request), membership=membership
        )
    except Conflict as exc:
        flash(request, exc.message, "error")
        return redirect(f"/w/{view.workspace.id}/members")
    if leaving:
        flash(request, f"You left {view.workspace.name}.")
        return redirect("/")
    flash(request, f"{who} was removed from {view.workspace.name}.")
    return redirect(f"/w/{view.workspace.id}/members")


@router.post("/w/{workspace_id}/leave")
def leave(request: Request, view: AnyMemberView, session: SessionDep) -> Response:
    mine = [
        m
        for m in members.list_members(session, workspace_id=view.workspace.id)
        if m.user_id == view.access.user.id
    ]
    try:
        members.remove_member(
            session, access=view.access, actor=view.principal.actor(request), membership=mine[0]
        )
    except Conflict as exc:
        flash(request, exc.message, "error")
        return redirect(f"/w/{view.workspace.id}/settings")
    flash(request, f"You left {view.workspace.name}.")
    return redirect("/")


@router.post("/w/{workspace_id}/invitations")
def invite(
    request: Request,
    view: ManageView,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    try:
        invitation, token = invitations.create_invitation(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            email=email,
            role=parse_role(role),
        )
    except ValidationError as exc:
        return _members_page(
            request,
            session,
            view,
            status_code=422,
            values={"email": email, "role": role},
            errors=field_errors(exc, "email"),
        )
    # Shown in this response only, never stored: the link is the invitation's secret.
    link = settings.base_url.rstrip("/") + invitations.invitation_path(token)
    return _members_page(
        request,
        session,
        view,
        new_invitation={"email": invitation.email, "role": invitation.role, "link": link},
    )


@router.post("/w/{workspace_id}/invitations/{invitation_id}/revoke")
def revoke_invitation(
    request: Request, invitation_id: uuid.UUID, view: ManageView, session: SessionDep
) -> Response:
    invitation = invitations.revoke_invitation(
        session,
        access=view.access,
        actor=view.principal.actor(request),
        invitation_id=invitation_id,
    )
    flash(request, f"The invitation for {invitation.email} no longer works.")
    return redirect(f"/w/{view.workspace.id}/members")
