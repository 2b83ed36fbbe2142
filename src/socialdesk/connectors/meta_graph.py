# SPDX-License-Identifier: AGPL-3.0-or-later
"""What Facebook Pages, Instagram and Threads share: Meta's Graph API mechanics.

Nothing here knows one network's rules (those stay in ``facebook.py``, ``instagram.py``
and ``threads.py``); this module knows how any Graph host answers:

- the error object ``{"error": {"message", "type", "code", "error_subcode",
  "error_user_msg", "is_transient", "fbtrace_id"}}`` and what each code means for the
  worker (:class:`MetaGraphErrorMapper`), including the usage headers that say when a
  throttled app or Page may call again;
- a small request helper that sends the token in the ``Authorization`` header (never in a
  URL, where httpx's request log would print it) and scrubs secrets from every error;
- polling of publishing containers (Instagram and Threads publish in two steps);
- where media comes from: Graph fetches media *by URL* (:data:`MediaUrlResolver`);
- the inbox: a cursor that never misses nor doubles an item (:class:`InboxCursor`,
  :func:`inbox_page`), reading every page of an edge (:func:`get_all`), and Meta's
  webhooks (:func:`verify_signature`, :func:`parse_webhook`) for Pages and Instagram.

Sources (checked 2026-11):
https://developers.facebook.com/docs/graph-api/guides/error-handling,
https://developers.facebook.com/docs/graph-api/overview/rate-limiting,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes,
https://developers.facebook.com/docs/graph-api/webhooks/getting-started (signature),
https://developers.facebook.com/docs/graph-api/webhooks/reference/page/ (``feed``),
https://developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages,
https://developers.facebook.com/docs/instagram-platform/webhooks (``comments``,
``mentions``, ``messaging``)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx

from socialdesk.connectors.base import (
    Credentials,
    InboundAuthor,
    InboundItem,
    InboundKind,
    InboxPage,
    MediaItem,
    OutboundPost,
    WebhookItem,
)
from socialdesk.connectors.http import ErrorMapper, retry_after_seconds
from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
    ValidationError,
)

logger = logging.getLogger(__name__)

#: The Graph API version the Facebook and Instagram connectors call (v26.0 came out on
#: 2026-07-29; https://developers.facebook.com/docs/graph-api/changelog, checked 2026-11).
GRAPH_API_VERSION = "v26.0"

_REASON_MAX = 500

# Codes from the error-handling guide (what to do per code), checked 2026-11.
_AUTH_CODES = frozenset({102, 190})
_PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
#: 4 app, 17 user, 32 Page, 613 custom throttling, 341 app limit, 80001-80014 Business
#: Use Case limits (Pages, Instagram, Threads...).
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
#: 1 and 2 are "temporary issue, retry"; Instagram's -1 / -2 are server errors and
#: download timeouts with "try again" as the documented solution.
_TRANSIENT_CODES = frozenset({1, 2, -1, -2})
_DUPLICATE_CODE = 506
_MEDIA_NOT_READY_CODE = 9007
_MEDIA_NOT_READY_SUBCODE = 2207027
#: Instagram: "You reached maximum number of posts that is allowed to be published by
#: Content Publishing API" (code 9); the window is a rolling 24 hours.
_PUBLISHING_LIMIT_SUBCODE = 2207042
_PUBLISHING_LIMIT_RETRY = 3600.0
#: Messenger / Instagram messaging: code 10 with these subcodes is "This message is sent
#: outside of allowed window" (a person can be answered within 24 hours of their last
#: message), not a missing permission: reconnecting would not help
#: (developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes).
_MESSAGING_WINDOW_SUBCODES = frozenset({2018278, 2018065})


class MediaNotReady(TransientError):
    """Instagram/Threads: the container is still processing ("Media ID is not available")."""

    code = "media_not_ready"


class DuplicatePost(UncertainOutcome):
    """Graph code 506: the same post was just published. Look it up instead of retrying."""

    code = "duplicate_post"


@dataclass(frozen=True, slots=True)
class GraphError:
    """The ``error`` object of a Graph API answer."""

    message: str
    type: str = ""
    code: int | None = None
    subcode: int | None = None
    user_title: str = ""
    user_message: str = ""
    is_transient: bool = False
    fbtrace_id: str = ""

    @classmethod
    def from_response(cls, response: httpx.Response) -> GraphError | None:
        try:
            body: Any = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        if isinstance(body.get("error_message"), str):
            # api.instagram.com's OAuth endpoint answers in a flat shape.
            return cls(
                message=body["error_message"],
                type=str(body.get("error_type") or ""),
                code=_as_int(body.get("code")),
            )
        if not isinstance(body.get("error"), dict):
            return None
        error: dict[str, Any] = body["error"]
        return cls(
            message=str(error.get("message") or ""),
            type=str(error.get("type") or ""),
            code=_as_int(error.get("code")),
            subcode=_as_int(error.get("error_subcode")),
            user_title=str(error.get("error_user_title") or ""),
            user_message=str(error.get("error_user_msg") or ""),
            is_transient=bool(error.get("is_transient")),
            fbtrace_id=str(error.get("fbtrace_id") or ""),
        )

    @property
    def reason(self) -> str:
        """What a person should read: the user message where Meta wrote one."""
        text = self.user_message or self.message or self.type or "unknown error"
        return text[:_REASON_MAX]

    @property
    def reference(self) -> str:
        parts = [f"code {self.code}"]
        if self.subcode is not None:
            parts.append(f"subcode {self.subcode}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id {self.fbtrace_id}")
        return ", ".join(parts)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def usage_retry_after(response: httpx.Response) -> float | None:
    """Seconds until access returns, from the usage headers or ``Retry-After``.

    ``X-Business-Use-Case-Usage`` (Pages, Instagram) maps business ids to lists of usage
    objects whose ``estimated_time_to_regain_access`` is in *minutes*; ``X-App-Usage``
    and ``X-Ad-Account-Usage`` carry percentages only, so they give no time.
    """
    header = response.headers.get("x-business-use-case-usage")
    minutes: list[float] = []
    if header:
        try:
            usage: Any = json.loads(header)
        except ValueError:
            usage = None
        if isinstance(usage, dict):
            for entries in usage.values():
                for entry in entries if isinstance(entries, list) else [entries]:
                    if isinstance(entry, dict):
                        value = entry.get("estimated_time_to_regain_access")
                        if isinstance(value, int | float) and not isinstance(value, bool):
                            minutes.append(float(value))
    if minutes and max(minutes) > 0:
        return max(minutes) * 60.0
    return retry_after_seconds(response)


class MetaGraphErrorMapper(ErrorMapper):
    """Graph errors live in the body; the HTTP status is often just 400."""

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code < 400:
            return None
        error = GraphError.from_response(response)
        if error is None:
            return super().classify(response)
        where = self.network_name
        reason = error.reason
        detail = f"{reason} ({error.reference})"
        code = error.code
        if code in _AUTH_CODES:
            return AuthExpired(
                f"{where} no longer accepts this channel's access ({detail}); reconnect it"
            )
        if code == 10 and error.subcode in _MESSAGING_WINDOW_SUBCODES:
            return Rejected(
                f"{where} lets a Page or account answer a message only within 24 hours of the "
                f"person's last message ({detail})",
                reason="outside the messaging window",
            )
        if code in _PERMISSION_CODES:
            return AuthExpired(
                f"{where} says a permission is missing ({detail}); reconnect the channel "
                "and grant every permission it asks for"
            )
        if code == _DUPLICATE_CODE:
            return DuplicatePost(
                f"{where} says this post duplicates one it just published ({detail}); "
                "looking it up before trying again"
            )
        if code == _MEDIA_NOT_READY_CODE or error.subcode == _MEDIA_NOT_READY_SUBCODE:
            return MediaNotReady(f"{where} is still processing the media ({detail})")
        if error.subcode == _PUBLISHING_LIMIT_SUBCODE:
            return RateLimited(
                f"{where} publishing limit for this account is used up ({detail})",
                retry_after=usage_retry_after(response) or _PUBLISHING_LIMIT_RETRY,
            )
        if code in _RATE_LIMIT_CODES:
            return RateLimited(
                f"{where} is throttling requests ({detail})",
                retry_after=usage_retry_after(response),
            )
        if code in _TRANSIENT_CODES or error.is_transient or response.status_code >= 500:
            return TransientError(f"{where} had a temporary problem ({detail}); will try again")
        return Rejected(f"{where} refused the request: {detail}", reason=reason)


def scrub(exc: ConnectorError, secrets: Iterable[str]) -> ConnectorError:
    """Replace every secret in the error's texts with ``****`` (in place)."""
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        exc.message = exc.message.replace(secret, "****")
        if isinstance(exc, Rejected):
            exc.reason = exc.reason.replace(secret, "****")
    exc.args = (exc.message,)
    return exc


