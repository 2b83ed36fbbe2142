# SPDX-License-Identifier: AGPL-3.0-or-later
"""API tokens: list, create (secret shown once), revoke."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts import tokens
from socialdesk.accounts.roles import Permission
from socialdesk.errors import ValidationError
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.ui.common import WorkspaceView, flash, page, redirect, workspace_view

router = APIRouter()

TokensView = Annotated[WorkspaceView, Depends(workspace_view(Permission.TOKENS_OWN))]
MAX_EXPIRY_DAYS = 3650


def parse_expiry_days(value: str) -> dt.datetime | None:
    """An optional number of days from now, as the instant the token stops working."""
    value = value.strip()
    if not value:
        return None
    try:
        days = int(value)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError(
            f"give a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or leave it empty",
            field="expires_days",
        )
    return utcnow() + dt.timedelta(days=days)


def _tokens_page(
    request: Request, session: Session, view: WorkspaceView, *, status_code: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {"values": {}, "errors": {}, "created": None}
    context.update(extra)
    return page(
        request,
        "tokens.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        tokens=tokens.list_tokens(session, access=view.access),
        # Owners and admins see (and may revoke) everyone's tokens.
        sees_all=view.can(Permission.MEMBERS_MANAGE),
        now=utcnow(),
        **context,
    )


@router.get("/w/{workspace_id}/tokens")
def tokens_page(request: Request, view: TokensView, session: SessionDep) -> Response:
    return _tokens_page(request, session, view)


@router.post("/w/{workspace_id}/tokens")
def create_token(
    request: Request,
    view: TokensView,
    session: SessionDep,
    settings: SettingsDep,
    name: Annotated[str, Form()] = "",
    expires_days: Annotated[str, Form()] = "",
) -> Response:
    try:
        token, secret = tokens.create_token(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            name=name,
            expires_at=parse_expiry_days(expires_days),
        )
    except ValidationError as exc:
        field = "expires_days" if exc.field == "expires_at" else exc.field or "name"
        return _tokens_page(
            request,
            session,
            view,
            status_code=422,
            values={"name": name, "expires_days": expires_days},
            errors={field: exc.message},
        )
    # The secret is in this response only; the database keeps its hash.
    created = {
        "name": token.name,
        "secret": secret,
        "api_url": settings.base_url.rstrip("/") + "/api/v1/me",
    }
    return _tokens_page(request, session, view, created=created)


@router.post("/w/{workspace_id}/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: uuid.UUID, view: TokensView, session: SessionDep
) -> Response:
    token = tokens.revoke_token(
        session, access=view.access, actor=view.principal.actor(request), token_id=token_id
    )
    flash(request, f"The token “{token.name}” is revoked; programs using it are locked out now.")
    return redirect(f"/w/{view.workspace.id}/tokens")
