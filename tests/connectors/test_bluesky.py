# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Bluesky connector.

Fast tests answer with recorded PDS answers (``tests/fixtures/bluesky``) through
``httpx.MockTransport``; the ``slow`` tests run against the real reference PDS
(``tests.support.pds``) and read every record back.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from socialdesk.connectors.base import (
    Credentials,
    Idempotency,
    MediaItem,
    OutboundPost,
    PublishResult,
    TextCounting,
)
from socialdesk.connectors.bluesky import (
    BlueskyConnector,
    decode_tid,
    detect_facets,
    encode_tid,
    image_dimensions,
    is_valid_tid,
    parse_at_uri,
    record_key,
)
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.support.pds import LocalPds, PdsAccount

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
DID = "did:plc:3mwjzghvvecg2sc2ldtyinjt"
BASE = "https://pds.example"

# --- media made in the test ---------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """SOI, a JFIF APP0 segment and a baseline SOF0 carrying the size (enough to sniff)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def mp4_stub() -> bytes:
    return b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00\x00\x00\x08free"


def media(tmp_path: Path, name: str, data: bytes, mime: str, **kw: Any) -> MediaItem:
    path = tmp_path / name
    path.write_bytes(data)
    return MediaItem(path=path, mime_type=mime, size_bytes=len(data), **kw)


# --- record keys ----------------------------------------------------------------------------


def test_tid_known_vectors() -> None:
    assert encode_tid(0, 0) == "2222222222222"
    # @atcute/tid's documented example: TID.create(1724171495793000, 512)
    assert encode_tid(1724171495793000, 512) == "3l25zusnsfck2"
    assert decode_tid("3l25zusnsfck2") == (1724171495793000, 512)


@pytest.mark.parametrize(
    ("timestamp", "clock"), [(-1, 0), (1 << 53, 0), (0, -1), (0, 1024)], ids=str
)
def test_tid_refuses_out_of_range_fields(timestamp: int, clock: int) -> None:
    with pytest.raises(ValueError, match="bits"):
        encode_tid(timestamp, clock)


def test_record_keys_are_valid_deterministic_and_distinct_per_part() -> None:
    keys = [f"delivery-{n}" for n in range(200)] + ["é🦋", "x" * 500]
    seen: set[str] = set()
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6
    end = dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6
    for key in keys:
        parts = [record_key(key, part) for part in range(5)]
        assert parts == [record_key(key, part) for part in range(5)]  # deterministic
        for rkey in parts:
            assert len(rkey) == 13
            assert re.fullmatch(r"[234567abcdefghij][234567a-z]{12}", rkey), rkey
            assert is_valid_tid(rkey)
            timestamp, _clock = decode_tid(rkey)
            assert start <= timestamp < end  # a sane time, before any client-made TID
        assert parts == sorted(parts)  # parts list in order
        assert len(set(parts)) == 5
        seen.update(parts)
    assert len(seen) == 5 * len(keys)  # distinct across deliveries too


@pytest.mark.parametrize(("key", "part"), [("", 0), ("k", -1), ("k", 10_000)])
def test_record_key_refuses_bad_arguments(key: str, part: int) -> None:
    with pytest.raises(ValueError, match=r"idempotency key|part"):
        record_key(key, part)


# --- facets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "héllo 🦋 https://example.com/a?b=1. @bob.test #tag!",
            [
                ("link", "https://example.com/a?b=1", "https://example.com/a?b=1"),
                ("mention", "@bob.test", "bob.test"),
                ("tag", "#tag", "tag"),
            ],
        ),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            [
                (
                    "link",
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                    "https://en.wikipedia.org/wiki/Foo_(bar)",
                )
            ],
        ),
        (
            "#123 #1a \uff03全角 #\ufe0f\u20e3 a#b #",
            [("tag", "#1a", "1a"), ("tag", "\uff03全角", "全角")],
        ),
        (
            "mail bob@example.com, @alice, @1.23 (@carol.example.org)",
            [("mention", "@carol.example.org", "carol.example.org")],
        ),
        (
            "go https://x.com/#frag #real",
            [
                ("link", "https://x.com/#frag", "https://x.com/#frag"),
                ("tag", "#real", "real"),
            ],
        ),
        ("no facets here", []),
    ],
)
def test_detect_facets_byte_offsets(text: str, expected: list[tuple[str, str, str]]) -> None:
    facets = detect_facets(text)
    encoded = text.encode("utf-8")
    got = [(f.kind, encoded[f.byte_start : f.byte_end].decode("utf-8"), f.value) for f in facets]
    assert got == expected


