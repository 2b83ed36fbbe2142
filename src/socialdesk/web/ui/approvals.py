# SPDX-License-Identifier: AGPL-3.0-or-later
"""Approvals in the browser: the queue, a post's review page, and the bell.

Every page opens for any member (``workspace.read``); what a member sees and may do is
decided by the domain (``publishing.approvals``): approvers get only the posts sent to
them, and only the controls ``actions_for`` allows are shown.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session, object_session

from socialdesk import notifications
from socialdesk.accounts.roles import Permission
from socialdesk.errors import ValidationError
from socialdesk.media.library import asset_path
from socialdesk.publishing import approvals, posts
from socialdesk.storage.tables import Post
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.templating import render, templates
from socialdesk.web.ui.common import (
    Shell,
    WorkspaceView,
    field_errors,
    flash,
    is_htmx,
    page,
    redirect,
    safe_next,
    workspace_view,
)

router = APIRouter()

MemberView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_READ))]
ManageView = Annotated[WorkspaceView, Depends(workspace_view(Permission.WORKSPACE_MANAGE))]
Tab = Literal["pending", "decided", "drafts"]
#: How the workspace's approval mode reads in a sentence.
MODE_LABELS = {
    "none": "Approval is asked for post by post",
    "roles": "Posts by some roles need approval",
    "external": "An external approver approves every post",
}
BELL_SIZE = 8


def unread_notifications(shell: Shell) -> int:
    """For the layout's bell: one count query on the session that loaded the page."""
    workspace = shell.current
    session = object_session(shell.user) if workspace is not None else None
    if workspace is None or session is None:
        return 0
    return notifications.unread_for(session, workspace_id=workspace.id, user_id=shell.user.id)


templates.env.globals["unread_notifications"] = unread_notifications


def _base(view: WorkspaceView) -> str:
    return f"/w/{view.workspace.id}/approvals"


# -- the queue ------------------------------------------------------------------------------


@router.get("/w/{workspace_id}/approvals")
def approvals_page(
    request: Request,
    view: MemberView,
    session: SessionDep,
    show: Annotated[Tab, Query()] = "pending",
) -> Response:
    access = view.access
    team = view.can(Permission.POSTS_READ)
    if not team and not view.can(Permission.APPROVALS_DECIDE):
        show = "pending"
    if show == "drafts" and not view.can(Permission.APPROVALS_REQUEST):
        show = "pending"
    if show == "drafts":
        items = approvals.draft_queue(session, access=access)
    else:
        items = approvals.review_queue(session, access=access, state=show)
    waiting = approvals.pending_count(session, access=access)
    return page(
        request,
        "approvals.html",
        shell=view.shell,
        view=view,
        items=items,
        show=show,
        waiting=waiting,
        team=team,
        may_request=view.can(Permission.APPROVALS_REQUEST),
        may_decide=approvals.may_decide(access),
        mode_label=MODE_LABELS.get(view.workspace.approval_mode, ""),
        viewer_timezone=access.user.timezone,
    )


# -- one post -------------------------------------------------------------------------------


def _post_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    post: Post,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    found = approvals.review(session, access=view.access, post=post)
    actions = approvals.actions_for(view.access, found)
    deciders = (
        [
            u
            for u in approvals.deciders(session, workspace=view.workspace)
            if u.id != view.access.user.id
        ]
        if actions.request
        else []
    )
    return page(
        request,
        "approvals_post.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        review=found,
        post=post,
        timeline=found.timeline(),
        actions=actions,
        deciders=deciders,
        errors=errors or {},
        values=values or {},
        viewer_timezone=view.access.user.timezone,
        now_utc=utcnow(),
    )


def _visible(session: Session, view: WorkspaceView, post_id: uuid.UUID) -> Post:
    return approvals.get_visible_post(session, access=view.access, post_id=post_id)


