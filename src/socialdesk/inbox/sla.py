# SPDX-License-Identifier: AGPL-3.0-or-later
"""Service levels: business hours, response-time targets, and alerts when one is missed.

Business hours are wall-clock intervals per weekday in the workspace's inbox time zone
(``{"mon": [["09:00", "17:00"]], ...}``), minus holidays; a workspace without any hours
counts every second (around the clock). Times are measured in business seconds: an item
that arrives Friday 16:30 and is answered Monday 09:30, with 09:00-17:00 hours, waited one
hour. Each day's intervals are turned into UTC instants with ``zoneinfo`` on that day, so
a day on which clocks change is as long as it really is.

The periodic ``inbox.sla`` job finds open conversations past their first-response or
resolution target (each alerted once) and tells the team: in-app notifications to the
assignee or, if none, to the members who work the inbox; an e-mail through SMTP when the
deployment configures it and the workspace asks for it; and a POST to the workspace's
webhook with an ``X-Socialdesk-Signature: sha256=<hex>`` HMAC of the body.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import smtplib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from socialdesk import notifications
from socialdesk.accounts.roles import Permission, Role, require
from socialdesk.accounts.vault import (
    Vault,
    delete_secret,
    read_secret,
    replace_secret,
    store_secret,
)
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.errors import ValidationError
from socialdesk.inbox.conversations import conversation_link
from socialdesk.storage.tables import InboxConversation, InboxSettings, User, Workspace
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext, enqueue_next_run

__all__ = [
    "DAYS",
    "SLA_INTERVAL",
    "SLA_KIND",
    "BusinessHours",
    "OverdueChecker",
    "business_hours_of",
    "business_seconds",
    "get_inbox_settings",
    "sign",
    "update_inbox_settings",
]

logger = logging.getLogger(__name__)

SLA_KIND = "inbox.sla"
SLA_INTERVAL = dt.timedelta(minutes=5)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SIGNATURE_HEADER = "X-Socialdesk-Signature"
_WORKERS = (Role.OWNER, Role.ADMIN, Role.MANAGER)
MAX_TARGET_MINUTES = 60 * 24 * 60


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str = "UTC"
    #: Weekday (0 = Monday) → intervals of local wall-clock time.
    weekly: Mapping[int, Sequence[tuple[dt.time, dt.time]]] | None = None
    holidays: frozenset[dt.date] = frozenset()

    @property
    def always(self) -> bool:
        return not self.weekly and not self.holidays


def _day_windows(day: dt.date, hours: BusinessHours) -> list[tuple[dt.datetime, dt.datetime]]:
    if day in hours.holidays:
        return []
    zone = ZoneInfo(hours.timezone)
    if not hours.weekly:
        start = dt.datetime.combine(day, dt.time(0), zone)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone)
        return [(start.astimezone(dt.UTC), end.astimezone(dt.UTC))]
    windows = []
    for opens, closes in hours.weekly.get(day.weekday(), ()):
        start = dt.datetime.combine(day, opens, zone)
        end_day = day + dt.timedelta(days=1) if closes == dt.time(0) else day
        end = dt.datetime.combine(end_day, closes, zone)
        windows.append((start.astimezone(dt.UTC), end.astimezone(dt.UTC)))
    return windows


def business_seconds(start: dt.datetime, end: dt.datetime, hours: BusinessHours) -> float:
    """Seconds of business time between two instants (0 if ``end`` is not after ``start``)."""
    if end <= start:
        return 0.0
    # In UTC: subtracting two times of the same zone would ignore a clock change between.
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if hours.always:
        return (end - start).total_seconds()
    zone = ZoneInfo(hours.timezone)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    total = 0.0
    while day <= last:
        for opens, closes in _day_windows(day, hours):
            overlap = (min(end, closes) - max(start, opens)).total_seconds()
            if overlap > 0:
                total += overlap
        day += dt.timedelta(days=1)
    return total


# -- settings --------------------------------------------------------------------------------


def _parse_time(value: str, where: str) -> dt.time:
    try:
        parsed = dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{where}: {value!r} is not a time like 09:00", field=where) from None
    return parsed.replace(second=0, microsecond=0)


def _clean_weekly(weekly: Mapping[str, Any]) -> dict[str, list[list[str]]]:
    cleaned: dict[str, list[list[str]]] = {}
    for day, intervals in weekly.items():
        if day not in DAYS:
            raise ValidationError(f"unknown day {day!r}; use {', '.join(DAYS)}", field="weekly")
        if not isinstance(intervals, list):
            raise ValidationError(f"{day}: give a list of [opens, closes]", field="weekly")
        spans: list[tuple[dt.time, dt.time]] = []
        for pair in intervals:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValidationError(f"{day}: each interval is [opens, closes]", field="weekly")
            opens, closes = (_parse_time(str(p), f"weekly.{day}") for p in pair)
            if closes != dt.time(0) and closes <= opens:
                raise ValidationError(
                    f"{day}: {opens:%H:%M}-{closes:%H:%M} closes before it opens", field="weekly"
                )
            spans.append((opens, closes))
        spans.sort()
        for (_, first_close), (second_open, _) in itertools.pairwise(spans):
            if first_close == dt.time(0) or second_open < first_close:
                raise ValidationError(f"{day}: intervals overlap", field="weekly")
        cleaned[day] = [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in spans]
    return cleaned


def _clean_holidays(holidays: Sequence[str]) -> list[str]:
    days = set()
    for value in holidays:
        try:
            days.add(dt.date.fromisoformat(value))
        except (TypeError, ValueError):
            raise ValidationError(
                f"{value!r} is not a date like 2026-12-25", field="holidays"
            ) from None
    return [d.isoformat() for d in sorted(days)]


def _check_target(value: int | None, name: str) -> None:
    if value is not None and not 1 <= value <= MAX_TARGET_MINUTES:
        raise ValidationError(
            f"{name} is between 1 and {MAX_TARGET_MINUTES} minutes (or none)", field=name
        )


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Paris", field="timezone"
        ) from None
    return name


def read_inbox_settings(session: Session, *, access: Access) -> InboxSettings:
    """The settings, for members who may read the inbox (not approvers)."""
    require(access.role, Permission.INBOX_READ)
    return get_inbox_settings(session, workspace=access.workspace)


def get_inbox_settings(session: Session, *, workspace: Workspace) -> InboxSettings:
    """The workspace's settings (defaults, not stored, until someone saves them)."""
    found = session.scalars(
        select(InboxSettings).where(InboxSettings.workspace_id == workspace.id)
    ).first()
    if found is not None:
        return found
    return InboxSettings(
        workspace_id=workspace.id,
        timezone=workspace.timezone,
        weekly_hours={},
        holidays=[],
        alert_email=False,
    )