# --- image sizes ----------------------------------------------------------------------------


def _webp_vp8x(width: int, height: int) -> bytes:
    payload = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    return (
        b"RIFF"
        + struct.pack("<I", 4 + 8 + len(payload))
        + b"WEBPVP8X"
        + struct.pack("<I", len(payload))
        + payload
    )


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(3, 2), (3, 2)),
        (b"GIF89a" + struct.pack("<HH", 640, 480) + b"\x00" * 10, (640, 480)),
        (jpeg_header(1200, 627), (1200, 627)),
        (_webp_vp8x(4000, 3000), (4000, 3000)),
        (b"not an image at all", None),
    ],
    ids=["png", "gif", "jpeg", "webp", "unknown"],
)
def test_image_dimensions(data: bytes, size: tuple[int, int] | None) -> None:
    assert image_dimensions(data) == size


# --- rules as data --------------------------------------------------------------------------


def test_rules_and_capabilities_are_declared_with_sources() -> None:
    rules = BlueskyConnector.text_rules
    assert (rules.max_length, rules.counting) == (300, TextCounting.GRAPHEMES)
    assert "app.bsky.feed.post" in rules.source
    assert rules.checked == "2026-11"
    assert BlueskyConnector.media_rules.max_items == 4
    assert BlueskyConnector.media_rules.source
    caps = BlueskyConnector.capabilities
    assert caps.idempotency is Idempotency.RECORD_KEY
    assert (caps.threads, caps.link_card, caps.delete, caps.oauth) == (True, True, True, False)
    assert BlueskyConnector.rate_limit is not None
    assert BlueskyConnector.rate_limit.max_posts == 1666
    assert BlueskyConnector.daily_rate_limit.max_posts == 11666
    assert "docs.bsky.app" in BlueskyConnector.rate_limit.source


# --- a scripted PDS -------------------------------------------------------------------------


def fixture(name: str, **fill: str) -> dict[str, Any]:
    text = (FIXTURES / name).read_text()
    for placeholder, value in fill.items():
        text = text.replace(placeholder, json.dumps(value)[1:-1])
    body: dict[str, Any] = json.loads(text)
    return body


def answer(status: int, name: str, headers: dict[str, str] | None = None, **fill: str) -> Any:
    return httpx.Response(status, json=fixture(name, **fill), headers=headers)


Handler = Callable[[httpx.Request], httpx.Response]


