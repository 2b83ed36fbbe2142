# SPDX-License-Identifier: AGPL-3.0-or-later
"""Bluesky: everything socialdesk knows about the AT Protocol and its ``app.bsky`` lexicons.

A channel connects with a handle and an **app password** (no OAuth) on any PDS; the
connector opens a session (``com.atproto.server.createSession``), keeps its tokens in
memory only and refreshes them (``refreshSession``) when they expire. What the channel
stores (:class:`Credentials`; :meth:`BlueskyConnector.verify` fills ``extra``)::

    access_token   the app password (xxxx-xxxx-xxxx-xxxx); it does not expire
    extra          handle (or identifier), did, base_url (the PDS or entryway; default
                   https://bsky.social), optional web_url (where post links point;
                   default https://bsky.app) and pds_endpoint (from the DID document)

createSession is rate limited per handle (30 per 5 minutes, 300 a day on bsky.social):
reuse one connector per channel for many deliveries rather than one per delivery.

Publishing happens **exactly once** because socialdesk chooses each record key: the rkey
of every part of a delivery is a TID derived from the delivery's idempotency key and the
part's index (:func:`record_key`). A repeated ``createRecord`` cannot make a second post;
the reference PDS answers it with ``500 InternalServerError`` (not 409), so after any
failed or uncertain create the connector reads the record at that key and, when it holds
the same text, takes it as published. A thread resumes from its first missing part.

API: com.atproto.server.createSession / refreshSession, com.atproto.repo.uploadBlob /
createRecord / getRecord / deleteRecord, com.atproto.identity.resolveHandle; records
app.bsky.feed.post with app.bsky.richtext.facet (UTF-8 byte offsets) and embeds
app.bsky.embed.images / video / external. Lexicons as bundled with @atproto/pds 0.5.35.

The inbox reads app.bsky.notification.listNotifications (reasons reply, mention, quote)
through the PDS, which proxies app.bsky.* to its AppView; ``extra["appview_url"]`` and
``appview_did`` send it straight to an AppView instead, with a token from
com.atproto.server.getServiceAuth. Answers are app.bsky.feed.post records with
``reply: {root, parent}`` at the deterministic record key; likes are app.bsky.feed.like
records at a key derived from the liked post. Tested against @atproto/bsky 0.0.280 (the
AppView of @atproto/dev-env 0.6.7). Authors' follower counts are not in a notification
(``followers`` stays None).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import re
import struct
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import anyio
import httpx

from socialdesk.connectors.base import (
    AccountInfo,
    Capabilities,
    Connector,
    Credentials,
    Idempotency,
    InboundAuthor,
    InboundItem,
    InboundKind,
    InboxPage,
    MediaItem,
    MediaRules,
    Network,
    OutboundPost,
    PublishResult,
    RateLimit,
    ReplyTarget,
    TextCounting,
    TextRules,
)
from socialdesk.connectors.http import ErrorMapper, reason_of, retry_after_seconds
from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)

__all__ = [
    "BlueskyConnector",
    "BlueskyErrorMapper",
    "Facet",
    "decode_tid",
    "detect_facets",
    "encode_tid",
    "image_dimensions",
    "is_valid_tid",
    "parse_at_uri",
    "record_key",
]

logger = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
LIKE_COLLECTION = "app.bsky.feed.like"
DEFAULT_WEB_URL = "https://bsky.app"
#: Renew a session this long before its access token expires.
_EXPIRY_MARGIN = dt.timedelta(seconds=60)

# --- record keys: deterministic TIDs --------------------------------------------------------
#
# A TID is a 64-bit integer written as 13 base32-sortable characters: the top bit 0, then
# 53 bits of microseconds since the Unix epoch, then a 10-bit clock id
# (https://atproto.com/specs/tid). Ours take both fields from a hash of the idempotency key,
# with the timestamp inside [2020-01-01, 2023-01-01): a valid, plausible time that no client
# minting TIDs from its own clock after Bluesky opened will produce. Part i of a delivery is
# part 0's timestamp plus i microseconds: distinct, and listed in order.

_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_PATTERN = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_TID_RANGE_START_US = int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
_TID_RANGE_US = int(
    (dt.datetime(2023, 1, 1, tzinfo=dt.UTC) - dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    / dt.timedelta(microseconds=1)
)
#: Room left at the end of the range for the parts of one delivery.
MAX_PARTS = 10_000
_RKEY_DOMAIN = b"socialdesk/bluesky/rkey/v1\x00"


def encode_tid(timestamp_us: int, clock_id: int) -> str:
    """The TID for a microsecond timestamp and a 10-bit clock id."""
    if not 0 <= timestamp_us < 1 << 53:
        raise ValueError("a TID timestamp has 53 bits")
    if not 0 <= clock_id < 1 << 10:
        raise ValueError("a TID clock id has 10 bits")
    value = (timestamp_us << 10) | clock_id
    return "".join(_TID_ALPHABET[(value >> (5 * (12 - i))) & 31] for i in range(13))


def decode_tid(tid: str) -> tuple[int, int]:
    """``(timestamp_us, clock_id)`` of a TID; ValueError if it is not one."""
    if not is_valid_tid(tid):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for char in tid:
        value = (value << 5) | _TID_ALPHABET.index(char)
    return value >> 10, value & 0x3FF


def is_valid_tid(value: str) -> bool:
    return bool(_TID_PATTERN.match(value))


def record_key(idempotency_key: str, part: int = 0) -> str:
    """The record key of part ``part`` (0 = the post itself) of a delivery."""
    if not idempotency_key:
        raise ValueError("an idempotency key is required")
    if not 0 <= part < MAX_PARTS:
        raise ValueError(f"part must be in [0, {MAX_PARTS})")
    digest = hashlib.sha256(_RKEY_DOMAIN + idempotency_key.encode("utf-8")).digest()
    number = int.from_bytes(digest[:8], "big")
    offset = (number >> 10) % (_TID_RANGE_US - MAX_PARTS)
    return encode_tid(_TID_RANGE_START_US + offset + part, number & 0x3FF)


# --- rich text facets -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facet:
    """A detected link, mention or hashtag, with UTF-8 byte offsets into the text."""

    byte_start: int
    byte_end: int
    kind: Literal["link", "mention", "tag"]
    #: The URI (link), the handle without ``@`` (mention) or the tag without ``#``.
    value: str

    def to_record(self, *, did: str | None = None) -> dict[str, Any]:
        feature: dict[str, Any]
        if self.kind == "link":
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": self.value}
        elif self.kind == "mention":
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
        else:
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": self.value}
        return {
            "$type": "app.bsky.richtext.facet",
            "index": {"byteStart": self.byte_start, "byteEnd": self.byte_end},
            "features": [feature],
        }


# Same rules as the Bluesky app (@atproto/api rich-text detection), written for Python:
# a mention or link starts the text or follows whitespace or "("; a tag follows whitespace.
_MENTION = re.compile(r"(?:^|(?<=[\s(]))@([a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)")
_HANDLE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_LINK = re.compile(r"(?:^|(?<=[\s(]))(https?://\S+)", re.IGNORECASE)
_TAG = re.compile(r"(?:^|(?<=\s))[#\uff03](\S+)")
#: Characters that end a hashtag although they are not white space.
_TAG_BREAKS = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_TAG_MAX_CHARS = 64  # the lexicon: 64 graphemes, 640 bytes; code points are never fewer
_LINK_TRAILING = ".,;:!?\"'"


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _trim_link(uri: str) -> str:
    while uri:
        if uri[-1] in _LINK_TRAILING or (uri[-1] == ")" and uri.count(")") > uri.count("(")):
            uri = uri[:-1]
        else:
            break
    return uri


def detect_facets(text: str) -> list[Facet]:
    """Links (http/https), @handle mentions and #hashtags in ``text``, by byte offset.

    Mentions carry the handle; the connector resolves it to a DID before publishing.
    """
    spans: list[tuple[int, int, Literal["link", "mention", "tag"], str]] = []
    for match in _LINK.finditer(text):
        uri = _trim_link(match.group(1))
        if urllib.parse.urlsplit(uri).hostname:
            spans.append((match.start(1), match.start(1) + len(uri), "link", uri))
    for match in _MENTION.finditer(text):
        handle = match.group(1)
        if _HANDLE.match(handle) and len(handle) <= 253:
            spans.append((match.start(), match.end(), "mention", handle))
    for match in _TAG.finditer(text):
        tag = match.group(1)
        for index, char in enumerate(tag):
            if char in _TAG_BREAKS:
                tag = tag[:index]
                break
        while tag and _is_punctuation(tag[-1]):
            tag = tag[:-1]
        if (
            not tag
            or tag.startswith("\ufe0f")  # a keycap: #️⃣
            or len(tag) > _TAG_MAX_CHARS
            or all(c.isdigit() or _is_punctuation(c) for c in tag)
        ):
            continue
        spans.append((match.start(), match.start(1) + len(tag), "tag", tag))

    spans.sort(key=lambda span: (span[0], span[1]))
    facets: list[Facet] = []
    taken_until = -1
    for start, end, kind, value in spans:
        if start < taken_until:
            continue  # overlaps an earlier facet (e.g. a "#fragment" inside a link)
        taken_until = end
        facets.append(
            Facet(
                byte_start=len(text[:start].encode("utf-8")),
                byte_end=len(text[:end].encode("utf-8")),
                kind=kind,
                value=value,
            )
        )
    return facets


# --- images: dimensions for aspectRatio -----------------------------------------------------

_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, GIF, WebP or JPEG header; None if unknown.

    JPEG EXIF orientation is not applied: prefer the library's stored dimensions.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
            return width, height
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        return None
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 <= len(data):
            if data[index] != 0xFF:
                index += 1
                continue
            marker = data[index + 1]
            if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
                index += 1 if marker == 0xFF else 2
                continue
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            index += 2 + int.from_bytes(data[index + 2 : index + 4], "big")
    return None


# --- AT URIs --------------------------------------------------------------------------------


def parse_at_uri(uri: str) -> tuple[str, str, str]:
    """``(repo, collection, rkey)`` of ``at://repo/collection/rkey``."""
    if not uri.startswith("at://"):
        raise ValueError(f"not an at:// URI: {uri!r}")
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"not a record URI: {uri!r}")
    return parts[0], parts[1], parts[2]


