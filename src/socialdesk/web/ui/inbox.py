# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox in the browser: the list, a conversation, and everything done to it.

The page is two columns: the conversations on the left (``inbox.views.inbox_list``, a
fixed number of queries), the open conversation on the right. Opening a conversation from
the list with htmx swaps only the right column (``HX-Target: conversation``); every form
works without JavaScript too (Post/Redirect/Get with a flash). After a change made with
htmx the right column comes back re-rendered and the list refreshes itself (the
``sd:inbox-changed`` event).

Anyone who reads the inbox (``inbox.read``) opens these pages; the domain refuses changes
to those who do not work it (``inbox.work``), and the controls are not shown to them.
Saved replies, business hours and reports live in ``inbox_settings`` and
``inbox_reports``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session, object_session
from starlette.datastructures import QueryParams

from socialdesk.accounts.roles import Permission, can
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import NotFound, ValidationError
from socialdesk.inbox import actions, contacts, conversations, saved_replies, views
from socialdesk.inbox.conversations import SENTIMENTS, SORTS, STATUSES, ConversationFilter
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep
from socialdesk.web.templating import render, sentence, templates
from socialdesk.web.ui import inbox_reports, inbox_settings
from socialdesk.web.ui.common import (
    Shell,
    WorkspaceView,
    flash,
    is_htmx,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()
router.include_router(inbox_settings.router)
router.include_router(inbox_reports.router)

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.INBOX_READ))]
PAGE_SIZE = 50
#: The list's tabs: (key, label). Each is a preset of the filters.
TABS = (
    ("open", "Open"),
    ("mine", "Mine"),
    ("unassigned", "Unassigned"),
    ("unanswered", "Unanswered"),
    ("pending", "Pending"),
    ("closed", "Closed"),
    ("all", "All"),
)
TAB_KEYS = tuple(key for key, _label in TABS)
#: The query parameters the list understands (kept when moving between conversations).
LIST_PARAMS = (
    "tab",
    "network",
    "channel",
    "sentiment",
    "assignee",
    "waiting",
    "tag",
    "q",
    "sort",
    "page",
)
ITEM_ACTIONS = ("like", "hide", "unhide", "delete")
ACTION_DONE = {
    "like": "It will be liked on the network in a moment.",
    "hide": "It will be hidden on the network in a moment.",
    "unhide": "It will be shown again on the network in a moment.",
    "delete": "It will be deleted on the network in a moment.",
}


# -- small helpers ----------------------------------------------------------------------------


