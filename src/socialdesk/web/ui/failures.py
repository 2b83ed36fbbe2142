# SPDX-License-Identifier: AGPL-3.0-or-later
"""Failures: every delivery that failed or may have gone out, with the network's reason
and a retry button; channels that need reconnecting come first."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from socialdesk.accounts.roles import Permission
from socialdesk.errors import Conflict
from socialdesk.publishing import calendar, posts
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.ui.calendar import csv_response, file_slug, post_path
from socialdesk.web.ui.common import (
    WorkspaceView,
    flash,
    page,
    redirect,
    safe_next,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_READ))]
RetryView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_PUBLISH))]


@router.get("/w/{workspace_id}/failures")
def failures_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    workspace_id = view.workspace.id
    items = calendar.attention_items(session, workspace_id=workspace_id)
    return page(
        request,
        "failures.html",
        shell=view.shell,
        view=view,
        items=items,
        reconnect=calendar.channels_needing_reconnect(session, workspace_id=workspace_id),
        network_name=calendar.network_name,
        initials=calendar.initials,
        post_path=lambda post_id: post_path(workspace_id, post_id),
        can_retry=view.can(Permission.POSTS_PUBLISH),
        can_reconnect=view.can(Permission.CONNECTIONS_MANAGE),
    )


@router.get("/w/{workspace_id}/failures.csv")
def failures_csv(view: ReadView, session: SessionDep, settings: SettingsDep) -> Response:
    items = calendar.attention_items(session, workspace_id=view.workspace.id)
    base = settings.base_url.rstrip("/")
    body = calendar.failures_csv(
        items, url_for=lambda post_id: base + post_path(view.workspace.id, post_id)
    )
    today = utcnow().date().isoformat()
    return csv_response(body, f"socialdesk-{file_slug(view.workspace.name)}-failures-{today}.csv")


@router.post("/w/{workspace_id}/failures/{delivery_id}/retry")
def retry(
    request: Request,
    delivery_id: uuid.UUID,
    view: RetryView,
    session: SessionDep,
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    back = safe_next(next_path, f"/w/{view.workspace.id}/failures")
    delivery = posts.get_delivery(session, delivery_id=delivery_id)
    try:
        posts.retry_delivery(
            session, access=view.access, actor=view.principal.actor(request), delivery=delivery
        )
    except Conflict as exc:
        flash(request, exc.message, "error")
        return redirect(back)
    flash(request, f"Trying {delivery.channel.handle} again now.")
    return redirect(back)
