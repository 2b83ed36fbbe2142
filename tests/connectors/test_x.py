# SPDX-License-Identifier: AGPL-3.0-or-later
"""The X connector against the local fake of X API v2 (tests/fakes/x.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from socialdesk.connectors.base import (
    Credentials,
    Idempotency,
    MediaItem,
    Network,
    OutboundPost,
    TextCounting,
)
from socialdesk.connectors.x import (
    DUPLICATE_CONTENT,
    NOT_FOUND,
    SCOPES,
    OAuthClient,
    XConnector,
    XErrorMapper,
    comparable_text,
    pkce_pair,
)
from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.fakes.x import User, XFake, public_text, weighted_length

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "x"
BASE = "https://api.x.com"
REDIRECT = "https://desk.example/oauth/x/callback"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> XFake:
    fake = XFake(base_url=BASE)
    fake.add_app("desk-public", REDIRECT)
    fake.add_app("desk-confidential", REDIRECT, secret="s3cret-app")
    fake.add_user("brand", "The Brand")
    return fake


@pytest.fixture
def user(fake: XFake) -> User:
    return next(iter(fake.users.values()))


@pytest.fixture
async def http(fake: XFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=1.0) as client:
        yield client


async def _no_sleep(_: float) -> None:
    return None


def connector(http: httpx.AsyncClient, fake: XFake, user: User, **extra: str) -> XConnector:
    access, refresh = fake.issue_token(user, client_id="desk-public")
    credentials = Credentials(
        access_token=access,
        refresh_token=refresh,
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
        extra={"client_id": "desk-public", "user_id": user.id, "username": user.username} | extra,
    )
    return XConnector(http=http, credentials=credentials, base_url=BASE, sleep=_no_sleep)


def post(text: str, **kwargs: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="delivery-1", **kwargs)


def since_now() -> dict[str, Any]:
    return {"attempted_at": dt.datetime.now(dt.UTC)}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    """Keys and value types, lists merged into one element: what "looks the same" means."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            item_shape = shape(item)
            if isinstance(merged, dict) and isinstance(item_shape, dict):
                merged = merged | item_shape
            else:
                merged = item_shape
        return [merged]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


# -- rules as data ------------------------------------------------------------------------


def test_rules_are_data_with_their_sources() -> None:
    assert XConnector.network is Network.X
    assert XConnector.text_rules.max_length == 280
    assert XConnector.text_rules.counting is TextCounting.X_WEIGHTED
    assert XConnector.text_rules.url_length == 23
    rules = XConnector.media_rules
    assert (rules.max_items, rules.max_videos, rules.mix_images_and_video) == (4, 1, False)
    assert rules.max_image_bytes == 5 * 1024 * 1024
    assert rules.max_video_bytes == 512 * 1024 * 1024
    assert rules.max_video_seconds == 140
    assert rules.max_alt_text == 1000
    caps = XConnector.capabilities
    assert caps.idempotency is Idempotency.LOOKUP
    assert (caps.threads, caps.polls, caps.delete, caps.oauth) == (True, True, True, True)
    assert XConnector.rate_limit is not None
    for source in (XConnector.text_rules.source, rules.source, XConnector.rate_limit.source):
        assert source.startswith("https://docs.x.com/")
    assert XConnector.text_rules.checked == rules.checked == "2026-11"


# -- error mapping ------------------------------------------------------------------------


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", f"{BASE}/2/tweets")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "expected", "reason"),
    [
        (401, fixture("error_401.json"), AuthExpired, None),
        (403, fixture("error_403_duplicate.json"), Rejected, DUPLICATE_CONTENT),
        (
            403,
            {"title": "Forbidden", "detail": "You are not permitted to perform this action."},
            Rejected,
            "You are not permitted to perform this action.",
        ),
        (400, fixture("error_400_invalid.json"), Rejected, None),
        (404, fixture("error_404_post.json"), Rejected, NOT_FOUND),
        (400, fixture("oauth2_token_error.json"), Rejected, None),
        (500, {"title": "Internal Server Error"}, TransientError, None),
        (503, None, TransientError, None),
        (429, fixture("error_429.json"), RateLimited, None),
    ],
)
def test_error_mapping(
    status: int, body: Any, expected: type[ConnectorError], reason: str | None
) -> None:
    error = XErrorMapper().classify(_response(status, body))
    assert type(error) is expected
    if reason is not None:
        assert isinstance(error, Rejected)
        assert error.reason == reason


