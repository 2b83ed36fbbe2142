# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox report page and its CSV: volume, response times, SLA attainment, sentiment.

The period is whole days in the viewer's time zone (the last 7, 30 or 90 days, or the
dates given); the numbers come from ``inbox.reports.inbox_report`` in one call.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from socialdesk.accounts.roles import Permission, require
from socialdesk.errors import ValidationError
from socialdesk.inbox import reports
from socialdesk.publishing.scheduling import to_local, to_utc
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep
from socialdesk.web.templating import sentence, templates
from socialdesk.web.ui.calendar import csv_response, file_slug
from socialdesk.web.ui.common import WorkspaceView, page, workspace_view

router = APIRouter()

ReportView = Annotated[WorkspaceView, Depends(workspace_view(Permission.REPORTS_READ))]
PRESETS = {"7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days"}
GROUP_LABELS = {"channel": "By channel", "member": "By member", "all": "Everything"}


def duration(seconds: float | None) -> str:
    """Business seconds as people read them: "45s", "12m", "3h 05m", "2d 4h"."""
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


templates.env.filters.update(inbox_duration=duration, inbox_percent=percent)


def parse_period(
    params: QueryParams, timezone: str, *, today: dt.date | None = None
) -> tuple[dt.date, dt.date, str]:
    """The first and last day (inclusive) and the preset ("" when dates were given)."""
    today = today or to_local(utcnow(), timezone).date()
    since_text, until_text = params.get("since", "").strip(), params.get("until", "").strip()
    if since_text or until_text:
        try:
            first = dt.date.fromisoformat(since_text) if since_text else today
            last = dt.date.fromisoformat(until_text) if until_text else today
        except ValueError:
            raise ValidationError(
                "give the dates as YYYY-MM-DD (e.g. 2026-11-01)", field="since"
            ) from None
        if last < first:
            raise ValidationError("the last day comes before the first", field="until")
        return first, last, ""
    preset = params.get("days", "30")
    if preset not in PRESETS:
        preset = "30"
    return today - dt.timedelta(days=int(preset) - 1), today, preset


def _group(params: QueryParams) -> reports.Group:
    value = params.get("group", "channel")
    for group in reports.GROUPS:
        if group == value:
            return group
    raise ValidationError(f"group by one of {', '.join(reports.GROUPS)}", field="group")


def _bounds(first: dt.date, last: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    return (
        to_utc(dt.datetime.combine(first, dt.time()), timezone),
        to_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time()), timezone),
    )


def _sentiment_bar(row: reports.ReportRow) -> list[dict[str, Any]]:
    """The sentiment mix as segments of a 100-wide bar (an SVG: no inline styles)."""
    total = sum(row.sentiment.values())
    segments, x = [], 0.0
    for key in ("positive", "neutral", "negative", "unknown"):
        count = row.sentiment.get(key, 0)
        width = 100 * count / total if total else 0
        segments.append(
            {
                "key": key,
                "count": count,
                "x": round(x, 3),
                "width": round(width, 3),
                "share": 0 if not total else round(100 * count / total),
            }
        )
        x += width
    return segments


@router.get("/w/{workspace_id}/inbox/reports")
def reports_page(request: Request, view: ReportView, session: SessionDep) -> Response:
    timezone = view.access.user.timezone
    error = ""
    try:
        first, last, preset = parse_period(request.query_params, timezone)
        group = _group(request.query_params)
        since, until = _bounds(first, last, timezone)
        report = reports.inbox_report(
            session, access=view.access, since=since, until=until, group=group
        )
    except ValidationError as exc:
        error = sentence(exc.message)
        first, last, preset = parse_period(QueryParams(""), timezone)
        group = "channel"
        since, until = _bounds(first, last, timezone)
        report = reports.inbox_report(
            session, access=view.access, since=since, until=until, group=group
        )
    query = f"since={first.isoformat()}&until={last.isoformat()}&group={group}"
    return page(
        request,
        "inbox_reports.html",
        shell=view.shell,
        status_code=422 if error else 200,
        view=view,
        base=f"/w/{view.workspace.id}/inbox",
        report=report,
        first=first,
        last=last,
        preset=preset,
        presets=PRESETS,
        group=group,
        groups=GROUP_LABELS,
        error=error,
        export_url=f"/w/{view.workspace.id}/inbox/reports/export.csv?{query}",
        may_export=view.can(Permission.REPORTS_EXPORT),
        bar=_sentiment_bar,
        timezone=timezone,
    )


@router.get("/w/{workspace_id}/inbox/reports/export.csv")
def export_csv(request: Request, view: ReportView, session: SessionDep) -> Response:
    require(view.access.role, Permission.REPORTS_EXPORT)
    timezone = view.access.user.timezone
    first, last, _preset = parse_period(request.query_params, timezone)
    group = _group(request.query_params)
    since, until = _bounds(first, last, timezone)
    report = reports.inbox_report(
        session, access=view.access, since=since, until=until, group=group
    )
    filename = f"socialdesk-{file_slug(view.workspace.name)}-inbox-{group}-{first}-to-{last}.csv"
    return csv_response(reports.report_csv(report), filename)
