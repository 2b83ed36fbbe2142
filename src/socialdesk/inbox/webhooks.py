# SPDX-License-Identifier: AGPL-3.0-or-later
"""What networks push: store the verified payload at once, turn it into items in a job.

The web route verifies the signature over the raw body, then calls :func:`store_event`,
which stores the payload once (keyed by the body's sha256: Meta retries the same delivery
for up to 36 hours) and enqueues an ``inbox.webhook`` job in the same transaction, so the
network gets its 200 fast. :class:`WebhookProcessor` parses the payload with the network's
parser, finds the channels each item is for (``WebhookItem.account_id`` is a channel's
external id; one Page may be connected in several workspaces) and stores the items with
:func:`socialdesk.inbox.ingest.ingest_items`, which deduplicates them on the network's ids:
a retry with different batching, or the poller seeing the same comment, stores nothing twice.
Deliveries out of order are fine for the same reason (conversation times are recomputed).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk import jobs
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.connectors import meta_graph
from socialdesk.connectors.base import InboundItem, WebhookItem
from socialdesk.errors import ConnectorError, SocialdeskError, ValidationError
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.inbox.sync import connector_for
from socialdesk.publishing.channels import DISCONNECTED
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, InboxItem, InboxWebhookEvent
from socialdesk.storage.types import utcnow
from socialdesk.text.analyzer import Analyzer
from socialdesk.worker import JobContext

__all__ = [
    "SOURCES",
    "WEBHOOK_KIND",
    "ConnectorCompleter",
    "Source",
    "WebhookProcessor",
    "store_event",
]

logger = logging.getLogger(__name__)

WEBHOOK_KIND = "inbox.webhook"
Parser = Callable[[Mapping[str, Any]], list[WebhookItem]]


class Source:
    """A sender of webhooks: its parser and the networks whose channels it speaks for."""

    def __init__(self, *, name: str, networks: tuple[str, ...], parse: Parser) -> None:
        self.name = name
        self.networks = networks
        self.parse = parse


#: Meta signs Facebook Page and Instagram webhooks with one app secret.
SOURCES: dict[str, Source] = {
    "meta": Source(name="meta", networks=("facebook", "instagram"), parse=meta_graph.parse_webhook),
}

_events = cast(Table, InboxWebhookEvent.__table__)


def store_event(session: Session, *, source: str, raw_body: bytes, payload: Any) -> bool:
    """Store a verified payload once and queue its processing; False if it was a replay."""
    if source not in SOURCES:
        raise ValidationError(f"unknown webhook source {source!r}")
    if not isinstance(payload, dict):
        raise ValidationError("a webhook body must be a JSON object")
    key = hashlib.sha256(raw_body).hexdigest()
    insert: Any = (
        postgresql.insert if session.get_bind().dialect.name == "postgresql" else (sqlite.insert)
    )
    event_id = session.execute(
        insert(_events)
        .values(network=source, dedupe_key=key, payload=payload, received_at=utcnow(), items=0)
        .on_conflict_do_nothing(index_elements=[_events.c.dedupe_key])
        .returning(_events.c.id)
    ).scalar_one_or_none()
    if event_id is None:
        logger.info("%s webhook delivery %s… received again; stored once", source, key[:12])
        return False
    jobs.enqueue(
        session,
        kind=WEBHOOK_KIND,
        payload={"event_id": event_id},
        dedupe_key=f"{WEBHOOK_KIND}:{event_id}",
    )
    return True


#: Completes the items of one channel that a webhook pushed with ids only (network calls).
Completer = Callable[[Channel, list[InboundItem]], list[InboundItem]]


class WebhookProcessor:
    """The handler of ``inbox.webhook`` jobs.

    Three steps, so that no transaction waits on a network: read and parse the stored
    event; complete the items pushed with ids only (Instagram mentions) through their
    channel's connector; store them and mark the event processed.
    """

    def __init__(
        self,
        *,
        analyzer: Analyzer,
        sources: Mapping[str, Source] = SOURCES,
        complete: Completer | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.sources = sources
        self.complete = complete

    def __call__(self, context: JobContext) -> None:
        event_id = int(context.job.payload["event_id"])
        with context.db.transaction() as session:
            event = session.get(InboxWebhookEvent, event_id)
            if event is None or event.processed_at is not None:
                return
            source = self.sources[event.network]
            try:
                pushed = source.parse(event.payload)
            except ValidationError as exc:
                logger.warning("webhook event %s cannot be read: %s", event_id, exc.message)
                pushed = []
            channels = _channels(session, source=source, pushed=pushed)
        pushed = self._completed(pushed, channels)
        workspaces: set[Any] = set()
        with context.db.transaction() as session:
            event = session.get_one(InboxWebhookEvent, event_id, with_for_update=True)
            if event.processed_at is not None:
                return  # another worker finished it meanwhile
            stored, workspaces = _store(session, channels=channels, pushed=pushed)
            event.processed_at = utcnow()
            event.items = stored
        for workspace_id in workspaces:
            with context.db.transaction() as session:
                analyze_pending(session, analyzer=self.analyzer, workspace_id=workspace_id)

    def _completed(
        self, pushed: Sequence[WebhookItem], channels: Sequence[Channel]
    ) -> list[WebhookItem]:
        partial = {e.account_id for e in pushed if e.item.extra.get("partial")}
        if self.complete is None or not partial:
            return list(pushed)
        by_account = {c.external_id: c for c in channels}  # one channel suffices to read
        done: list[WebhookItem] = []
        for account_id in dict.fromkeys(e.account_id for e in pushed):
            items = [e.item for e in pushed if e.account_id == account_id]
            channel = by_account.get(account_id)
            if account_id in partial and channel is not None:
                items = self.complete(channel, items)
            done.extend(WebhookItem(account_id=account_id, item=item) for item in items)
        return done


class ConnectorCompleter:
    """Asks a channel's connector for what its network's webhook left out.

    Whatever fails (token expired, network down), the item is kept with the ids it came
    with: stored is better than lost, and it still shows in the inbox with a link.
    """

    def __init__(
        self, *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
    ) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self.network = network

    def __call__(self, channel: Channel, items: list[InboundItem]) -> list[InboundItem]:
        try:
            connector = connector_for(
                channel, db=self.db, settings=self.settings, vault=self.vault, network=self.network
            )
        except SocialdeskError as exc:  # no usable credentials, or the network refused
            logger.warning("pushed items of channel %s kept as pushed: %s", channel.id, exc)
            return items
        done = []
        for item in items:
            if item.extra.get("partial"):
                try:
                    item = self.network.run(connector.complete_pushed(item))
                except ConnectorError as exc:
                    logger.warning("item %s kept as pushed: %s", item.external_id, exc.message)
            done.append(item)
        return done


def _channels(session: Session, *, source: Source, pushed: Sequence[WebhookItem]) -> list[Channel]:
    """The connected channels the pushed items are for (detached: used after the session)."""
    accounts = list(dict.fromkeys(entry.account_id for entry in pushed))
    if not accounts:
        return []
    channels = list(
        session.scalars(
            select(Channel).where(
                Channel.network.in_(source.networks),
                Channel.external_id.in_(accounts),
                Channel.status != DISCONNECTED,
            )
        )
    )
    for channel in channels:
        session.expunge(channel)
    return channels


def _store(
    session: Session, *, channels: Sequence[Channel], pushed: Sequence[WebhookItem]
) -> tuple[int, set[Any]]:
    by_account: dict[str, list[InboundItem]] = defaultdict(list)
    for entry in pushed:
        by_account[entry.account_id].append(entry.item)
    stored = 0
    workspaces = set()
    for channel in channels:
        ref = ChannelRef(id=channel.id, workspace_id=channel.workspace_id, network=channel.network)
        items = by_account.get(channel.external_id, [])
        removals = [i for i in items if i.extra.get("verb") in ("remove", "hide", "unhide")]
        edits = [i for i in items if i.extra.get("verb") == "edited"]
        additions = [i for i in items if i not in removals]
        if additions:
            stored += ingest_items(session, channel=ref, items=additions).stored
            workspaces.add(channel.workspace_id)
        _apply_removals(session, channel=ref, items=removals)
        _apply_edits(session, channel=ref, items=edits)
    return stored, workspaces


def _apply_edits(session: Session, *, channel: ChannelRef, items: Sequence[InboundItem]) -> None:
    """An edited comment keeps its row (stored once) and gets its new text, analysed again."""
    for edited in items:
        session.execute(
            update(InboxItem)
            .where(InboxItem.channel_id == channel.id, InboxItem.external_id == edited.external_id)
            .values(text=edited.text, analyzed_at=None)
            .execution_options(synchronize_session=False)
        )


def _apply_removals(session: Session, *, channel: ChannelRef, items: Sequence[InboundItem]) -> None:
    """A comment removed or hidden on the network is marked so here (never re-added)."""
    for verb, values in (
        ("remove", {"deleted": True}),
        ("hide", {"hidden": True}),
        ("unhide", {"hidden": False}),
    ):
        ids = [i.external_id for i in items if i.extra.get("verb") == verb]
        if ids:
            session.execute(
                update(InboxItem)
                .where(InboxItem.channel_id == channel.id, InboxItem.external_id.in_(ids))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
