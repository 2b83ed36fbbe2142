# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV import of posts: the columns explained, a template to fill in, and an upload that
either brings in every row or none, with a table of what to fix where.

The checking is ``publishing.imports``'s, the same as the API's and the CLI's; this page
only shows it. The import runs in a savepoint, so a refused file leaves nothing behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.config import Settings
from socialdesk.errors import ValidationError
from socialdesk.publishing.calendar import network_name, post_title
from socialdesk.publishing.channels import list_channels
from socialdesk.publishing.imports import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportRejected,
    RowReport,
    import_posts,
    read_rows,
)
from socialdesk.publishing.library_queries import posts_by_ids
from socialdesk.publishing.scheduling import to_local
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.ui.calendar import file_slug, post_path
from socialdesk.web.ui.common import WorkspaceView, all_or_nothing, page, workspace_view

router = APIRouter()

ImportView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_PUBLISH))]

MAX_CSV_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ColumnDoc:
    name: str
    need: str
    text: str
    example: str


def column_docs(workspace_timezone: str) -> list[ColumnDoc]:
    """What each column means, in the order of ``publishing.imports``'s lists."""
    docs = {
        "channel": ColumnDoc(
            "channel",
            "Required",
            "The channel's handle as the Channels page shows it, or its id. For several"
            " channels, separate them with |.",
            "ana@mastodon.social|acme.bsky.social",
        ),
        "text": ColumnDoc(
            "text",
            "Required",
            "The post's text. Put it in double quotes when it holds commas or line breaks;"
            " write a quote inside as two quotes.",
            '"Fresh beans, fresh week!"',
        ),
        "at": ColumnDoc(
            "at",
            "Column required, value optional",
            "When to publish, in ISO 8601: a date and a time, with an offset or in the row's"
            " time zone. Empty means now: the post goes out right after the import.",
            "2026-03-30T09:00",
        ),
        "tz": ColumnDoc(
            "tz",
            "Column required, value optional",
            f"The IANA time zone of “at”. Empty means the workspace's ({workspace_timezone}).",
            "Europe/Paris",
        ),
        "media": ColumnDoc(
            "media",
            "Optional · command line only",
            "Image or video files next to the CSV, separated by |. Uploading here cannot"
            " carry files: leave it empty, or use “socialdesk posts import”.",
            "beans.jpg|roastery.mp4",
        ),
        "alt": ColumnDoc(
            "alt",
            "Optional · command line only",
            "Alt text for each media file, in the same order, separated by |.",
            "Roasted beans on a tray",
        ),
        "labels": ColumnDoc(
            "labels",
            "Optional",
            "Labels to find the posts by later, separated by |.",
            "launch|spring",
        ),
    }
    return [docs[name] for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]


def template_rows(
    session: Session, *, workspace_id: uuid.UUID, timezone: str, today: dt.date
) -> list[list[str]]:
    """Two example posts for next Monday and Tuesday, on the workspace's own channels."""
    handles = [c.handle for c in list_channels(session, workspace_id=workspace_id)]
    first = handles[0] if handles else "your-handle@mastodon.social"
    both = "|".join(handles[:2]) if len(handles) > 1 else first
    monday = today + dt.timedelta(days=7 - today.weekday())
    return [
        [
            first,
            "Fresh beans, fresh week! Come by for a cup.",
            f"{monday}T09:00",
            timezone,
            "weekly",
        ],
        [
            both,
            "Tasting tomorrow at 5 pm:\nthree single origins, one question: which is yours?",
            f"{monday + dt.timedelta(days=1)}T12:30",
            timezone,
            "events|tasting",
        ],
    ]


@dataclass(frozen=True, slots=True)
class Problem:
    row: int
    column: str
    value: str
    message: str


def problems_of(reports: list[RowReport], rows: list[dict[str, str]]) -> list[Problem]:
    problems = []
    for report in reports:
        cells = rows[report.row - 2] if 0 <= report.row - 2 < len(rows) else {}
        columns = report.columns or ["row"] * len(report.errors)
        for column, message in zip(columns, report.errors, strict=True):
            problems.append(
                Problem(
                    row=report.row,
                    column=column,
                    value=cells.get(column.split(",")[0].strip(), ""),
                    message=message,
                )
            )
    return problems