def test_invalid_request_reason_names_the_parameter_problem() -> None:
    error = XErrorMapper().classify(_response(400, fixture("error_400_invalid.json")))
    assert isinstance(error, Rejected)
    assert "too long" in error.reason


def test_success_is_not_an_error() -> None:
    assert XErrorMapper().classify(_response(201, fixture("create_post.json"))) is None


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        # the 15-minute window is spent: wait for its reset (epoch seconds)
        ({"x-rate-limit-remaining": "0", "x-rate-limit-reset": "+600"}, 590, 601),
        # the window has room but the 24-hour user cap is spent: its reset wins
        (
            {
                "x-rate-limit-remaining": "5",
                "x-rate-limit-reset": "+600",
                "x-user-limit-24hour-remaining": "0",
                "x-user-limit-24hour-reset": "+7200",
            },
            7190,
            7201,
        ),
        ({"retry-after": "42"}, 42, 42),
    ],
)
def test_rate_limit_wait_comes_from_the_reset_headers(
    headers: dict[str, str], low: float, high: float
) -> None:
    now = int(time.time())
    resolved = {
        key: str(now + int(value[1:])) if value.startswith("+") else value
        for key, value in headers.items()
    }
    error = XErrorMapper().classify(_response(429, fixture("error_429_problem.json"), resolved))
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert low <= error.retry_after <= high


# -- the fake answers as the documentation shows ----------------------------------------


