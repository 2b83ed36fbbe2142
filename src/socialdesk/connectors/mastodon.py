# SPDX-License-Identifier: AGPL-3.0-or-later
"""Mastodon: any instance, one base URL per channel.

Everything that knows Mastodon lives here: its text and media rules, connecting an
account (app registration, OAuth with PKCE), publishing with ``Idempotency-Key``, the
look-up after an uncertain attempt, and its error mapping.

Sources (checked 2026-11):

- API methods and entities: docs.joinmastodon.org (methods/apps, methods/oauth,
  methods/statuses, methods/media, methods/accounts, entities/Instance, api/rate-limits).
- Status length: ``app/validators/status_length_validator.rb`` — grapheme clusters of
  ``spoiler_text + text``, every http(s) URL counts as 23, ``@user@domain`` counts as
  ``@user``; the instance tells its own limit in ``configuration.statuses.max_characters``.
- Posting limit: ``app/lib/rate_limiter.rb`` (``statuses``: 300 per 3 hours per account);
  the API as a whole: 300 requests per 5 minutes per account, media uploads 30 per 30 min.
- ``Idempotency-Key``: ``PostStatusService`` keeps a key per account for one hour and
  answers a repeat with the status the first request created.
- PKCE (S256 only) since Mastodon 4.3 (mastodon/mastodon#31129); older instances ignore
  the parameters, so sending them is always safe.
- The inbox: methods/notifications (``types[]``, ``min_id`` / ``max_id`` / ``since_id``,
  ``limit`` default 40 and at most 80, ``Link`` pages; scope ``read:notifications``),
  entities/Notification (``mention``; ``quote`` since 4.5), methods/statuses (``context``,
  ``favourite``, ``in_reply_to_id``), entities/Status (``visibility``, ``quote``). A direct
  message is a ``mention`` notification whose status has visibility ``direct``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

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
    ValidationError,
)

__all__ = [
    "DEFAULT_SCOPES",
    "AuthorizationRequest",
    "MastodonApp",
    "MastodonConnector",
    "MastodonErrorMapper",
    "authorization_url",
    "exchange_code",
    "instance_extra",
    "register_app",
    "status_text",
]

logger = logging.getLogger(__name__)

#: What socialdesk asks for: read (verify, look-ups) and write (statuses, media).
DEFAULT_SCOPES = "read write"
#: How long an instance remembers an ``Idempotency-Key`` (PostStatusService: 3,600 s).
IDEMPOTENCY_KEY_SECONDS = 3600
_STATUS_PAGE = 40  # the most GET /api/v1/accounts/:id/statuses returns per page
_LOOKUP_PAGES = 5
_OOB = "urn:ietf:wg:oauth:2.0:oob"

_DOCS = "https://docs.joinmastodon.org"
_SOURCE = "https://github.com/mastodon/mastodon"


class MastodonErrorMapper(ErrorMapper):
    """Mastodon's answers: the generic statuses, plus its rate-limit headers.

    A 429 says when the window ends in ``X-RateLimit-Reset`` (an ISO 8601 time), and
    sometimes ``Retry-After``; either gives the wait.
    """

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code == 429:
            reason = reason_of(response)
            return RateLimited(
                f"{self.network_name} is rate limiting this account ({reason})",
                retry_after=_rate_limit_wait(response),
            )
        return super().classify(response)


def _rate_limit_wait(response: httpx.Response, *, now: dt.datetime | None = None) -> float | None:
    waits = [w for w in (retry_after_seconds(response, now=now),) if w is not None]
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        reset = reset.split(",")[-1].strip()  # a proxy may have repeated the header
        try:
            when = dt.datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            now = now or dt.datetime.now(dt.UTC)
            waits.append(max(0.0, (when - now).total_seconds()))
    return max(waits) if waits else None


# -- connecting an account --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MastodonApp:
    """socialdesk's registration on one instance (``POST /api/v1/apps``).

    ``client_secret`` is a secret: store it encrypted, like a token. One registration per
    instance and redirect URI serves every channel on that instance.
    """

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    scopes: str = DEFAULT_SCOPES
    app_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Where to send the person, and what to keep until they come back."""

    url: str
    state: str
    #: Keep server-side until the callback; send it with the code (PKCE).
    code_verifier: str = field(repr=False)


def _clean_base_url(base_url: str) -> str:
    url = base_url.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"not an instance address: {base_url!r}", field="base_url")
    return url