_UNSET: Any = object()


def update_inbox_settings(
    session: Session,
    *,
    access: Access,
    vault: Vault,
    timezone: str | None = None,
    weekly_hours: Mapping[str, Any] | None = None,
    holidays: Sequence[str] | None = None,
    first_response_minutes: int | None = _UNSET,
    resolution_minutes: int | None = _UNSET,
    alert_email: bool | None = None,
    alert_webhook_url: str | None = _UNSET,
    alert_webhook_secret: str | None = _UNSET,
) -> InboxSettings:
    """Change the business hours, targets and alert routes (owners and admins)."""
    require(access.role, Permission.WORKSPACE_MANAGE)
    zone = _check_zone(timezone) if timezone is not None else None
    weekly = _clean_weekly(weekly_hours) if weekly_hours is not None else None
    days = _clean_holidays(holidays) if holidays is not None else None
    if first_response_minutes is not _UNSET:
        _check_target(first_response_minutes, "first_response_minutes")
    if resolution_minutes is not _UNSET:
        _check_target(resolution_minutes, "resolution_minutes")
    if alert_webhook_url not in (_UNSET, None) and not str(alert_webhook_url).startswith(
        ("https://", "http://")
    ):
        raise ValidationError("the alert webhook must be an http(s) URL", field="alert_webhook_url")
    current = get_inbox_settings(session, workspace=access.workspace)
    if current not in session:
        session.add(current)
    if zone is not None:
        current.timezone = zone
    if weekly is not None:
        current.weekly_hours = weekly
    if days is not None:
        current.holidays = days
    if first_response_minutes is not _UNSET:
        current.first_response_minutes = first_response_minutes
    if resolution_minutes is not _UNSET:
        current.resolution_minutes = resolution_minutes
    if alert_email is not None:
        current.alert_email = alert_email
    if alert_webhook_url is not _UNSET:
        current.alert_webhook_url = alert_webhook_url or None
    if alert_webhook_secret is not _UNSET:
        _set_webhook_secret(session, vault=vault, settings=current, value=alert_webhook_secret)
    session.flush()
    return current


