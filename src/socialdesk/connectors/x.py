# SPDX-License-Identifier: AGPL-3.0-or-later
"""X (formerly Twitter): API v2 with OAuth 2.0 user tokens (Authorization Code with PKCE).

Everything that knows X lives here: its text and media rules, the OAuth flow, media upload,
posting, threads, polls, deletion, and how its errors read.

X has no idempotency key, so a publish whose outcome is unknown is settled by looking:
:meth:`XConnector.find_published` reads the user's own timeline since the first attempt and
matches our text (X rewrites links to ``t.co`` and escapes ``& < >``, so texts are compared in
a normalised form). X also refuses a tweet whose text repeats a recent one of the same user
(403 "duplicate content"); on a retry that answer means "our earlier attempt probably landed",
so :meth:`XConnector.publish` looks the post up and finishes a thread from where it stopped.

Options read from :attr:`OutboundPost.options`:

``attempted_at``
    When the delivery's first attempt started (aware datetime or ISO 8601), as the publisher
    passes it. It bounds the timeline search, and decides what "duplicate content" means:
    a post with our text made since then is ours (adopted, its thread finished); an older
    one is someone's earlier post, and the answer stays a rejection.
``poll``
    ``{"options": [2-4 labels], "duration_minutes": 5-10080}``; not together with media.
``reply_settings``
    ``following``, ``mentionedUsers``, ``subscribers`` or ``verified``.

Sources (checked 2026-11): docs.x.com — fundamentals/authentication/oauth-2-0/user-access-token,
x-api/posts/create-or-edit-post, x-api/posts/user-posts-timeline-by-user-id,
x-api/users/user-lookup-me, x-api/media/{initialize,append,finalize}-media-upload,
x-api/media/get-media-upload-status, x-api/media/create-media-metadata,
x-api/media/quickstart/best-practices, fundamentals/counting-characters,
fundamentals/rate-limits and x-api/fundamentals/rate-limits.

The inbox (same site): x-api/posts/user-mention-timeline-by-user-id (``since_id``,
``until_id``, expansions, ``public_metrics``), and the reference pages of ``GET /2/tweets``,
``GET /2/dm_events``, ``POST /2/dm_conversations/:id/messages``, ``POST /2/users/:id/likes``
and ``PUT /2/tweets/:id/hidden``. The mentions timeline holds posts that mention the
account; a quote without an @ is not promised to be there, and the fake leaves it out
(``GET /2/tweets/:id/quote_tweets`` per post would find those; not done).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import html
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

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
from socialdesk.connectors.http import ErrorMapper, retry_after_seconds
from socialdesk.errors import (
    AuthExpired,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)

__all__ = [
    "API_BASE_URL",
    "AUTHORIZE_URL",
    "DUPLICATE_CONTENT",
    "NOT_FOUND",
    "SCOPES",
    "OAuthClient",
    "XConnector",
    "XErrorMapper",
    "comparable_text",
    "pkce_pair",
]

logger = logging.getLogger(__name__)

CHECKED = "2026-11"
API_BASE_URL = "https://api.x.com"
AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
#: What socialdesk asks for: read and write posts, read the user, keep a refresh token,
#: upload media; for the inbox: like, hide replies, read and answer direct messages.
SCOPES = (
    "tweet.read",
    "tweet.write",
    "users.read",
    "offline.access",
    "media.write",
    "like.write",
    "tweet.moderate.write",
    "dm.read",
    "dm.write",
)

#: ``Rejected.reason`` for X's 403 "You are not allowed to create a Tweet with duplicate content."
DUPLICATE_CONTENT = "duplicate content"
#: ``Rejected.reason`` for a 404 (no such post or user).
NOT_FOUND = "not found"

_MiB = 1024 * 1024
#: The media rules have one image limit; X allows animated GIFs more (best-practices page).
MAX_GIF_BYTES = 15 * _MiB
MAX_ALT_TEXT = 1000
_CHUNK_BYTES = 4 * _MiB
#: How far back ``find_published`` looks when the delivery does not say when it was first tried.
LOOKUP_LOOKBACK = dt.timedelta(hours=24)
#: Our clock and X's may disagree; look a little earlier than the attempt started.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_MAX_LOOKUP_PAGES = 5
_MEDIA_PROCESSING_TIMEOUT = 600.0

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_MEDIA_LINK = re.compile(r"\s*https://t\.co/\w+\s*$")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` for the S256 method (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


def comparable_text(text: str) -> str:
    """``text`` as X's timeline would give it back, reduced to what survives the round trip.

    X answers with ``&amp; &lt; &gt;`` for ``& < >`` and replaces every link by a ``t.co`` one.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    text = _URL.sub("<url>", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """socialdesk's app registration at X (Developer Console, "Keys and tokens")."""

    client_id: str
    redirect_uri: str
    #: Only for confidential clients, which authenticate to the token endpoint with Basic auth.
    client_secret: str | None = field(default=None, repr=False)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _x_reason(response: httpx.Response, body: Any) -> str:
    """A short reason from X's problem details, ``errors`` list or OAuth error body."""
    if not isinstance(body, dict):
        return (response.text[:300] or response.reason_phrase).strip()
    pieces: list[str] = []
    for key in ("error_description", "detail", "title", "error"):
        value = body.get(key)
        if isinstance(value, str) and value and value not in pieces:
            pieces.append(value)
            break
    errors = body.get("errors")
    if isinstance(errors, list):
        for item in errors[:3]:
            if isinstance(item, dict):
                value = item.get("message") or item.get("detail")
                if isinstance(value, str) and value and value not in pieces:
                    pieces.append(value)
    return "; ".join(pieces)[:500] or response.reason_phrase


def _x_retry_after(response: httpx.Response, now: dt.datetime | None = None) -> float | None:
    """Seconds until the exhausted window resets (``x-*-reset`` are epoch seconds)."""
    now = now or _utcnow()
    headers = response.headers
    waits: list[float] = []
    for prefix in ("x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"):
        reset = headers.get(f"{prefix}-reset", "").strip()
        if not reset.isdigit():
            continue
        remaining = headers.get(f"{prefix}-remaining", "").strip()
        if remaining == "0" or (prefix == "x-rate-limit" and not remaining):
            waits.append(max(0.0, int(reset) - now.timestamp()))
    if waits:
        return max(waits)
    reset = headers.get("x-rate-limit-reset", "").strip()
    if reset.isdigit():
        return max(0.0, int(reset) - now.timestamp())
    return retry_after_seconds(response, now=now)


class XErrorMapper(ErrorMapper):
    """X's answers: problem details, an ``errors`` list, and its duplicate-content 403."""

    def __init__(self) -> None:
        super().__init__("X")

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        reason = _x_reason(response, _json(response))
        if status == 401:
            return AuthExpired(f"X refused the credentials ({reason}); reconnect the channel")
        if status == 429:
            return RateLimited(
                f"X is rate limiting this account ({reason})",
                retry_after=_x_retry_after(response),
            )
        if status == 403 and "duplicate content" in reason.lower():
            return Rejected(
                f"X refused a post whose text repeats a recent one ({reason})",
                reason=DUPLICATE_CONTENT,
            )
        if status == 404:
            return Rejected(f"X has no such post or user ({reason})", reason=NOT_FOUND)
        if status >= 500 or status in (408, 425):
            return super().classify(response)
        return _rejected(reason)


def _rejected(reason: str) -> Rejected:
    return Rejected(f"X refused the request: {reason}", reason=reason)


def _with_context(error: ConnectorError, prefix: str) -> ConnectorError:
    """The same kind of error with ``prefix`` in front of its message."""
    message = f"{prefix}: {error.message}"
    if isinstance(error, RateLimited):
        return RateLimited(message, retry_after=error.retry_after)
    if isinstance(error, Rejected):
        return Rejected(message, reason=error.reason)
    return type(error)(message)


def _as_utc(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else None
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.astimezone(dt.UTC) if parsed.tzinfo else None
    return None


def _credentials_from_token(
    token: Any,
    *,
    previous: Credentials | None,
    extra: Mapping[str, str],
    now: dt.datetime,
) -> Credentials:
    """Credentials from a token response; a refresh token is never replaced by nothing."""
    if not isinstance(token, dict):
        raise TransientError("X answered the token request with something that is not JSON")
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TransientError("X answered the token request without an access token")
    refresh = token.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        refresh = previous.refresh_token if previous else None
    expires_in = token.get("expires_in")
    expires_at = (
        now + dt.timedelta(seconds=int(expires_in))
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else None
    )
    merged = dict(previous.extra) if previous else {}
    merged.update(extra)
    scope = token.get("scope")
    if isinstance(scope, str) and scope:
        merged["scope"] = scope
    return Credentials(
        access_token=access, refresh_token=refresh, expires_at=expires_at, extra=merged
    )


async def _read_chunks(path: Path, size: int) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


def _media_category(mime_type: str) -> str:
    if mime_type == "image/gif":
        return "tweet_gif"
    if mime_type.startswith("video/"):
        return "tweet_video"
    return "tweet_image"


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _tweet_text(tweet: Mapping[str, Any]) -> str:
    """A post's text without the t.co link X appends for its media."""
    text = str(tweet.get("text") or "")
    if (tweet.get("attachments") or {}).get("media_keys"):
        text = _MEDIA_LINK.sub("", text)
    return text


def _replied_to(tweet: Mapping[str, Any]) -> str | None:
    for ref in tweet.get("referenced_tweets") or ():
        if isinstance(ref, dict) and ref.get("type") == "replied_to":
            return str(ref.get("id"))
    return None


class XConnector(Connector):
    """One X account, through API v2 with a user access token."""

    network = Network.X
    display_name = "X"
    default_base_url = API_BASE_URL
    text_rules = TextRules(
        max_length=280,
        counting=TextCounting.X_WEIGHTED,
        url_length=23,
        source="https://docs.x.com/fundamentals/counting-characters",
        checked=CHECKED,
    )
    media_rules = MediaRules(
        max_items=4,
        image_types=frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"}),
        video_types=frozenset({"video/mp4", "video/quicktime"}),
        # Animated GIFs may be 15 MB (MAX_GIF_BYTES) and count like a video: one per post.
        max_image_bytes=5 * _MiB,
        max_video_bytes=512 * _MiB,
        max_video_seconds=140.0,
        min_video_seconds=0.5,
        max_alt_text=MAX_ALT_TEXT,
        max_videos=1,
        mix_images_and_video=False,
        source=(
            "https://docs.x.com/x-api/media/quickstart/best-practices; "
            "https://docs.x.com/x-api/media (size restrictions); "
            "https://docs.x.com/x-api/media/create-media-metadata (alt text <= 1000)"
        ),
        checked=CHECKED,
    )
    capabilities = Capabilities(
        idempotency=Idempotency.LOOKUP,
        threads=True,
        first_comment=False,
        delete=True,
        link_card=False,
        polls=True,
        oauth=True,
    )
    rate_limit = RateLimit(
        max_posts=100,
        per_seconds=15 * 60,
        source="https://docs.x.com/x-api/fundamentals/rate-limits (POST /2/tweets, per user)",
    )
    errors: ClassVar[ErrorMapper] = XErrorMapper()
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.REPLY, InboundKind.MENTION, InboundKind.QUOTE, InboundKind.MESSAGE}
    )
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "like", "hide", "delete"})

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        oauth_client: OAuthClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        self.oauth_client = oauth_client
        self._sleep = sleep
        self._user: AccountInfo | None = None
        #: Who wrote the first post of each conversation seen (``conversation_id`` → user id).
        self._root_authors: dict[str, str] = {}

    # -- OAuth ------------------------------------------------------------------------------

    @classmethod
    def authorization_url(
        cls,
        client: OAuthClient,
        *,
        state: str,
        code_challenge: str,
        scopes: Sequence[str] = SCOPES,
        authorize_url: str = AUTHORIZE_URL,
    ) -> str:
        """Where to send the person's browser to connect their X account (S256 PKCE)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": client.redirect_uri,
                "scope": " ".join(scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{authorize_url}?{query}"

    @classmethod
    async def exchange_code(
        cls,
        *,
        http: httpx.AsyncClient,
        client: OAuthClient,
        code: str,
        code_verifier: str,
        base_url: str = API_BASE_URL,
    ) -> Credentials:
        """Trade the authorization code from the redirect for the channel's credentials."""
        token = await cls._token_request(
            http,
            base_url.rstrip("/"),
            client.client_id,
            client.client_secret,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": client.redirect_uri,
                "code_verifier": code_verifier,
            },
        )
        return _credentials_from_token(
            token, previous=None, extra={"client_id": client.client_id}, now=_utcnow()
        )

    async def refresh_credentials(self) -> Credentials | None:
        """New credentials from the refresh token; X rotates it, so the old one dies here.

        If X's answer does not carry a new refresh token, the old one is kept rather than
        replaced by nothing.
        """
        current = self.credentials
        if not current.refresh_token or current.expires_at is None:
            return None
        client_id = (
            self.oauth_client.client_id if self.oauth_client else current.extra.get("client_id")
        )
        if not client_id:
            raise ConfigurationError(
                "refreshing an X token needs the app's client id (settings or channel extra)"
            )
        secret = self.oauth_client.client_secret if self.oauth_client else None
        try:
            token = await self._token_request(
                self.http,
                self.base_url,
                client_id,
                secret,
                {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
            )
        except Rejected as exc:
            raise AuthExpired(
                f"X no longer accepts this channel's refresh token ({exc.reason}); "
                "reconnect the channel"
            ) from exc
        fresh = _credentials_from_token(token, previous=current, extra={}, now=_utcnow())
        self.credentials = fresh
        return fresh

    @classmethod
    async def _token_request(
        cls,
        http: httpx.AsyncClient,
        base_url: str,
        client_id: str,
        client_secret: str | None,
        form: Mapping[str, str],
    ) -> Any:
        data = dict(form)
        headers: dict[str, str] = {}
        if client_secret:
            pair = f"{client_id}:{client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            data["client_id"] = client_id
        request = http.build_request(
            "POST", f"{base_url}/2/oauth2/token", data=data, headers=headers
        )
        return _json(await cls.errors.send(http, request))

    # -- plumbing ---------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        request = self.http.build_request(
            method,
            f"{self.base_url}{path}",
            params=params,
            json=json,
            data=data,
            files=files,
            headers={"Authorization": f"Bearer {self.credentials.access_token}"},
        )
        return _json(await self.errors.send(self.http, request))

    def _post_url(self, tweet_id: str) -> str:
        handle = self.credentials.extra.get("username")
        if not handle and self._user is not None:
            handle = self._user.handle
        return f"https://x.com/{handle or 'i/web'}/status/{tweet_id}"

    async def _user_id(self) -> str:
        user_id = self.credentials.extra.get("user_id")
        if user_id:
            return user_id
        return (await self.verify()).external_id

    # -- the contract -----------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        body = await self._call(
            "GET", "/2/users/me", params={"user.fields": "name,username,profile_image_url"}
        )
        user = _data(body)
        if not user.get("id") or not user.get("username"):
            raise TransientError("X answered /2/users/me without a user")
        self._user = AccountInfo(
            external_id=str(user["id"]),
            handle=str(user["username"]),
            display_name=str(user.get("name") or ""),
            avatar_url=user.get("profile_image_url"),
            url=f"https://x.com/{user['username']}",
        )
        # The lookup after an uncertain attempt reads this user's timeline.
        self.channel_extra.update(user_id=self._user.external_id, username=self._user.handle)
        return self._user

    async def publish(self, post: OutboundPost) -> PublishResult:
        self._check_media(post.media)
        parts = self._parts(post)
        media_ids = [await self._upload(item) for item in post.media]
        try:
            done = [await self._create(self._root_body(post, parts[0], media_ids))]
        except Rejected as exc:
            if exc.reason != DUPLICATE_CONTENT:
                raise
            found = await self._adopt_duplicate(post, exc)
            done = [found.external_id, *found.part_ids]
        await self._continue_thread(done, parts)
        return PublishResult(
            external_id=done[0], url=self._post_url(done[0]), part_ids=tuple(done[1:])
        )

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        """The post if it is on the user's timeline, its thread finished if it was cut short.

        Parts missing after the first post exists can only be added, never redone, so they
        are published here: the result always covers the whole thread.
        """
        parts = self._parts(post)
        since = _as_utc(post.options.get("attempted_at"))
        since = (since or _utcnow() - LOOKUP_LOOKBACK) - _CLOCK_SKEW
        tweets = await self._timeline(since)
        wanted = comparable_text(parts[0])
        root = next(
            (
                t
                for t in tweets
                if _replied_to(t) is None
                and comparable_text(_tweet_text(t)) == wanted
                and bool((t.get("attachments") or {}).get("media_keys")) == bool(post.media)
            ),
            None,
        )
        if root is None:
            return None
        chain: list[str] = []
        previous = str(root["id"])
        for text in parts[1:]:
            wanted = comparable_text(text)
            reply = next(
                (
                    t
                    for t in tweets
                    if _replied_to(t) == previous and comparable_text(_tweet_text(t)) == wanted
                ),
                None,
            )
            if reply is None:
                break
            previous = str(reply["id"])
            chain.append(previous)
        root_id = str(root["id"])
        done = [root_id, *chain]
        if len(done) < len(parts):
            logger.info(
                "X thread %s is missing %d parts; adding them", root_id, len(parts) - len(done)
            )
            await self._continue_thread(done, parts)
        return PublishResult(
            external_id=root_id, url=self._post_url(root_id), part_ids=tuple(done[1:])
        )

    async def delete(self, external_id: str) -> None:
        try:
            body = await self._call("DELETE", f"/2/tweets/{external_id}")
        except Rejected as exc:
            if exc.reason == NOT_FOUND:
                return  # already gone: deleting is done
            raise
        if _data(body).get("deleted") is not True:
            raise Rejected(f"X did not delete post {external_id}", reason="not deleted")

    # -- publishing steps -------------------------------------------------------------------

    @staticmethod
    def _parts(post: OutboundPost) -> list[str]:
        first = post.text
        if post.link and post.link not in first:
            first = f"{first}\n\n{post.link}" if first else post.link
        return [first, *post.thread]

    def _root_body(self, post: OutboundPost, text: str, media_ids: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if text:
            body["text"] = text
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        poll = post.options.get("poll")
        if poll:
            if media_ids:
                raise Rejected("X does not allow a poll and media in one post", reason="poll")
            body["poll"] = {
                "options": [str(label) for label in poll.get("options", ())],
                "duration_minutes": int(poll.get("duration_minutes", 1440)),
            }
        reply_settings = post.options.get("reply_settings")
        if reply_settings:
            body["reply_settings"] = str(reply_settings)
        return body

    async def _continue_thread(self, done: list[str], parts: Sequence[str]) -> None:
        """Publish ``parts`` after the ``done`` ones, each replying to the one before."""
        for number, text in enumerate(parts[len(done) :], start=len(done) + 1):
            body = {"text": text, "reply": {"in_reply_to_tweet_id": done[-1]}}
            try:
                done.append(await self._create(body))
            except ConnectorError as exc:
                # The thread so far exists: say so; a lookup finishes it later.
                raise _with_context(
                    exc, f"thread part {number} of {len(parts)} failed after post {done[0]}"
                ) from exc

    async def _create(self, body: Mapping[str, Any]) -> str:
        created = _data(await self._call("POST", "/2/tweets", json=body))
        if not created.get("id"):
            raise UncertainOutcome("X accepted the post but did not say its id")
        return str(created["id"])

    async def _adopt_duplicate(self, post: OutboundPost, error: Rejected) -> PublishResult:
        """After "duplicate content": a post with our text made since the first attempt
        started is that attempt's, ours to finish; anything older is a real duplicate."""
        if not post.options.get("attempted_at"):
            raise error
        found = await self.find_published(post)
        if found is None:
            raise Rejected(
                "X says this text was posted recently, but not by an earlier attempt of this "
                "delivery; change the text to post it again",
                reason=DUPLICATE_CONTENT,
            ) from error
        logger.info("X post %s of an earlier attempt found; not posting again", found.external_id)
        return found

    def _check_media(self, media: Sequence[MediaItem]) -> None:
        rules = self.media_rules
        single = [
            m for m in media if m.mime_type == "image/gif" or m.mime_type in rules.video_types
        ]
        if len(media) > rules.max_items or (single and len(media) > 1):
            raise Rejected(
                "X takes up to 4 images, or one video or animated GIF, per post", reason="media"
            )
        for item in media:
            if item.mime_type == "image/gif":
                limit = MAX_GIF_BYTES
            elif item.mime_type in rules.video_types:
                limit = rules.max_video_bytes or 0
            elif item.mime_type in rules.image_types:
                limit = rules.max_image_bytes or 0
            else:
                raise Rejected(f"X does not take {item.mime_type} files", reason="media")
            if item.size_bytes > limit:
                raise Rejected(
                    f"{item.path.name} is {item.size_bytes} bytes; X takes at most {limit}",
                    reason="media",
                )

    async def _upload(self, item: MediaItem) -> str:
        """Chunked upload (initialize, append, finalize, status), then the alt text."""
        try:
            return await self._upload_steps(item)
        except UncertainOutcome as exc:
            # Nothing is posted by an upload; a retry uploads again.
            raise TransientError(f"uploading {item.path.name} to X was interrupted") from exc

    async def _upload_steps(self, item: MediaItem) -> str:
        category = _media_category(item.mime_type)
        started = _data(
            await self._call(
                "POST",
                "/2/media/upload/initialize",
                json={
                    "media_type": item.mime_type,
                    "total_bytes": item.size_bytes,
                    "media_category": category,
                },
            )
        )
        media_id = str(started.get("id") or "")
        if not media_id:
            raise TransientError("X did not start the media upload")
        segment = 0
        async for chunk in _read_chunks(item.path, _CHUNK_BYTES):
            await self._call(
                "POST",
                f"/2/media/upload/{media_id}/append",
                data={"segment_index": str(segment)},
                files={"media": ("chunk", chunk, "application/octet-stream")},
            )
            segment += 1
        finished = _data(await self._call("POST", f"/2/media/upload/{media_id}/finalize"))
        await self._wait_for_processing(media_id, finished.get("processing_info"))
        if item.alt_text and category != "tweet_video":
            await self._call(
                "POST",
                "/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": item.alt_text}}},
            )
        return media_id

    async def _wait_for_processing(self, media_id: str, info: Any) -> None:
        waited = 0.0
        while isinstance(info, dict) and info.get("state") in ("pending", "in_progress"):
            delay = float(info.get("check_after_secs") or 1)
            if waited + delay > _MEDIA_PROCESSING_TIMEOUT:
                raise TransientError(f"X is still processing media {media_id}; try again later")
            await self._sleep(delay)
            waited += delay
            status = await self._call(
                "GET", "/2/media/upload", params={"media_id": media_id, "command": "STATUS"}
            )
            info = _data(status).get("processing_info")
        if isinstance(info, dict) and info.get("state") == "failed":
            error = info.get("error")
            detail = error.get("message") if isinstance(error, dict) else None
            raise Rejected(f"X could not process the media: {detail or 'failed'}", reason="media")

    async def _timeline(self, since: dt.datetime) -> list[dict[str, Any]]:
        """The user's own posts since ``since``, oldest first (replies included)."""
        user_id = await self._user_id()
        params: dict[str, str | int] = {
            "max_results": 100,
            "start_time": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tweet.fields": "created_at,referenced_tweets,attachments",
        }
        tweets: list[dict[str, Any]] = []
        for _ in range(_MAX_LOOKUP_PAGES):
            body = await self._call("GET", f"/2/users/{user_id}/tweets", params=params)
            page = body.get("data") if isinstance(body, dict) else None
            tweets.extend(t for t in page or () if isinstance(t, dict) and t.get("id"))
            meta = body.get("meta") if isinstance(body, dict) else None
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                break
            params["pagination_token"] = str(token)
        tweets.sort(key=lambda t: int(str(t["id"])) if str(t["id"]).isdigit() else 0)
        return tweets

    # -- the inbox --------------------------------------------------------------------------
    #
    # Two streams, one opaque cursor (:class:`_InboxCursor`): the mentions timeline (replies,
    # mentions, quotes: every post that names the account, replies included) read with
    # ``since_id``, and direct messages (``GET /2/dm_events``), which have no ``since_id``
    # and are read newest first down to the newest event already stored.

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        """Mentions and direct messages newer than ``cursor``, oldest first.

        X pages from the newest down. When more arrived than :data:`_INBOX_PAGES` pages
        hold, the cursor remembers the gap (``until_id`` of the oldest post read) and the
        next call reads on down to the old ``since_id`` before moving it: nothing is
        skipped, and ``more`` says to call again.
        """
        state = _InboxCursor.parse(cursor)
        me = await self._user_id()
        items, more = await self._read_mentions(state, me)
        if self._may_read_dms():
            try:
                messages, more_messages = await self._read_messages(state, me)
            except Rejected as exc:  # a token granted before socialdesk asked for dm.read
                logger.warning("X refused to list direct messages (%s); skipping them", exc.reason)
            else:
                items.extend(messages)
                more = more or more_messages
        items.sort(key=lambda item: (item.created_at, _snowflake(item.external_id)))
        state.started = True  # later syncs read everything after this one, however much
        return InboxPage(items=tuple(items), cursor=state.dump(), more=more)

    def _may_read_dms(self) -> bool:
        granted = self.credentials.extra.get("scope")
        return granted is None or "dm.read" in granted.split()

    async def _read_mentions(self, state: _InboxCursor, me: str) -> tuple[list[InboundItem], bool]:
        params: dict[str, str | int] = {**_MENTION_FIELDS, "max_results": _INBOX_PAGE}
        if state.since_id:
            params["since_id"] = state.since_id
        if state.until_id:
            params["until_id"] = state.until_id
        tweets: list[dict[str, Any]] = []
        includes: dict[str, list[dict[str, Any]]] = {"users": [], "tweets": []}
        token: str | None = None
        # the first sync reads one page: the newest, not the account's history
        for _ in range(_INBOX_PAGES if state.since_id or state.started else 1):
            body = await self._call("GET", f"/2/users/{me}/mentions", params=params)
            page = body.get("data") if isinstance(body, dict) else None
            tweets.extend(t for t in page or () if isinstance(t, dict) and t.get("id"))
            found = body.get("includes") if isinstance(body, dict) else None
            for key in ("users", "tweets"):
                extra = found.get(key) if isinstance(found, dict) else None
                includes[key].extend(x for x in extra or () if isinstance(x, dict))
            meta = body.get("meta") if isinstance(body, dict) else None
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                break
            params["pagination_token"] = str(token)
        ids = sorted((str(t["id"]) for t in tweets), key=_snowflake)
        more = bool(token) and bool(state.since_id or state.started)
        if ids:
            state.top_id = state.top_id or ids[-1]
        if more:
            state.until_id = ids[0]  # read on below the oldest read, next time
        else:
            state.since_id = state.top_id or state.since_id
            state.until_id = state.top_id = None
        users = {str(u.get("id")): u for u in includes["users"]}
        authors = {str(t.get("id")): str(t.get("author_id")) for t in includes["tweets"]}
        await self._learn_roots(tweets, authors)
        return [self._mention_item(t, users, authors, me) for t in tweets], more

    async def _learn_roots(self, tweets: list[dict[str, Any]], authors: dict[str, str]) -> None:
        """Who started each conversation a reply belongs to (one look-up per 100)."""
        for tweet_id, author in authors.items():
            self._root_authors.setdefault(tweet_id, author)
        unknown = sorted(
            {
                str(t["conversation_id"])
                for t in tweets
                if t.get("conversation_id")
                and str(t["conversation_id"]) != str(t["id"])
                and str(t["conversation_id"]) not in self._root_authors
            }
        )
        for start in range(0, len(unknown), 100):
            chunk = unknown[start : start + 100]
            body = await self._call(
                "GET", "/2/tweets", params={"ids": ",".join(chunk), "tweet.fields": "author_id"}
            )
            for root in (body.get("data") if isinstance(body, dict) else None) or ():
                if isinstance(root, dict) and root.get("author_id"):
                    self._root_authors[str(root["id"])] = str(root["author_id"])
        if len(self._root_authors) > _ROOT_CACHE:
            self._root_authors.clear()

    def _mention_item(
        self,
        tweet: Mapping[str, Any],
        users: Mapping[str, Mapping[str, Any]],
        authors: Mapping[str, str],
        me: str,
    ) -> InboundItem:
        tweet_id = str(tweet["id"])
        conversation = str(tweet.get("conversation_id") or tweet_id)
        refs = {
            str(ref.get("type")): str(ref.get("id"))
            for ref in tweet.get("referenced_tweets") or ()
            if isinstance(ref, dict)
        }
        replied, quoted = refs.get("replied_to"), refs.get("quoted")
        kind, our_post = InboundKind.MENTION, None
        if quoted is not None and authors.get(quoted) == me:
            kind, our_post = InboundKind.QUOTE, quoted
        elif replied is not None:
            if self._root_authors.get(conversation) == me:
                kind, our_post = InboundKind.REPLY, conversation
            elif authors.get(replied) == me or tweet.get("in_reply_to_user_id") == me:
                kind, our_post = InboundKind.REPLY, replied
        author_id = str(tweet.get("author_id"))
        author = self._author(author_id, users.get(author_id))
        return InboundItem(
            external_id=tweet_id,
            kind=kind,
            author=author,
            text=html.unescape(str(tweet.get("text") or "")),
            created_at=_as_utc(tweet.get("created_at")) or _utcnow(),
            conversation_id=conversation,
            url=f"https://x.com/{author.handle or 'i/web'}/status/{tweet_id}",
            in_reply_to=replied,
            our_post_id=our_post,
            from_us=author_id == me,
            extra={"username": author.handle},
        )

    @staticmethod
    def _author(user_id: str, user: Mapping[str, Any] | None) -> InboundAuthor:
        user = user or {}
        metrics = user.get("public_metrics")
        followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
        username = str(user.get("username") or "")
        avatar = user.get("profile_image_url")
        return InboundAuthor(
            external_id=user_id,
            handle=username,
            display_name=str(user.get("name") or ""),
            avatar_url=avatar if isinstance(avatar, str) else None,
            url=f"https://x.com/{username}" if username else None,
            followers=followers if isinstance(followers, int) else None,
        )

    async def _read_messages(self, state: _InboxCursor, me: str) -> tuple[list[InboundItem], bool]:
        """DM events newer than the newest stored, newest first, down to it."""
        params: dict[str, str | int] = {**_DM_FIELDS, "max_results": _INBOX_PAGE}
        if state.dm_token:
            params["pagination_token"] = state.dm_token
        floor = _snowflake(state.dm_since_id) if state.dm_since_id else None
        events: list[dict[str, Any]] = []
        users: dict[str, Mapping[str, Any]] = {}
        token: str | None = None
        reached = False
        for _ in range(_INBOX_PAGES if floor is not None or state.started else 1):
            body = await self._call("GET", "/2/dm_events", params=params)
            for event in (body.get("data") if isinstance(body, dict) else None) or ():
                if not isinstance(event, dict) or not event.get("id"):
                    continue
                if floor is not None and _snowflake(str(event["id"])) <= floor:
                    reached = True
                    break
                if event.get("event_type", "MessageCreate") == "MessageCreate":
                    events.append(event)
            found = body.get("includes") if isinstance(body, dict) else None
            for user in (found.get("users") if isinstance(found, dict) else None) or ():
                if isinstance(user, dict):
                    users[str(user.get("id"))] = user
            meta = body.get("meta") if isinstance(body, dict) else None
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if reached or not token:
                break
            params["pagination_token"] = str(token)
        ids = sorted((str(e["id"]) for e in events), key=_snowflake)
        if ids:
            state.dm_top_id = state.dm_top_id or ids[-1]
        more = bool(token) and not reached and (floor is not None or state.started)
        if more:
            state.dm_token = str(token)
        else:
            state.dm_since_id = state.dm_top_id or state.dm_since_id
            state.dm_token = state.dm_top_id = None
        items = []
        for event in events:
            sender = str(event.get("sender_id"))
            author = self._author(sender, users.get(sender))
            items.append(
                InboundItem(
                    external_id=str(event["id"]),
                    kind=InboundKind.MESSAGE,
                    author=author,
                    text=html.unescape(str(event.get("text") or "")),
                    created_at=_as_utc(event.get("created_at")) or _utcnow(),
                    conversation_id=str(event.get("dm_conversation_id") or ""),
                    from_us=sender == me,
                    extra={
                        "username": author.handle,
                        "dm_conversation_id": str(event.get("dm_conversation_id") or ""),
                    },
                )
            )
        return items, more

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        """A reply post (``reply.in_reply_to_tweet_id``), or a direct message in the same
        conversation for a MESSAGE. X has no idempotency key: after ``UncertainOutcome``
        call :meth:`find_reply`; a repeat that X refuses as duplicate content is taken as
        the earlier attempt when it is found."""
        if to.kind is InboundKind.MESSAGE:
            conversation = to.extra.get("dm_conversation_id") or to.conversation_id
            body = await self._call(
                "POST", f"/2/dm_conversations/{conversation}/messages", json={"text": post.text}
            )
            event_id = _data(body).get("dm_event_id")
            if not event_id:
                raise UncertainOutcome("X accepted the message but did not say its id")
            return PublishResult(external_id=str(event_id))
        self._check_media(post.media)
        media_ids = [await self._upload(item) for item in post.media]
        body_json: dict[str, Any] = {
            "text": post.text,
            "reply": {"in_reply_to_tweet_id": to.external_id},
        }
        if media_ids:
            body_json["media"] = {"media_ids": media_ids}
        try:
            tweet_id = await self._create(body_json)
        except Rejected as exc:
            if exc.reason != DUPLICATE_CONTENT or not post.options.get("attempted_at"):
                raise
            found = await self.find_reply(to, post)
            if found is None:
                raise
            logger.info("X reply %s of an earlier attempt found", found.external_id)
            return found
        return PublishResult(external_id=tweet_id, url=self._post_url(tweet_id))

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        """Our answer to ``to`` made since the first attempt, matched by its text."""
        since = _as_utc(post.options.get("attempted_at"))
        since = (since or _utcnow() - LOOKUP_LOOKBACK) - _CLOCK_SKEW
        wanted = comparable_text(post.text)
        if to.kind is InboundKind.MESSAGE:
            return await self._find_message(to, wanted, since)
        for tweet in await self._timeline(since):
            if (
                _replied_to(tweet) == to.external_id
                and comparable_text(_tweet_text(tweet)) == wanted
            ):
                tweet_id = str(tweet["id"])
                return PublishResult(external_id=tweet_id, url=self._post_url(tweet_id))
        return None

    async def _find_message(
        self, to: ReplyTarget, wanted: str, since: dt.datetime
    ) -> PublishResult | None:
        me = await self._user_id()
        conversation = to.extra.get("dm_conversation_id") or to.conversation_id
        params: dict[str, str | int] = {**_DM_FIELDS, "max_results": _INBOX_PAGE}
        for _ in range(_MAX_LOOKUP_PAGES):
            body = await self._call("GET", "/2/dm_events", params=params)
            events = [e for e in (body.get("data") or ()) if isinstance(e, dict)]
            for event in events:
                if (
                    str(event.get("sender_id")) == me
                    and str(event.get("dm_conversation_id")) == conversation
                    and comparable_text(str(event.get("text") or "")) == wanted
                ):
                    return PublishResult(external_id=str(event["id"]))
            oldest = _as_utc(events[-1].get("created_at")) if events else None
            token = (body.get("meta") or {}).get("next_token")
            if not token or (oldest is not None and oldest < since):
                return None
            params["pagination_token"] = str(token)
        return None

    async def like(self, item_id: str) -> None:
        me = await self._user_id()
        body = await self._call("POST", f"/2/users/{me}/likes", json={"tweet_id": item_id})
        if _data(body).get("liked") is not True:
            raise Rejected(f"X did not like post {item_id}", reason="not liked")

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        """``PUT /2/tweets/:id/hidden``: only replies to a conversation we started."""
        try:
            body = await self._call("PUT", f"/2/tweets/{item_id}/hidden", json={"hidden": hidden})
        except Rejected as exc:
            raise Rejected(
                f"X refused to {'hide' if hidden else 'unhide'} {item_id} ({exc.reason}); only"
                " replies under the account's own posts can be hidden",
                reason=exc.reason,
            ) from exc
        if _data(body).get("hidden") is not hidden:
            raise Rejected(f"X did not change whether {item_id} is hidden", reason="not hidden")

    async def delete_item(self, item_id: str) -> None:
        """Delete one of our own replies; X lets nobody delete someone else's post."""
        body = await self._call("GET", f"/2/tweets/{item_id}", params={"tweet.fields": "author_id"})
        tweet = _data(body)
        if not tweet:
            logger.info("X post %s is already gone", item_id)
            return
        if str(tweet.get("author_id")) != await self._user_id():
            raise Rejected(
                "X only lets an account delete its own posts; hide the reply instead",
                reason="not our post",
            )
        await self.delete(item_id)


