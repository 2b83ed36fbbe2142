# SPDX-License-Identifier: AGPL-3.0-or-later
"""The LinkedIn inbox (comments on a page's posts) against the local LinkedIn fake."""

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
from socialdesk.connectors.linkedin import LinkedInConnector
from socialdesk.errors import AuthExpired, RateLimited, Rejected, TransientError, UncertainOutcome
from tests.fakes.linkedin import LinkedInFake, Member, Organization

pytestmark = pytest.mark.anyio

BASE = "https://api.linkedin.com"
MEMBER_SCOPES = frozenset({"openid", "profile", "w_member_social"})
PAGE_SCOPES = MEMBER_SCOPES | {"w_organization_social", "r_organization_social"}
FAN = "urn:li:person:fan123"


@pytest.fixture
def fake() -> LinkedInFake:
    fake = LinkedInFake(base_url=BASE)
    member = fake.add_member("Dana Smith")
    fake.add_organization("Acme Brand", admins=(member,))
    return fake


@pytest.fixture
def member(fake: LinkedInFake) -> Member:
    return next(iter(fake.members.values()))


@pytest.fixture
def org(fake: LinkedInFake) -> Organization:
    return next(iter(fake.organizations.values()))


@pytest.fixture
async def http(fake: LinkedInFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=0.5) as client:
        yield client


async def _no_sleep(_: float) -> None:
    return None


def connector(
    http: httpx.AsyncClient,
    fake: LinkedInFake,
    member: Member,
    *,
    author: str | None,
    scopes: frozenset[str],
) -> LinkedInConnector:
    credentials = Credentials(
        access_token=fake.issue_token(member, scopes=scopes),
        extra={"author_urn": author} if author else {},
    )
    return LinkedInConnector(http=http, credentials=credentials, base_url=BASE, sleep=_no_sleep)


@pytest.fixture
def linkedin(
    http: httpx.AsyncClient, fake: LinkedInFake, member: Member, org: Organization
) -> LinkedInConnector:
    return connector(http, fake, member, author=org.urn, scopes=PAGE_SCOPES)


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


def ms(fake: LinkedInFake, seconds_ago: float = 0) -> int:
    return int((fake.now() - seconds_ago) * 1000)


def test_inbox_is_declared_as_data() -> None:
    assert LinkedInConnector.inbox_kinds == {InboundKind.COMMENT, InboundKind.REPLY}
    assert LinkedInConnector.inbox_actions == {"reply", "like", "delete"}


