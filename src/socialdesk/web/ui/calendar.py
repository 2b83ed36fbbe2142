# SPDX-License-Identifier: AGPL-3.0-or-later
"""The calendar: month, week and list views, drag to reschedule, a post's page, CSV export,
and private iCalendar feeds.

The page is a shell; the browser's FullCalendar asks ``/calendar/events`` for each range
it shows (two queries whatever the number of posts, see ``publishing.calendar``). A drop
posts to ``/reschedule``, which calls ``reschedule_post``: the server checks the rules and
the time, and the calendar puts the post back with the server's message when it refuses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from socialdesk.accounts import members
from socialdesk.accounts.roles import Permission, can
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, ValidationError
from socialdesk.publishing import calendar, ical, posts
from socialdesk.publishing.calendar import MOVABLE_STATUSES, POST_STATUSES, CalendarFilters
from socialdesk.publishing.channels import list_channels
from socialdesk.publishing.scheduling import parse_instant, to_local, to_utc
from socialdesk.storage.tables import Post, User
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep, requires
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
#: For answers without a page around them (JSON, CSV): no sidebar to build.
ReadAccess = Annotated[Access, Depends(requires(Permission.POSTS_READ))]
VIEWS = {"month": "dayGridMonth", "week": "timeGridWeek", "list": "listWeek"}


def post_path(workspace_id: uuid.UUID, post_id: uuid.UUID) -> str:
    return f"/w/{workspace_id}/calendar/posts/{post_id}"


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "").split(",")[0]


def _uuids(values: list[str], name: str) -> tuple[uuid.UUID, ...]:
    try:
        return tuple(uuid.UUID(v) for v in values if v.strip())
    except ValueError:
        raise ValidationError(f"the {name} filter is not a valid id", field=name) from None


def parse_filters(params: QueryParams) -> CalendarFilters:
    """The filter form's fields (each may repeat; an empty value means "any")."""
    return CalendarFilters(
        channel_ids=_uuids(params.getlist("channel"), "channel"),
        labels=tuple(v.strip() for v in params.getlist("label") if v.strip()),
        campaign_ids=_uuids(params.getlist("campaign"), "campaign"),
        statuses=tuple(v.strip() for v in params.getlist("status") if v.strip()),
        author_ids=_uuids(params.getlist("author"), "author"),
    )


