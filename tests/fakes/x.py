# SPDX-License-Identifier: AGPL-3.0-or-later
"""A local X API v2 that answers as docs.x.com shows, errors included.

X cannot run here, so the X connector's contract tests talk to this fake. It models what
publishing depends on:

- OAuth 2.0 Authorization Code with PKCE: ``GET /i/oauth2/authorize`` (consents at once for
  ``consent_user`` and redirects with ``code`` and ``state``), ``POST /2/oauth2/token``
  (``authorization_code`` with the verifier checked, ``refresh_token`` with rotation: the
  old refresh token dies), public clients (``client_id`` in the body) and confidential
  ones (Basic auth); access tokens live 2 hours;
- ``GET /2/users/me``; ``GET /2/users/:id/tweets`` (``start_time``, ``since_id``,
  ``max_results`` 5-100, ``pagination_token``, ``tweet.fields``);
- the inbox: ``GET /2/users/:id/mentions`` (``since_id``, ``until_id``, pages, expansions
  ``author_id`` and ``referenced_tweets.id(.author_id)``, ``user.fields`` public_metrics),
  ``GET /2/tweets`` and ``/2/tweets/:id`` (missing posts as ``errors`` in a 200),
  ``POST /2/users/:id/likes``, ``PUT /2/tweets/:id/hidden`` (replies in the user's own
  conversations only), ``GET /2/dm_events`` and ``POST /2/dm_conversations/:id/messages``;
  quotes (``quote_tweet_id``); other people's posts and DMs come from :meth:`XFake.post_as`
  and :meth:`XFake.send_dm`;
- ``POST /2/tweets`` (text weighted as twitter-text with links as 23, media, poll, reply)
  answering 201 ``{"data": {"id", "text"}}`` with the text as X gives it back (links as
  ``t.co``, ``& < >`` escaped), the 403 for duplicate content, ``DELETE /2/tweets/:id``;
- media upload v2: ``POST /2/media/upload/initialize``, ``/{id}/append`` (multipart),
  ``/{id}/finalize`` (video and GIF "pending" until ``GET /2/media/upload?command=STATUS``
  was asked ``media_processing_polls`` times), ``POST /2/media/metadata`` (alt text);
- per-user rate limits per endpoint and 15-minute window with ``x-rate-limit-limit``,
  ``-remaining`` and ``-reset`` (epoch seconds), plus the 24-hour user cap on creating
  posts (``x-user-limit-24hour-*``), and 429 with the documented body;
- faults: the next N matching requests fail (503...), are delayed, or are applied and then
  stall or lose the connection (the uncertain outcome).

In-process: ``XFake().client()`` is an ``httpx.AsyncClient`` whose transport honours read
timeouts. As a server: ``python -m tests.fakes.x --port 8766`` (prints a token to use).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import html
import itertools
import re
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ACCESS_TOKEN_SECONDS = 7200
SCOPES = frozenset(
    {
        "tweet.read",
        "tweet.write",
        "users.read",
        "offline.access",
        "media.write",
        "follows.read",
        "like.read",
        "like.write",
        "dm.read",
        "dm.write",
        "tweet.moderate.write",
    }
)
INVALID_TOKEN_VALUE = "Value passed for the token was invalid."
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
MEDIA_TYPES = {
    "image/jpeg": "tweet_image",
    "image/png": "tweet_image",
    "image/webp": "tweet_image",
    "image/gif": "tweet_gif",
    "video/mp4": "tweet_video",
    "video/quicktime": "tweet_video",
}
CATEGORY_BYTES = {
    "tweet_image": 5 * 1024 * 1024,
    "tweet_gif": 15 * 1024 * 1024,
    "tweet_video": 512 * 1024 * 1024,
    "amplify_video": 512 * 1024 * 1024,
}
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")


# -- data -----------------------------------------------------------------------------------


@dataclass
class OAuthApp:
    client_id: str
    redirect_uris: tuple[str, ...]
    secret: str | None = None


@dataclass
class User:
    id: str
    username: str
    name: str
    followers_count: int = 0


@dataclass
class Token:
    value: str
    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float | None = None


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    user_id: str
    scopes: frozenset[str]


@dataclass
class Tweet:
    id: str
    author_id: str
    #: As the client sent it; ``public_text`` is what X shows.
    text: str
    created_at: float
    reply_to: str | None = None
    media_ids: tuple[str, ...] = ()
    poll: dict[str, Any] | None = None
    deleted: bool = False
    quote_of: str | None = None
    #: The root of the thread (X's ``conversation_id``): its own id for a new post.
    conversation_id: str = ""
    hidden: bool = False
    liked_by: set[str] = field(default_factory=set)


@dataclass
class DmEvent:
    """One ``MessageCreate`` event of a direct-message conversation."""

    id: str
    dm_conversation_id: str
    sender_id: str
    text: str
    created_at: float
    participant_ids: tuple[str, ...]


@dataclass
class Media:
    id: str
    owner_id: str
    media_type: str
    category: str
    total_bytes: int
    chunks: dict[int, bytes] = field(default_factory=dict)
    finalized: bool = False
    polls_left: int = 0
    alt_text: str | None = None

    @property
    def needs_processing(self) -> bool:
        return self.category != "tweet_image"

    @property
    def ready(self) -> bool:
        return self.finalized and (not self.needs_processing or self.polls_left <= 0)


@dataclass
class Fault:
    """What happens to the next ``count`` requests that match ``method`` and ``path``.

    kinds: ``fail`` (answer ``status`` without doing anything), ``delay`` (wait ``seconds``
    first), ``apply_then_stall`` (handle, then wait ``seconds`` before answering: the
    client times out), ``apply_then_drop`` (handle, then lose the connection).
    """

    kind: str
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 503
    seconds: float = 30.0
    #: Matching requests to let through untouched first.
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )

    def take(self, method: str, path: str) -> bool:
        """Whether this fault hits this request (and count it)."""
        if self.count <= 0 or not self.matches(method, path):
            return False
        if self.after > 0:
            self.after -= 1
            return False
        self.count -= 1
        return True


class ConnectionDropped(Exception):
    """Raised after applying a request, to lose the connection before answering."""


def take_fault(faults: list[Fault], method: str, path: str) -> Fault | None:
    """The fault that hits this request, if any; spent faults leave the list."""
    fault = next((f for f in faults if f.take(method, path)), None)
    faults[:] = [f for f in faults if f.count > 0]
    return fault


# -- helpers --------------------------------------------------------------------------------


def weighted_length(text: str) -> int:
    """twitter-text v3 weighting: most Latin and punctuation 1, the rest 2, links 23."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in _URL.finditer(text):
        total += _weigh(text[position : match.start()]) + 23
        position = match.end()
    return total + _weigh(text[position:])


