# SPDX-License-Identifier: AGPL-3.0-or-later
"""Reports: volume, median and p90 response times in business hours, SLA, sentiment, CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.config import load_settings
from socialdesk.errors import ValidationError
from socialdesk.inbox import conversations, reports, sla
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.conversations import ConversationFilter
from socialdesk.text.analyzer import DefaultAnalyzer
from tests.inbox.conftest import T0, Inbox, item

M = dt.timedelta(minutes=1)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([5], 90, 5), ([1, 2, 3, 4], 50, 2.5), (list(range(1, 11)), 90, 9.1)],
)
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    found = reports.percentile(values, q)
    assert found == pytest.approx(expected) if expected is not None else found is None


def test_report_by_channel_and_member_with_csv(inbox: Inbox, tmp_path: Path) -> None:
    vault = Vault(load_settings(data_dir=tmp_path, secret_key="s" * 48))
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        sla.update_inbox_settings(
            session, access=inbox.owner, vault=vault, timezone="UTC", first_response_minutes=30
        )
    # Answered after 10, 20 and 60 minutes; one never answered (and long overdue).
    for name, wait in (("a", 10), ("b", 20), ("c", 60)):
        inbox.ingest(
            item(conversation=name, text="I hate this, terrible", at=T0),
            item(conversation=name, text="sorry!", at=T0 + wait * M, from_us=True),
        )
    inbox.ingest(item(conversation="d", text="Thank you, wonderful!", at=T0))
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        analyze_pending(session, analyzer=DefaultAnalyzer())
        [row_a] = [
            r
            for r in conversations.list_conversations(
                session, access=inbox.manager, filters=ConversationFilter(search="hate")
            )
        ][:1]
        conversations.update_conversation(
            session,
            access=inbox.manager,
            actor=Actor.cli(),
            conversation_id=row_a.conversation.id,
            assignee_id=inbox.manager.user.id,
        )
    since, until = T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1)
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        report = reports.inbox_report(
            session,
            access=inbox.viewer,
            since=since,
            until=until,
            group="channel",
            now=T0 + dt.timedelta(days=2),
        )
        by_member = reports.inbox_report(
            session,
            access=inbox.viewer,
            since=since,
            until=until,
            group="member",
            now=T0 + dt.timedelta(days=2),
        )
    total = report.total
    assert (total.inbound_items, total.conversations, total.answered) == (4, 4, 3)
    assert total.first_response_median_s == 20 * 60
    assert total.first_response_p90_s == pytest.approx(52 * 60)
    # Within 30 minutes: a and b; c late; d never answered and overdue.
    assert (total.sla_met, total.sla_due) == (2, 4)
    assert total.sla_attainment == 0.5
    assert total.sentiment == {"positive": 1, "neutral": 0, "negative": 3, "unknown": 0}
    [channel_row] = report.rows
    assert channel_row.label == "Mastodon · acme.example"
    assert sorted(r.label for r in by_member.rows) == ["Mia", "Unassigned"]
    assert sum(r.conversations for r in by_member.rows) == 4
    lines = list(csv.reader(io.StringIO(reports.report_csv(report))))
    assert lines[0][:3] == ["group", "label", "inbound_items"]
    assert lines[-1][0] == "total"
    assert lines[-1][2] == "4"
    assert lines[-1][lines[0].index("sla_attainment")] == "0.5"


def test_a_bad_period_is_refused(inbox: Inbox) -> None:
    with (
        pytest.raises(ValidationError),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        reports.inbox_report(session, access=inbox.viewer, since=T0, until=T0 - M)
