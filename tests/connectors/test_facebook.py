# SPDX-License-Identifier: AGPL-3.0-or-later
"""Facebook Pages connector against the local Graph fake (tests/fakes/meta_graph.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import Credentials, Idempotency, MediaItem, OutboundPost
from socialdesk.connectors.facebook import FacebookConnector
from socialdesk.connectors.meta_graph import DuplicatePost, MetaApp, UrlPrefixResolver
from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.fakes.meta_graph import APP_ID, APP_SECRET, FacebookFake, shape_differences

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facebook"
APP = MetaApp(client_id=APP_ID, client_secret=APP_SECRET)


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


def image(tmp_path: Path, name: str = "bread.jpg", alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg " + name.encode())
    return MediaItem(
        path=path, mime_type="image/jpeg", size_bytes=path.stat().st_size, alt_text=alt
    )


def text_post(text: str = "Fresh bread today", **kwargs: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="delivery-1", **kwargs)


def no_token_in_urls(fake: FacebookFake, token: str) -> bool:
    return all(token not in r.query for r in fake.requests)


# --- rules as data ------------------------------------------------------------------------


def test_rules_are_data_with_sources() -> None:
    assert FacebookConnector.text_rules.max_length == 63_206
    for rules in (FacebookConnector.text_rules, FacebookConnector.media_rules):
        assert rules.source
        assert rules.checked == "2026-11"
    assert FacebookConnector.capabilities.idempotency is Idempotency.LOOKUP
    assert FacebookConnector.capabilities.first_comment
    assert FacebookConnector.capabilities.delete
    assert not FacebookConnector.media_rules.mix_images_and_video


async def test_a_channel_needs_its_page_id(http: httpx.AsyncClient) -> None:
    with pytest.raises(ValueError, match="page_id"):
        FacebookConnector(http=http, credentials=Credentials(access_token="x"))


# --- verify and publish -------------------------------------------------------------------


async def test_verify_returns_the_page(facebook: FacebookConnector, fake: FacebookFake) -> None:
    info = await facebook.verify()
    assert info.external_id == fake.page_id
    assert info.handle == "acmebakery"
    assert info.display_name == "Acme Bakery"
    assert info.url == "https://www.facebook.com/acmebakery"
    assert facebook.channel_extra == {"page_id": fake.page_id}
    assert info.avatar_url
    assert info.avatar_url.startswith("https://")


async def test_text_with_link(facebook: FacebookConnector, fake: FacebookFake) -> None:
    result = await facebook.publish(text_post(link="https://acme.example/bread"))
    [post] = fake.published_posts()
    assert result.external_id == post["id"]
    assert post["message"] == "Fresh bread today"
    assert post["link"] == "https://acme.example/bread"
    assert result.url == post["permalink_url"]
    # The token travels in the Authorization header, never in a URL that could be logged.
    assert all(r.bearer for r in fake.requests)
    assert no_token_in_urls(fake, fake.page_token)


async def test_photo_with_caption_is_uploaded(
    facebook: FacebookConnector, fake: FacebookFake, tmp_path: Path
) -> None:
    photo = image(tmp_path, alt="A loaf on a board")
    result = await facebook.publish(text_post("Sourdough", media=(photo,)))
    [stored] = fake.photos.values()
    assert stored["bytes"] == photo.size_bytes
    assert stored["alt_text_custom"] == "A loaf on a board"
    assert result.external_id == stored["post_id"]
    assert fake.posts[result.external_id]["message"] == "Sourdough"


async def test_photo_by_public_url_when_a_resolver_is_given(
    fake: FacebookFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    facebook = FacebookConnector(
        http=http,
        credentials=Credentials(access_token=fake.page_token, extra={"page_id": fake.page_id}),
        base_url=fake.base_url,
        media_urls=UrlPrefixResolver(root=tmp_path, prefix="https://media.acme.example/lib"),
    )
    await facebook.publish(text_post("Rye", media=(image(tmp_path, "rye loaf.jpg"),)))
    [stored] = fake.photos.values()
    assert stored["url"] == "https://media.acme.example/lib/rye%20loaf.jpg"


async def test_multi_photo_post(
    facebook: FacebookConnector, fake: FacebookFake, tmp_path: Path
) -> None:
    photos = tuple(image(tmp_path, f"{n}.jpg") for n in range(3))
    result = await facebook.publish(text_post("Three loaves", media=photos))
    assert len(fake.photos) == 3
    [post] = fake.published_posts()
    assert post["id"] == result.external_id
    assert post["attached_media"] == list(fake.photos)
    assert all(p["post_id"] == post["id"] for p in fake.photos.values())


async def test_video_post(facebook: FacebookConnector, fake: FacebookFake, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    video = MediaItem(path=clip, mime_type="video/mp4", size_bytes=12)
    result = await facebook.publish(text_post("Behind the ovens", media=(video,)))
    [stored] = fake.videos.values()
    assert stored["description"] == "Behind the ovens"
    assert result.url == f"https://www.facebook.com/{fake.page_id}/videos/{stored['id']}/"


async def test_photos_and_video_cannot_mix(
    facebook: FacebookConnector, fake: FacebookFake, tmp_path: Path
) -> None:
    video = MediaItem(path=tmp_path / "v.mp4", mime_type="video/mp4", size_bytes=1)
    with pytest.raises(Rejected, match="either photos or one video"):
        await facebook.publish(text_post(media=(image(tmp_path), video)))
    assert fake.requests == []


async def test_first_comment(facebook: FacebookConnector, fake: FacebookFake) -> None:
    result = await facebook.publish(text_post(first_comment="Order at acme.example"))
    [comment] = fake.comments[result.external_id]
    assert comment["message"] == "Order at acme.example"
    assert comment["from"]["id"] == fake.page_id
    assert result.part_ids == (comment["id"],)


# --- error mapping ------------------------------------------------------------------------

BUC = json.dumps(
    {
        "1234567890": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 25,
                "total_time": 25,
                "estimated_time_to_regain_access": 5,
            }
        ]
    }
)
APP_USAGE = json.dumps({"call_count": 100, "total_time": 40, "total_cputime": 30})


@pytest.mark.parametrize(
    ("code", "subcode", "status", "headers", "expected", "retry_after"),
    [
        (190, None, 400, None, AuthExpired, None),
        (190, 463, 400, None, AuthExpired, None),
        (102, None, 400, None, AuthExpired, None),
        (10, None, 403, None, AuthExpired, None),
        (200, None, 403, None, AuthExpired, None),
        (4, None, 400, {"X-App-Usage": APP_USAGE}, RateLimited, None),
        (17, None, 400, {"X-Business-Use-Case-Usage": BUC}, RateLimited, 300.0),
        (32, None, 400, {"X-Business-Use-Case-Usage": BUC}, RateLimited, 300.0),
        (613, None, 400, None, RateLimited, None),
        (80001, None, 400, {"X-Business-Use-Case-Usage": BUC}, RateLimited, 300.0),
        (1, None, 500, None, TransientError, None),
        (2, None, 503, None, TransientError, None),
        (100, None, 400, None, Rejected, None),
        (368, None, 400, None, Rejected, None),
        (506, None, 400, None, DuplicatePost, None),
    ],
)
async def test_graph_errors_map_to_the_error_tree(
    facebook: FacebookConnector,
    fake: FacebookFake,
    code: int,
    subcode: int | None,
    status: int,
    headers: dict[str, str] | None,
    expected: type[ConnectorError],
    retry_after: float | None,
) -> None:
    fake.error_next(
        code=code,
        subcode=subcode,
        status=status,
        message=f"(#{code}) Something about code {code}",
        headers=headers,
    )
    with pytest.raises(expected) as caught:
        await facebook.publish(text_post())
    assert type(caught.value) is expected
    assert f"code {code}" in caught.value.message
    assert "fbtrace_id" in caught.value.message
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == retry_after
    if isinstance(caught.value, Rejected):
        assert caught.value.reason == f"(#{code}) Something about code {code}"
    assert fake.posts == {}


async def test_user_message_is_the_reason_when_meta_wrote_one(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    fake.error_next(code=368, message="(#368) blocked", user_msg="You can't post right now.")
    with pytest.raises(Rejected) as caught:
        await facebook.publish(text_post())
    assert caught.value.reason == "You can't post right now."


async def test_expired_token_asks_to_reconnect_without_showing_the_token(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    fake.expire_token(fake.page_token)
    with pytest.raises(AuthExpired) as caught:
        await facebook.verify()
    assert "reconnect" in caught.value.message
    assert fake.page_token not in str(caught.value)


async def test_a_token_echoed_by_the_network_is_scrubbed(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    fake.error_next(code=100, message=f"(#100) Bad token {fake.page_token} in request")
    with pytest.raises(Rejected) as caught:
        await facebook.publish(text_post())
    assert fake.page_token not in str(caught.value)
    assert fake.page_token not in caught.value.reason
    assert "****" in caught.value.reason


async def test_a_5xx_changes_nothing_and_the_next_attempt_publishes(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    fake.fail_next(1, status=500)
    with pytest.raises(TransientError) as caught:
        await facebook.publish(text_post())
    assert not isinstance(caught.value, UncertainOutcome)
    assert fake.posts == {}
    await facebook.publish(text_post())
    assert len(fake.published_posts()) == 1


async def test_a_read_timeout_is_transient_not_uncertain(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    fake.slow_next(seconds=5, method="GET")
    with pytest.raises(TransientError) as caught:
        await facebook.verify()
    assert not isinstance(caught.value, UncertainOutcome)


# --- exactly once -------------------------------------------------------------------------


async def test_uncertain_publish_is_found_not_duplicated(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    post = text_post(options={"attempted_at": dt.datetime.now(dt.UTC).isoformat()})
    fake.hang_after_apply(seconds=5, path="/feed", method="POST")
    with pytest.raises(UncertainOutcome):
        await facebook.publish(post)
    found = await facebook.find_published(post)
    [stored] = fake.published_posts()
    assert found is not None
    assert found.external_id == stored["id"]
    assert found.url == stored["permalink_url"]
    # A blind retry is what the lookup prevents; Facebook would call it a duplicate.
    with pytest.raises(DuplicatePost):
        await facebook.publish(post)
    assert len(fake.published_posts()) == 1


async def test_timeout_before_anything_happened_finds_nothing(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    post = text_post(options={"attempted_at": dt.datetime.now(dt.UTC)})
    fake.slow_next(seconds=5, path="/feed", method="POST")
    with pytest.raises(UncertainOutcome):
        await facebook.publish(post)
    assert await facebook.find_published(post) is None
    await facebook.publish(post)
    assert len(fake.published_posts()) == 1


async def test_lookup_ignores_an_identical_post_older_than_the_attempt(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    await facebook.publish(text_post("Good morning"))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert (
        await facebook.find_published(text_post("Good morning", options={"attempted_at": later}))
        is None
    )


async def test_uncertain_first_comment_is_not_repeated(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    post = text_post(first_comment="Order now", options={"attempted_at": dt.datetime.now(dt.UTC)})
    fake.hang_after_apply(seconds=5, path="/comments", method="POST")
    with pytest.raises(UncertainOutcome):
        await facebook.publish(post)
    found = await facebook.find_published(post)
    assert found is not None
    [comment] = fake.comments[found.external_id]
    assert found.part_ids == (comment["id"],)


async def test_failed_first_comment_is_completed_by_the_lookup(
    facebook: FacebookConnector, fake: FacebookFake
) -> None:
    post = text_post(first_comment="Order now", options={"attempted_at": dt.datetime.now(dt.UTC)})
    fake.error_next(code=2, status=500, path="/comments", method="POST")
    with pytest.raises(UncertainOutcome, match="first comment"):
        await facebook.publish(post)
    [stored] = fake.published_posts()
    assert stored["id"] not in fake.comments
    found = await facebook.find_published(post)
    assert found is not None
    assert found.external_id == stored["id"]
    assert [c["message"] for c in fake.comments[stored["id"]]] == ["Order now"]
    assert len(fake.published_posts()) == 1


# --- delete -------------------------------------------------------------------------------


async def test_delete(facebook: FacebookConnector, fake: FacebookFake) -> None:
    result = await facebook.publish(text_post())
    await facebook.delete(result.external_id)
    assert fake.posts == {}
    with pytest.raises(Rejected, match="does not exist"):
        await facebook.delete(result.external_id)


# --- OAuth --------------------------------------------------------------------------------


def test_authorization_url() -> None:
    url = httpx.URL(
        FacebookConnector.authorization_url(APP, redirect_uri="https://sd.example/cb", state="s1")
    )
    assert url.host == "www.facebook.com"
    assert url.path == "/v26.0/dialog/oauth"
    assert url.params["client_id"] == APP_ID
    assert url.params["state"] == "s1"
    assert "pages_manage_posts" in url.params["scope"].split(",")
    assert APP_SECRET not in str(url)


async def test_login_long_lived_exchange_and_pages(
    fake: FacebookFake, http: httpx.AsyncClient
) -> None:
    code = fake.issue_code(fake.user_id)
    short = await FacebookConnector.exchange_code(
        http, APP, code=code, redirect_uri="https://sd.example/cb", base_url=fake.base_url
    )
    assert short.expires_at is not None
    assert short.expires_at - dt.datetime.now(dt.UTC) < dt.timedelta(hours=3)
    long_lived = await FacebookConnector.exchange_long_lived(
        http, APP, short, base_url=fake.base_url
    )
    assert long_lived.access_token != short.access_token
    assert long_lived.expires_at is not None
    assert long_lived.expires_at - dt.datetime.now(dt.UTC) > dt.timedelta(days=59)
    [page] = await FacebookConnector.list_pages(http, long_lived, base_url=fake.base_url)
    assert page.page_id == fake.page_id
    assert page.credentials.access_token == fake.page_token
    assert page.credentials.expires_at is None
    assert page.credentials.extra == {"page_id": fake.page_id}
    assert "CREATE_CONTENT" in page.tasks
    assert fake.page_token not in repr(page)
    instagram = page.instagram_credentials()
    assert instagram is not None
    assert instagram.extra["login"] == "facebook"
    assert instagram.extra["ig_user_id"] == fake.page.instagram_id


async def test_a_used_code_is_rejected_without_echoing_secrets(
    fake: FacebookFake, http: httpx.AsyncClient
) -> None:
    with pytest.raises(Rejected) as caught:
        await FacebookConnector.exchange_code(
            http,
            APP,
            code="AQ-not-issued",
            redirect_uri="https://sd.example/cb",
            base_url=fake.base_url,
        )
    assert "authorization code" in caught.value.message
    assert APP_SECRET not in caught.value.message


async def test_page_tokens_need_no_refresh(facebook: FacebookConnector) -> None:
    assert await facebook.refresh_credentials() is None


# --- the fake answers as documented -------------------------------------------------------


async def _fake_answer(name: str, fake: FacebookFake, http: httpx.AsyncClient) -> Any:
    base, page, auth = fake.base_url, fake.page_id, {"Authorization": f"Bearer {fake.page_token}"}
    if name == "error_190":
        fake.expire_token(fake.page_token)
        return (await http.get(f"{base}/{page}", headers=auth)).json()
    if name == "oauth_access_token":
        params = {
            "client_id": APP_ID,
            "client_secret": APP_SECRET,
            "redirect_uri": "https://sd.example/cb",
            "code": fake.issue_code(fake.user_id),
        }
        return (await http.get(f"{base}/oauth/access_token", params=params)).json()
    if name == "me_accounts":
        user = {"Authorization": f"Bearer {fake.user_token}"}
        return (await http.get(f"{base}/me/accounts", headers=user)).json()
    if name == "page":
        params = {"fields": "id,name,username,link,picture"}
        return (await http.get(f"{base}/{page}", params=params, headers=auth)).json()
    if name == "feed_post":
        return (await http.post(f"{base}/{page}/feed", data={"message": "m"}, headers=auth)).json()
    if name in ("photo_published", "photo_unpublished"):
        data = {"url": "https://cdn.example/a.jpg", "caption": "c"}
        if name == "photo_unpublished":
            data["published"] = "false"
        return (await http.post(f"{base}/{page}/photos", data=data, headers=auth)).json()
    if name == "video":
        data = {"file_url": "https://cdn.example/a.mp4"}
        return (await http.post(f"{base}/{page}/videos", data=data, headers=auth)).json()
    post_id = (await http.post(f"{base}/{page}/feed", data={"message": "m"}, headers=auth)).json()[
        "id"
    ]
    if name == "published_posts":
        params = {"fields": "id,message,created_time,permalink_url"}
        return (
            await http.get(f"{base}/{page}/published_posts", params=params, headers=auth)
        ).json()
    if name == "comment":
        return (
            await http.post(f"{base}/{post_id}/comments", data={"message": "c"}, headers=auth)
        ).json()
    if name == "delete":
        return (await http.delete(f"{base}/{post_id}", headers=auth)).json()
    raise AssertionError(f"no fake call for fixture {name}")


@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
async def test_fake_answers_in_the_documented_shape(
    name: str, fake: FacebookFake, http: httpx.AsyncClient
) -> None:
    documented = json.loads((FIXTURES / f"{name}.json").read_text())
    actual = await _fake_answer(name, fake, http)
    assert shape_differences(actual, documented) == []