def inbox_age(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """How long ago, as inbox lists say it: "now", "12m", "3h", "5d", then a date."""
    if value is None:
        return ""
    seconds = ((now or utcnow()) - value).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    if seconds < 86400 * 30:
        return f"{int(seconds // 86400)}d"
    return value.strftime("%d %b %Y") if seconds > 86400 * 300 else value.strftime("%d %b")


def unanswered_badge(shell: Shell) -> int:
    """For the sidebar: conversations waiting for our answer (one count query)."""
    workspace, role = shell.current, shell.role
    session = object_session(shell.user) if workspace is not None else None
    if workspace is None or role is None or session is None:
        return 0
    if not can(role, Permission.INBOX_READ):
        return 0
    access = Access(user=shell.user, workspace=workspace, role=role)
    return views.inbox_counts(session, access=access).unanswered


templates.env.filters["inbox_age"] = inbox_age
templates.env.globals["inbox_unanswered"] = unanswered_badge


def _base(view: WorkspaceView) -> str:
    return f"/w/{view.workspace.id}/inbox"


def _uuid(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise ValidationError(f"the {name} is not a valid id", field=name) from None


def list_state(params: QueryParams) -> dict[str, str]:
    """The list's own query parameters, non-empty ones only (to carry between pages)."""
    return {k: params[k].strip() for k in LIST_PARAMS if params.get(k, "").strip()}


def parse_filters(state: dict[str, str], *, user_id: uuid.UUID) -> ConversationFilter:
    """The tab and the filter form as the domain's filter (bad values: ValidationError)."""
    tab = state.get("tab", "open")
    if tab not in TAB_KEYS:
        raise ValidationError(f"unknown tab {tab!r}; choose from {', '.join(TAB_KEYS)}")
    statuses: tuple[str, ...] = ()
    assignee_id: uuid.UUID | None = None
    unassigned = False
    unanswered_for: dt.timedelta | None = None
    if tab in ("open", "mine", "unassigned"):
        statuses = ("open",)
    elif tab in ("pending", "closed"):
        statuses = (tab,)
    elif tab == "unanswered":
        statuses, unanswered_for = ("open", "pending"), dt.timedelta(0)
    if tab == "mine":
        assignee_id = user_id
    elif tab == "unassigned":
        unassigned = True
    assignee = state.get("assignee", "")
    if assignee == "me":
        assignee_id, unassigned = user_id, False
    elif assignee == "none":
        assignee_id, unassigned = None, True
    elif assignee:
        assignee_id, unassigned = _uuid(assignee, "assignee"), False
    waiting = state.get("waiting", "")
    if waiting:
        try:
            hours = float(waiting)
        except ValueError:
            raise ValidationError(
                f"unanswered for more than {waiting!r} hours: give a number", field="waiting"
            ) from None
        if not 0 <= hours <= 24 * 365:
            raise ValidationError("unanswered hours are between 0 and 8760", field="waiting")
        unanswered_for = dt.timedelta(hours=hours)
    sort = state.get("sort", "newest")
    if sort not in SORTS:
        raise ValidationError(f"sort by one of {', '.join(SORTS)}", field="sort")
    return ConversationFilter(
        statuses=statuses,
        networks=(state["network"],) if state.get("network") else (),
        channel_ids=(_uuid(state["channel"], "channel"),) if state.get("channel") else (),
        sentiments=(state["sentiment"],) if state.get("sentiment") else (),
        assignee_id=assignee_id,
        unassigned=unassigned,
        tag=state.get("tag") or None,
        unanswered_for=unanswered_for,
        search=state.get("q") or None,
        sort=sort,
    )


def _page_number(state: dict[str, str]) -> int:
    try:
        return max(1, min(1000, int(state.get("page", "1"))))
    except ValueError:
        return 1


def _qs(state: dict[str, str], **changes: str | None) -> str:
    values = {**state, **changes}
    query = urlencode({k: v for k, v in values.items() if v})
    return f"?{query}" if query else ""


def _list_context(session: Session, view: WorkspaceView, state: dict[str, str]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    try:
        filters = parse_filters(state, user_id=view.access.user.id)
        filters.validate()
    except ValidationError as exc:
        errors = {exc.field or "filters": sentence(exc.message)}
        state = {k: v for k, v in state.items() if k in ("tab",) and v in TAB_KEYS}
        filters = parse_filters(state, user_id=view.access.user.id)
    number = _page_number(state)
    listing = views.inbox_list(
        session,
        access=view.access,
        filters=filters,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )
    networks = sorted({c.network for c in listing.channels})
    return {
        "listing": listing,
        "state": state,
        "tab": state.get("tab", "open"),
        "tabs": TABS,
        "page_number": number,
        "qs": _qs(state),
        "qs_for": lambda **changes: _qs(state, **changes),
        "networks": networks,
        "sentiments": SENTIMENTS,
        "sorts": SORTS,
        "filter_errors": errors,
        "filters_active": any(
            state.get(k)
            for k in ("network", "channel", "sentiment", "assignee", "waiting", "tag", "q")
        ),
    }


def _conversation_context(
    session: Session,
    view: WorkspaceView,
    conversation_id: uuid.UUID,
    *,
    reply_text: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> dict[str, Any]:
    found = views.conversation_page(session, access=view.access, conversation_id=conversation_id)
    return {
        "conv": found,
        "reply_text": reply_text,
        "errors": errors or {},
        "values": values or {},
        "may_work": view.can(Permission.INBOX_WORK),
        "now_utc": utcnow(),
        "viewer_timezone": view.access.user.timezone,
        "statuses": STATUSES,
    }


def _common(view: WorkspaceView) -> dict[str, Any]:
    return {
        "view": view,
        "ws_id": view.workspace.id,
        "base": _base(view),
        "may_work": view.can(Permission.INBOX_WORK),
        "may_manage": view.can(Permission.WORKSPACE_MANAGE),
        "may_report": view.can(Permission.REPORTS_READ),
        "viewer_timezone": view.access.user.timezone,
        "now_utc": utcnow(),
    }


def _full_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    conversation_id: uuid.UUID | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    state = list_state(request.query_params)
    context = {**_common(view), **_list_context(session, view, state)}
    if conversation_id is not None:
        context.update(_conversation_context(session, view, conversation_id, **extra))
    context["current_id"] = conversation_id
    return page(request, "inbox.html", shell=view.shell, status_code=status_code, **context)


def _pane(
    request: Request,
    session: Session,
    view: WorkspaceView,
    conversation_id: uuid.UUID,
    *,
    status_code: int = 200,
    toast: str | None = None,
    toast_kind: str = "success",
    changed: bool = False,
    **extra: Any,
) -> Response:
    """The right column alone (for htmx), with a toast and a list refresh when asked."""
    state = list_state(request.query_params)
    context = {
        **_common(view),
        **_conversation_context(session, view, conversation_id, **extra),
        "state": state,
        "qs": _qs(state),
        "current_id": conversation_id,
    }
    response = render(request, "inbox_conversation.html", context, status_code=status_code)
    events: dict[str, Any] = {}
    if toast:
        events["sd:toast"] = {"message": toast, "kind": toast_kind}
    if changed:
        events["sd:inbox-changed"] = {"id": str(conversation_id)}
    if events:
        response.headers["HX-Trigger"] = json.dumps(events)
    return response


def _conversation_url(view: WorkspaceView, conversation_id: uuid.UUID, back: str) -> str:
    state = list_state(QueryParams(back.lstrip("?")))
    return f"{_base(view)}/{conversation_id}{_qs(state)}"


def _after_change(
    request: Request,
    session: Session,
    view: WorkspaceView,
    conversation_id: uuid.UUID,
    message: str,
    back: str,
) -> Response:
    """htmx: the re-rendered conversation; a plain form: back to it with a flash."""
    if is_htmx(request):
        return _pane(request, session, view, conversation_id, toast=message, changed=True)
    flash(request, message)
    return redirect(_conversation_url(view, conversation_id, back))


def _refused(
    request: Request,
    session: Session,
    view: WorkspaceView,
    conversation_id: uuid.UUID,
    error: ValidationError,
    *,
    default_field: str,
    values: dict[str, str] | None = None,
    reply_text: str = "",
) -> Response:
    """The conversation again with the error next to its field; nothing was changed."""
    errors = {error.field or default_field: sentence(error.message)}
    if is_htmx(request):
        # htmx swaps only 2xx answers: the error comes back in the page, with a toast too.
        return _pane(
            request,
            session,
            view,
            conversation_id,
            toast=sentence(error.message),
            toast_kind="error",
            errors=errors,
            values=values,
            reply_text=reply_text,
        )
    return _full_page(
        request,
        session,
        view,
        conversation_id=conversation_id,
        status_code=422,
        errors=errors,
        values=values,
        reply_text=reply_text,
    )


# -- the list and a conversation ------------------------------------------------------------


@router.get("/w/{workspace_id}/inbox")
def inbox_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    if is_htmx(request) and request.headers.get("HX-Target") == "inbox-list":
        state = list_state(request.query_params)
        context = {**_common(view), **_list_context(session, view, state)}
        current = request.query_params.get("current", "")
        try:
            context["current_id"] = uuid.UUID(current) if current else None
        except ValueError:
            context["current_id"] = None
        return render(request, "inbox_list.html", context)
    return _full_page(request, session, view)


@router.get("/w/{workspace_id}/inbox/{conversation_id:uuid}")
def conversation_page(
    request: Request, conversation_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    reply_text = ""
    saved = request.query_params.get("saved", "").strip()
    if saved and view.can(Permission.INBOX_WORK):
        # Without JavaScript, "Insert" on a saved reply comes back here with it filled in.
        reply_text = saved_replies.render_saved_reply(
            session,
            access=view.access,
            reply_id=_uuid(saved, "saved reply"),
            conversation_id=conversation_id,
        )
    if is_htmx(request) and request.headers.get("HX-Target") == "conversation":
        return _pane(request, session, view, conversation_id, reply_text=reply_text)
    return _full_page(
        request, session, view, conversation_id=conversation_id, reply_text=reply_text
    )


@router.get("/w/{workspace_id}/inbox/{conversation_id:uuid}/saved-replies/{reply_id}")
def saved_reply_text(
    conversation_id: uuid.UUID, reply_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    """A saved reply filled in for this conversation (the reply box's script inserts it)."""
    text = saved_replies.render_saved_reply(
        session, access=view.access, reply_id=reply_id, conversation_id=conversation_id
    )
    return JSONResponse({"text": text}, headers={"Cache-Control": "no-store"})


# -- working a conversation ----------------------------------------------------------------


STATUS_DONE = {
    "open": "Opened again.",
    "pending": "Marked pending: waiting for the person.",
    "closed": "Closed.",
}


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/status")
def set_status(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    status: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    try:
        conversations.update_conversation(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_id=conversation_id,
            status=status,
        )
    except ValidationError as exc:
        return _refused(request, session, view, conversation_id, exc, default_field="status")
    return _after_change(
        request, session, view, conversation_id, STATUS_DONE.get(status, "Saved."), back
    )


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/assign")
def assign(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    assignee_id: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Assign to a member ("me" for oneself) or, with no one chosen, to nobody."""
    try:
        if assignee_id.strip() == "me":
            chosen: uuid.UUID | None = view.access.user.id
        elif assignee_id.strip():
            chosen = _uuid(assignee_id, "assignee_id")
        else:
            chosen = None
        conversations.update_conversation(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_id=conversation_id,
            assignee_id=chosen,
            unassign=chosen is None,
        )
    except ValidationError as exc:
        return _refused(request, session, view, conversation_id, exc, default_field="assignee_id")
    if chosen is None:
        message = "Unassigned."
    elif chosen == view.access.user.id:
        message = "Assigned to you."
    else:
        person = next(
            (u for u in views.workers(session, access=view.access) if u.id == chosen), None
        )
        message = f"Assigned to {(person.name or person.email) if person else 'them'}."
    return _after_change(request, session, view, conversation_id, message, back)


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/tags")
def set_tags(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    tags: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    try:
        conversations.update_conversation(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_id=conversation_id,
            tags=tags.split(","),
        )
    except ValidationError as exc:
        return _refused(
            request,
            session,
            view,
            conversation_id,
            exc,
            default_field="tags",
            values={"tags": tags},
        )
    return _after_change(request, session, view, conversation_id, "Tags saved.", back)


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/notes")
def add_note(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    body: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    try:
        conversations.add_note(
            session, access=view.access, conversation_id=conversation_id, body=body
        )
    except ValidationError as exc:
        return _refused(
            request,
            session,
            view,
            conversation_id,
            exc,
            default_field="body",
            values={"body": body},
        )
    return _after_change(
        request, session, view, conversation_id, "Note added (only your team sees it).", back
    )


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/contact")
def update_contact(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    contact_tags: Annotated[str, Form()] = "",
    contact_notes: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Our tags and notes about the person who started the conversation."""
    conversation = conversations.get_conversation(
        session, access=view.access, conversation_id=conversation_id
    )
    try:
        if conversation.contact_id is None:
            raise ValidationError("this conversation has no person to describe")
        contacts.update_contact(
            session,
            access=view.access,
            contact_id=conversation.contact_id,
            tags=contact_tags.split(","),
            notes=contact_notes,
        )
    except ValidationError as exc:
        return _refused(
            request,
            session,
            view,
            conversation_id,
            exc,
            default_field="contact_tags",
            values={"contact_tags": contact_tags, "contact_notes": contact_notes},
        )
    return _after_change(request, session, view, conversation_id, "Saved about this person.", back)


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/reply")
def reply(
    request: Request,
    conversation_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    text: Annotated[str, Form()] = "",
    item_id: Annotated[str, Form()] = "",
    close: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Ask the worker to send a reply (or to wait for approval, when the role needs it)."""
    try:
        target = int(item_id) if item_id.strip() else None
    except ValueError:
        target = -1  # no item has it: the domain says so in words
    try:
        action = actions.request_action(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_id=conversation_id,
            item_id=target,
            action="reply",
            text=text,
        )
        if close and action.state != actions.AWAITING_APPROVAL:
            conversations.update_conversation(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                conversation_id=conversation_id,
                status="closed",
            )
    except ValidationError as exc:
        return _refused(
            request, session, view, conversation_id, exc, default_field="text", reply_text=text
        )
    if action.state == actions.AWAITING_APPROVAL:
        message = "Your reply waits for approval; it goes out once a teammate approves it."
    elif close:
        message = "Reply on its way; the conversation is closed."
    else:
        message = "Reply on its way."
    return _after_change(request, session, view, conversation_id, message, back)


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/items/{item_id}/{action}")
def item_action(
    request: Request,
    conversation_id: uuid.UUID,
    item_id: int,
    action: str,
    view: ReadView,
    session: SessionDep,
    back: Annotated[str, Form()] = "",
) -> Response:
    """Like, hide, show again or delete what someone wrote (where the network allows)."""
    try:
        if action not in ITEM_ACTIONS:
            raise ValidationError(f"unknown action {action!r}", field="action")
        actions.request_action(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_id=conversation_id,
            item_id=item_id,
            action=action,
        )
    except ValidationError as exc:
        # Shown with the conversation's controls, whichever field the domain named.
        error = ValidationError(exc.message, field="action")
        return _refused(request, session, view, conversation_id, error, default_field="action")
    return _after_change(request, session, view, conversation_id, ACTION_DONE[action], back)


DECISIONS = ("approve", "reject", "retry")


@router.post("/w/{workspace_id}/inbox/{conversation_id:uuid}/actions/{action_id}/{decision}")
def decide_action(
    request: Request,
    conversation_id: uuid.UUID,
    action_id: uuid.UUID,
    decision: str,
    view: ReadView,
    session: SessionDep,
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """Approve or reject a reply that waits for approval; retry a failed action."""
    found = actions.get_action(session, access=view.access, action_id=action_id)
    if found.conversation_id != conversation_id:
        raise NotFound("no such action in this conversation")
    actor = view.principal.actor(request)
    try:
        if decision == "approve":
            actions.approve_action(session, access=view.access, actor=actor, action_id=action_id)
            message = "Approved: the reply goes out now."
        elif decision == "reject":
            actions.reject_action(
                session, access=view.access, actor=actor, action_id=action_id, reason=reason
            )
            message = "Rejected; its author sees why."
        elif decision == "retry":
            actions.retry_action(session, access=view.access, actor=actor, action_id=action_id)
            message = "Trying again."
        else:
            raise ValidationError(f"unknown decision {decision!r}", field="decision")
    except ValidationError as exc:
        return _refused(request, session, view, conversation_id, exc, default_field="decision")
    return _after_change(request, session, view, conversation_id, message, back)


# -- many at once --------------------------------------------------------------------------

BULK_CHOICES = {
    "close": "Close",
    "open": "Open again",
    "pending": "Mark pending",
    "assign": "Assign to…",
    "unassign": "Unassign",
    "tag": "Add tag…",
    "untag": "Remove tag…",
}


@router.post("/w/{workspace_id}/inbox/bulk")
def bulk(
    request: Request,
    view: ReadView,
    session: SessionDep,
    ids: Annotated[list[str] | None, Form()] = None,
    do: Annotated[str, Form()] = "",
    assignee_id: Annotated[str, Form()] = "",
    tag: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> Response:
    """One change to the selected conversations: all of them, or none when one is refused."""
    state = list_state(QueryParams(back.lstrip("?")))
    to_list = f"{_base(view)}{_qs(state)}"
    try:
        chosen = [_uuid(value, "conversation") for value in ids or [] if value.strip()]
        change: dict[str, Any] = {}
        if do in ("close", "open", "pending"):
            change["status"] = {"close": "closed"}.get(do, do)
        elif do == "assign":
            if not assignee_id.strip():
                raise ValidationError("choose whom to assign them to", field="assignee_id")
            change["assignee_id"] = (
                view.access.user.id if assignee_id == "me" else _uuid(assignee_id, "assignee")
            )
        elif do == "unassign":
            change["unassign"] = True
        elif do in ("tag", "untag"):
            if not tag.strip():
                raise ValidationError("write the tag", field="tag")
            change["add_tags" if do == "tag" else "remove_tags"] = [tag]
        else:
            raise ValidationError("choose what to do with the selected conversations", field="do")
        count = conversations.bulk_update(
            session,
            access=view.access,
            actor=view.principal.actor(request),
            conversation_ids=chosen,
            **change,
        )
    except (ValidationError, NotFound) as exc:
        flash(request, sentence(exc.message) + " Nothing was changed.", "error")
        return redirect(to_list)
    plural = "s" if count != 1 else ""
    flash(request, f"{BULK_CHOICES[do].rstrip('…')}: {count} conversation{plural}.")
    return redirect(to_list)


templates.env.globals["inbox_bulk_choices"] = BULK_CHOICES
