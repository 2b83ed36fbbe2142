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
    MediaItem,
    MediaRules,
    Network,
    OutboundPost,
    PublishResult,
    RateLimit,
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

    def __init__(
        self, *, http: httpx.AsyncClient, credentials: Credentials, base_url: str | None = None
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        self.web_url = (credentials.extra.get("web_url") or DEFAULT_WEB_URL).rstrip("/")
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
        params: Mapping[str, str] | None = None,
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