def parse_range(params: QueryParams, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """``start`` and ``end`` as FullCalendar sends them; by default this month, locally."""
    start_text, end_text = params.get("start", ""), params.get("end", "")
    if start_text and end_text:
        return (
            parse_instant(_date_time(start_text), timezone, field="start"),
            parse_instant(_date_time(end_text), timezone, field="end"),
        )
    first = to_local(utcnow(), timezone).date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return (
        to_utc(dt.datetime.combine(first, dt.time()), timezone),
        to_utc(dt.datetime.combine(following, dt.time()), timezone),
    )


def _date_time(text: str) -> str:
    """FullCalendar sends dates alone for all-day ranges: read them as midnight."""
    text = text.strip().replace(" ", "+")  # a '+' of an offset that was not URL-encoded
    return f"{text}T00:00" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else text


def _iso_date(text: str) -> str:
    """A ``YYYY-MM-DD`` the calendar may open at, or "" (today)."""
    try:
        return dt.date.fromisoformat(text[:10]).isoformat() if len(text) >= 10 else ""
    except ValueError:
        return ""


def file_slug(name: str) -> str:
    """A workspace name as it goes into a download's file name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "workspace"


def csv_response(body: str, filename: str) -> Response:
    return Response(
        # A byte-order mark, so spreadsheet programs read the file as UTF-8.
        content="\ufeff" + body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# -- the calendar page and its data --------------------------------------------------------


@router.get("/w/{workspace_id}/calendar")
def calendar_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    workspace_id = view.workspace.id
    filters = parse_filters(request.query_params)
    requested_view = request.query_params.get("view", "")
    return page(
        request,
        "calendar.html",
        shell=view.shell,
        view=view,
        filters=filters,
        channels=list_channels(session, workspace_id=workspace_id),
        statuses=POST_STATUSES,
        labels=calendar.distinct_labels(session, workspace_id=workspace_id),
        authors=[m.user for m in members.list_members(session, workspace_id=workspace_id)],
        timezone=view.access.user.timezone,
        initial_view=VIEWS.get(requested_view, ""),
        initial_date=_iso_date(request.query_params.get("date", "")),
        can_move=view.can(Permission.POSTS_PUBLISH),
    )


@router.get("/w/{workspace_id}/calendar/events")
def calendar_events(request: Request, access: ReadAccess, session: SessionDep) -> Response:
    """The posts of one range, for the page's script (it makes FullCalendar events)."""
    start, end = parse_range(request.query_params, access.user.timezone)
    body = calendar.calendar_events(
        session,
        workspace_id=access.workspace.id,
        start=start,
        end=end,
        filters=parse_filters(request.query_params),
        movable=can(access.role, Permission.POSTS_PUBLISH),
    )
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/w/{workspace_id}/calendar/export.csv")
def export_csv(
    request: Request, view: ReadView, session: SessionDep, settings: SettingsDep
) -> Response:
    timezone = view.access.user.timezone
    start, end = parse_range(request.query_params, timezone)
    entries = calendar.calendar_entries(
        session,
        workspace_id=view.workspace.id,
        start=start,
        end=end,
        filters=parse_filters(request.query_params),
    )
    body = calendar.posts_csv(
        entries,
        timezone=timezone,
        url_for=lambda post_id: (
            settings.base_url.rstrip("/") + post_path(view.workspace.id, post_id)
        ),
    )
    last_day = to_local(end - dt.timedelta(seconds=1), timezone).date()
    first_day = to_local(start, timezone).date()
    filename = f"socialdesk-{file_slug(view.workspace.name)}-posts-{first_day}-to-{last_day}.csv"
    return csv_response(body, filename)


# -- one post ---------------------------------------------------------------------------


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
    author = session.get(User, post.author_id) if post.author_id else None
    local = to_local(post.scheduled_at, post.timezone) if post.scheduled_at else None
    return page(
        request,
        "calendar_post.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        post=post,
        title=calendar.post_title(post.text),
        status_label=POST_STATUSES.get(post.status, post.status),
        author=author,
        network_name=calendar.network_name,
        initials=calendar.initials,
        can_move=view.can(Permission.POSTS_PUBLISH) and post.status in MOVABLE_STATUSES,
        can_retry=view.can(Permission.POSTS_PUBLISH),
        edit_url=_edit_url(view, post),
        errors=errors or {},
        values=values
        or {
            "at": local.strftime("%Y-%m-%dT%H:%M") if local else "",
            "timezone": post.timezone,
        },
    )


def _edit_url(view: WorkspaceView, post: Post) -> str | None:
    """The composer with this post in it, while the viewer may change it and none went out."""
    writes = view.can(Permission.POSTS_WRITE) or view.can(Permission.CAMPAIGN_POSTS_WRITE)
    if not writes or not posts.can_revise(post):
        return None
    return f"/w/{view.workspace.id}/compose?post={post.id}"


@router.get("/w/{workspace_id}/calendar/posts/{post_id}")
def post_page(
    request: Request, post_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    return _post_page(request, session, view, posts.get_post(session, post_id=post_id))


@router.post("/w/{workspace_id}/calendar/posts/{post_id}/reschedule")
def reschedule(
    request: Request,
    post_id: uuid.UUID,
    view: ReadView,
    session: SessionDep,
    at: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    """A drop on the calendar (JSON in and out) or the post page's form (redirect)."""
    post = posts.get_post(session, post_id=post_id)
    zone = timezone.strip() or post.timezone
    try:
        with all_or_nothing(session):
            posts.reschedule_post(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                post=post,
                at=parse_instant(at, zone),
                timezone=zone,
            )
    except (ValidationError, Conflict) as exc:
        if wants_json(request):
            raise
        return _post_page(
            request,
            session,
            view,
            post,
            status_code=422 if isinstance(exc, ValidationError) else 409,
            errors={"at": exc.message},
            values={"at": at, "timezone": timezone},
        )
    assert post.scheduled_at is not None
    viewer_zone = view.access.user.timezone
    when = to_local(post.scheduled_at, viewer_zone).strftime("%a %d %b, %H:%M")
    message = f"Moved to {when} ({viewer_zone})."
    if wants_json(request):
        body = calendar.post_event(
            session, workspace_id=view.workspace.id, post_id=post.id, movable=True
        )
        return Response(
            json.dumps({"message": message, **body}, ensure_ascii=False),
            media_type="application/json",
        )
    flash(request, message)
    return redirect(post_path(view.workspace.id, post.id))


# -- iCalendar feeds ----------------------------------------------------------------------


def _feeds_page(
    request: Request, session: Session, view: WorkspaceView, *, created: str | None = None
) -> Response:
    return page(
        request,
        "calendar_feeds.html",
        shell=view.shell,
        view=view,
        feeds=ical.list_feeds(session, access=view.access),
        created=created,
        max_feeds=ical.MAX_FEEDS_PER_MEMBER,
    )


@router.get("/w/{workspace_id}/calendar/feeds")
def feeds_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    return _feeds_page(request, session, view)


@router.post("/w/{workspace_id}/calendar/feeds")
def create_feed(
    request: Request, view: ReadView, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        _feed, raw = ical.create_feed(
            session, access=view.access, actor=view.principal.actor(request)
        )
    except Conflict as exc:
        flash(request, exc.message, "error")
        return redirect(f"/w/{view.workspace.id}/calendar/feeds")
    # Shown in this response only: the URL is the feed's only credential.
    return _feeds_page(request, session, view, created=feed_url(settings.base_url, raw))


@router.post("/w/{workspace_id}/calendar/feeds/{feed_id}/revoke")
def revoke_feed(
    request: Request, feed_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    ical.revoke_feed(
        session, access=view.access, actor=view.principal.actor(request), feed_id=feed_id
    )
    flash(request, "The feed was revoked; calendar apps that use its address get nothing now.")
    return redirect(f"/w/{view.workspace.id}/calendar/feeds")


def feed_url(base_url: str, raw_token: str) -> str:
    return f"{base_url.rstrip('/')}/feeds/{raw_token}.ics"


@router.api_route("/feeds/{token}.ics", methods=["GET", "HEAD"])
def feed(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    """The feed itself: no session, the token in the URL is the credential."""
    calendar_feed, access = ical.open_feed(session, raw_token=token)
    base = settings.base_url.rstrip("/")
    body = ical.feed_calendar(
        session,
        feed=calendar_feed,
        workspace_name=access.workspace.name,
        url_for=lambda post_id: base + post_path(calendar_feed.workspace_id, post_id),
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'inline; filename="socialdesk.ics"',
            "Cache-Control": "private, max-age=300",
            "X-Robots-Tag": "noindex",
        },
    )
