# SPDX-License-Identifier: AGPL-3.0-or-later
"""Pulling each channel's inbox: one ``inbox.sync`` job per channel, scheduled periodically.

The periodic ``inbox.schedule`` job enqueues a sync for every active channel whose
connector can read an inbox (``inbox_kinds``), at most one per channel per interval (a
dedupe key names the channel and the time bucket). A sync reads the channel's stored
cursor, fetches pages until the network has no more (or :data:`MAX_PAGES`), and stores
each page with its cursor in one transaction (:func:`socialdesk.inbox.ingest.ingest_items`),
so a crash between pages resumes from the last stored page: nothing missed, nothing twice.
Network calls never happen inside a transaction.

Failures follow the error tree, like publishing: ``AuthExpired`` marks the channel
``needs_reconnect`` (and tells the people who can fix it); ``RateLimited`` and
``TransientError`` are retried by the worker after the network's ``Retry-After`` or a
backoff; ``Rejected`` is recorded and the next periodic sync tries again. Every failure is
kept on the channel's sync state, where the inbox shows it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk import jobs, notifications
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.connectors.base import Connector, Credentials
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import AuthExpired, ConnectorError, Rejected, TransientError
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.publishing.channels import (
    ACTIVE,
    build_connector,
    fresh_credentials,
    mark_needs_reconnect,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, InboxSyncState
from socialdesk.storage.types import utcnow
from socialdesk.text.analyzer import Analyzer
from socialdesk.worker import JobContext, enqueue_next_run

__all__ = [
    "MAX_PAGES",
    "SCHEDULE_INTERVAL",
    "SCHEDULE_KIND",
    "SYNC_KIND",
    "InboxSyncer",
    "SyncStatus",
    "connector_for",
    "enqueue_sync",
    "has_inbox",
    "schedule_syncs",
    "sync_statuses",
]

logger = logging.getLogger(__name__)

SYNC_KIND = "inbox.sync"
SCHEDULE_KIND = "inbox.schedule"
SCHEDULE_INTERVAL = dt.timedelta(minutes=2)
#: Pages per sync run: a busy channel yields the worker to others, then goes on.
MAX_PAGES = 20
SYNC_JOB_MAX_ATTEMPTS = 8

_sync = cast(Table, InboxSyncState.__table__)

ConnectorFactory = Callable[[Channel, Credentials], Connector]


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """How reading one channel's inbox goes, as the inbox shows it."""

    channel_id: uuid.UUID
    network: str
    handle: str
    channel_status: str
    has_inbox: bool
    last_synced_at: dt.datetime | None
    items_stored: int
    last_error: str | None
    last_error_code: str | None
    last_error_at: dt.datetime | None


def sync_statuses(session: Session, *, access: Access) -> list[SyncStatus]:
    """Every channel of the workspace with its inbox sync state (one query)."""
    require(access.role, Permission.INBOX_READ)
    rows = session.execute(
        select(Channel, InboxSyncState)
        .outerjoin(InboxSyncState, InboxSyncState.channel_id == Channel.id)
        .where(Channel.workspace_id == access.workspace.id, Channel.status != "disconnected")
        .order_by(Channel.network, Channel.handle)
    ).all()
    return [
        SyncStatus(
            channel_id=channel.id,
            network=channel.network,
            handle=channel.handle,
            channel_status=channel.status,
            has_inbox=has_inbox(channel.network),
            last_synced_at=state.last_synced_at if state else None,
            items_stored=state.items_stored if state else 0,
            last_error=state.last_error if state else None,
            last_error_code=state.last_error_code if state else None,
            last_error_at=state.last_error_at if state else None,
        )
        for channel, state in rows
    ]


def has_inbox(network: str) -> bool:
    try:
        return bool(connector_class(network).inbox_kinds)
    except Exception:  # an unknown network in old data
        return False


