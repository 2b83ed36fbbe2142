# SPDX-License-Identifier: AGPL-3.0-or-later
"""Channels: the connected accounts and their health; connecting and disconnecting them.

Everyone in the workspace sees the page; connecting and disconnecting need the
connections permission (owners and admins). The logic is in
:mod:`socialdesk.publishing.oauth`; these routes parse, check, call it and redirect.

Starting a consent flow answers a small page that forwards the browser to the network
(a ``<meta http-equiv="refresh">``), not a 303: the CSP's ``form-action 'self'`` makes
Chromium refuse a form submission that redirects to another site.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session, object_session

from socialdesk.accounts.roles import Permission
from socialdesk.config import Settings
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import SocialdeskError, ValidationError
from socialdesk.publishing import channels, oauth
from socialdesk.storage.tables import Workspace
from socialdesk.web.deps import (
    DbDep,
    NetworkDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    VaultDep,
)
from socialdesk.web.templating import render, sentence, templates
from socialdesk.web.ui.common import (
    WorkspaceView,
    field_errors,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_READ))]
ManageView = Annotated[WorkspaceView, Depends(workspace_view(Permission.CONNECTIONS_MANAGE))]

#: The browser session keeps the token of a pending choice (never a URL, never a log).
_CHOICE_KEY = "channel_choice"


def channels_needing_reconnect(workspace: Workspace | None) -> int:
    """For the layout's banner: one count query on the session that loaded the page."""
    session = object_session(workspace) if workspace is not None else None
    if workspace is None or session is None:
        return 0
    return oauth.reconnect_count(session, workspace_id=workspace.id)


templates.env.globals["channels_needing_reconnect"] = channels_needing_reconnect


def _path(view: WorkspaceView) -> str:
    return f"/w/{view.workspace.id}/channels"


def _channels_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    settings: Settings,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context: dict[str, Any] = {"values": {}, "errors": {}, "failed": None}
    context.update(extra)
    return page(
        request,
        "channels.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        rows=oauth.channel_rows(session, workspace_id=view.workspace.id),
        options=oauth.connect_options(settings),
        manages=view.can(Permission.CONNECTIONS_MANAGE),
        **context,
    )