async def test_fake_answers_have_the_documented_shapes(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    access, _ = fake.issue_token(user)
    auth = {"Authorization": f"Bearer {access}"}
    fake.media_processing_polls = 2

    me = await http.get(
        "/2/users/me", params={"user.fields": "name,username,profile_image_url"}, headers=auth
    )
    assert shape(me.json()) == shape(fixture("users_me.json"))

    init = await http.post(
        "/2/media/upload/initialize",
        json={"media_type": "video/mp4", "total_bytes": 8, "media_category": "tweet_video"},
        headers=auth,
    )
    assert shape(init.json()) == shape(fixture("media_upload_initialize.json"))
    media_id = init.json()["data"]["id"]
    append = await http.post(
        f"/2/media/upload/{media_id}/append",
        data={"segment_index": "0"},
        files={"media": ("chunk", b"12345678", "application/octet-stream")},
        headers=auth,
    )
    assert shape(append.json()) == shape(fixture("media_upload_append.json"))
    final = await http.post(f"/2/media/upload/{media_id}/finalize", headers=auth)
    assert shape(final.json()) == shape(fixture("media_upload_finalize_video.json"))
    status = None
    for _ in range(2):
        status = await http.get(
            "/2/media/upload", params={"media_id": media_id, "command": "STATUS"}, headers=auth
        )
    assert status is not None
    assert shape(status.json()) == shape(fixture("media_upload_status.json"))
    assert status.json()["data"]["processing_info"]["state"] == "succeeded"

    image = await http.post(
        "/2/media/upload/initialize",
        json={"media_type": "image/png", "total_bytes": 3, "media_category": "tweet_image"},
        headers=auth,
    )
    image_id = image.json()["data"]["id"]
    await http.post(
        f"/2/media/upload/{image_id}/append",
        data={"segment_index": "0"},
        files={"media": ("chunk", b"png", "application/octet-stream")},
        headers=auth,
    )
    await http.post(f"/2/media/upload/{image_id}/finalize", headers=auth)
    metadata = await http.post(
        "/2/media/metadata",
        json={"id": image_id, "metadata": {"alt_text": {"text": "A dancing cat"}}},
        headers=auth,
    )
    assert shape(metadata.json()) == shape(fixture("media_metadata.json"))

    for number in range(2):
        await http.post("/2/tweets", json={"text": f"older {number}"}, headers=auth)
    created = await http.post(
        "/2/tweets",
        json={"text": "1/2 Photo of the day & more", "media": {"media_ids": [image_id]}},
        headers=auth,
    )
    assert created.status_code == 201
    assert shape(created.json()) == shape(fixture("create_post.json"))
    root = created.json()["data"]["id"]
    for number in range(3):
        await http.post(
            "/2/tweets",
            json={
                "text": f"part {number} https://example.com/{number}",
                "reply": {"in_reply_to_tweet_id": root},
            },
            headers=auth,
        )
    timeline = await http.get(
        f"/2/users/{user.id}/tweets",
        params={"max_results": 5, "tweet.fields": "created_at,referenced_tweets,attachments"},
        headers=auth,
    )
    assert shape(timeline.json()) == shape(fixture("user_posts_timeline.json"))
    second = await http.get(
        f"/2/users/{user.id}/tweets",
        params={
            "max_results": 5,
            "tweet.fields": "created_at,referenced_tweets,attachments",
            "pagination_token": timeline.json()["meta"]["next_token"],
        },
        headers=auth,
    )
    assert [t["text"] for t in second.json()["data"]] == ["older 0"]
    first_page = {t["id"]: t for t in timeline.json()["data"]}
    # X answers with the media's t.co link after the text
    assert re.fullmatch(
        r"1/2 Photo of the day &amp; more https://t\.co/\w+", first_page[root]["text"]
    )
    empty = await http.get(
        f"/2/users/{user.id}/tweets", params={"start_time": "2100-01-01T00:00:00Z"}, headers=auth
    )
    assert empty.json() == fixture("user_posts_timeline_empty.json")

    duplicate = await http.post(
        "/2/tweets", json={"text": "part 1 https://example.com/1"}, headers=auth
    )
    assert duplicate.status_code == 403
    assert duplicate.json() == fixture("error_403_duplicate.json")
    too_long = await http.post("/2/tweets", json={"text": "x" * 281}, headers=auth)
    assert too_long.status_code == 400
    assert shape(too_long.json()) == shape(fixture("error_400_invalid.json"))

    deleted = await http.delete(f"/2/tweets/{root}", headers=auth)
    assert deleted.json() == fixture("delete_post.json")
    gone = await http.delete(f"/2/tweets/{root}", headers=auth)
    assert gone.status_code == 404
    assert shape(gone.json()) == shape(fixture("error_404_post.json"))

    unauthorized = await http.get("/2/users/me", headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 401
    assert unauthorized.json() == fixture("error_401.json")

    fake.limits["GET /2/users/me"] = (1, 900)
    limited = await http.get("/2/users/me", headers=auth)
    assert limited.status_code == 429
    assert limited.json() == fixture("error_429.json")
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) > time.time()


async def test_fake_token_answer_has_the_documented_shape(
    fake: XFake, http: httpx.AsyncClient
) -> None:
    verifier, challenge = pkce_pair()
    code = await _authorize(
        http,
        XConnector.authorization_url(
            OAuthClient("desk-public", REDIRECT), state="st", code_challenge=challenge
        ),
    )
    answer = await http.post(
        "/2/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
            "client_id": "desk-public",
        },
    )
    assert shape(answer.json()) == shape(fixture("oauth2_token.json"))
    refused = await http.post(
        "/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": "nope", "client_id": "desk-public"},
    )
    assert refused.status_code == 400
    assert refused.json() == fixture("oauth2_token_error.json")


def test_fake_counts_and_rewrites_text_as_x_does() -> None:
    assert weighted_length("a" * 280) == 280
    assert weighted_length("日本" * 70) == 280
    assert weighted_length("see https://example.com/a/very/long/path/indeed") == 4 + 23
    shown = public_text("Q&A <live> https://example.com/x")
    assert shown.startswith("Q&amp;A &lt;live&gt; https://t.co/")
    assert comparable_text(shown) == comparable_text("Q&A <live> https://example.com/x")
    assert comparable_text(shown) != comparable_text("Q&A <live>")