async def register_app(
    http: httpx.AsyncClient,
    base_url: str,
    redirect_uri: str,
    website: str | None = None,
    *,
    client_name: str = "socialdesk",
    scopes: str = DEFAULT_SCOPES,
) -> MastodonApp:
    """Register socialdesk on the instance at ``base_url`` (``POST /api/v1/apps``)."""
    base = _clean_base_url(base_url)
    body: dict[str, Any] = {
        "client_name": client_name,
        "redirect_uris": redirect_uri,
        "scopes": scopes,
    }
    if website:
        body["website"] = website
    request = http.build_request("POST", f"{base}/api/v1/apps", json=body)
    response = await MastodonConnector.errors.send(http, request)
    data = _json_object(response)
    client_id, client_secret = data.get("client_id"), data.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(client_secret, str):
        raise TransientError("Mastodon answered the app registration without credentials")
    granted = data.get("scopes")
    return MastodonApp(
        base_url=base,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=redirect_uri,
        scopes=" ".join(granted) if isinstance(granted, list) and granted else scopes,
        app_id=str(data["id"]) if data.get("id") is not None else None,
    )


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_url(
    app: MastodonApp,
    *,
    state: str | None = None,
    code_verifier: str | None = None,
    scopes: str | None = None,
    force_login: bool = False,
    lang: str | None = None,
) -> AuthorizationRequest:
    """The instance's consent page for ``app``, with a fresh ``state`` and PKCE (S256).

    Compare the ``state`` that comes back with the one kept (``hmac.compare_digest``)
    before calling :func:`exchange_code`.
    """
    state = state or secrets.token_urlsafe(32)
    verifier = code_verifier or secrets.token_urlsafe(64)  # 86 characters (RFC 7636: 43-128)
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "scope": scopes or app.scopes,
        "state": state,
        "code_challenge": _pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if force_login:
        params["force_login"] = "true"
    if lang:
        params["lang"] = lang
    return AuthorizationRequest(
        url=f"{app.base_url}/oauth/authorize?{urlencode(params)}",
        state=state,
        code_verifier=verifier,
    )


async def exchange_code(
    http: httpx.AsyncClient,
    app: MastodonApp,
    *,
    code: str,
    code_verifier: str,
    scopes: str | None = None,
) -> Credentials:
    """Trade the code from the callback for a token (``POST /oauth/token``).

    The credentials carry ``base_url`` and ``scope`` in ``extra``; :meth:`verify` adds
    the account and the instance's limits.
    """
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "redirect_uri": app.redirect_uri,
        "code_verifier": code_verifier,
        "scope": scopes or app.scopes,
    }
    request = http.build_request("POST", f"{app.base_url}/oauth/token", data=data)
    try:
        response = await MastodonConnector.errors.send(http, request)
    except AuthExpired as exc:  # 401 invalid_client: the instance forgot the app
        raise Rejected(
            "the instance did not accept socialdesk's app registration; register it again",
            reason="invalid_client",
        ) from exc
    except UncertainOutcome as exc:  # a code is single-use: the person must start again
        raise TransientError(
            "the instance did not answer the token request in time; connect again"
        ) from exc
    token = _json_object(response)
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TransientError("Mastodon answered the token request without a token")
    expires_at = None
    expires_in = token.get("expires_in")
    if isinstance(expires_in, int | float) and expires_in > 0:
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(expires_in))
    refresh = token.get("refresh_token")
    extra = {"base_url": app.base_url, "scope": str(token.get("scope") or data["scope"])}
    return Credentials(
        access_token=access_token,
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_at=expires_at,
        extra=extra,
    )


# -- instance configuration -------------------------------------------------------------

_INSTANCE_KEYS: dict[str, tuple[str, str]] = {
    # extra key: (configuration section, field)
    "max_characters": ("statuses", "max_characters"),
    "max_media_attachments": ("statuses", "max_media_attachments"),
    "characters_reserved_per_url": ("statuses", "characters_reserved_per_url"),
    "image_size_limit": ("media_attachments", "image_size_limit"),
    "image_matrix_limit": ("media_attachments", "image_matrix_limit"),
    "video_size_limit": ("media_attachments", "video_size_limit"),
    "description_limit": ("media_attachments", "description_limit"),
    "poll_max_options": ("polls", "max_options"),
    "poll_max_characters_per_option": ("polls", "max_characters_per_option"),
    "poll_min_expiration": ("polls", "min_expiration"),
    "poll_max_expiration": ("polls", "max_expiration"),
}


