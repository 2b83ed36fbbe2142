# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox's settings pages: saved replies, and service levels (business hours, targets,
overdue alerts).

Saved replies are for everyone who works the inbox; service levels are read by anyone who
reads the inbox and changed by owners and admins (``inbox.sla.update_inbox_settings``).
A form with a mistake comes back with the mistake explained next to its field, and
nothing is saved.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.errors import Conflict, ValidationError
from socialdesk.inbox import saved_replies, sla
from socialdesk.publishing import templates
from socialdesk.storage.tables import InboxSettings
from socialdesk.web.deps import SessionDep, VaultDep
from socialdesk.web.templating import sentence
from socialdesk.web.templating import templates as jinja
from socialdesk.web.ui.common import (
    WorkspaceView,
    all_or_nothing,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.INBOX_READ))]
WorkView = Annotated[WorkspaceView, Depends(workspace_view(Permission.INBOX_WORK))]
DAY_NAMES = dict(
    zip(
        sla.DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
_SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})\s*$")
#: A sample reply shown in the editor, with every variable.
SAMPLE_VALUES = saved_replies.values_for(
    contact=None, agent_name="Mia Chen", channel_handle="acme@mastodon.example"
) | {"first_name": "Carla", "name": "Carla Diaz", "handle": "@carla@social.example"}


def reply_parts(text: str) -> list[tuple[bool, str]]:
    """A saved reply as (is a variable, text) pieces, for highlighting; plain if unparsable."""
    try:
        return [
            (False, part) if isinstance(part, str) else (True, part.name)
            for part in templates.parse(text)
        ]
    except ValidationError:
        return [(False, text)]


def reply_sample(text: str) -> str:
    """The reply as a customer named Carla would read it from Mia."""
    try:
        used = templates.variables_of(text)
        return templates.render(text, {k: v for k, v in SAMPLE_VALUES.items() if k in used})
    except ValidationError:
        return text


jinja.env.globals.update(inbox_reply_parts=reply_parts, inbox_reply_sample=reply_sample)


def _base(view: WorkspaceView) -> str:
    return f"/w/{view.workspace.id}/inbox"


# -- saved replies ----------------------------------------------------------------------------


def _replies_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    editing: uuid.UUID | None = None,
) -> Response:
    return page(
        request,
        "inbox_saved_replies.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        base=_base(view),
        replies=saved_replies.list_saved_replies(session, access=view.access),
        variables=saved_replies.VARIABLES,
        samples=SAMPLE_VALUES,
        errors=errors or {},
        values=values or {},
        editing=editing,
    )


@router.get("/w/{workspace_id}/inbox/saved-replies")
def saved_replies_page(request: Request, view: WorkView, session: SessionDep) -> Response:
    return _replies_page(request, session, view)