@router.get("/w/{workspace_id}/approvals/{post_id}")
def post_page(
    request: Request, post_id: uuid.UUID, view: MemberView, session: SessionDep
) -> Response:
    return _post_page(request, session, view, _visible(session, view, post_id))


@router.get("/w/{workspace_id}/approvals/{post_id}/media/{asset_id}")
def post_media(
    post_id: uuid.UUID,
    asset_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    settings: SettingsDep,
) -> FileResponse:
    """An image of a post, for whoever may review it (approvers have no library)."""
    post = _visible(session, view, post_id)
    asset = approvals.post_asset(session, access=view.access, post=post, asset_id=asset_id)
    return FileResponse(
        asset_path(settings, asset),
        media_type=asset.mime_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _done(request: Request, view: WorkspaceView, post: Post, message: str) -> Response:
    flash(request, message)
    return redirect(f"{_base(view)}/{post.id}")


@router.post("/w/{workspace_id}/approvals/{post_id}/request")
def request_approval(
    request: Request,
    post_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    settings: SettingsDep,
    approver_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    post = _visible(session, view, post_id)
    try:
        chosen = uuid.UUID(approver_id) if approver_id.strip() else None
    except ValueError:
        chosen = uuid.UUID(int=0)  # no one has this id: the domain says so in words
    try:
        approval = approvals.request_approval(
            session,
            settings=settings,
            access=view.access,
            actor=view.principal.actor(request),
            post=post,
            approver_id=chosen,
            note=note,
        )
    except ValidationError as exc:
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422,
            errors=field_errors(exc, "request"),
            values={"note": note, "approver_id": approver_id},
        )
    to = "everyone who approves posts"
    if approval.approver_id is not None:
        chosen_user = next(
            (
                u
                for u in approvals.deciders(session, workspace=view.workspace)
                if u.id == approval.approver_id
            ),
            None,
        )
        to = (chosen_user.name or chosen_user.email) if chosen_user else "the approver"
    return _done(request, view, post, f"Sent for approval to {to}.")


@router.post("/w/{workspace_id}/approvals/{post_id}/approve")
def approve(
    request: Request,
    post_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    comment: Annotated[str, Form()] = "",
    now: Annotated[str, Form()] = "",
) -> Response:
    post = _visible(session, view, post_id)
    try:
        approvals.approve(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            post=post,
            comment=comment,
            publish_now=bool(now),
        )
    except ValidationError as exc:
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422,
            errors=field_errors(exc, "decision"),
            values={"comment": comment},
        )
    if post.status == "scheduled":
        message = "Approved. It goes out now." if now else "Approved and scheduled."
    else:
        message = "Approved. It goes out once someone gives it a time."
    return _done(request, view, post, message)


@router.post("/w/{workspace_id}/approvals/{post_id}/reject")
def reject(
    request: Request,
    post_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    comment: Annotated[str, Form()] = "",
) -> Response:
    post = _visible(session, view, post_id)
    try:
        approvals.reject(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            post=post,
            comment=comment,
        )
    except ValidationError as exc:
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422,
            errors=field_errors(exc, "comment"),
            values={"comment": comment},
        )
    return _done(request, view, post, "Rejected. The author sees your comment.")


@router.post("/w/{workspace_id}/approvals/{post_id}/withdraw")
def withdraw(
    request: Request, post_id: uuid.UUID, view: MemberView, session: SessionDep
) -> Response:
    post = _visible(session, view, post_id)
    approvals.withdraw(session, access=view.access, actor=view.principal.actor(request), post=post)
    return _done(request, view, post, "Taken back from review; it is a draft again.")


@router.post("/w/{workspace_id}/approvals/{post_id}/comments")
def comment(
    request: Request,
    post_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    body: Annotated[str, Form()] = "",
) -> Response:
    post = _visible(session, view, post_id)
    try:
        approvals.add_comment(
            session, access=view.access, actor=view.principal.actor(request), post=post, body=body
        )
    except ValidationError as exc:
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422,
            errors=field_errors(exc, "body"),
            values={"body": body},
        )
    return redirect(f"{_base(view)}/{post.id}#discussion")


