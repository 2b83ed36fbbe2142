# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Mastodon connector against the local Mastodon fake (and the fake against the docs)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
import time
from collections.abc import AsyncIterator, Callable
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
from socialdesk.connectors.mastodon import (
    MastodonConnector,
    authorization_url,
    exchange_code,
    instance_extra,
    register_app,
    status_text,
)
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
    ValidationError,
)
from socialdesk.text import counting
from tests.fakes.mastodon import MastodonFake, run_server, status_length

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mastodon"
BASE = "https://mastodon.example"
TOKEN = "alice-secret-token-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> MastodonFake:
    fake = MastodonFake()
    fake.create_account("alice", display_name="Alice A.", access_token=TOKEN)
    return fake


@pytest.fixture
async def http(fake: MastodonFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=2.0) as client:
        yield client


def make(http: httpx.AsyncClient, token: str = TOKEN, **extra: str) -> MastodonConnector:
    return MastodonConnector(
        http=http,
        credentials=Credentials(access_token=token, extra={"base_url": BASE, **extra}),
        media_poll_interval=0.0,
        media_wait_seconds=1.0,
    )


@pytest.fixture
def connector(http: httpx.AsyncClient) -> MastodonConnector:
    return make(http)


def alice(fake: MastodonFake) -> str:
    account = fake.account_named("alice")
    assert account is not None
    return account.id


def png(path: Path, width: int = 4, height: int = 3) -> Path:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
    path.write_bytes(header + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00" * 4)
    return path


# -- the class describes itself -----------------------------------------------------------


def test_rules_and_capabilities_are_data() -> None:
    assert MastodonConnector.network is Network.MASTODON
    rules = MastodonConnector.text_rules
    assert (rules.max_length, rules.counting, rules.url_length) == (
        500,
        TextCounting.MASTODON,
        23,
    )
    media = MastodonConnector.media_rules
    assert media.max_items == 4
    assert media.max_alt_text == 1500
    assert {"image/jpeg", "image/png", "image/gif"} <= media.image_types
    assert "video/mp4" in media.video_types
    caps = MastodonConnector.capabilities
    assert caps.idempotency is Idempotency.KEY
    assert caps.threads
    assert caps.polls
    assert caps.content_warning
    assert caps.delete
    assert caps.oauth
    assert caps.visibilities == ("public", "unlisted", "private", "direct")
    assert MastodonConnector.rate_limit is not None
    assert "rate_limiter.rb" in MastodonConnector.rate_limit.source
    for source in (rules.source, media.source, MastodonConnector.rate_limit.source):
        assert "mastodon" in source


async def test_needs_a_base_url_per_channel() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match="base URL"):
            MastodonConnector(http=http, credentials=Credentials(access_token="t"))


def test_credentials_and_app_never_show_secrets() -> None:
    credentials = Credentials(access_token=TOKEN, extra={"base_url": BASE})
    assert TOKEN not in repr(credentials)


# -- error mapping: one table -------------------------------------------------------------


def _reset_in(seconds: int) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


ERROR_CASES: list[tuple[str, Callable[[httpx.Request], httpx.Response], type[Exception], str]] = [
    (
        "401 invalid token",
        lambda r: httpx.Response(401, json={"error": "The access token is invalid"}),
        AuthExpired,
        "The access token is invalid",
    ),
    (
        "403 outside scopes",
        lambda r: httpx.Response(
            403, json={"error": "This action is outside the authorized scopes"}
        ),
        Rejected,
        "This action is outside the authorized scopes",
    ),
    (
        "403 suspended",
        lambda r: httpx.Response(403, json={"error": "Your login is currently disabled"}),
        Rejected,
        "Your login is currently disabled",
    ),
    (
        "404",
        lambda r: httpx.Response(404, json={"error": "Record not found"}),
        Rejected,
        "Record not found",
    ),
    (
        "422 too long",
        lambda r: httpx.Response(
            422, json={"error": "Validation failed: Text character limit of 500 exceeded"}
        ),
        Rejected,
        "Validation failed: Text character limit of 500 exceeded",
    ),
    (
        "429 with X-RateLimit-Reset",
        lambda r: httpx.Response(
            429,
            json={"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": _reset_in(120),
            },
        ),
        RateLimited,
        "Too many requests",
    ),
    (
        "429 with Retry-After",
        lambda r: httpx.Response(
            429, json={"error": "Too many requests"}, headers={"Retry-After": "30"}
        ),
        RateLimited,
        "Too many requests",
    ),
    (
        "500",
        lambda r: httpx.Response(500, json={"error": "Internal server error"}),
        TransientError,
        "500",
    ),
    (
        "503",
        lambda r: httpx.Response(503, text="<html>Service Unavailable</html>"),
        TransientError,
        "503",
    ),
]


