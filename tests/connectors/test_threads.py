# SPDX-License-Identifier: AGPL-3.0-or-later
"""Threads connector against the local Threads fake (tests/fakes/meta_graph.py)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from socialdesk.connectors.base import Credentials, Idempotency, MediaItem, OutboundPost
from socialdesk.connectors.meta_graph import MetaApp, UrlPrefixResolver
from socialdesk.connectors.threads import ThreadsConnector
from socialdesk.errors import AuthExpired, Rejected, TransientError, UncertainOutcome
from tests.fakes.meta_graph import (
    APP_ID,
    APP_SECRET,
    ThreadsFake,
    graph_error,
    shape_differences,
)

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "threads"
APP = MetaApp(client_id=APP_ID, client_secret=APP_SECRET)
CDN = "https://media.acme.example/lib"


@pytest.fixture
def fake() -> ThreadsFake:
    return ThreadsFake()


@pytest.fixture
async def http(fake: ThreadsFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=0.5) as client:
        yield client


@pytest.fixture
def threads(fake: ThreadsFake, http: httpx.AsyncClient, tmp_path: Path) -> ThreadsConnector:
    return ThreadsConnector(
        http=http,
        credentials=Credentials(access_token=fake.token, extra={"threads_user_id": fake.user_id}),
        base_url=fake.base_url,
        media_urls=UrlPrefixResolver(root=tmp_path, prefix=CDN),
        poll_interval=0,
    )


def media(tmp_path: Path, name: str, mime: str = "image/jpeg", alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(b"data")
    return MediaItem(path=path, mime_type=mime, size_bytes=4, alt_text=alt)


def post(text: str = "Fresh bread today", **kwargs: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="delivery-1", **kwargs)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def chain(fake: ThreadsFake) -> list[str | None]:
    """Texts from the root down the reply chain."""
    [root] = fake.roots()
    texts, current = [root["text"]], root["id"]
    while True:
        replies = [p for p in fake.posts.values() if p["_reply_to"] == current]
        if not replies:
            return texts
        assert len(replies) == 1, "a part was published twice"
        texts.append(replies[0]["text"])
        current = replies[0]["id"]


# --- rules as data ------------------------------------------------------------------------


def test_rules_are_data_with_sources() -> None:
    assert ThreadsConnector.text_rules.max_length == 500
    assert ThreadsConnector.text_rules.max_hashtags == 1
    assert ThreadsConnector.media_rules.max_items == 20
    for rules in (ThreadsConnector.text_rules, ThreadsConnector.media_rules):
        assert rules.source
        assert rules.checked == "2026-11"
    assert ThreadsConnector.capabilities.idempotency is Idempotency.LOOKUP
    assert ThreadsConnector.capabilities.threads
    assert ThreadsConnector.capabilities.delete
    assert ThreadsConnector.rate_limit is not None
    assert ThreadsConnector.rate_limit.max_posts == 250


# --- verify and publish -------------------------------------------------------------------


async def test_verify_returns_the_user(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    info = await threads.verify()
    assert (info.external_id, info.handle) == (fake.user_id, "acmebakery")
    assert info.url == "https://www.threads.com/@acmebakery"


async def test_verify_learns_the_user_id(fake: ThreadsFake, http: httpx.AsyncClient) -> None:
    connector = ThreadsConnector(
        http=http, credentials=Credentials(access_token=fake.token), base_url=fake.base_url
    )
    await connector.verify()
    assert connector.channel_extra == {"threads_user_id": fake.user_id}


async def test_text_post(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    result = await threads.publish(post(link="https://acme.example"))
    [container] = fake.containers.values()
    assert container.params["media_type"] == "TEXT"
    assert container.params["link_attachment"] == "https://acme.example"
    reads = [r for r in fake.requests if r.method == "GET" and r.path == f"/{container.id}"]
    assert len(reads) == 2  # IN_PROGRESS first
    [stored] = fake.posts.values()
    assert (result.external_id, result.url) == (stored["id"], stored["permalink"])
    assert all(fake.token not in r.query for r in fake.requests)


async def test_image_post(threads: ThreadsConnector, fake: ThreadsFake, tmp_path: Path) -> None:
    await threads.publish(post("Rye", media=(media(tmp_path, "rye.png", "image/png", "Rye loaf"),)))
    [container] = fake.containers.values()
    assert container.params["media_type"] == "IMAGE"
    assert container.params["image_url"] == f"{CDN}/rye.png"
    assert container.params["alt_text"] == "Rye loaf"
    assert len(fake.posts) == 1


async def test_carousel(threads: ThreadsConnector, fake: ThreadsFake, tmp_path: Path) -> None:
    items = (media(tmp_path, "a.jpg"), media(tmp_path, "b.mp4", "video/mp4"))
    result = await threads.publish(post("Two", media=items))
    assert fake.posts[result.external_id]["media_type"] == "CAROUSEL_ALBUM"
    assert sum(c.params.get("is_carousel_item") == "true" for c in fake.containers.values()) == 2


async def test_reply_chain(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    result = await threads.publish(post("1/3 Bread", thread=("2/3 Flour", "3/3 Water")))
    assert chain(fake) == ["1/3 Bread", "2/3 Flour", "3/3 Water"]
    second, third = result.part_ids
    assert fake.posts[second]["_reply_to"] == result.external_id
    assert fake.posts[third]["_reply_to"] == second


async def test_text_over_500_is_refused_by_the_api(
    threads: ThreadsConnector, fake: ThreadsFake
) -> None:
    with pytest.raises(Rejected, match="longer than 500"):
        await threads.publish(post("x" * 501))
    assert fake.posts == {}


async def test_container_error_is_rejected_with_the_reason(
    threads: ThreadsConnector, fake: ThreadsFake, tmp_path: Path
) -> None:
    fake.fail_media_url(f"{CDN}/v.mp4", "FAILED_PROCESSING_VIDEO")
    with pytest.raises(Rejected) as caught:
        await threads.publish(post(media=(media(tmp_path, "v.mp4", "video/mp4"),)))
    assert caught.value.reason == "FAILED_PROCESSING_VIDEO"
    assert fake.posts == {}


async def test_expired_token(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    fake.expire_token(fake.token)
    with pytest.raises(AuthExpired) as caught:
        await threads.publish(post())
    assert fake.token not in str(caught.value)


async def test_5xx_changes_nothing(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    fake.fail_next(1, status=502, path="/threads_publish")
    with pytest.raises(TransientError) as caught:
        await threads.publish(post())
    assert not isinstance(caught.value, UncertainOutcome)
    assert fake.posts == {}


# --- exactly once -------------------------------------------------------------------------


async def test_uncertain_publish_is_found_not_duplicated(
    threads: ThreadsConnector, fake: ThreadsFake
) -> None:
    attempt = post(options={"attempted_at": now()})
    fake.hang_after_apply(seconds=5, path="/threads_publish")
    with pytest.raises(UncertainOutcome):
        await threads.publish(attempt)
    found = await threads.find_published(attempt)
    [stored] = fake.posts.values()
    assert found is not None
    assert found.external_id == stored["id"]


async def test_timeout_before_publishing_finds_nothing(
    threads: ThreadsConnector, fake: ThreadsFake
) -> None:
    attempt = post(options={"attempted_at": now()})
    fake.slow_next(seconds=5, path="/threads_publish")
    with pytest.raises(UncertainOutcome):
        await threads.publish(attempt)
    assert await threads.find_published(attempt) is None
    await threads.publish(attempt)
    assert len(fake.posts) == 1


async def test_chain_broken_after_the_root_is_completed_by_the_lookup(
    threads: ThreadsConnector, fake: ThreadsFake
) -> None:
    attempt = post("1/3", thread=("2/3", "3/3"), options={"attempted_at": now()})
    # Part two is applied but its answer is lost; part three never starts.
    published = {"count": 0}
    original_route = fake.route

    async def route(request: Any) -> Any:
        answer = await original_route(request)
        if request.path.endswith("/threads_publish"):
            published["count"] += 1
            if published["count"] == 2:
                await anyio.sleep(5)  # applied, then the client gives up waiting
        return answer

    fake.route = route  # type: ignore[method-assign]
    with pytest.raises(UncertainOutcome, match="part 2"):
        await threads.publish(attempt)
    assert chain(fake) == ["1/3", "2/3"]
    found = await threads.find_published(attempt)
    assert chain(fake) == ["1/3", "2/3", "3/3"]
    assert found is not None
    assert len(found.part_ids) == 2
    again = await threads.find_published(attempt)
    assert again == found
    assert len(fake.posts) == 3


async def test_failed_part_is_published_once_by_the_lookup(
    threads: ThreadsConnector, fake: ThreadsFake
) -> None:
    attempt = post("1/2", thread=("2/2",), options={"attempted_at": now()})
    calls = {"count": 0}
    original_route = fake.route

    async def route(request: Any) -> Any:
        if request.path.endswith("/threads_publish"):
            calls["count"] += 1
            if calls["count"] == 2:
                return graph_error(500, 2, "An unexpected error has occurred.", is_transient=True)
        return await original_route(request)

    fake.route = route  # type: ignore[method-assign]
    with pytest.raises(UncertainOutcome, match="part 2"):
        await threads.publish(attempt)
    assert chain(fake) == ["1/2"]
    found = await threads.find_published(attempt)
    assert found is not None
    assert chain(fake) == ["1/2", "2/2"]


# --- delete -------------------------------------------------------------------------------


async def test_delete(threads: ThreadsConnector, fake: ThreadsFake) -> None:
    result = await threads.publish(post())
    await threads.delete(result.external_id)
    assert fake.posts == {}
    with pytest.raises(Rejected):
        await threads.delete(result.external_id)


# --- OAuth --------------------------------------------------------------------------------


def test_authorization_url() -> None:
    url = httpx.URL(
        ThreadsConnector.authorization_url(APP, redirect_uri="https://sd.example/cb", state="s")
    )
    assert (url.host, url.path) == ("threads.net", "/oauth/authorize")
    assert url.params["response_type"] == "code"
    assert {"threads_basic", "threads_content_publish"} <= set(url.params["scope"].split(","))


async def test_login_long_lived_and_refresh(fake: ThreadsFake, http: httpx.AsyncClient) -> None:
    code = fake.issue_code(fake.user_id)
    short = await ThreadsConnector.exchange_code(
        http, APP, code=code, redirect_uri="https://sd.example/cb", base_url=fake.base_url
    )
    assert short.extra == {"threads_user_id": fake.user_id}
    long_lived = await ThreadsConnector.exchange_long_lived(
        http, APP, short, base_url=fake.base_url
    )
    assert long_lived.expires_at is not None
    assert long_lived.expires_at - now() > dt.timedelta(days=59)
    connector = ThreadsConnector(http=http, credentials=long_lived, base_url=fake.base_url)
    assert await connector.refresh_credentials() is None
    assert not fake.calls("GET", "/refresh_access_token")

    fake.advance(days=56)
    near_end = Credentials(
        access_token=long_lived.access_token,
        refresh_token="stored-refresh-token",
        expires_at=now() + dt.timedelta(days=4),
        extra=long_lived.extra,
    )
    refreshed = await ThreadsConnector(
        http=http, credentials=near_end, base_url=fake.base_url
    ).refresh_credentials()
    assert refreshed is not None
    assert refreshed.access_token != near_end.access_token
    assert refreshed.refresh_token == "stored-refresh-token"
    assert refreshed.extra == near_end.extra
    [call] = fake.calls("GET", "/refresh_access_token")
    assert call.params["grant_type"] == "th_refresh_token"


async def test_refresh_of_an_expired_token_asks_to_reconnect(
    fake: ThreadsFake, http: httpx.AsyncClient
) -> None:
    fake.expire_token(fake.token)
    expired = Credentials(
        access_token=fake.token,
        expires_at=now() - dt.timedelta(minutes=1),
        extra={"threads_user_id": fake.user_id},
    )
    with pytest.raises(AuthExpired) as caught:
        await ThreadsConnector(
            http=http, credentials=expired, base_url=fake.base_url
        ).refresh_credentials()
    assert fake.token not in caught.value.message


# --- the fake runs standalone too --------------------------------------------------------


@pytest.mark.slow
async def test_standalone_fake_over_a_real_socket(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).parent.parent.parent
    process = subprocess.Popen(  # noqa: ASYNC220 - a short-lived child, read line by line
        [
            sys.executable,
            "-m",
            "tests.fakes.meta_graph",
            "--network",
            "threads",
            "--port",
            str(port),
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        seed = json.loads(process.stdout.readline())
        async with httpx.AsyncClient(timeout=5) as http:
            for _ in range(100):
                try:
                    await http.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.TransportError:
                    await anyio.sleep(0.05)
            connector = ThreadsConnector(
                http=http,
                credentials=Credentials(seed["token"], extra={"threads_user_id": seed["user_id"]}),
                base_url=seed["base_url"],
                poll_interval=0,
            )
            assert (await connector.verify()).external_id == seed["user_id"]
            result = await connector.publish(post("Over the wire"))
            assert result.url is not None
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# --- the fake answers as documented -------------------------------------------------------


async def _fake_answer(name: str, fake: ThreadsFake, http: httpx.AsyncClient) -> Any:
    base, uid, auth = fake.base_url, fake.user_id, {"Authorization": f"Bearer {fake.token}"}

    async def create(**data: str) -> str:
        body = {"media_type": "TEXT", "text": "Fresh bread today", **data}
        return str((await http.post(f"{base}/{uid}/threads", data=body, headers=auth)).json()["id"])

    async def status(container: str) -> Any:
        while True:
            params = {"fields": "status,error_message"}
            body = (await http.get(f"{base}/{container}", params=params, headers=auth)).json()
            if body["status"] != "IN_PROGRESS":
                return body

    async def publish(container: str) -> Any:
        data = {"creation_id": container}
        return (await http.post(f"{base}/{uid}/threads_publish", data=data, headers=auth)).json()

    if name == "container":
        return (
            await http.post(
                f"{base}/{uid}/threads", data={"media_type": "TEXT", "text": "t"}, headers=auth
            )
        ).json()
    if name == "container_status":
        return await status(await create())
    if name == "container_status_error":
        fake.fail_media_url("https://cdn.example/v.mp4", "FAILED_PROCESSING_VIDEO")
        return await status(await create(media_type="VIDEO", video_url="https://cdn.example/v.mp4"))
    container = await create()
    await status(container)
    published = await publish(container)
    if name == "publish":
        return published
    if name == "me":
        params = {"fields": "id,username,name,threads_profile_picture_url"}
        return (await http.get(f"{base}/me", params=params, headers=auth)).json()
    if name == "threads_list":
        params = {"fields": "id,text,timestamp,permalink"}
        return (await http.get(f"{base}/{uid}/threads", params=params, headers=auth)).json()
    if name == "replies":
        reply = await create(reply_to_id=published["id"], text="Part two")
        await status(reply)
        await publish(reply)
        params = {"fields": "id,text,username,timestamp"}
        return (
            await http.get(f"{base}/{published['id']}/replies", params=params, headers=auth)
        ).json()
    if name == "publishing_limit":
        params = {"fields": "quota_usage,config"}
        return (
            await http.get(f"{base}/{uid}/threads_publishing_limit", params=params, headers=auth)
        ).json()
    if name == "delete":
        return (await http.delete(f"{base}/{published['id']}", headers=auth)).json()
    if name == "oauth_code":
        data = {
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "grant_type": "authorization_code",
            "redirect_uri": "https://sd.example/cb",
            "code": fake.issue_code(uid),
        }
        return (await http.post(f"{fake.origin}/oauth/access_token", data=data)).json()
    if name == "long_lived_token":
        short = fake.issue_token("threads", uid, lifetime=dt.timedelta(hours=1))
        params = {
            "grant_type": "th_exchange_token",
            "client_secret": APP_SECRET,
            "access_token": short,
        }
        return (await http.get(f"{fake.origin}/access_token", params=params)).json()
    raise AssertionError(f"no fake call for fixture {name}")


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
async def test_fake_answers_in_the_documented_shape(
    name: str, fake: ThreadsFake, http: httpx.AsyncClient
) -> None:
    documented = json.loads((FIXTURES / f"{name}.json").read_text())
    actual = await _fake_answer(name, fake, http)
    assert shape_differences(actual, documented) == []