# -- OAuth 2.0 with PKCE ------------------------------------------------------------------


async def _authorize(http: httpx.AsyncClient, url: str) -> str:
    parts = urlsplit(url)
    answer = await http.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302
    location = parse_qs(urlsplit(answer.headers["location"]).query)
    assert location["state"] == ["st"]
    return location["code"][0]


def test_authorization_url_asks_for_the_scopes_with_s256() -> None:
    url = XConnector.authorization_url(
        OAuthClient("desk-public", REDIRECT), state="st", code_challenge="abc"
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://x.com/i/oauth2/authorize"
    assert query["scope"] == [" ".join(SCOPES)]
    assert {"tweet.read", "tweet.write", "users.read", "offline.access", "media.write"} <= set(
        query["scope"][0].split()
    )
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == ["abc"]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["response_type"] == ["code"]


async def test_code_exchange_with_pkce(fake: XFake, http: httpx.AsyncClient, user: User) -> None:
    client = OAuthClient("desk-public", REDIRECT)
    verifier, challenge = pkce_pair()
    code = await _authorize(
        http, XConnector.authorization_url(client, state="st", code_challenge=challenge)
    )
    credentials = await XConnector.exchange_code(
        http=http, client=client, code=code, code_verifier=verifier, base_url=BASE
    )
    assert credentials.refresh_token
    assert credentials.expires_at is not None
    left = credentials.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=1, minutes=59) < left <= dt.timedelta(hours=2)
    assert credentials.extra["client_id"] == "desk-public"
    assert "tweet.write" in credentials.extra["scope"]
    account = await XConnector(http=http, credentials=credentials, base_url=BASE).verify()
    assert (account.external_id, account.handle) == (user.id, "brand")


async def test_a_wrong_verifier_is_refused_and_the_code_is_spent(http: httpx.AsyncClient) -> None:
    client = OAuthClient("desk-public", REDIRECT)
    verifier, challenge = pkce_pair()
    code = await _authorize(
        http, XConnector.authorization_url(client, state="st", code_challenge=challenge)
    )
    other_verifier, _ = pkce_pair()
    with pytest.raises(Rejected):
        await XConnector.exchange_code(
            http=http, client=client, code=code, code_verifier=other_verifier, base_url=BASE
        )
    with pytest.raises(Rejected):  # single use, even with the right verifier now
        await XConnector.exchange_code(
            http=http, client=client, code=code, code_verifier=verifier, base_url=BASE
        )


async def test_confidential_clients_use_basic_auth(http: httpx.AsyncClient) -> None:
    client = OAuthClient("desk-confidential", REDIRECT, client_secret="s3cret-app")
    assert "s3cret-app" not in repr(client)
    verifier, challenge = pkce_pair()
    code = await _authorize(
        http, XConnector.authorization_url(client, state="st", code_challenge=challenge)
    )
    credentials = await XConnector.exchange_code(
        http=http, client=client, code=code, code_verifier=verifier, base_url=BASE
    )
    assert credentials.access_token
    wrong = OAuthClient("desk-confidential", REDIRECT, client_secret="wrong")
    code = await _authorize(
        http, XConnector.authorization_url(wrong, state="st", code_challenge=challenge)
    )
    with pytest.raises(AuthExpired):
        await XConnector.exchange_code(
            http=http, client=wrong, code=code, code_verifier=verifier, base_url=BASE
        )


