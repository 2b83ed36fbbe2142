# SPDX-License-Identifier: AGPL-3.0-or-later
"""Business hours (DST, holidays), targets, and overdue alerts in-app and by webhook."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from socialdesk.accounts.vault import Vault
from socialdesk.config import load_settings
from socialdesk.errors import PermissionDenied, ValidationError
from socialdesk.inbox import sla
from socialdesk.inbox.sla import BusinessHours, OverdueChecker, business_seconds, sign
from socialdesk.jobs import ClaimedJob
from socialdesk.storage.tables import InboxConversation, Notification
from socialdesk.worker import JobContext
from tests.inbox.conftest import T0, Inbox, item

PARIS = "Europe/Paris"
NINE_TO_FIVE = {d: [(dt.time(9), dt.time(17))] for d in range(5)}
UTC = dt.UTC


def at(text: str, zone: str = PARIS) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        # Friday 16:30 to Monday 09:30: half an hour each side.
        ("2026-11-06T16:30", "2026-11-09T09:30", 1.0),
        # Inside one day.
        ("2026-11-03T10:00", "2026-11-03T12:15", 2.25),
        # Before opening to after closing: the whole day.
        ("2026-11-03T06:00", "2026-11-03T20:00", 8.0),
        # A weekend only.
        ("2026-11-07T10:00", "2026-11-08T18:00", 0.0),
        # A whole week.
        ("2026-11-02T00:00", "2026-11-09T00:00", 40.0),
    ],
)
def test_business_time_counts_only_open_hours(start: str, end: str, hours: float) -> None:
    rules = BusinessHours(timezone=PARIS, weekly=NINE_TO_FIVE)
    assert business_seconds(at(start), at(end), rules) == hours * 3600


def test_holidays_are_closed() -> None:
    rules = BusinessHours(
        timezone=PARIS, weekly=NINE_TO_FIVE, holidays=frozenset({dt.date(2026, 11, 11)})
    )
    assert business_seconds(at("2026-11-10T16:00"), at("2026-11-12T10:00"), rules) == 2 * 3600


def test_a_day_when_clocks_change_is_as_long_as_it_is() -> None:
    always = {d: [(dt.time(0), dt.time(0))] for d in range(7)}
    rules = BusinessHours(timezone=PARIS, weekly=always)
    # 29 March 2026: Paris springs forward, the day has 23 hours; 25 October: 25 hours.
    assert business_seconds(at("2026-03-29T00:00"), at("2026-03-30T00:00"), rules) == 23 * 3600
    assert business_seconds(at("2026-10-25T00:00"), at("2026-10-26T00:00"), rules) == 25 * 3600
    # 9:00-17:00 stays 8 hours of real time on such a day.
    office = BusinessHours(timezone=PARIS, weekly={6: [(dt.time(9), dt.time(17))]})
    assert business_seconds(at("2026-03-29T00:00"), at("2026-03-30T00:00"), office) == 8 * 3600


def test_no_hours_means_around_the_clock() -> None:
    start = dt.datetime(2026, 11, 7, 10, tzinfo=UTC)
    assert business_seconds(start, start + dt.timedelta(hours=30), BusinessHours()) == 30 * 3600
    assert business_seconds(start, start - dt.timedelta(hours=1), BusinessHours()) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"weekly_hours": {"funday": []}}, "weekly"),
        ({"weekly_hours": {"mon": [["17:00", "09:00"]]}}, "weekly"),
        ({"weekly_hours": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}}, "weekly"),
        ({"weekly_hours": {"mon": [["9h", "17:00"]]}}, "weekly.mon"),
        ({"holidays": ["25/12/2026"]}, "holidays"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"alert_webhook_url": "ftp://x"}, "alert_webhook_url"),
    ],
)
def test_bad_settings_say_what_to_fix_and_change_nothing(
    inbox: Inbox, tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    vault = Vault(load_settings(data_dir=tmp_path, secret_key="s" * 48))
    with (
        pytest.raises(ValidationError) as caught,
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        sla.update_inbox_settings(session, access=inbox.owner, vault=vault, **changes)
    assert caught.value.field == field
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        current = sla.get_inbox_settings(session, workspace=inbox.owner.workspace)
        assert current.first_response_minutes is None
        assert current.timezone == PARIS


def test_only_admins_change_service_levels(inbox: Inbox, tmp_path: Path) -> None:
    vault = Vault(load_settings(data_dir=tmp_path, secret_key="s" * 48))
    with (
        pytest.raises(PermissionDenied),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        sla.update_inbox_settings(
            session, access=inbox.manager, vault=vault, first_response_minutes=60
        )


def _context(inbox: Inbox) -> JobContext:
    job = ClaimedJob(
        id=1,
        kind=sla.SLA_KIND,
        payload={},
        workspace_id=None,
        attempts=1,
        max_attempts=5,
        due_at=T0,
    )
    return JobContext(db=inbox.db, job=job)


def test_overdue_conversations_are_alerted_once_in_app_and_by_signed_webhook(
    inbox: Inbox, tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key="s" * 48)
    vault = Vault(settings)
    now = dt.datetime.now(UTC)
    inbox.ingest(
        item(conversation="late", text="hello?", at=now - dt.timedelta(hours=3)),
        item(conversation="fresh", text="hi", at=now - dt.timedelta(minutes=10)),
        item(conversation="answered", text="q", at=now - dt.timedelta(hours=5)),
        item(conversation="answered", text="a", at=now - dt.timedelta(hours=4), from_us=True),
    )
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        sla.update_inbox_settings(
            session,
            access=inbox.owner,
            vault=vault,
            timezone="UTC",
            first_response_minutes=60,
            alert_webhook_url="https://hooks.example/inbox",
            alert_webhook_secret="hook-secret",
        )
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(204))
    checker = OverdueChecker(settings=settings, vault=vault, http=httpx.Client(transport=transport))
    checker(_context(inbox))
    with inbox.db.transaction() as session:
        alerts = session.scalars(
            select(Notification).where(Notification.kind == "inbox_overdue")
        ).all()
        late = session.scalars(
            select(InboxConversation).where(InboxConversation.external_id == "late")
        ).one()
    # Owner and manager work the inbox; the analyst is not told.
    assert sorted(a.user_id for a in alerts) == sorted([inbox.owner.user.id, inbox.manager.user.id])
    assert all("hello?" in a.title for a in alerts)
    assert late.first_response_alerted_at is not None
    [request] = sent
    body = json.loads(request.content)
    assert [c["subject"] for c in body["conversations"]] == ["hello?"]
    assert request.headers["X-Socialdesk-Signature"] == sign("hook-secret", request.content)
    # Once only.
    checker(_context(inbox))
    assert len(sent) == 1
    with inbox.db.transaction() as session:
        assert (
            len(
                session.scalars(
                    select(Notification).where(Notification.kind == "inbox_overdue")
                ).all()
            )
            == 2
        )


def test_the_webhook_secret_is_never_shown(inbox: Inbox, tmp_path: Path) -> None:
    vault = Vault(load_settings(data_dir=tmp_path, secret_key="s" * 48))
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        saved = sla.update_inbox_settings(
            session, access=inbox.owner, vault=vault, alert_webhook_secret="hunter2"
        )
        assert saved.alert_webhook_secret_id is not None
        cleared = sla.update_inbox_settings(
            session, access=inbox.owner, vault=vault, alert_webhook_secret=""
        )
        assert cleared.alert_webhook_secret_id is None


class _FakeSMTP:
    sent: list[Any] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> _FakeSMTP:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def starttls(self) -> None:
        return None

    def login(self, user: str, password: str) -> None:
        return None

    def send_message(self, message: Any) -> None:
        _FakeSMTP.sent.append(message)


def test_overdue_alerts_are_emailed_when_smtp_is_configured(
    inbox: Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(
        data_dir=tmp_path, secret_key="s" * 48, smtp_host="smtp.example", smtp_from="desk@acme"
    )
    vault = Vault(settings)
    monkeypatch.setattr(sla.smtplib, "SMTP", _FakeSMTP)
    _FakeSMTP.sent = []
    now = dt.datetime.now(UTC)
    inbox.ingest(item(conversation="late", text="anyone there?", at=now - dt.timedelta(hours=30)))
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        sla.update_inbox_settings(
            session,
            access=inbox.owner,
            vault=vault,
            timezone="UTC",
            resolution_minutes=24 * 60,
            alert_email=True,
        )
    OverdueChecker(settings=settings, vault=vault)(_context(inbox))
    [message] = _FakeSMTP.sent
    assert message["From"] == "desk@acme"
    assert sorted(message["To"].split(", ")) == ["mia@example.com", "olga@example.com"]
    assert "resolution target 1440 min" in message.get_content()
    assert "anyone there?" in message.get_content()
