# SPDX-License-Identifier: AGPL-3.0-or-later
"""Opening an invitation link: join, sign in first, or create an account and join."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import invitations, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import ROLE_DESCRIPTIONS, Role
from socialdesk.errors import NotFound, ValidationError
from socialdesk.storage.tables import Invitation
from socialdesk.web.deps import OptionalPrincipalDep, PrincipalDep, SessionDep, client_ip
from socialdesk.web.security import sign_in
from socialdesk.web.templating import render_error
from socialdesk.web.ui.common import (
    all_or_nothing,
    client_timezone,
    flash,
    landing_path,
    page,
    redirect,
)

router = APIRouter()


def _unusable(request: Request, error: NotFound) -> Response:
    return render_error(
        request, status_code=404, title="This invitation cannot be used", message=error.message
    )


def _invitation_page(
    request: Request,
    session: Session,
    *,
    token: str,
    invitation: Invitation,
    signed_in_email: str | None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    workspace = workspaces.find_workspace(session, str(invitation.workspace_id))
    has_account = signed_in_email is None and users.find_by_email(session, invitation.email)
    return page(
        request,
        "invite.html",
        status_code=status_code,
        token=token,
        invitation=invitation,
        workspace=workspace,
        role_description=ROLE_DESCRIPTIONS[Role(invitation.role)],
        signed_in_email=signed_in_email,
        has_account=bool(has_account),
        errors=errors or {},
        values=values or {},
    )


@router.get("/invite/{token}")
def invitation(
    request: Request, token: str, principal: OptionalPrincipalDep, session: SessionDep
) -> Response:
    try:
        found = invitations.find_open_invitation(session, token=token)
    except NotFound as exc:
        return _unusable(request, exc)
    return _invitation_page(
        request,
        session,
        token=token,
        invitation=found,
        signed_in_email=principal.user.email if principal else None,
    )


@router.post("/invite/{token}/accept")
def accept(request: Request, token: str, principal: PrincipalDep, session: SessionDep) -> Response:
    try:
        membership = invitations.accept_invitation(
            session, token=token, user=principal.user, actor=principal.actor(request)
        )
    except NotFound as exc:
        return _unusable(request, exc)
    flash(request, f"Welcome to {membership.workspace.name}!")
    return redirect(landing_path(membership.workspace_id, Role(membership.role)))


@router.post("/invite/{token}/signup")
def sign_up(
    request: Request,
    token: str,
    principal: OptionalPrincipalDep,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    password_confirm: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    if principal is not None:
        return redirect(f"/invite/{token}")
    try:
        found = invitations.find_open_invitation(session, token=token)
    except NotFound as exc:
        return _unusable(request, exc)
    if users.find_by_email(session, found.email) is not None:
        # Someone made the account meanwhile: the page now offers to sign in.
        return redirect(f"/invite/{token}")
    try:
        if password != password_confirm:
            raise ValidationError("the two passwords are not the same", field="password_confirm")
        with all_or_nothing(session):
            user = users.create_user(
                session,
                email=found.email,
                password=password,
                name=name,
                timezone=client_timezone(timezone),
                actor=Actor(label=found.email, ip=client_ip(request)),
            )
            membership = invitations.accept_invitation(
                session,
                token=token,
                user=user,
                actor=Actor(label=user.email, user_id=user.id, ip=client_ip(request)),
            )
    except ValidationError as exc:
        return _invitation_page(
            request,
            session,
            token=token,
            invitation=found,
            signed_in_email=None,
            status_code=422,
            errors={exc.field or "form": exc.message},
            values={"name": name},
        )
    sign_in(request, user=user, fingerprint=users.session_fingerprint(user))
    flash(request, f"Welcome to {membership.workspace.name}!")
    return redirect(landing_path(membership.workspace_id, Role(membership.role)))
