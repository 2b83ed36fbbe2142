# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Threads inbox (replies, mentions) against the local Graph fake."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import (
    Credentials,
    InboundItem,
    InboundKind,
    OutboundPost,
    ReplyTarget,
)
from socialdesk.connectors.threads import ThreadsConnector
from socialdesk.errors import AuthExpired, RateLimited, Rejected, TransientError, UncertainOutcome
from tests.fakes.meta_graph import ThreadsFake

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> ThreadsFake:
    return ThreadsFake()


@pytest.fixture
async def http(fake: ThreadsFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=0.5) as client:
        yield client


def connector(fake: ThreadsFake, http: httpx.AsyncClient, **extra: str) -> ThreadsConnector:
    return ThreadsConnector(
        http=http,
        credentials=Credentials(
            access_token=fake.token, extra={"threads_user_id": fake.user_id, **extra}
        ),
        base_url=fake.base_url,
        poll_interval=0,
    )


@pytest.fixture
def threads(fake: ThreadsFake, http: httpx.AsyncClient) -> ThreadsConnector:
    return connector(fake, http)


def outbound(text: str, **options: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="reply-1", options=options)


def target(item: InboundItem) -> ReplyTarget:
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


def test_inbox_is_declared_as_data() -> None:
    assert ThreadsConnector.inbox_kinds == {InboundKind.REPLY, InboundKind.MENTION}
    assert ThreadsConnector.inbox_actions == {"reply", "hide"}


async def test_replies_at_every_depth_oldest_first(
    fake: ThreadsFake, threads: ThreadsConnector
) -> None:
    root = (await threads.publish(outbound("New sourdough"))).external_id
    first = fake.add_reply(root, "When?", username="sam")
    fake.advance(seconds=2)
    ours = await threads.reply(
        ReplyTarget(first["id"], root, InboundKind.REPLY, "sam"), outbound("Friday")
    )
    fake.advance(seconds=2)
    deep = fake.add_reply(ours.external_id, "Thanks!", username="sam")

    page = await threads.fetch_inbox(None)

    assert [(i.text, i.author.handle) for i in page.items] == [
        ("When?", "sam"),
        ("Friday", fake.username),
        ("Thanks!", "sam"),
    ]
    when, friday, thanks = page.items
    assert all(i.kind is InboundKind.REPLY for i in page.items)
    assert all(i.our_post_id == root and i.conversation_id == root for i in page.items)
    assert when.in_reply_to == root
    assert not when.from_us
    assert friday.from_us
    assert friday.external_id == ours.external_id
    assert thanks.in_reply_to == ours.external_id
    assert thanks.external_id == deep["id"]
    assert thanks.url
    assert thanks.url.startswith("https://www.threads.com/@sam/post/")
    [call] = fake.calls("GET", f"{root}/conversation")
    assert call.params["reverse"] == "false"


async def test_cursor_neither_misses_nor_doubles(
    fake: ThreadsFake, threads: ThreadsConnector
) -> None:
    one = (await threads.publish(outbound("one"))).external_id
    two = (await threads.publish(outbound("two"))).external_id
    fake.add_reply(one, "a")
    page = await threads.fetch_inbox(None)
    assert [i.text for i in page.items] == ["a"]
    assert (await threads.fetch_inbox(page.cursor)).items == ()
    fake.add_reply(two, "b")
    fake.add_reply(one, "c", at=fake.now() - dt.timedelta(seconds=30))  # listed late
    again = await threads.fetch_inbox(page.cursor)
    assert [i.text for i in again.items] == ["c", "b"]
    assert (await threads.fetch_inbox(again.cursor)).items == ()


async def test_mentions_when_the_channel_may_read_them(
    fake: ThreadsFake, http: httpx.AsyncClient
) -> None:
    mention = fake.add_mention("Best croissants by @acmebakery", username="foodie")
    without = connector(fake, http)
    assert (await without.fetch_inbox(None)).items == ()
    assert not fake.calls("GET", "/mentions")

    with_mentions = connector(fake, http, threads_mentions="true")
    page = await with_mentions.fetch_inbox(None)
    [item] = page.items
    assert item.kind is InboundKind.MENTION
    assert item.external_id == mention["id"]
    assert item.author.handle == "foodie"
    assert item.our_post_id is None
    assert item.conversation_id == mention["id"]
    assert (await with_mentions.fetch_inbox(page.cursor)).items == ()


async def test_timeout_on_reply_then_find_reply_finds_it_once(
    fake: ThreadsFake, threads: ThreadsConnector
) -> None:
    root = (await threads.publish(outbound("New sourdough"))).external_id
    question = fake.add_reply(root, "Vegan?", username="sam")
    [item] = (await threads.fetch_inbox(None)).items
    started = fake.now().isoformat()
    assert await threads.find_reply(target(item), outbound("Yes")) is None
    fake.hang_after_apply(seconds=2, path="threads_publish", method="POST")

    with pytest.raises(UncertainOutcome):
        await threads.reply(target(item), outbound("Yes", attempted_at=started))
    found = await threads.find_reply(target(item), outbound("Yes", attempted_at=started))

    assert found is not None
    assert found.url
    replies = [p for p in fake.posts.values() if p["_reply_to"] == question["id"]]
    assert [p["id"] for p in replies] == [found.external_id]


async def test_hide_and_unhide_a_reply(fake: ThreadsFake, threads: ThreadsConnector) -> None:
    root = (await threads.publish(outbound("New sourdough"))).external_id
    spam = fake.add_reply(root, "buy followers", username="bot")
    await threads.hide(spam["id"])
    assert spam["hide_status"] == "HIDDEN"
    [item] = (await threads.fetch_inbox(None)).items
    assert item.extra["hide_status"] == "HIDDEN"
    await threads.hide(spam["id"], hidden=False)
    assert spam["hide_status"] == "UNHUSHED"
    [call] = fake.calls("POST", f"{spam['id']}/manage_reply")[:1]
    assert call.params == {"hide": "true"}


async def test_hiding_a_reply_elsewhere_is_rejected(
    fake: ThreadsFake, threads: ThreadsConnector
) -> None:
    mention = fake.add_mention("hi @acmebakery", username="foodie")
    fake.posts[mention["id"]] = mention  # someone else's post, reachable by id
    other = fake.add_reply(mention["id"], "a reply under their post", username="sam")
    with pytest.raises(Rejected, match="own posts"):
        await threads.hide(other["id"])


async def test_like_and_delete_are_rejected_clearly(threads: ThreadsConnector) -> None:
    with pytest.raises(Rejected, match="cannot like"):
        await threads.like("1")
    with pytest.raises(Rejected, match="hide this reply instead"):
        await threads.delete_item("1")


@pytest.mark.parametrize(
    ("code", "subcode", "error"),
    [(190, 463, AuthExpired), (4, None, RateLimited), (17, None, RateLimited)],
)
async def test_errors_map_to_the_error_tree(
    fake: ThreadsFake,
    threads: ThreadsConnector,
    code: int,
    subcode: int | None,
    error: type[Exception],
) -> None:
    root = (await threads.publish(outbound("New sourdough"))).external_id
    fake.add_reply(root, "hi")
    fake.error_next(code=code, subcode=subcode, path="/conversation")
    with pytest.raises(error):
        await threads.fetch_inbox(None)
    fake.fail_next(status=500, path="/conversation")
    with pytest.raises(TransientError):
        await threads.fetch_inbox(None)
    fake.expire_token(fake.token)
    with pytest.raises(AuthExpired):
        await threads.fetch_inbox(None)
