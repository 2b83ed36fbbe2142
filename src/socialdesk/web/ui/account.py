# SPDX-License-Identifier: AGPL-3.0-or-later
"""Your account: name, time zone, password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import users
from socialdesk.errors import ValidationError
from socialdesk.web.deps import Principal, PrincipalDep, SessionDep
from socialdesk.web.ui.common import (
    field_errors,
    flash,
    page,
    redirect,
    renew_sign_in,
    user_shell,
)

router = APIRouter()


def _account_page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    status_code: int = 200,
    profile: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    user = principal.user
    return page(
        request,
        "account.html",
        shell=user_shell(request, session, user),
        status_code=status_code,
        profile=profile or {"name": user.name, "timezone": user.timezone},
        errors=errors or {},
    )


@router.get("/account")
def account_page(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    return _account_page(request, session, principal)


@router.post("/account/profile")
def update_profile(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    try:
        users.update_profile(
            session,
            user=principal.user,
            actor=principal.actor(request),
            name=name,
            timezone=timezone.strip(),
        )
    except ValidationError as exc:
        return _account_page(
            request,
            session,
            principal,
            status_code=422,
            profile={"name": name, "timezone": timezone},
            errors=field_errors(exc),
        )
    flash(request, "Your profile is saved.")
    return redirect("/account")


@router.post("/account/password")
def change_password(
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        if new_password != new_password_confirm:
            raise ValidationError(
                "the two new passwords are not the same", field="new_password_confirm"
            )
        users.change_password(
            session,
            user=principal.user,
            actor=principal.actor(request),
            current_password=current_password,
            new_password=new_password,
        )
    except ValidationError as exc:
        # The password rules speak of "password"; on this form that is the new one.
        field = "new_password" if exc.field == "password" else exc.field or "form"
        return _account_page(
            request, session, principal, status_code=422, errors={field: exc.message}
        )
    # The fingerprint changed with the hash: every other browser is signed out now;
    # this one signs in again with the new fingerprint.
    renew_sign_in(request, principal.user)
    flash(request, "Password changed. Every other browser signed in as you is signed out.")
    return redirect("/account")