# --- errors ---------------------------------------------------------------------------------


class _SessionExpired(AuthExpired):
    """The access token expired or is not accepted: renew the session once, then retry."""


class _AuthRefused(AuthExpired):
    """The server refused the credentials or the account; ``reason`` is its word."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _RecordNotFound(Rejected):
    """getRecord found nothing at that key."""


def _xrpc_error(response: httpx.Response) -> str:
    """The XRPC error name (``ExpiredToken``, ``InvalidRequest``...) or ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return ""


def _rate_limit_reset(response: httpx.Response, *, now: dt.datetime | None = None) -> float | None:
    """Seconds until ``ratelimit-reset`` (a Unix time, as Bluesky sends), else Retry-After."""
    value = response.headers.get("ratelimit-reset", "").strip()
    if value.isdigit():
        now = now or dt.datetime.now(dt.UTC)
        return max(0.0, int(value) - now.timestamp())
    return retry_after_seconds(response, now=now)


class BlueskyErrorMapper(ErrorMapper):
    """XRPC errors (``{"error": name, "message": text}``) mapped to the error tree."""

    _ACCOUNT_UNUSABLE = frozenset(
        {"AccountTakedown", "AccountDeactivated", "AccountSuspended", "AuthFactorTokenRequired"}
    )

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        name = _xrpc_error(response)
        reason = reason_of(response)
        where = self.network_name
        if name in ("ExpiredToken", "InvalidToken"):
            return _SessionExpired(f"{where} did not accept the session ({reason})")
        if name in self._ACCOUNT_UNUSABLE:
            return _AuthRefused(
                f"{where} refused the account ({name}: {reason}); reconnect the channel",
                reason=f"{name}: {reason}",
            )
        if status == 401:
            return _AuthRefused(
                f"{where} refused the credentials ({reason}); reconnect the channel",
                reason=reason,
            )
        if name == "RecordNotFound" or (status == 404 and name in ("", "NotFound")):
            return _RecordNotFound(f"{where}: {reason}", reason=reason)
        if status == 429 or name == "RateLimitExceeded":
            return RateLimited(
                f"{where} is rate limiting this account ({reason})",
                retry_after=_rate_limit_reset(response),
            )
        if status == 413:
            return Rejected(
                f"{where} refused the upload: the file is larger than this server accepts "
                f"({reason})",
                reason=reason,
            )
        if status == 400:
            return Rejected(f"{where} refused the post: {reason}", reason=reason)
        return super().classify(response)