def _set_webhook_secret(
    session: Session, *, vault: Vault, settings: InboxSettings, value: str | None
) -> None:
    if not value:
        if settings.alert_webhook_secret_id is not None:
            old = settings.alert_webhook_secret_id
            settings.alert_webhook_secret_id = None
            session.flush()
            delete_secret(session, secret_id=old)
        return
    if settings.alert_webhook_secret_id is None:
        secret = store_secret(
            session,
            vault=vault,
            workspace_id=settings.workspace_id,
            purpose="inbox:alert_webhook",
            value=value,
        )
        settings.alert_webhook_secret_id = secret.id
    else:
        replace_secret(
            session, vault=vault, secret_id=settings.alert_webhook_secret_id, value=value
        )


def business_hours_of(settings: InboxSettings) -> BusinessHours:
    weekly = {
        DAYS.index(day): [(dt.time.fromisoformat(a), dt.time.fromisoformat(b)) for a, b in spans]
        for day, spans in (settings.weekly_hours or {}).items()
    }
    return BusinessHours(
        timezone=settings.timezone or "UTC",
        weekly=weekly,
        holidays=frozenset(dt.date.fromisoformat(d) for d in settings.holidays or []),
    )


# -- overdue alerts -------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The outgoing webhook's signature header value: ``sha256=`` + HMAC-SHA256 hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class _Overdue:
    conversation_id: uuid.UUID
    workspace_id: uuid.UUID
    target: str  # first_response | resolution
    minutes: int
    subject: str
    assignee_id: uuid.UUID | None