async def test_refresh_rotates_and_the_old_refresh_token_dies(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    old = x.credentials
    fresh = await x.refresh_credentials()
    assert fresh is not None
    assert fresh.refresh_token
    assert fresh.refresh_token != old.refresh_token
    assert fresh.access_token != old.access_token
    assert fresh.extra["user_id"] == user.id  # what the channel knew is kept
    assert x.credentials is fresh
    assert (await x.verify()).external_id == user.id
    stale = XConnector(http=http, credentials=old, base_url=BASE)
    with pytest.raises(AuthExpired):
        await stale.refresh_credentials()


async def test_refresh_never_stores_an_empty_refresh_token(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    fake.rotate_refresh_tokens = False  # the answer carries no refresh_token
    x = connector(http, fake, user)
    old_refresh = x.credentials.refresh_token
    fresh = await x.refresh_credentials()
    assert fresh is not None
    assert fresh.refresh_token == old_refresh
    assert await x.refresh_credentials() is not None  # and it still works


async def test_nothing_to_refresh_without_a_refresh_token(http: httpx.AsyncClient) -> None:
    credentials = Credentials(access_token="t", expires_at=dt.datetime.now(dt.UTC))
    assert await XConnector(http=http, credentials=credentials).refresh_credentials() is None


# -- verify and publish -------------------------------------------------------------------


async def test_verify_says_which_account(fake: XFake, http: httpx.AsyncClient, user: User) -> None:
    x = connector(http, fake, user)
    account = await x.verify()
    assert account.external_id == user.id
    assert account.handle == "brand"
    assert account.display_name == "The Brand"
    assert account.url == "https://x.com/brand"
    assert account.avatar_url
    assert account.avatar_url.startswith("https://")
    assert x.channel_extra == {"user_id": user.id, "username": "brand"}


async def test_verify_with_a_revoked_token_asks_to_reconnect(http: httpx.AsyncClient) -> None:
    x = XConnector(http=http, credentials=Credentials(access_token="revoked"), base_url=BASE)
    with pytest.raises(AuthExpired):
        await x.verify()


async def test_publish_text_and_link(fake: XFake, http: httpx.AsyncClient, user: User) -> None:
    result = await connector(http, fake, user).publish(
        post("Launch day & more", link="https://example.com/launch")
    )
    [tweet] = fake.posts_of(user)
    assert tweet.id == result.external_id
    assert tweet.text == "Launch day & more\n\nhttps://example.com/launch"
    assert result.url == f"https://x.com/brand/status/{tweet.id}"
    assert result.part_ids == ()


async def test_publish_a_thread_as_a_reply_chain(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    result = await connector(http, fake, user).publish(
        post("1/3 A thread", thread=("2/3 goes on", "3/3 and ends"))
    )
    assert len(result.part_ids) == 2
    first, second, third = (fake.tweets[i] for i in (result.external_id, *result.part_ids))
    assert (first.reply_to, second.reply_to, third.reply_to) == (None, first.id, second.id)
    assert third.text == "3/3 and ends"


async def test_publish_images_with_alt_text(
    fake: XFake, http: httpx.AsyncClient, user: User, tmp_path: Path
) -> None:
    items = []
    for number in range(2):
        path = tmp_path / f"photo{number}.png"
        path.write_bytes(PNG * (number + 1))
        items.append(
            MediaItem(
                path=path,
                mime_type="image/png",
                size_bytes=path.stat().st_size,
                alt_text=f"photo {number} of the team",
            )
        )
    result = await connector(http, fake, user).publish(post("Team day", media=tuple(items)))
    tweet = fake.tweets[result.external_id]
    assert len(tweet.media_ids) == 2
    uploaded = [fake.media[m] for m in tweet.media_ids]
    assert [m.alt_text for m in uploaded] == ["photo 0 of the team", "photo 1 of the team"]
    assert [b"".join(m.chunks[i] for i in sorted(m.chunks)) for m in uploaded] == [PNG, PNG * 2]


async def test_publish_a_video_waits_for_processing(
    fake: XFake, http: httpx.AsyncClient, user: User, tmp_path: Path
) -> None:
    fake.media_processing_polls = 3
    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(5 * 1024 * 1024))  # two chunks
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    x = connector(http, fake, user)
    x._sleep = sleep
    item = MediaItem(path=path, mime_type="video/mp4", size_bytes=path.stat().st_size)
    result = await x.publish(post("Watch", media=(item,)))
    [media_id] = fake.tweets[result.external_id].media_ids
    assert len(fake.media[media_id].chunks) == 2
    assert len(waits) == 3


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([("a.png", "image/png", 6 * 1024 * 1024)], "at most"),
        ([("a.gif", "image/gif", 16 * 1024 * 1024)], "at most"),
        ([("a.png", "image/png", 10)] * 5, "up to 4"),
        ([("a.mp4", "video/mp4", 10), ("b.png", "image/png", 10)], "up to 4"),
        ([("a.pdf", "application/pdf", 10)], "does not take"),
    ],
)
async def test_media_the_network_would_refuse_is_refused_before_uploading(
    fake: XFake,
    http: httpx.AsyncClient,
    user: User,
    files: list[tuple[str, str, int]],
    message: str,
) -> None:
    items = tuple(
        MediaItem(path=Path(name), mime_type=mime, size_bytes=size) for name, mime, size in files
    )
    with pytest.raises(Rejected, match=message):
        await connector(http, fake, user).publish(post("x", media=items))
    assert fake.media == {}


