# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Mastodon inbox (notifications, replies, favourites) against the local Mastodon fake."""

from __future__ import annotations

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
from socialdesk.connectors.mastodon import FIRST_SYNC_ITEMS, MastodonConnector
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.fakes.mastodon import MastodonFake

pytestmark = pytest.mark.anyio

BASE = "https://mastodon.example"
TOKEN = "alice-secret-token-0123456789"


@pytest.fixture
def fake() -> MastodonFake:
    fake = MastodonFake()
    fake.create_account("alice", display_name="Alice A.", access_token=TOKEN)
    for name in ("bob", "carol", "dave", "erin"):
        fake.create_account(name)
    return fake


@pytest.fixture
async def http(fake: MastodonFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=2.0) as client:
        yield client


def make(http: httpx.AsyncClient, token: str = TOKEN) -> MastodonConnector:
    return MastodonConnector(
        http=http, credentials=Credentials(access_token=token, extra={"base_url": BASE})
    )


@pytest.fixture
def connector(http: httpx.AsyncClient) -> MastodonConnector:
    return make(http)


def target(item: InboundItem) -> ReplyTarget:
    """What the inbox stores of an item and hands back to ``reply``."""
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


def alice_id(fake: MastodonFake) -> str:
    account = fake.account_named("alice")
    assert account is not None
    return account.id


async def drain(connector: MastodonConnector, cursor: str | None) -> tuple[list[str], str | None]:
    """Every item until the network has no more right now, and the cursor to store."""
    ids: list[str] = []
    while True:
        page = await connector.fetch_inbox(cursor)
        ids.extend(item.external_id for item in page.items)
        cursor = page.cursor or cursor
        if not page.more:
            return ids, cursor


# -- reading -----------------------------------------------------------------------------


