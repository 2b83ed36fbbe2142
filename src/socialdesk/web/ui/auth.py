# SPDX-License-Identifier: AGPL-3.0-or-later
"""Signing in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from socialdesk.accounts import users
from socialdesk.errors import AuthenticationFailed, TooManyAttempts
from socialdesk.web.deps import (
    LoginThrottleDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionDep,
    client_ip,
)
from socialdesk.web.security import sign_in, sign_out
from socialdesk.web.ui.common import flash, page, redirect, safe_next

router = APIRouter()


@router.get("/login")
def login_form(
    request: Request,
    principal: OptionalPrincipalDep,
    session: SessionDep,
    next_path: Annotated[str, Query(alias="next")] = "/",
) -> Response:
    target = safe_next(next_path)
    if principal is not None:
        return redirect(target)
    if users.count_users(session) == 0:
        return redirect("/setup")
    return page(request, "login.html", next=target, email="", errors={})


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    throttle: LoginThrottleDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
) -> Response:
    target = safe_next(next_path)
    try:
        # Counted before the password is checked, so guessing costs attempts either way.
        throttle.hit(ip=client_ip(request), email=email)
        user = users.authenticate(session, email=email, password=password)
    except TooManyAttempts as exc:
        response = page(
            request,
            "login.html",
            status_code=429,
            next=target,
            email=email,
            errors={"form": exc.message},
        )
        response.headers["Retry-After"] = str(int(exc.retry_after))
        return response
    except AuthenticationFailed as exc:
        return page(
            request,
            "login.html",
            status_code=401,
            next=target,
            email=email,
            errors={"form": exc.message},
        )
    throttle.reset(email=email)
    sign_in(request, user=user, fingerprint=users.session_fingerprint(user))
    return redirect(target)


@router.post("/logout")
def logout(
    request: Request,
    _principal: PrincipalDep,
    next_path: Annotated[str, Form(alias="next")] = "/login",
) -> Response:
    sign_out(request)
    flash(request, "You are signed out.", "info")
    return redirect(safe_next(next_path, default="/login"))