@pytest.mark.parametrize(
    ("name", "answer", "expected", "words"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
async def test_error_mapping(
    name: str,
    answer: Callable[[httpx.Request], httpx.Response],
    expected: type[Exception],
    words: str,
) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        connector = make(client)
        with pytest.raises(expected) as caught:
            await connector.publish(OutboundPost(text="hello", idempotency_key="k"))
    error = caught.value
    assert words in str(error)
    assert TOKEN not in str(error)
    if expected is TransientError:
        assert not isinstance(error, UncertainOutcome)  # the server answered: nothing applied
    if isinstance(error, Rejected):
        assert error.reason == words
    if isinstance(error, RateLimited):
        expected_wait = 120 if "Reset" in name else 30
        assert error.retry_after is not None
        assert expected_wait - 5 <= error.retry_after <= expected_wait


@pytest.mark.parametrize(
    ("method", "failure", "expected"),
    [
        ("publish", httpx.ReadTimeout("slow"), UncertainOutcome),
        ("publish", httpx.RemoteProtocolError("dropped"), UncertainOutcome),
        ("publish", httpx.ConnectError("refused"), TransientError),
        ("verify", httpx.ReadTimeout("slow"), TransientError),
    ],
)
async def test_transport_failures(
    method: str, failure: Exception, expected: type[Exception]
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    async with httpx.AsyncClient(transport=httpx.MockTransport(fail)) as client:
        connector = make(client)
        with pytest.raises(expected) as caught:
            if method == "publish":
                await connector.publish(OutboundPost(text="hello", idempotency_key="k"))
            else:
                await connector.verify()
    if expected is TransientError:
        assert not isinstance(caught.value, UncertainOutcome)
    assert TOKEN not in str(caught.value)


# -- the fake answers as the documentation shows --------------------------------------------


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(
    documented: Any,
    actual: Any,
    *,
    where: str = "$",
    extra: frozenset[str] = frozenset(),
    removed: frozenset[str] = frozenset(),
    subset: bool = False,
) -> None:
    """Same keys (bar documented optional ``extra`` and ``removed`` ones) and value types."""
    if documented is None or actual is None:
        return
    assert kind(documented) == kind(actual), f"{where}: {kind(documented)} != {kind(actual)}"
    if isinstance(documented, dict):
        missing = set(documented) - set(actual) - removed
        assert not missing, f"{where}: fake leaves out {sorted(missing)}"
        if not subset:
            unexpected = set(actual) - set(documented) - extra
            assert not unexpected, f"{where}: fake adds {sorted(unexpected)}"
        for key in set(documented) & set(actual):
            assert_same_shape(
                documented[key],
                actual[key],
                where=f"{where}.{key}",
                extra=extra,
                removed=removed,
                subset=subset,
            )
    elif isinstance(documented, list) and documented and actual:
        assert_same_shape(
            documented[0],
            actual[0],
            where=f"{where}[0]",
            extra=extra,
            removed=removed,
            subset=subset,
        )


# Attributes the entity pages document beside their examples.
ACCOUNT_EXTRA = frozenset({"discoverable", "group", "uri"})
STATUS_EXTRA = frozenset({"edited_at", "pinned"}) | ACCOUNT_EXTRA
REMOVED = frozenset({"text_url"})  # removed in Mastodon 3.5


async def test_fake_entities_have_the_documented_shape(
    fake: MastodonFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    image = png(tmp_path / "a.png")
    uploaded = await http.post(
        "/api/v2/media",
        headers=auth,
        files={"file": ("a.png", image.read_bytes(), "image/png")},
        data={"description": "d", "focus": "-0.42,0.69"},
    )
    assert uploaded.status_code == 200
    assert_same_shape(fixture("media_attachment.json"), uploaded.json(), removed=REMOVED)
    video = await http.post(
        "/api/v2/media",
        headers=auth,
        files={"file": ("v.mp4", b"\0" * 64, "video/mp4")},
        data={"focus": "-0.69,0.42"},  # meta.focus is there only when a focus was given
    )
    assert video.status_code == 202
    assert video.json()["url"] is None
    assert_same_shape(fixture("media_attachment_processing.json"), video.json(), removed=REMOVED)
    created = await http.post(
        "/api/v1/statuses",
        headers=auth,
        json={"status": "Hello world", "media_ids": [uploaded.json()["id"]]},
    )
    assert created.status_code == 200
    assert_same_shape(fixture("status_created.json"), created.json(), subset=True)
    got = await http.get(f"/api/v1/statuses/{created.json()['id']}", headers=auth)
    assert_same_shape(fixture("status.json"), got.json(), extra=STATUS_EXTRA)
    polled = await http.post(
        "/api/v1/statuses",
        headers=auth,
        data={"status": "?", "poll[options][]": ["a", "b"], "poll[expires_in]": "600"},
    )
    assert polled.status_code == 200
    assert_same_shape(fixture("poll.json"), polled.json()["poll"])
    me = await http.get("/api/v1/accounts/verify_credentials", headers=auth)
    assert_same_shape(fixture("credential_account.json"), me.json(), extra=ACCOUNT_EXTRA)
    instance = await http.get("/api/v2/instance")
    assert_same_shape(
        fixture("instance_v2.json"),
        instance.json(),
        extra=frozenset({"description_limit"}),  # configuration.media_attachments, 4.4+
    )
    deleted = await http.delete(f"/api/v1/statuses/{polled.json()['id']}", headers=auth)
    assert "content" not in deleted.json()
    assert_same_shape(
        fixture("status_deleted.json"), deleted.json(), extra=STATUS_EXTRA, subset=True
    )
    app = await http.post(
        "/api/v1/apps",
        json={"client_name": "Test Application", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
    )
    assert_same_shape(fixture("credential_application.json"), app.json())


@pytest.mark.parametrize(
    ("case", "request_args"),
    [
        ("invalid_token", ("GET", "/api/v1/accounts/verify_credentials", "nope")),
        ("not_found", ("GET", "/api/v1/statuses/424242", TOKEN)),
        ("blank", ("POST", "/api/v1/statuses", TOKEN)),
    ],
)
async def test_fake_errors_have_the_documented_shape(
    http: httpx.AsyncClient, case: str, request_args: tuple[str, str, str]
) -> None:
    method, path, token = request_args
    documented = fixture("errors.json")[case]
    kwargs: dict[str, Any] = {"json": {"status": " "}} if method == "POST" else {}
    response = await http.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    assert response.status_code == documented["status"]
    assert response.json() == documented["body"]


# -- status length, as StatusLengthValidator counts -------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoiler", "length"),
    [
        ("hello", "", 5),
        ("a" * 500, "", 500),
        ("https://example.com/" + "a" * 200, "", 23),
        ("see http://a.co.", "", 4 + 23 + 1),  # trailing punctuation is not the URL's
        ("example.com/" + "a" * 30, "", 42),  # no scheme: not a URL, counted in full
        ("@alice@mastodon.social hi", "", len("@alice hi")),
        ("mail me at a@b.example", "", 22),  # an address is not a mention
        ("👍🏽", "", 1),  # emoji with skin tone: one grapheme
        ("🇫🇷🇩🇪", "", 2),
        ("e\u0301", "", 1),  # e + combining acute
        ("body", "CW: spoilers", 16),  # the content warning counts too
    ],
)
def test_status_length_counts_like_mastodon(text: str, spoiler: str, length: int) -> None:
    assert status_length(text, spoiler) == length
    # socialdesk's own validation counts the same, so what it lets through the fake accepts
    assert counting.mastodon(text, spoiler_text=spoiler) == length


@pytest.mark.parametrize(("length", "accepted"), [(500, True), (501, False)])
async def test_limit_is_enforced_at_exactly_500(
    fake: MastodonFake, connector: MastodonConnector, length: int, accepted: bool
) -> None:
    post = OutboundPost(text="x" * length, idempotency_key=f"len-{length}")
    if accepted:
        await connector.publish(post)
        assert fake.count_statuses(alice(fake)) == 1
    else:
        with pytest.raises(Rejected) as caught:
            await connector.publish(post)
        assert caught.value.reason == "Validation failed: Text character limit of 500 exceeded"
        assert fake.count_statuses(alice(fake)) == 0


async def test_long_urls_and_remote_mentions_fit(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    text = "y" * 440 + " @bob@very.long.instance.example https://example.com/" + "p" * 300
    assert len(text) > 500
    assert status_length(text) == 440 + 1 + 4 + 1 + 23
    await connector.publish(OutboundPost(text=text, idempotency_key="urls"))
    assert fake.count_statuses(alice(fake)) == 1


# -- connecting: app, authorize with PKCE, token, verify ---------------------------------------


async def _authorize(http: httpx.AsyncClient, url: str) -> dict[str, list[str]]:
    response = await http.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)


async def test_oauth_flow_with_pkce(http: httpx.AsyncClient, fake: MastodonFake) -> None:
    app = await register_app(http, BASE, "https://desk.example/callback", "https://desk.example")
    assert app.client_secret not in repr(app)
    assert fake.apps[app.app_id or ""].scopes == ["read", "write"]
    request = authorization_url(app)
    query = parse_qs(urlsplit(request.url).query)
    assert query["code_challenge_method"] == ["S256"]
    digest = hashlib.sha256(request.code_verifier.encode()).digest()
    assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert query["scope"] == ["read write"]
    assert request.code_verifier not in repr(request)
    back = await _authorize(http, request.url)
    assert back["state"] == [request.state]
    credentials = await exchange_code(
        http, app, code=back["code"][0], code_verifier=request.code_verifier
    )
    assert credentials.extra["base_url"] == BASE
    assert credentials.extra["scope"] == "read write"
    connector = MastodonConnector(http=http, credentials=credentials)
    account = await connector.verify()
    assert account.handle == "alice@mastodon.example"


@pytest.mark.parametrize("verifier", ["wrong-verifier-" + "x" * 40, ""])
async def test_exchange_refuses_a_wrong_pkce_verifier(
    http: httpx.AsyncClient, verifier: str
) -> None:
    app = await register_app(http, BASE, "https://desk.example/callback")
    request = authorization_url(app)
    back = await _authorize(http, request.url)
    with pytest.raises(Rejected) as caught:
        await exchange_code(http, app, code=back["code"][0], code_verifier=verifier)
    assert "invalid" in caught.value.reason.lower() or "grant" in caught.value.reason.lower()
    # and the right verifier still works once: codes are single-use afterwards
    await exchange_code(http, app, code=back["code"][0], code_verifier=request.code_verifier)
    with pytest.raises(Rejected):
        await exchange_code(http, app, code=back["code"][0], code_verifier=request.code_verifier)


async def test_exchange_with_an_unknown_app_is_rejected(http: httpx.AsyncClient) -> None:
    app = await register_app(http, BASE, "https://desk.example/callback")
    forged = type(app)(
        base_url=app.base_url,
        client_id=app.client_id,
        client_secret="not-the-secret",
        redirect_uri=app.redirect_uri,
    )
    request = authorization_url(app)
    back = await _authorize(http, request.url)
    with pytest.raises(Rejected, match="register it again"):
        await exchange_code(http, forged, code=back["code"][0], code_verifier=request.code_verifier)


async def test_authorize_refuses_an_unregistered_redirect(http: httpx.AsyncClient) -> None:
    app = await register_app(http, BASE, "https://desk.example/callback")
    other = type(app)(
        base_url=app.base_url,
        client_id=app.client_id,
        client_secret=app.client_secret,
        redirect_uri="https://evil.example/",
    )
    response = await http.get(authorization_url(other).url)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


async def test_verify(fake: MastodonFake, connector: MastodonConnector) -> None:
    account = await connector.verify()
    assert account.external_id == alice(fake)
    assert account.handle == "alice@mastodon.example"
    assert account.display_name == "Alice A."
    assert account.avatar_url
    assert account.avatar_url.startswith("https://")
    assert account.url == "https://mastodon.example/@alice"
    extra = connector.channel_extra
    assert extra["account_id"] == account.external_id
    assert extra["base_url"] == BASE
    assert extra["max_characters"] == "500"
    assert extra["description_limit"] == "1500"
    assert "image/png" in extra["supported_mime_types"].split(",")


async def test_verify_with_a_bad_token(http: httpx.AsyncClient) -> None:
    with pytest.raises(AuthExpired) as caught:
        await make(http, token="revoked-token-abcdef").verify()
    assert "revoked-token-abcdef" not in str(caught.value)


async def test_instance_max_characters_is_used(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    fake.limits.max_characters = 1000
    connector = make(http)
    await connector.verify()
    extra = connector.channel_extra
    assert extra["max_characters"] == "1000"
    assert MastodonConnector.text_rules_for(extra).max_length == 1000
    assert MastodonConnector.text_rules_for({}).max_length == 500
    assert "v2/instance" in MastodonConnector.text_rules_for(extra).source
    await make(http, **extra).publish(OutboundPost(text="z" * 900, idempotency_key="long"))
    assert fake.count_statuses(alice(fake)) == 1


def test_media_rules_follow_the_instance() -> None:
    extra = instance_extra(fixture("instance_v2.json"))
    assert extra["max_characters"] == "500"
    assert extra["instance_domain"] == "mastodon.social"
    rules = MastodonConnector.media_rules_for(extra)
    assert rules.max_image_bytes == 10485760
    assert rules.max_video_bytes == 41943040
    assert "image/heic" in rules.image_types
    assert "video/webm" in rules.video_types
    assert MastodonConnector.media_rules_for({}) == MastodonConnector.media_rules


# -- publishing -----------------------------------------------------------------------------


async def test_publish_text_with_options(fake: MastodonFake, connector: MastodonConnector) -> None:
    result = await connector.publish(
        OutboundPost(
            text="Hello #fediverse",
            idempotency_key="delivery-1",
            options={"visibility": "unlisted", "spoiler_text": "long read", "language": "de"},
        )
    )
    (status,) = fake.statuses_of(alice(fake))
    assert result.external_id == status.id
    assert result.url == f"https://mastodon.example/@alice/{status.id}"
    assert result.part_ids == ()
    assert status.visibility == "unlisted"
    assert status.spoiler_text == "long read"
    assert status.sensitive  # Mastodon marks a status with a content warning sensitive
    assert status.language == "de"
    assert status.idempotency_key == "delivery-1"


async def test_publish_poll(fake: MastodonFake, connector: MastodonConnector) -> None:
    await connector.publish(
        OutboundPost(
            text="Tea or coffee?",
            idempotency_key="poll-1",
            options={"poll": {"options": ["tea", "coffee"], "expires_in": 3600, "multiple": True}},
        )
    )
    (status,) = fake.statuses_of(alice(fake))
    assert status.poll is not None
    assert [o["title"] for o in status.poll["options"]] == ["tea", "coffee"]
    assert status.poll["multiple"] is True


@pytest.mark.parametrize(
    ("options", "media"),
    [
        ({"visibility": "everyone"}, False),
        ({"poll": {"options": ["only one"], "expires_in": 600}}, False),
        ({"poll": {"options": ["a", "b"], "expires_in": 600}}, True),
    ],
)
async def test_bad_options_change_nothing(
    fake: MastodonFake,
    connector: MastodonConnector,
    tmp_path: Path,
    options: dict[str, Any],
    media: bool,
) -> None:
    items = (MediaItem(path=png(tmp_path / "p.png"), mime_type="image/png", size_bytes=40),)
    with pytest.raises(ValidationError):
        await connector.publish(
            OutboundPost(
                text="t", idempotency_key="bad", options=options, media=items if media else ()
            )
        )
    assert fake.requests == []


async def test_publish_thread(fake: MastodonFake, connector: MastodonConnector) -> None:
    result = await connector.publish(
        OutboundPost(text="1/3 start", thread=("2/3 middle", "3/3 end"), idempotency_key="th")
    )
    statuses = sorted(fake.statuses_of(alice(fake)), key=lambda s: int(s.id))
    assert [s.text for s in statuses] == ["1/3 start", "2/3 middle", "3/3 end"]
    assert [s.idempotency_key for s in statuses] == ["th", "th:1", "th:2"]
    assert statuses[0].in_reply_to_id is None
    assert statuses[1].in_reply_to_id == statuses[0].id
    assert statuses[2].in_reply_to_id == statuses[1].id
    assert result.external_id == statuses[0].id
    assert result.part_ids == (statuses[1].id, statuses[2].id)


async def test_publish_image_with_alt_text_and_focus(
    fake: MastodonFake, connector: MastodonConnector, tmp_path: Path
) -> None:
    image = MediaItem(
        path=png(tmp_path / "cat.png", 64, 48),
        mime_type="image/png",
        size_bytes=40,
        alt_text="A cat asleep on a keyboard",
        focus=(-0.42, 0.69),
    )
    await connector.publish(OutboundPost(text="Look", idempotency_key="img", media=(image,)))
    (status,) = fake.statuses_of(alice(fake))
    (media,) = (fake.media[m] for m in status.media_ids)
    assert media.description == "A cat asleep on a keyboard"
    assert media.focus == (-0.42, 0.69)
    assert (media.width, media.height) == (64, 48)
    assert ("GET", f"/api/v1/media/{media.id}") not in fake.requests  # 200: nothing to wait for


async def test_publish_video_waits_for_processing(
    fake: MastodonFake, connector: MastodonConnector, tmp_path: Path
) -> None:
    fake.limits.media_processing_polls = 2
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 100)
    item = MediaItem(path=clip, mime_type="video/mp4", size_bytes=112, alt_text="A short clip")
    await connector.publish(OutboundPost(text="Watch", idempotency_key="vid", media=(item,)))
    (status,) = fake.statuses_of(alice(fake))
    media_id = status.media_ids[0]
    polls = [r for r in fake.requests if r == ("GET", f"/api/v1/media/{media_id}")]
    assert len(polls) == 3  # 206, 206, then 200
    assert fake.media[media_id].description == "A short clip"


async def test_media_that_never_finishes_is_a_transient_failure(
    fake: MastodonFake, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    fake.limits.media_processing_polls = 10_000
    connector = make(http)
    connector.media_wait_seconds = 0.05
    connector.media_poll_interval = 0.01
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\0" * 64)
    item = MediaItem(path=clip, mime_type="video/mp4", size_bytes=64)
    with pytest.raises(TransientError, match="still processing") as caught:
        await connector.publish(OutboundPost(text="Watch", idempotency_key="v", media=(item,)))
    assert not isinstance(caught.value, UncertainOutcome)
    assert fake.count_statuses(alice(fake)) == 0


async def test_posting_unprocessed_media_is_refused_by_the_fake(
    fake: MastodonFake, http: httpx.AsyncClient
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    video = await http.post(
        "/api/v2/media", headers=auth, files={"file": ("v.mp4", b"\0" * 8, "video/mp4")}
    )
    answer = await http.post(
        "/api/v1/statuses", headers=auth, json={"status": "x", "media_ids": [video.json()["id"]]}
    )
    assert answer.status_code == 422
    assert "not finished processing" in answer.json()["error"]


# -- exactly once ----------------------------------------------------------------------------


async def test_same_key_twice_makes_one_status(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    first = await connector.publish(OutboundPost(text="Once", idempotency_key="same"))
    again = await connector.publish(OutboundPost(text="Once", idempotency_key="same"))
    assert first == again
    assert fake.count_statuses(alice(fake)) == 1


async def test_keys_are_per_account(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    _, bob_token = fake.create_account("bob")
    await make(http).publish(OutboundPost(text="Hi", idempotency_key="k"))
    await make(http, token=bob_token).publish(OutboundPost(text="Hi", idempotency_key="k"))
    assert len(fake.statuses) == 2


async def test_keys_expire_after_an_hour(fake: MastodonFake, connector: MastodonConnector) -> None:
    await connector.publish(OutboundPost(text="Once", idempotency_key="old"))
    fake.advance(MastodonConnector.idempotency_window + 1)
    await connector.publish(OutboundPost(text="Once", idempotency_key="old"))
    assert fake.count_statuses(alice(fake)) == 2  # why a late retry must look up first


@pytest.mark.parametrize("fault", ["apply_then_drop", "apply_then_stall"])
async def test_uncertain_outcome_then_retry_yields_one_status(
    fake: MastodonFake, fault: str
) -> None:
    fake.inject(fault, method="POST", path="/api/v1/statuses", seconds=5.0)
    async with fake.client(timeout=0.2) as http:
        connector = make(http)
        post = OutboundPost(text="Maybe out there", idempotency_key="unsure")
        with pytest.raises(UncertainOutcome):
            await connector.publish(post)
        assert fake.count_statuses(alice(fake)) == 1  # it was applied
        found = await connector.find_published(post)
        again = await connector.publish(post)
    (status,) = fake.statuses_of(alice(fake))
    assert found is not None
    assert found.external_id == status.id
    assert again.external_id == status.id
    assert found.url == again.url


async def test_a_503_applies_nothing(fake: MastodonFake, connector: MastodonConnector) -> None:
    fake.inject("fail", method="POST", path="/api/v1/statuses", status=503)
    post = OutboundPost(text="later", idempotency_key="five-oh-three")
    with pytest.raises(TransientError) as caught:
        await connector.publish(post)
    assert not isinstance(caught.value, UncertainOutcome)
    assert fake.count_statuses(alice(fake)) == 0
    await connector.publish(post)
    assert fake.count_statuses(alice(fake)) == 1


async def test_a_thread_part_failing_makes_the_outcome_uncertain(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    post = OutboundPost(text="one", thread=("two", "three"), idempotency_key="t")
    fake.inject("fail", method="POST", path="/api/v1/statuses", status=503, after=1)
    with pytest.raises(UncertainOutcome, match="part 2 of 3"):
        await connector.publish(post)
    assert [s.text for s in fake.statuses_of(alice(fake))] == ["one"]
    assert await connector.find_published(post) is None  # within the key window: publish again
    result = await connector.publish(post)
    texts = sorted(fake.statuses_of(alice(fake)), key=lambda s: int(s.id))
    assert [s.text for s in texts] == ["one", "two", "three"]
    assert len(result.part_ids) == 2


async def test_a_refused_thread_part_says_what_is_already_out(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    post = OutboundPost(text="fine", thread=("x" * 501,), idempotency_key="refused")
    with pytest.raises(Rejected) as caught:
        await connector.publish(post)
    (first,) = fake.statuses_of(alice(fake))
    assert caught.value.reason == "Validation failed: Text character limit of 500 exceeded"
    assert f"/@alice/{first.id}" in caught.value.message
    assert "part 2 of 2" in caught.value.message


# -- find_published --------------------------------------------------------------------------


async def test_find_published_none_when_absent(connector: MastodonConnector) -> None:
    assert await connector.find_published(OutboundPost(text="never", idempotency_key="n")) is None


async def test_find_published_matches_the_rendered_html(
    fake: MastodonFake, http: httpx.AsyncClient
) -> None:
    connector = make(http, account_id=alice(fake))
    text = (
        "Ship it, @alice & @bob@other.example! <b>not bold</b>\n"
        "https://example.com/a/very/long/path/that/is/cut/in/the/html #Launch\n\n"
        "Second paragraph"
    )
    post = OutboundPost(text=text, idempotency_key="html")
    published = await connector.publish(post)
    await connector.publish(OutboundPost(text="something else", idempotency_key="other"))
    found = await connector.find_published(post)
    assert found == published
    content = fake.status_json(fake.statuses[published.external_id])["content"]
    assert "&lt;b&gt;" in content
    assert "<br />" in content
    assert "ellipsis" in content
    assert status_text(content).startswith("Ship it, @alice & @bob! <b>not bold</b>\n")


async def test_find_published_ignores_an_older_identical_post(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    await connector.publish(OutboundPost(text="Good morning!", idempotency_key="monday"))
    fake.advance(24 * 3600)
    since = dt.datetime.fromtimestamp(fake.now(), tz=dt.UTC)
    post = OutboundPost(text="Good morning!", idempotency_key="tuesday")
    assert await connector.find_published(post, since=since) is None
    told = OutboundPost(text=post.text, idempotency_key="tuesday", options={"attempted_at": since})
    assert await connector.find_published(told) is None
    as_text = {"attempted_at": since.isoformat()}
    assert await connector.find_published(OutboundPost(post.text, "t", options=as_text)) is None
    assert await connector.find_published(post) is not None  # without `since`, it would match


async def test_find_published_pages_through_the_timeline(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    target = OutboundPost(text="needle", idempotency_key="needle")
    published = await connector.publish(target)
    for i in range(60):
        await connector.publish(OutboundPost(text=f"hay {i}", idempotency_key=f"hay-{i}"))
    assert await connector.find_published(target) == published
    pages = [r for r in fake.requests if r[1].endswith("/statuses") and r[0] == "GET"]
    assert len(pages) == 2


async def test_find_published_checks_the_media_count(
    fake: MastodonFake, connector: MastodonConnector, tmp_path: Path
) -> None:
    await connector.publish(OutboundPost(text="album", idempotency_key="text-only"))
    item = MediaItem(path=png(tmp_path / "p.png"), mime_type="image/png", size_bytes=40)
    post = OutboundPost(text="album", idempotency_key="with-media", media=(item,))
    assert await connector.find_published(post) is None


async def test_a_thread_left_half_done_too_long_ago_is_rejected(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    fake.advance(-2 * 3600)  # the first part went out two hours ago
    await connector.publish(OutboundPost(text="first", idempotency_key="half"))
    fake.advance(2 * 3600)
    post = OutboundPost(text="first", thread=("second",), idempotency_key="half")
    with pytest.raises(Rejected, match="partly"):
        await connector.find_published(post)


# -- delete ----------------------------------------------------------------------------------


async def test_delete(fake: MastodonFake, connector: MastodonConnector) -> None:
    result = await connector.publish(OutboundPost(text="regret", idempotency_key="del"))
    await connector.delete(result.external_id)
    assert fake.statuses[result.external_id].deleted
    assert fake.count_statuses(alice(fake)) == 0
    await connector.delete(result.external_id)  # already gone: fine (a retried delete)


async def test_deleting_someone_elses_status_is_rejected(
    fake: MastodonFake, http: httpx.AsyncClient
) -> None:
    _, bob_token = fake.create_account("bob")
    bobs = await make(http, token=bob_token).publish(OutboundPost(text="mine", idempotency_key="b"))
    with pytest.raises(Rejected):
        await make(http).delete(bobs.external_id)
    assert not fake.statuses[bobs.external_id].deleted


# -- scopes and rate limits --------------------------------------------------------------------


async def test_a_read_only_token_cannot_post(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    fake.create_account("reader", access_token="read-only-token", scopes="read")
    with pytest.raises(Rejected) as caught:
        await make(http, token="read-only-token").publish(
            OutboundPost(text="x", idempotency_key="r")
        )
    assert caught.value.reason == "This action is outside the authorized scopes"


async def test_posting_limit_answers_429_with_reset(
    fake: MastodonFake, connector: MastodonConnector
) -> None:
    fake.limits.statuses = (2, 3 * 3600)
    for i in range(2):
        await connector.publish(OutboundPost(text=f"post {i}", idempotency_key=f"p{i}"))
    with pytest.raises(RateLimited) as caught:
        await connector.publish(OutboundPost(text="one too many", idempotency_key="p2"))
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 3 * 3600
    # a repeat of an earlier key is not a new post: it still answers
    await connector.publish(OutboundPost(text="post 0", idempotency_key="p0"))
    assert fake.count_statuses(alice(fake)) == 2


async def test_api_limit_headers_and_429(fake: MastodonFake, http: httpx.AsyncClient) -> None:
    fake.limits.api = (3, 300)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    remaining = []
    for _ in range(3):
        response = await http.get("/api/v1/accounts/verify_credentials", headers=auth)
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(RateLimited) as caught:
        await make(http).verify()
    assert caught.value.retry_after is not None
    assert caught.value.retry_after <= 300


# -- the fake as a separate process -------------------------------------------------------------


@pytest.mark.slow
async def test_fake_runs_as_a_server_process() -> None:
    with run_server("--account", "carol:carol-token", "--latency-ms", "100") as server:
        async with httpx.AsyncClient(timeout=5.0) as http:
            connector = MastodonConnector(
                http=http,
                credentials=Credentials(
                    access_token="carol-token", extra={"base_url": server.base_url}
                ),
            )
            started = time.monotonic()
            account = await connector.verify()
            assert time.monotonic() - started >= 0.1 * 2  # two calls, 100 ms each
            server.admin(
                "POST",
                "faults",
                {"kind": "apply_then_drop", "method": "POST", "path": "/api/v1/statuses"},
            )
            post = OutboundPost(text="over the wire", idempotency_key="wire")
            with pytest.raises(UncertainOutcome):
                await connector.publish(post)
            again = await connector.publish(post)
        state = server.admin("GET", f"statuses?account_id={account.external_id}")
    assert state["counts"] == {account.external_id: 1}
    assert state["statuses"][0]["id"] == again.external_id
    assert state["statuses"][0]["idempotency_key"] == "wire"