# --- the session ----------------------------------------------------------------------------


def _jwt_expiry(token: str) -> dt.datetime | None:
    """The ``exp`` claim of a JWT, unverified (only to renew in time)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        return None


@dataclass(slots=True)
class _Session:
    did: str
    handle: str
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)
    #: The PDS that hosts the account, from the DID document when the server sends it.
    pds_endpoint: str | None = None

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> _Session:
        endpoint = None
        did_doc = body.get("didDoc")
        if isinstance(did_doc, Mapping):
            for service in did_doc.get("service") or ():
                if isinstance(service, Mapping) and str(service.get("id", "")).endswith(
                    "#atproto_pds"
                ):
                    endpoint = str(service.get("serviceEndpoint") or "") or None
        return cls(
            did=str(body["did"]),
            handle=str(body["handle"]),
            access_jwt=str(body["accessJwt"]),
            refresh_jwt=str(body["refreshJwt"]),
            pds_endpoint=endpoint,
        )

    def access_fresh(self, now: dt.datetime) -> bool:
        expiry = _jwt_expiry(self.access_jwt)
        return expiry is None or now + _EXPIRY_MARGIN < expiry


@dataclass(frozen=True, slots=True)
class _StrongRef:
    uri: str
    cid: str

    def to_record(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}


_APP_PASSWORD = re.compile(r"^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$")


# --- the connector --------------------------------------------------------------------------


class BlueskyConnector(Connector):
    network = Network.BLUESKY
    display_name = "Bluesky"
    text_rules = TextRules(
        max_length=300,
        counting=TextCounting.GRAPHEMES,
        source=(
            "lexicon app.bsky.feed.post: text maxGraphemes 300 (and maxLength 3000 UTF-8 "
            "bytes), https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/"
            "feed/post.json; enforced by the PDS (@atproto/pds 0.5.35)"
        ),
        checked="2026-11",
    )
    media_rules = MediaRules(
        max_items=4,
        image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        video_types=frozenset({"video/mp4"}),
        max_image_bytes=2_000_000,
        max_video_bytes=300_000_000,
        max_video_seconds=600.0,
        max_image_side=4000,
        max_alt_text=2000,
        max_videos=1,
        mix_images_and_video=False,
        source=(
            "lexicons app.bsky.embed.images (4 images, blob maxSize 2,000,000 bytes, was "
            "1,000,000 before 2026-04) and app.bsky.embed.video (video/mp4, maxSize "
            "300,000,000) as bundled with @atproto/pds 0.5.35; social-app "
            "src/lib/constants.ts (MAX_ALT_TEXT 2000 graphemes, images up to 4000 px, "
            "VIDEO_MAX_DURATION_MS 10 min). GIFs are shown still. A PDS may upload less "
            "(PDS_BLOB_UPLOAD_LIMIT; the self-hosted default is 5 MiB or 50 MB): 413."
        ),
        checked="2026-11",
    )
    capabilities = Capabilities(
        idempotency=Idempotency.RECORD_KEY,
        threads=True,
        first_comment=True,  # a reply to the post, by the same account
        delete=True,
        link_card=True,
        oauth=False,  # a handle, an app password and the PDS URL
    )
    #: 5,000 write points an hour, a create costs 3: 1,666 posts an hour.
    rate_limit = RateLimit(
        max_posts=5_000 // 3,
        per_seconds=3_600,
        source=(
            "https://docs.bsky.app/docs/advanced-guides/rate-limits: per account (DID) "
            "5,000 points/hour and 35,000 points/day; CREATE = 3, UPDATE = 2, DELETE = 1 "
            "(checked 2026-11)"
        ),
    )
    #: The daily half of the same published limit: 35,000 points, 11,666 posts a day.
    daily_rate_limit: ClassVar[RateLimit] = RateLimit(
        max_posts=35_000 // 3, per_seconds=86_400, source=rate_limit.source
    )
    default_base_url = "https://bsky.social"
    errors = BlueskyErrorMapper("Bluesky")
    #: No MESSAGE: direct messages (``chat.bsky.convo.*``) live on Bluesky's separate chat
    #: service, which the PDS reaches only by proxy to ``did:web:api.bsky.chat``; the
    #: reference PDS and AppView we test against have none, so they are not read yet.
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.REPLY, InboundKind.MENTION, InboundKind.QUOTE}
    )
    #: No ``hide``: hiding replies needs a threadgate record (``hiddenReplies``), not done yet.
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "like", "delete"})

    def __init__(
        self, *, http: httpx.AsyncClient, credentials: Credentials, base_url: str | None = None
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        self.web_url = (credentials.extra.get("web_url") or DEFAULT_WEB_URL).rstrip("/")
        #: Where ``app.bsky.*`` reads go. None (production): through the PDS, which proxies
        #: them to its AppView. Else this AppView, with a service token from the PDS for
        #: ``appview_did`` (a PDS without an AppView, or tests).
        appview = credentials.extra.get("appview_url")
        self.appview_url = appview.rstrip("/") if appview else None
        self.appview_did = credentials.extra.get("appview_did")
        if self.appview_url and not self.appview_did:
            raise ValueError("a Bluesky appview_url needs the AppView's DID (appview_did)")
        self._session: _Session | None = None
        self._session_lock = anyio.Lock()
        self._handle_dids: dict[str, str | None] = {}

    # --- sessions ---------------------------------------------------------------------

    @property
    def identifier(self) -> str:
        extra = self.credentials.extra
        return extra.get("identifier") or extra.get("handle") or extra.get("did") or ""

    @property
    def did(self) -> str | None:
        return self._session.did if self._session else self.credentials.extra.get("did")

    @property
    def handle(self) -> str | None:
        return self._session.handle if self._session else self.credentials.extra.get("handle")

    async def _create_session(self) -> _Session:
        identifier = self.identifier
        if not identifier:
            raise AuthExpired("this Bluesky channel has no handle; reconnect it")
        if not _APP_PASSWORD.match(self.credentials.access_token):
            logger.warning("the Bluesky channel %s does not use an app password", identifier)
        request = self.http.build_request(
            "POST",
            self._xrpc_url("com.atproto.server.createSession"),
            json={"identifier": identifier, "password": self.credentials.access_token},
        )
        try:
            response = await self.errors.send(self.http, request)
        except UncertainOutcome as exc:  # a session is no post: simply try again later
            raise TransientError(exc.message) from exc
        except (_AuthRefused, Rejected) as exc:
            reason = exc.reason
            raise AuthExpired(
                f"Bluesky refused the handle or app password for {identifier} ({reason}); "
                "create an app password and reconnect the channel"
            ) from exc
        self._session = _Session.from_response(response.json())
        logger.info("opened a Bluesky session for %s", self._session.did)
        return self._session

    async def _refresh_session(self, refresh_jwt: str) -> _Session:
        request = self.http.build_request(
            "POST",
            self._xrpc_url("com.atproto.server.refreshSession"),
            headers={"Authorization": f"Bearer {refresh_jwt}"},
        )
        try:
            response = await self.errors.send(self.http, request)
        except UncertainOutcome as exc:
            raise TransientError(exc.message) from exc
        self._session = _Session.from_response(response.json())
        logger.info("refreshed the Bluesky session for %s", self._session.did)
        return self._session

    async def _renew_session(self, stale: _Session | None) -> _Session:
        """Refresh the session with its refresh token, else sign in again."""
        async with self._session_lock:
            if self._session is not None and self._session is not stale:
                return self._session  # another task renewed it meanwhile
            if stale is not None:
                try:
                    return await self._refresh_session(stale.refresh_jwt)
                except (AuthExpired, Rejected):
                    logger.info("the Bluesky refresh token was refused; signing in again")
            return await self._create_session()

    async def _ensure_session(self) -> _Session:
        session = self._session
        if session is not None and session.access_fresh(dt.datetime.now(dt.UTC)):
            return session
        return await self._renew_session(session)

    def _xrpc_url(self, nsid: str) -> str:
        return f"{self.base_url}/xrpc/{nsid}"

    async def _xrpc(
        self,
        method: str,
        nsid: str,
        *,
        params: Mapping[str, str | Sequence[str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """One authenticated XRPC call; an expired session is renewed once and retried."""
        for attempt in (1, 2):
            session = await self._ensure_session()
            headers = {"Authorization": f"Bearer {session.access_jwt}"}
            if content_type:
                headers["Content-Type"] = content_type
            request = self.http.build_request(
                method,
                self._xrpc_url(nsid),
                params=params,
                json=json_body,
                content=content,
                headers=headers,
            )
            try:
                response = await self.errors.send(self.http, request)
            except _SessionExpired as exc:
                if attempt == 2:
                    raise AuthExpired(
                        f"{exc.message}, even after signing in again; reconnect the channel"
                    ) from exc
                logger.info("the Bluesky session expired (%s); renewing it", nsid)
                await self._renew_session(session)
                continue
            if not response.content:
                return {}
            body = response.json()
            return body if isinstance(body, dict) else {}
        raise AssertionError("unreachable")

    # --- verify -----------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        """Sign in with the handle and app password; the account's DID and handle.

        Afterwards ``self.credentials.extra`` holds did, handle and base_url to store.
        """
        session = await self._create_session()
        extra = {
            **self.credentials.extra,
            "did": session.did,
            "handle": session.handle,
            "base_url": self.base_url,
        }
        if session.pds_endpoint:
            extra["pds_endpoint"] = session.pds_endpoint
        self.credentials = Credentials(
            access_token=self.credentials.access_token,
            refresh_token=self.credentials.refresh_token,
            expires_at=self.credentials.expires_at,
            extra=extra,
        )
        display_name = ""
        try:
            profile = await self._xrpc(
                "GET",
                "com.atproto.repo.getRecord",
                params={
                    "repo": session.did,
                    "collection": "app.bsky.actor.profile",
                    "rkey": "self",
                },
            )
            value = profile.get("value")
            if isinstance(value, dict) and isinstance(value.get("displayName"), str):
                display_name = value["displayName"]
        except (Rejected, TransientError):
            pass  # no profile record yet, or not now: the name is a nicety
        return AccountInfo(
            external_id=session.did,
            handle=session.handle,
            display_name=display_name,
            url=f"{self.web_url}/profile/{session.handle}",
        )

    # --- publish ----------------------------------------------------------------------

    @staticmethod
    def part_texts(post: OutboundPost) -> list[str]:
        """The text of every record a delivery makes: post, thread parts, first comment."""
        texts = [post.text, *post.thread]
        if post.first_comment:
            texts.append(post.first_comment)
        return texts

    def post_url(self, uri: str) -> str:
        repo, _, rkey = parse_at_uri(uri)
        profile = self.handle if repo == self.did and self.handle else repo
        return f"{self.web_url}/profile/{profile}/post/{rkey}"

    def _result(self, refs: Sequence[_StrongRef]) -> PublishResult:
        return PublishResult(
            external_id=refs[0].uri,
            url=self.post_url(refs[0].uri),
            part_ids=tuple(ref.uri for ref in refs[1:]),
        )

    async def publish(self, post: OutboundPost) -> PublishResult:
        texts = self.part_texts(post)
        self._check_media(post.media)
        session = await self._ensure_session()
        refs: list[_StrongRef] = []
        # When a part already exists (a repeat), look before creating the next one; with
        # media, look first of all, so that a repeat does not upload the files again.
        look_first = bool(post.media)
        for index, text in enumerate(texts):
            rkey = record_key(post.idempotency_key, index)
            if look_first:
                found = await self._existing_part(session.did, rkey, text)
                if found is not None:
                    refs.append(found)
                    continue
                look_first = False  # parts are made in order: the later ones are missing too
            record = await self._post_record(post, index, text, refs)
            ref, existed = await self._create_part(session.did, rkey, record)
            refs.append(ref)
            look_first = existed
            logger.info(
                "Bluesky part %d/%d of %s is %s%s",
                index + 1,
                len(texts),
                post.idempotency_key,
                ref.uri,
                " (already there)" if existed else "",
            )
        return self._result(refs)

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        """The delivery if all its records exist; None if any is missing.

        A partly published thread answers None: publishing again is safe (the record keys
        are fixed) and resumes from the first missing part.
        """
        session = await self._ensure_session()
        refs: list[_StrongRef] = []
        for index, text in enumerate(self.part_texts(post)):
            found = await self._existing_part(
                session.did, record_key(post.idempotency_key, index), text
            )
            if found is None:
                if refs:
                    logger.info(
                        "%s is published up to part %d of %d",
                        post.idempotency_key,
                        index,
                        len(self.part_texts(post)),
                    )
                return None
            refs.append(found)
        return self._result(refs)

    async def delete(self, external_id: str, *, part_ids: Sequence[str] = ()) -> None:
        """Delete a post and, when given, the other records of its thread (last first)."""
        session = await self._ensure_session()
        uris = [external_id, *part_ids]
        targets = []
        for uri in uris:
            try:
                repo, collection, rkey = parse_at_uri(uri)
            except ValueError as exc:
                raise Rejected(f"not a Bluesky post id: {uri}") from exc
            if repo not in (session.did, session.handle):
                raise Rejected(f"{uri} belongs to another Bluesky account")
            targets.append((collection, rkey))
        for collection, rkey in reversed(targets):
            # deleting a record that is not there succeeds: a repeat is harmless
            await self._xrpc(
                "POST",
                "com.atproto.repo.deleteRecord",
                json_body={"repo": session.did, "collection": collection, "rkey": rkey},
            )
        logger.info("deleted %d Bluesky record(s) of %s", len(targets), external_id)

    # --- the pieces -------------------------------------------------------------------

    async def _existing_part(self, did: str, rkey: str, text: str) -> _StrongRef | None:
        """The record at ``rkey`` if it is this part; None if there is none."""
        try:
            body = await self._xrpc(
                "GET",
                "com.atproto.repo.getRecord",
                params={"repo": did, "collection": POST_COLLECTION, "rkey": rkey},
            )
        except _RecordNotFound:
            return None
        value = body.get("value")
        if not isinstance(value, dict) or value.get("text") != text:
            uri = body.get("uri", rkey)
            raise Rejected(
                f"another post already holds this delivery's record key ({uri}); it was "
                "probably published before its text was edited: delete it or publish anew",
                reason="record key taken by a different post",
            )
        return _StrongRef(uri=str(body["uri"]), cid=str(body["cid"]))

    async def _create_part(
        self, did: str, rkey: str, record: dict[str, Any]
    ) -> tuple[_StrongRef, bool]:
        """Create one record; ``(ref, existed)`` where ``existed`` means a repeat found it."""
        try:
            body = await self._xrpc(
                "POST",
                "com.atproto.repo.createRecord",
                json_body={
                    "repo": did,
                    "collection": POST_COLLECTION,
                    "rkey": rkey,
                    "record": record,
                },
            )
        except (AuthExpired, RateLimited):
            raise  # the request was refused before anything was written
        except ConnectorError as exc:
            # The PDS answers an existing rkey with 500 (not 409); a timeout leaves us
            # unsure. Either way the record key tells: look at it.
            try:
                found = await self._existing_part(did, rkey, str(record["text"]))
            except TransientError:
                raise exc from None  # cannot tell now; the worker looks it up later
            if found is not None:
                return found, True
            if isinstance(exc, TransientError):
                raise TransientError(
                    f"{exc.message} (nothing was created at {rkey}; trying again is safe)"
                ) from exc
            raise
        return _StrongRef(uri=str(body["uri"]), cid=str(body["cid"])), False

    async def _post_record(
        self, post: OutboundPost, index: int, text: str, refs: Sequence[_StrongRef]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        }
        facets = await self._facets(text)
        if facets:
            record["facets"] = facets
        langs = post.options.get("langs")
        if isinstance(langs, (list, tuple)) and langs:
            record["langs"] = [str(lang) for lang in langs][:3]
        if index == 0:
            embed = await self._embed(post, text)
            if embed is not None:
                record["embed"] = embed
        else:
            root = refs[0]
            # thread parts answer the previous part; the first comment answers the post
            is_comment = bool(post.first_comment) and index == len(post.thread) + 1
            parent = root if is_comment else refs[index - 1]
            record["reply"] = {"root": root.to_record(), "parent": parent.to_record()}
        return record

    async def _facets(self, text: str) -> list[dict[str, Any]]:
        facets = []
        for facet in detect_facets(text):
            if facet.kind == "mention":
                did = await self._resolve_handle(facet.value)
                if did is None:
                    continue  # not an account: it stays plain text
                facets.append(facet.to_record(did=did))
            else:
                facets.append(facet.to_record())
        return facets

    async def _resolve_handle(self, handle: str) -> str | None:
        key = handle.lower()
        if key not in self._handle_dids:
            try:
                body = await self._xrpc(
                    "GET", "com.atproto.identity.resolveHandle", params={"handle": key}
                )
                did = body.get("did")
                self._handle_dids[key] = did if isinstance(did, str) else None
            except Rejected:  # HandleNotFound, or a handle the server will not look up
                self._handle_dids[key] = None
            if self._handle_dids[key] is None:
                logger.info("the mention @%s does not resolve; left as text", handle)
        return self._handle_dids[key]

    def _check_media(self, media: Sequence[MediaItem]) -> None:
        """Refuse media no Bluesky post can carry, before anything is uploaded."""
        videos = [m for m in media if m.mime_type.startswith("video/")]
        if videos and (len(videos) > 1 or len(media) > 1):
            raise Rejected("a Bluesky post carries one video, or up to 4 images, not both")
        if len(media) > self.media_rules.max_items:
            raise Rejected(f"a Bluesky post carries at most {self.media_rules.max_items} images")
        allowed = self.media_rules.image_types | self.media_rules.video_types
        for item in media:
            if item.mime_type not in allowed:
                raise Rejected(f"Bluesky does not take {item.mime_type} files ({item.path.name})")

    async def _upload(self, item: MediaItem) -> tuple[dict[str, Any], tuple[int, int] | None]:
        data = await anyio.Path(item.path).read_bytes()
        body = await self._xrpc(
            "POST", "com.atproto.repo.uploadBlob", content=data, content_type=item.mime_type
        )
        blob = body.get("blob")
        if not isinstance(blob, dict):
            raise TransientError("Bluesky answered uploadBlob without a blob")
        size = (item.width, item.height) if item.width and item.height else None
        if size is None and item.mime_type.startswith("image/"):
            size = image_dimensions(data)
        return blob, size

    async def _embed(self, post: OutboundPost, text: str) -> dict[str, Any] | None:
        if post.media:
            uploaded = [(item, *await self._upload(item)) for item in post.media]
            if post.media[0].mime_type.startswith("video/"):
                item, blob, size = uploaded[0]
                video: dict[str, Any] = {"$type": "app.bsky.embed.video", "video": blob}
                if item.alt_text:
                    video["alt"] = item.alt_text
                if size:
                    video["aspectRatio"] = {"width": size[0], "height": size[1]}
                return video
            images = []
            for item, blob, size in uploaded:
                image: dict[str, Any] = {"image": blob, "alt": item.alt_text}
                if size and size[0] > 0 and size[1] > 0:
                    image["aspectRatio"] = {"width": size[0], "height": size[1]}
                images.append(image)
            return {"$type": "app.bsky.embed.images", "images": images}
        if post.options.get("link_card") is False:
            return None
        uri = post.link or next((f.value for f in detect_facets(text) if f.kind == "link"), None)
        if not uri:
            return None
        # The card is what the options say; the page is not fetched at publish time.
        return {
            "$type": "app.bsky.embed.external",
            "external": {
                "uri": uri,
                "title": str(post.options.get("link_title") or ""),
                "description": str(post.options.get("link_description") or ""),
            },
        }

    # --- the inbox --------------------------------------------------------------------
    #
    # app.bsky.notification.listNotifications (AppView) lists what people did to the
    # account, newest first by indexedAt, paged towards older ones with an opaque cursor;
    # it has no "since". The inbox cursor (:class:`_InboxCursor`) therefore remembers the
    # newest indexedAt stored (and which records carry exactly that time) and each call
    # reads down to it.

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        """Replies, mentions and quotes indexed after ``cursor``, oldest first.

        The first sync reads the newest :data:`FIRST_SYNC_ITEMS`. When more arrived than
        :data:`_INBOX_PAGES` pages hold, the AppView's own cursor is kept to read on down
        next time (``more``) before the stored time moves: nothing is skipped.
        """
        state = _InboxCursor.parse(cursor)
        session = await self._ensure_session()
        since = _parse_indexed(state.since) if state.since else None
        walking = since is not None or state.started
        params: dict[str, str | Sequence[str]] = {
            "reasons": list(_NOTIFICATION_KINDS),
            "limit": str(_NOTIFICATION_PAGE if walking else FIRST_SYNC_ITEMS),
        }
        page_cursor = state.gap
        rows: list[dict[str, Any]] = []
        reached = False
        for _ in range(_INBOX_PAGES if walking else 1):
            query = {**params, "cursor": page_cursor} if page_cursor else params
            body = await self._appview_get("app.bsky.notification.listNotifications", query)
            listed = body.get("notifications")
            listed = listed if isinstance(listed, list) else []
            for row in listed:
                if not isinstance(row, dict) or not isinstance(row.get("uri"), str):
                    continue
                indexed = _parse_indexed(row.get("indexedAt"))
                if (
                    since is not None
                    and indexed is not None
                    and (indexed < since or (indexed == since and row["uri"] in state.uris))
                ):
                    reached = True
                    break
                rows.append(row)
            next_cursor = body.get("cursor")
            page_cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
            if reached or not listed:
                page_cursor = None  # down to what is stored, or nothing older exists
            if page_cursor is None:
                break
        more = walking and page_cursor is not None
        if rows and state.top is None:
            newest = max(str(r.get("indexedAt") or "") for r in rows)
            state.top = newest
            state.top_uris = sorted({str(r["uri"]) for r in rows if r.get("indexedAt") == newest})
        if more:
            state.gap = page_cursor
        else:
            if state.top is not None:
                state.since, state.uris = state.top, state.top_uris
            state.gap, state.top, state.top_uris = None, None, []
        state.started = True
        items: dict[str, InboundItem] = {}
        for row in rows:
            item = self._inbound(row, session.did)
            if item is not None and (
                item.external_id not in items or item.kind is InboundKind.REPLY
            ):
                items[item.external_id] = item  # a reply that also names us: one REPLY
        ordered = sorted(items.values(), key=lambda i: (i.created_at, i.external_id))
        return InboxPage(items=tuple(ordered), cursor=state.dump(), more=more)

    async def _appview_get(
        self, nsid: str, params: Mapping[str, str | Sequence[str]]
    ) -> dict[str, Any]:
        if self.appview_url is None:
            return await self._xrpc("GET", nsid, params=params)
        service = await self._xrpc(
            "GET",
            "com.atproto.server.getServiceAuth",
            params={"aud": str(self.appview_did), "lxm": nsid},
        )
        token = service.get("token")
        if not isinstance(token, str):
            raise TransientError("Bluesky answered getServiceAuth without a token")
        request = self.http.build_request(
            "GET",
            f"{self.appview_url}/xrpc/{nsid}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        response = await self.errors.send(self.http, request)
        body = response.json()
        return body if isinstance(body, dict) else {}

    def _inbound(self, row: Mapping[str, Any], me: str) -> InboundItem | None:
        kind = _NOTIFICATION_KINDS.get(str(row.get("reason")))
        record = row.get("record")
        author = row.get("author")
        if kind is None or not isinstance(record, dict) or not isinstance(author, dict):
            return None
        uri, cid = str(row["uri"]), str(row.get("cid") or "")
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else None
        root = _ref_of(reply.get("root")) if reply else None
        parent = _ref_of(reply.get("parent")) if reply else None
        root = root or _StrongRef(uri=uri, cid=cid)
        subject = row.get("reasonSubject")
        our_post: str | None = None
        if _repo_of(root.uri) == me:
            our_post = root.uri
        elif parent is not None and _repo_of(parent.uri) == me:
            our_post = parent.uri
        if kind is InboundKind.QUOTE:
            quoted = _quoted_uri(record.get("embed"))
            our_post = subject if isinstance(subject, str) else quoted
        elif kind is InboundKind.MENTION and parent is not None and our_post is not None:
            kind = InboundKind.REPLY  # a mention inside a thread under our post
        elif kind is InboundKind.REPLY and our_post is None and isinstance(subject, str):
            our_post = subject
        handle = str(author.get("handle") or "")
        avatar = author.get("avatar")
        try:
            _, _, rkey = parse_at_uri(uri)
        except ValueError:
            logger.info("skipping a notification with a malformed record URI: %s", uri)
            return None
        extra = {"uri": uri, "cid": cid, "root_uri": root.uri, "root_cid": root.cid}
        if handle:
            extra["handle"] = handle
        return InboundItem(
            external_id=uri,
            kind=kind,
            author=InboundAuthor(
                external_id=str(author.get("did") or ""),
                handle=handle,
                display_name=str(author.get("displayName") or ""),
                avatar_url=avatar if isinstance(avatar, str) else None,
                url=f"{self.web_url}/profile/{handle or author.get('did')}",
            ),
            text=str(record.get("text") or ""),
            created_at=_parse_indexed(row.get("indexedAt")) or dt.datetime.now(dt.UTC),
            conversation_id=root.uri,
            url=f"{self.web_url}/profile/{handle or _repo_of(uri)}/post/{rkey}",
            in_reply_to=parent.uri if parent else None,
            our_post_id=our_post,
            from_us=author.get("did") == me,
            extra=extra,
        )

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        """A post answering ``to`` (``reply: {root, parent}``) at the record key derived
        from the idempotency key, like :meth:`publish`: a repeat finds, never doubles."""
        self._check_media(post.media)
        session = await self._ensure_session()
        rkey = record_key(post.idempotency_key)
        if post.media:  # a repeat must not upload the files again
            found = await self._existing_part(session.did, rkey, post.text)
            if found is not None:
                return self._result([found])
        parent = await self._target_ref(to)
        root = _StrongRef(
            uri=to.extra.get("root_uri") or parent.uri,
            cid=to.extra.get("root_cid") or parent.cid,
        )
        record = await self._post_record(post, 0, post.text, [])
        record["reply"] = {"root": root.to_record(), "parent": parent.to_record()}
        ref, existed = await self._create_part(session.did, rkey, record)
        logger.info(
            "Bluesky reply to %s is %s%s",
            to.external_id,
            ref.uri,
            " (already there)" if existed else "",
        )
        return self._result([ref])

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        session = await self._ensure_session()
        found = await self._existing_part(session.did, record_key(post.idempotency_key), post.text)
        return self._result([found]) if found is not None else None

    async def _target_ref(self, to: ReplyTarget) -> _StrongRef:
        cid = to.extra.get("cid")
        if cid:
            return _StrongRef(uri=to.external_id, cid=cid)
        return await self._record_ref(to.external_id)

    async def _record_ref(self, uri: str) -> _StrongRef:
        """The record's current cid, read through the PDS (which answers for any repo)."""
        try:
            repo, collection, rkey = parse_at_uri(uri)
        except ValueError as exc:
            raise Rejected(f"not a Bluesky post id: {uri}") from exc
        body = await self._xrpc(
            "GET",
            "com.atproto.repo.getRecord",
            params={"repo": repo, "collection": collection, "rkey": rkey},
        )
        return _StrongRef(uri=str(body.get("uri") or uri), cid=str(body["cid"]))

    async def like(self, item_id: str) -> None:
        """An ``app.bsky.feed.like`` record at a key derived from the liked post: liking
        twice finds the first like instead of making a second."""
        session = await self._ensure_session()
        rkey = record_key(f"like:{item_id}")
        existing = await self._like_at(session.did, rkey)
        if existing is not None:
            return
        subject = await self._record_ref(item_id)
        record = {
            "$type": LIKE_COLLECTION,
            "subject": subject.to_record(),
            "createdAt": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
        }
        try:
            await self._xrpc(
                "POST",
                "com.atproto.repo.createRecord",
                json_body={
                    "repo": session.did,
                    "collection": LIKE_COLLECTION,
                    "rkey": rkey,
                    "record": record,
                },
            )
        except (AuthExpired, RateLimited):
            raise
        except ConnectorError:
            if await self._like_at(session.did, rkey) is None:
                raise

    async def _like_at(self, did: str, rkey: str) -> str | None:
        try:
            body = await self._xrpc(
                "GET",
                "com.atproto.repo.getRecord",
                params={"repo": did, "collection": LIKE_COLLECTION, "rkey": rkey},
            )
        except _RecordNotFound:
            return None
        return str(body.get("uri"))

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        raise Rejected(
            "socialdesk cannot hide Bluesky replies yet (it needs a threadgate record with"
            " hiddenReplies on our post); delete our own reply, or mute or block the author",
            reason="not supported yet",
        )

    async def delete_item(self, item_id: str) -> None:
        """Delete one of our own replies; a record in someone else's repository is theirs."""
        session = await self._ensure_session()
        try:
            repo, collection, rkey = parse_at_uri(item_id)
        except ValueError as exc:
            raise Rejected(f"not a Bluesky post id: {item_id}") from exc
        if repo not in (session.did, session.handle):
            raise Rejected(
                "Bluesky only lets an account delete its own posts; someone else's reply can"
                " be hidden with a threadgate (not supported yet), or its author muted or blocked",
                reason="not our post",
            )
        await self._xrpc(
            "POST",
            "com.atproto.repo.deleteRecord",
            json_body={"repo": session.did, "collection": collection, "rkey": rkey},
        )


