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
- where media comes from: Graph fetches media *by URL* (:data:`MediaUrlResolver`).

Sources (checked 2026-11):
https://developers.facebook.com/docs/graph-api/guides/error-handling,
https://developers.facebook.com/docs/graph-api/overview/rate-limiting,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import unicodedata
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from socialdesk.connectors.base import Credentials, MediaItem, OutboundPost
from socialdesk.connectors.http import ErrorMapper, retry_after_seconds
from socialdesk.errors import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
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


__all__ = [
    "DEFAULT_LOOKBACK",
    "GRAPH_API_VERSION",
    "LOOKUP_SKEW",
    "DuplicatePost",
    "GraphClient",
    "GraphError",
    "MediaNotReady",
    "MediaUrlResolver",
    "MetaApp",
    "MetaGraphErrorMapper",
    "UrlPrefixResolver",
    "access_token_of",
    "after_first_write",
    "attempted_since",
    "expires_at",
    "id_of",
    "needs_refresh",
    "newest_match",
    "origin_of",
    "parse_graph_time",
    "poll_container",
    "public_media_urls",
    "renewed",
    "same_text",
    "scrub",
    "usage_retry_after",
]