@router.post("/w/{workspace_id}/inbox/saved-replies")
def create_saved_reply(
    request: Request,
    view: WorkView,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    try:
        reply = saved_replies.create_saved_reply(session, access=view.access, name=name, text=text)
    except (ValidationError, Conflict) as exc:
        field = getattr(exc, "field", None) or "name"
        return _replies_page(
            request,
            session,
            view,
            status_code=422 if isinstance(exc, ValidationError) else 409,
            errors={field: sentence(exc.message)},
            values={"name": name, "text": text},
        )
    flash(request, f"Saved reply “{reply.name}” added.")
    return redirect(f"{_base(view)}/saved-replies")


@router.post("/w/{workspace_id}/inbox/saved-replies/{reply_id}")
def update_saved_reply(
    request: Request,
    reply_id: uuid.UUID,
    view: WorkView,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> Response:
    try:
        reply = saved_replies.update_saved_reply(
            session, access=view.access, reply_id=reply_id, name=name, text=text
        )
    except (ValidationError, Conflict) as exc:
        field = getattr(exc, "field", None) or "name"
        return _replies_page(
            request,
            session,
            view,
            status_code=422 if isinstance(exc, ValidationError) else 409,
            errors={f"{reply_id}-{field}": sentence(exc.message)},
            values={f"{reply_id}-name": name, f"{reply_id}-text": text},
            editing=reply_id,
        )
    flash(request, f"Saved reply “{reply.name}” saved.")
    return redirect(f"{_base(view)}/saved-replies")


@router.post("/w/{workspace_id}/inbox/saved-replies/{reply_id}/delete")
def delete_saved_reply(
    request: Request, reply_id: uuid.UUID, view: WorkView, session: SessionDep
) -> Response:
    reply = saved_replies.get_saved_reply(session, access=view.access, reply_id=reply_id)
    name = reply.name
    saved_replies.delete_saved_reply(session, access=view.access, reply_id=reply_id)
    flash(request, f"Saved reply “{name}” deleted.")
    return redirect(f"{_base(view)}/saved-replies")


# -- service levels ---------------------------------------------------------------------------


def _hours_text(spans: list[list[str]]) -> str:
    return ", ".join(f"{a}-{b}" for a, b in spans)


def settings_values(current: InboxSettings) -> dict[str, Any]:
    """The form's values from what is stored."""
    weekly = current.weekly_hours or {}
    values: dict[str, Any] = {
        "timezone": current.timezone,
        "mode": "hours" if weekly or current.holidays else "always",
        "holidays": "\n".join(current.holidays or []),
        "first_response_minutes": str(current.first_response_minutes or ""),
        "resolution_minutes": str(current.resolution_minutes or ""),
        "alert_email": bool(current.alert_email),
        "alert_webhook_url": current.alert_webhook_url or "",
    }
    for day in sla.DAYS:
        if weekly:
            values[f"day_{day}"] = _hours_text(weekly.get(day, []))
        else:
            # Around the clock so far: offer office hours for when they switch.
            values[f"day_{day}"] = "09:00-17:00" if day not in ("sat", "sun") else ""
    return values


def parse_hours(text: str, day: str) -> list[list[str]]:
    """``09:00-12:00, 13:00-17:00`` as ``[["09:00", "12:00"], ["13:00", "17:00"]]``."""
    spans: list[list[str]] = []
    for part in (p for p in re.split(r"[,;]", text) if p.strip()):
        found = _SPAN.match(part)
        if not found:
            raise ValidationError(
                f"{DAY_NAMES[day]}: write the hours like 09:00-17:00 (or leave it empty when"
                f" closed), not {part.strip()!r}",
                field=f"day_{day}",
            )
        spans.append([found.group(1).zfill(5), found.group(2).zfill(5)])
    return spans


_FIELD_WORDS = {
    "first_response_minutes": "the first response target",
    "resolution_minutes": "the resolution target",
}


def friendly(message: str) -> str:
    """A domain message with the form's words: "Tuesday" for ``tue``, targets by name."""
    for name, words in _FIELD_WORDS.items():
        message = message.replace(name, words)
    for day, name in DAY_NAMES.items():
        for prefix in (f"weekly.{day}:", f"{day}:"):
            if message.startswith(prefix):
                return sentence(name + ":" + message[len(prefix) :])
    return sentence(message)


def _minutes(text: str, field: str, label: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(
            f"{label}: give a whole number of minutes, or leave it empty for no target",
            field=field,
        ) from None


def _settings_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    current = sla.get_inbox_settings(session, workspace=view.workspace)
    return page(
        request,
        "inbox_settings.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        base=_base(view),
        values=values or settings_values(current),
        errors=errors or {},
        days=DAY_NAMES,
        has_secret=current.alert_webhook_secret_id is not None,
        may_manage=view.can(Permission.WORKSPACE_MANAGE),
    )


@router.get("/w/{workspace_id}/inbox/settings")
def settings_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    return _settings_page(request, session, view)


@router.post("/w/{workspace_id}/inbox/settings")
async def save_settings(
    request: Request, view: ReadView, session: SessionDep, vault: VaultDep
) -> Response:
    form = await request.form()
    raw = {key: str(value) for key, value in form.items() if isinstance(value, str)}
    values: dict[str, Any] = {
        "timezone": raw.get("timezone", "").strip(),
        "mode": raw.get("mode", "always"),
        "holidays": raw.get("holidays", ""),
        "first_response_minutes": raw.get("first_response_minutes", ""),
        "resolution_minutes": raw.get("resolution_minutes", ""),
        "alert_email": bool(raw.get("alert_email")),
        "alert_webhook_url": raw.get("alert_webhook_url", "").strip(),
    }
    for day in sla.DAYS:
        values[f"day_{day}"] = raw.get(f"day_{day}", "")
    try:
        weekly: dict[str, list[list[str]]] = {}
        holidays: list[str] = []
        if values["mode"] == "hours":
            for day in sla.DAYS:
                spans = parse_hours(values[f"day_{day}"], day)
                # A day without hours is closed; an empty list says so.
                weekly[day] = spans
            if not any(weekly.values()):
                raise ValidationError(
                    "give the hours of at least one day, or choose around the clock",
                    field="weekly",
                )
            holidays = [line.strip() for line in values["holidays"].splitlines() if line.strip()]
        elif values["mode"] != "always":
            raise ValidationError("choose around the clock or business hours", field="mode")
        changes: dict[str, Any] = {
            "timezone": values["timezone"] or "UTC",
            "weekly_hours": weekly,
            "holidays": holidays,
            "first_response_minutes": _minutes(
                values["first_response_minutes"], "first_response_minutes", "First response"
            ),
            "resolution_minutes": _minutes(
                values["resolution_minutes"], "resolution_minutes", "Resolution"
            ),
            "alert_email": values["alert_email"],
            "alert_webhook_url": values["alert_webhook_url"] or None,
        }
        secret = raw.get("alert_webhook_secret", "")
        if raw.get("remove_secret") or not values["alert_webhook_url"]:
            changes["alert_webhook_secret"] = None
        elif secret:
            changes["alert_webhook_secret"] = secret
        with all_or_nothing(session):
            sla.update_inbox_settings(session, access=view.access, vault=vault, **changes)
    except ValidationError as exc:
        field = exc.field or "form"
        if field.startswith("weekly"):
            field = "weekly"
        return _settings_page(
            request,
            session,
            view,
            status_code=422,
            errors={field: friendly(exc.message)},
            values=values,
        )
    flash(request, "Service levels saved.")
    return redirect(f"{_base(view)}/settings")
