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
from socialdesk.connectors import meta_graph
from socialdesk.connectors.base import InboundItem, WebhookItem
from socialdesk.errors import ValidationError
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.publishing.channels import DISCONNECTED
from socialdesk.storage.tables import Channel, InboxItem, InboxWebhookEvent
from socialdesk.storage.types import utcnow
from socialdesk.text.analyzer import Analyzer
from socialdesk.worker import JobContext

__all__ = ["SOURCES", "WEBHOOK_KIND", "Source", "WebhookProcessor", "store_event"]

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


class WebhookProcessor:
    """The handler of ``inbox.webhook`` jobs."""

    def __init__(self, *, analyzer: Analyzer, sources: Mapping[str, Source] = SOURCES) -> None:
        self.analyzer = analyzer
        self.sources = sources

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
            stored, workspaces = _store(session, source=source, pushed=pushed)
            event.processed_at = utcnow()
            event.items = stored
        for workspace_id in workspaces:
            with context.db.transaction() as session:
                analyze_pending(session, analyzer=self.analyzer, workspace_id=workspace_id)


def _store(
    session: Session, *, source: Source, pushed: Sequence[WebhookItem]
) -> tuple[int, set[Any]]:
    by_account: dict[str, list[InboundItem]] = defaultdict(list)
    for entry in pushed:
        by_account[entry.account_id].append(entry.item)
    if not by_account:
        return 0, set()
    channels = session.execute(
        select(Channel.id, Channel.workspace_id, Channel.network, Channel.external_id).where(
            Channel.network.in_(source.networks),
            Channel.external_id.in_(list(by_account)),
            Channel.status != DISCONNECTED,
        )
    ).all()
    stored = 0
    workspaces = set()
    for channel_id, workspace_id, network, external_id in channels:
        ref = ChannelRef(id=channel_id, workspace_id=workspace_id, network=network)
        items = by_account[external_id]
        removals = [i for i in items if i.extra.get("verb") in ("remove", "hide", "unhide")]
        edits = [i for i in items if i.extra.get("verb") == "edited"]
        additions = [i for i in items if i not in removals]
        if additions:
            stored += ingest_items(session, channel=ref, items=additions).stored
            workspaces.add(workspace_id)
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
