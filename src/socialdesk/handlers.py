# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every job kind socialdesk runs and its handler: the one explicit registry.

``socialdesk serve`` (embedded worker) and ``socialdesk worker`` both build their
handlers here, so a kind cannot be known to one and missing from the other.
"""

from __future__ import annotations

import datetime as dt

from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.inbox.actions import ACTION_KIND, ActionRunner
from socialdesk.inbox.analysis import ANALYZE_INTERVAL, ANALYZE_KIND, Analyze
from socialdesk.inbox.sla import SLA_INTERVAL, SLA_KIND, OverdueChecker
from socialdesk.inbox.sync import (
    SCHEDULE_INTERVAL,
    SCHEDULE_KIND,
    SYNC_KIND,
    InboxSyncer,
    schedule_syncs,
)
from socialdesk.inbox.webhooks import WEBHOOK_KIND, ConnectorCompleter, WebhookProcessor
from socialdesk.publishing.deliveries import PUBLISH_KIND
from socialdesk.publishing.publisher import Publisher
from socialdesk.publishing.reconcile import (
    RECONCILE_INTERVAL,
    RECONCILE_KIND,
    reconcile_deliveries,
)
from socialdesk.publishing.recurrence import (
    RECURRENCE_INTERVAL,
    RECURRENCE_KIND,
    materialise_recurrences,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.text.analyzer import DefaultAnalyzer
from socialdesk.worker import PERIODIC, Handler, default_handlers

#: Periodic kinds and how often each runs.
ALL_PERIODIC: dict[str, dt.timedelta] = {
    **PERIODIC,
    RECONCILE_KIND: RECONCILE_INTERVAL,
    RECURRENCE_KIND: RECURRENCE_INTERVAL,
    ANALYZE_KIND: ANALYZE_INTERVAL,
    SCHEDULE_KIND: SCHEDULE_INTERVAL,
    SLA_KIND: SLA_INTERVAL,
}


def build_handlers(
    *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
) -> dict[str, Handler]:
    return {
        **default_handlers(),
        PUBLISH_KIND: Publisher(db=db, settings=settings, vault=vault, network=network),
        RECONCILE_KIND: reconcile_deliveries,
        RECURRENCE_KIND: materialise_recurrences,
        **inbox_handlers(db=db, settings=settings, vault=vault, network=network),
    }


def inbox_handlers(
    *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
) -> dict[str, Handler]:
    analyzer = DefaultAnalyzer()
    return {
        SYNC_KIND: InboxSyncer(
            db=db, settings=settings, vault=vault, network=network, analyzer=analyzer
        ),
        SCHEDULE_KIND: schedule_syncs,
        ACTION_KIND: ActionRunner(db=db, settings=settings, vault=vault, network=network),
        WEBHOOK_KIND: WebhookProcessor(
            analyzer=analyzer,
            complete=ConnectorCompleter(db=db, settings=settings, vault=vault, network=network),
        ),
        ANALYZE_KIND: Analyze(analyzer=analyzer),
        SLA_KIND: OverdueChecker(settings=settings, vault=vault),
    }