def instance_extra(instance: Mapping[str, Any]) -> dict[str, str]:
    """The limits an instance publishes (``GET /api/v2/instance``) as ``Credentials.extra``.

    Values are strings (``extra`` is ``Mapping[str, str]``); absent ones are left out so
    the class defaults apply.
    """
    extra: dict[str, str] = {}
    config = instance.get("configuration")
    if not isinstance(config, Mapping):
        return extra
    for key, (section, name) in _INSTANCE_KEYS.items():
        part = config.get(section)
        value = part.get(name) if isinstance(part, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            extra[key] = str(value)
    media = config.get("media_attachments")
    mime_types = media.get("supported_mime_types") if isinstance(media, Mapping) else None
    if isinstance(mime_types, list) and all(isinstance(m, str) for m in mime_types):
        extra["supported_mime_types"] = ",".join(mime_types)
    for key in ("domain", "version"):
        value = instance.get(key)
        if isinstance(value, str) and value:
            extra[f"instance_{key}"] = value
    return extra


def _positive(extra: Mapping[str, str], key: str) -> int | None:
    value = extra.get(key)
    if value is not None and str(value).isdigit() and int(value) > 0:
        return int(value)
    return None


# -- reading statuses back --------------------------------------------------------------


class _TextOfHtml(HTMLParser):
    """The visible text of a status's ``content`` (paragraphs and line breaks kept)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def status_text(content_html: str) -> str:
    """Plain text of a status's HTML ``content`` (links, mentions, hashtags flattened)."""
    parser = _TextOfHtml()
    parser.feed(content_html)
    parser.close()
    return "".join(parser.parts).strip()


# A mention as Mastodon finds it (Account::MENTION_RE): Mastodon shows ``@user@domain`` as
# ``@user`` in the HTML, so both sides of a comparison drop the domain.
_MENTION = re.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@\w+(?:[.-]+\w+)*)?", re.IGNORECASE
)
_SPACE = re.compile(r"\s+")


def _comparable(text: str) -> str:
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    return _SPACE.sub(" ", text).strip().casefold()


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise TransientError(f"Mastodon answered {response.status_code} without JSON") from exc
    if not isinstance(data, dict):
        raise TransientError("Mastodon answered with an unexpected JSON shape")
    return data


# -- the connector ----------------------------------------------------------------------


