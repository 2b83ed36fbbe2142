# SPDX-License-Identifier: AGPL-3.0-or-later
"""Meta webhooks: signatures checked over the raw body, replays and disorder stored once."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings, load_settings
from socialdesk.handlers import build_handlers
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import InboxConversation, InboxItem, InboxWebhookEvent, Job
from socialdesk.worker import Worker
from tests.inbox.conftest import make_channel
from tests.web.api.helpers import make_person

APP_SECRET = "meta-app-secret-for-tests"
VERIFY_TOKEN = "our-verify-token"
PAGE = "1049"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="s" * 48,
        meta_app_secret=APP_SECRET,
        meta_webhook_verify_token=VERIFY_TOKEN,
    )


def comment(comment_id: str, text: str, *, at: int, post: str = f"{PAGE}_1") -> dict[str, Any]:
    return {
        "field": "feed",
        "value": {
            "item": "comment",
            "verb": "add",
            "comment_id": comment_id,
            "post_id": post,
            "from": {"id": f"user-{comment_id}", "name": "Bob"},
            "message": text,
            "created_time": at,
        },
    }


def body(*changes: dict[str, Any], page: str = PAGE) -> bytes:
    payload = {
        "object": "page",
        "entry": [{"id": page, "time": 1_790_000_000, "changes": list(changes)}],
    }
    return json.dumps(payload).encode()


def signed(raw: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def post(client: TestClient, raw: bytes, headers: dict[str, str]) -> int:
    return client.post("/api/v1/webhooks/meta", content=raw, headers=headers).status_code


def process(db: Database, settings: Settings) -> None:
    network = NetworkRuntime()
    try:
        handlers = build_handlers(db=db, settings=settings, vault=Vault(settings), network=network)
        Worker(db, handlers, poll_seconds=0.05).run_once()
    finally:
        network.close()


def count(db: Database, table: type) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


@pytest.fixture
def page_channel(db: Database) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    make_channel(db, owner.workspace.id, network="facebook", external_id=PAGE)


def test_the_subscription_check_echoes_the_challenge_only_for_our_token(
    client: TestClient,
) -> None:
    ok = client.get(
        "/api/v1/webhooks/meta",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    wrong = client.get(
        "/api/v1/webhooks/meta",
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "x"},
    )
    assert wrong.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=abc"},
        signed(b"another body"),
        signed(body(comment("c1", "hi", at=1_790_000_000)), secret="someone-elses-secret"),
    ],
    ids=["missing", "zeros", "wrong-scheme", "other-body", "other-secret"],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client: TestClient, db: Database, headers: dict[str, str], page_channel: None
) -> None:
    raw = body(comment("c1", "hi", at=1_790_000_000))
    assert post(client, raw, headers) == 401
    assert count(db, InboxWebhookEvent) == 0
    assert count(db, Job) == 0


def test_a_signed_delivery_is_stored_then_processed_into_items(
    client: TestClient, db: Database, settings: Settings, page_channel: None
) -> None:
    raw = body(comment("c1", "This is the worst service ever", at=1_790_000_000))
    assert post(client, raw, signed(raw)) == 200
    assert count(db, InboxWebhookEvent) == 1
    assert count(db, InboxItem) == 0  # processing happens in a job, after the answer
    process(db, settings)
    with db.transaction() as session:
        item = session.scalars(select(InboxItem)).one()
        event = session.scalars(select(InboxWebhookEvent)).one()
    assert item.external_id == "c1"
    assert item.sentiment_label == "negative"
    assert event.processed_at is not None
    assert event.items == 1


def test_replayed_deliveries_are_stored_once(
    client: TestClient, db: Database, settings: Settings, page_channel: None
) -> None:
    raw = body(comment("c1", "hello", at=1_790_000_000))
    for _ in range(3):
        assert post(client, raw, signed(raw)) == 200
    assert count(db, InboxWebhookEvent) == 1
    # The same comment again in a differently batched delivery: one item still.
    other = body(comment("c1", "hello", at=1_790_000_000), comment("c2", "more", at=1_790_000_100))
    assert post(client, other, signed(other)) == 200
    process(db, settings)
    assert count(db, InboxWebhookEvent) == 2
    assert count(db, InboxItem) == 2


def test_out_of_order_deliveries_give_the_same_conversation(
    client: TestClient, db: Database, settings: Settings, page_channel: None
) -> None:
    later = body(comment("c2", "anyone?", at=1_790_000_600))
    earlier = body(comment("c1", "my order is late", at=1_790_000_000))
    for raw in (later, earlier):
        assert post(client, raw, signed(raw)) == 200
    process(db, settings)
    with db.transaction() as session:
        conversation = session.scalars(select(InboxConversation)).one()
    assert conversation.item_count == 2
    assert conversation.first_inbound_at is not None
    assert int(conversation.first_inbound_at.timestamp()) == 1_790_000_000
    assert int(conversation.awaiting_since.timestamp()) == 1_790_000_000
    assert conversation.subject == "my order is late"


def test_a_delivery_for_an_account_we_do_not_have_stores_no_items(
    client: TestClient, db: Database, settings: Settings, page_channel: None
) -> None:
    raw = body(comment("c1", "hi", at=1_790_000_000), page="999")
    assert post(client, raw, signed(raw)) == 200
    process(db, settings)
    assert count(db, InboxItem) == 0


def test_a_signed_body_that_is_not_json_is_refused(client: TestClient, db: Database) -> None:
    raw = b"not json"
    assert post(client, raw, signed(raw)) == 422
    assert count(db, InboxWebhookEvent) == 0


def test_without_an_app_secret_meta_webhooks_are_off(
    tmp_path: Path, database_url: str, db: Database
) -> None:
    from socialdesk.web.app import create_app

    plain = load_settings(data_dir=tmp_path / "d2", database_url=database_url, secret_key="s" * 48)
    with TestClient(create_app(plain, db=db)) as other:
        raw = body(comment("c1", "hi", at=1_790_000_000))
        assert post(other, raw, signed(raw)) == 404
    assert count(db, InboxWebhookEvent) == 0


def test_edited_and_removed_comments_update_the_stored_item(
    client: TestClient, db: Database, settings: Settings, page_channel: None
) -> None:
    first = body(comment("c1", "I love it", at=1_790_000_000))
    assert post(client, first, signed(first)) == 200
    process(db, settings)
    edited_change = comment("c1", "Actually this is awful, terrible quality", at=1_790_000_000)
    edited_change["value"]["verb"] = "edited"
    edited = body(edited_change)
    assert post(client, edited, signed(edited)) == 200
    process(db, settings)
    with db.transaction() as session:
        stored = session.scalars(select(InboxItem)).one()
    assert stored.text == "Actually this is awful, terrible quality"
    assert stored.sentiment_label == "negative"
    removed_change = comment("c1", "", at=1_790_000_000)
    removed_change["value"]["verb"] = "remove"
    removed = body(removed_change)
    assert post(client, removed, signed(removed)) == 200
    process(db, settings)
    with db.transaction() as session:
        assert session.scalars(select(InboxItem.deleted)).one() is True
    assert count(db, InboxItem) == 1
