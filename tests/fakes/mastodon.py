# SPDX-License-Identifier: AGPL-3.0-or-later
"""A local Mastodon that answers as docs.joinmastodon.org shows, errors included.

No Mastodon server can be installed here, so connector tests and the crash and benchmark
runs talk to this fake. It models what publishing depends on:

- apps (``POST /api/v1/apps``), ``/oauth/authorize`` and ``/oauth/token`` with PKCE (S256
  only, as Mastodon 4.3+), Bearer tokens with scopes (401 / 403 / 422 as Mastodon answers);
- ``verify_credentials``, ``/api/v2/instance`` (its ``configuration`` is the fake's limits);
- media: ``POST /api/v2/media`` answers 202 for video, GIF and audio, then
  ``GET /api/v1/media/:id`` answers 206 while "processing" and 200 after;
- statuses: create with real ``Idempotency-Key`` semantics (per account, one hour),
  length checked as ``StatusLengthValidator`` counts (graphemes, URLs 23, ``@user@domain``
  as ``@user``, spoiler included) → 422, polls, replies, quotes (``quoted_status_id``,
  Mastodon 4.5), delete, the account's statuses with ``Link`` pagination, ``context``;
- the inbox: ``GET /api/v1/notifications`` (mention, quote, favourite... with ``types[]``,
  ``min_id`` / ``since_id`` / ``max_id`` and ``Link``), ``GET /api/v1/conversations``
  (direct threads), ``POST /api/v1/statuses/:id/favourite``; mentions notify as
  ProcessMentionsService does (a direct message is a mention with visibility ``direct``);
- rate limits as Mastodon sets them: 300 API calls per 5 minutes per account, 30 media
  uploads per 30 minutes, 30 deletes per 30 minutes, 300 statuses per 3 hours, with
  ``X-RateLimit-*`` headers and 429;
- fault injection: the next N matching requests fail (503...), are delayed, or are applied
  and then stall or lose their connection (the uncertain outcome).

In-process: ``MastodonFake().client(token)`` (an ``httpx.AsyncClient`` whose transport
honours read timeouts). As a server, for tests that run several processes::

    python -m tests.fakes.mastodon --port 8765 --account alice:alice-token --latency-ms 100

State and knobs over HTTP under ``/__fake__/`` (``statuses``, ``accounts``, ``faults``,
``config``, ``clock``, ``reset``); see :func:`admin_routes`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import html
import itertools
import json
import secrets
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
import httpx
import regex
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

OOB = "urn:ietf:wg:oauth:2.0:oob"
IDEMPOTENCY_SECONDS = 3600
INVALID_TOKEN = "The access token is invalid"
OUTSIDE_SCOPES = "This action is outside the authorized scopes"
NOT_FOUND = "Record not found"
TOO_MANY = "Too many requests"
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the"
    " redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication"
    " included, or unsupported authentication method."
)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp")
VIDEO_TYPES = ("video/webm", "video/mp4", "video/quicktime", "video/ogg")
AUDIO_TYPES = ("audio/wave", "audio/wav", "audio/ogg", "audio/mpeg", "audio/mp3", "audio/mp4")
VISIBILITIES = ("public", "unlisted", "private", "direct")


# -- how Mastodon counts and renders a status ------------------------------------------

# http(s) URLs only (twitter-text with extract_url_without_protocol: false), trailing
# punctuation left out as twitter-text does.
_URL_RE = regex.compile(r"(?<![\p{L}\p{N}_@/.])https?://[^\s<>\"]+", regex.IGNORECASE)
_URL_TRAILING = ".,:;!?'\")]}"
# Account::MENTION_RE: ``@user`` or ``@user@domain``, not inside a word or a path.
_MENTION_RE = regex.compile(
    r"(?<![=/\w])@(?P<user>[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@(?P<domain>[\w]+(?:[.-]+[\w]+)*))?",
    regex.IGNORECASE,
)
_TAG_RE = regex.compile(r"(?<![=/)\w])#(?P<tag>[\p{L}\p{N}_]*[\p{L}_][\p{L}\p{N}_]*)")


@dataclass(frozen=True)
class _Entity:
    start: int
    end: int
    kind: str  # url | mention | tag
    match: Any


def _entities(text: str) -> list[_Entity]:
    found: list[_Entity] = []
    for m in _URL_RE.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in _URL_TRAILING:
            end -= 1
        found.append(_Entity(m.start(), end, "url", text[m.start() : end]))
    for kind, pattern in (("mention", _MENTION_RE), ("tag", _TAG_RE)):
        for m in pattern.finditer(text):
            if not any(e.start < m.end() and m.start() < e.end for e in found):
                found.append(_Entity(m.start(), m.end(), kind, m))
    return sorted(found, key=lambda e: e.start)


def status_length(text: str, spoiler_text: str = "") -> int:
    """What ``StatusLengthValidator`` counts: graphemes of spoiler + text, URLs as 23."""
    out: list[str] = []
    last = 0
    for entity in _entities(text):
        if entity.kind == "tag":
            continue
        out.append(text[last : entity.start])
        out.append("x" * 23 if entity.kind == "url" else "@" + entity.match.group("user"))
        last = entity.end
    out.append(text[last:])
    return len(regex.findall(r"\X", spoiler_text + "".join(out)))


@dataclass
class App:
    id: str
    name: str
    website: str | None
    scopes: list[str]
    redirect_uris: list[str]
    client_id: str
    client_secret: str


@dataclass
class Account:
    id: str
    username: str
    display_name: str
    created_at: float
    disabled: bool = False
    default_visibility: str = "public"


@dataclass
class Token:
    value: str
    app_id: str | None
    account_id: str | None
    scopes: frozenset[str]
    created_at: float


@dataclass
class AuthCode:
    code: str
    app_id: str
    account_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    created_at: float
    used: bool = False


@dataclass
class Media:
    id: str
    account_id: str
    type: str
    mime_type: str
    size: int
    width: int
    height: int
    description: str | None
    focus: tuple[float, float] | None
    polls_left: int
    status_id: str | None = None

    @property
    def processed(self) -> bool:
        return self.polls_left <= 0


@dataclass
class Status:
    id: str
    account_id: str
    text: str
    content: str
    created_at: float
    visibility: str
    sensitive: bool
    spoiler_text: str
    language: str | None
    in_reply_to_id: str | None
    in_reply_to_account_id: str | None
    media_ids: list[str]
    poll: dict[str, Any] | None
    application: dict[str, Any] | None
    idempotency_key: str | None
    mentions: list[dict[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    deleted: bool = False
    #: The status this one quotes (Mastodon 4.5 quote posts), accepted at once.
    quoted_status_id: str | None = None
    #: Accounts that favourited it.
    favourited_by: set[str] = field(default_factory=set)


@dataclass
class Notification:
    """One row of ``GET /api/v1/notifications`` for ``account_id`` (the recipient)."""

    id: str
    account_id: str
    type: str  # mention | quote | favourite | reblog | status | follow ...
    from_account_id: str
    status_id: str | None
    created_at: float


@dataclass
class Fault:
    """What happens to the next ``count`` requests that match ``method`` and ``path``.

    kinds: ``fail`` (answer ``status`` without doing anything), ``delay`` (wait
    ``seconds`` before handling), ``apply_then_stall`` (handle, then wait ``seconds``
    before answering), ``apply_then_drop`` (handle, then close the connection).
    """

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 503
    seconds: float = 5.0
    retry_after: int | None = None
    #: Let this many matching requests through first (fail the second part of a thread).
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


class ConnectionDropped(Exception):
    """Raised by the fake after applying a request, to lose the connection before answering."""


@dataclass
class Limits:
    max_characters: int = 500
    max_media_attachments: int = 4
    description_limit: int = 1500
    image_size_limit: int = 16 * 1024 * 1024
    video_size_limit: int = 99 * 1024 * 1024
    poll_max_options: int = 4
    poll_max_characters_per_option: int = 50
    poll_min_expiration: int = 300
    poll_max_expiration: int = 2629746
    #: Per account: (requests, seconds); 0 requests turns a limit off.
    api: tuple[int, int] = (300, 300)
    media: tuple[int, int] = (30, 1800)
    deletes: tuple[int, int] = (30, 1800)
    statuses: tuple[int, int] = (300, 3 * 3600)
    #: How many ``GET /api/v1/media/:id`` answer 206 before an async upload is ready.
    media_processing_polls: int = 1


def _iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "on", "yes")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


class MastodonFake:
    """One Mastodon instance: state, rules, faults, and the ASGI app that serves them."""

    def __init__(
        self,
        *,
        domain: str = "mastodon.example",
        base_url: str | None = None,
        latency: float = 0.0,
        limits: Limits | None = None,
    ) -> None:
        self.domain = domain
        self.base_url = (base_url or f"https://{domain}").rstrip("/")
        self.latency = latency
        self.limits = limits or Limits()
        self.clock_offset = 0.0
        self.login_as: str | None = None
        self.apps: dict[str, App] = {}
        self.accounts: dict[str, Account] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, AuthCode] = {}
        self.media: dict[str, Media] = {}
        self.statuses: dict[str, Status] = {}
        self.notifications: dict[str, Notification] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self.counters: dict[tuple[str, str, int], int] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._last_id = 0
        self.routes = Starlette(routes=[*self._api_routes(), *admin_routes(self)])

    # -- clock and ids --------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        self.clock_offset += seconds

    def _new_id(self) -> str:
        # Mastodon's ids grow with time (a timestamp in the high bits): keep them sortable.
        candidate = int(self.now() * 1000) << 16
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    # -- set-up helpers for tests ---------------------------------------------------------

    def create_account(
        self,
        username: str,
        *,
        display_name: str | None = None,
        access_token: str | None = None,
        scopes: str = "read write",
    ) -> tuple[Account, str]:
        """A local account and a user token for it (as if it had authorized an app)."""
        account = Account(
            id=str(next(self._ids)),
            username=username,
            display_name=display_name if display_name is not None else username.title(),
            created_at=self.now(),
        )
        self.accounts[account.id] = account
        token = access_token or secrets.token_urlsafe(32)
        self.tokens[token] = Token(token, None, account.id, frozenset(scopes.split()), self.now())
        return account, token

    def account_named(self, username: str) -> Account | None:
        return next((a for a in self.accounts.values() if a.username == username), None)

    def statuses_of(self, account_id: str, *, include_deleted: bool = False) -> list[Status]:
        return [
            s
            for s in self.statuses.values()
            if s.account_id == account_id and (include_deleted or not s.deleted)
        ]

    def count_statuses(self, account_id: str) -> int:
        return len(self.statuses_of(account_id))

    def post_as(
        self,
        username: str,
        text: str,
        *,
        in_reply_to_id: str | None = None,
        visibility: str = "public",
        quoted_status_id: str | None = None,
        spoiler_text: str = "",
    ) -> Status:
        """A status by another local account, as if it had posted it (notifications too)."""
        account = self.account_named(username)
        if account is None:
            account, _ = self.create_account(username)
        parent = self.statuses.get(in_reply_to_id) if in_reply_to_id else None
        if in_reply_to_id and (parent is None or parent.deleted):
            raise KeyError(f"no status {in_reply_to_id}")
        if quoted_status_id and quoted_status_id not in self.statuses:
            raise KeyError(f"no status {quoted_status_id}")
        if visibility not in VISIBILITIES:
            raise ValueError(f"not a visibility: {visibility}")
        content, mentions, tags = self.render(text)
        status = Status(
            id=self._new_id(),
            account_id=account.id,
            text=text,
            content=content,
            created_at=self.now(),
            visibility=visibility,
            sensitive=bool(spoiler_text),
            spoiler_text=spoiler_text,
            language="en",
            in_reply_to_id=parent.id if parent else None,
            in_reply_to_account_id=parent.account_id if parent else None,
            media_ids=[],
            poll=None,
            application=None,
            idempotency_key=None,
            mentions=mentions,
            tags=tags,
            quoted_status_id=quoted_status_id,
        )
        self.statuses[status.id] = status
        self._notify(status)
        return status

    def notify(
        self, recipient: str, kind: str, *, from_username: str, status_id: str | None = None
    ) -> Notification:
        """A notification of any type (``favourite``, ``reblog``, ``follow``...) for a test."""
        account = self.account_named(recipient)
        sender = self.account_named(from_username)
        if account is None or sender is None:
            raise KeyError("unknown account")
        return self._add_notification(account.id, kind, sender.id, status_id)

    def _add_notification(
        self, account_id: str, kind: str, from_account_id: str, status_id: str | None
    ) -> Notification:
        notification = Notification(
            id=self._new_id(),
            account_id=account_id,
            type=kind,
            from_account_id=from_account_id,
            status_id=status_id,
            created_at=self.now(),
        )
        self.notifications[notification.id] = notification
        return notification

    def _notify(self, status: Status) -> None:
        """What Mastodon's ProcessMentionsService and quote handling notify.

        Every local account mentioned gets a ``mention`` (a direct message is a mention with
        visibility ``direct``); the author of a quoted status gets a ``quote``. A reply
        notifies the parent's author only through the mention clients put in its text.
        """
        notified: set[str] = set()
        for mention in status.mentions:
            target = self.accounts.get(mention["id"])
            if target is None or target.id == status.account_id or target.id in notified:
                continue
            notified.add(target.id)
            self._add_notification(target.id, "mention", status.account_id, status.id)
        quoted = self.statuses.get(status.quoted_status_id or "")
        if quoted is not None and quoted.account_id != status.account_id:
            self._add_notification(quoted.account_id, "quote", status.account_id, status.id)

    def visible_to(self, status: Status, account_id: str | None) -> bool:
        """Whether ``account_id`` (None: anonymous) may see ``status``."""
        if status.deleted:
            return False
        if status.visibility in ("public", "unlisted") or status.account_id == account_id:
            return True
        mentioned = any(m["id"] == account_id for m in status.mentions)
        # followers-only: the fake has no follows, so only mentioned accounts see it
        return account_id is not None and mentioned

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind=kind, **options)
        self.faults.append(fault)
        return fault

    def reset(self) -> None:
        """Forget statuses, media, keys, counters and faults (accounts and apps stay)."""
        self.media.clear()
        self.statuses.clear()
        self.notifications.clear()
        self.idempotency.clear()
        self.counters.clear()
        self.faults.clear()
        self.requests.clear()
        self.codes.clear()

    # -- in-process use -------------------------------------------------------------------

    def transport(self) -> FakeTransport:
        return FakeTransport(self)

    def client(self, token: str | None = None, *, timeout: float = 5.0) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=self.transport(), base_url=self.base_url, headers=headers, timeout=timeout
        )

    # -- the ASGI app ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Latency, faults and rate limits in front of the routes."""
        if scope["type"] != "http" or scope["path"].startswith("/__fake__"):
            await self.routes(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.requests.append((method, path))
        if self.latency:
            await anyio.sleep(self.latency)
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "fail":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
            reason = "There was a temporary problem serving your request, please try again"
            await _error(fault.status, reason, headers)(scope, receive, send)
            return
        if fault is not None and fault.kind == "delay":
            await anyio.sleep(fault.seconds)
        limited, headers = self._throttle(scope)
        if limited is not None:
            await limited(scope, receive, send)
            return
        send = _with_headers(send, headers)
        if fault is None or fault.kind == "delay":
            await self.routes(scope, receive, send)
            return
        captured: list[Message] = []

        async def keep(message: Message) -> None:
            captured.append(message)

        await self.routes(scope, receive, keep)
        if fault.kind == "apply_then_stall":
            await anyio.sleep(fault.seconds)
            for message in captured:
                await send(message)
            return
        # apply_then_drop: start the answer, then lose the connection mid-body.
        await send(captured[0])
        raise ConnectionDropped(f"{method} {path} applied; connection dropped")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and fault.matches(method, path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _count(self, bucket: str, account_id: str, limit: tuple[int, int]) -> tuple[int, int, int]:
        """Count one hit in a fixed window (as Rack::Attack): (count, limit, reset time)."""
        allowed, period = limit
        window = int(self.now() // period)
        key = (bucket, account_id, window)
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key], allowed, (window + 1) * period

    def _throttle(self, scope: Scope) -> tuple[Response | None, dict[str, str]]:
        path, method = scope["path"], scope["method"]
        if not path.startswith("/api"):
            return None, {}
        token = self._token_of(_header(scope, "authorization"))
        if token is None or token.account_id is None:
            return None, {}
        buckets = [("api", self.limits.api)]
        if method == "POST" and path.startswith(("/api/v1/media", "/api/v2/media")):
            buckets.append(("media", self.limits.media))
        if method == "DELETE" and path.startswith("/api/v1/statuses/"):
            buckets.append(("deletes", self.limits.deletes))
        closest: tuple[int, int, int] | None = None
        for bucket, limit in buckets:
            if limit[0] <= 0:
                continue
            count, allowed, reset = self._count(bucket, token.account_id, limit)
            if count > allowed:
                return self._too_many(allowed, reset), {}
            if closest is None or allowed - count < closest[1] - closest[0]:
                closest = (count, allowed, reset)
        if closest is None:
            return None, {}
        count, allowed, reset = closest
        return None, _rate_headers(allowed, allowed - count, reset)

    def _too_many(self, allowed: int, reset: float) -> JSONResponse:
        return _error(429, TOO_MANY, _rate_headers(allowed, 0, reset))

    # -- auth -----------------------------------------------------------------------------

    def _token_of(self, authorization: str | None) -> Token | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        return self.tokens.get(authorization[7:].strip())

    def _user(self, request: Request, scope: str) -> tuple[Account, Token] | Response:
        """The token's account, or the answer Mastodon gives (401, 403, 422)."""
        token = self._token_of(request.headers.get("authorization"))
        if token is None:
            return _error(401, INVALID_TOKEN)
        family = scope.split(":")[0]
        if scope not in token.scopes and family not in token.scopes:
            return _error(403, OUTSIDE_SCOPES)
        if token.account_id is None:
            return _error(422, "This method requires an authenticated user")
        account = self.accounts[token.account_id]
        if account.disabled:
            return _error(403, "Your login is currently disabled")
        return account, token

    # -- JSON shapes ----------------------------------------------------------------------

    def account_json(self, account: Account, *, credentials: bool = False) -> dict[str, Any]:
        statuses = self.statuses_of(account.id)
        last = max((s.created_at for s in statuses), default=None)
        avatar = f"https://files.{self.domain}/accounts/avatars/{account.id}/original/a.png"
        header = f"https://files.{self.domain}/accounts/headers/{account.id}/original/h.png"
        data: dict[str, Any] = {
            "id": account.id,
            "username": account.username,
            "acct": account.username,
            "display_name": account.display_name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": _iso(account.created_at),
            "note": "",
            "url": f"https://{self.domain}/@{account.username}",
            "uri": f"https://{self.domain}/users/{account.username}",
            "avatar": avatar,
            "avatar_static": avatar,
            "header": header,
            "header_static": header,
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(statuses),
            "last_status_at": _iso(last)[:10] if last else None,
            "emojis": [],
            "fields": [],
        }
        if credentials:
            data["source"] = {
                "privacy": account.default_visibility,
                "sensitive": False,
                "language": "",
                "note": "",
                "fields": [],
                "follow_requests_count": 0,
            }
        return data

    def media_json(self, media: Media) -> dict[str, Any]:
        files = f"https://files.{self.domain}/media_attachments/files/{media.id}"
        extension = media.mime_type.split("/")[-1]
        small_w = min(media.width, 400)
        small_h = max(1, round(media.height * small_w / media.width)) if media.width else 1
        meta: dict[str, Any] = {
            "original": {
                "width": media.width,
                "height": media.height,
                "size": f"{media.width}x{media.height}",
                "aspect": media.width / media.height if media.height else 1.0,
            },
            "small": {
                "width": small_w,
                "height": small_h,
                "size": f"{small_w}x{small_h}",
                "aspect": small_w / small_h,
            },
        }
        if media.focus is not None:
            meta["focus"] = {"x": media.focus[0], "y": media.focus[1]}
        return {
            "id": media.id,
            "type": media.type,
            "url": f"{files}/original/{media.id}.{extension}" if media.processed else None,
            "preview_url": f"{files}/small/{media.id}.png",
            "remote_url": None,
            "meta": meta,
            "description": media.description,
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
        }

    def status_json(
        self, status: Status, *, source: bool = False, viewer: str | None = None
    ) -> dict[str, Any]:
        account = self.accounts[status.account_id]
        replies = sum(
            1 for s in self.statuses.values() if s.in_reply_to_id == status.id and not s.deleted
        )
        data: dict[str, Any] = {
            "id": status.id,
            "created_at": _iso(status.created_at),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": status.in_reply_to_account_id,
            "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"https://{self.domain}/users/{account.username}/statuses/{status.id}",
            "url": f"https://{self.domain}/@{account.username}/{status.id}",
            "replies_count": replies,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": status.content,
            "reblog": None,
            "application": status.application,
            "account": self.account_json(account),
            "media_attachments": [self.media_json(self.media[m]) for m in status.media_ids],
            "mentions": status.mentions,
            "tags": [
                {"name": tag, "url": f"https://{self.domain}/tags/{tag}"} for tag in status.tags
            ],
            "emojis": [],
            "card": None,
            "poll": status.poll,
        }
        data["favourites_count"] = len(status.favourited_by)
        if viewer is not None:
            data["favourited"] = viewer in status.favourited_by
        quoted = self.statuses.get(status.quoted_status_id or "")
        if quoted is not None:
            # Mastodon 4.5: a Quote entity; a quoted status that is gone is "deleted".
            data["quote"] = {
                "state": "accepted" if not quoted.deleted else "deleted",
                "quoted_status": None if quoted.deleted else self.status_json(quoted),
            }
        if source:  # the delete answer: the source text instead of the HTML (for redrafts)
            del data["content"]
            data["text"] = status.text
        return data

    def instance_json(self) -> dict[str, Any]:
        limits = self.limits
        return {
            "domain": self.domain,
            "title": "Mastodon (socialdesk fake)",
            "version": "4.4.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A local stand-in for a Mastodon instance",
            "usage": {"users": {"active_month": len(self.accounts)}},
            "thumbnail": {
                "url": f"https://files.{self.domain}/site_uploads/files/1/@1x/thumb.png",
                "blurhash": "UeKUpFxuo~R%0nW;WCnhF6RjaJt757oJodS$",
                "versions": {
                    "@1x": f"https://files.{self.domain}/site_uploads/files/1/@1x/thumb.png",
                    "@2x": f"https://files.{self.domain}/site_uploads/files/1/@2x/thumb.png",
                },
            },
            "languages": ["en"],
            "configuration": {
                "urls": {"streaming": f"wss://{self.domain}"},
                "vapid": {"public_key": "BCkMmVdKDnKYwzVCDC99Iuc9GvId-x7-kKtuHnLgfF98="},
                "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
                "statuses": {
                    "max_characters": limits.max_characters,
                    "max_media_attachments": limits.max_media_attachments,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": [*IMAGE_TYPES, *VIDEO_TYPES, *AUDIO_TYPES],
                    "description_limit": limits.description_limit,
                    "image_size_limit": limits.image_size_limit,
                    "image_matrix_limit": 33177600,
                    "video_size_limit": limits.video_size_limit,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8294400,
                },
                "polls": {
                    "max_options": limits.poll_max_options,
                    "max_characters_per_option": limits.poll_max_characters_per_option,
                    "min_expiration": limits.poll_min_expiration,
                    "max_expiration": limits.poll_max_expiration,
                },
                "translation": {"enabled": False},
            },
            "registrations": {"enabled": False, "approval_required": False, "message": None},
            "contact": {"email": f"admin@{self.domain}", "account": None},
            "rules": [],
        }

    # -- rendering ------------------------------------------------------------------------

    def render(self, text: str) -> tuple[str, list[dict[str, str]], list[str]]:
        """Mastodon's HTML for plain text: links, mentions, hashtags, paragraphs."""
        pieces: list[str] = []
        mentions: list[dict[str, str]] = []
        tags: list[str] = []
        last = 0
        text = text.replace("\r\n", "\n")
        for entity in _entities(text):
            pieces.append(html.escape(text[last : entity.start], quote=False))
            last = entity.end
            if entity.kind == "url":
                pieces.append(_link_html(entity.match))
            elif entity.kind == "tag":
                tag = entity.match.group("tag")
                tags.append(tag.lower())
                pieces.append(
                    f'<a href="https://{self.domain}/tags/{tag.lower()}" class="mention hashtag"'
                    f' rel="tag">#<span>{html.escape(tag)}</span></a>'
                )
            else:
                user, domain = entity.match.group("user"), entity.match.group("domain")
                local = domain is None or domain.lower() == self.domain
                account = self.account_named(user) if local else None
                if local and account is None:  # nobody by that name: stays plain text
                    pieces.append(html.escape(entity.match.group(0), quote=False))
                    continue
                host = self.domain if local else domain
                url = f"https://{host}/@{user}"
                mentions.append(
                    {
                        "id": account.id if account else str(abs(hash((user, host))) % 10**9),
                        "username": user,
                        "url": url,
                        "acct": user if local else f"{user}@{host}",
                    }
                )
                pieces.append(
                    f'<span class="h-card" translate="no"><a href="{html.escape(url)}"'
                    f' class="u-url mention">@<span>{html.escape(user)}</span></a></span>'
                )
        pieces.append(html.escape(text[last:], quote=False))
        body = "".join(pieces)
        paragraphs = [p for p in regex.split(r"\n{2,}", body) if p.strip()]
        content = "".join("<p>" + p.replace("\n", "<br />") + "</p>" for p in paragraphs)
        return content, mentions, sorted(set(tags))

    # -- API routes -----------------------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        return [
            Route("/api/v1/apps", self.create_app, methods=["POST"]),
            Route("/api/v1/apps/verify_credentials", self.verify_app, methods=["GET"]),
            Route("/oauth/authorize", self.authorize, methods=["GET"]),
            Route("/oauth/token", self.token, methods=["POST"]),
            Route("/oauth/revoke", self.revoke, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", self.oauth_metadata, methods=["GET"]),
            Route("/api/v2/instance", self.instance, methods=["GET"]),
            Route("/api/v1/accounts/verify_credentials", self.verify_credentials, methods=["GET"]),
            Route("/api/v1/accounts/{id}", self.get_account, methods=["GET"]),
            Route("/api/v1/accounts/{id}/statuses", self.account_statuses, methods=["GET"]),
            Route("/api/v1/statuses", self.create_status, methods=["POST"]),
            Route("/api/v1/statuses/{id}", self.get_status, methods=["GET"]),
            Route("/api/v1/statuses/{id}", self.delete_status, methods=["DELETE"]),
            Route("/api/v2/media", self.upload_media, methods=["POST"]),
            Route("/api/v1/media/{id}", self.get_media, methods=["GET"]),
            Route("/api/v1/statuses/{id}/context", self.status_context, methods=["GET"]),
            Route("/api/v1/statuses/{id}/favourite", self.favourite, methods=["POST"]),
            Route("/api/v1/statuses/{id}/unfavourite", self.unfavourite, methods=["POST"]),
            Route("/api/v1/notifications", self.list_notifications, methods=["GET"]),
            Route("/api/v1/conversations", self.list_conversations, methods=["GET"]),
        ]

    async def create_app(self, request: Request) -> Response:
        params = await _params(request)
        name = _first(params, "client_name")
        uris = _list(params, "redirect_uris")
        if len(uris) == 1 and "\n" in uris[0]:
            uris = uris[0].split()
        if not name:
            return _error(422, "Validation failed: Application name can't be blank")
        if not uris or not all(u == OOB or urlsplit(u).scheme for u in uris):
            return _error(422, "Validation failed: Redirect URI must be an absolute URI.")
        app = App(
            id=str(next(self._ids)),
            name=name,
            website=_first(params, "website") or None,
            scopes=(_first(params, "scopes") or "read").split(),
            redirect_uris=uris,
            client_id=secrets.token_urlsafe(32),
            client_secret=secrets.token_urlsafe(32),
        )
        self.apps[app.id] = app
        return JSONResponse(
            {
                "id": app.id,
                "name": app.name,
                "website": app.website,
                "scopes": app.scopes,
                "redirect_uri": "\n".join(app.redirect_uris),
                "redirect_uris": app.redirect_uris,
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "client_secret_expires_at": 0,
            }
        )

    async def verify_app(self, request: Request) -> Response:
        token = self._token_of(request.headers.get("authorization"))
        if token is None or token.app_id is None:
            return _error(401, INVALID_TOKEN)
        app = self.apps[token.app_id]
        return JSONResponse(
            {
                "id": app.id,
                "name": app.name,
                "website": app.website,
                "scopes": app.scopes,
                "redirect_uri": "\n".join(app.redirect_uris),
                "redirect_uris": app.redirect_uris,
            }
        )

    def _app_by_client(self, client_id: str | None) -> App | None:
        return next((a for a in self.apps.values() if a.client_id == client_id), None)

    async def authorize(self, request: Request) -> Response:
        """The consent page, approved at once by ``login_as`` (else the first account)."""
        query = request.query_params
        app = self._app_by_client(query.get("client_id"))
        if app is None:
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in app.redirect_uris:
            return _oauth_error(
                400,
                "invalid_redirect_uri",
                "The requested redirect uri is malformed or doesn't match client redirect URI.",
            )

        def back(**params: str) -> Response:
            if state := query.get("state"):
                params["state"] = state
            if redirect_uri == OOB:
                code = html.escape(params.get("code", ""))
                return HTMLResponse(f'<input class="oauth-code" readonly value="{code}">')
            joiner = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(f"{redirect_uri}{joiner}{urlencode(params)}", status_code=302)

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scopes = frozenset((query.get("scope") or "read").split())
        if not scopes <= set(app.scopes) and not all(
            s.split(":")[0] in app.scopes or s in app.scopes for s in scopes
        ):
            return back(error="invalid_scope")
        challenge = query.get("code_challenge")
        if challenge and query.get("code_challenge_method", "plain") != "S256":
            return back(error="invalid_request", error_description="Invalid code challenge method")
        username = query.get("fake_login") or self.login_as
        account = (
            self.account_named(username) if username else next(iter(self.accounts.values()), None)
        )
        if account is None:
            return back(error="access_denied")
        code = AuthCode(
            code=secrets.token_urlsafe(32),
            app_id=app.id,
            account_id=account.id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            challenge=challenge,
            created_at=self.now(),
        )
        self.codes[code.code] = code
        return back(code=code.code)

    async def token(self, request: Request) -> Response:
        params = await _params(request)
        client_id, client_secret = _first(params, "client_id"), _first(params, "client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        app = self._app_by_client(client_id)
        if app is None or not secrets.compare_digest(app.client_secret, client_secret or ""):
            return _oauth_error(401, "invalid_client", INVALID_CLIENT)
        grant = _first(params, "grant_type")
        if grant == "client_credentials":
            scopes = frozenset((_first(params, "scope") or "read").split())
            return self._issue(app, None, scopes)
        if grant != "authorization_code":
            return _oauth_error(
                400,
                "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )
        code = self.codes.get(_first(params, "code") or "")
        if (
            code is None
            or code.used
            or code.app_id != app.id
            or code.redirect_uri != _first(params, "redirect_uri")
            or self.now() - code.created_at > 600
        ):
            return _oauth_error(400, "invalid_grant", INVALID_GRANT)
        if code.challenge is not None:
            verifier = _first(params, "code_verifier") or ""
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not verifier or not secrets.compare_digest(expected, code.challenge):
                return _oauth_error(400, "invalid_grant", INVALID_GRANT)
        code.used = True
        return self._issue(app, code.account_id, code.scopes)

    def _issue(self, app: App, account_id: str | None, scopes: frozenset[str]) -> Response:
        value = secrets.token_urlsafe(32)
        now = self.now()
        self.tokens[value] = Token(value, app.id, account_id, scopes, now)
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "Bearer",
                "scope": " ".join(sorted(scopes)),
                "created_at": int(now),
            }
        )

    async def revoke(self, request: Request) -> Response:
        params = await _params(request)
        app = self._app_by_client(_first(params, "client_id"))
        token = self.tokens.get(_first(params, "token") or "")
        if app is None or (token is not None and token.app_id not in (None, app.id)):
            return _oauth_error(
                403, "unauthorized_client", "You are not authorized to revoke this token"
            )
        if token is not None:
            del self.tokens[token.value]
        return JSONResponse({})

    async def oauth_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": f"{self.base_url}/",
                "authorization_endpoint": f"{self.base_url}/oauth/authorize",
                "token_endpoint": f"{self.base_url}/oauth/token",
                "revocation_endpoint": f"{self.base_url}/oauth/revoke",
                "scopes_supported": ["read", "write", "follow", "push"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def instance(self, request: Request) -> Response:
        return JSONResponse(self.instance_json())

    async def verify_credentials(self, request: Request) -> Response:
        user = self._user(request, "read:accounts")
        if isinstance(user, Response):
            return user
        return JSONResponse(self.account_json(user[0], credentials=True))

    async def get_account(self, request: Request) -> Response:
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return _error(404, NOT_FOUND)
        return JSONResponse(self.account_json(account))

    async def account_statuses(self, request: Request) -> Response:
        account = self.accounts.get(request.path_params["id"])
        if account is None:
            return _error(404, NOT_FOUND)
        token = self._token_of(request.headers.get("authorization"))
        if request.headers.get("authorization") and token is None:
            return _error(401, INVALID_TOKEN)
        own = token is not None and token.account_id == account.id
        query = request.query_params
        found = [
            s for s in self.statuses_of(account.id) if own or s.visibility in ("public", "unlisted")
        ]
        if _truthy(query.get("exclude_replies", "false")):
            # Status.without_replies: replies to oneself (threads) stay.
            found = [
                s
                for s in found
                if s.in_reply_to_id is None or s.in_reply_to_account_id == account.id
            ]
        if _truthy(query.get("only_media", "false")):
            found = [s for s in found if s.media_ids]
        if _truthy(query.get("pinned", "false")):
            found = []
        found.sort(key=lambda s: int(s.id), reverse=True)
        if max_id := query.get("max_id"):
            found = [s for s in found if int(s.id) < int(max_id)]
        if since_id := query.get("since_id"):
            found = [s for s in found if int(s.id) > int(since_id)]
        try:
            limit = min(max(int(query.get("limit", "20")), 1), 40)
        except ValueError:
            limit = 20
        if min_id := query.get("min_id"):
            found = sorted((s for s in found if int(s.id) > int(min_id)), key=lambda s: int(s.id))
            page = sorted(found[:limit], key=lambda s: int(s.id), reverse=True)
        else:
            page = found[:limit]
        headers = {}
        if page:
            where = f"{self.base_url}/api/v1/accounts/{account.id}/statuses"
            headers["Link"] = (
                f'<{where}?limit={limit}&max_id={page[-1].id}>; rel="next",'
                f' <{where}?limit={limit}&min_id={page[0].id}>; rel="prev"'
            )
        return JSONResponse([self.status_json(s) for s in page], headers=headers)

    async def get_status(self, request: Request) -> Response:
        status = self.statuses.get(request.path_params["id"])
        token = self._token_of(request.headers.get("authorization"))
        if request.headers.get("authorization") and token is None:
            return _error(401, INVALID_TOKEN)
        own = status is not None and token is not None and token.account_id == status.account_id
        if status is None or status.deleted or not (own or status.visibility != "direct"):
            return _error(404, NOT_FOUND)
        if status.visibility == "private" and not own:
            return _error(404, NOT_FOUND)
        return JSONResponse(self.status_json(status))

    async def delete_status(self, request: Request) -> Response:
        user = self._user(request, "write:statuses")
        if isinstance(user, Response):
            return user
        account, _ = user
        status = self.statuses.get(request.path_params["id"])
        if status is None or status.deleted or status.account_id != account.id:
            return _error(404, NOT_FOUND)
        status.deleted = True
        # RemoveStatusService: the notifications about it go too
        for notification in list(self.notifications.values()):
            if notification.status_id == status.id:
                del self.notifications[notification.id]
        return JSONResponse(self.status_json(status, source=True))

    # -- the inbox: notifications, conversations, context, favourites ----------------------

    async def list_notifications(self, request: Request) -> Response:
        """``GET /api/v1/notifications``: newest first, ``types[]`` / ``exclude_types[]``,
        ``max_id`` / ``since_id`` / ``min_id``, ``limit`` (default 40, at most 80), Link."""
        user = self._user(request, "read:notifications")
        if isinstance(user, Response):
            return user
        account, _ = user
        query = request.query_params
        types = set(query.getlist("types[]") or query.getlist("types"))
        excluded = set(query.getlist("exclude_types[]") or query.getlist("exclude_types"))
        found = [
            n
            for n in self.notifications.values()
            if n.account_id == account.id
            and (not types or n.type in types)
            and n.type not in excluded
            and (n.status_id is None or self.visible_to(self.statuses[n.status_id], account.id))
        ]
        page, limit = _id_page(found, query, key=lambda n: int(n.id), default=40, most=80)
        kept = [("types[]", t) for t in sorted(types)] + [
            ("exclude_types[]", t) for t in sorted(excluded)
        ]
        headers = _link_header(
            f"{self.base_url}/api/v1/notifications", page, limit, kept, key=lambda n: n.id
        )
        return JSONResponse([self.notification_json(n) for n in page], headers=headers)

    def notification_json(self, notification: Notification) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": notification.id,
            "type": notification.type,
            "created_at": _iso(notification.created_at),
            "group_key": f"ungrouped-{notification.id}",
            "account": self.account_json(self.accounts[notification.from_account_id]),
        }
        if notification.status_id is not None:
            data["status"] = self.status_json(
                self.statuses[notification.status_id], viewer=notification.account_id
            )
        return data

    async def list_conversations(self, request: Request) -> Response:
        """``GET /api/v1/conversations``: direct threads the account is in, by last status.

        The conversation id is the fake's own (Mastodon's AccountConversation id); pages
        by the last status's id, as Mastodon does (``max_id`` / ``since_id`` / ``min_id``).
        """
        user = self._user(request, "read:statuses")
        if isinstance(user, Response):
            return user
        account, _ = user
        threads: dict[str, list[Status]] = {}
        for status in self.statuses.values():
            if status.visibility == "direct" and self.visible_to(status, account.id):
                threads.setdefault(self._root_of(status).id, []).append(status)
        rows = []
        for root_id, statuses in threads.items():
            last = max(statuses, key=lambda s: int(s.id))
            people = {s.account_id for s in statuses} | {
                m["id"] for s in statuses for m in s.mentions if m["id"] in self.accounts
            }
            people.discard(account.id)
            rows.append((root_id, last, sorted(people)))
        page, limit = _id_page(
            rows, request.query_params, key=lambda r: int(r[1].id), default=20, most=40
        )
        headers = _link_header(
            f"{self.base_url}/api/v1/conversations", page, limit, [], key=lambda r: r[1].id
        )
        return JSONResponse(
            [
                {
                    "id": root_id,
                    "unread": last.account_id != account.id,
                    "accounts": [self.account_json(self.accounts[a]) for a in people],
                    "last_status": self.status_json(last, viewer=account.id),
                }
                for root_id, last, people in page
            ],
            headers=headers,
        )

    def _root_of(self, status: Status) -> Status:
        seen = {status.id}
        while status.in_reply_to_id and status.in_reply_to_id in self.statuses:
            status = self.statuses[status.in_reply_to_id]
            if status.id in seen:
                break
            seen.add(status.id)
        return status

    async def status_context(self, request: Request) -> Response:
        """``GET /api/v1/statuses/:id/context``: ancestors (root first) and descendants."""
        token = self._token_of(request.headers.get("authorization"))
        if request.headers.get("authorization") and token is None:
            return _error(401, INVALID_TOKEN)
        viewer = token.account_id if token else None
        status = self.statuses.get(request.path_params["id"])
        if status is None or not self.visible_to(status, viewer):
            return _error(404, NOT_FOUND)
        ancestors: list[Status] = []
        cursor = status
        while cursor.in_reply_to_id and cursor.in_reply_to_id in self.statuses:
            cursor = self.statuses[cursor.in_reply_to_id]
            if cursor in ancestors:
                break
            ancestors.append(cursor)
        descendants: list[Status] = []
        frontier = [status.id]
        while frontier:
            children = sorted(
                (s for s in self.statuses.values() if s.in_reply_to_id in frontier),
                key=lambda s: int(s.id),
            )
            descendants.extend(children)
            frontier = [s.id for s in children]
        return JSONResponse(
            {
                "ancestors": [
                    self.status_json(s, viewer=viewer)
                    for s in reversed(ancestors)
                    if self.visible_to(s, viewer)
                ],
                "descendants": [
                    self.status_json(s, viewer=viewer)
                    for s in descendants
                    if self.visible_to(s, viewer)
                ],
            }
        )

    async def favourite(self, request: Request) -> Response:
        """``POST /api/v1/statuses/:id/favourite``; a repeat changes nothing."""
        return await self._set_favourite(request, True)

    async def unfavourite(self, request: Request) -> Response:
        return await self._set_favourite(request, False)

    async def _set_favourite(self, request: Request, on: bool) -> Response:
        user = self._user(request, "write:favourites")
        if isinstance(user, Response):
            return user
        account, _ = user
        status = self.statuses.get(request.path_params["id"])
        if status is None or not self.visible_to(status, account.id):
            return _error(404, NOT_FOUND)
        if on and account.id not in status.favourited_by:
            status.favourited_by.add(account.id)
            if status.account_id != account.id:
                self._add_notification(status.account_id, "favourite", account.id, status.id)
        elif not on:
            status.favourited_by.discard(account.id)
        return JSONResponse(self.status_json(status, viewer=account.id))

    async def upload_media(self, request: Request) -> Response:
        user = self._user(request, "write:media")
        if isinstance(user, Response):
            return user
        account, _ = user
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                return _error(422, "Validation failed: File can't be blank")
            data = await upload.read()
            mime = (upload.content_type or "").split(";")[0].strip().lower()
            description = form.get("description")
            focus_text = form.get("focus")
        limits = self.limits
        if mime in IMAGE_TYPES:
            kind, size_limit = ("gifv" if mime == "image/gif" else "image"), limits.image_size_limit
        elif mime in VIDEO_TYPES:
            kind, size_limit = "video", limits.video_size_limit
        elif mime in AUDIO_TYPES:
            kind, size_limit = "audio", limits.video_size_limit
        else:
            return _error(422, "Validation failed: File content type is invalid, File is invalid")
        if len(data) > size_limit:
            megabytes = size_limit // (1024 * 1024)
            return _error(
                422, f"Validation failed: File file size must be less than {megabytes} MB"
            )
        if isinstance(description, str) and len(description) > limits.description_limit:
            return _error(
                422,
                "Validation failed: Description is too long (maximum is"
                f" {limits.description_limit} characters)",
            )
        focus = None
        if isinstance(focus_text, str) and focus_text:
            try:
                x, y = (float(part) for part in focus_text.split(","))
            except ValueError:
                return _error(422, "Validation failed: Focus is invalid")
            focus = (x, y)
        width, height = _png_size(data) or (640, 480)
        media = Media(
            id=self._new_id(),
            account_id=account.id,
            type=kind,
            mime_type=mime,
            size=len(data),
            width=width,
            height=height,
            description=description if isinstance(description, str) and description else None,
            focus=focus,
            # Mastodon 4: images are processed at once; video, GIF and audio later.
            polls_left=0 if kind == "image" else max(limits.media_processing_polls, 0),
        )
        self.media[media.id] = media
        return JSONResponse(self.media_json(media), status_code=200 if media.processed else 202)

    async def get_media(self, request: Request) -> Response:
        user = self._user(request, "write:media")
        if isinstance(user, Response):
            return user
        media = self.media.get(request.path_params["id"])
        if media is None or media.account_id != user[0].id:
            return _error(404, NOT_FOUND)
        if not media.processed:
            media.polls_left -= 1
            return JSONResponse(self.media_json(media), status_code=206)
        return JSONResponse(self.media_json(media))

    async def create_status(self, request: Request) -> Response:
        user = self._user(request, "write:statuses")
        if isinstance(user, Response):
            return user
        account, token = user
        params = await _params(request)
        key = request.headers.get("idempotency-key")
        if key:
            remembered = self.idempotency.get((account.id, key))
            if remembered is not None and remembered[1] > self.now():
                earlier = self.statuses.get(remembered[0])
                if earlier is not None and not earlier.deleted:
                    return JSONResponse(self.status_json(earlier))
        text = _first(params, "status") or ""
        media_ids = _list(params, "media_ids")
        poll_params = _poll_params(params)
        # PostStatusService#validate_media!: a poll counts as "too many files".
        if len(media_ids) > self.limits.max_media_attachments or (media_ids and poll_params):
            return _error(
                422, f"Cannot attach more than {self.limits.max_media_attachments} files."
            )
        media = [
            self.media[m]
            for m in media_ids
            if m in self.media
            and self.media[m].account_id == account.id
            and self.media[m].status_id is None
        ]
        if any(not m.processed for m in media):
            return _error(
                422, "Cannot attach files that have not finished processing. Try again in a moment!"
            )
        kinds = {m.type for m in media}
        if len(media) > 1 and kinds & {"video", "gifv", "audio"}:
            return _error(422, "Cannot attach a video to a post that already contains images")
        in_reply_to = None
        if reply_id := _first(params, "in_reply_to_id"):
            in_reply_to = self.statuses.get(reply_id)
            if in_reply_to is None or in_reply_to.deleted:
                return _error(404, NOT_FOUND)
        quoted_id = _first(params, "quoted_status_id")
        if quoted_id is not None:
            quoted = self.statuses.get(quoted_id)
            if quoted is None or not self.visible_to(quoted, account.id):
                return _error(404, NOT_FOUND)
        visibility = _first(params, "visibility") or account.default_visibility
        if visibility not in VISIBILITIES:
            return _error(422, f"'{visibility}' is not a valid visibility")
        spoiler = _first(params, "spoiler_text") or ""
        if not text.strip() and not media:
            return _error(422, "Validation failed: Text can't be blank")
        if status_length(text, spoiler) > self.limits.max_characters:
            return _error(
                422,
                f"Validation failed: Text character limit of {self.limits.max_characters} exceeded",
            )
        poll, problem = self._poll(poll_params)
        if problem:
            return _error(422, f"Validation failed: {problem}")
        allowed, period = self.limits.statuses
        if allowed > 0:
            count, allowed, reset = self._count("statuses", account.id, self.limits.statuses)
            if count > allowed:
                self.counters[("statuses", account.id, int(self.now() // period))] -= 1
                return self._too_many(allowed, reset)
        content, mentions, tags = self.render(text)
        application = None
        if token.app_id is not None:
            app = self.apps[token.app_id]
            application = {"name": app.name, "website": app.website}
        status = Status(
            id=self._new_id(),
            account_id=account.id,
            text=text,
            content=content,
            created_at=self.now(),
            visibility=visibility,
            sensitive=_truthy(_first(params, "sensitive") or "false") or bool(spoiler),
            spoiler_text=spoiler,
            language=_first(params, "language") or "en",
            in_reply_to_id=in_reply_to.id if in_reply_to else None,
            in_reply_to_account_id=in_reply_to.account_id if in_reply_to else None,
            quoted_status_id=quoted_id,
            media_ids=[m.id for m in media],
            poll=poll,
            application=application,
            idempotency_key=key,
            mentions=mentions,
            tags=tags,
        )
        self.statuses[status.id] = status
        self._notify(status)
        for item in media:
            item.status_id = status.id
        if key:
            self.idempotency[(account.id, key)] = (status.id, self.now() + IDEMPOTENCY_SECONDS)
        return JSONResponse(self.status_json(status))

    def _poll(self, params: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str | None]:
        if params is None:
            return None, None
        limits = self.limits
        options = params["options"]
        if len(options) < 2:
            return None, "Poll options must have more than one item"
        if len(options) > limits.poll_max_options:
            return None, f"Poll options can't contain more than {limits.poll_max_options} items"
        if any(len(o) > limits.poll_max_characters_per_option for o in options):
            return None, (
                "Poll options cannot be longer than"
                f" {limits.poll_max_characters_per_option} characters each"
            )
        if len(set(options)) != len(options):
            return None, "Poll options contain duplicate items"
        try:
            expires_in = int(params.get("expires_in") or 0)
        except ValueError:
            expires_in = 0
        if expires_in < limits.poll_min_expiration:
            return None, "Poll expires at is too soon"
        if expires_in > limits.poll_max_expiration:
            return None, "Poll expires at is too far into the future"
        multiple = _truthy(params.get("multiple", False))
        return {
            "id": str(next(self._ids)),
            "expires_at": _iso(self.now() + expires_in),
            "expired": False,
            "multiple": multiple,
            "votes_count": 0,
            "voters_count": 0 if multiple else None,
            "voted": False,
            "own_votes": [],
            "options": [{"title": o, "votes_count": 0} for o in options],
            "emojis": [],
        }, None


def _id_page(
    rows: list[Any],
    query: Any,
    *,
    key: Callable[[Any], int],
    default: int,
    most: int,
) -> tuple[list[Any], int]:
    """One page, newest first, as Mastodon's ``paginate_by_id`` cuts it.

    ``max_id``: older than; ``since_id``: newer than, the newest first; ``min_id``: the
    ones immediately newer than (the oldest of them first), still answered newest first.
    """
    try:
        limit = min(max(int(query.get("limit", str(default))), 1), most)
    except ValueError:
        limit = default
    found = sorted(rows, key=key, reverse=True)
    if max_id := query.get("max_id"):
        found = [r for r in found if key(r) < int(max_id)]
    if since_id := query.get("since_id"):
        found = [r for r in found if key(r) > int(since_id)]
    if min_id := query.get("min_id"):
        newer = sorted((r for r in found if key(r) > int(min_id)), key=key)
        return sorted(newer[:limit], key=key, reverse=True), limit
    return found[:limit], limit


def _link_header(
    where: str,
    page: list[Any],
    limit: int,
    kept: list[tuple[str, str]],
    *,
    key: Callable[[Any], str],
) -> dict[str, str]:
    if not page:
        return {}
    older = urlencode([*kept, ("limit", str(limit)), ("max_id", key(page[-1]))])
    newer = urlencode([*kept, ("limit", str(limit)), ("min_id", key(page[0]))])
    return {"Link": f'<{where}?{older}>; rel="next", <{where}?{newer}>; rel="prev"'}


def _link_html(url: str) -> str:
    """TextFormatter#link_to_url: scheme (and www.) hidden, the rest cut at 30 characters."""
    prefix = regex.match(r"https?://(?:www\.)?", url, regex.IGNORECASE)
    hidden = prefix.group(0) if prefix else ""
    rest = url[len(hidden) :]
    shown, after = rest[:30], rest[30:]
    css = "ellipsis" if after else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(hidden)}</span>'
        f'<span class="{css}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(after)}</span></a>'
    )


def _rate_headers(allowed: int, remaining: int, reset: float) -> dict[str, str]:
    moment = dt.datetime.fromtimestamp(reset, tz=dt.UTC)
    return {
        "X-RateLimit-Limit": str(allowed),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
    }


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _with_headers(send: Send, headers: dict[str, str]) -> Send:
    if not headers:
        return send

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            # A route's own limit (the statuses family) wins over the API-wide one.
            present = {name.lower() for name, _ in message.get("headers", [])}
            message["headers"] = [
                *message.get("headers", []),
                *(
                    (k.lower().encode(), v.encode())
                    for k, v in headers.items()
                    if k.lower().encode() not in present
                ),
            ]
        await send(message)

    return sending


async def _params(request: Request) -> dict[str, Any]:
    """Form or JSON parameters, with Rails' ``name[]`` and ``poll[options][]`` folded."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form: FormData = await request.form()
    params: dict[str, Any] = {}
    for name in form:
        values = [v for v in form.getlist(name) if isinstance(v, str)]
        if name.endswith("[]"):
            params[name[:-2]] = values
        else:
            params[name] = values[-1] if values else ""
    return params


def _first(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _list(params: dict[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _poll_params(params: dict[str, Any]) -> dict[str, Any] | None:
    poll = params.get("poll")
    if isinstance(poll, dict):
        return {**poll, "options": [str(o) for o in poll.get("options") or []]}
    if "poll[options]" in params:
        return {
            "options": _list(params, "poll[options]"),
            "expires_in": params.get("poll[expires_in]"),
            "multiple": params.get("poll[multiple]", False),
        }
    return None


# -- the fake's own admin API (not Mastodon's) ---------------------------------------------


def admin_routes(fake: MastodonFake) -> list[Route]:
    """``/__fake__/``: read the state and turn the knobs, for tests in other processes.

    - ``GET statuses[?account_id=]``: every status (with its idempotency key) and counts;
    - ``POST statuses`` ``{"username", "status", "in_reply_to_id"?, "visibility"?,
      "quoted_status_id"?}``: a status by another account (a mention, a reply, a DM, a
      quote), notifying whom Mastodon would;
    - ``POST accounts`` ``{"username", "access_token"?, "scopes"?}``: a user and token;
    - ``POST faults`` ``{"kind", "count", "method", "path", "status", "seconds"}``;
      ``DELETE faults`` clears them;
    - ``POST config`` ``{"latency_ms", "max_characters", "api_limit", "status_limit",
      "media_limit", "media_processing_polls", "login_as"}``;
    - ``POST clock`` ``{"advance": seconds}``; ``POST reset``; ``GET health``.
    """

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "domain": fake.domain})

    async def statuses(request: Request) -> Response:
        wanted = request.query_params.get("account_id")
        rows = [
            {
                "id": s.id,
                "account_id": s.account_id,
                "text": s.text,
                "idempotency_key": s.idempotency_key,
                "in_reply_to_id": s.in_reply_to_id,
                "visibility": s.visibility,
                "spoiler_text": s.spoiler_text,
                "media_ids": s.media_ids,
                "created_at": _iso(s.created_at),
                "deleted": s.deleted,
            }
            for s in sorted(fake.statuses.values(), key=lambda s: int(s.id))
            if wanted is None or s.account_id == wanted
        ]
        counts: dict[str, int] = {}
        for row in rows:
            if not row["deleted"]:
                counts[str(row["account_id"])] = counts.get(str(row["account_id"]), 0) + 1
        return JSONResponse({"statuses": rows, "counts": counts})

    async def post_status(request: Request) -> Response:
        """A status by another account (created if new), with its notifications."""
        body = await request.json()
        try:
            status = fake.post_as(
                str(body["username"]),
                str(body["status"]),
                in_reply_to_id=body.get("in_reply_to_id"),
                visibility=str(body.get("visibility") or "public"),
                quoted_status_id=body.get("quoted_status_id"),
                spoiler_text=str(body.get("spoiler_text") or ""),
            )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(fake.status_json(status))

    async def accounts(request: Request) -> Response:
        body = await request.json()
        account, token = fake.create_account(
            str(body["username"]),
            display_name=body.get("display_name"),
            access_token=body.get("access_token"),
            scopes=str(body.get("scopes") or "read write"),
        )
        return JSONResponse({"id": account.id, "username": account.username, "access_token": token})

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            fake.faults.clear()
            return JSONResponse({"faults": 0})
        body = await request.json()
        fake.inject(
            str(body["kind"]),
            **{
                k: body[k]
                for k in ("count", "method", "path", "status", "seconds", "retry_after", "after")
                if k in body
            },
        )
        return JSONResponse({"faults": len(fake.faults)})

    async def config(request: Request) -> Response:
        body = await request.json()
        limits = fake.limits
        if "latency_ms" in body:
            fake.latency = float(body["latency_ms"]) / 1000
        if "max_characters" in body:
            limits.max_characters = int(body["max_characters"])
        if "api_limit" in body:
            limits.api = (int(body["api_limit"]), limits.api[1])
        if "status_limit" in body:
            limits.statuses = (int(body["status_limit"]), limits.statuses[1])
        if "media_limit" in body:
            limits.media = (int(body["media_limit"]), limits.media[1])
        if "media_processing_polls" in body:
            limits.media_processing_polls = int(body["media_processing_polls"])
        if "login_as" in body:
            fake.login_as = body["login_as"]
        return JSONResponse(
            {"latency_ms": fake.latency * 1000, "max_characters": limits.max_characters}
        )

    async def clock(request: Request) -> Response:
        body = await request.json()
        fake.advance(float(body.get("advance", 0)))
        return JSONResponse({"now": _iso(fake.now())})

    async def reset(request: Request) -> Response:
        fake.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/__fake__/health", health, methods=["GET"]),
        Route("/__fake__/statuses", statuses, methods=["GET"]),
        Route("/__fake__/statuses", post_status, methods=["POST"]),
        Route("/__fake__/accounts", accounts, methods=["POST"]),
        Route("/__fake__/faults", faults, methods=["POST", "DELETE"]),
        Route("/__fake__/config", config, methods=["POST"]),
        Route("/__fake__/clock", clock, methods=["POST"]),
        Route("/__fake__/reset", reset, methods=["POST"]),
    ]


# -- in-process transport -----------------------------------------------------------------


class FakeTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that behaves like a network: read timeouts and drops.

    ASGITransport ignores timeouts; this one raises ``httpx.ReadTimeout`` when the fake
    takes longer than the request's read timeout, and ``httpx.RemoteProtocolError`` when
    the fake drops the connection after applying a request.
    """

    def __init__(self, fake: MastodonFake) -> None:
        self._inner = httpx.ASGITransport(app=fake)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            with anyio.fail_after(timeout):
                return await self._inner.handle_async_request(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the fake did not answer in time", request=request) from exc
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- as a server process --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FakeServer:
    """A fake running in its own process (``python -m tests.fakes.mastodon``)."""

    base_url: str
    process: subprocess.Popen[bytes]

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.base_url}/__fake__/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextlib.contextmanager
def run_server(
    *args: str, port: int | None = None, ready_seconds: float = 20.0
) -> Iterator[FakeServer]:
    """Start the fake as a process on 127.0.0.1, wait until it answers, stop it after."""
    port = port or free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.mastodon", "--port", str(port), *args],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = FakeServer(base_url=f"http://127.0.0.1:{port}", process=process)
    try:
        deadline = time.monotonic() + ready_seconds
        while True:
            try:
                server.admin("GET", "health")
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Mastodon fake did not start") from None
                time.sleep(0.05)
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the Mastodon fake on 127.0.0.1.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--domain", default="mastodon.example")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--max-characters", type=int, default=500)
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="USER[:TOKEN]",
        help="create a user with this token (repeatable; default alice:alice-token)",
    )
    parser.add_argument(
        "--no-rate-limits", action="store_true", help="turn every per-account limit off"
    )
    options = parser.parse_args(argv)
    limits = Limits(max_characters=options.max_characters)
    if options.no_rate_limits:
        limits.api = limits.media = limits.deletes = limits.statuses = (0, 1)
    fake = MastodonFake(
        domain=options.domain,
        base_url=f"http://{options.host}:{options.port}",
        latency=options.latency_ms / 1000,
        limits=limits,
    )
    accounts = []
    for spec in options.account or ["alice:alice-token"]:
        username, _, token = spec.partition(":")
        account, token = fake.create_account(username, access_token=token or None)
        accounts.append({"id": account.id, "username": username, "access_token": token})
    print(json.dumps({"base_url": fake.base_url, "accounts": accounts}), flush=True)

    import logging

    import uvicorn  # only the server needs it

    def not_a_planned_drop(record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))

    logging.getLogger("uvicorn.error").addFilter(not_a_planned_drop)
    uvicorn.run(fake, host=options.host, port=options.port, log_level="warning")


if __name__ == "__main__":
    main()
