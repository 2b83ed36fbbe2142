# SPDX-License-Identifier: AGPL-3.0-or-later
"""The X inbox (mentions, direct messages, replies, likes, hiding) against the local X fake."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from socialdesk.connectors.base import (
    Credentials,
    InboundItem,
    InboundKind,
    OutboundPost,
    ReplyTarget,
)
from socialdesk.connectors.x import XConnector
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.fakes.x import User, XFake

pytestmark = pytest.mark.anyio

BASE = "https://api.x.test"


@pytest.fixture
def fake() -> XFake:
    fake = XFake(base_url=BASE)
    fake.add_user("brand", "The Brand")
    for name in ("bob", "carol", "dave", "erin"):
        fake.add_user(name)
    fake.user_named("bob").followers_count = 1234
    return fake


@pytest.fixture
def brand(fake: XFake) -> User:
    return fake.user_named("brand")


@pytest.fixture
async def http(fake: XFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=1.0) as client:
        yield client


async def _no_sleep(_: float) -> None:
    return None


def make(http: httpx.AsyncClient, fake: XFake, user: User, **extra: str) -> XConnector:
    access, _ = fake.issue_token(user)
    credentials = Credentials(
        access_token=access,
        extra={"user_id": user.id, "username": user.username} | extra,
    )
    return XConnector(http=http, credentials=credentials, base_url=BASE, sleep=_no_sleep)


@pytest.fixture
def connector(http: httpx.AsyncClient, fake: XFake, brand: User) -> XConnector:
    return make(http, fake, brand)


def target(item: InboundItem) -> ReplyTarget:
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


def attempted(post: OutboundPost) -> OutboundPost:
    return OutboundPost(
        text=post.text,
        idempotency_key=post.idempotency_key,
        options={"attempted_at": dt.datetime.now(dt.UTC).isoformat()},
    )


async def drain(connector: XConnector, cursor: str | None) -> tuple[list[str], str | None, int]:
    ids: list[str] = []
    calls = 0
    while True:
        page = await connector.fetch_inbox(cursor)
        calls += 1
        ids.extend(item.external_id for item in page.items)
        cursor = page.cursor or cursor
        if not page.more:
            return ids, cursor, calls


# -- reading -----------------------------------------------------------------------------


async def test_each_kind_is_mapped_and_linked_to_our_post(
    fake: XFake, connector: XConnector, brand: User
) -> None:
    ours = await connector.publish(OutboundPost(text="Launch day", idempotency_key="d-1"))
    reply = fake.post_as("bob", "@brand congrats", reply_to=ours.external_id)
    deeper = fake.post_as("carol", "@bob @brand indeed", reply_to=reply.id)
    mention = fake.post_as("dave", "Big news from @brand today")
    quote = fake.post_as("erin", "look at this", quote_of=ours.external_id)
    fake.post_as("erin", "not about us at all")
    message = fake.send_dm("bob", "brand", "Hi, a question & an <idea>")

    page = await connector.fetch_inbox(None)

    kinds = {i.external_id: i.kind for i in page.items}
    assert kinds == {
        reply.id: InboundKind.REPLY,
        deeper.id: InboundKind.REPLY,
        mention.id: InboundKind.MENTION,
        message.id: InboundKind.MESSAGE,
    }
    assert quote.id not in kinds  # a quote that does not @ the account is no mention on X
    by_id = {i.external_id: i for i in page.items}
    first = by_id[reply.id]
    assert first.our_post_id == ours.external_id
    assert first.conversation_id == ours.external_id
    assert first.in_reply_to == ours.external_id
    assert first.author.handle == "bob"
    assert first.author.followers == 1234
    assert first.url == f"https://x.com/bob/status/{reply.id}"
    assert by_id[deeper.id].our_post_id == ours.external_id  # the thread root is ours
    assert by_id[deeper.id].in_reply_to == reply.id
    assert by_id[mention.id].our_post_id is None
    dm = by_id[message.id]
    assert dm.text == "Hi, a question & an <idea>"
    assert dm.conversation_id == f"{min(brand.id, fake.user_named('bob').id, key=int)}-" + max(
        brand.id, fake.user_named("bob").id, key=int
    )
    assert dm.from_us is False
    created = [i.created_at for i in page.items]
    assert created == sorted(created)
    assert page.more is False


async def test_a_quote_that_names_us_is_a_quote(fake: XFake, connector: XConnector) -> None:
    ours = await connector.publish(OutboundPost(text="Our take", idempotency_key="d-2"))
    quote = fake.post_as("erin", "@brand I disagree", quote_of=ours.external_id)

    (item,) = (await connector.fetch_inbox(None)).items

    assert (item.external_id, item.kind, item.our_post_id) == (
        quote.id,
        InboundKind.QUOTE,
        ours.external_id,
    )


async def test_a_reply_in_someone_elses_thread_is_a_mention(
    fake: XFake, connector: XConnector
) -> None:
    root = fake.post_as("bob", "my topic")
    naming = fake.post_as("carol", "@bob ask @brand", reply_to=root.id)

    (item,) = (await connector.fetch_inbox(None)).items

    assert (item.external_id, item.kind, item.our_post_id) == (
        naming.id,
        InboundKind.MENTION,
        None,
    )
    assert item.conversation_id == root.id


async def test_cursor_reads_every_mention_once_even_past_the_page_budget(
    fake: XFake, http: httpx.AsyncClient, brand: User
) -> None:
    first = fake.post_as("bob", "@brand hello")
    page = await make(http, fake, brand).fetch_inbox(None)
    assert [i.external_id for i in page.items] == [first.id]
    stored = page.cursor

    burst = [fake.post_as("carol", f"@brand number {n}").id for n in range(620)]
    connector = make(http, fake, brand)  # a restarted worker with the stored cursor
    one = await connector.fetch_inbox(stored)
    assert one.more is True
    assert len(one.items) == 500
    again = await connector.fetch_inbox(stored)
    assert [i.external_id for i in again.items] == [i.external_id for i in one.items]

    ids, cursor, calls = await drain(connector, stored)
    assert sorted(ids, key=int) == burst
    assert len(ids) == len(set(ids))
    assert calls == 2

    late = [fake.post_as("dave", f"@brand late {n}").id for n in range(3)]
    late_dm = fake.send_dm("erin", "brand", "psst")
    ids, cursor, _ = await drain(make(http, fake, brand), cursor)
    assert ids == [*late, late_dm.id]
    assert (await connector.fetch_inbox(cursor)).items == ()


async def test_direct_messages_page_down_to_the_stored_one(
    fake: XFake, connector: XConnector
) -> None:
    early = fake.send_dm("bob", "brand", "first")
    page = await connector.fetch_inbox(None)
    assert [i.external_id for i in page.items] == [early.id]

    many = [fake.send_dm("carol", "brand", f"m{n}").id for n in range(230)]
    ids, cursor, _ = await drain(connector, page.cursor)
    assert sorted(ids, key=int) == many

    ours = fake.send_dm("brand", "carol", "thanks")
    (mine,) = (await connector.fetch_inbox(cursor)).items
    assert (mine.external_id, mine.from_us) == (ours.id, True)


async def test_without_dm_read_the_mentions_still_sync(
    fake: XFake, http: httpx.AsyncClient, brand: User
) -> None:
    mention = fake.post_as("bob", "@brand hi")
    fake.send_dm("bob", "brand", "hidden from this token")
    access, _ = fake.issue_token(brand, scopes=frozenset({"tweet.read", "users.read"}))
    connector = XConnector(
        http=http,
        credentials=Credentials(access_token=access, extra={"user_id": brand.id}),
        base_url=BASE,
    )

    page = await connector.fetch_inbox(None)

    assert [i.external_id for i in page.items] == [mention.id]


def test_an_older_plain_cursor_is_read_as_the_newest_mention() -> None:
    from socialdesk.connectors.x import _InboxCursor

    assert _InboxCursor.parse("1860000000000000000").since_id == "1860000000000000000"
    state = _InboxCursor(since_id="5", dm_since_id="7")
    assert json.loads(state.dump()) == {"dm_since_id": "7", "since_id": "5"}
    assert _InboxCursor.parse(state.dump()) == state


# -- errors ------------------------------------------------------------------------------


async def test_an_expired_token_is_auth_expired(fake: XFake, http: httpx.AsyncClient) -> None:
    connector = XConnector(
        http=http,
        credentials=Credentials(access_token="expired", extra={"user_id": "1"}),
        base_url=BASE,
    )
    with pytest.raises(AuthExpired):
        await connector.fetch_inbox(None)


async def test_rate_limited_until_the_window_resets(fake: XFake, connector: XConnector) -> None:
    fake.limits["GET /2/users/mentions"] = (1, 900)
    await connector.fetch_inbox(None)
    with pytest.raises(RateLimited) as caught:
        await connector.fetch_inbox(None)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 900


async def test_a_server_error_is_transient(fake: XFake, connector: XConnector) -> None:
    fake.inject("fail", status=503, path="/2/users/")
    with pytest.raises(TransientError) as caught:
        await connector.fetch_inbox(None)
    assert not isinstance(caught.value, UncertainOutcome)


# -- answering ---------------------------------------------------------------------------


async def test_reply_answers_the_item(fake: XFake, connector: XConnector, brand: User) -> None:
    question = fake.post_as("bob", "@brand when?")
    (item,) = (await connector.fetch_inbox(None)).items

    result = await connector.reply(
        target(item), OutboundPost(text="Tomorrow!", idempotency_key="r")
    )

    tweet = fake.tweets[result.external_id]
    assert (tweet.author_id, tweet.reply_to, tweet.text) == (brand.id, question.id, "Tomorrow!")
    assert result.url == f"https://x.com/brand/status/{result.external_id}"


async def test_a_lost_reply_is_found_and_never_doubled(
    fake: XFake, connector: XConnector, brand: User
) -> None:
    fake.post_as("bob", "@brand a question")
    (item,) = (await connector.fetch_inbox(None)).items
    post = attempted(
        OutboundPost(text="An answer: https://example.com/a?b=1&c=2", idempotency_key="r")
    )
    assert await connector.find_reply(target(item), post) is None
    fake.inject("apply_then_stall", method="POST", path="/2/tweets", seconds=3.0)

    with pytest.raises(UncertainOutcome):
        await connector.reply(target(item), post)

    found = await connector.find_reply(target(item), post)
    assert found is not None
    again = await connector.reply(target(item), post)  # X: duplicate content → the same one
    assert again.external_id == found.external_id
    assert len(fake.posts_of(brand)) == 1


async def test_a_repeat_without_an_earlier_attempt_stays_rejected(
    fake: XFake, connector: XConnector
) -> None:
    fake.post_as("bob", "@brand hi")
    (item,) = (await connector.fetch_inbox(None)).items
    post = OutboundPost(text="Hello!", idempotency_key="r")
    await connector.reply(target(item), post)
    with pytest.raises(Rejected):
        await connector.reply(target(item), post)


async def test_reply_to_a_message_is_a_message_and_can_be_found(
    fake: XFake, connector: XConnector, brand: User
) -> None:
    fake.send_dm("bob", "brand", "can we talk?")
    (item,) = (await connector.fetch_inbox(None)).items
    post = attempted(OutboundPost(text="Of course", idempotency_key="m"))

    result = await connector.reply(target(item), post)

    event = fake.dm_events[result.external_id]
    assert (event.sender_id, event.text, event.dm_conversation_id) == (
        brand.id,
        "Of course",
        item.conversation_id,
    )
    found = await connector.find_reply(target(item), post)
    assert found is not None
    assert found.external_id == result.external_id
    other = attempted(OutboundPost(text="Something else", idempotency_key="n"))
    assert await connector.find_reply(target(item), other) is None


async def test_like(fake: XFake, connector: XConnector, brand: User) -> None:
    tweet = fake.post_as("bob", "@brand great")
    await connector.like(tweet.id)
    assert tweet.liked_by == {brand.id}


async def test_hide_and_unhide_a_reply_under_our_post(fake: XFake, connector: XConnector) -> None:
    ours = await connector.publish(OutboundPost(text="Our post", idempotency_key="d-3"))
    rude = fake.post_as("bob", "@brand rude words", reply_to=ours.external_id)

    await connector.hide(rude.id)
    assert rude.hidden is True
    await connector.hide(rude.id, hidden=False)
    assert rude.hidden is False


async def test_hiding_outside_our_conversations_is_rejected(
    fake: XFake, connector: XConnector
) -> None:
    root = fake.post_as("bob", "their post")
    reply = fake.post_as("carol", "@brand look", reply_to=root.id)
    with pytest.raises(Rejected, match="only replies under the account's own posts"):
        await connector.hide(reply.id)
    assert reply.hidden is False


async def test_delete_item_deletes_our_reply_only(fake: XFake, connector: XConnector) -> None:
    theirs = fake.post_as("bob", "@brand hi")
    (item,) = (await connector.fetch_inbox(None)).items
    ours = await connector.reply(target(item), OutboundPost(text="hey", idempotency_key="r"))

    with pytest.raises(Rejected) as caught:
        await connector.delete_item(theirs.id)
    assert caught.value.reason == "not our post"
    assert not theirs.deleted

    await connector.delete_item(ours.external_id)
    assert fake.tweets[ours.external_id].deleted
    await connector.delete_item(ours.external_id)  # a repeat: already gone


def test_inbox_is_declared() -> None:
    assert XConnector.inbox_actions == {"reply", "like", "hide", "delete"}
    assert InboundKind.MESSAGE in XConnector.inbox_kinds


async def test_after_an_empty_first_sync_nothing_is_skipped(
    fake: XFake, connector: XConnector
) -> None:
    empty = await connector.fetch_inbox(None)
    assert empty.items == ()

    burst = [fake.post_as("bob", f"@brand {n}").id for n in range(150)]
    messages = [fake.send_dm("carol", "brand", f"dm {n}").id for n in range(120)]
    ids, _, _ = await drain(connector, empty.cursor)

    assert sorted(ids, key=int) == sorted(burst + messages, key=int)