async def test_each_kind_is_mapped_and_linked_to_our_post(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    ours = await connector.publish(OutboundPost(text="Our launch post", idempotency_key="d-1"))
    reply = fake.post_as("bob", "@alice congratulations!", in_reply_to_id=ours.external_id)
    mention = fake.post_as("carol", "Have you seen what @alice shipped?")
    quote = fake.post_as("dave", "Worth a read", quoted_status_id=ours.external_id)
    message = fake.post_as("erin", "@alice can I ask you something privately?", visibility="direct")
    fake.notify("alice", "favourite", from_username="bob", status_id=ours.external_id)
    fake.notify("alice", "reblog", from_username="carol", status_id=ours.external_id)

    page = await connector.fetch_inbox(None)

    assert [(i.external_id, i.kind) for i in page.items] == [
        (reply.id, InboundKind.REPLY),
        (mention.id, InboundKind.MENTION),
        (quote.id, InboundKind.QUOTE),
        (message.id, InboundKind.MESSAGE),
    ]
    by_id = {item.external_id: item for item in page.items}
    answered = by_id[reply.id]
    assert answered.our_post_id == ours.external_id
    assert answered.conversation_id == ours.external_id
    assert answered.in_reply_to == ours.external_id
    assert answered.text == "@alice congratulations!"
    assert answered.author.handle == "bob@mastodon.example"
    assert answered.author.followers == 0
    assert answered.url == f"https://mastodon.example/@bob/{reply.id}"
    assert answered.extra["visibility"] == "public"
    assert answered.from_us is False
    assert by_id[quote.id].our_post_id == ours.external_id
    assert by_id[mention.id].our_post_id is None
    assert by_id[mention.id].conversation_id == mention.id
    assert by_id[message.id].extra["visibility"] == "direct"
    assert page.cursor is not None
    assert page.more is False


async def test_a_reply_deep_in_our_thread_links_the_thread_root(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    thread = await connector.publish(
        OutboundPost(text="1/2 a thread", thread=("2/2 the end",), idempotency_key="d-2")
    )
    second = thread.part_ids[0]
    first = fake.post_as("bob", "@alice about the end...", in_reply_to_id=second)
    deeper = fake.post_as("carol", "@bob @alice agreed", in_reply_to_id=first.id)

    items = {i.external_id: i for i in (await connector.fetch_inbox(None)).items}

    assert items[first.id].kind is InboundKind.REPLY
    assert items[first.id].our_post_id == thread.external_id
    assert items[first.id].in_reply_to == second
    assert items[deeper.id].conversation_id == thread.external_id
    assert items[deeper.id].our_post_id == thread.external_id
    assert items[deeper.id].kind is InboundKind.REPLY


async def test_a_reply_in_someone_elses_thread_that_names_us_is_a_mention(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    root = fake.post_as("bob", "my own topic")
    naming = fake.post_as("carol", "@bob ask @alice", in_reply_to_id=root.id)

    (item,) = (await connector.fetch_inbox(None)).items

    assert item.external_id == naming.id
    assert item.kind is InboundKind.MENTION
    assert item.conversation_id == root.id
    assert item.our_post_id is None


async def test_first_sync_is_a_bounded_recent_window(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    made = [fake.post_as("bob", f"@alice number {n}").id for n in range(FIRST_SYNC_ITEMS + 5)]

    page = await connector.fetch_inbox(None)

    assert [i.external_id for i in page.items] == made[5:]  # the newest, oldest first
    assert page.more is False


async def test_cursor_pages_forward_without_gaps_or_doubles(
    fake: MastodonFake, http: httpx.AsyncClient
) -> None:
    first = fake.post_as("bob", "@alice hello")
    page = await make(http).fetch_inbox(None)
    assert [i.external_id for i in page.items] == [first.id]
    stored = page.cursor

    later = [fake.post_as("carol", f"@alice more {n}").id for n in range(95)]
    # a new connector: a worker restarted with the cursor the inbox stored
    connector = make(http)
    one = await connector.fetch_inbox(stored)
    assert len(one.items) == 40
    assert one.more is True
    again = await connector.fetch_inbox(stored)  # the same cursor gives the same page
    assert [i.external_id for i in again.items] == [i.external_id for i in one.items]

    ids, cursor = await drain(connector, stored)
    assert ids == later  # every one, once, oldest first

    newest = [fake.post_as("dave", f"@alice late {n}").id for n in range(3)]
    ids, cursor = await drain(make(http), cursor)
    assert ids == newest
    assert (await connector.fetch_inbox(cursor)).items == ()
    assert (await connector.fetch_inbox(cursor)).cursor == cursor


async def test_a_deleted_status_leaves_the_inbox(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    gone = fake.post_as("bob", "@alice oops")
    kept = fake.post_as("bob", "@alice hello")
    gone.deleted = True

    items = (await connector.fetch_inbox(None)).items

    assert [i.external_id for i in items] == [kept.id]


async def test_notifications_speak_mastodon(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    """The fake itself: types filter, Link header keeps the filter, min_id order."""
    made = [fake.post_as("bob", f"@alice {n}").id for n in range(3)]
    fake.notify("alice", "favourite", from_username="bob", status_id=made[0])
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = await http.get(
        "/api/v1/notifications",
        params=[("types[]", "mention"), ("limit", "2"), ("min_id", "0")],
        headers=headers,
    )
    body = response.json()
    assert [n["status"]["id"] for n in body] == [made[1], made[0]]  # newest first
    assert {n["type"] for n in body} == {"mention"}
    link = response.headers["link"]
    assert "types%5B%5D=mention" in link
    assert 'rel="next"' in link
    assert 'rel="prev"' in link
    everything = await http.get("/api/v1/notifications", headers=headers)
    assert next(n["type"] for n in everything.json()) == "favourite"
    created = await http.post(
        "/__fake__/statuses",
        json={"username": "erin", "status": "@alice psst", "visibility": "direct"},
    )
    assert created.json()["visibility"] == "direct"
    conversations = await http.get("/api/v1/conversations", headers=headers)
    (conversation,) = conversations.json()
    assert conversation["last_status"]["id"] == created.json()["id"]
    assert [a["username"] for a in conversation["accounts"]] == ["erin"]


# -- errors ------------------------------------------------------------------------------


async def test_a_refused_token_is_auth_expired(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    with pytest.raises(AuthExpired):
        await make(http, token="revoked").fetch_inbox(None)


async def test_rate_limited_with_the_wait(fake: MastodonFake, connector: MastodonConnector) -> None:
    await connector.fetch_inbox(None)  # learns the account id first
    fake.limits.api = (1, 300)
    with pytest.raises(RateLimited) as caught:
        await connector.fetch_inbox(None)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 300


async def test_a_server_error_is_transient(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    fake.inject("fail", status=503, path="/api/v1/notifications")
    with pytest.raises(TransientError) as caught:
        await connector.fetch_inbox("1")
    assert not isinstance(caught.value, UncertainOutcome)  # reading changes nothing


# -- answering ---------------------------------------------------------------------------


async def test_a_reply_to_a_direct_message_stays_direct_and_names_the_author(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    message = fake.post_as("erin", "@alice a private question", visibility="direct")
    (item,) = (await connector.fetch_inbox(None)).items

    result = await connector.reply(target(item), OutboundPost(text="Sure!", idempotency_key="r-1"))

    status = fake.statuses[result.external_id]
    assert status.in_reply_to_id == message.id
    assert status.visibility == "direct"
    assert status.text == "@erin@mastodon.example Sure!"
    assert status.account_id == alice_id(fake)
    assert result.url == f"https://mastodon.example/@alice/{result.external_id}"
    # erin is told: the reply reached her as a mention
    assert any(
        n.status_id == result.external_id and n.type == "mention"
        for n in fake.notifications.values()
    )


async def test_a_reply_is_never_more_public_than_what_it_answers(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    fake.post_as("bob", "@alice followers only", visibility="private")
    (item,) = (await connector.fetch_inbox(None)).items
    post = OutboundPost(text="@bob thanks", idempotency_key="r-2", options={"visibility": "public"})

    result = await connector.reply(target(item), post)

    assert fake.statuses[result.external_id].visibility == "private"
    assert fake.statuses[result.external_id].text == "@bob thanks"  # already named


async def test_a_lost_reply_is_found_and_never_doubled(fake: MastodonFake) -> None:
    async with fake.client(timeout=0.3) as http:
        connector = make(http)
        fake.post_as("bob", "@alice a question")
        (item,) = (await connector.fetch_inbox(None)).items
        post = OutboundPost(text="An answer", idempotency_key="r-3")
        assert await connector.find_reply(target(item), post) is None
        fake.inject("apply_then_stall", method="POST", path="/api/v1/statuses", seconds=1.0)

        with pytest.raises(UncertainOutcome):
            await connector.reply(target(item), post)

        found = await connector.find_reply(target(item), post)
        assert found is not None
        again = await connector.reply(target(item), post)  # the same key: the same status
        assert again.external_id == found.external_id
    mine = fake.statuses_of(alice_id(fake))
    assert [s.id for s in mine] == [found.external_id]


async def test_find_reply_ignores_the_same_text_under_another_item(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    fake.post_as("bob", "@alice one")
    fake.post_as("carol", "@alice two")
    first, second = (await connector.fetch_inbox(None)).items
    await connector.reply(target(first), OutboundPost(text="Thanks!", idempotency_key="r-4"))

    post = OutboundPost(text="Thanks!", idempotency_key="r-5")
    assert await connector.find_reply(target(second), post) is None


async def test_like_favourites_once(fake: MastodonFake, connector: MastodonConnector) -> None:
    status = fake.post_as("bob", "@alice nice")

    await connector.like(status.id)
    await connector.like(status.id)

    assert status.favourited_by == {alice_id(fake)}
    favourites = [n for n in fake.notifications.values() if n.type == "favourite"]
    assert len(favourites) == 1


async def test_like_of_a_missing_status_is_rejected(connector: MastodonConnector) -> None:
    with pytest.raises(Rejected):
        await connector.like("12345")


async def test_hide_is_not_something_mastodon_can_do(connector: MastodonConnector) -> None:
    assert "hide" not in MastodonConnector.inbox_actions
    with pytest.raises(Rejected, match="cannot hide"):
        await connector.hide("1")


async def test_delete_item_deletes_our_reply_only(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    theirs = fake.post_as("bob", "@alice hi")
    (item,) = (await connector.fetch_inbox(None)).items
    ours = await connector.reply(target(item), OutboundPost(text="hello", idempotency_key="r-6"))

    with pytest.raises(Rejected) as caught:
        await connector.delete_item(theirs.id)
    assert caught.value.reason == "not our post"
    assert not theirs.deleted

    await connector.delete_item(ours.external_id)
    assert fake.statuses[ours.external_id].deleted
    await connector.delete_item(ours.external_id)  # a repeat: already gone, fine


async def test_after_an_empty_first_sync_nothing_is_skipped(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    empty = await connector.fetch_inbox(None)
    assert empty.items == ()

    burst = [fake.post_as("bob", f"@alice {n}").id for n in range(FIRST_SYNC_ITEMS + 10)]
    ids, _ = await drain(connector, empty.cursor)

    assert ids == burst