class GraphClient:
    """Sends Graph requests with one token and returns JSON objects, or raises."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        access_token: str | None,
        errors: ErrorMapper,
        secrets: Sequence[str] = (),
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.errors = errors
        self._secrets = [s for s in (access_token, *secrets) if s]

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def post(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        return await self.request("POST", path, data=data, files=files)

    async def delete(self, path: str) -> dict[str, Any]:
        return await self.request("DELETE", path)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        request = self.http.build_request(
            method,
            self.url(path),
            params=_form(params) if params else None,
            data=_form(data) if data else None,
            files=files,
            headers=headers,
        )
        try:
            response = await self.errors.send(self.http, request)
        except ConnectorError as exc:
            raise scrub(exc, self._secrets) from exc.__cause__
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            return body
        if body is True:  # some edges answer a bare ``true``
            return {"success": True}
        message = f"{self.errors.network_name} answered {method} {request.url.path} with no JSON"
        if method in ("GET", "HEAD"):
            raise TransientError(message)
        raise UncertainOutcome(message + "; the request may have been applied")


def _form(values: Mapping[str, Any]) -> dict[str, str]:
    """Graph parameters are strings; booleans are ``true``/``false``, lists are JSON."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


# --- containers -------------------------------------------------------------------------


async def poll_container(
    client: GraphClient,
    container_id: str,
    *,
    fields: str,
    status_field: str,
    interval: float,
    give_up_after: float,
    what: str,
) -> dict[str, Any]:
    """Read the container until its status is no longer ``IN_PROGRESS``; return that body.

    A container still processing after ``give_up_after`` seconds is a ``TransientError``: a later
    attempt makes a new container (an unpublished one expires by itself after 24 h).
    """
    deadline = anyio.current_time() + give_up_after
    while True:
        body = await client.get(container_id, {"fields": fields})
        status = str(body.get(status_field) or "")
        if status and status != "IN_PROGRESS":
            return body
        if anyio.current_time() >= deadline:
            raise TransientError(
                f"{client.errors.network_name} is still processing {what} "
                f"after {give_up_after:.0f} s; will try again"
            )
        await anyio.sleep(interval)


