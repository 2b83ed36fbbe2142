# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Instagram inbox (comments, replies, mentions) against the local Graph fake."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import (
    Credentials,
    InboundItem,
    InboundKind,
    MediaItem,
    OutboundPost,
    ReplyTarget,
)
from socialdesk.connectors.instagram import InstagramConnector
from socialdesk.connectors.meta_graph import parse_webhook
from socialdesk.errors import AuthExpired, RateLimited, Rejected, TransientError, UncertainOutcome
from tests.fakes.meta_graph import InstagramFake

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> InstagramFake:
    return InstagramFake()


@pytest.fixture
async def http(fake: InstagramFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=0.5) as client:
        yield client


@pytest.fixture
def instagram(fake: InstagramFake, http: httpx.AsyncClient) -> InstagramConnector:
    return InstagramConnector(
        http=http,
        credentials=Credentials(access_token=fake.token, extra={"ig_user_id": fake.user_id}),
        base_url=fake.base_url,
        poll_interval=0,
    )


def outbound(text: str, **options: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="reply-1", options=options)


async def our_media(instagram: InstagramConnector, tmp_path: Path, caption: str = "Rye") -> str:
    path = tmp_path / f"{caption}.jpg"
    path.write_bytes(b"data")
    post = OutboundPost(
        text=caption,
        idempotency_key=caption,
        media=(MediaItem(path=path, mime_type="image/jpeg", size_bytes=4),),
        options={"media_urls": [f"https://cdn.example/{caption}.jpg"]},
    )
    return (await instagram.publish(post)).external_id


def target(item: InboundItem) -> ReplyTarget:
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


def test_inbox_is_declared_as_data() -> None:
    assert InstagramConnector.inbox_actions == {"reply", "hide", "delete"}
    assert InboundKind.COMMENT in InstagramConnector.inbox_kinds
    assert InboundKind.MENTION in InstagramConnector.inbox_kinds