class OverdueChecker:
    """The periodic ``inbox.sla`` job. ``http`` is the seam tests use for the webhook."""

    def __init__(
        self, *, settings: Settings, vault: Vault, http: httpx.Client | None = None
    ) -> None:
        self.settings = settings
        self.vault = vault
        self.http = http

    def __call__(self, context: JobContext) -> None:
        now = utcnow()
        with context.db.transaction() as session:
            configured = list(
                session.scalars(
                    select(InboxSettings).where(
                        or_(
                            InboxSettings.first_response_minutes.is_not(None),
                            InboxSettings.resolution_minutes.is_not(None),
                        )
                    )
                )
            )
            outgoing: list[tuple[InboxSettings, list[_Overdue], str | None, list[str]]] = []
            for settings in configured:
                overdue = find_overdue(session, settings=settings, now=now)
                if not overdue:
                    continue
                self._notify(session, overdue)
                secret = (
                    read_secret(
                        session, vault=self.vault, secret_id=settings.alert_webhook_secret_id
                    )
                    if settings.alert_webhook_secret_id
                    else None
                )
                emails = self._emails(session, settings, overdue)
                outgoing.append((settings, overdue, secret, emails))
            enqueue_next_run(session, kind=SLA_KIND, interval=SLA_INTERVAL, now=now)
        # Outside the transaction: a slow mail server or webhook must not hold rows.
        for settings, overdue, secret, emails in outgoing:
            self._send_webhook(settings, overdue, secret)
            self._send_email(emails, overdue)

    def _notify(self, session: Session, overdue: list[_Overdue]) -> None:
        # Who works each workspace's inbox, read once per workspace, not per conversation.
        workers: dict[uuid.UUID, list[uuid.UUID]] = {}
        for found in overdue:
            if found.workspace_id not in workers:
                workers[found.workspace_id] = notifications.member_ids(
                    session, workspace_id=found.workspace_id, roles=_WORKERS
                )
            what = "first response" if found.target == "first_response" else "resolution"
            notifications.notify(
                session,
                workspace_id=found.workspace_id,
                user_ids=[found.assignee_id] if found.assignee_id else workers[found.workspace_id],
                kind="inbox_overdue",
                title=f"Overdue {what} (target {found.minutes} min):"
                f" {found.subject or 'conversation'}",
                link=conversation_link(found.workspace_id, found.conversation_id),
            )

    def _emails(
        self, session: Session, settings: InboxSettings, overdue: list[_Overdue]
    ) -> list[str]:
        if not settings.alert_email or not self.settings.smtp_host:
            return []
        ids = {o.assignee_id for o in overdue if o.assignee_id}
        ids.update(
            notifications.member_ids(session, workspace_id=settings.workspace_id, roles=_WORKERS)
        )
        return list(session.scalars(select(User.email).where(User.id.in_(ids))))

    def _send_webhook(
        self, settings: InboxSettings, overdue: list[_Overdue], secret: str | None
    ) -> None:
        if not settings.alert_webhook_url:
            return
        body = json.dumps(
            {
                "event": "inbox.overdue",
                "workspace_id": str(settings.workspace_id),
                "conversations": [
                    {
                        "id": str(o.conversation_id),
                        "target": o.target,
                        "target_minutes": o.minutes,
                        "subject": o.subject,
                    }
                    for o in overdue
                ],
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if secret:
            headers[SIGNATURE_HEADER] = sign(secret, body)
        client = self.http or httpx.Client(timeout=10.0)
        try:
            client.post(settings.alert_webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("inbox alert webhook failed: %s", type(exc).__name__)
        finally:
            if self.http is None:
                client.close()

    def _send_email(self, recipients: list[str], overdue: list[_Overdue]) -> None:
        config = self.settings
        if not recipients or not config.smtp_host:
            return
        message = EmailMessage()
        message["Subject"] = f"{len(overdue)} inbox conversation(s) overdue"
        message["From"] = config.smtp_from
        message["To"] = ", ".join(recipients)
        lines = [
            f"- {o.subject or 'conversation'} ({o.target.replace('_', ' ')} target"
            f" {o.minutes} min): {config.base_url}"
            f"{conversation_link(o.workspace_id, o.conversation_id)}"
            for o in overdue
        ]
        message.set_content("These conversations are past their target:\n\n" + "\n".join(lines))
        try:
            with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=15) as smtp:
                if config.smtp_starttls:
                    smtp.starttls()
                if config.smtp_username and config.smtp_password:
                    smtp.login(config.smtp_username, config.smtp_password.get_secret_value())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            logger.warning("inbox alert e-mail failed: %s", type(exc).__name__)


def find_overdue(
    session: Session, *, settings: InboxSettings, now: dt.datetime, limit: int = 500
) -> list[_Overdue]:
    """Open conversations past a target and not alerted yet; marks them alerted."""
    hours = business_hours_of(settings)
    found: list[_Overdue] = []
    c = InboxConversation
    for target, minutes, since, alerted, done in (
        (
            "first_response",
            settings.first_response_minutes,
            c.first_inbound_at,
            c.first_response_alerted_at,
            c.first_response_at,
        ),
        (
            "resolution",
            settings.resolution_minutes,
            c.first_inbound_at,
            c.resolution_alerted_at,
            c.resolved_at,
        ),
    ):
        if minutes is None:
            continue
        # Business time never runs faster than the clock: a wall-clock cut-off finds every
        # candidate in SQL; business hours decide in Python.
        candidates = session.scalars(
            select(c)
            .where(
                c.workspace_id == settings.workspace_id,
                c.status != "closed",
                since.is_not(None),
                since <= now - dt.timedelta(minutes=minutes),
                done.is_(None),
                alerted.is_(None),
            )
            .order_by(since)
            .limit(limit)
        )
        for conversation in candidates:
            started = conversation.first_inbound_at
            assert started is not None
            if business_seconds(started, now, hours) < minutes * 60:
                continue
            setattr(conversation, alerted.key, now)
            found.append(
                _Overdue(
                    conversation_id=conversation.id,
                    workspace_id=conversation.workspace_id,
                    target=target,
                    minutes=minutes,
                    subject=conversation.subject,
                    assignee_id=conversation.assignee_id,
                )
            )
    return found