@router.post("/w/{workspace_id}/approvals/{post_id}/edit")
def edit(
    request: Request,
    post_id: uuid.UUID,
    view: MemberView,
    session: SessionDep,
    settings: SettingsDep,
    text: Annotated[str, Form()] = "",
) -> Response:
    post = _visible(session, view, post_id)
    was = post.status
    try:
        posts.update_post(
            session,
            settings=settings,
            access=view.access,
            actor=view.principal.actor(request),
            post=post,
            text=text,
        )
    except ValidationError as exc:
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422,
            errors=field_errors(exc, "text"),
            values={"text": text},
        )
    if post.status == "in_review" and was != "in_review":
        message = "Saved. The post changed after its approval, so it waits for approval again."
    else:
        message = "Saved."
    return _done(request, view, post, message)


# -- settings --------------------------------------------------------------------------------


@router.post("/w/{workspace_id}/settings/approvals")
def approval_settings(
    request: Request,
    view: ManageView,
    session: SessionDep,
    mode: Annotated[str, Form()] = "",
    roles: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        approvals.set_approval_mode(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            mode=mode,
            roles=roles or [],
        )
    except ValidationError as exc:
        flash(request, exc.message[0].upper() + exc.message[1:] + ".", "error")
        return redirect(f"/w/{view.workspace.id}/settings#approvals")
    flash(request, "Approval settings saved.")
    return redirect(f"/w/{view.workspace.id}/settings#approvals")


# -- the bell ---------------------------------------------------------------------------------


def _bell_context(session: Session, view: WorkspaceView) -> dict[str, Any]:
    return {
        "view": view,
        "ws_id": view.workspace.id,
        "unread": notifications.unread_count(session, access=view.access),
        "items": notifications.list_notifications(session, access=view.access, limit=BELL_SIZE),
        "viewer_timezone": view.access.user.timezone,
    }


@router.get("/w/{workspace_id}/notifications/count")
def bell_count(request: Request, view: MemberView, session: SessionDep) -> Response:
    return render(
        request,
        "approvals_bell_count.html",
        {
            "ws_id": view.workspace.id,
            "unread": notifications.unread_count(session, access=view.access),
        },
    )


@router.get("/w/{workspace_id}/notifications/panel")
def bell_panel(request: Request, view: MemberView, session: SessionDep) -> Response:
    return render(request, "approvals_bell_panel.html", _bell_context(session, view))


@router.get("/w/{workspace_id}/notifications")
def notifications_page(request: Request, view: MemberView, session: SessionDep) -> Response:
    return page(
        request,
        "approvals_notifications.html",
        shell=view.shell,
        view=view,
        items=notifications.list_notifications(
            session, access=view.access, limit=notifications.MAX_PAGE
        ),
        unread=notifications.unread_count(session, access=view.access),
        viewer_timezone=view.access.user.timezone,
    )


@router.post("/w/{workspace_id}/notifications/read-all")
def read_all(
    request: Request,
    view: MemberView,
    session: SessionDep,
    next: Annotated[str, Form()] = "",
) -> Response:
    notifications.mark_all_read(session, access=view.access)
    if is_htmx(request):
        response = render(request, "approvals_bell_panel.html", _bell_context(session, view))
        response.headers["HX-Trigger"] = "sd:notifications"
        return response
    return redirect(safe_next(next, f"/w/{view.workspace.id}/notifications"))


@router.post("/w/{workspace_id}/notifications/{notification_id}/open")
def open_notification(
    notification_id: uuid.UUID, view: MemberView, session: SessionDep
) -> Response:
    """Mark one read and go to what it is about (or back to the list)."""
    found = notifications.open_notification(
        session, access=view.access, notification_id=notification_id
    )
    return redirect(safe_next(found.link, f"/w/{view.workspace.id}/notifications"))