async def test_comments_and_replies_oldest_first_linked_to_our_media(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    media_id = await our_media(instagram, tmp_path)
    question = fake.add_comment(media_id, "Vegan?", username="sam")
    fake.advance(seconds=2)
    fake.add_comment(question["id"], "Yes!", username=fake.username)
    fake.advance(seconds=2)
    fake.add_comment(media_id, "Beautiful", username="ann")

    page = await instagram.fetch_inbox(None)

    assert [(i.text, i.kind) for i in page.items] == [
        ("Vegan?", InboundKind.COMMENT),
        ("Yes!", InboundKind.REPLY),
        ("Beautiful", InboundKind.COMMENT),
    ]
    comment, reply, _ = page.items
    assert comment.our_post_id == media_id == comment.conversation_id == comment.in_reply_to
    assert comment.author.handle == "sam"
    assert not comment.from_us
    assert reply.in_reply_to == question["id"]
    assert reply.extra["parent_id"] == question["id"]
    assert reply.from_us
    assert reply.our_post_id == media_id


async def test_cursor_neither_misses_nor_doubles(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    first = await our_media(instagram, tmp_path, "one")
    second = await our_media(instagram, tmp_path, "two")
    fake.add_comment(first, "a", username="sam")
    page = await instagram.fetch_inbox(None)
    assert [i.text for i in page.items] == ["a"]
    assert (await instagram.fetch_inbox(page.cursor)).items == ()

    fake.add_comment(second, "b", username="sam")
    top = fake.add_comment(first, "c", username="ann")
    fake.advance(seconds=1)
    fake.add_comment(top["id"], "d", username="bo")
    again = await instagram.fetch_inbox(page.cursor)
    assert sorted(i.text for i in again.items) == ["b", "c", "d"]
    assert [i.text for i in again.items][-1] == "d"
    assert (await instagram.fetch_inbox(again.cursor)).items == ()


async def test_many_comments_follow_graph_paging(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    media_id = await our_media(instagram, tmp_path)
    start = fake.now() - dt.timedelta(minutes=3)
    for n in range(120):
        fake.add_comment(media_id, f"c{n:03}", at=start + dt.timedelta(seconds=n))
    page = await instagram.fetch_inbox(None)
    assert [i.text for i in page.items][:100] == [f"c{n:03}" for n in range(100)]
    assert page.more
    rest = await instagram.fetch_inbox(page.cursor)
    assert [i.text for i in rest.items] == [f"c{n:03}" for n in range(100, 120)]
    assert not rest.more
    assert len(fake.calls("GET", f"{media_id}/comments")) >= 6  # 50 a page, read twice


async def test_media_without_comments_are_not_read(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    quiet = await our_media(instagram, tmp_path, "quiet")
    assert (await instagram.fetch_inbox(None)).items == ()
    assert not fake.calls("GET", f"{quiet}/comments")


async def test_reply_goes_to_the_top_level_comment(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    media_id = await our_media(instagram, tmp_path)
    top = fake.add_comment(media_id, "Price?", username="sam")
    fake.add_comment(top["id"], "Same question", username="ann")
    comment, reply = (await instagram.fetch_inbox(None)).items

    first = await instagram.reply(target(comment), outbound("4 euros"))
    second = await instagram.reply(target(reply), outbound("4 euros, Ann"))

    assert [r["text"] for r in fake.replies[top["id"]]] == [
        "Same question",
        "4 euros",
        "4 euros, Ann",
    ]
    assert fake.comment_index[first.external_id]["username"] == fake.username
    assert len(fake.calls("POST", f"{top['id']}/replies")) == 2
    assert second.external_id in fake.comment_index


async def test_timeout_on_reply_then_find_reply_finds_it_once(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    media_id = await our_media(instagram, tmp_path)
    top = fake.add_comment(media_id, "Price?", username="sam")
    [item] = (await instagram.fetch_inbox(None)).items
    started = fake.now().isoformat()
    assert await instagram.find_reply(target(item), outbound("4 euros")) is None
    fake.hang_after_apply(seconds=2, path=f"{top['id']}/replies", method="POST")

    with pytest.raises(UncertainOutcome):
        await instagram.reply(target(item), outbound("4 euros", attempted_at=started))
    found = await instagram.find_reply(target(item), outbound("4 euros", attempted_at=started))

    assert found is not None
    assert [r["id"] for r in fake.replies[top["id"]]] == [found.external_id]


async def test_hide_unhide_delete_and_like_is_rejected(
    fake: InstagramFake, instagram: InstagramConnector, tmp_path: Path
) -> None:
    media_id = await our_media(instagram, tmp_path)
    spam = fake.add_comment(media_id, "follow me", username="bot")
    await instagram.hide(spam["id"])
    assert spam["hidden"] is True
    [item] = (await instagram.fetch_inbox(None)).items
    assert item.extra["hidden"] == "true"
    await instagram.hide(spam["id"], hidden=False)
    assert spam["hidden"] is False
    await instagram.delete_item(spam["id"])
    assert fake.comments[media_id] == []
    with pytest.raises(Rejected, match="cannot like comments"):
        await instagram.like(item.external_id)


async def test_caption_mentions_cannot_be_answered(instagram: InstagramConnector) -> None:
    caption = ReplyTarget("999", "999", InboundKind.MENTION, "", extra={"media_id": "999"})
    with pytest.raises(Rejected, match="caption"):
        await instagram.reply(caption, outbound("thanks"))


async def test_answer_a_direct_message_once_even_after_a_timeout(
    fake: InstagramFake, instagram: InstagramConnector
) -> None:
    igsid = "5300000000000007"
    incoming = fake.add_message(igsid, "Open today?", owner=fake.user_id)
    to = ReplyTarget(incoming["id"], igsid, InboundKind.MESSAGE, igsid)
    await instagram.reply(to, outbound("Yes, 8 to 6"))
    [call] = fake.calls("POST", f"{fake.user_id}/messages")
    assert "messaging_type" not in call.params
    started = fake.now().isoformat()
    fake.hang_after_apply(seconds=2, path="/messages", method="POST")
    with pytest.raises(UncertainOutcome):
        await instagram.reply(to, outbound("Welcome!", attempted_at=started))
    found = await instagram.find_reply(to, outbound("Welcome!", attempted_at=started))
    assert found is not None
    assert [m["message"] for m in fake.conversations[igsid]] == [
        "Open today?",
        "Yes, 8 to 6",
        "Welcome!",
    ]
    assert found.external_id == fake.conversations[igsid][-1]["id"]


async def test_mention_webhook_is_read_in_full(
    fake: InstagramFake, instagram: InstagramConnector
) -> None:
    fake.add_mention(
        username="foodie", text="Best bread @acme.bakery", media_id="17895695668004550"
    )
    fake.add_mention(
        username="sam", text="@acme.bakery open?", media_id="1789", comment_id="17894227972186120"
    )
    payload = {
        "object": "instagram",
        "entry": [
            {
                "id": fake.user_id,
                "time": 1763900000,
                "changes": [
                    {"field": "mentions", "value": {"media_id": "17895695668004550"}},
                    {
                        "field": "mentions",
                        "value": {"media_id": "1789", "comment_id": "17894227972186120"},
                    },
                ],
            }
        ],
    }
    caption, comment = (w.item for w in parse_webhook(payload))
    full_caption = await instagram.read_mention(caption)
    full_comment = await instagram.read_mention(comment)
    assert (full_caption.text, full_caption.author.handle) == ("Best bread @acme.bakery", "foodie")
    assert full_caption.url == "https://www.instagram.com/p/17895695668004550/"
    assert (full_comment.text, full_comment.author.handle) == ("@acme.bakery open?", "sam")
    assert full_comment.external_id == "17894227972186120"
    assert full_comment.kind is InboundKind.MENTION
    # The inbox asks through the contract: partial items are completed, others left alone.
    assert caption.extra["partial"] == "1"
    completed = await instagram.complete_pushed(caption)
    assert completed.text == "Best bread @acme.bakery"
    assert "partial" not in completed.extra
    assert await instagram.complete_pushed(completed) is completed


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [(190, 400, AuthExpired), (4, 400, RateLimited), (613, 400, RateLimited)],
)
async def test_errors_map_to_the_error_tree(
    fake: InstagramFake,
    instagram: InstagramConnector,
    tmp_path: Path,
    code: int,
    status: int,
    error: type[Exception],
) -> None:
    media_id = await our_media(instagram, tmp_path)
    fake.add_comment(media_id, "hi")
    fake.error_next(code=code, status=status, path="/comments")
    with pytest.raises(error):
        await instagram.fetch_inbox(None)
    fake.fail_next(status=502, path="/comments")
    with pytest.raises(TransientError):
        await instagram.fetch_inbox(None)
    assert [i.text for i in (await instagram.fetch_inbox(None)).items] == ["hi"]
