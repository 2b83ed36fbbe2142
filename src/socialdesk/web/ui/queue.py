# SPDX-License-Identifier: AGPL-3.0-or-later
"""Each channel's posting queue: its weekly slots (editable) and what goes out next."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.errors import ValidationError
from socialdesk.publishing import calendar, queue
from socialdesk.publishing.channels import get_channel, list_channels
from socialdesk.storage.tables import Channel
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep
from socialdesk.web.ui.common import (
    WorkspaceView,
    all_or_nothing,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_READ))]
EditView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_PUBLISH))]
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def slots_from_form(form: dict[str, str]) -> list[tuple[str, str]]:
    """One field per weekday ("mon": "9:00, 12:30") as (weekday, "HH:MM") pairs."""
    return [
        # People type 9:05; the queue wants 09:05 (it checks the rest).
        (day, f"0{time}" if re.fullmatch(r"\d:\d\d", time) else time)
        for day in queue.WEEKDAYS
        for time in re.split(r"[,;\s]+", form.get(day, ""))
        if time
    ]


def _queue_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    channel: Channel | None,
    *,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    error: str | None = None,
) -> Response:
    channels = list_channels(session, workspace_id=view.workspace.id)
    slots_by_day: list[list[str]] = [[] for _ in queue.WEEKDAYS]
    upcoming = []
    if channel is not None:
        for slot in queue.list_slots(session, channel=channel):
            slots_by_day[slot.weekday].append(slot.local_time)
        upcoming = calendar.upcoming_deliveries(session, channel=channel, after=utcnow())
    return page(
        request,
        "queue.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        channels=channels,
        channel=channel,
        days=list(zip(queue.WEEKDAYS, DAY_NAMES, slots_by_day, strict=True)),
        values=values
        or {day: ", ".join(times) for day, times in zip(queue.WEEKDAYS, slots_by_day, strict=True)},
        error=error,
        upcoming=upcoming,
        network_name=calendar.network_name,
        initials=calendar.initials,
        post_title=calendar.post_title,
        can_edit=view.can(Permission.POSTS_PUBLISH),
    )


@router.get("/w/{workspace_id}/queue")
def queue_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    chosen = request.query_params.get("channel", "")
    channel = None
    if chosen:
        try:
            channel = get_channel(session, channel_id=uuid.UUID(chosen))
        except ValueError:
            raise ValidationError("the channel is not a valid id", field="channel") from None
    else:
        channel = next(iter(list_channels(session, workspace_id=view.workspace.id)), None)
    return _queue_page(request, session, view, channel)


Day = Annotated[str, Form()]


@router.post("/w/{workspace_id}/queue/{channel_id}/slots")
def save_slots(
    request: Request,
    channel_id: uuid.UUID,
    view: EditView,
    session: SessionDep,
    mon: Day = "",
    tue: Day = "",
    wed: Day = "",
    thu: Day = "",
    fri: Day = "",
    sat: Day = "",
    sun: Day = "",
) -> Response:
    form = dict(zip(queue.WEEKDAYS, (mon, tue, wed, thu, fri, sat, sun), strict=True))
    channel = get_channel(session, channel_id=channel_id)
    try:
        with all_or_nothing(session):
            created = queue.set_slots(
                session,
                channel=channel,
                slots=slots_from_form(form),
                actor=view.principal.actor(request),
            )
    except ValidationError as exc:
        return _queue_page(
            request, session, view, channel, status_code=422, values=form, error=exc.message
        )
    flash(request, f"{channel.handle} now has {len(created)} posting times a week.")
    return redirect(f"/w/{view.workspace.id}/queue?channel={channel.id}")
