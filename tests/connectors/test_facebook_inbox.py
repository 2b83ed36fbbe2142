# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Facebook Page inbox (comments, replies) against the local Graph fake."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.connectors.base import (
    Credentials,
    InboundAuthor,
    InboundItem,
    InboundKind,
    OutboundPost,
    ReplyTarget,
)
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.meta_graph import INBOX_OVERLAP, InboxCursor, inbox_page
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
    ValidationError,
)
from tests.fakes.meta_graph import FacebookFake

pytestmark = pytest.mark.anyio

FAN = {"id": "6543210987654321", "name": "Jane Doe"}


@pytest.fixture
def fake() -> FacebookFake:
    return FacebookFake()


@pytest.fixture
async def http(fake: FacebookFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=0.5) as client:
        yield client


@pytest.fixture
def facebook(fake: FacebookFake, http: httpx.AsyncClient) -> FacebookConnector:
    credentials = Credentials(access_token=fake.page_token, extra={"page_id": fake.page_id})
    return FacebookConnector(http=http, credentials=credentials, base_url=fake.base_url)


def outbound(text: str, **options: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="reply-1", options=options)


async def our_post(facebook: FacebookConnector, text: str = "Fresh bread today") -> str:
    return (await facebook.publish(outbound(text))).external_id


def target(item: InboundItem) -> ReplyTarget:
    return ReplyTarget(
        external_id=item.external_id,
        conversation_id=item.conversation_id,
        kind=item.kind,
        author_handle=item.author.handle,
        extra=item.extra,
    )


async def drain(facebook: FacebookConnector, cursor: str | None) -> tuple[list[str], str | None]:
    """Every item until ``more`` is False, and the last cursor stored."""
    texts: list[str] = []
    while True:
        page = await facebook.fetch_inbox(cursor)
        texts += [i.text for i in page.items]
        cursor = page.cursor or cursor
        if not page.more:
            return texts, cursor


def test_inbox_is_declared_as_data() -> None:
    assert FacebookConnector.inbox_kinds == {
        InboundKind.COMMENT,
        InboundKind.REPLY,
        InboundKind.MESSAGE,
    }
    assert FacebookConnector.inbox_actions == {"reply", "like", "hide", "delete"}