#: Notification reasons read into the inbox (likes, reposts, follows... are not).
_NOTIFICATION_KINDS: dict[str, InboundKind] = {
    "reply": InboundKind.REPLY,
    "mention": InboundKind.MENTION,
    "quote": InboundKind.QUOTE,
}
#: listNotifications answers at most 100 per page (lexicon: limit 1-100, default 50).
_NOTIFICATION_PAGE = 100
_INBOX_PAGES = 5
#: What the first sync of a channel reads: the newest notifications, not the history.
FIRST_SYNC_ITEMS = 50


def _parse_indexed(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _repo_of(uri: str) -> str | None:
    try:
        return parse_at_uri(uri)[0]
    except ValueError:
        return None


def _ref_of(value: Any) -> _StrongRef | None:
    if isinstance(value, dict) and isinstance(value.get("uri"), str):
        return _StrongRef(uri=value["uri"], cid=str(value.get("cid") or ""))
    return None


def _quoted_uri(embed: Any) -> str | None:
    """The post an ``app.bsky.embed.record`` (or ``recordWithMedia``) quotes."""
    if not isinstance(embed, dict):
        return None
    inner = embed.get("record")
    if isinstance(inner, dict) and isinstance(inner.get("record"), dict):
        inner = inner["record"]  # recordWithMedia: {record: {record: strongRef}, media}
    ref = _ref_of(inner)
    return ref.uri if ref else None


@dataclass(slots=True)
class _InboxCursor:
    """Where the Bluesky inbox stopped reading, stored by the inbox as one opaque string."""

    #: The newest indexedAt stored, and the records indexed at exactly that time.
    since: str | None = None
    uris: list[str] = field(default_factory=list)
    #: More arrived than one call reads: the AppView cursor to read on from...
    gap: str | None = None
    #: ...and, once read, the newest seen meanwhile (becomes ``since``).
    top: str | None = None
    top_uris: list[str] = field(default_factory=list)
    #: A first sync happened: with no time yet, the next reads every page there is.
    started: bool = False

    @classmethod
    def parse(cls, cursor: str | None) -> _InboxCursor:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return cls()

        def text(name: str) -> str | None:
            value = data.get(name)
            return value if isinstance(value, str) else None

        def uris(name: str) -> list[str]:
            value = data.get(name)
            return [u for u in value if isinstance(u, str)] if isinstance(value, list) else []

        return cls(
            since=text("since"),
            uris=uris("uris"),
            gap=text("gap"),
            top=text("top"),
            top_uris=uris("top_uris"),
            started=data.get("started") is True,
        )

    def dump(self) -> str:
        values = {name: getattr(self, name) for name in self.__slots__}
        return json.dumps({k: v for k, v in values.items() if v}, sort_keys=True)