async def test_comments_and_nested_replies_oldest_first(
    fake: LinkedInFake, linkedin: LinkedInConnector, org: Organization
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    question = fake.add_comment(post_urn, "Remote?", actor=FAN, at_ms=ms(fake, 30))
    answer = fake.add_comment(question.urn, "Hybrid", actor=org.urn, at_ms=ms(fake, 20))
    fake.add_comment(post_urn, "Congrats", actor="urn:li:person:ann", at_ms=ms(fake, 10))

    page = await linkedin.fetch_inbox(None)

    assert [(i.text, i.kind) for i in page.items] == [
        ("Remote?", InboundKind.COMMENT),
        ("Hybrid", InboundKind.REPLY),
        ("Congrats", InboundKind.COMMENT),
    ]
    comment, reply, _ = page.items
    assert comment.external_id == question.urn
    assert comment.our_post_id == post_urn == comment.conversation_id == comment.in_reply_to
    assert comment.author.external_id == FAN
    assert comment.author.handle == "fan123"
    assert comment.url
    assert comment.url.startswith(f"https://www.linkedin.com/feed/update/{post_urn}")
    assert not comment.from_us
    assert reply.external_id == answer.urn
    assert reply.in_reply_to == question.urn
    assert reply.from_us


async def test_cursor_and_paging_neither_miss_nor_double(
    fake: LinkedInFake, linkedin: LinkedInConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LinkedInConnector, "inbox_page_size", 60)
    post_urn = (await linkedin.publish(outbound("Launch day"))).external_id
    for n in range(130):  # more than one page of the Comments API (100)
        fake.add_comment(post_urn, f"c{n:03}", actor=FAN, at_ms=ms(fake, 200 - n))

    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await linkedin.fetch_inbox(cursor)
        seen += [i.text for i in page.items]
        cursor = page.cursor or cursor
        if not page.more:
            break
    # The fake answers at most 100 comments a page, so all 130 means the pages were followed.
    assert seen == [f"c{n:03}" for n in range(130)]

    assert (await linkedin.fetch_inbox(cursor)).items == ()
    # Listed late: older than the newest comment returned, within the overlap.
    fake.add_comment(post_urn, "late but recent", actor=FAN, at_ms=ms(fake, 100))
    fake.add_comment(post_urn, "new", actor=FAN)
    assert [i.text for i in (await linkedin.fetch_inbox(cursor)).items] == [
        "late but recent",
        "new",
    ]


async def test_reply_nests_under_the_top_level_comment(
    fake: LinkedInFake, linkedin: LinkedInConnector, org: Organization
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    question = fake.add_comment(post_urn, "Remote?", actor=FAN, at_ms=ms(fake, 20))
    fake.add_comment(question.urn, "+1", actor="urn:li:person:ann", at_ms=ms(fake, 10))
    comment, reply = (await linkedin.fetch_inbox(None)).items

    first = await linkedin.reply(target(comment), outbound("Yes, fully"))
    second = await linkedin.reply(target(reply), outbound("Yes Ann"))

    made = [c for c in fake.comments if c.parent == question.urn]
    assert [(c.text, c.actor) for c in made] == [
        ("+1", "urn:li:person:ann"),
        ("Yes, fully", org.urn),
        ("Yes Ann", org.urn),
    ]
    assert first.external_id == made[1].urn
    assert second.external_id == made[2].urn


async def test_timeout_on_reply_then_find_reply_finds_it_once(
    fake: LinkedInFake, linkedin: LinkedInConnector
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    question = fake.add_comment(post_urn, "Remote?", actor=FAN)
    [item] = (await linkedin.fetch_inbox(None)).items
    started = dt.datetime.now(dt.UTC).isoformat()
    assert await linkedin.find_reply(target(item), outbound("Yes")) is None
    fake.inject("apply_then_stall", method="POST", path="/rest/socialActions/", seconds=2)

    with pytest.raises(UncertainOutcome):
        await linkedin.reply(target(item), outbound("Yes", attempted_at=started))
    found = await linkedin.find_reply(target(item), outbound("Yes", attempted_at=started))

    assert found is not None
    assert [c.urn for c in fake.comments if c.parent == question.urn] == [found.external_id]


async def test_like_and_delete(
    fake: LinkedInFake, linkedin: LinkedInConnector, org: Organization
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    nice = fake.add_comment(post_urn, "Great team", actor=FAN)
    spam = fake.add_comment(post_urn, "buy now", actor="urn:li:person:bot")
    fake.add_comment(spam.urn, "reply to spam", actor="urn:li:person:bot2")

    await linkedin.like(nice.urn)
    assert [(r.actor, r.root, r.kind) for r in fake.reactions] == [(org.urn, nice.urn, "LIKE")]
    await linkedin.delete_item(spam.urn)
    assert [c.text for c in fake.comments] == ["Great team"]
    await linkedin.delete_item(spam.urn)  # already gone: nothing to do


async def test_hide_and_foreign_ids_are_rejected(linkedin: LinkedInConnector) -> None:
    with pytest.raises(Rejected, match="no way to hide"):
        await linkedin.hide("urn:li:comment:(urn:li:share:1,2)")
    with pytest.raises(Rejected, match="not a LinkedIn comment"):
        await linkedin.delete_item("urn:li:share:1")


async def test_a_member_channel_cannot_list_its_posts(
    http: httpx.AsyncClient, fake: LinkedInFake, member: Member
) -> None:
    linkedin = connector(http, fake, member, author=None, scopes=MEMBER_SCOPES)
    with pytest.raises(Rejected, match="organisation pages"):
        await linkedin.fetch_inbox(None)


async def test_errors_map_to_the_error_tree(
    fake: LinkedInFake, linkedin: LinkedInConnector
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    fake.add_comment(post_urn, "hi", actor=FAN)
    fake.inject("fail", method="GET", path="/rest/socialActions/", status=503)
    with pytest.raises(TransientError):
        await linkedin.fetch_inbox(None)
    fake.inject("fail", method="GET", path="/rest/posts", status=429)
    with pytest.raises(RateLimited) as limited:
        await linkedin.fetch_inbox(None)
    assert limited.value.retry_after is not None  # a DAY limit: until midnight UTC
    fake.advance(61 * 24 * 3600)  # the token's 60 days are over
    with pytest.raises(AuthExpired, match="reconnect"):
        await linkedin.fetch_inbox(None)


async def test_fake_admin_endpoint_injects_comments(
    fake: LinkedInFake, linkedin: LinkedInConnector, http: httpx.AsyncClient
) -> None:
    post_urn = (await linkedin.publish(outbound("We are hiring"))).external_id
    answer = await http.post(
        "/__fake__/comments", json={"on": post_urn, "actor": FAN, "text": "over HTTP"}
    )
    assert answer.status_code == 201
    [item] = (await linkedin.fetch_inbox(None)).items
    assert item.text == "over HTTP"
    assert item.external_id == answer.json()["$URN"]