def _weigh(text: str) -> int:
    light = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
    return sum(1 if any(lo <= ord(c) <= hi for lo, hi in light) else 2 for c in text)


def public_text(text: str) -> str:
    """A text as X gives it back: links wrapped as t.co, ``& < >`` HTML-escaped."""
    text = unicodedata.normalize("NFC", text)
    wrapped = _URL.sub(
        lambda m: "https://t.co/" + hashlib.sha1(m.group(0).encode()).hexdigest()[:10], text
    )
    return html.escape(wrapped, quote=False)


def shown_text(tweet: Tweet) -> str:
    """The ``text`` X answers for a post: with media, their t.co link comes last."""
    text = public_text(tweet.text)
    if tweet.media_ids:
        text = f"{text} https://t.co/{hashlib.sha1(tweet.media_ids[0].encode()).hexdigest()[:10]}"
    return text.strip()


def _iso(timestamp: float) -> str:
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status, **extra}


def _invalid(message: str, parameter: str) -> JSONResponse:
    """X's 400 for bad parameters (``invalid-request`` problem with an ``errors`` list)."""
    return JSONResponse(
        {
            "errors": [{"parameters": {parameter: []}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status_code=400,
    )


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _pkce_ok(verifier: str, challenge: str, method: str) -> bool:
    if method == "plain":
        return secrets.compare_digest(verifier, challenge)
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(expected, challenge)


def _comparable(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


# -- the fake -------------------------------------------------------------------------------


class XFake:
    """State, knobs and the ASGI app of a fake X."""

    def __init__(self, *, base_url: str = "https://api.x.com") -> None:
        self.base_url = base_url
        self.apps: dict[str, OAuthApp] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.codes: dict[str, Code] = {}
        self.tweets: dict[str, Tweet] = {}
        self.media: dict[str, Media] = {}
        self.dm_events: dict[str, DmEvent] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        #: Per user and endpoint: (requests, window seconds).
        self.limits: dict[str, tuple[int, int]] = {
            "POST /2/tweets": (100, 900),
            "DELETE /2/tweets": (50, 900),
            "GET /2/users/me": (75, 900),
            "GET /2/users/tweets": (900, 900),
            "GET /2/users/mentions": (300, 900),
            "GET /2/tweets": (900, 900),
            "GET /2/dm_events": (300, 900),
            "POST /2/dm_conversations": (200, 900),
            "POST /2/users/likes": (50, 900),
            "PUT /2/tweets/hidden": (50, 900),
            "media": (1875, 900),
        }
        #: Posts one user may create in 24 hours (``x-user-limit-24hour-*``).
        self.daily_post_limit = 2400
        self.media_processing_polls = 1
        #: X rotates refresh tokens; False answers a refresh without a new one.
        self.rotate_refresh_tokens = True
        #: Who approves on the authorize page (None: the person declines).
        self.consent_user: str | None = None
        self._offset = 0.0
        self._counters: dict[tuple[str, str], tuple[float, int]] = {}
        self._ids = itertools.count(1_860_000_000_000_000_000, 7919)
        self.routes = Starlette(routes=self._routes())

    # -- knobs ----------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def _new_id(self) -> str:
        return str(next(self._ids))

    def add_app(self, client_id: str, redirect_uri: str, secret: str | None = None) -> OAuthApp:
        app = OAuthApp(client_id, (redirect_uri,), secret)
        self.apps[client_id] = app
        return app

    def add_user(self, username: str, name: str | None = None) -> User:
        user = User(self._new_id(), username, name or username.title())
        self.users[user.id] = user
        self.consent_user = self.consent_user or user.id
        return user

    def issue_token(
        self,
        user: User,
        *,
        client_id: str = "seeded",
        scopes: frozenset[str] | None = None,
        expires_in: int = ACCESS_TOKEN_SECONDS,
    ) -> tuple[str, str]:
        """An access and a refresh token for ``user``, as if they had connected."""
        granted = scopes if scopes is not None else frozenset(SCOPES)
        access = Token(
            secrets.token_urlsafe(24), user.id, client_id, granted, self.now() + expires_in
        )
        refresh = Token(secrets.token_urlsafe(24), user.id, client_id, granted)
        self.tokens[access.value] = access
        self.refresh_tokens[refresh.value] = refresh
        return access.value, refresh.value

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind, **options)
        self.faults.append(fault)
        return fault

    def posts_of(self, user: User) -> list[Tweet]:
        return [t for t in self.tweets.values() if t.author_id == user.id and not t.deleted]

    def user_named(self, username: str) -> User:
        found = next((u for u in self.users.values() if u.username == username), None)
        return found or self.add_user(username)

    def post_as(
        self,
        username: str,
        text: str,
        *,
        reply_to: str | None = None,
        quote_of: str | None = None,
    ) -> Tweet:
        """A post by another user (made if new), as if they had posted it on X."""
        author = self.user_named(username)
        parent = self.tweets.get(reply_to) if reply_to else None
        if reply_to and parent is None:
            raise KeyError(f"no post {reply_to}")
        return self._store_tweet(author.id, text, parent=parent, quote_of=quote_of)

    def send_dm(self, sender: str, recipient: str, text: str) -> DmEvent:
        """A one-to-one direct message (X's conversation id: both user ids, lower first)."""
        one, other = self.user_named(sender), self.user_named(recipient)
        pair = sorted((one.id, other.id), key=int)
        event = DmEvent(
            id=self._new_id(),
            dm_conversation_id=f"{pair[0]}-{pair[1]}",
            sender_id=one.id,
            text=text,
            created_at=self.now(),
            participant_ids=(pair[0], pair[1]),
        )
        self.dm_events[event.id] = event
        return event

    def _store_tweet(
        self,
        author_id: str,
        text: str,
        *,
        parent: Tweet | None = None,
        quote_of: str | None = None,
        media_ids: tuple[str, ...] = (),
        poll: dict[str, Any] | None = None,
    ) -> Tweet:
        tweet = Tweet(
            id=self._new_id(),
            author_id=author_id,
            text=text,
            created_at=self.now(),
            reply_to=parent.id if parent else None,
            media_ids=media_ids,
            poll=poll,
            quote_of=quote_of,
        )
        tweet.conversation_id = parent.conversation_id if parent else tweet.id
        self.tweets[tweet.id] = tweet
        return tweet

    def mentions(self, tweet: Tweet) -> set[str]:
        """Users a post mentions: each ``@username`` in it, and the author it answers."""
        names = {m.group(1).lower() for m in _MENTION.finditer(tweet.text)}
        found = {u.id for u in self.users.values() if u.username.lower() in names}
        parent = self.tweets.get(tweet.reply_to or "")
        if parent is not None:
            found.add(parent.author_id)
        found.discard(tweet.author_id)
        return found

    # -- in-process use -------------------------------------------------------------------

    def client(self, *, timeout: float = 5.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=FakeTransport(self), base_url=self.base_url, timeout=timeout
        )

    # -- the ASGI app ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.routes(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.requests.append((method, path))
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "fail":
            body = _problem(fault.status, "Service Unavailable", "Service Unavailable")
            await JSONResponse(body, status_code=fault.status)(scope, receive, send)
            return
        if fault is not None and fault.kind == "delay":
            await anyio.sleep(fault.seconds)
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
        raise ConnectionDropped(f"{method} {path} applied; connection dropped")

    def _take_fault(self, method: str, path: str) -> Fault | None:
        return take_fault(self.faults, method, path)

    def _routes(self) -> list[Route]:
        return [
            Route("/i/oauth2/authorize", self.authorize, methods=["GET"]),
            Route("/2/oauth2/token", self.token, methods=["POST"]),
            Route("/2/users/me", self.me, methods=["GET"]),
            Route("/2/users/{user_id}/tweets", self.timeline, methods=["GET"]),
            Route("/2/tweets", self.create_tweet, methods=["POST"]),
            Route("/2/tweets", self.lookup_tweets, methods=["GET"]),
            Route("/2/tweets/{tweet_id}", self.delete_tweet, methods=["DELETE"]),
            Route("/2/tweets/{tweet_id}", self.get_tweet, methods=["GET"]),
            Route("/2/tweets/{tweet_id}/hidden", self.hide_reply, methods=["PUT"]),
            Route("/2/users/{user_id}/mentions", self.mentions_timeline, methods=["GET"]),
            Route("/2/users/{user_id}/likes", self.like, methods=["POST"]),
            Route("/2/dm_events", self.list_dm_events, methods=["GET"]),
            Route(
                "/2/dm_conversations/{conversation_id}/messages",
                self.send_dm_message,
                methods=["POST"],
            ),
            Route("/2/media/upload/initialize", self.media_initialize, methods=["POST"]),
            Route("/2/media/upload/{media_id}/append", self.media_append, methods=["POST"]),
            Route("/2/media/upload/{media_id}/finalize", self.media_finalize, methods=["POST"]),
            Route("/2/media/upload", self.media_status, methods=["GET"]),
            Route("/2/media/metadata", self.media_metadata, methods=["POST"]),
        ]

    # -- auth and limits ------------------------------------------------------------------

    def _caller(self, request: Request, *needed: str) -> Token | Response:
        header = request.headers.get("authorization", "")
        token = self.tokens.get(header.removeprefix("Bearer ").strip())
        if token is None or (token.expires_at is not None and token.expires_at < self.now()):
            return JSONResponse(_problem(401, "Unauthorized", "Unauthorized"), status_code=401)
        missing = [scope for scope in needed if scope not in token.scopes]
        if missing:
            return JSONResponse(
                _problem(403, "Forbidden", "You are not permitted to perform this action."),
                status_code=403,
            )
        return token

    def _hit(self, bucket: str, user_id: str, limit: tuple[int, int]) -> tuple[int, int, int]:
        """Count a request in a fixed window: (requests so far, limit, reset epoch)."""
        allowed, period = limit
        now = self.now()
        start, count = self._counters.get((bucket, user_id), (now, 0))
        if now - start >= period:
            start, count = now, 0
        count += 1
        self._counters[(bucket, user_id)] = (start, count)
        return count, allowed, int(start + period)

    def _throttle(
        self, bucket: str, user_id: str, *, daily: bool = False
    ) -> tuple[dict[str, str], JSONResponse | None]:
        count, allowed, reset = self._hit(bucket, user_id, self.limits[bucket])
        headers = {
            "x-rate-limit-limit": str(allowed),
            "x-rate-limit-remaining": str(max(0, allowed - count)),
            "x-rate-limit-reset": str(reset),
        }
        over = count > allowed
        if daily:
            day_count, day_allowed, day_reset = self._hit(
                "daily posts", user_id, (self.daily_post_limit, 86400)
            )
            headers |= {
                "x-user-limit-24hour-limit": str(day_allowed),
                "x-user-limit-24hour-remaining": str(max(0, day_allowed - day_count)),
                "x-user-limit-24hour-reset": str(day_reset),
            }
            over = over or day_count > day_allowed
        if not over:
            return headers, None
        # The body docs.x.com/fundamentals/rate-limits shows for a 429.
        body = {"errors": [{"code": 88, "message": "Rate limit exceeded"}]}
        return headers, JSONResponse(body, status_code=429, headers=headers)

    # -- OAuth ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        app = self.apps.get(q.get("client_id", ""))
        redirect_uri = q.get("redirect_uri", "")
        if app is None or redirect_uri not in app.redirect_uris:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "unknown client or redirect"},
                status_code=400,
            )
        scopes = frozenset(q.get("scope", "").split())
        problems = [
            q.get("response_type") != "code",
            not q.get("state"),
            not q.get("code_challenge"),
            q.get("code_challenge_method", "plain") not in ("S256", "plain"),
            not scopes or not scopes <= SCOPES,
        ]
        if any(problems):
            target = {"error": "invalid_request", "state": q.get("state", "")}
            return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)
        if self.consent_user is None:
            target = {"error": "access_denied", "state": q["state"]}
            return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)
        code = secrets.token_urlsafe(24)
        self.codes[code] = Code(
            app.client_id,
            redirect_uri,
            q["code_challenge"],
            q.get("code_challenge_method", "plain"),
            self.consent_user,
            scopes,
        )
        target = {"state": q["state"], "code": code}
        return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)

    def _client_of(self, request: Request, form: Any) -> OAuthApp | Response:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return _oauth_error("invalid_client", "Bad authorization header", 401)
            app = self.apps.get(client_id)
            if app is None or app.secret is None or not secrets.compare_digest(app.secret, secret):
                return _oauth_error("unauthorized_client", "Invalid client credentials", 401)
            return app
        app = self.apps.get(str(form.get("client_id", "")))
        if app is None:
            return _oauth_error("invalid_request", "Missing required parameter [client_id].")
        if app.secret is not None:
            return _oauth_error("unauthorized_client", "Missing valid authorization header", 401)
        return app

    async def token(self, request: Request) -> Response:
        form = await request.form()
        app = self._client_of(request, form)
        if isinstance(app, Response):
            return app
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.pop(str(form.get("code", "")), None)
            if (
                code is None
                or code.client_id != app.client_id
                or code.redirect_uri != form.get("redirect_uri")
                or not _pkce_ok(str(form.get("code_verifier", "")), code.challenge, code.method)
            ):
                return _oauth_error("invalid_request", INVALID_TOKEN_VALUE)
            return self._token_answer(code.user_id, app.client_id, code.scopes, rotate=True)
        if grant == "refresh_token":
            old = self.refresh_tokens.get(str(form.get("refresh_token", "")))
            if old is None or old.client_id != app.client_id:
                return _oauth_error("invalid_request", INVALID_TOKEN_VALUE)
            if self.rotate_refresh_tokens:
                del self.refresh_tokens[old.value]
            return self._token_answer(
                old.user_id, app.client_id, old.scopes, rotate=self.rotate_refresh_tokens
            )
        return _oauth_error("unsupported_grant_type", "Unsupported grant type")

    def _token_answer(
        self, user_id: str, client_id: str, scopes: frozenset[str], *, rotate: bool
    ) -> JSONResponse:
        access = Token(
            secrets.token_urlsafe(24),
            user_id,
            client_id,
            scopes,
            self.now() + ACCESS_TOKEN_SECONDS,
        )
        self.tokens[access.value] = access
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access.value,
            "scope": " ".join(sorted(scopes)),
        }
        if rotate and "offline.access" in scopes:
            refresh = Token(secrets.token_urlsafe(24), user_id, client_id, scopes)
            self.refresh_tokens[refresh.value] = refresh
            body["refresh_token"] = refresh.value
        return JSONResponse(body)

    # -- users and timelines --------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        token = self._caller(request, "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/users/me", token.user_id)
        if limited:
            return limited
        user = self.users[token.user_id]
        data = {"id": user.id, "name": user.name, "username": user.username}
        fields = request.query_params.get("user.fields", "").split(",")
        if "profile_image_url" in fields:
            data["profile_image_url"] = (
                f"https://pbs.twimg.com/profile_images/{user.id}/avatar_normal.jpg"
            )
        return JSONResponse({"data": data}, headers=headers)

    async def timeline(self, request: Request) -> Response:
        token = self._caller(request, "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/users/tweets", token.user_id)
        if limited:
            return limited
        q = request.query_params
        max_results = int(q.get("max_results", "10"))
        if not 5 <= max_results <= 100:
            return _invalid(
                f"The `max_results` query parameter value [{max_results}] is not between 5 and 100",
                "max_results",
            )
        since = 0.0
        if q.get("start_time"):
            moment = dt.datetime.fromisoformat(q["start_time"].replace("Z", "+00:00"))
            since = moment.timestamp()
        tweets = sorted(
            (
                t
                for t in self.tweets.values()
                if t.author_id == request.path_params["user_id"]
                and not t.deleted
                and t.created_at >= since
                and (not q.get("since_id") or int(t.id) > int(q["since_id"]))
            ),
            key=lambda t: int(t.id),
            reverse=True,
        )
        offset = int(q.get("pagination_token") or 0)
        page = tweets[offset : offset + max_results]
        if not page:
            return JSONResponse({"meta": {"result_count": 0}}, headers=headers)
        fields = set(q.get("tweet.fields", "").split(","))
        meta: dict[str, Any] = {
            "newest_id": page[0].id,
            "oldest_id": page[-1].id,
            "result_count": len(page),
        }
        if offset + max_results < len(tweets):
            meta["next_token"] = str(offset + max_results)
        data = [self._tweet_json(t, fields) for t in page]
        return JSONResponse({"data": data, "meta": meta}, headers=headers)

    def _tweet_json(self, tweet: Tweet, fields: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "edit_history_tweet_ids": [tweet.id],
            "id": tweet.id,
            "text": shown_text(tweet),
        }
        if "created_at" in fields:
            data["created_at"] = _iso(tweet.created_at)
        references = []
        if tweet.reply_to:
            references.append({"type": "replied_to", "id": tweet.reply_to})
        if tweet.quote_of:
            references.append({"type": "quoted", "id": tweet.quote_of})
        if "referenced_tweets" in fields and references:
            data["referenced_tweets"] = references
        if "author_id" in fields:
            data["author_id"] = tweet.author_id
        if "conversation_id" in fields:
            data["conversation_id"] = tweet.conversation_id or tweet.id
        if "in_reply_to_user_id" in fields and tweet.reply_to in self.tweets:
            data["in_reply_to_user_id"] = self.tweets[tweet.reply_to].author_id
        if "attachments" in fields and (tweet.media_ids or tweet.poll):
            data["attachments"] = (
                {"media_keys": [f"3_{m}" for m in tweet.media_ids]}
                if tweet.media_ids
                else {"poll_ids": [tweet.id]}
            )
        return data

    # -- the inbox: mentions, look-ups, likes, hidden replies, direct messages -------------

    def _user_json(self, user: User, fields: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
        if "public_metrics" in fields:
            data["public_metrics"] = {
                "followers_count": user.followers_count,
                "following_count": 0,
                "tweet_count": len(self.posts_of(user)),
                "listed_count": 0,
                "like_count": 0,
            }
        if "profile_image_url" in fields:
            data["profile_image_url"] = (
                f"https://pbs.twimg.com/profile_images/{user.id}/avatar_normal.jpg"
            )
        return data

    def _includes(self, tweets: list[Tweet], q: Any) -> dict[str, Any]:
        """``includes`` for ``expansions`` author_id and referenced_tweets.id(.author_id)."""
        expansions = set(q.get("expansions", "").split(","))
        tweet_fields = set(q.get("tweet.fields", "").split(","))
        user_fields = set(q.get("user.fields", "").split(","))
        users: dict[str, User] = {}
        referenced: dict[str, Tweet] = {}
        for tweet in tweets:
            if "author_id" in expansions:
                users[tweet.author_id] = self.users[tweet.author_id]
            if "referenced_tweets.id" in expansions:
                for ref in (tweet.reply_to, tweet.quote_of):
                    target = self.tweets.get(ref or "")
                    if target is not None and not target.deleted:
                        referenced[target.id] = target
        if "referenced_tweets.id.author_id" in expansions:
            for target in referenced.values():
                users[target.author_id] = self.users[target.author_id]
        includes: dict[str, Any] = {}
        if users:
            includes["users"] = [self._user_json(u, user_fields) for u in users.values()]
        if referenced:
            includes["tweets"] = [self._tweet_json(t, tweet_fields) for t in referenced.values()]
        return includes

    async def mentions_timeline(self, request: Request) -> Response:
        """``GET /2/users/:id/mentions``: newest first, ``since_id`` / ``until_id``
        (exclusive), ``max_results`` 5-100, ``pagination_token``; the 800 most recent."""
        token = self._caller(request, "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/users/mentions", token.user_id)
        if limited:
            return limited
        q = request.query_params
        user_id = request.path_params["user_id"]
        if user_id not in self.users:
            return _invalid(f"The `id` query parameter value [{user_id}] is not valid", "id")
        max_results = int(q.get("max_results", "10"))
        if not 5 <= max_results <= 100:
            return _invalid(
                f"The `max_results` query parameter value [{max_results}] is not between 5 and 100",
                "max_results",
            )
        found = sorted(
            (t for t in self.tweets.values() if not t.deleted and user_id in self.mentions(t)),
            key=lambda t: int(t.id),
            reverse=True,
        )[:800]
        if q.get("since_id"):
            found = [t for t in found if int(t.id) > int(q["since_id"])]
        if q.get("until_id"):
            found = [t for t in found if int(t.id) < int(q["until_id"])]
        offset = int(q.get("pagination_token") or 0)
        page = found[offset : offset + max_results]
        if not page:
            return JSONResponse({"meta": {"result_count": 0}}, headers=headers)
        fields = set(q.get("tweet.fields", "").split(","))
        meta: dict[str, Any] = {
            "newest_id": page[0].id,
            "oldest_id": page[-1].id,
            "result_count": len(page),
        }
        if offset + max_results < len(found):
            meta["next_token"] = str(offset + max_results)
        body: dict[str, Any] = {"data": [self._tweet_json(t, fields) for t in page]}
        includes = self._includes(page, q)
        if includes:
            body["includes"] = includes
        body["meta"] = meta
        return JSONResponse(body, headers=headers)

    def _not_found(self, tweet_id: str) -> dict[str, Any]:
        return {
            "value": tweet_id,
            "detail": f"Could not find tweet with id: [{tweet_id}].",
            "title": "Not Found Error",
            "resource_type": "tweet",
            "parameter": "id",
            "resource_id": tweet_id,
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }

    async def lookup_tweets(self, request: Request) -> Response:
        """``GET /2/tweets?ids=``: found posts in ``data``, missing ones in ``errors`` (200)."""
        token = self._caller(request, "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/tweets", token.user_id)
        if limited:
            return limited
        q = request.query_params
        ids = [i for i in q.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return _invalid("The `ids` query parameter must hold 1 to 100 ids", "ids")
        fields = set(q.get("tweet.fields", "").split(","))
        found = [self.tweets[i] for i in ids if i in self.tweets and not self.tweets[i].deleted]
        body: dict[str, Any] = {}
        if found:
            body["data"] = [self._tweet_json(t, fields) for t in found]
            includes = self._includes(found, q)
            if includes:
                body["includes"] = includes
        missing = [i for i in ids if i not in {t.id for t in found}]
        if missing:
            body["errors"] = [self._not_found(i) for i in missing]
        return JSONResponse(body, headers=headers)

    async def get_tweet(self, request: Request) -> Response:
        token = self._caller(request, "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/tweets", token.user_id)
        if limited:
            return limited
        tweet_id = request.path_params["tweet_id"]
        tweet = self.tweets.get(tweet_id)
        if tweet is None or tweet.deleted:
            return JSONResponse({"errors": [self._not_found(tweet_id)]}, headers=headers)
        fields = set(request.query_params.get("tweet.fields", "").split(","))
        return JSONResponse({"data": self._tweet_json(tweet, fields)}, headers=headers)

    async def hide_reply(self, request: Request) -> Response:
        """``PUT /2/tweets/:id/hidden``: only replies in a conversation the user started."""
        token = self._caller(request, "tweet.read", "users.read", "tweet.moderate.write")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("PUT /2/tweets/hidden", token.user_id)
        if limited:
            return limited
        tweet = self.tweets.get(request.path_params["tweet_id"])
        if tweet is None or tweet.deleted:
            return JSONResponse(
                {"errors": [self._not_found(request.path_params["tweet_id"])]},
                status_code=404,
                headers=headers,
            )
        root = self.tweets.get(tweet.conversation_id)
        if tweet.reply_to is None or root is None or root.author_id != token.user_id:
            return JSONResponse(
                _problem(403, "Forbidden", "You cannot hide or unhide this Tweet."),
                status_code=403,
                headers=headers,
            )
        body = await request.json()
        if not isinstance(body.get("hidden"), bool):
            return _invalid("hidden must be true or false", "hidden")
        tweet.hidden = body["hidden"]
        return JSONResponse({"data": {"hidden": tweet.hidden}}, headers=headers)

    async def like(self, request: Request) -> Response:
        """``POST /2/users/:id/likes`` ``{"tweet_id"}``: ``:id`` must be the caller."""
        token = self._caller(request, "tweet.read", "users.read", "like.write")
        if isinstance(token, Response):
            return token
        if request.path_params["user_id"] != token.user_id:
            return JSONResponse(
                _problem(403, "Forbidden", "You are not permitted to perform this action."),
                status_code=403,
            )
        headers, limited = self._throttle("POST /2/users/likes", token.user_id)
        if limited:
            return limited
        body = await request.json()
        tweet = self.tweets.get(str(body.get("tweet_id", "")))
        if tweet is None or tweet.deleted:
            return _invalid("The Tweet you are liking is not available.", "tweet_id")
        tweet.liked_by.add(token.user_id)
        return JSONResponse({"data": {"liked": True}}, headers=headers)

    async def list_dm_events(self, request: Request) -> Response:
        """``GET /2/dm_events``: the user's DM events, newest first (``max_results`` 1-100,
        ``pagination_token``, ``event_types``, ``dm_event.fields``, ``expansions``)."""
        token = self._caller(request, "dm.read", "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("GET /2/dm_events", token.user_id)
        if limited:
            return limited
        q = request.query_params
        max_results = int(q.get("max_results", "100"))
        if not 1 <= max_results <= 100:
            return _invalid(
                f"The `max_results` query parameter value [{max_results}] is not between 1 and 100",
                "max_results",
            )
        types = set(q.get("event_types", "MessageCreate").split(","))
        events = sorted(
            (
                e
                for e in self.dm_events.values()
                if token.user_id in e.participant_ids and "MessageCreate" in types
            ),
            key=lambda e: int(e.id),
            reverse=True,
        )
        offset = int(q.get("pagination_token") or 0)
        page = events[offset : offset + max_results]
        fields = set(q.get("dm_event.fields", "").split(","))
        data = []
        for event in page:
            item: dict[str, Any] = {
                "id": event.id,
                "event_type": "MessageCreate",
                "text": event.text,
            }
            for name in ("dm_conversation_id", "sender_id"):
                if name in fields:
                    item[name] = getattr(event, name)
            if "created_at" in fields:
                item["created_at"] = _iso(event.created_at)
            if "participant_ids" in fields:
                item["participant_ids"] = list(event.participant_ids)
            data.append(item)
        meta: dict[str, Any] = {"result_count": len(page)}
        if offset + max_results < len(events):
            meta["next_token"] = str(offset + max_results)
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if "sender_id" in q.get("expansions", "").split(",") and page:
            user_fields = set(q.get("user.fields", "").split(","))
            senders = {e.sender_id: self.users[e.sender_id] for e in page}
            body["includes"] = {
                "users": [self._user_json(u, user_fields) for u in senders.values()]
            }
        body["meta"] = meta
        return JSONResponse(body, headers=headers)

    async def send_dm_message(self, request: Request) -> Response:
        """``POST /2/dm_conversations/:id/messages`` ``{"text"}`` → 201."""
        token = self._caller(request, "dm.read", "dm.write", "tweet.read", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("POST /2/dm_conversations", token.user_id)
        if limited:
            return limited
        conversation = request.path_params["conversation_id"]
        participants = tuple(conversation.split("-"))
        if token.user_id not in participants or len(participants) != 2:
            return JSONResponse(
                _problem(403, "Forbidden", "You are not permitted to send messages here."),
                status_code=403,
                headers=headers,
            )
        body = await request.json()
        text = str(body.get("text") or "")
        if not text:
            return _invalid("text is required", "text")
        event = DmEvent(
            id=self._new_id(),
            dm_conversation_id=conversation,
            sender_id=token.user_id,
            text=text,
            created_at=self.now(),
            participant_ids=(participants[0], participants[1]),
        )
        self.dm_events[event.id] = event
        return JSONResponse(
            {"data": {"dm_conversation_id": conversation, "dm_event_id": event.id}},
            status_code=201,
            headers=headers,
        )

    # -- posts ----------------------------------------------------------------------------

    async def create_tweet(self, request: Request) -> Response:
        token = self._caller(request, "tweet.read", "tweet.write", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("POST /2/tweets", token.user_id, daily=True)
        if limited:
            return limited
        body = await request.json()
        text = str(body.get("text", ""))
        media_ids = [str(m) for m in (body.get("media") or {}).get("media_ids", [])]
        poll = body.get("poll")
        if not text and not media_ids:
            return _invalid("You must specify either text or media", "text")
        if weighted_length(text) > 280:
            return _invalid("The text of your Tweet is too long.", "text")
        if len(media_ids) > 4:
            return _invalid("Your media IDs are invalid.", "media.media_ids")
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None or media.owner_id != token.user_id or not media.ready:
                return _invalid("Your media IDs are invalid.", "media.media_ids")
        kinds = {self.media[m].category for m in media_ids}
        if len(media_ids) > 1 and kinds != {"tweet_image"}:
            return _invalid("Your media IDs are invalid.", "media.media_ids")
        if poll is not None:
            options = poll.get("options", [])
            duration = poll.get("duration_minutes", 0)
            if media_ids or not 2 <= len(options) <= 4 or not 5 <= duration <= 10080:
                return _invalid("Your poll is invalid.", "poll")
            if any(not 1 <= len(str(o)) <= 25 for o in options):
                return _invalid("Your poll options are invalid.", "poll.options")
        reply_to = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        parent = None
        if reply_to is not None:
            parent = self.tweets.get(str(reply_to))
            if parent is None or parent.deleted:
                return _invalid("The Tweet you are replying to is not available.", "reply")
        quote_of = body.get("quote_tweet_id")
        if quote_of is not None and (
            str(quote_of) not in self.tweets or self.tweets[str(quote_of)].deleted
        ):
            return _invalid("The Tweet you are quoting is not available.", "quote_tweet_id")
        if text and any(
            _comparable(t.text) == _comparable(text)
            for t in self.posts_of(self.users[token.user_id])
        ):
            return JSONResponse(
                _problem(403, "Forbidden", DUPLICATE), status_code=403, headers=headers
            )
        tweet = self._store_tweet(
            token.user_id,
            text,
            parent=parent,
            quote_of=str(quote_of) if quote_of is not None else None,
            media_ids=tuple(media_ids),
            poll=poll,
        )
        return JSONResponse(
            {"data": {"id": tweet.id, "text": shown_text(tweet)}},
            status_code=201,
            headers=headers,
        )

    async def delete_tweet(self, request: Request) -> Response:
        token = self._caller(request, "tweet.read", "tweet.write", "users.read")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("DELETE /2/tweets", token.user_id)
        if limited:
            return limited
        tweet_id = request.path_params["tweet_id"]
        tweet = self.tweets.get(tweet_id)
        if tweet is None or tweet.deleted:
            detail = f"Could not find tweet with id: [{tweet_id}]."
            return JSONResponse(
                {
                    "errors": [
                        {
                            "value": tweet_id,
                            "detail": detail,
                            "title": "Not Found Error",
                            "resource_type": "tweet",
                            "parameter": "id",
                            "resource_id": tweet_id,
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ],
                    "title": "Not Found Error",
                    "detail": detail,
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                },
                status_code=404,
                headers=headers,
            )
        if tweet.author_id != token.user_id:
            return JSONResponse(
                _problem(403, "Forbidden", "You are not allowed to delete this Tweet."),
                status_code=403,
                headers=headers,
            )
        tweet.deleted = True
        return JSONResponse({"data": {"deleted": True}}, headers=headers)

    # -- media ----------------------------------------------------------------------------

    def _media_caller(self, request: Request) -> tuple[Token, dict[str, str]] | Response:
        token = self._caller(request, "media.write")
        if isinstance(token, Response):
            return token
        headers, limited = self._throttle("media", token.user_id)
        return limited or (token, headers)

    def _own_media(self, token: Token, media_id: str) -> Media | Response:
        media = self.media.get(media_id)
        if media is None or media.owner_id != token.user_id:
            return _invalid(f"Media id {media_id} not found", "id")
        return media

    def _media_json(self, media: Media) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": media.id,
            "media_key": f"3_{media.id}",
            "size": sum(len(c) for c in media.chunks.values()),
            "expires_after_secs": 86400,
        }
        if media.finalized and media.needs_processing:
            total = max(1, self.media_processing_polls)
            done = media.polls_left <= 0
            data["processing_info"] = {
                "state": "succeeded" if done else "in_progress",
                "check_after_secs": 0 if done else 1,
                "progress_percent": 100 if done else int(100 * (1 - media.polls_left / total)),
            }
        return data

    async def media_initialize(self, request: Request) -> Response:
        caller = self._media_caller(request)
        if isinstance(caller, Response):
            return caller
        token, headers = caller
        body = await request.json()
        media_type = str(body.get("media_type", ""))
        category = str(body.get("media_category") or MEDIA_TYPES.get(media_type, ""))
        total = body.get("total_bytes")
        if media_type not in MEDIA_TYPES or category not in CATEGORY_BYTES:
            return _invalid(f"Unsupported media type {media_type}", "media_type")
        if not isinstance(total, int) or not 0 < total <= CATEGORY_BYTES[category]:
            return _invalid("File size exceeds the limit for this media category", "total_bytes")
        media = Media(self._new_id(), token.user_id, media_type, category, total)
        self.media[media.id] = media
        data = {"id": media.id, "media_key": f"3_{media.id}", "expires_after_secs": 86400}
        return JSONResponse({"data": data}, headers=headers)

    async def media_append(self, request: Request) -> Response:
        caller = self._media_caller(request)
        if isinstance(caller, Response):
            return caller
        token, headers = caller
        media = self._own_media(token, request.path_params["media_id"])
        if isinstance(media, Response):
            return media
        async with request.form() as form:
            upload = form.get("media")
            index = str(form.get("segment_index", ""))
            if not isinstance(upload, UploadFile) or not index.isdigit() or int(index) > 999:
                return _invalid("media and segment_index are required", "media")
            media.chunks[int(index)] = await upload.read()
        return JSONResponse({"data": {"expires_at": int(self.now()) + 86400}}, headers=headers)

    async def media_finalize(self, request: Request) -> Response:
        caller = self._media_caller(request)
        if isinstance(caller, Response):
            return caller
        token, headers = caller
        media = self._own_media(token, request.path_params["media_id"])
        if isinstance(media, Response):
            return media
        received = sum(len(chunk) for chunk in media.chunks.values())
        if sorted(media.chunks) != list(range(len(media.chunks))) or received != media.total_bytes:
            return _invalid(
                f"File size mismatch: expected {media.total_bytes} bytes, got {received}", "id"
            )
        media.finalized = True
        media.polls_left = self.media_processing_polls
        data = self._media_json(media)
        if media.needs_processing and media.polls_left > 0:
            data["processing_info"] = {"state": "pending", "check_after_secs": 1}
        return JSONResponse({"data": data}, headers=headers)

    async def media_status(self, request: Request) -> Response:
        caller = self._media_caller(request)
        if isinstance(caller, Response):
            return caller
        token, headers = caller
        if request.query_params.get("command") != "STATUS":
            return _invalid("command must be STATUS", "command")
        media = self._own_media(token, request.query_params.get("media_id", ""))
        if isinstance(media, Response):
            return media
        media.polls_left -= 1
        return JSONResponse({"data": self._media_json(media)}, headers=headers)

    async def media_metadata(self, request: Request) -> Response:
        caller = self._media_caller(request)
        if isinstance(caller, Response):
            return caller
        token, headers = caller
        body = await request.json()
        media = self._own_media(token, str(body.get("id", "")))
        if isinstance(media, Response):
            return media
        alt = ((body.get("metadata") or {}).get("alt_text") or {}).get("text")
        if not isinstance(alt, str) or len(alt) > 1000:
            return _invalid("alt_text.text must be at most 1000 characters", "metadata")
        if media.category == "tweet_video":
            return _invalid("Alt text is supported for images and GIFs only", "metadata")
        media.alt_text = alt
        data = {"associated_metadata": {"alt_text": {"text": alt}}, "id": media.id}
        return JSONResponse({"data": data}, headers=headers)


class FakeTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that behaves like a network: read timeouts and drops."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self._inner = httpx.ASGITransport(app=app)

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


def main(argv: list[str] | None = None) -> None:
    """Serve a fake X with one user and one public OAuth client."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--user", default="socialdesk_demo")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/oauth/x/callback")
    args = parser.parse_args(argv)
    fake = XFake(base_url=f"http://{args.host}:{args.port}")
    fake.add_app("socialdesk-demo", args.redirect_uri)
    user = fake.add_user(args.user)
    access, refresh = fake.issue_token(user, client_id="socialdesk-demo")
    print(f"fake X at {fake.base_url}: user {user.username} ({user.id})")
    print(f"access token {access}\nrefresh token {refresh}", flush=True)
    uvicorn.run(fake, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
