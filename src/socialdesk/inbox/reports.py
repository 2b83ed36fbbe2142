# SPDX-License-Identifier: AGPL-3.0-or-later
"""Inbox reports: volume, response times, SLA attainment and sentiment, by channel or member.

For conversations that started in the period (their first inbound item):

- **volume**: inbound items received in the period, and conversations started;
- **first response** and **resolution** times, median and 90th percentile, in business
  seconds when the workspace has business hours (see :mod:`socialdesk.inbox.sla`);
- **SLA attainment**: of the conversations whose first response is due by now, the share
  answered within the target (one not answered yet and already late counts as missed;
  one not answered and not late yet is left out);
- **sentiment mix**: inbound items by sentiment label (items not analysed yet: "unknown").

"By member" groups by the conversation's assignee (unassigned is its own row).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import ValidationError
from socialdesk.exports import csv_text
from socialdesk.inbox.sla import business_hours_of, business_seconds, get_inbox_settings
from socialdesk.storage.tables import Channel, InboxConversation, InboxItem, User
from socialdesk.storage.types import utcnow

__all__ = ["GROUPS", "InboxReport", "ReportRow", "inbox_report", "percentile", "report_csv"]

Group = Literal["channel", "member", "all"]
GROUPS: tuple[Group, ...] = ("channel", "member", "all")
MAX_DAYS = 366


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class ReportRow:
    key: str
    label: str
    inbound_items: int = 0
    conversations: int = 0
    answered: int = 0
    resolved: int = 0
    first_response_median_s: float | None = None
    first_response_p90_s: float | None = None
    resolution_median_s: float | None = None
    resolution_p90_s: float | None = None
    sla_met: int = 0
    sla_due: int = 0
    sentiment: dict[str, int] = field(
        default_factory=lambda: {"positive": 0, "neutral": 0, "negative": 0, "unknown": 0}
    )

    @property
    def sla_attainment(self) -> float | None:
        return None if not self.sla_due else self.sla_met / self.sla_due


@dataclass(frozen=True, slots=True)
class InboxReport:
    since: dt.datetime
    until: dt.datetime
    group: Group
    business_hours: bool
    first_response_target_minutes: int | None
    rows: list[ReportRow]
    total: ReportRow


def inbox_report(
    session: Session,
    *,
    access: Access,
    since: dt.datetime,
    until: dt.datetime,
    group: Group = "channel",
    now: dt.datetime | None = None,
) -> InboxReport:
    require(access.role, Permission.REPORTS_READ)
    if group not in GROUPS:
        raise ValidationError(f"group by one of {', '.join(GROUPS)}", field="group")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationError(
            "give the period with a time zone, e.g. 2026-11-01T00:00:00Z", field="since"
        )
    if until <= since:
        raise ValidationError("the period must end after it starts", field="until")
    if until - since > dt.timedelta(days=MAX_DAYS):
        raise ValidationError(f"a report covers at most {MAX_DAYS} days", field="since")
    now = now or utcnow()
    settings = get_inbox_settings(session, workspace=access.workspace)
    hours = business_hours_of(settings)
    target = settings.first_response_minutes
    labels = _labels(session, access=access, group=group)
    rows: dict[str, ReportRow] = {}
    total = ReportRow(key="total", label="All")

    def row_for(key: str) -> ReportRow:
        if key not in rows:
            rows[key] = ReportRow(key=key, label=labels.get(key, key))
        return rows[key]

    c = InboxConversation
    conversations = session.execute(
        select(
            c.channel_id,
            c.assignee_id,
            c.first_inbound_at,
            c.first_response_at,
            c.resolved_at,
        ).where(
            c.workspace_id == access.workspace.id,
            c.first_inbound_at >= since,
            c.first_inbound_at < until,
        )
    ).all()
    responses: dict[str, list[float]] = defaultdict(list)
    resolutions: dict[str, list[float]] = defaultdict(list)
    for channel_id, assignee_id, started, answered, resolved in conversations:
        if started is None:
            continue
        key = _key(group, channel_id, assignee_id)
        for row, bucket in ((row_for(key), key), (total, "total")):
            row.conversations += 1
            if answered is not None:
                row.answered += 1
                responses[bucket].append(business_seconds(started, answered, hours))
            if resolved is not None:
                row.resolved += 1
                resolutions[bucket].append(business_seconds(started, resolved, hours))
            if target is not None:
                waited = business_seconds(started, answered or now, hours)
                if answered is not None or waited >= target * 60:
                    row.sla_due += 1
                    row.sla_met += int(answered is not None and waited <= target * 60)
    _add_items(
        session, access=access, group=group, since=since, until=until, row_for=row_for, total=total
    )
    for key, row in [*rows.items(), ("total", total)]:
        row.first_response_median_s = percentile(responses[key], 50)
        row.first_response_p90_s = percentile(responses[key], 90)
        row.resolution_median_s = percentile(resolutions[key], 50)
        row.resolution_p90_s = percentile(resolutions[key], 90)
    return InboxReport(
        since=since,
        until=until,
        group=group,
        business_hours=not hours.always,
        first_response_target_minutes=target,
        rows=sorted(rows.values(), key=lambda r: r.label.lower()),
        total=total,
    )


def _key(group: Group, channel_id: uuid.UUID, assignee_id: uuid.UUID | None) -> str:
    if group == "channel":
        return str(channel_id)
    if group == "member":
        return str(assignee_id) if assignee_id else "unassigned"
    return "all"


def _labels(session: Session, *, access: Access, group: Group) -> dict[str, str]:
    if group == "channel":
        return {
            str(id_): f"{connector_class(network).display_name} · {handle}"
            for id_, network, handle in session.execute(
                select(Channel.id, Channel.network, Channel.handle).where(
                    Channel.workspace_id == access.workspace.id
                )
            )
        }
    if group == "member":
        from socialdesk.storage.tables import Membership

        found = {
            str(id_): name or email
            for id_, name, email in session.execute(
                select(User.id, User.name, User.email)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.workspace_id == access.workspace.id)
            )
        }
        found["unassigned"] = "Unassigned"
        return found
    return {"all": "All"}


def _add_items(
    session: Session,
    *,
    access: Access,
    group: Group,
    since: dt.datetime,
    until: dt.datetime,
    row_for: Callable[[str], ReportRow],
    total: ReportRow,
) -> None:
    """Inbound items and their sentiment, grouped in SQL."""
    i, c = InboxItem, InboxConversation
    counts = session.execute(
        select(i.channel_id, c.assignee_id, i.sentiment_label, func.count())
        .join(c, c.id == i.conversation_id)
        .where(
            i.workspace_id == access.workspace.id,
            ~i.from_us,
            i.created_at >= since,
            i.created_at < until,
        )
        .group_by(i.channel_id, c.assignee_id, i.sentiment_label)
    ).all()
    for channel_id, assignee_id, label, count in counts:
        for row in (row_for(_key(group, channel_id, assignee_id)), total):
            row.inbound_items += count
            row.sentiment[label or "unknown"] += count


CSV_COLUMNS = (
    "group",
    "label",
    "inbound_items",
    "conversations",
    "answered",
    "resolved",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_median_s",
    "resolution_p90_s",
    "sla_attainment",
    "positive",
    "neutral",
    "negative",
    "unknown",
)


def report_csv(report: InboxReport) -> str:
    """The report as CSV: one line per group and a last line for everything.

    Labels are channel handles and member names, so they go through ``csv_text``, which
    keeps a spreadsheet from running one that starts like a formula.
    """
    rows = [
        [
            report.group if row is not report.total else "total",
            row.label,
            row.inbound_items,
            row.conversations,
            row.answered,
            row.resolved,
            *(
                "" if v is None else round(v, 1)
                for v in (
                    row.first_response_median_s,
                    row.first_response_p90_s,
                    row.resolution_median_s,
                    row.resolution_p90_s,
                )
            ),
            "" if row.sla_attainment is None else round(row.sla_attainment, 4),
            *(row.sentiment[k] for k in ("positive", "neutral", "negative", "unknown")),
        ]
        for row in [*report.rows, report.total]
    ]
    return csv_text(CSV_COLUMNS, rows)