@router.get("/w/{workspace_id}/channels")
def channels_page(
    request: Request,
    view: ReadView,
    session: SessionDep,
    settings: SettingsDep,
    reconnect: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    values: dict[str, str] = {}
    if reconnect is not None and view.can(Permission.CONNECTIONS_MANAGE):
        # Reconnecting an app-password channel: its form, filled in but for the password.
        channel = channels.get_channel(session, channel_id=reconnect)
        values = {
            "handle": str(channel.extra.get("identifier") or channel.handle),
            "service_url": channel.base_url,
        }
    return _channels_page(request, session, view, settings, values=values)


@router.post("/w/{workspace_id}/channels/connect/{network}")
def start_connect(
    request: Request,
    network: str,
    view: ManageView,
    session: SessionDep,
    vault: VaultDep,
    settings: SettingsDep,
    runtime: NetworkDep,
    instance_url: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    try:
        url = oauth.start_connect(
            session,
            vault=vault,
            settings=settings,
            network_runtime=runtime,
            workspace_id=view.workspace.id,
            user_id=view.access.user.id,
            network=network,
            base_url=instance_url,
        )
    except ValidationError as exc:
        return _channels_page(
            request,
            session,
            view,
            settings,
            status_code=422,
            values={"instance_url": instance_url},
            errors=field_errors(exc),
            failed=network,
        )
    response = render(
        request,
        "channels_redirect.html",
        {"url": url, "network_name": connector_class(network).display_name},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/w/{workspace_id}/channels/password/{network}")
def connect_with_password(
    request: Request,
    network: str,
    view: ManageView,
    session: SessionDep,
    db: DbDep,
    vault: VaultDep,
    settings: SettingsDep,
    runtime: NetworkDep,
    handle: Annotated[str, Form(max_length=300)] = "",
    app_password: Annotated[str, Form(max_length=200)] = "",
    service_url: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    session.commit()  # hold no transaction while the network answers
    try:
        channel = oauth.connect_with_password(
            db,
            vault=vault,
            network_runtime=runtime,
            workspace_id=view.workspace.id,
            network=network,
            handle=handle,
            password=app_password,
            service_url=service_url,
            actor=view.principal.actor(request),
        )
    except ValidationError as exc:
        return _channels_page(
            request,
            session,
            view,
            settings,
            status_code=422,
            values={"handle": handle, "service_url": service_url},
            errors=field_errors(exc),
            failed=network,
        )
    flash(request, f"Connected {channel.handle} ({connector_class(network).display_name}).")
    return redirect(_path(view))


@router.post("/w/{workspace_id}/channels/{channel_id}/disconnect")
def disconnect(
    request: Request, channel_id: uuid.UUID, view: ManageView, session: SessionDep
) -> Response:
    channel = channels.get_channel(session, channel_id=channel_id)
    channels.disconnect_channel(session, channel=channel, actor=view.principal.actor(request))
    flash(
        request,
        f"{channel.handle} is disconnected; its scheduled posts were cancelled. "
        "Reconnect it any time.",
    )
    return redirect(_path(view))


def _flash_outcome(request: Request, outcome: oauth.ConnectOutcome) -> None:
    name = connector_class(outcome.network).display_name
    if outcome.channels:
        handles = ", ".join(c.display_name or c.handle for c in outcome.channels)
        flash(request, f"Connected {handles} ({name}).")
    for failure in outcome.failures:
        flash(request, sentence(f"Not connected: {failure}"), "error")


@router.get("/oauth/callback/{network}")
def oauth_callback(
    request: Request,
    network: str,
    principal: PrincipalDep,
    session: SessionDep,
    db: DbDep,
    vault: VaultDep,
    settings: SettingsDep,
    runtime: NetworkDep,
    state: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=2000)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Where every network sends the browser back after the consent page."""
    back = oauth.state_workspace(session, state=state, user_id=principal.user.id)
    session.commit()  # hold no transaction while the network answers
    try:
        outcome = oauth.finish_connect(
            db,
            vault=vault,
            settings=settings,
            network_runtime=runtime,
            network=network,
            state=state,
            code=code or None,
            error=error or None,
            actor=principal.actor(request),
        )
    except SocialdeskError as exc:
        flash(request, sentence(exc.message), "error")
        return redirect(f"/w/{back}/channels" if back else "/")
    if outcome.choice is not None:
        request.session[_CHOICE_KEY] = outcome.choice
        return redirect(f"/w/{outcome.workspace_id}/channels/choose")
    _flash_outcome(request, outcome)
    return redirect(f"/w/{outcome.workspace_id}/channels")


@router.get("/w/{workspace_id}/channels/choose")
def choose_page(
    request: Request, view: ManageView, session: SessionDep, db: DbDep, vault: VaultDep
) -> Response:
    session.commit()
    token = request.session.get(_CHOICE_KEY)
    try:
        network, choices = oauth.pending_choice(
            db,
            vault=vault,
            token=token if isinstance(token, str) else "",
            workspace_id=view.workspace.id,
            actor=view.principal.actor(request),
        )
    except ValidationError as exc:
        request.session.pop(_CHOICE_KEY, None)
        flash(request, sentence(exc.message), "error")
        return redirect(_path(view))
    return page(
        request,
        "channels_choose.html",
        shell=view.shell,
        view=view,
        network_name=connector_class(network).display_name,
        choices=choices,
    )


@router.post("/w/{workspace_id}/channels/choose")
def choose(
    request: Request,
    view: ManageView,
    session: SessionDep,
    db: DbDep,
    vault: VaultDep,
    runtime: NetworkDep,
    accounts: Annotated[list[str] | None, Form()] = None,
) -> Response:
    session.commit()  # hold no transaction while the network answers
    token = request.session.get(_CHOICE_KEY)
    try:
        outcome = oauth.connect_chosen(
            db,
            vault=vault,
            network_runtime=runtime,
            token=token if isinstance(token, str) else "",
            workspace_id=view.workspace.id,
            keys=accounts or [],
            actor=view.principal.actor(request),
        )
    except ValidationError as exc:
        flash(request, sentence(exc.message), "error")
        if exc.field == "accounts":  # nothing ticked: the choice is still there
            return redirect(f"{_path(view)}/choose")
        request.session.pop(_CHOICE_KEY, None)
        return redirect(_path(view))
    request.session.pop(_CHOICE_KEY, None)
    _flash_outcome(request, outcome)
    return redirect(_path(view))


@router.post("/w/{workspace_id}/channels/choose/cancel")
def cancel_choice(request: Request, view: ManageView, session: SessionDep, db: DbDep) -> Response:
    session.commit()  # on SQLite every transaction holds the write lock
    token = request.session.pop(_CHOICE_KEY, None)
    if isinstance(token, str):
        oauth.cancel_choice(db, token=token, workspace_id=view.workspace.id)
    flash(request, "Nothing was connected.", "info")
    return redirect(_path(view))