async def test_first_sync_reads_comments_and_replies_oldest_first(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    first = fake.add_comment(post_id, "Do you bake on Sundays?", author=FAN)
    fake.advance(seconds=5)
    answer = fake.add_comment(
        first["id"], "Yes, from 7am", author={"id": fake.page_id, "name": "Acme Bakery"}
    )
    fake.advance(seconds=5)
    fake.add_comment(post_id, "Love the rye", author={"id": "111", "name": "Sam"})

    page = await facebook.fetch_inbox(None)

    assert [i.text for i in page.items] == [
        "Do you bake on Sundays?",
        "Yes, from 7am",
        "Love the rye",
    ]
    comment, reply, other = page.items
    assert comment.kind is InboundKind.COMMENT
    assert comment.external_id == first["id"]
    assert comment.author.external_id == FAN["id"]
    assert comment.author.handle == "Jane Doe"
    assert comment.conversation_id == post_id
    assert comment.our_post_id == post_id
    assert comment.in_reply_to == post_id
    assert comment.url
    assert "comment_id=" in comment.url
    assert not comment.from_us
    assert reply.kind is InboundKind.REPLY
    assert reply.external_id == answer["id"]
    assert reply.in_reply_to == first["id"]
    assert reply.extra["parent_id"] == first["id"]
    assert reply.our_post_id == post_id
    assert reply.from_us
    assert other.created_at > reply.created_at > comment.created_at
    assert page.cursor is not None
    assert not page.more
    [call] = fake.calls("GET", f"{post_id}/comments")
    assert call.params["filter"] == "stream"
    assert call.params["order"] == "chronological"
    assert "since" not in call.params


async def test_cursor_neither_misses_nor_doubles(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    fake.add_comment(post_id, "one", author=FAN)
    page = await facebook.fetch_inbox(None)
    assert [i.text for i in page.items] == ["one"]
    cursor = page.cursor

    again = await facebook.fetch_inbox(cursor)
    assert again.items == ()
    assert again.cursor is None

    # Same second as "one" (Graph times have whole seconds), then later ones.
    fake.add_comment(post_id, "two", author=FAN)
    fake.advance(seconds=30)
    fake.add_comment(post_id, "three", author=FAN)
    page = await facebook.fetch_inbox(cursor)
    assert [i.text for i in page.items] == ["two", "three"]
    [call] = fake.calls("GET", f"{post_id}/comments")[-1:]
    assert int(call.params["since"]) <= int(fake.now().timestamp()) - 30

    # A comment Graph lists late, with a time before the newest one seen: still read once.
    fake.add_comment(post_id, "late", author=FAN, at=fake.now() - dt.timedelta(seconds=20))
    later = await facebook.fetch_inbox(page.cursor)
    assert [i.text for i in later.items] == ["late"]
    assert (await facebook.fetch_inbox(later.cursor)).items == ()


async def test_a_new_facebook_connector_resumes_from_the_stored_cursor(
    fake: FacebookFake, facebook: FacebookConnector, http: httpx.AsyncClient
) -> None:
    post_id = await our_post(facebook)
    fake.add_comment(post_id, "before restart", author=FAN)
    cursor = (await facebook.fetch_inbox(None)).cursor
    fake.advance(seconds=3)
    fake.add_comment(post_id, "after restart", author=FAN)
    restarted = FacebookConnector(
        http=http,
        credentials=Credentials(access_token=fake.page_token, extra={"page_id": fake.page_id}),
        base_url=fake.base_url,
    )
    page = await restarted.fetch_inbox(cursor)
    assert [i.text for i in page.items] == ["after restart"]


async def test_many_comments_page_through_graph_and_the_inbox(
    fake: FacebookFake, facebook: FacebookConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FacebookConnector, "inbox_page_size", 40)
    first_post = await our_post(facebook, "first")
    second_post = await our_post(facebook, "second")
    start = fake.now() - dt.timedelta(minutes=5)
    for n in range(260):
        on = first_post if n % 2 else second_post
        fake.add_comment(on, f"c{n:03}", author=FAN, at=start + dt.timedelta(seconds=n // 3))

    texts, cursor = await drain(facebook, None)

    assert sorted(texts) == [f"c{n:03}" for n in range(260)]
    assert len(texts) == len(set(texts)) == 260
    assert fake.calls("GET", f"{first_post}/comments")[0].params["limit"] == "100"
    assert any("after" in c.params for c in fake.calls("GET", "/comments"))
    fake.add_comment(first_post, "newest", author=FAN)
    assert (await drain(facebook, cursor))[0] == ["newest"]


async def test_comments_too_late_for_the_overlap_are_not_read_again(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    fake.add_comment(post_id, "now", author=FAN)
    cursor = (await facebook.fetch_inbox(None)).cursor
    fake.add_comment(
        post_id, "ancient", author=FAN, at=fake.now() - INBOX_OVERLAP - dt.timedelta(minutes=1)
    )
    assert (await facebook.fetch_inbox(cursor)).items == ()


async def test_a_damaged_cursor_is_a_validation_error(facebook: FacebookConnector) -> None:
    with pytest.raises(ValidationError, match="cursor"):
        await facebook.fetch_inbox("not-ours")
    with pytest.raises(ValidationError, match="damaged"):
        await facebook.fetch_inbox("i1.!!!")


@pytest.mark.parametrize(
    ("code", "subcode", "status", "error"),
    [
        (190, 463, 400, AuthExpired),
        (4, None, 403, RateLimited),
        (17, None, 403, RateLimited),
        (32, None, 403, RateLimited),
        (613, None, 400, RateLimited),
        (2, None, 500, TransientError),
        (100, 33, 400, Rejected),
    ],
)
async def test_fetch_errors_map_to_the_error_tree(
    fake: FacebookFake,
    facebook: FacebookConnector,
    code: int,
    subcode: int | None,
    status: int,
    error: type[Exception],
) -> None:
    await our_post(facebook)
    fake.error_next(code=code, subcode=subcode, status=status, path="/comments")
    with pytest.raises(error) as caught:
        await facebook.fetch_inbox(None)
    assert fake.page_token not in str(caught.value)


async def test_expired_token_and_server_errors(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    await our_post(facebook)
    fake.fail_next(status=503, path="published_posts")
    with pytest.raises(TransientError):
        await facebook.fetch_inbox(None)
    fake.expire_token(fake.page_token)
    with pytest.raises(AuthExpired, match="reconnect"):
        await facebook.fetch_inbox(None)


async def test_rate_limit_says_when_to_come_back(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    usage = '{"1": [{"type": "pages", "estimated_time_to_regain_access": 7}]}'
    fake.error_next(
        code=32,
        status=403,
        message="(#32) Page request limit reached",
        headers={"X-Business-Use-Case-Usage": usage},
    )
    with pytest.raises(RateLimited) as caught:
        await facebook.fetch_inbox(None)
    assert caught.value.retry_after == 420


async def test_reply_to_a_comment_and_to_a_reply(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    top = fake.add_comment(post_id, "Open today?", author=FAN)
    fake.add_comment(top["id"], "I wonder too", author={"id": "222", "name": "Ann"})
    comment, reply = (await facebook.fetch_inbox(None)).items

    answer = await facebook.reply(target(comment), outbound("Until 6pm!"))
    [made] = fake.comments[top["id"]][-1:]
    assert answer.external_id == made["id"]
    assert made["message"] == "Until 6pm!"
    assert made["from"]["id"] == fake.page_id
    assert answer.url == made["permalink_url"]

    # Facebook threads one level deep: the answer to a reply goes under its comment.
    second = await facebook.reply(target(reply), outbound("Both of you welcome"))
    assert fake.comment_index[second.external_id]["parent"] == {"id": top["id"]}
    assert [c["message"] for c in fake.comments[top["id"]]] == [
        "I wonder too",
        "Until 6pm!",
        "Both of you welcome",
    ]


async def test_timeout_on_reply_is_uncertain_and_find_reply_prevents_a_second(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    top = fake.add_comment(post_id, "Gluten free?", author=FAN)
    [item] = (await facebook.fetch_inbox(None)).items
    started = fake.now().isoformat()
    fake.hang_after_apply(seconds=2, path=f"{top['id']}/comments", method="POST")

    with pytest.raises(UncertainOutcome):
        await facebook.reply(target(item), outbound("Yes, the spelt loaf", attempted_at=started))
    found = await facebook.find_reply(
        target(item), outbound("Yes, the spelt loaf", attempted_at=started)
    )

    assert found is not None
    assert [c["id"] for c in fake.comments[top["id"]]] == [found.external_id]
    assert len(fake.calls("POST", f"{top['id']}/comments")) == 1


async def test_find_reply_is_none_when_the_attempt_never_arrived(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    post_id = await our_post(facebook)
    top = fake.add_comment(post_id, "Gluten free?", author=FAN)
    # Someone else wrote the same words, and we wrote them long ago: neither is ours now.
    fake.add_comment(top["id"], "Yes", author={"id": "333", "name": "Bo"})
    fake.add_comment(
        top["id"],
        "Yes",
        author={"id": fake.page_id, "name": "Acme Bakery"},
        at=fake.now() - dt.timedelta(days=3),
    )
    [item, _, _] = (await facebook.fetch_inbox(None)).items
    started = fake.now().isoformat()
    fake.slow_next(seconds=2, path=f"{top['id']}/comments", method="POST")
    with pytest.raises(UncertainOutcome):
        await facebook.reply(target(item), outbound("Yes", attempted_at=started))
    assert await facebook.find_reply(target(item), outbound("Yes", attempted_at=started)) is None


async def test_like_hide_unhide_delete(fake: FacebookFake, facebook: FacebookConnector) -> None:
    post_id = await our_post(facebook)
    spam = fake.add_comment(post_id, "cheap watches", author=FAN)
    nice = fake.add_comment(post_id, "Great bread", author=FAN)

    await facebook.like(nice["id"])
    assert fake.page_id in nice["_likes"]
    await facebook.hide(spam["id"])
    assert spam["is_hidden"] is True
    [hidden] = [i for i in (await facebook.fetch_inbox(None)).items if i.text == "cheap watches"]
    assert hidden.extra["hidden"] == "true"
    await facebook.hide(spam["id"], hidden=False)
    assert spam["is_hidden"] is False
    await facebook.delete_item(spam["id"])
    assert spam["id"] not in fake.comment_index
    assert [c["message"] for c in fake.comments[post_id]] == ["Great bread"]
    [call] = fake.calls("POST", f"/{spam['id']}")[:1]
    assert call.params == {"is_hidden": "true"}


async def test_actions_on_unknown_comments_are_rejected(facebook: FacebookConnector) -> None:
    with pytest.raises(Rejected):
        await facebook.like("123_456")
    with pytest.raises(Rejected):
        await facebook.delete_item("123_456")


PSID = "2600000000000001"


def message_target(mid: str) -> ReplyTarget:
    """As the inbox stores a Messenger item from the webhook: the conversation is the PSID."""
    return ReplyTarget(
        external_id=mid, conversation_id=PSID, kind=InboundKind.MESSAGE, author_handle=PSID
    )


async def test_answer_a_messenger_message_once_even_after_a_timeout(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    incoming = fake.add_message(PSID, "Are you open?", owner=fake.page_id)
    first = await facebook.reply(message_target(incoming["id"]), outbound("Until 6pm"))
    [call] = fake.calls("POST", f"{fake.page_id}/messages")
    assert call.params["messaging_type"] == "RESPONSE"
    assert call.params["recipient"] == f'{{"id":"{PSID}"}}'
    assert [m["message"] for m in fake.conversations[PSID]] == ["Are you open?", "Until 6pm"]
    assert first.external_id == fake.conversations[PSID][-1]["id"]

    started = fake.now().isoformat()
    fake.hang_after_apply(seconds=2, path="/messages", method="POST")
    with pytest.raises(UncertainOutcome):
        await facebook.reply(
            message_target(incoming["id"]), outbound("See you", attempted_at=started)
        )
    found = await facebook.find_reply(
        message_target(incoming["id"]), outbound("See you", attempted_at=started)
    )
    assert found is not None
    assert found.external_id == fake.conversations[PSID][-1]["id"]
    assert [m["message"] for m in fake.conversations[PSID]].count("See you") == 1
    missing = outbound("Never sent", attempted_at=started)
    assert await facebook.find_reply(message_target(incoming["id"]), missing) is None


async def test_a_message_older_than_a_day_cannot_be_answered(
    fake: FacebookFake, facebook: FacebookConnector
) -> None:
    old = fake.add_message(
        PSID, "Hello?", owner=fake.page_id, at=fake.now() - dt.timedelta(hours=25)
    )
    with pytest.raises(Rejected) as caught:
        await facebook.reply(message_target(old["id"]), outbound("Sorry for the wait"))
    assert caught.value.reason == "outside the messaging window"
    assert len(fake.conversations[PSID]) == 1


async def test_fake_admin_endpoint_injects_comments(
    fake: FacebookFake, facebook: FacebookConnector, http: httpx.AsyncClient
) -> None:
    post_id = await our_post(facebook)
    response = await http.post(
        f"{fake.origin}/__fake__/comments",
        json={"on": post_id, "message": "over HTTP", "from": FAN},
    )
    assert response.status_code == 200
    [item] = (await facebook.fetch_inbox(None)).items
    assert item.text == "over HTTP"
    assert item.external_id == response.json()["id"]
    missing = await http.post(f"{fake.origin}/__fake__/comments", json={"on": "1", "message": "x"})
    assert missing.status_code == 404


# --- the cursor itself (shared by the Meta connectors and LinkedIn) ------------------------

_EVENTS = st.lists(
    st.one_of(
        # A comment that the API lists ``lag`` seconds after the time it carries.
        st.tuples(st.just("comment"), st.integers(0, int(INBOX_OVERLAP.total_seconds()) - 1)),
        st.tuples(st.just("wait"), st.integers(0, 900)),
        st.tuples(st.just("sync"), st.integers(1, 5)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(events=_EVENTS)
def test_cursor_never_misses_nor_doubles_whatever_the_timing(
    events: list[tuple[str, int]],
) -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    listed: list[InboundItem] = []
    returned: list[str] = []
    stored: str | None = None

    def sync(limit: int) -> bool:
        nonlocal stored
        cursor = InboxCursor.decode(stored)
        since = cursor.read_from
        # What the API answers for ``since`` (whole seconds, as Graph's filter works).
        visible = [i for i in listed if since is None or i.created_at >= since]
        page = inbox_page(visible, cursor, limit=limit)
        times = [i.created_at for i in page.items]
        assert times == sorted(times)
        returned.extend(i.external_id for i in page.items)
        stored = page.cursor or stored
        return page.more

    for kind, value in events:
        if kind == "comment":
            created = now - dt.timedelta(seconds=value)
            listed.append(
                InboundItem(
                    external_id=f"c{len(listed)}",
                    kind=InboundKind.COMMENT,
                    author=InboundAuthor(external_id="1", handle="someone"),
                    text="",
                    created_at=created.replace(microsecond=0),
                    conversation_id="post",
                )
            )
        elif kind == "wait":
            now += dt.timedelta(seconds=value)
        else:
            sync(value)
    while sync(5):
        pass

    assert len(returned) == len(set(returned))
    assert sorted(returned) == sorted(i.external_id for i in listed)