_INBOX_PAGE = 100
#: Pages one ``fetch_inbox`` reads per stream before it hands back what it has.
_INBOX_PAGES = 5
_ROOT_CACHE = 10_000
_MENTION_FIELDS: dict[str, str | int] = {
    "tweet.fields": "author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets",
    "expansions": "author_id,referenced_tweets.id,referenced_tweets.id.author_id",
    "user.fields": "name,username,profile_image_url,public_metrics",
}
_DM_FIELDS: dict[str, str | int] = {
    "dm_event.fields": "id,text,event_type,created_at,dm_conversation_id,sender_id",
    "event_types": "MessageCreate",
    "expansions": "sender_id",
    "user.fields": "name,username,profile_image_url,public_metrics",
}


def _snowflake(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


@dataclass(slots=True)
class _InboxCursor:
    """Where the X inbox stopped reading, stored by the inbox as one opaque string."""

    #: Mentions: everything up to this post is read.
    since_id: str | None = None
    #: Mentions arrived faster than one call reads: read on below this post next time...
    until_id: str | None = None
    #: ...and once done, everything up to this (the newest seen meanwhile) is read.
    top_id: str | None = None
    #: Direct messages: the newest event read, a page token to read on, the newest seen.
    dm_since_id: str | None = None
    dm_token: str | None = None
    dm_top_id: str | None = None
    #: A first sync happened: with no id yet, the next reads every page there is.
    started: bool = False

    @classmethod
    def parse(cls, cursor: str | None) -> _InboxCursor:
        if not cursor:
            return cls()
        try:
            data = json.loads(cursor)
        except ValueError:
            data = None
        if not isinstance(data, dict):  # an older cursor: the newest mention id
            return cls(since_id=cursor if cursor.isdigit() else None)
        fields = {name: data.get(name) for name in cls.__slots__ if name != "started"}
        ids = {k: str(v) for k, v in fields.items() if isinstance(v, str | int)}
        return cls(**ids, started=data.get("started") is True)

    def dump(self) -> str:
        values = {name: getattr(self, name) for name in self.__slots__}
        return json.dumps(
            {k: v for k, v in values.items() if v is not None and v is not False}, sort_keys=True
        )
