# SPDX-License-Identifier: AGPL-3.0-or-later
"""Meta webhooks (Pages, Instagram): signature check and parsing into inbox items.

The payloads are the shapes Meta's webhook references show (ids replaced):
developers.facebook.com/docs/graph-api/webhooks/reference/page (``feed``),
.../messenger-platform/reference/webhook-events/{messages, message-echoes,
message-deliveries}, .../instagram-platform/webhooks (``comments``, ``mentions``,
``messaging``).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import pytest

from socialdesk.connectors.base import InboundKind
from socialdesk.connectors.meta_graph import SIGNATURE_HEADER, parse_webhook, verify_signature
from socialdesk.errors import ValidationError

SECRET = "0f3c9a6e1b2d4c5f8a7e6d5c4b3a2918"
PAGE_ID = "104857600000001"
IG_ID = "17841400000000001"

PAGE_FEED_COMMENT: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": PAGE_ID,
            "time": 1763900413,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "from": {"id": "6543210987654321", "name": "Jane Doe"},
                        "post": {
                            "status_type": "mobile_status_update",
                            "is_published": True,
                            "updated_time": "2025-11-23T12:20:12+0000",
                            "permalink_url": "https://www.facebook.com/acmebakery/posts/pfbid0x",
                            "promotion_status": "inactive",
                            "id": f"{PAGE_ID}_555000111",
                        },
                        "message": "Do you deliver?",
                        "post_id": f"{PAGE_ID}_555000111",
                        "comment_id": "555000111_777000222",
                        "created_time": 1763900412,
                        "item": "comment",
                        "parent_id": f"{PAGE_ID}_555000111",
                        "verb": "add",
                    },
                }
            ],
        }
    ],
}

MESSENGER: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": PAGE_ID,
            "time": 1763900452478,
            "messaging": [
                {
                    "sender": {"id": "2600000000000001"},
                    "recipient": {"id": PAGE_ID},
                    "timestamp": 1763900452478,
                    "message": {
                        "mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8",
                        "text": "hello, world!",
                        "reply_to": {"mid": "m_previous"},
                        "attachments": [
                            {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}}
                        ],
                    },
                },
                {
                    "sender": {"id": PAGE_ID},
                    "recipient": {"id": "2600000000000001"},
                    "timestamp": 1763900462000,
                    "message": {
                        "is_echo": True,
                        "app_id": 1517776481860111,
                        "mid": "m_echo1",
                        "text": "Hi! How can we help?",
                    },
                },
                {
                    "sender": {"id": "2600000000000001"},
                    "recipient": {"id": PAGE_ID},
                    "delivery": {"mids": ["m_echo1"], "watermark": 1763900462000},
                },
                {
                    "sender": {"id": "2600000000000001"},
                    "recipient": {"id": PAGE_ID},
                    "timestamp": 1763900463000,
                    "read": {"watermark": 1763900462000},
                },
            ],
        }
    ],
}

INSTAGRAM_COMMENT: dict[str, Any] = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ID,
            "time": 1763900500,
            "changes": [
                {
                    "field": "comments",
                    "value": {
                        "from": {"id": "1790000000000009", "username": "sam.eats"},
                        "media": {"id": "18000000000000001", "media_product_type": "FEED"},
                        "id": "17865799348089039",
                        "parent_id": "17865799348089000",
                        "text": "This is an example.",
                    },
                }
            ],
        }
    ],
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- signature ----------------------------------------------------------------------------


def test_signature_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Hub-Signature-256"


def test_a_good_signature_is_accepted() -> None:
    body = json.dumps(PAGE_FEED_COMMENT).encode()
    assert verify_signature(SECRET, body, sign(body))
    assert verify_signature(SECRET, body, sign(body).upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + "0" * 40,
        "sha256=" + "z" * 64,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 66,
        "0" * 64,
        "sha256:" + "0" * 64,
    ],
)
def test_missing_or_malformed_signatures_are_refused(header: str | None) -> None:
    assert not verify_signature(SECRET, b"{}", header)


def test_a_changed_body_or_another_secret_is_refused() -> None:
    body = json.dumps(PAGE_FEED_COMMENT).encode()
    header = sign(body)
    assert not verify_signature(SECRET, body + b" ", header)
    assert not verify_signature(SECRET, body.replace(b"deliver", b"Deliver"), header)
    assert not verify_signature("another-secret", body, header)
    assert not verify_signature("", body, sign(body, ""))


# --- parsing ------------------------------------------------------------------------------


def test_page_feed_comment() -> None:
    [pushed] = parse_webhook(PAGE_FEED_COMMENT)
    item = pushed.item
    assert pushed.account_id == PAGE_ID
    assert item.kind is InboundKind.COMMENT
    assert item.external_id == "555000111_777000222"
    assert item.text == "Do you deliver?"
    assert item.author.external_id == "6543210987654321"
    assert item.author.handle == "Jane Doe"
    assert item.conversation_id == f"{PAGE_ID}_555000111"
    assert item.our_post_id == f"{PAGE_ID}_555000111"
    assert item.in_reply_to == f"{PAGE_ID}_555000111"
    assert item.created_at == dt.datetime.fromtimestamp(1763900412, dt.UTC)
    assert item.extra["verb"] == "add"
    assert not item.from_us


def test_page_feed_reply_edit_removal_and_our_own_comment() -> None:
    payload = copy.deepcopy(PAGE_FEED_COMMENT)
    value = payload["entry"][0]["changes"][0]["value"]
    value |= {"parent_id": "555000111_700000001", "verb": "edited"}
    removed = copy.deepcopy(PAGE_FEED_COMMENT)
    removed_value = removed["entry"][0]["changes"][0]["value"]
    removed_value["verb"] = "remove"
    del removed_value["message"]
    ours = copy.deepcopy(PAGE_FEED_COMMENT)
    ours["entry"][0]["changes"][0]["value"]["from"] = {"id": PAGE_ID, "name": "Acme Bakery"}

    [reply] = parse_webhook(payload)
    [gone] = parse_webhook(removed)
    [own] = parse_webhook(ours)

    assert reply.item.kind is InboundKind.REPLY
    assert reply.item.in_reply_to == "555000111_700000001"
    assert reply.item.extra["parent_id"] == "555000111_700000001"
    assert reply.item.extra["verb"] == "edited"
    assert gone.item.extra["verb"] == "remove"
    assert gone.item.text == ""
    assert own.item.from_us


def test_page_feed_items_that_are_not_comments_are_skipped() -> None:
    payload = copy.deepcopy(PAGE_FEED_COMMENT)
    value = payload["entry"][0]["changes"][0]["value"]
    value |= {"item": "reaction", "reaction_type": "like"}
    del value["comment_id"]
    assert parse_webhook(payload) == []


def test_messenger_messages_and_echoes_skip_deliveries_and_reads() -> None:
    incoming, echo = parse_webhook(MESSENGER)
    assert incoming.account_id == echo.account_id == PAGE_ID
    message = incoming.item
    assert message.kind is InboundKind.MESSAGE
    assert message.external_id == "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8"
    assert message.text == "hello, world!"
    assert message.author.external_id == "2600000000000001"
    assert message.conversation_id == "2600000000000001"
    assert message.in_reply_to == "m_previous"
    assert message.extra["sender_id"] == "2600000000000001"
    assert message.extra["recipient_id"] == PAGE_ID
    assert message.extra["attachments"] == "image"
    # Messaging times are milliseconds (changes: seconds).
    assert message.created_at == dt.datetime.fromtimestamp(1763900452.478, dt.UTC)
    assert not message.from_us
    assert echo.item.from_us
    assert echo.item.conversation_id == "2600000000000001"
    assert echo.item.text == "Hi! How can we help?"


def test_instagram_comment_reply_mention_and_message() -> None:
    payload = copy.deepcopy(INSTAGRAM_COMMENT)
    entry = payload["entry"][0]
    top = copy.deepcopy(entry["changes"][0])
    del top["value"]["parent_id"]
    top["value"]["id"] = "17865799348089040"
    entry["changes"] += [
        top,
        {
            "field": "mentions",
            "value": {"media_id": "17918195224117851", "comment_id": "17894227972186120"},
        },
    ]
    entry["messaging"] = [
        {
            "sender": {"id": "5300000000000007"},
            "recipient": {"id": IG_ID},
            "timestamp": 1763900600000,
            "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3", "text": "Open today?"},
        }
    ]

    reply, comment, mention, message = (pushed.item for pushed in parse_webhook(payload))

    assert {p.account_id for p in parse_webhook(payload)} == {IG_ID}
    assert reply.kind is InboundKind.REPLY
    assert reply.external_id == "17865799348089039"
    assert reply.in_reply_to == "17865799348089000"
    assert reply.author.handle == "sam.eats"
    assert reply.our_post_id == "18000000000000001"
    assert reply.extra["media_product_type"] == "FEED"
    assert reply.created_at == dt.datetime.fromtimestamp(1763900500, dt.UTC)
    assert comment.kind is InboundKind.COMMENT
    assert comment.in_reply_to == "18000000000000001"
    assert mention.kind is InboundKind.MENTION
    assert mention.external_id == "17894227972186120"
    assert mention.extra == {
        "media_id": "17918195224117851",
        "comment_id": "17894227972186120",
        "partial": "1",  # ids only: the inbox completes it through the connector
    }
    assert mention.our_post_id is None
    assert message.kind is InboundKind.MESSAGE
    assert message.text == "Open today?"
    assert message.conversation_id == "5300000000000007"


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "user", "entry": [{"id": "1", "changes": [{"field": "email"}]}]},
        {"object": "permissions", "entry": "whatever"},
        {"object": "whatsapp_business_account", "entry": []},
        {
            "object": "page",
            "entry": [
                {
                    "id": PAGE_ID,
                    "time": 1,
                    "changes": [{"field": "ratings", "value": {"item": "rating"}}],
                }
            ],
        },
        {
            "object": "instagram",
            "entry": [
                {
                    "id": IG_ID,
                    "time": 1,
                    "changes": [{"field": "story_insights", "value": {"impressions": 4}}],
                }
            ],
        },
        {"object": "page", "entry": []},
        {"object": "page", "entry": [{"id": PAGE_ID, "time": 1}]},
    ],
)
def test_unknown_objects_fields_and_events_are_ignored(payload: dict[str, Any]) -> None:
    assert parse_webhook(payload) == []


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ([], "JSON object"),
        ({"entry": []}, "object"),
        ({"object": "page"}, "entry"),
        ({"object": "page", "entry": ["x"]}, "entry\\[0\\]"),
        ({"object": "page", "entry": [{"time": 1, "changes": []}]}, "entry\\[0\\].id"),
        ({"object": "page", "entry": [{"id": PAGE_ID, "changes": {}}]}, "changes"),
        (
            {"object": "page", "entry": [{"id": PAGE_ID, "changes": [{"field": "feed"}]}]},
            "value",
        ),
        (
            {
                "object": "page",
                "entry": [
                    {
                        "id": PAGE_ID,
                        "changes": [
                            {"field": "feed", "value": {"item": "comment", "post_id": "1_2"}}
                        ],
                    }
                ],
            },
            "comment_id",
        ),
        (
            {
                "object": "page",
                "entry": [{"id": PAGE_ID, "messaging": [{"message": {"mid": "m_1"}}]}],
            },
            "sender",
        ),
        (
            {
                "object": "instagram",
                "entry": [{"id": IG_ID, "changes": [{"field": "comments", "value": {"id": "1"}}]}],
            },
            "media",
        ),
    ],
)
def test_malformed_bodies_are_validation_errors(payload: Any, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        parse_webhook(payload)
