# SPDX-License-Identifier: AGPL-3.0-or-later
"""Bulk import of posts from CSV: the whole file is checked first, then all rows go in, or none.

Columns (header row, any order, case-insensitive): ``channel`` (id or handle; several
separated by ``|``), ``text``, ``at`` (ISO 8601; empty means now), ``tz`` (IANA zone for
``at`` without an offset; default the workspace's), and optionally ``media`` (file paths
separated by ``|``, relative to the CSV file), ``alt`` (alt texts, ``|`` separated, in the
same order), ``labels`` (``|`` separated).
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.errors import NotFound, SocialdeskError, ValidationError
from socialdesk.media.library import store_file
from socialdesk.publishing.channels import find_channel
from socialdesk.publishing.posts import (
    PAST_GRACE,
    ChannelContent,
    MediaRef,
    PostDraft,
    _labels,
    check_draft,
    create_post,
)
from socialdesk.publishing.scheduling import get_zone, parse_instant, validate_schedule
from socialdesk.storage.types import utcnow

REQUIRED_COLUMNS = ("channel", "text", "at", "tz")
OPTIONAL_COLUMNS = ("media", "alt", "labels")
MAX_ROWS = 5000


@dataclass(slots=True)
class RowReport:
    row: int
    errors: list[str] = field(default_factory=list)
    post_id: uuid.UUID | None = None
    #: The column each error is about, in the same order as ``errors`` ("row" if none).
    columns: list[str] = field(default_factory=list)

    def add(self, column: str, message: str) -> None:
        self.columns.append(column)
        self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "ok": not self.errors,
            "errors": list(self.errors),
            "columns": list(self.columns),
            "post_id": str(self.post_id) if self.post_id else None,
        }


class ImportRejected(ValidationError):
    """Some rows are wrong: nothing was imported. ``rows`` says what to fix where."""

    def __init__(self, rows: list[RowReport]) -> None:
        bad = [r for r in rows if r.errors]
        lines = [f"row {r.row}: {'; '.join(r.errors)}" for r in bad[:20]]
        more = f"\n… and {len(bad) - 20} more rows" if len(bad) > 20 else ""
        super().__init__(
            f"nothing was imported: {len(bad)} of {len(rows)} rows need fixing\n"
            + "\n".join(lines)
            + more,
            field="file",
        )
        self.rows = rows
        self.details = {"rows": [r.as_dict() for r in rows]}


#: Which CSV column a ``ValidationError.field`` raised while reading a row points at.
_COLUMN_OF_FIELD = {
    "channel": "channel",
    "channels": "channel",
    "at": "at",
    "tz": "tz",
    "media": "media",
    "file": "media",
    "alt_text": "alt",
    "labels": "labels",
}


def _column_of(error: SocialdeskError) -> str:
    return _COLUMN_OF_FIELD.get(getattr(error, "field", None) or "", "row")


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split("|") if part.strip()]


def read_rows(data: bytes) -> list[dict[str, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(
            "the file is not UTF-8 text; save it as CSV UTF-8", field="file"
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ValidationError(
            f"the header row lacks the column(s) {', '.join(missing)};"
            f" expected {', '.join(REQUIRED_COLUMNS)}"
            f" (and optionally {', '.join(OPTIONAL_COLUMNS)})",
            field="file",
        )
    reader.fieldnames = header
    rows = [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    if not rows:
        raise ValidationError("the file has a header row but no posts", field="file")
    if len(rows) > MAX_ROWS:
        raise ValidationError(f"at most {MAX_ROWS} rows per import", field="file")
    return rows


def import_posts(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    actor: Actor,
    data: bytes,
    base_dir: Path | None = None,
) -> list[RowReport]:
    """Import every row as a scheduled post, in the caller's transaction; all or nothing."""
    require(access.role, Permission.POSTS_PUBLISH)
    rows = read_rows(data)
    reports: list[RowReport] = []
    drafts: list[PostDraft | None] = []
    workspace_id = access.workspace.id
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        report = RowReport(row=number)
        reports.append(report)
        try:
            drafts.append(
                _row_draft(
                    session,
                    settings=settings,
                    access=access,
                    actor=actor,
                    row=row,
                    base_dir=base_dir,
                    workspace_id=workspace_id,
                )
            )
        except SocialdeskError as exc:
            report.add(_column_of(exc), exc.message)
            drafts.append(None)
            continue
        draft = drafts[-1]
        assert draft is not None
        content_column = "text, media" if draft.media else "text"
        for where, check in check_draft(session, settings=settings, draft=draft).items():
            for error in check.errors:
                report.add(content_column, f"{where}: {error}")
    if any(report.errors for report in reports):
        raise ImportRejected(reports)
    for report, draft in zip(reports, drafts, strict=True):
        assert draft is not None
        post = create_post(session, settings=settings, access=access, actor=actor, draft=draft)
        report.post_id = post.id
    return reports


def _row_draft(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    actor: Actor,
    row: dict[str, str],
    base_dir: Path | None,
    workspace_id: uuid.UUID,
) -> PostDraft:
    channel_refs = _split(row.get("channel"))
    if not channel_refs:
        raise ValidationError("no channel", field="channel")
    try:
        channels = [
            ChannelContent(channel_id=find_channel(session, workspace_id=workspace_id, ref=ref).id)
            for ref in channel_refs
        ]
    except NotFound as exc:
        raise ValidationError(exc.message, field="channel") from exc
    labels = _labels(_split(row.get("labels")))
    tz = row.get("tz") or access.workspace.timezone
    get_zone(tz)  # checked even when "at" is empty (the post keeps its zone)
    at = parse_instant(row["at"], tz) if row.get("at") else None
    if at is not None:
        validate_schedule(at, now=utcnow(), grace=PAST_GRACE)
    media: list[MediaRef] = []
    alts = _split(row.get("alt"))
    for index, name in enumerate(_split(row.get("media"))):
        path = Path(name)
        if not path.is_absolute():
            if base_dir is None:
                raise ValidationError(
                    f"media {name!r}: give media as paths next to the CSV file", field="media"
                )
            path = base_dir / path
        if not path.is_file():
            raise ValidationError(f"media {name!r} does not exist", field="media")
        asset = store_file(
            session,
            settings=settings,
            workspace_id=workspace_id,
            source=path,
            filename=path.name,
            actor=actor,
            alt_text=alts[index] if index < len(alts) else "",
        )
        media.append(MediaRef(asset_id=asset.id))
    return PostDraft(
        text=row.get("text", ""),
        channels=channels,
        media=media,
        when="at" if at else "now",
        at=at,
        timezone=tz,
        labels=labels,
    )
