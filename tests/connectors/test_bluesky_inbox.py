# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Bluesky inbox against a real local network: the reference PDS and the reference
AppView (``@atproto/bsky`` from ``@atproto/dev-env``, indexing into PostgreSQL).

Other accounts on the same PDS write real replies, mentions and quotes with createRecord;
the AppView indexes them from the PDS's firehose and the connector reads them with
``app.bsky.notification.listNotifications`` through the PDS, as in production. Replies,
likes and deletes are checked in the PDS's repositories. Error mapping is tested fast,
with answers shaped as the XRPC error fixtures.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialdesk.connectors import bluesky
from socialdesk.connectors.base import (
    Credentials,
    InboundItem,
    InboundKind,
    OutboundPost,
    PublishResult,
    ReplyTarget,
)
from socialdesk.connectors.bluesky import BlueskyConnector, parse_at_uri, record_key
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.support.pds import LocalNetwork, PdsAccount, bsky_network

__all__ = ["bsky_network"]  # the session fixture

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
BASE = "https://pds.example"


def target(item: InboundItem) -> ReplyTarget:
    """What the inbox stores of an item and hands back to ``reply``."""
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


# === fast: error mapping of the inbox calls ================================================


def fixture(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


def scripted(listing: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.removeprefix("/xrpc/")
        if nsid == "com.atproto.server.createSession":
            return httpx.Response(200, json=fixture("create_session.json"))
        if nsid == "app.bsky.notification.listNotifications":
            return listing(request)
        raise AssertionError(f"unexpected call {nsid}")

    return httpx.MockTransport(handle)


def mock_connector(http: httpx.AsyncClient) -> BlueskyConnector:
    credentials = Credentials(access_token="abcd-efgh-ijkl-mnop", extra={"handle": "alice.test"})
    return BlueskyConnector(http=http, credentials=credentials, base_url=BASE)


@pytest.mark.parametrize(
    ("status", "name", "headers", "expected"),
    [
        (401, "error_authentication_required.json", {}, AuthExpired),
        (429, "error_rate_limited.json", {"ratelimit-reset": "RESET"}, RateLimited),
        (502, "error_internal.json", {}, TransientError),
    ],
    ids=["401", "429", "502"],
)
async def test_listing_errors_map_to_the_error_tree(
    status: int, name: str, headers: dict[str, str], expected: type[Exception]
) -> None:
    reset = str(int(dt.datetime.now(dt.UTC).timestamp()) + 60)
    answer = httpx.Response(
        status,
        json=fixture(name),
        headers={k: v.replace("RESET", reset) for k, v in headers.items()},
    )
    async with httpx.AsyncClient(transport=scripted(lambda _: answer)) as http:
        with pytest.raises(expected) as caught:
            await mock_connector(http).fetch_inbox(None)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after is not None
        assert 0 < caught.value.retry_after <= 60
    if expected is TransientError:
        assert not isinstance(caught.value, UncertainOutcome)


async def test_the_listing_asks_for_replies_mentions_and_quotes_only() -> None:
    seen: list[httpx.Request] = []

    def listing(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"notifications": []})

    async with httpx.AsyncClient(transport=scripted(listing)) as http:
        page = await mock_connector(http).fetch_inbox(None)
    assert page.items == ()
    assert seen[0].url.params.get_list("reasons") == ["reply", "mention", "quote"]


async def test_inbox_declares_what_bluesky_can_do() -> None:
    assert InboundKind.MESSAGE not in BlueskyConnector.inbox_kinds  # chat is another service
    assert BlueskyConnector.inbox_actions == {"reply", "like", "delete"}
    async with httpx.AsyncClient(transport=scripted(lambda _: httpx.Response(500))) as http:
        with pytest.raises(Rejected, match="threadgate"):
            await mock_connector(http).hide("at://did:plc:x/app.bsky.feed.post/3k")


def test_an_appview_url_needs_its_did() -> None:
    with pytest.raises(ValueError, match="appview_did"):
        BlueskyConnector(
            http=httpx.AsyncClient(),
            credentials=Credentials(
                access_token="x", extra={"handle": "a.test", "appview_url": "http://av"}
            ),
        )


class Listing:
    """listNotifications as the AppView pages it: newest first by (indexedAt, cid), the
    cursor naming the last row given, and a cursor even under the last page."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, indexed_at: str, reason: str = "reply") -> str:
        self.count += 1
        uri = f"at://did:plc:bob/app.bsky.feed.post/3k{self.count:011d}"
        ours = "at://did:plc:3mwjzghvvecg2sc2ldtyinjt/app.bsky.feed.post/3kours0000000"
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": f"n{self.count}",
            "createdAt": indexed_at,
        }
        if reason == "reply":
            ref = {"uri": ours, "cid": "bafyours"}
            record["reply"] = {"root": ref, "parent": ref}
        self.rows.append(
            {
                "uri": uri,
                "cid": f"bafy{self.count:04d}",
                "author": {"did": "did:plc:bob", "handle": "bob.test", "displayName": "Bob"},
                "reason": reason,
                "reasonSubject": ours if reason == "reply" else None,
                "record": record,
                "isRead": False,
                "indexedAt": indexed_at,
            }
        )
        return uri

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = lambda row: (row["indexedAt"], row["cid"])  # noqa: E731
        ordered = sorted(self.rows, key=key, reverse=True)
        cursor = request.url.params.get("cursor")
        if cursor:
            after = tuple(cursor.split("::"))
            ordered = [row for row in ordered if key(row) < after]
        page = ordered[: int(request.url.params.get("limit", "50"))]
        body: dict[str, Any] = {"notifications": page}
        if page:
            body["cursor"] = "::".join(key(page[-1]))
        elif cursor:
            body["cursor"] = cursor
        return httpx.Response(200, json=body)


async def test_equal_times_gaps_and_a_trailing_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bluesky, "_NOTIFICATION_PAGE", 2)
    monkeypatch.setattr(bluesky, "_INBOX_PAGES", 1)
    listing = Listing()
    t0, t1, t2 = (f"2026-11-23T10:00:0{n}.000Z" for n in range(3))
    first = [listing.add(t0), listing.add(t0), listing.add(t0, "like"), listing.add(t1)]
    async with httpx.AsyncClient(transport=scripted(listing)) as http:
        connector = mock_connector(http)
        page = await connector.fetch_inbox(None)
        assert [i.external_id for i in page.items] == [first[0], first[1], first[3]]
        assert page.more is False

        # new records at exactly the stored time are new; the stored one is not repeated
        same_time = [listing.add(t1), listing.add(t1), listing.add(t2, "mention")]
        ids: list[str] = []
        cursor = page.cursor
        for _ in range(10):
            page = await connector.fetch_inbox(cursor)
            ids.extend(i.external_id for i in page.items)
            cursor = page.cursor
            if not page.more:
                break
        assert sorted(ids) == sorted(same_time)
        assert (await connector.fetch_inbox(cursor)).items == ()

        # after an empty first sync every page is read, down to the last (whose answer
        # still carries a cursor): each item once, then no more
        cursor, ids, calls = json.dumps({"started": True}), [], 0
        while calls < 20:
            page = await connector.fetch_inbox(cursor)
            calls += 1
            ids.extend(i.external_id for i in page.items)
            cursor = page.cursor
            if not page.more:
                break
        assert sorted(ids) == sorted([first[0], first[1], first[3], *same_time])
        assert calls == 5


# === slow: against the real PDS and AppView ===============================================

slow = pytest.mark.slow


class Actor:
    """Another account on the network, writing records as the Bluesky app would."""

    def __init__(self, network: LocalNetwork, account: PdsAccount, http: httpx.AsyncClient):
        self.network, self.account, self.http = network, account, http
        self.did = account.did

    async def post(
        self,
        text: str,
        *,
        reply_to: tuple[dict[str, str], dict[str, str]] | None = None,
        quote: dict[str, str] | None = None,
        mention: PdsAccount | None = None,
    ) -> dict[str, str]:
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        }
        if reply_to is not None:
            root, parent = reply_to
            record["reply"] = {"root": root, "parent": parent}
        if quote is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quote}
        if mention is not None:
            name = f"@{mention.handle}"
            start = text.encode().index(name.encode())
            record["facets"] = [
                {
                    "index": {"byteStart": start, "byteEnd": start + len(name.encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": mention.did}],
                }
            ]
        response = await self.http.post(
            f"{self.network.url}/xrpc/com.atproto.repo.createRecord",
            headers={"Authorization": f"Bearer {self.account.access_jwt}"},
            json={"repo": self.did, "collection": "app.bsky.feed.post", "record": record},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        # The AppView indexes repositories in parallel; a reply indexed before the post it
        # answers notifies nobody. Let it index each record before the next is written.
        self.network.process_all()
        return {"uri": body["uri"], "cid": body["cid"]}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60.0) as client:
        yield client


@pytest.fixture
def brand(bsky_network: LocalNetwork) -> PdsAccount:
    return bsky_network.create_account()


@pytest.fixture
def others(bsky_network: LocalNetwork, http: httpx.AsyncClient) -> list[Actor]:
    return [Actor(bsky_network, bsky_network.create_account(), http) for _ in range(3)]


def connect(
    network: LocalNetwork, account: PdsAccount, http: httpx.AsyncClient, **extra: str
) -> BlueskyConnector:
    credentials = Credentials(
        access_token=account.app_password, extra={"handle": account.handle, **extra}
    )
    return BlueskyConnector(http=http, credentials=credentials, base_url=network.url)


async def our_post(
    network: LocalNetwork, connector: BlueskyConnector, key: str, text: str
) -> tuple[PublishResult, dict[str, str]]:
    result = await connector.publish(OutboundPost(text=text, idempotency_key=key))
    network.process_all()  # indexed before anyone answers it (see Actor.post)
    record = await read(connector.http, connector.base_url, result.external_id)
    return result, {"uri": result.external_id, "cid": record["cid"]}


async def read(http: httpx.AsyncClient, base: str, uri: str) -> dict[str, Any]:
    repo, collection, rkey = parse_at_uri(uri)
    response = await http.get(
        f"{base}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def records(
    http: httpx.AsyncClient, base: str, did: str, collection: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{base}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": collection, "limit": "100"},
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["records"]
    return found


async def drain(
    connector: BlueskyConnector, cursor: str | None
) -> tuple[list[str], str | None, int]:
    ids: list[str] = []
    calls = 0
    while True:
        page = await connector.fetch_inbox(cursor)
        calls += 1
        ids.extend(item.external_id for item in page.items)
        cursor = page.cursor or cursor
        if not page.more:
            return ids, cursor, calls


@slow
@pytest.mark.timeout(900)
async def test_each_kind_is_read_through_the_pds_and_linked_to_our_post(
    bsky_network: LocalNetwork, brand: PdsAccount, others: list[Actor], http: httpx.AsyncClient
) -> None:
    connector = connect(bsky_network, brand, http)
    ours, ref = await our_post(bsky_network, connector, "d-1", "Our launch post")
    bob, carol, dave = others
    reply = await bob.post("congrats!", reply_to=(ref, ref))
    deeper = await carol.post("agreed", reply_to=(ref, reply))
    mention = await carol.post(f"have you seen @{brand.handle} today?", mention=brand)
    quote = await dave.post("worth a read", quote=ref)
    await bob.post("about something else entirely")
    bsky_network.process_all()

    page = await connector.fetch_inbox(None)

    by_uri = {item.external_id: item for item in page.items}
    assert {uri: item.kind for uri, item in by_uri.items()} == {
        reply["uri"]: InboundKind.REPLY,
        deeper["uri"]: InboundKind.REPLY,
        mention["uri"]: InboundKind.MENTION,
        quote["uri"]: InboundKind.QUOTE,
    }
    first = by_uri[reply["uri"]]
    assert first.our_post_id == ours.external_id
    assert first.conversation_id == ours.external_id
    assert first.in_reply_to == ours.external_id
    assert first.text == "congrats!"
    assert first.author.external_id == bob.did
    assert first.author.handle == bob.account.handle
    assert first.extra["cid"] == reply["cid"]
    assert (first.extra["root_uri"], first.extra["root_cid"]) == (ref["uri"], ref["cid"])
    _, _, rkey = parse_at_uri(reply["uri"])
    assert first.url == f"https://bsky.app/profile/{bob.account.handle}/post/{rkey}"
    assert by_uri[deeper["uri"]].our_post_id == ours.external_id
    assert by_uri[deeper["uri"]].in_reply_to == reply["uri"]
    assert by_uri[quote["uri"]].our_post_id == ours.external_id
    assert by_uri[mention["uri"]].our_post_id is None
    assert by_uri[mention["uri"]].conversation_id == mention["uri"]
    times = [item.created_at for item in page.items]
    assert times == sorted(times)
    assert page.more is False


@slow
@pytest.mark.timeout(900)
async def test_the_cursor_reads_each_item_once_across_pages_and_restarts(
    bsky_network: LocalNetwork,
    brand: PdsAccount,
    others: list[Actor],
    http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # small pages and budget, so a handful of real records crosses every boundary
    monkeypatch.setattr(bluesky, "_NOTIFICATION_PAGE", 2)
    monkeypatch.setattr(bluesky, "_INBOX_PAGES", 2)
    monkeypatch.setattr(bluesky, "FIRST_SYNC_ITEMS", 2)
    connector = connect(bsky_network, brand, http)
    _, ref = await our_post(bsky_network, connector, "d-2", "Tell us what you think")
    bob, carol, _ = others
    early = [await bob.post(f"early {n}", reply_to=(ref, ref)) for n in range(3)]
    bsky_network.process_all()

    first = await connector.fetch_inbox(None)  # the first sync: the newest two only
    assert [i.external_id for i in first.items] == [r["uri"] for r in early[1:]]
    assert first.more is False

    burst = [await carol.post(f"burst {n}", reply_to=(ref, ref)) for n in range(7)]
    bsky_network.process_all()
    restarted = connect(bsky_network, brand, http)  # a new worker with the stored cursor
    one = await restarted.fetch_inbox(first.cursor)
    assert one.more is True
    assert len(one.items) == 4
    again = await restarted.fetch_inbox(first.cursor)
    assert [i.external_id for i in again.items] == [i.external_id for i in one.items]

    ids, cursor, calls = await drain(restarted, first.cursor)
    assert sorted(ids) == sorted(r["uri"] for r in burst)
    assert len(ids) == len(set(ids))
    assert calls == 2

    late = await bob.post("late one", reply_to=(ref, ref))
    bsky_network.process_all()
    ids, cursor, _ = await drain(connect(bsky_network, brand, http), cursor)
    assert ids == [late["uri"]]
    assert (await connector.fetch_inbox(cursor)).items == ()


@slow
@pytest.mark.timeout(900)
async def test_reading_straight_from_the_appview_with_service_auth(
    bsky_network: LocalNetwork, brand: PdsAccount, others: list[Actor], http: httpx.AsyncClient
) -> None:
    publisher = connect(bsky_network, brand, http)
    _, ref = await our_post(bsky_network, publisher, "d-3", "hello")
    reply = await others[0].post("hi!", reply_to=(ref, ref))
    bsky_network.process_all()
    connector = connect(
        bsky_network,
        brand,
        http,
        appview_url=bsky_network.appview_url,
        appview_did=bsky_network.appview_did,
    )

    (item,) = (await connector.fetch_inbox(None)).items

    assert item.external_id == reply["uri"]
    wrong = connect(
        bsky_network, brand, http, appview_url=bsky_network.appview_url, appview_did="did:web:x"
    )
    with pytest.raises((AuthExpired, Rejected)):  # the AppView checks the token's audience
        await wrong.fetch_inbox(None)


@slow
@pytest.mark.timeout(900)
async def test_reply_lands_in_the_thread_once(
    bsky_network: LocalNetwork, brand: PdsAccount, others: list[Actor], http: httpx.AsyncClient
) -> None:
    connector = connect(bsky_network, brand, http)
    ours, ref = await our_post(bsky_network, connector, "d-4", "Questions welcome")
    question = await others[0].post("when is it out?", reply_to=(ref, ref))
    bsky_network.process_all()
    (item,) = (await connector.fetch_inbox(None)).items
    post = OutboundPost(text="Next week!", idempotency_key="reply-1")

    result = await connector.reply(target(item), post)
    repeat = await connect(bsky_network, brand, http).reply(target(item), post)

    assert repeat.external_id == result.external_id
    assert parse_at_uri(result.external_id)[2] == record_key("reply-1")
    stored = await read(http, bsky_network.url, result.external_id)
    assert stored["value"]["reply"] == {
        "root": {"uri": ours.external_id, "cid": ref["cid"]},
        "parent": question,
    }
    posts = await records(http, bsky_network.url, brand.did, "app.bsky.feed.post")
    assert sorted(p["value"]["text"] for p in posts) == ["Next week!", "Questions welcome"]
    found = await connector.find_reply(target(item), post)
    assert found is not None
    assert found.external_id == result.external_id
    # the AppView indexes the answer: the asker is notified of it, as a reply
    bsky_network.process_all()
    response = await http.get(
        f"{bsky_network.url}/xrpc/app.bsky.notification.listNotifications",
        headers={"Authorization": f"Bearer {others[0].account.access_jwt}"},
    )
    assert response.status_code == 200, response.text
    told = [(n["uri"], n["reason"]) for n in response.json()["notifications"]]
    assert (result.external_id, "reply") in told


class LoseCreateAndLookups(httpx.AsyncBaseTransport):
    """The real network, except that the next createRecord's answer is lost and the
    PDS cannot be reached for the look-up that follows (so the outcome stays unknown)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.armed = False
        self.lost = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.armed and path.endswith("/com.atproto.repo.createRecord"):
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
            self.armed, self.lost = False, True
            raise httpx.ReadTimeout("answer lost on the way back", request=request)
        if self.lost and path.endswith("/com.atproto.repo.getRecord"):
            self.lost = False
            raise httpx.ConnectError("PDS unreachable", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@slow
@pytest.mark.timeout(900)
async def test_a_lost_reply_is_uncertain_then_found_and_never_doubled(
    bsky_network: LocalNetwork, brand: PdsAccount, others: list[Actor], http: httpx.AsyncClient
) -> None:
    connector = connect(bsky_network, brand, http)
    _, ref = await our_post(bsky_network, connector, "d-5", "Ask away")
    await others[0].post("a question", reply_to=(ref, ref))
    bsky_network.process_all()
    (item,) = (await connector.fetch_inbox(None)).items
    post = OutboundPost(text="An answer", idempotency_key="reply-2")
    lossy = LoseCreateAndLookups()
    async with httpx.AsyncClient(transport=lossy, timeout=60.0) as flaky:
        flaky_connector = connect(bsky_network, brand, flaky)
        await flaky_connector.verify()
        lossy.armed = True
        with pytest.raises(UncertainOutcome):
            await flaky_connector.reply(target(item), post)

    found = await connector.find_reply(target(item), post)
    assert found is not None
    again = await connector.reply(target(item), post)
    assert again.external_id == found.external_id
    posts = await records(http, bsky_network.url, brand.did, "app.bsky.feed.post")
    assert [p["value"]["text"] for p in posts].count("An answer") == 1


@slow
@pytest.mark.timeout(900)
async def test_like_once_and_delete_only_our_reply(
    bsky_network: LocalNetwork, brand: PdsAccount, others: list[Actor], http: httpx.AsyncClient
) -> None:
    connector = connect(bsky_network, brand, http)
    _, ref = await our_post(bsky_network, connector, "d-6", "Hello world")
    theirs = await others[0].post("nice", reply_to=(ref, ref))
    bsky_network.process_all()
    (item,) = (await connector.fetch_inbox(None)).items

    await connector.like(item.external_id)
    await connect(bsky_network, brand, http).like(item.external_id)  # a repeat, new worker

    likes = await records(http, bsky_network.url, brand.did, "app.bsky.feed.like")
    assert [like["value"]["subject"] for like in likes] == [theirs]

    answer = await connector.reply(target(item), OutboundPost(text="thanks", idempotency_key="r3"))
    with pytest.raises(Rejected) as caught:
        await connector.delete_item(theirs["uri"])
    assert caught.value.reason == "not our post"
    assert (await read(http, bsky_network.url, theirs["uri"]))["value"]["text"] == "nice"

    await connector.delete_item(answer.external_id)
    await connector.delete_item(answer.external_id)  # a repeat: already gone
    posts = await records(http, bsky_network.url, brand.did, "app.bsky.feed.post")
    assert [p["value"]["text"] for p in posts] == ["Hello world"]