# --- media by URL -----------------------------------------------------------------------

#: Graph downloads media from a public URL at publishing time ("We cURL media used in
#: publishing attempts, so the media must be hosted on a publicly accessible server").
#: The domain gives connectors a resolver that turns a library file into such a URL
#: (a signed, expiring link served by socialdesk, or a CDN/bucket URL).
MediaUrlResolver = Callable[[MediaItem], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class UrlPrefixResolver:
    """Media under ``root`` is served at ``prefix`` + its relative path (a CDN, a bucket)."""

    root: Path
    prefix: str

    async def __call__(self, item: MediaItem) -> str:
        try:
            relative = item.path.resolve().relative_to(self.root.resolve())
        except ValueError:
            raise Rejected(
                f"{item.path.name} is not in the public media folder, so the network "
                "cannot fetch it",
                reason="media is not published at a public URL",
            ) from None
        return self.prefix.rstrip("/") + "/" + urllib.parse.quote(relative.as_posix())


async def public_media_urls(
    post: OutboundPost, resolver: MediaUrlResolver | None, *, network: str
) -> list[str]:
    """One public URL per media item: ``options["media_urls"]`` first, else the resolver."""
    given = post.options.get("media_urls")
    if given is not None:
        urls = list(given) if isinstance(given, list | tuple) else []
        if len(urls) != len(post.media) or not all(isinstance(u, str) and u for u in urls):
            raise Rejected(
                "options.media_urls must list one URL per media item",
                reason="media URLs do not match the media",
            )
        return [str(u) for u in urls]
    if not post.media:
        return []
    if resolver is None:
        raise Rejected(
            f"{network} fetches media from a public URL and no media URL resolver is "
            "configured for this channel",
            reason="media has no public URL",
        )
    return [await resolver(item) for item in post.media]


# --- looking posts up -------------------------------------------------------------------

#: Posts created up to this long before the recorded attempt still count as ours
#: (clock skew between us and Meta).
LOOKUP_SKEW = dt.timedelta(minutes=2)
#: Where the domain did not say when the uncertain attempt started.
DEFAULT_LOOKBACK = dt.timedelta(hours=24)


def attempted_since(post: OutboundPost, *, now: dt.datetime | None = None) -> dt.datetime:
    """The earliest instant a post of this delivery can have been created.

    The domain passes ``options["attempted_at"]`` (an aware datetime or ISO 8601 text):
    when the first attempt whose outcome is unknown started. Without it the lookup falls
    back to the last 24 hours, where an identical older post could be mistaken for ours.
    """
    raw = post.options.get("attempted_at")
    when: dt.datetime | None = None
    if isinstance(raw, dt.datetime):
        when = raw
    elif isinstance(raw, str) and raw:
        try:
            when = dt.datetime.fromisoformat(raw)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        return (now or dt.datetime.now(dt.UTC)) - DEFAULT_LOOKBACK
    return when.astimezone(dt.UTC) - LOOKUP_SKEW


def parse_graph_time(value: Any) -> dt.datetime | None:
    """Graph timestamps look like ``2026-11-20T10:00:00+0000``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.UTC)


def same_text(ours: str, theirs: Any) -> bool:
    """Whether the network's copy of a text is ours (it may trim and re-normalise it)."""
    if theirs is None:
        theirs = ""  # Graph leaves the field out when a post has no text
    if not isinstance(theirs, str):
        return False
    return _normal(ours) == _normal(theirs)


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def newest_match(
    items: Iterable[Mapping[str, Any]],
    *,
    text: str,
    text_field: str,
    time_field: str,
    since: dt.datetime,
) -> Mapping[str, Any] | None:
    """The newest item with our text created at or after ``since``."""
    best: Mapping[str, Any] | None = None
    best_time: dt.datetime | None = None
    for item in items:
        created = parse_graph_time(item.get(time_field))
        if created is None or created < since or not same_text(text, item.get(text_field)):
            continue
        if best_time is None or created > best_time:
            best, best_time = item, created
    return best


def after_first_write(exc: ConnectorError, *, published_id: str, what: str) -> ConnectorError:
    """Any error that happened after the post itself exists is an ``UncertainOutcome``.

    Retrying ``publish`` would post it twice, so the worker must take the lookup path:
    ``find_published`` finds the post and finishes what is missing (thread parts, the
    first comment). A lapsed token or a rate limit shows up again in that lookup.
    """
    return UncertainOutcome(
        f"the post is published (id {published_id}) but {what} failed: {exc.message}; "
        "the rest is completed after looking the post up"
    )


# --- OAuth ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetaApp:
    """A Meta app's id and secret (Facebook app, Instagram app or Threads app)."""

    client_id: str
    client_secret: str

    def __repr__(self) -> str:
        return f"MetaApp(client_id={self.client_id!r}, client_secret='****')"

    __str__ = __repr__


def expires_at(body: Mapping[str, Any], *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When a token from an OAuth answer expires (``expires_in`` seconds), if it does."""
    seconds = body.get("expires_in")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        return None
    return (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=float(seconds))


def access_token_of(body: Mapping[str, Any], *, network: str) -> str:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise Rejected(f"{network} answered the token exchange without an access token")
    return token


def renewed(old: Credentials, body: Mapping[str, Any], *, network: str) -> Credentials:
    """A new token with everything else kept: a renewal never drops a stored value."""
    return Credentials(
        access_token=access_token_of(body, network=network),
        refresh_token=old.refresh_token,
        expires_at=expires_at(body) or old.expires_at,
        extra=dict(old.extra),
    )


def id_of(body: Mapping[str, Any], *, network: str) -> str:
    """The ``id`` of what a POST created (Graph ids are numeric strings)."""
    value = body.get("id")
    if value is None or value == "":
        raise UncertainOutcome(f"{network} answered without the id of what it created")
    return str(value)


_VERSION_SUFFIX = re.compile(r"/v\d+(?:\.\d+)?/?$")


def origin_of(base_url: str) -> str:
    """``https://graph.threads.net/v1.0`` -> ``https://graph.threads.net`` (OAuth paths)."""
    return _VERSION_SUFFIX.sub("", base_url.rstrip("/"))


def needs_refresh(
    expires: dt.datetime | None, *, before: dt.timedelta, now: dt.datetime | None = None
) -> bool:
    if expires is None:
        return False
    return expires - (now or dt.datetime.now(dt.UTC)) <= before


# --- the inbox --------------------------------------------------------------------------

#: Each sync reads again this far before the newest item it returned: an API may list an
#: item a little after the time it carries (Graph is eventually consistent), and the ids
#: remembered for this window keep the re-read from returning an item twice.
INBOX_OVERLAP = dt.timedelta(minutes=10)
#: The most items one ``fetch_inbox`` answers; ``InboxPage.more`` says when others wait.
INBOX_PAGE_SIZE = 100
#: How many pages of one edge a sync reads at most.
MAX_EDGE_PAGES = 20
_CURSOR_PREFIX = "i1."
_OVERLAP_MS = int(INBOX_OVERLAP.total_seconds() * 1000)


@dataclass(frozen=True, slots=True)
class InboxCursor:
    """Where a channel's inbox sync stopped: the newest item's time and the ids seen near it.

    The inbox stores :meth:`encode` and passes it back; nothing else reads it. Times are
    epoch milliseconds, so LinkedIn's times fit as well as Graph's seconds.
    """

    #: Creation time (ms) of the newest item returned so far; None before the first one.
    newest: int | None = None
    #: Ids returned with a time within :data:`INBOX_OVERLAP` of ``newest``, and their times.
    seen: Mapping[str, int] = field(default_factory=dict)

    @property
    def read_from(self) -> dt.datetime | None:
        """The earliest creation time a sync must read again (None: read everything)."""
        if self.newest is None:
            return None
        return from_ms(self.newest - _OVERLAP_MS)

    def encode(self) -> str:
        body = {"n": self.newest, "s": dict(sorted(self.seen.items()))}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> InboxCursor:
        if not value:
            return cls()
        if not value.startswith(_CURSOR_PREFIX):
            raise ValidationError("this inbox cursor was not written by socialdesk", field="cursor")
        text = value[len(_CURSOR_PREFIX) :]
        try:
            body: Any = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("the inbox cursor is damaged", field="cursor") from exc
        newest = body.get("n") if isinstance(body, dict) else None
        seen = body.get("s") if isinstance(body, dict) else None
        if (
            (newest is not None and not _is_int(newest))
            or not isinstance(seen, dict)
            or not all(isinstance(k, str) and _is_int(v) for k, v in seen.items())
        ):
            raise ValidationError("the inbox cursor is damaged", field="cursor")
        return cls(newest=newest, seen=dict(seen))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def to_ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def inbox_page(
    found: Iterable[InboundItem], cursor: InboxCursor, *, limit: int = INBOX_PAGE_SIZE
) -> InboxPage:
    """What of ``found`` the cursor has not returned yet, oldest first, and the cursor after.

    ``found`` is everything a sync read since ``cursor.read_from`` (duplicates allowed).
    An item is returned once: later syncs skip it by time, or by id inside the overlap.
    """
    read_from = cursor.read_from
    fresh: dict[str, InboundItem] = {}
    for item in found:
        if item.external_id in cursor.seen or item.external_id in fresh:
            continue
        if read_from is not None and item.created_at < read_from:
            continue
        fresh[item.external_id] = item
    ordered = sorted(fresh.values(), key=lambda i: (i.created_at, i.external_id))
    chosen = ordered[:limit]
    if not chosen:
        return InboxPage(items=(), cursor=None, more=False)
    newest = max(cursor.newest or 0, to_ms(chosen[-1].created_at))
    floor = newest - _OVERLAP_MS
    seen = {key: when for key, when in cursor.seen.items() if when >= floor}
    for item in chosen:
        if to_ms(item.created_at) >= floor:
            seen[item.external_id] = to_ms(item.created_at)
    return InboxPage(
        items=tuple(chosen),
        cursor=InboxCursor(newest=newest, seen=seen).encode(),
        more=len(ordered) > limit,
    )


def next_cursor(body: Mapping[str, Any]) -> str | None:
    """The ``after`` cursor of a Graph list, when there is a next page."""
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


async def get_all(
    client: GraphClient,
    path: str,
    params: Mapping[str, Any],
    *,
    max_pages: int = MAX_EDGE_PAGES,
) -> list[dict[str, Any]]:
    """Every object of a Graph edge, following ``paging.cursors.after``."""
    items: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(max_pages):
        body = await client.get(path, query)
        data = body.get("data")
        if isinstance(data, list):
            items.extend(d for d in data if isinstance(d, dict))
        after = next_cursor(body)
        if after is None:
            return items
        query = {**query, "after": after}
    logger.warning(
        "%s: stopped reading %s after %d pages", client.errors.network_name, path, max_pages
    )
    return items


def graph_author(sender: Any, *, handle_field: str = "name") -> InboundAuthor:
    """An item's author from a Graph ``from`` object (absent without the permission)."""
    if not isinstance(sender, Mapping):
        return InboundAuthor(external_id="", handle="")
    name = str(sender.get(handle_field) or sender.get("name") or "")
    picture = sender.get("picture")
    if isinstance(picture, Mapping) and isinstance(picture.get("data"), Mapping):
        picture = picture["data"].get("url")
    return InboundAuthor(
        external_id=str(sender.get("id") or ""),
        handle=name,
        display_name=str(sender.get("name") or ""),
        avatar_url=picture if isinstance(picture, str) else None,
    )


def parent_of(target_kind: InboundKind, external_id: str, extra: Mapping[str, str]) -> str:
    """Where an answer to an item goes on a network that nests comments one level deep.

    Facebook and Instagram attach a reply to a reply to the top-level comment (the way
    their apps do), so a reply targets the parent of a ``REPLY``.
    """
    if target_kind is InboundKind.REPLY and extra.get("parent_id"):
        return extra["parent_id"]
    return external_id


# --- direct messages (Messenger, Instagram) ----------------------------------------------


async def send_message(
    client: GraphClient,
    sender: str,
    recipient_id: str,
    text: str,
    *,
    messaging_type: str | None = "RESPONSE",
) -> str:
    """Send API: ``POST /{page-id|ig-user-id}/messages``; the new message's ``mid``."""
    body = await client.post(
        f"{sender}/messages",
        {
            "recipient": {"id": recipient_id},
            "messaging_type": messaging_type,
            "message": {"text": text},
        },
    )
    mid = body.get("message_id")
    if not isinstance(mid, str) or not mid:
        raise UncertainOutcome(
            f"{client.errors.network_name} accepted the message but did not say its id"
        )
    return mid


async def find_sent_message(
    client: GraphClient,
    owner: str,
    *,
    platform: str,
    recipient_id: str,
    own_id: str,
    text: str,
    since: dt.datetime,
) -> str | None:
    """Our newest message with ``text`` to ``recipient_id`` since ``since`` (Conversations API).

    ``GET /{owner}/conversations?platform=...&user_id=...`` lists the one conversation with
    that person, with its latest messages nested.
    """
    body = await client.get(
        f"{owner}/conversations",
        {
            "platform": platform,
            "user_id": recipient_id,
            "fields": "id,messages.limit(50){id,message,from,created_time}",
        },
    )
    ours: list[Mapping[str, Any]] = []
    for conversation in body.get("data") or []:
        messages = conversation.get("messages") if isinstance(conversation, dict) else None
        listed = messages.get("data") if isinstance(messages, dict) else None
        for message in listed if isinstance(listed, list) else []:
            sender = message.get("from") if isinstance(message, dict) else None
            if isinstance(sender, dict) and str(sender.get("id")) == own_id:
                ours.append(message)
    found = newest_match(
        ours, text=text, text_field="message", time_field="created_time", since=since
    )
    return str(found["id"]) if found is not None else None


# --- webhooks (Facebook Pages and Instagram) ----------------------------------------------

#: The header that carries the body's signature: ``sha256=`` and the hex HMAC-SHA256 of
#: the raw body keyed with the app secret.
SIGNATURE_HEADER = "X-Hub-Signature-256"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether ``header`` (``X-Hub-Signature-256``) signs ``raw_body`` with ``app_secret``."""
    if not app_secret or not header:
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, bytes.fromhex(match.group(1)))


WebhookChange = Callable[[Mapping[str, Any], str, dt.datetime, str], InboundItem | None]


def parse_webhook(payload: Mapping[str, Any]) -> list[WebhookItem]:
    """The inbox items in a Meta webhook body (``object`` ``page`` or ``instagram``).

    Each item's ``account_id`` is the entry's ``id``: the Page id or the Instagram account
    id, which is the external id the channel stores. Items carry ``extra["verb"]``
    (``add``, ``edited``, ``remove``, ``hide``...) for comment changes; an Instagram
    ``mentions`` change carries ids only (``extra["media_id"]``, ``extra["comment_id"]``)
    and empty text and author, to be read with the channel's token. Objects, fields and
    events that are not inbox items are skipped; a body that is not shaped like a Meta
    webhook raises ``ValidationError``.
    """
    if not isinstance(payload, Mapping):
        raise ValidationError("a Meta webhook body must be a JSON object")
    kind = payload.get("object")
    if not isinstance(kind, str) or not kind:
        raise ValidationError('a Meta webhook body must name its "object"', field="object")
    changes = _WEBHOOK_CHANGES.get(kind)
    if changes is None:
        return []
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise ValidationError('a Meta webhook body must have an "entry" list', field="entry")
    out: list[WebhookItem] = []
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        if not isinstance(entry, Mapping):
            raise ValidationError(f"{where} must be an object", field=where)
        account_id = _required_id(entry.get("id"), f"{where}.id")
        when = _webhook_time(entry.get("time")) or dt.datetime.now(dt.UTC)
        for number, change in enumerate(_list_of(entry, "changes", where)):
            here = f"{where}.changes[{number}]"
            if not isinstance(change, Mapping):
                raise ValidationError(f"{here} must be an object", field=here)
            parse = changes.get(str(change.get("field")))
            if parse is None:
                continue
            value = change.get("value")
            if not isinstance(value, Mapping):
                raise ValidationError(f"{here}.value must be an object", field=here)
            item = parse(value, account_id, when, here)
            if item is not None:
                out.append(WebhookItem(account_id=account_id, item=item))
        for number, event in enumerate(_list_of(entry, "messaging", where)):
            item = _message_item(event, account_id, when, f"{where}.messaging[{number}]")
            if item is not None:
                out.append(WebhookItem(account_id=account_id, item=item))
    return out


def _list_of(entry: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = entry.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{where}.{key} must be a list", field=f"{where}.{key}")
    return value


def _required_id(value: Any, where: str) -> str:
    text = _optional_id(value)
    if text is None:
        raise ValidationError(f"{where} must be an id", field=where)
    return text


def _optional_id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _webhook_time(value: Any) -> dt.datetime | None:
    """Webhook times are epoch seconds (``changes``) or milliseconds (``messaging``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return parse_graph_time(value)


def _page_feed(
    value: Mapping[str, Any], account_id: str, when: dt.datetime, where: str
) -> InboundItem | None:
    """``feed`` changes: only ``item: comment`` is an inbox item (posts, reactions are not)."""
    if value.get("item") != "comment":
        return None
    comment_id = _required_id(value.get("comment_id"), f"{where}.value.comment_id")
    post_id = _required_id(value.get("post_id"), f"{where}.value.post_id")
    parent_id = _optional_id(value.get("parent_id")) or post_id
    author = graph_author(value.get("from"))
    extra = {"verb": str(value.get("verb") or "add"), "post_id": post_id}
    kind = InboundKind.COMMENT
    if parent_id != post_id:
        kind = InboundKind.REPLY
        extra["parent_id"] = parent_id
    return InboundItem(
        external_id=comment_id,
        kind=kind,
        author=author,
        text=str(value.get("message") or ""),
        created_at=_webhook_time(value.get("created_time")) or when,
        conversation_id=post_id,
        in_reply_to=parent_id,
        our_post_id=post_id,
        from_us=bool(author.external_id) and author.external_id == account_id,
        extra=extra,
    )


def _instagram_comment(
    value: Mapping[str, Any], account_id: str, when: dt.datetime, where: str
) -> InboundItem | None:
    comment_id = _required_id(value.get("id"), f"{where}.value.id")
    media = value.get("media")
    if not isinstance(media, Mapping):
        raise ValidationError(f"{where}.value.media must be an object", field=where)
    media_id = _required_id(media.get("id"), f"{where}.value.media.id")
    parent_id = _optional_id(value.get("parent_id"))
    author = graph_author(value.get("from"), handle_field="username")
    extra = {"verb": "add", "media_id": media_id}
    if isinstance(media.get("media_product_type"), str):
        extra["media_product_type"] = media["media_product_type"]
    if parent_id:
        extra["parent_id"] = parent_id
    return InboundItem(
        external_id=comment_id,
        kind=InboundKind.REPLY if parent_id else InboundKind.COMMENT,
        author=author,
        text=str(value.get("text") or ""),
        created_at=when,
        conversation_id=media_id,
        url=None,
        in_reply_to=parent_id or media_id,
        our_post_id=media_id,
        from_us=bool(author.external_id) and author.external_id == account_id,
        extra=extra,
    )


def _instagram_mention(
    value: Mapping[str, Any], account_id: str, when: dt.datetime, where: str
) -> InboundItem | None:
    """A caption or comment elsewhere names the account; the body has only the ids."""
    media_id = _required_id(value.get("media_id"), f"{where}.value.media_id")
    comment_id = _optional_id(value.get("comment_id"))
    # "partial": the inbox asks the connector for the rest (complete_pushed) before storing.
    extra = {"media_id": media_id, "partial": "1"}
    if comment_id:
        extra["comment_id"] = comment_id
    return InboundItem(
        external_id=comment_id or media_id,
        kind=InboundKind.MENTION,
        author=InboundAuthor(external_id="", handle=""),
        text="",
        created_at=when,
        conversation_id=media_id,
        in_reply_to=media_id if comment_id else None,
        extra=extra,
    )


def _message_item(event: Any, account_id: str, when: dt.datetime, where: str) -> InboundItem | None:
    """A Messenger / Instagram ``messaging`` event; deliveries, reads, reactions are skipped."""
    if not isinstance(event, Mapping):
        raise ValidationError(f"{where} must be an object", field=where)
    message = event.get("message")
    if message is None:
        return None
    if not isinstance(message, Mapping):
        raise ValidationError(f"{where}.message must be an object", field=where)
    mid = _required_id(message.get("mid"), f"{where}.message.mid")
    sender = event.get("sender")
    recipient = event.get("recipient")
    sender_id = _required_id(
        sender.get("id") if isinstance(sender, Mapping) else None, f"{where}.sender.id"
    )
    recipient_id = _required_id(
        recipient.get("id") if isinstance(recipient, Mapping) else None, f"{where}.recipient.id"
    )
    from_us = bool(message.get("is_echo")) or sender_id == account_id
    extra = {"sender_id": sender_id, "recipient_id": recipient_id}
    attachments = message.get("attachments")
    if isinstance(attachments, list) and attachments:
        extra["attachments"] = ",".join(
            str(a.get("type") or "file") for a in attachments if isinstance(a, Mapping)
        )
    if message.get("is_deleted"):
        extra["deleted"] = "true"
    reply_to = message.get("reply_to")
    return InboundItem(
        external_id=mid,
        kind=InboundKind.MESSAGE,
        author=InboundAuthor(external_id=sender_id, handle=sender_id),
        text=str(message.get("text") or ""),
        created_at=_webhook_time(event.get("timestamp")) or when,
        # The conversation is the person's scoped id (PSID / IGSID): stable per account.
        conversation_id=recipient_id if from_us else sender_id,
        in_reply_to=(_optional_id(reply_to.get("mid")) if isinstance(reply_to, Mapping) else None),
        from_us=from_us,
        extra=extra,
    )


#: Which ``changes`` fields of which webhook objects are inbox items; ``messaging``
#: events are read for every object listed here.
_WEBHOOK_CHANGES: Mapping[str, Mapping[str, WebhookChange]] = {
    "page": {"feed": _page_feed},
    "instagram": {"comments": _instagram_comment, "mentions": _instagram_mention},
}


__all__ = [
    "DEFAULT_LOOKBACK",
    "GRAPH_API_VERSION",
    "INBOX_OVERLAP",
    "INBOX_PAGE_SIZE",
    "LOOKUP_SKEW",
    "SIGNATURE_HEADER",
    "DuplicatePost",
    "GraphClient",
    "GraphError",
    "InboxCursor",
    "MediaNotReady",
    "MediaUrlResolver",
    "MetaApp",
    "MetaGraphErrorMapper",
    "UrlPrefixResolver",
    "access_token_of",
    "after_first_write",
    "attempted_since",
    "expires_at",
    "find_sent_message",
    "from_ms",
    "get_all",
    "graph_author",
    "id_of",
    "inbox_page",
    "needs_refresh",
    "newest_match",
    "next_cursor",
    "origin_of",
    "parent_of",
    "parse_graph_time",
    "parse_webhook",
    "poll_container",
    "public_media_urls",
    "renewed",
    "same_text",
    "scrub",
    "send_message",
    "to_ms",
    "usage_retry_after",
    "verify_signature",
]