class ScriptedPds:
    """Answers XRPC calls with fixtures; queued answers (or callables) come first."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, httpx.Request]] = []
        self.queued: dict[str, list[httpx.Response | Handler]] = defaultdict(list)
        self.records: dict[str, str] = {}  # rkey -> text, as created

    def on(self, nsid: str, *answers: httpx.Response | Handler) -> None:
        self.queued[nsid].extend(answers)

    def count(self, nsid: str) -> int:
        return sum(1 for name, _ in self.calls if name == nsid)

    def bodies(self, nsid: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for name, r in self.calls if name == nsid]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        nsid = request.url.path.removeprefix("/xrpc/")
        self.calls.append((nsid, request))
        if self.queued[nsid]:
            queued = self.queued[nsid].pop(0)
            return queued(request) if callable(queued) else queued
        return self.default(nsid, request)

    def default(self, nsid: str, request: httpx.Request) -> httpx.Response:
        if nsid == "com.atproto.server.createSession":
            return answer(200, "create_session.json")
        if nsid == "com.atproto.server.refreshSession":
            return answer(200, "refresh_session.json")
        if nsid == "com.atproto.repo.createRecord":
            body = json.loads(request.content)
            rkey = body["rkey"]
            self.records[rkey] = body["record"]["text"]
            created = fixture("create_record.json", RKEY=rkey)
            created["cid"] = f"bafyrei{rkey}"
            return httpx.Response(200, json=created)
        if nsid == "com.atproto.repo.getRecord":
            rkey = request.url.params["rkey"]
            if rkey in self.records:
                return self.stored(rkey, self.records[rkey])
            return answer(400, "error_record_not_found.json", RKEY=rkey)
        if nsid == "com.atproto.repo.uploadBlob":
            return answer(200, "upload_blob.json")
        if nsid == "com.atproto.identity.resolveHandle":
            return answer(200, "resolve_handle.json")
        if nsid == "com.atproto.repo.deleteRecord":
            return answer(200, "delete_record.json")
        raise AssertionError(f"unexpected call {nsid}")

    @staticmethod
    def stored(rkey: str, text: str) -> httpx.Response:
        body = fixture("get_record.json", RKEY=rkey, TEXT=text)
        body["cid"] = f"bafyrei{rkey}"
        return httpx.Response(200, json=body)


@pytest.fixture
def scripted() -> ScriptedPds:
    return ScriptedPds()


@pytest.fixture
async def mock_http(scripted: ScriptedPds) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(scripted)) as client:
        yield client


def make_connector(
    http: httpx.AsyncClient, password: str = APP_PASSWORD, **extra: str
) -> BlueskyConnector:
    credentials = Credentials(access_token=password, extra={"handle": "alice.test", **extra})
    return BlueskyConnector(http=http, credentials=credentials, base_url=BASE)


def outbound(key: str = "delivery-1", text: str = "hello", **kw: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key=key, **kw)


def timeout_after_forwarding(scripted: ScriptedPds) -> Handler:
    """The PDS creates the record, but its answer is lost."""

    def handler(request: httpx.Request) -> httpx.Response:
        scripted.default("com.atproto.repo.createRecord", request)
        raise httpx.ReadTimeout("answer lost", request=request)

    return handler


def raise_(exc_type: type[httpx.TransportError], message: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type(message, request=request)

    return handler


# --- error mapping --------------------------------------------------------------------------


def _classify(status: int, name: str, headers: dict[str, str] | None = None) -> Exception | None:
    request = httpx.Request("POST", f"{BASE}/xrpc/com.atproto.repo.createRecord")
    response = httpx.Response(status, json=fixture(name), headers=headers, request=request)
    return BlueskyConnector.errors.classify(response)


def test_429_uses_ratelimit_reset() -> None:
    reset = int(dt.datetime.now(dt.UTC).timestamp()) + 30
    headers = {
        "ratelimit-limit": "5000",
        "ratelimit-remaining": "0",
        "ratelimit-reset": str(reset),
        "ratelimit-policy": "5000;w=3600",
    }
    error = _classify(429, "error_rate_limited.json", headers)
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 25 <= error.retry_after <= 31


@pytest.mark.parametrize(
    ("status", "name", "expected", "reason"),
    [
        (429, "error_rate_limited.json", RateLimited, None),
        (413, "error_payload_too_large.json", Rejected, "request entity too large"),
        (400, "error_grapheme_too_big.json", Rejected, "grapheme too big (maximum 300, got 301)"),
        (401, "error_authentication_required.json", AuthExpired, None),
        (400, "error_expired_token.json", AuthExpired, None),
        (400, "error_invalid_token.json", AuthExpired, None),
        (500, "error_internal.json", TransientError, None),
    ],
)
def test_error_mapping(
    status: int, name: str, expected: type[Exception], reason: str | None
) -> None:
    error = _classify(status, name, {"retry-after": "7"} if status == 429 else None)
    assert type(error) is expected or (expected is AuthExpired and isinstance(error, AuthExpired))
    if isinstance(error, RateLimited):
        assert error.retry_after == 7
    if reason is not None:
        assert isinstance(error, Rejected)
        assert reason in error.reason


# --- sessions -------------------------------------------------------------------------------


async def test_verify_refused_password_is_auth_expired_without_the_password(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on(
        "com.atproto.server.createSession", answer(401, "error_authentication_required.json")
    )
    connector = make_connector(mock_http, password="wxyz-wxyz-wxyz-wxyz")
    with pytest.raises(AuthExpired) as caught:
        await connector.verify()
    assert "Invalid identifier or password" in caught.value.message
    assert "wxyz" not in str(caught.value)
    assert "wxyz" not in repr(connector.credentials)


async def test_verify_fills_credentials_extra(mock_http: httpx.AsyncClient) -> None:
    connector = make_connector(mock_http)
    account = await connector.verify()
    assert (account.external_id, account.handle) == (DID, "alice.test")
    assert account.url == "https://bsky.app/profile/alice.test"
    assert connector.credentials.extra["did"] == DID
    assert connector.credentials.extra["base_url"] == BASE
    assert connector.credentials.access_token == APP_PASSWORD


async def test_rate_limited_sign_in_is_rate_limited(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on(
        "com.atproto.server.createSession",
        answer(429, "error_rate_limited.json", {"retry-after": "300"}),
    )
    with pytest.raises(RateLimited) as caught:
        await make_connector(mock_http).verify()
    assert caught.value.retry_after == 300


async def test_expired_token_is_refreshed_once_and_the_call_repeated(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.repo.createRecord", answer(400, "error_expired_token.json"))
    result = await make_connector(mock_http).publish(outbound())
    assert result.external_id.endswith(record_key("delivery-1"))
    order = [name.rsplit(".", 1)[1] for name, _ in scripted.calls]
    assert order == ["createSession", "createRecord", "refreshSession", "createRecord"]
    refreshed = fixture("refresh_session.json")["accessJwt"]
    last = scripted.calls[-1][1]
    assert last.headers["authorization"] == f"Bearer {refreshed}"


async def test_refused_refresh_signs_in_again(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.repo.createRecord", answer(400, "error_expired_token.json"))
    scripted.on("com.atproto.server.refreshSession", answer(400, "error_expired_token.json"))
    await make_connector(mock_http).publish(outbound())
    assert scripted.count("com.atproto.server.createSession") == 2
    assert scripted.count("com.atproto.repo.createRecord") == 2


async def test_token_refused_after_renewal_is_auth_expired(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    expired = answer(400, "error_expired_token.json")
    scripted.on("com.atproto.repo.createRecord", expired, answer(400, "error_expired_token.json"))
    with pytest.raises(AuthExpired, match="reconnect"):
        await make_connector(mock_http).publish(outbound())
    assert scripted.count("com.atproto.repo.createRecord") == 2


async def test_an_access_token_about_to_expire_is_refreshed_first(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    session = fixture("create_session.json")
    header, _, signature = session["accessJwt"].split(".")
    soon = int(dt.datetime.now(dt.UTC).timestamp()) + 10
    payload = base64.urlsafe_b64encode(json.dumps({"exp": soon}).encode()).rstrip(b"=").decode()
    session["accessJwt"] = f"{header}.{payload}.{signature}"
    scripted.on("com.atproto.server.createSession", httpx.Response(200, json=session))
    connector = make_connector(mock_http)
    await connector.verify()  # then the token is about to expire: refresh before using it
    await connector.publish(outbound())
    order = [name.rsplit(".", 1)[1] for name, _ in scripted.calls]
    assert order == ["createSession", "refreshSession", "getRecord", "createRecord"]
    refreshed = fixture("refresh_session.json")["accessJwt"]
    assert scripted.calls[-1][1].headers["authorization"] == f"Bearer {refreshed}"


# --- exactly once ---------------------------------------------------------------------------


async def test_500_on_existing_rkey_then_get_record_says_ours_is_published(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    post = outbound(text="same text")
    rkey = record_key(post.idempotency_key)
    scripted.records[rkey] = post.text  # an earlier attempt made it
    scripted.on("com.atproto.repo.createRecord", answer(500, "error_internal.json"))
    result = await make_connector(mock_http).publish(post)
    assert result == PublishResult(
        external_id=f"at://{DID}/app.bsky.feed.post/{rkey}",
        url=f"https://bsky.app/profile/alice.test/post/{rkey}",
    )
    assert scripted.count("com.atproto.repo.createRecord") == 1
    assert scripted.count("com.atproto.repo.getRecord") == 1


async def test_500_with_nothing_there_is_transient_and_safe_to_retry(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.repo.createRecord", answer(500, "error_internal.json"))
    with pytest.raises(TransientError, match="trying again is safe") as caught:
        await make_connector(mock_http).publish(outbound())
    assert not isinstance(caught.value, UncertainOutcome)


async def test_lost_answer_is_found_at_the_record_key(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.repo.createRecord", timeout_after_forwarding(scripted))
    result = await make_connector(mock_http).publish(outbound())
    assert result.external_id.endswith(record_key("delivery-1"))
    assert scripted.count("com.atproto.repo.createRecord") == 1


async def test_lost_answer_and_unreachable_pds_stays_uncertain(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.repo.createRecord", raise_(httpx.ReadTimeout, "slow"))
    scripted.on("com.atproto.repo.getRecord", raise_(httpx.ConnectError, "down"))
    with pytest.raises(UncertainOutcome):
        await make_connector(mock_http).publish(outbound())


async def test_a_different_post_at_the_record_key_is_rejected(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.records[record_key("delivery-1")] = "the text before an edit"
    scripted.on("com.atproto.repo.createRecord", answer(500, "error_internal.json"))
    with pytest.raises(Rejected, match="another post already holds"):
        await make_connector(mock_http).publish(outbound(text="the edited text"))


async def test_thread_reply_refs_and_resume_from_first_missing_part(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    post = outbound(text="one", thread=("two", "three"), first_comment="comment")
    keys = [record_key(post.idempotency_key, i) for i in range(4)]
    scripted.records[keys[0]] = "one"  # a crash left the first two parts
    scripted.records[keys[1]] = "two"
    scripted.on("com.atproto.repo.createRecord", answer(500, "error_internal.json"))
    result = await make_connector(mock_http).publish(post)

    assert result.external_id.endswith(keys[0])
    assert [parse_at_uri(uri)[2] for uri in result.part_ids] == keys[1:]
    created = scripted.bodies("com.atproto.repo.createRecord")
    assert [body["rkey"] for body in created] == [keys[0], keys[2], keys[3]]
    root = {"uri": f"at://{DID}/app.bsky.feed.post/{keys[0]}", "cid": f"bafyrei{keys[0]}"}
    second = {"uri": f"at://{DID}/app.bsky.feed.post/{keys[1]}", "cid": f"bafyrei{keys[1]}"}
    assert created[1]["record"]["reply"] == {"root": root, "parent": second}
    assert created[2]["record"]["reply"] == {"root": root, "parent": root}  # the comment


async def test_find_published_needs_every_part(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    post = outbound(text="one", thread=("two",))
    connector = make_connector(mock_http)
    assert await connector.find_published(post) is None
    scripted.records[record_key(post.idempotency_key, 0)] = "one"
    assert await connector.find_published(post) is None  # half a thread: publish resumes
    scripted.records[record_key(post.idempotency_key, 1)] = "two"
    found = await connector.find_published(post)
    assert found is not None
    assert len(found.part_ids) == 1


async def test_a_repeat_with_media_uploads_nothing(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    post = outbound(media=(media(tmp_path, "a.png", png(2, 2), "image/png"),))
    scripted.records[record_key(post.idempotency_key)] = post.text
    await make_connector(mock_http).publish(post)
    assert scripted.count("com.atproto.repo.uploadBlob") == 0
    assert scripted.count("com.atproto.repo.createRecord") == 0


# --- content --------------------------------------------------------------------------------


async def test_unresolvable_mention_stays_text(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.identity.resolveHandle", answer(400, "error_handle_not_found.json"))
    await make_connector(mock_http).publish(outbound(text="hi @ghost.test see https://a.example"))
    record = scripted.bodies("com.atproto.repo.createRecord")[0]["record"]
    kinds = [f["features"][0]["$type"] for f in record["facets"]]
    assert kinds == ["app.bsky.richtext.facet#link"]


async def test_a_failing_handle_lookup_is_not_silently_dropped(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    scripted.on("com.atproto.identity.resolveHandle", httpx.Response(502, text="bad gateway"))
    with pytest.raises(TransientError):
        await make_connector(mock_http).publish(outbound(text="hi @bob.test"))
    assert scripted.count("com.atproto.repo.createRecord") == 0


@pytest.mark.parametrize(
    ("kinds", "match"),
    [
        (["image/png"] * 5, "at most 4"),
        (["image/png", "video/mp4"], "one video"),
        (["image/tiff"], "does not take image/tiff"),
    ],
)
async def test_impossible_media_is_rejected_before_any_call(
    scripted: ScriptedPds,
    mock_http: httpx.AsyncClient,
    tmp_path: Path,
    kinds: list[str],
    match: str,
) -> None:
    items = tuple(media(tmp_path, f"m{i}", b"x", kind) for i, kind in enumerate(kinds))
    with pytest.raises(Rejected, match=match):
        await make_connector(mock_http).publish(outbound(media=items))
    assert scripted.calls == []


async def test_upload_too_large_is_rejected(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    scripted.on("com.atproto.repo.uploadBlob", answer(413, "error_payload_too_large.json"))
    item = media(tmp_path, "a.png", png(2, 2), "image/png")
    with pytest.raises(Rejected, match="larger than this server accepts"):
        await make_connector(mock_http).publish(outbound(media=(item,)))


async def test_delete_refuses_another_accounts_post(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    connector = make_connector(mock_http)
    with pytest.raises(Rejected, match="another Bluesky account"):
        await connector.delete("at://did:plc:someoneelse/app.bsky.feed.post/3jzfcijpj2z2a")
    with pytest.raises(Rejected, match="not a Bluesky post id"):
        await connector.delete("https://bsky.app/profile/x/post/y")
    assert scripted.count("com.atproto.repo.deleteRecord") == 0


async def test_delete_removes_the_thread_last_part_first(
    scripted: ScriptedPds, mock_http: httpx.AsyncClient
) -> None:
    uris = [f"at://{DID}/app.bsky.feed.post/{record_key('d', i)}" for i in range(3)]
    await make_connector(mock_http).delete(uris[0], part_ids=uris[1:])
    deleted = [body["rkey"] for body in scripted.bodies("com.atproto.repo.deleteRecord")]
    assert deleted == [parse_at_uri(uri)[2] for uri in reversed(uris)]


async def test_post_url_uses_the_configured_web_base(mock_http: httpx.AsyncClient) -> None:
    connector = make_connector(mock_http, web_url="https://social.example/")
    result = await connector.publish(outbound())
    assert (
        result.url == f"https://social.example/profile/alice.test/post/{record_key('delivery-1')}"
    )


# === against the real PDS ===================================================================


class LossyTransport(httpx.AsyncBaseTransport):
    """The real PDS, except that chosen createRecord calls lose their answer or never arrive."""

    def __init__(
        self,
        *,
        lose_answer: frozenset[int] = frozenset(),
        never_arrive: frozenset[int] = frozenset(),
    ) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lose_answer = set(lose_answer)
        self.never_arrive = set(never_arrive)
        self.creates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/com.atproto.repo.createRecord"):
            self.creates += 1
            if self.creates in self.never_arrive:
                raise httpx.ReadTimeout("request lost on the way", request=request)
            if self.creates in self.lose_answer:
                response = await self.inner.handle_async_request(request)
                await response.aread()
                await response.aclose()
                raise httpx.ReadTimeout("answer lost on the way back", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


def real_connector(
    pds: LocalPds, account: PdsAccount, http: httpx.AsyncClient, password: str | None = None
) -> BlueskyConnector:
    credentials = Credentials(
        access_token=password or account.app_password, extra={"handle": account.handle}
    )
    return BlueskyConnector(http=http, credentials=credentials, base_url=pds.url)


async def get_record(http: httpx.AsyncClient, pds: LocalPds, uri: str) -> dict[str, Any]:
    repo, collection, rkey = parse_at_uri(uri)
    response = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": repo, "collection": collection, "rkey": rkey},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_posts(http: httpx.AsyncClient, pds: LocalPds, did: str) -> list[dict[str, Any]]:
    response = await http.get(
        f"{pds.url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.feed.post", "limit": "100"},
    )
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


#: On the real PDS. The first such test may install it: about 2 minutes on an empty cache.
slow = pytest.mark.slow
on_pds_timeout = pytest.mark.timeout(900)


@slow
@on_pds_timeout
async def test_pds_verify_with_app_password(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    connector = real_connector(pds, pds_account, http)
    account = await connector.verify()
    assert (account.external_id, account.handle) == (pds_account.did, pds_account.handle)
    assert connector.credentials.extra["did"] == pds_account.did


@slow
@on_pds_timeout
async def test_pds_verify_with_a_wrong_app_password(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    wrong = "zzzz-zzzz-zzzz-zzzz"
    with pytest.raises(AuthExpired) as caught:
        await real_connector(pds, pds_account, http, password=wrong).verify()
    assert "Invalid identifier or password" in caught.value.message
    assert wrong not in str(caught.value)
    assert pds_account.app_password not in str(caught.value)


@slow
@on_pds_timeout
async def test_pds_text_with_link_mention_and_hashtag_facets(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    friend = pds.create_account()
    text = (
        f"Grüße 🦋 from socialdesk: https://example.com/launch?utm=1, "
        f"hi @{friend.handle} and @nobody.test #LaunchDay"
    )
    connector = real_connector(pds, pds_account, http)
    result = await connector.publish(outbound("facets-1", text, options={"link_card": False}))

    record = (await get_record(http, pds, result.external_id))["value"]
    assert record["text"] == text
    encoded = text.encode("utf-8")
    spans = {}
    for facet in record["facets"]:
        index, feature = facet["index"], facet["features"][0]
        spans[feature["$type"].split("#")[1]] = (
            encoded[index["byteStart"] : index["byteEnd"]].decode("utf-8"),
            feature,
        )
    assert spans["link"] == (
        "https://example.com/launch?utm=1",
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/launch?utm=1"},
    )
    assert spans["mention"] == (
        f"@{friend.handle}",
        {"$type": "app.bsky.richtext.facet#mention", "did": friend.did},
    )
    assert spans["tag"] == (
        "#LaunchDay",
        {"$type": "app.bsky.richtext.facet#tag", "tag": "LaunchDay"},
    )
    assert len(record["facets"]) == 3  # @nobody.test does not resolve: plain text
    assert "embed" not in record
    assert parse_at_uri(result.external_id)[2] == record_key("facets-1")  # the PDS took our TID


@slow
@on_pds_timeout
async def test_pds_images_with_alt_text(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    items = (
        media(tmp_path, "red.png", png(40, 30), "image/png", alt_text="A red rectangle"),
        media(tmp_path, "wide.jpg", jpeg_header(1200, 627), "image/jpeg", alt_text="A card"),
        media(tmp_path, "sq.png", png(8, 8), "image/png", alt_text="", width=500, height=500),
    )
    connector = real_connector(pds, pds_account, http)
    result = await connector.publish(outbound("images-1", "three pictures", media=items))

    embed = (await get_record(http, pds, result.external_id))["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    got = [
        (i["alt"], i["aspectRatio"], i["image"]["mimeType"], i["image"]["size"])
        for i in embed["images"]
    ]
    assert got == [
        ("A red rectangle", {"width": 40, "height": 30}, "image/png", items[0].size_bytes),
        ("A card", {"width": 1200, "height": 627}, "image/jpeg", items[1].size_bytes),
        ("", {"width": 500, "height": 500}, "image/png", items[2].size_bytes),
    ]


@slow
@on_pds_timeout
async def test_pds_video(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    clip = media(
        tmp_path, "clip.mp4", mp4_stub(), "video/mp4", alt_text="A clip", width=1920, height=1080
    )
    connector = real_connector(pds, pds_account, http)
    result = await connector.publish(outbound("video-1", "a video", media=(clip,)))
    embed = (await get_record(http, pds, result.external_id))["value"]["embed"]
    assert embed["$type"] == "app.bsky.embed.video"
    assert embed["video"]["mimeType"] == "video/mp4"
    assert (embed["alt"], embed["aspectRatio"]) == ("A clip", {"width": 1920, "height": 1080})


@slow
@on_pds_timeout
async def test_pds_link_card(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    post = outbound(
        "card-1",
        "Our launch post",
        link="https://example.com/launch",
        options={"link_title": "Launch", "link_description": "All about it"},
    )
    result = await real_connector(pds, pds_account, http).publish(post)
    embed = (await get_record(http, pds, result.external_id))["value"]["embed"]
    assert embed == {
        "$type": "app.bsky.embed.external",
        "external": {
            "uri": "https://example.com/launch",
            "title": "Launch",
            "description": "All about it",
        },
    }


@slow
@on_pds_timeout
async def test_pds_thread_of_three(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    post = outbound("thread-1", "1/3 a thread", thread=("2/3 goes on", "3/3 ends"))
    result = await real_connector(pds, pds_account, http).publish(post)
    assert len(result.part_ids) == 2
    records = [await get_record(http, pds, uri) for uri in (result.external_id, *result.part_ids)]
    assert [r["value"]["text"] for r in records] == ["1/3 a thread", "2/3 goes on", "3/3 ends"]
    root = {"uri": records[0]["uri"], "cid": records[0]["cid"]}
    assert "reply" not in records[0]["value"]
    assert records[1]["value"]["reply"] == {"root": root, "parent": root}
    parent = {"uri": records[1]["uri"], "cid": records[1]["cid"]}
    assert records[2]["value"]["reply"] == {"root": root, "parent": parent}


@slow
@on_pds_timeout
async def test_pds_repeat_publish_makes_exactly_one_post(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    post = outbound("repeat-1", "only once")
    first = await real_connector(pds, pds_account, http).publish(post)
    again = await real_connector(pds, pds_account, http).publish(post)  # a new worker
    assert again == first
    assert len(await list_posts(http, pds, pds_account.did)) == 1


@slow
@on_pds_timeout
async def test_pds_lost_answer_mid_thread_still_makes_each_part_once(
    pds: LocalPds, pds_account: PdsAccount
) -> None:
    post = outbound("lossy-1", "part one", thread=("part two", "part three"))
    transport = LossyTransport(lose_answer=frozenset({2}))  # part two is created, its answer lost
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
        result = await real_connector(pds, pds_account, client).publish(post)
        posts = await list_posts(client, pds, pds_account.did)
    assert len(result.part_ids) == 2
    assert sorted(p["value"]["text"] for p in posts) == ["part one", "part three", "part two"]


@slow
@on_pds_timeout
async def test_pds_thread_resumes_after_a_failed_part(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    post = outbound("resume-1", "first", thread=("second", "third"))
    transport = LossyTransport(never_arrive=frozenset({2}))
    async with httpx.AsyncClient(transport=transport, timeout=30.0) as client:
        with pytest.raises(TransientError, match="trying again is safe"):
            await real_connector(pds, pds_account, client).publish(post)
    assert [p["value"]["text"] for p in await list_posts(http, pds, pds_account.did)] == ["first"]
    connector = real_connector(pds, pds_account, http)
    assert await connector.find_published(post) is None  # half a thread is not published
    result = await connector.publish(post)
    posts = await list_posts(http, pds, pds_account.did)
    assert sorted(p["value"]["text"] for p in posts) == ["first", "second", "third"]
    assert parse_at_uri(result.external_id)[2] == record_key("resume-1", 0)


@slow
@on_pds_timeout
async def test_pds_find_published_before_and_after_then_delete(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    post = outbound("find-1", "find me", thread=("and me",))
    connector = real_connector(pds, pds_account, http)
    assert await connector.find_published(post) is None
    published = await connector.publish(post)
    assert await connector.find_published(post) == published

    await connector.delete(published.external_id, part_ids=published.part_ids)
    assert await list_posts(http, pds, pds_account.did) == []
    assert await connector.find_published(post) is None
    await connector.delete(published.external_id)  # deleting again is harmless


@slow
@on_pds_timeout
async def test_pds_counts_graphemes_and_refuses_301(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    connector = real_connector(pds, pds_account, http)
    thumbs = "👍🏽" * 300  # 300 graphemes, 600 code points, 2,400 bytes: allowed
    await connector.publish(outbound("graphemes-300", thumbs))
    with pytest.raises(Rejected) as caught:
        await connector.publish(outbound("graphemes-301", "a" * 300 + "👍🏽"))
    assert "grapheme too big (maximum 300, got 301)" in caught.value.reason
    assert [p["value"]["text"] for p in await list_posts(http, pds, pds_account.did)] == [thumbs]


@slow
@on_pds_timeout
@pytest.mark.parametrize(
    ("size", "reason"),
    [(2_500_000, "blob too big (maximum 2000000"), (6_000_000, "request entity too large")],
    ids=["over-the-lexicon", "over-the-upload-limit"],
)
async def test_pds_oversized_image_is_rejected(
    pds: LocalPds,
    pds_account: PdsAccount,
    http: httpx.AsyncClient,
    tmp_path: Path,
    size: int,
    reason: str,
) -> None:
    data = png(1, 1) + b"\x00" * (size - len(png(1, 1)))
    item = media(tmp_path, "big.png", data, "image/png", alt_text="big")
    with pytest.raises(Rejected) as caught:
        await real_connector(pds, pds_account, http).publish(
            outbound("big-1", "big", media=(item,))
        )
    assert reason in caught.value.reason
    assert await list_posts(http, pds, pds_account.did) == []


@slow
@on_pds_timeout
async def test_pds_session_is_renewed_when_its_token_is_refused(
    pds: LocalPds, pds_account: PdsAccount, http: httpx.AsyncClient
) -> None:
    connector = real_connector(pds, pds_account, http)
    await connector.verify()
    assert connector._session is not None
    connector._session.access_jwt = "not-a-token"  # revoked or corrupted
    await connector.publish(outbound("renew-1", "after renewal"))
    assert len(await list_posts(http, pds, pds_account.did)) == 1