class MastodonConnector(Connector):
    network: ClassVar[Network] = Network.MASTODON
    display_name: ClassVar[str] = "Mastodon"
    text_rules: ClassVar[TextRules] = TextRules(
        max_length=500,
        counting=TextCounting.MASTODON,
        url_length=23,
        source=(
            f"{_SOURCE}/blob/main/app/validators/status_length_validator.rb (MAX_CHARS,"
            " URL_PLACEHOLDER_CHARS, grapheme clusters of spoiler_text + text);"
            f" {_DOCS}/entities/Instance/#max_characters (each instance may differ)"
        ),
        checked="2026-11",
    )
    media_rules: ClassVar[MediaRules] = MediaRules(
        max_items=4,
        image_types=frozenset(
            {
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
                "image/heic",
                "image/heif",
                "image/avif",
            }
        ),
        video_types=frozenset({"video/mp4", "video/webm", "video/quicktime", "video/ogg"}),
        max_image_bytes=16 * 1024 * 1024,
        max_video_bytes=99 * 1024 * 1024,
        max_alt_text=1500,
        max_videos=1,
        mix_images_and_video=False,
        source=(
            f"{_SOURCE}/blob/main/app/models/media_attachment.rb (IMAGE_LIMIT 16 MB,"
            " VIDEO_LIMIT 99 MB, MAX_DESCRIPTION_LENGTH 1,500, 4 per status);"
            f" {_DOCS}/entities/Instance/#media_attachments (each instance may differ)"
        ),
        checked="2026-11",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        idempotency=Idempotency.KEY,
        threads=True,
        polls=True,
        content_warning=True,
        visibilities=("public", "unlisted", "private", "direct"),
        delete=True,
        oauth=True,
    )
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        max_posts=300,
        per_seconds=3 * 3600,
        source=(
            f"{_SOURCE}/blob/main/app/lib/rate_limiter.rb (FAMILIES statuses: 300 per"
            f" 3 hours); {_DOCS}/api/rate-limits/ (300 API calls per 5 minutes per account,"
            " media uploads 30 per 30 minutes)"
        ),
    )
    default_base_url: ClassVar[str | None] = None
    errors: ClassVar[ErrorMapper] = MastodonErrorMapper("Mastodon")
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.REPLY, InboundKind.MENTION, InboundKind.QUOTE, InboundKind.MESSAGE}
    )
    #: No ``hide``: Mastodon cannot hide a reply (mute, block or report instead).
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "like", "delete"})
    #: How long an instance remembers an ``Idempotency-Key``: a retry later than this
    #: needs :meth:`find_published` first.
    idempotency_window: ClassVar[int] = IDEMPOTENCY_KEY_SECONDS

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        media_wait_seconds: float = 120.0,
        media_poll_interval: float = 1.0,
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        self.media_wait_seconds = media_wait_seconds
        self.media_poll_interval = media_poll_interval
        #: What :meth:`verify` learned that the channel should keep in ``Credentials.extra``.
        self.channel_extra: dict[str, str] = {}
        #: Ancestors (root first, as ``(status id, account id)``) of statuses seen in threads.
        self._ancestors: dict[str, tuple[tuple[str, str], ...]] = {}

    # -- rules from the instance ---------------------------------------------------------

    @classmethod
    def text_rules_for(cls, extra: Mapping[str, str]) -> TextRules:
        """The text rules of the channel's instance, from what :meth:`verify` stored."""
        rules = cls.text_rules
        limit = _positive(extra, "max_characters")
        url_length = _positive(extra, "characters_reserved_per_url")
        if limit is None and url_length is None:
            return rules
        return replace(
            rules,
            max_length=limit or rules.max_length,
            url_length=url_length or rules.url_length,
            source=rules.source + "; this instance: GET /api/v2/instance configuration.statuses",
        )

    @classmethod
    def media_rules_for(cls, extra: Mapping[str, str]) -> MediaRules:
        """The media rules of the channel's instance, from what :meth:`verify` stored."""
        rules = cls.media_rules
        changes: dict[str, Any] = {}
        for key, attribute in (
            ("max_media_attachments", "max_items"),
            ("image_size_limit", "max_image_bytes"),
            ("video_size_limit", "max_video_bytes"),
            ("description_limit", "max_alt_text"),
        ):
            value = _positive(extra, key)
            if value is not None:
                changes[attribute] = value
        mime_types = [m for m in extra.get("supported_mime_types", "").split(",") if m]
        if mime_types:
            changes["image_types"] = frozenset(m for m in mime_types if m.startswith("image/"))
            changes["video_types"] = frozenset(m for m in mime_types if m.startswith("video/"))
        if not changes:
            return rules
        changes["source"] = (
            rules.source + "; this instance: GET /api/v2/instance configuration.media_attachments"
        )
        return replace(rules, **changes)

    # -- HTTP ----------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.credentials.access_token}"}
        headers.update(extra or {})
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        request = self.http.build_request(
            method, f"{self.base_url}{path}", headers=self._headers(headers), **kwargs
        )
        return await self.errors.send(self.http, request)

    # -- verify --------------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        """``GET /api/v1/accounts/verify_credentials``, then the instance's limits.

        Afterwards :attr:`channel_extra` holds what the channel should merge into its
        ``Credentials.extra``: ``base_url``, ``account_id``, ``acct`` and the instance's
        limits (see :func:`instance_extra`).
        """
        account = _json_object(await self._call("GET", "/api/v1/accounts/verify_credentials"))
        account_id = account.get("id")
        username = account.get("username")
        if account_id is None or not isinstance(username, str):
            raise TransientError("Mastodon answered verify_credentials without an account")
        instance = await self._instance()
        extra = instance_extra(instance)
        host = extra.get("instance_domain") or urlsplit(self.base_url).hostname or ""
        acct = str(account.get("acct") or username)
        handle = acct if "@" in acct else f"{acct}@{host}"
        extra.update({"base_url": self.base_url, "account_id": str(account_id), "acct": handle})
        self.channel_extra = extra
        avatar = account.get("avatar")
        url = account.get("url")
        return AccountInfo(
            external_id=str(account_id),
            handle=handle,
            display_name=str(account.get("display_name") or username),
            avatar_url=avatar if isinstance(avatar, str) else None,
            url=url if isinstance(url, str) else None,
        )

    async def _instance(self) -> dict[str, Any]:
        """``GET /api/v2/instance`` (Mastodon 4.0+), else v1, else nothing known."""
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                return _json_object(await self._call("GET", path))
            except Rejected:  # 404 on an older instance (or another server)
                continue
        logger.info("instance at %s publishes no configuration; using defaults", self.base_url)
        return {}

    async def _account_id(self) -> str:
        known = self.credentials.extra.get("account_id") or self.channel_extra.get("account_id")
        if known:
            return str(known)
        return (await self.verify()).external_id

    # -- publish -------------------------------------------------------------------------

    async def publish(self, post: OutboundPost) -> PublishResult:
        """Upload the media, then post the status and each thread part.

        Every part carries its own ``Idempotency-Key`` (``key``, ``key:1``, ``key:2``...),
        so publishing the same post again within :attr:`idempotency_window` returns the
        statuses already made and adds only what is missing.
        """
        fields, poll = self._status_fields(post)
        uploads = [await self._upload(item) for item in post.media]
        await self._wait_for_media([media_id for media_id, processing in uploads if processing])
        media_ids = [media_id for media_id, _ in uploads]
        parts = (post.text, *post.thread)
        ids: list[str] = []
        first: dict[str, Any] | None = None
        for index, text in enumerate(parts):
            body: dict[str, Any] = {**fields, "status": text}
            if index == 0:
                if media_ids:
                    body["media_ids"] = media_ids
                if poll is not None:
                    body["poll"] = poll
            else:
                body["in_reply_to_id"] = ids[-1]
            key = post.idempotency_key if index == 0 else f"{post.idempotency_key}:{index}"
            try:
                status = await self._post_status(body, key)
            except TransientError as exc:
                if index == 0 or isinstance(exc, UncertainOutcome):
                    raise
                # Earlier parts are out there: the next attempt must look before it posts.
                raise UncertainOutcome(
                    f"thread part {index + 1} of {len(parts)} failed after the earlier parts"
                    f" were published ({exc.message})"
                ) from exc
            except Rejected as exc:
                if index == 0:
                    raise
                where = (first or {}).get("url") or ids[0]
                raise Rejected(
                    f"thread part {index + 1} of {len(parts)} was refused ({exc.reason});"
                    f" the first {index} part(s) are published at {where}",
                    reason=exc.reason,
                ) from exc
            ids.append(str(status["id"]))
            if first is None:
                first = status
        assert first is not None
        url = first.get("url")
        return PublishResult(
            external_id=ids[0], url=url if isinstance(url, str) else None, part_ids=tuple(ids[1:])
        )

    def _status_fields(self, post: OutboundPost) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Fields every part shares, and the poll, from ``post.options`` (checked first)."""
        options = post.options
        fields: dict[str, Any] = {}
        visibility = options.get("visibility")
        if visibility is not None:
            if visibility not in self.capabilities.visibilities:
                allowed = ", ".join(self.capabilities.visibilities)
                raise ValidationError(
                    f"Mastodon visibility must be one of {allowed}", field="visibility"
                )
            fields["visibility"] = visibility
        spoiler = options.get("spoiler_text", options.get("content_warning"))
        if spoiler:
            fields["spoiler_text"] = str(spoiler)
        if options.get("sensitive") is not None:
            fields["sensitive"] = bool(options["sensitive"])
        if options.get("language"):
            fields["language"] = str(options["language"])
        poll = None
        if options.get("poll"):
            if post.media:
                raise ValidationError("Mastodon cannot attach media and a poll to one post")
            poll = self._poll(options["poll"])
        return fields, poll

    @staticmethod
    def _poll(poll: Any) -> dict[str, Any]:
        if not isinstance(poll, Mapping):
            raise ValidationError("a poll needs options and a duration", field="poll")
        choices = poll.get("options")
        expires_in = poll.get("expires_in")
        if (
            not isinstance(choices, Sequence)
            or isinstance(choices, str)
            or len(choices) < 2
            or not isinstance(expires_in, int)
        ):
            raise ValidationError(
                "a poll needs at least two options and expires_in in seconds", field="poll"
            )
        return {
            "options": [str(choice) for choice in choices],
            "expires_in": expires_in,
            "multiple": bool(poll.get("multiple", False)),
            "hide_totals": bool(poll.get("hide_totals", False)),
        }

    async def _post_status(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = await self._call(
            "POST", "/api/v1/statuses", json=body, headers={"Idempotency-Key": key}
        )
        status = _json_object(response)
        if status.get("id") is None:
            raise UncertainOutcome("Mastodon answered the new status without an id")
        return status

    async def _upload(self, item: MediaItem) -> tuple[str, bool]:
        """``POST /api/v2/media``: the attachment's id, and whether it is still processing."""
        content = await anyio.Path(item.path).read_bytes()
        data: dict[str, str] = {}
        if item.alt_text:
            data["description"] = item.alt_text
        if item.focus is not None:
            x, y = item.focus
            data["focus"] = f"{x:g},{y:g}"
        try:
            response = await self._call(
                "POST",
                "/api/v2/media",
                files={"file": (item.path.name, content, item.mime_type)},
                data=data,
            )
        except UncertainOutcome as exc:
            # An attachment nobody posts is harmless; the post itself was not made.
            raise TransientError(f"uploading {item.path.name} did not finish: {exc}") from exc
        attachment = _json_object(response)
        if attachment.get("id") is None:
            raise TransientError("Mastodon answered the upload without an attachment id")
        processing = response.status_code == 202 or attachment.get("url") is None
        return str(attachment["id"]), processing

    async def _wait_for_media(self, waiting: list[str]) -> None:
        """Poll ``GET /api/v1/media/:id`` until every attachment is processed (bounded)."""
        deadline = anyio.current_time() + self.media_wait_seconds
        pause = self.media_poll_interval
        while waiting:
            still: list[str] = []
            for media_id in waiting:
                response = await self._call("GET", f"/api/v1/media/{media_id}")
                if response.status_code == 206:  # Partial Content: still processing
                    still.append(media_id)
            waiting = still
            if not waiting:
                return
            if anyio.current_time() + pause > deadline:
                raise TransientError(
                    f"Mastodon was still processing {len(waiting)} attachment(s) after"
                    f" {self.media_wait_seconds:g} s; will try again"
                )
            await anyio.sleep(pause)
            pause = min(pause * 2, 10.0) if pause > 0 else 0.0

    # -- after an uncertain attempt ------------------------------------------------------

    async def find_published(
        self, post: OutboundPost, *, since: dt.datetime | None = None
    ) -> PublishResult | None:
        """The post, if it is on the account: matched by its text, spoiler and media count.

        Looks through the account's recent statuses (``exclude_replies=false``), newest
        first. ``since`` — or ``options["attempted_at"]`` (an aware datetime or ISO 8601
        text), as the other connectors read it — keeps an older post with the same text
        from being taken for this one; give it whenever it is known.

        A thread whose first post is there but not every part: ``None`` while the
        instance still remembers the keys (publishing again adds only the missing parts),
        else :class:`Rejected` naming what is missing — never a second first post.
        """
        if since is None:
            attempted = post.options.get("attempted_at")
            since = (
                _parse_time(attempted.isoformat())
                if isinstance(attempted, dt.datetime)
                else _parse_time(attempted)
            )
        account_id = await self._account_id()
        statuses = await self._recent_statuses(account_id, since=since)
        spoiler = str(post.options.get("spoiler_text", post.options.get("content_warning")) or "")
        root = self._match(statuses, post.text, spoiler, None, len(post.media), since)
        if root is None:
            return None
        chain = [root]
        for text in post.thread:
            part = self._match(statuses, text, spoiler, str(chain[-1]["id"]), 0, since)
            if part is None:
                break
            chain.append(part)
        url = root.get("url")
        result = PublishResult(
            external_id=str(root["id"]),
            url=url if isinstance(url, str) else None,
            part_ids=tuple(str(s["id"]) for s in chain[1:]),
        )
        missing = len(post.thread) + 1 - len(chain)
        if not missing:
            return result
        created = _parse_time(root.get("created_at"))
        age = (dt.datetime.now(dt.UTC) - created).total_seconds() if created else None
        if age is not None and age < self.idempotency_window - 300:
            return None  # publishing again reuses the keys: only the missing parts are added
        raise Rejected(
            f"the thread is only partly on Mastodon ({missing} of {len(post.thread) + 1}"
            f" parts missing after {result.url or result.external_id}); finish it by hand",
            reason="thread partly published",
        )

    async def _recent_statuses(
        self, account_id: str, *, since: dt.datetime | None
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, str | int] = {
            "limit": _STATUS_PAGE,
            "exclude_replies": "false",
            "exclude_reblogs": "true",
        }
        for _ in range(_LOOKUP_PAGES):
            response = await self._call(
                "GET", f"/api/v1/accounts/{account_id}/statuses", params=params
            )
            page = response.json()
            if not isinstance(page, list) or not page:
                break
            found.extend(s for s in page if isinstance(s, dict) and s.get("id") is not None)
            oldest = _parse_time(page[-1].get("created_at")) if isinstance(page[-1], dict) else None
            if since is not None and oldest is not None and oldest < since:
                break
            if len(page) < _STATUS_PAGE:
                break
            params["max_id"] = str(page[-1]["id"])
        return found

    @staticmethod
    def _match(
        statuses: list[dict[str, Any]],
        text: str,
        spoiler: str,
        in_reply_to: str | None,
        media_count: int,
        since: dt.datetime | None,
    ) -> dict[str, Any] | None:
        """The oldest status that is this text (statuses come newest first)."""
        wanted = _comparable(text)
        wanted_spoiler = _comparable(spoiler)
        slack = dt.timedelta(minutes=5)  # the instance's clock may differ from ours
        for candidate in statuses[::-1]:
            if candidate.get("reblog"):
                continue
            if in_reply_to is not None and str(candidate.get("in_reply_to_id")) != in_reply_to:
                continue
            if in_reply_to is None and candidate.get("in_reply_to_id") is not None:
                continue
            created = _parse_time(candidate.get("created_at"))
            if since is not None and created is not None and created < since - slack:
                continue
            media = candidate.get("media_attachments")
            if media_count and (not isinstance(media, list) or len(media) != media_count):
                continue
            if _comparable(str(candidate.get("spoiler_text") or "")) != wanted_spoiler:
                continue
            if _comparable(status_text(str(candidate.get("content") or ""))) == wanted:
                return candidate
        return None

    # -- delete --------------------------------------------------------------------------

    async def delete(self, external_id: str) -> None:
        """``DELETE /api/v1/statuses/:id``; a status already gone counts as deleted."""
        try:
            await self._call("DELETE", f"/api/v1/statuses/{external_id}")
        except Rejected:
            # 404 means gone or not ours; only "gone" is a success (a retried delete).
            try:
                await self._call("GET", f"/api/v1/statuses/{external_id}")
            except Rejected:
                logger.info("Mastodon status %s is already gone", external_id)
                return
            raise

    # -- the inbox -----------------------------------------------------------------------
    #
    # Everything arrives as notifications (GET /api/v1/notifications): a reply to us or a
    # post naming us is a ``mention`` (Mastodon clients put the @ in every reply), a direct
    # message is a ``mention`` whose status has visibility ``direct``, a quote (Mastodon
    # 4.5+) is a ``quote``. One ordered stream with one id sequence is what makes the
    # cursor exact; GET /api/v1/conversations carries the same direct statuses again but
    # pages by last activity, so it is not read.

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        """Notifications newer than ``cursor`` (the newest notification id stored).

        With a cursor: ``min_id`` returns the page *immediately* newer than it, so a busy
        account is read in order, page by page (``more``), without a gap. Without one (the
        first sync): the newest :data:`FIRST_SYNC_ITEMS` only, not the account's history.
        """
        params: list[tuple[str, str]] = [("types[]", t) for t in _NOTIFICATION_KINDS]
        params.append(("limit", str(_NOTIFICATION_PAGE if cursor else FIRST_SYNC_ITEMS)))
        if cursor:
            params.append(("min_id", cursor))
        response = await self._call("GET", "/api/v1/notifications", params=params)
        page = response.json()
        if not isinstance(page, list):
            raise TransientError("Mastodon answered the notifications with an unexpected shape")
        rows = [n for n in page if isinstance(n, dict) and n.get("id") is not None]
        if not rows:
            # nothing yet: from now on everything is new (min_id=0 reads from the first)
            return InboxPage(items=(), cursor=cursor or "0", more=False)
        rows.sort(key=lambda n: _id_order(str(n["id"])))
        me = await self._account_id()
        items: list[InboundItem] = []
        seen: set[str] = set()
        for notification in rows:
            item = await self._inbound(notification, me)
            if item is not None and item.external_id not in seen:
                seen.add(item.external_id)
                items.append(item)
        newest = str(rows[-1]["id"])
        more = cursor is not None and len(page) >= _NOTIFICATION_PAGE
        return InboxPage(items=tuple(items), cursor=newest, more=more)

    async def _inbound(self, notification: Mapping[str, Any], me: str) -> InboundItem | None:
        kind = _NOTIFICATION_KINDS.get(str(notification.get("type")))
        status = notification.get("status")
        if kind is None or not isinstance(status, dict) or status.get("id") is None:
            return None  # a type we did not ask for, or a status that is gone
        account = status.get("account") or notification.get("account")
        if not isinstance(account, dict):
            return None
        status_id = str(status["id"])
        parent = status.get("in_reply_to_id")
        ancestors = await self._thread_of(status) if parent is not None else ()
        ours = [sid for sid, author in ancestors if author == me]
        our_post_id = ours[0] if ours else None
        visibility = str(status.get("visibility") or "public")
        if kind is InboundKind.QUOTE:
            quote = status.get("quote")
            quoted = quote.get("quoted_status") if isinstance(quote, dict) else None
            if isinstance(quoted, dict) and quoted.get("id") is not None:
                our_post_id = str(quoted["id"])
        elif visibility == "direct":
            kind = InboundKind.MESSAGE
        elif parent is not None and our_post_id is not None:
            kind = InboundKind.REPLY
        created = _parse_time(status.get("created_at")) or _parse_time(
            notification.get("created_at")
        )
        url = status.get("url")
        extra = {"visibility": visibility, "notification_id": str(notification["id"])}
        if status.get("spoiler_text"):
            extra["spoiler_text"] = str(status["spoiler_text"])
        if status.get("language"):
            extra["language"] = str(status["language"])
        author = self._author(account)
        extra["acct"] = author.handle
        return InboundItem(
            external_id=status_id,
            kind=kind,
            author=author,
            text=status_text(str(status.get("content") or "")),
            created_at=created or dt.datetime.now(dt.UTC),
            conversation_id=ancestors[0][0] if ancestors else status_id,
            url=url if isinstance(url, str) else None,
            in_reply_to=str(parent) if parent is not None else None,
            our_post_id=our_post_id,
            from_us=str(account.get("id")) == me,
            extra=extra,
        )

    def _author(self, account: Mapping[str, Any]) -> InboundAuthor:
        acct = str(account.get("acct") or account.get("username") or "")
        if "@" not in acct:  # a local account: name it with the instance, as verify() does
            extra = {**self.credentials.extra, **self.channel_extra}
            host = extra.get("instance_domain") or urlsplit(self.base_url).hostname or ""
            acct = f"{acct}@{host}"
        followers = account.get("followers_count")
        avatar, url = account.get("avatar"), account.get("url")
        return InboundAuthor(
            external_id=str(account.get("id")),
            handle=acct,
            display_name=str(account.get("display_name") or account.get("username") or ""),
            avatar_url=avatar if isinstance(avatar, str) else None,
            url=url if isinstance(url, str) else None,
            followers=followers if isinstance(followers, int) else None,
        )

    async def _thread_of(self, status: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        """The status's ancestors, root first, as ``(id, account id)``.

        From what an earlier item of the same thread taught us, else from
        ``GET /api/v1/statuses/:id/context``.
        """
        parent = str(status.get("in_reply_to_id"))
        if parent in self._ancestors:
            parent_account = str(status.get("in_reply_to_account_id"))
            return (*self._ancestors[parent], (parent, parent_account))
        status_id = str(status["id"])
        try:
            context = _json_object(await self._call("GET", f"/api/v1/statuses/{status_id}/context"))
        except Rejected:  # deleted meanwhile: what the status itself says
            return ((parent, str(status.get("in_reply_to_account_id"))),)
        ancestors = tuple(
            (str(a["id"]), str((a.get("account") or {}).get("id")))
            for a in context.get("ancestors") or ()
            if isinstance(a, dict) and a.get("id") is not None
        )
        if len(self._ancestors) >= _THREAD_CACHE:
            self._ancestors.clear()
        self._ancestors[status_id] = ancestors
        return ancestors

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        """Answer ``to`` once: ``in_reply_to_id``, the same ``Idempotency-Key`` on every
        attempt, never more public than what it answers (a direct message stays direct),
        and the author mentioned (else a direct reply reaches nobody)."""
        body = self._reply_body(to, post)
        uploads = [await self._upload(item) for item in post.media]
        await self._wait_for_media([media_id for media_id, processing in uploads if processing])
        if uploads:
            body["media_ids"] = [media_id for media_id, _ in uploads]
        status = await self._post_status(body, post.idempotency_key)
        url = status.get("url")
        return PublishResult(
            external_id=str(status["id"]), url=url if isinstance(url, str) else None
        )

    def _reply_body(self, to: ReplyTarget, post: OutboundPost) -> dict[str, Any]:
        options = dict(post.options)
        parent = to.extra.get("visibility") or ("direct" if to.kind is InboundKind.MESSAGE else "")
        wanted = options.get("visibility") or parent or None
        if wanted is not None and wanted not in _VISIBILITY_RANK:
            raise ValidationError(
                f"Mastodon visibility must be one of {', '.join(_VISIBILITY_RANK)}",
                field="visibility",
            )
        if parent in _VISIBILITY_RANK and wanted is not None:
            wanted = max(wanted, parent, key=_VISIBILITY_RANK.__getitem__)
        if wanted is not None:
            options["visibility"] = wanted
        inherit_warning = "spoiler_text" not in options and "content_warning" not in options
        if inherit_warning and to.extra.get("spoiler_text"):  # answer under the same warning
            options["spoiler_text"] = to.extra["spoiler_text"]
        fields, _ = self._status_fields(replace(post, options=options))
        return {
            **fields,
            "status": _with_mention(post.text, to.extra.get("acct") or to.author_handle),
            "in_reply_to_id": to.external_id,
        }

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        """Our answer to ``to`` if it is on the account: same parent, text and warning."""
        attempted = post.options.get("attempted_at")
        since = (
            _parse_time(attempted.isoformat())
            if isinstance(attempted, dt.datetime)
            else _parse_time(attempted)
        )
        body = self._reply_body(to, post)
        statuses = await self._recent_statuses(await self._account_id(), since=since)
        found = self._match(
            statuses,
            str(body["status"]),
            str(body.get("spoiler_text") or ""),
            to.external_id,
            len(post.media),
            since,
        )
        if found is None:
            return None
        url = found.get("url")
        return PublishResult(
            external_id=str(found["id"]), url=url if isinstance(url, str) else None
        )

    async def like(self, item_id: str) -> None:
        """``POST /api/v1/statuses/:id/favourite`` (a repeat changes nothing)."""
        await self._call("POST", f"/api/v1/statuses/{item_id}/favourite")

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        raise Rejected(
            "Mastodon cannot hide a reply; mute or block its author, or report it, instead",
            reason="not supported by Mastodon",
        )

    async def delete_item(self, item_id: str) -> None:
        """Delete one of our own replies; Mastodon lets nobody delete someone else's post."""
        try:
            status = _json_object(await self._call("GET", f"/api/v1/statuses/{item_id}"))
        except Rejected:
            logger.info("Mastodon status %s is already gone", item_id)
            return
        owner = str((status.get("account") or {}).get("id"))
        if owner != await self._account_id():
            raise Rejected(
                "Mastodon only lets an account delete its own posts; mute or block the"
                " author, or report the post to the instance's moderators",
                reason="not our post",
            )
        await self.delete(item_id)


#: Notification types read into the inbox, and the kind each starts as.
_NOTIFICATION_KINDS: dict[str, InboundKind] = {
    "mention": InboundKind.MENTION,
    "quote": InboundKind.QUOTE,
}
#: Mastodon's default page of notifications (its maximum is 80).
_NOTIFICATION_PAGE = 40
#: What the first sync of a channel reads: the newest notifications, not the history.
FIRST_SYNC_ITEMS = 40
_THREAD_CACHE = 2000
#: From the most public to the least: a reply is never more public than what it answers.
_VISIBILITY_RANK = {"public": 0, "unlisted": 1, "private": 2, "direct": 3}


def _id_order(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numbers in strings; compare them as numbers."""
    return (len(status_id), status_id)


def _with_mention(text: str, acct: str) -> str:
    """``text`` starting with ``@acct`` unless it already names that account."""
    user = acct.lstrip("@").split("@")[0]
    if not user:
        return text
    named = {m.group(1).casefold() for m in _MENTION.finditer(text)}
    if user.casefold() in named:
        return text
    return f"@{acct.lstrip('@')} {text}"