def enqueue_sync(
    session: Session, *, channel_id: uuid.UUID, workspace_id: uuid.UUID, now: dt.datetime
) -> None:
    """A sync of this channel now, unless one is already queued for this interval."""
    bucket = int(now.timestamp() // SCHEDULE_INTERVAL.total_seconds())
    jobs.enqueue(
        session,
        kind=SYNC_KIND,
        payload={"channel_id": str(channel_id)},
        workspace_id=workspace_id,
        dedupe_key=f"{SYNC_KIND}:{channel_id}:{bucket}",
        max_attempts=SYNC_JOB_MAX_ATTEMPTS,
    )


def schedule_syncs(context: JobContext) -> None:
    """The periodic job: a sync for every active channel with an inbox, and the next run."""
    now = utcnow()
    with context.db.transaction() as session:
        channels = session.execute(
            select(Channel.id, Channel.workspace_id, Channel.network).where(
                Channel.status == ACTIVE
            )
        ).all()
        for channel_id, workspace_id, network in channels:
            if has_inbox(network):
                enqueue_sync(session, channel_id=channel_id, workspace_id=workspace_id, now=now)
        enqueue_next_run(session, kind=SCHEDULE_KIND, interval=SCHEDULE_INTERVAL, now=now)


def connector_for(
    channel: Channel,
    *,
    db: Database,
    settings: Settings,
    vault: Vault,
    network: NetworkRuntime,
    factory: ConnectorFactory | None = None,
) -> Connector:
    """The channel's connector with fresh credentials (refreshed first if they expire)."""
    credentials = fresh_credentials(
        db,
        vault=vault,
        channel_id=channel.id,
        http=network.http,
        run=network.run,
        settings=settings,
    )
    if factory is not None:
        return factory(channel, credentials)
    return build_connector(channel, credentials, http=network.http, settings=settings)


class InboxSyncer:
    """The handler of ``inbox.sync`` jobs. ``connector_factory`` is the seam tests use."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        vault: Vault,
        network: NetworkRuntime,
        analyzer: Analyzer,
        connector_factory: ConnectorFactory | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self.network = network
        self.analyzer = analyzer
        self.connector_factory = connector_factory

    def __call__(self, context: JobContext) -> None:
        channel_id = uuid.UUID(str(context.job.payload["channel_id"]))
        loaded = self._load(channel_id)
        if loaded is None:
            return
        channel, cursor = loaded
        ref = ChannelRef(id=channel.id, workspace_id=channel.workspace_id, network=channel.network)
        try:
            connector = self._connector(channel)
            for _ in range(MAX_PAGES):
                if context.lease_lost.is_set():
                    return
                page = self.network.run(connector.fetch_inbox(cursor))
                with self.db.transaction() as session:
                    ingest_items(
                        session,
                        channel=ref,
                        items=page.items,
                        cursor=page.cursor,
                        save_sync_cursor=True,
                    )
                if page.cursor is not None:
                    cursor = page.cursor
                if not page.more:
                    break
        except AuthExpired as exc:
            self._auth_expired(ref, exc)
            return
        except Rejected as exc:
            self._record_error(ref, exc)
            return
        except ConnectorError as exc:
            self._record_error(ref, exc)
            raise
        finally:
            self._analyze(ref)

    def _load(self, channel_id: uuid.UUID) -> tuple[Channel, str | None] | None:
        with self.db.transaction() as session:
            channel = session.get(Channel, channel_id)
            if channel is None or channel.status != ACTIVE or not has_inbox(channel.network):
                return None
            state = session.get(InboxSyncState, channel_id)
            session.expunge(channel)
            return channel, state.cursor if state else None

    def _connector(self, channel: Channel) -> Connector:
        return connector_for(
            channel,
            db=self.db,
            settings=self.settings,
            vault=self.vault,
            network=self.network,
            factory=self.connector_factory,
        )

    def _analyze(self, ref: ChannelRef) -> None:
        try:
            with self.db.transaction() as session:
                analyze_pending(session, analyzer=self.analyzer, workspace_id=ref.workspace_id)
        except Exception:
            # The periodic inbox.analyze job takes them on; storing must not fail for this.
            logger.exception("analysing new inbox items of channel %s failed", ref.id)

    def _auth_expired(self, ref: ChannelRef, error: AuthExpired) -> None:
        with self.db.transaction() as session:
            channel = session.get_one(Channel, ref.id, with_for_update=True)
            if channel.status == ACTIVE:
                mark_needs_reconnect(session, channel=channel, reason=error.message)
                notifications.channel_needs_reconnect(session, channel=channel)
            _write_error(session, ref, error)
        logger.info("inbox sync of channel %s: the channel needs reconnecting", ref.id)

    def _record_error(self, ref: ChannelRef, error: ConnectorError) -> None:
        with self.db.transaction() as session:
            _write_error(session, ref, error)
        level = logging.INFO if isinstance(error, TransientError) else logging.WARNING
        logger.log(level, "inbox sync of channel %s failed: %s", ref.id, error.code)


def _write_error(session: Session, ref: ChannelRef, error: ConnectorError) -> None:
    insert: Any = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else (sqlite.insert)
    )
    now = utcnow()
    values = {
        "last_error": error.message[:2000],
        "last_error_code": error.code,
        "last_error_at": now,
    }
    statement = insert(_sync).values(
        channel_id=ref.id, workspace_id=ref.workspace_id, items_stored=0, **values
    )
    session.execute(
        statement.on_conflict_do_update(index_elements=[_sync.c.channel_id], set_=values)
    )