@dataclass(frozen=True, slots=True)
class Imported:
    row: int
    title: str
    channels: str
    when: str
    href: str


def _import_page(
    request: Request,
    session: Session,
    settings: Settings,
    view: WorkspaceView,
    *,
    status_code: int = 200,
    **context: object,
) -> Response:
    del settings
    timezone = view.workspace.timezone
    values: dict[str, object] = {
        "error": None,
        "problems": [],
        "rows_checked": 0,
        "bad_rows": 0,
        "imported": [],
        "filename": "",
    }
    values.update(context)
    return page(
        request,
        "import.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        columns=column_docs(timezone),
        channels=list_channels(session, workspace_id=view.workspace.id),
        network_name=network_name,
        max_mb=MAX_CSV_BYTES // 1024 // 1024,
        **values,
    )


@router.get("/w/{workspace_id}/import")
def import_page(
    request: Request, view: ImportView, session: SessionDep, settings: SettingsDep
) -> Response:
    return _import_page(request, session, settings, view)


@router.get("/w/{workspace_id}/import/template.csv")
def import_template(view: ImportView, session: SessionDep) -> Response:
    timezone = view.workspace.timezone
    today = to_local(utcnow(), timezone).date()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*REQUIRED_COLUMNS, "labels"])
    writer.writerows(
        template_rows(session, workspace_id=view.workspace.id, timezone=timezone, today=today)
    )
    # Not run through the spreadsheet guard: this file is meant to come back as it is.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="socialdesk-{file_slug(view.workspace.name)}'
                '-import-template.csv"'
            ),
            "Cache-Control": "no-store",
        },
    )


@router.post("/w/{workspace_id}/import")
def upload_csv(
    request: Request,
    view: ImportView,
    session: SessionDep,
    settings: SettingsDep,
    file: UploadFile | None = None,
) -> Response:
    filename = (file.filename if file else "") or ""
    if file is None or not filename:
        return _import_page(
            request,
            session,
            settings,
            view,
            status_code=422,
            error="Choose a CSV file to import.",
        )
    data = file.file.read(MAX_CSV_BYTES + 1)
    try:
        if len(data) > MAX_CSV_BYTES:
            raise ValidationError(
                f"the file is larger than {MAX_CSV_BYTES // 1024 // 1024} MB; split it"
            )
        with all_or_nothing(session):
            reports = import_posts(
                session,
                settings=settings,
                access=view.access,
                actor=view.principal.actor(request),
                data=data,
            )
    except ImportRejected as exc:
        bad = [r for r in exc.rows if r.errors]
        return _import_page(
            request,
            session,
            settings,
            view,
            status_code=422,
            filename=filename,
            problems=problems_of(bad, read_rows(data)),
            rows_checked=len(exc.rows),
            bad_rows=len(bad),
        )
    except ValidationError as exc:
        return _import_page(
            request, session, settings, view, status_code=422, filename=filename, error=exc.message
        )
    return _import_page(
        request,
        session,
        settings,
        view,
        filename=filename,
        imported=imported_rows(session, view, reports),
        rows_checked=len(reports),
    )


def imported_rows(
    session: Session, view: WorkspaceView, reports: list[RowReport]
) -> list[Imported]:
    ids = [r.post_id for r in reports if r.post_id is not None]
    found = {p.id: p for p in posts_by_ids(session, workspace_id=view.workspace.id, post_ids=ids)}
    timezone = view.access.user.timezone
    rows = []
    for report in reports:
        post = found.get(report.post_id) if report.post_id else None
        if post is None:
            continue
        when = (
            to_local(post.scheduled_at, timezone).strftime("%a %d %b %Y, %H:%M")
            if post.scheduled_at
            else "Draft"
        )
        rows.append(
            Imported(
                row=report.row,
                title=post_title(post.text),
                channels=", ".join(d.channel.handle for d in post.deliveries),
                when=when,
                href=post_path(view.workspace.id, post.id),
            )
        )
    return rows
