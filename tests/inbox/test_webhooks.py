# SPDX-License-Identifier: AGPL-3.0-or-later
"""Processing pushed items: what a webhook carries as ids only is completed, never lost."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import Credentials, InboundItem
from socialdesk.connectors.instagram import InstagramConnector
from socialdesk.handlers import build_handlers
from socialdesk.inbox.webhooks import (
    WEBHOOK_KIND,
    Completer,
    ConnectorCompleter,
    WebhookProcessor,
    store_event,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, InboxContact, InboxItem
from socialdesk.text.analyzer import DefaultAnalyzer
from socialdesk.worker import Worker
from tests.fakes.meta_graph import InstagramFake
from tests.inbox.conftest import make_channel
from tests.web.api.helpers import make_person


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="s" * 48)


def _mention_event(db: Database, account_id: str, media_id: str) -> None:
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": account_id,
                "time": 1_790_000_000,
                "changes": [{"field": "mentions", "value": {"media_id": media_id}}],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    with db.transaction() as session:
        assert store_event(session, source="meta", raw_body=raw, payload=payload)


def _process(db: Database, settings: Settings, complete: Completer | None) -> None:
    network = NetworkRuntime()
    try:
        handlers = build_handlers(db=db, settings=settings, vault=Vault(settings), network=network)
        if complete is not None:
            handlers[WEBHOOK_KIND] = WebhookProcessor(analyzer=DefaultAnalyzer(), complete=complete)
        Worker(db, handlers, poll_seconds=0.05).run_once()
    finally:
        network.close()


def _stored(db: Database) -> tuple[InboxItem, InboxContact | None]:
    with db.transaction() as session:
        item = session.scalars(select(InboxItem)).one()
        contact = session.get(InboxContact, item.contact_id) if item.contact_id else None
        session.expunge_all()
        return item, contact


def test_an_instagram_mention_is_read_in_full_before_it_is_stored(
    db: Database, settings: Settings
) -> None:
    fake = InstagramFake()
    fake.add_mention(username="foodie", text="Best bread in town @acme", media_id="1789")
    owner = make_person(db, "olga@example.com", "Acme")
    make_channel(db, owner.workspace.id, network="instagram", external_id=fake.user_id)
    _mention_event(db, fake.user_id, "1789")
    asked: list[str] = []

    def complete(channel: Channel, items: list[InboundItem]) -> list[InboundItem]:
        asked.append(channel.external_id)

        async def read() -> list[InboundItem]:
            async with fake.client(timeout=1) as http:
                connector = InstagramConnector(
                    http=http,
                    credentials=Credentials(
                        access_token=fake.token, extra={"ig_user_id": fake.user_id}
                    ),
                    base_url=fake.base_url,
                    poll_interval=0,
                )
                return [await connector.complete_pushed(item) for item in items]

        return asyncio.run(read())

    _process(db, settings, complete)
    item, contact = _stored(db)
    assert asked == [fake.user_id]
    assert item.text == "Best bread in town @acme"
    assert contact is not None
    assert contact.handle == "foodie"
    assert item.kind == "mention"


def test_a_mention_that_cannot_be_completed_is_kept_with_its_ids(
    db: Database, settings: Settings
) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    # Credentials that cannot be decrypted: the connector cannot be built.
    make_channel(db, owner.workspace.id, network="instagram", external_id="17841400000")
    _mention_event(db, "17841400000", "1789")
    network = NetworkRuntime()
    try:
        completer = ConnectorCompleter(
            db=db, settings=settings, vault=Vault(settings), network=network
        )
        _process(db, settings, completer)
    finally:
        network.close()
    item, contact = _stored(db)
    assert item.external_id == "1789"
    assert item.text == ""
    assert contact is None  # nobody to name yet: the item waits with its ids


@pytest.mark.parametrize("replays", [1, 2])
def test_items_without_a_partial_mark_are_not_sent_to_the_network(
    db: Database, settings: Settings, replays: int
) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    make_channel(db, owner.workspace.id, network="facebook", external_id="1049")
    payload: dict[str, Any] = {
        "object": "page",
        "entry": [
            {
                "id": "1049",
                "time": 1_790_000_000,
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "item": "comment",
                            "verb": "add",
                            "comment_id": "c1",
                            "post_id": "1049_1",
                            "from": {"id": "u1", "name": "Bob"},
                            "message": "Lovely",
                            "created_time": 1_790_000_000,
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    for _ in range(replays):
        with db.transaction() as session:
            store_event(session, source="meta", raw_body=raw, payload=payload)

    def complete(channel: Channel, items: list[InboundItem]) -> list[InboundItem]:
        raise AssertionError("nothing here needs the network")

    _process(db, settings, complete)
    item, _contact = _stored(db)
    assert item.text == "Lovely"