async def test_publish_a_poll(fake: XFake, http: httpx.AsyncClient, user: User) -> None:
    result = await connector(http, fake, user).publish(
        post("Which one?", options={"poll": {"options": ["Red", "Blue"], "duration_minutes": 60}})
    )
    assert fake.tweets[result.external_id].poll == {
        "options": ["Red", "Blue"],
        "duration_minutes": 60,
    }
    with pytest.raises(Rejected):
        await connector(http, fake, user).publish(
            post("Bad poll", options={"poll": {"options": ["Only one"], "duration_minutes": 60}})
        )


# -- exactly once -------------------------------------------------------------------------


async def test_an_uncertain_publish_is_found_and_not_repeated(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    content = post("Big news: we ship today https://example.com/news", options=since_now())
    fake.inject("apply_then_stall", method="POST", path="/2/tweets", seconds=5)
    with pytest.raises(UncertainOutcome):
        await x.publish(content)
    [landed] = fake.posts_of(user)

    found = await x.find_published(content)
    assert found is not None
    assert found.external_id == landed.id

    # Even a retry that skips the lookup does not post twice: X says "duplicate content",
    # and the connector adopts the post of the earlier attempt.
    again = await x.publish(content)
    assert again.external_id == landed.id
    assert len(fake.posts_of(user)) == 1


async def test_an_uncertain_post_with_media_is_found(
    fake: XFake, http: httpx.AsyncClient, user: User, tmp_path: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(PNG)
    item = MediaItem(path=path, mime_type="image/png", size_bytes=len(PNG), alt_text="a photo")
    content = post("Photo of the day", media=(item,), options=since_now())
    x = connector(http, fake, user)
    fake.inject("apply_then_stall", method="POST", path="/2/tweets", seconds=5)
    with pytest.raises(UncertainOutcome):
        await x.publish(content)
    found = await x.find_published(content)
    [landed] = fake.posts_of(user)
    assert found is not None
    assert found.external_id == landed.id
    # the same text without media is another post
    assert await x.find_published(post("Photo of the day", options=since_now())) is None


async def test_a_dropped_connection_is_uncertain_too(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    fake.inject("apply_then_drop", method="POST", path="/2/tweets")
    with pytest.raises(UncertainOutcome):
        await x.publish(post("Dropped", options=since_now()))
    assert (await x.find_published(post("Dropped", options=since_now()))) is not None


async def test_a_thread_cut_short_is_finished_by_the_lookup(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    content = post("1/3 root", thread=("2/3 middle", "3/3 end"), options=since_now())
    fake.inject("apply_then_stall", method="POST", path="/2/tweets", after=1, seconds=5)
    with pytest.raises(UncertainOutcome, match="thread part 2 of 3 failed after post"):
        await x.publish(content)
    assert len(fake.posts_of(user)) == 2

    found = await x.find_published(content)
    assert found is not None
    assert len(found.part_ids) == 2
    tweets = fake.posts_of(user)
    assert len(tweets) == 3
    assert fake.tweets[found.part_ids[1]].reply_to == found.part_ids[0]
    assert fake.tweets[found.part_ids[0]].reply_to == found.external_id


async def test_nothing_found_when_nothing_landed(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    fake.inject("fail", method="POST", path="/2/tweets", status=503)
    with pytest.raises(TransientError) as caught:
        await x.publish(post("Not yet", options=since_now()))
    assert not isinstance(caught.value, UncertainOutcome)
    assert await x.find_published(post("Not yet", options=since_now())) is None
    assert fake.posts_of(user) == []


async def test_the_lookup_ignores_older_posts_with_the_same_text(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    await x.publish(post("Weekly reminder"))
    fake.advance(3 * 3600)
    x = connector(http, fake, user)  # the first token has expired meanwhile
    later = post(
        "Weekly reminder", options={"attempted_at": dt.datetime.fromtimestamp(fake.now(), dt.UTC)}
    )
    assert await x.find_published(later) is None
    with pytest.raises(Rejected) as caught:
        await x.publish(later)
    assert caught.value.reason == DUPLICATE_CONTENT


async def test_duplicate_content_on_a_first_attempt_is_a_rejection(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    x = connector(http, fake, user)
    await x.publish(post("Same words"))
    with pytest.raises(Rejected) as caught:
        await x.publish(post("Same words"))
    assert caught.value.reason == DUPLICATE_CONTENT
    assert len(fake.posts_of(user)) == 1


# -- delete, limits, faults, secrets --------------------------------------------------------


async def test_delete(fake: XFake, http: httpx.AsyncClient, user: User) -> None:
    x = connector(http, fake, user)
    result = await x.publish(post("Short-lived"))
    await x.delete(result.external_id)
    assert fake.posts_of(user) == []
    await x.delete(result.external_id)  # already gone is done


async def test_deleting_someone_elses_post_is_refused(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    other = fake.add_user("other")
    theirs = await connector(http, fake, other).publish(post("Mine"))
    with pytest.raises(Rejected):
        await connector(http, fake, user).delete(theirs.external_id)


async def test_the_per_user_create_limit_says_when_to_come_back(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    fake.limits["POST /2/tweets"] = (1, 900)
    x = connector(http, fake, user)
    await x.publish(post("one"))
    with pytest.raises(RateLimited) as caught:
        await x.publish(post("two"))
    assert caught.value.retry_after is not None
    assert 880 <= caught.value.retry_after <= 900


async def test_the_daily_cap_is_read_from_its_own_headers(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    fake.daily_post_limit = 1
    x = connector(http, fake, user)
    await x.publish(post("one"))
    with pytest.raises(RateLimited) as caught:
        await x.publish(post("two"))
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 86000


async def test_a_slow_read_is_a_transient_error(
    fake: XFake, http: httpx.AsyncClient, user: User
) -> None:
    fake.inject("delay", method="GET", path="/2/users/me", seconds=5)
    with pytest.raises(TransientError) as caught:
        await connector(http, fake, user).verify()
    assert not isinstance(caught.value, UncertainOutcome)


async def test_no_token_reaches_a_log_line_or_an_error(
    fake: XFake, http: httpx.AsyncClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    x = connector(http, fake, user)
    secrets_ = [x.credentials.access_token, x.credentials.refresh_token or ""]
    errors: list[Exception] = []
    fake.tokens.clear()
    fake.refresh_tokens.clear()
    for call in (x.verify, x.refresh_credentials, lambda: x.publish(post("hi"))):
        try:
            await call()
        except ConnectorError as exc:
            errors.append(exc)
    assert len(errors) == 3
    text = caplog.text + " ".join(f"{e} {e!r} {getattr(e, 'reason', '')}" for e in errors)
    text += repr(x.credentials)
    for secret in secrets_:
        assert secret
        assert secret not in text


# -- the fake as a server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_fake_runs_standalone() -> None:
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.x", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        token = re.search(r"access token (\S+)", banner)
        assert token, banner
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/2/users/me",
                    headers={"Authorization": f"Bearer {token.group(1)}"},
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["data"]["username"] == "socialdesk_demo"
        assert answer.headers["x-rate-limit-limit"] == "75"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
