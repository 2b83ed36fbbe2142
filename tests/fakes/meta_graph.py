# SPDX-License-Identifier: AGPL-3.0-or-later
"""Local fakes of Meta's Graph hosts: Facebook Pages, Instagram and Threads.

Each fake is an ASGI app (Starlette) answering the way the API documentation shows:
numeric-string ids, the Graph error object ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``, publishing containers that are ``IN_PROGRESS`` before
``FINISHED``, publishing limits, permalinks, tokens checked on every call, and the OAuth
code / long-lived token endpoints. The shapes are checked against the documented answers
kept under ``tests/fixtures/<network>/``.

Faults for tests: :meth:`GraphFake.fail_next` (5xx), :meth:`GraphFake.error_next` (any
Graph error with headers), :meth:`GraphFake.slow_next` (answer late, before applying:
the client times out and nothing happened), :meth:`GraphFake.hang_after_apply` (apply,
then answer late: the client times out although the change was made — the uncertain
outcome). State is plain attributes (``posts``, ``media``, ``containers``...) and every
request is recorded in ``requests``.

The inbox side: comments and replies on posts (Facebook ``/{id}/comments`` with ``filter``,
``order``, ``since`` and cursor paging; likes, hiding, deleting), Instagram comments and
``replies`` (hide, delete), Threads replies and ``conversation`` (``manage_reply``).
Comments by other people are injected with ``add_comment`` / ``add_reply`` in process, or
over HTTP with ``POST /__fake__/comments`` (the fake's own admin API, as the Mastodon fake's
``/__fake__/``; never authorised by a token).

In-process: ``fake.client()`` is an ``httpx.AsyncClient`` over an ASGI transport that
honours the client's read timeout. Standalone::

    python -m tests.fakes.meta_graph --network instagram --port 8765
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import re
import secrets
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

APP_ID = "990602627938098"
APP_SECRET = "fake-app-secret-7f3a"
_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_HASHTAG = re.compile(r"(?<!\w)#\w+")
_MENTION = re.compile(r"(?<!\w)@[\w.]+")
_URL = re.compile(r"https?://\S+")
LONG_LIVED_SECONDS = 5_183_944  # what the docs' examples show (about 60 days)


def graph_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _trace_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(11))


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    user_title: str | None = None,
    user_msg: str | None = None,
    is_transient: bool | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    if user_title is not None:
        error["error_user_title"] = user_title
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = _trace_id()
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def pick(obj: dict[str, Any], fields: str | None, default: tuple[str, ...]) -> dict[str, Any]:
    """The ``fields`` a caller asked for (nested ``a{b,c}`` selects ``a`` whole)."""
    names = _field_names(fields) if fields else list(default)
    out = {"id": obj["id"]} if "id" in obj else {}
    for name in names:
        if name in obj and obj[name] is not None:
            out[name] = obj[name]
    return out


def _field_names(fields: str) -> list[str]:
    names, depth, current = [], 0, ""
    for char in fields:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    if current.strip():
        names.append(current.strip())
    return names


def page_of(
    items: list[dict[str, Any]], params: dict[str, str], *, default_limit: int = 25
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of ``items`` by ``limit`` and the ``after`` cursor, and its ``paging``."""
    limit = int(params.get("limit", str(default_limit)) or default_limit)
    after = params.get("after")
    start = int(base64.b64decode(after).decode()) if after else 0
    chosen = items[start : start + limit]
    cursors = {
        "before": base64.b64encode(str(start).encode()).decode(),
        "after": base64.b64encode(str(start + len(chosen)).encode()).decode(),
    }
    paging: dict[str, Any] = {"cursors": cursors}
    if start + limit < len(items):
        paging["next"] = f"https://graph.example/next?after={cursors['after']}"
    return chosen, paging


@dataclass
class Token:
    value: str
    kind: str  # "user", "page", "instagram", "threads"
    subject: str  # user id / page id / account id
    issued_at: dt.datetime
    expires_at: dt.datetime | None = None
    long_lived: bool = False


@dataclass
class Fault:
    kind: str  # "error" | "slow" | "hang_after_apply"
    remaining: int
    response: Callable[[], Response] | None = None
    seconds: float = 0.0
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.path is None:
            return True
        if self.path.endswith("$"):  # exact path
            return path == self.path[:-1]
        return self.path in path


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    query: str
    bearer: bool


@dataclass
class FakeRequest:
    method: str
    segments: list[str]
    params: dict[str, str]
    files: dict[str, bytes]
    token: str | None

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)


class TimeoutASGITransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` ignores timeouts; this one applies the read timeout."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self._inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {}).get("read")
        if timeout is None:
            return await self._inner.handle_async_request(request)
        try:
            with anyio.fail_after(timeout):
                return await self._inner.handle_async_request(request)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the fake did not answer in time", request=request) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class GraphFake:
    """What every Graph host fake shares: tokens, faults, ids, recording, transport."""

    network = "graph"
    origin = "http://graph.test"
    version = "v26.0"

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.clock_offset = dt.timedelta()
        self.codes: dict[str, str] = {}  # authorization code -> subject
        #: Direct messages per person (PSID / IGSID), oldest first.
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(17_841_400_000_000_000 + secrets.randbelow(10**9))
        self.app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST", "DELETE"])]
        )

    # --- test controls ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.origin}/{self.version}"

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.clock_offset

    def advance(self, **delta: float) -> None:
        self.clock_offset += dt.timedelta(**delta)

    def new_id(self) -> str:
        return str(next(self._ids))

    def issue_token(
        self, kind: str, subject: str, *, lifetime: dt.timedelta | None, long_lived: bool = False
    ) -> str:
        value = f"{kind[:2].upper()}{secrets.token_urlsafe(24)}"
        now = self.now()
        self.tokens[value] = Token(
            value=value,
            kind=kind,
            subject=subject,
            issued_at=now,
            expires_at=now + lifetime if lifetime else None,
            long_lived=long_lived,
        )
        return value

    def issue_code(self, subject: str) -> str:
        code = "AQ" + secrets.token_urlsafe(16)
        self.codes[code] = subject
        return code

    def expire_token(self, value: str) -> None:
        self.tokens[value].expires_at = self.now() - dt.timedelta(seconds=1)

    def fail_next(
        self, n: int = 1, *, status: int = 500, path: str | None = None, method: str | None = None
    ) -> None:
        """The next ``n`` matching requests fail with a 5xx and change nothing."""

        def answer() -> Response:
            return graph_error(
                status,
                2,
                "An unexpected error has occurred. Please retry your request later.",
                is_transient=True,
            )

        self.faults.append(Fault("error", n, answer, path=path, method=method))

    def error_next(
        self,
        *,
        code: int,
        message: str = "An error occurred",
        status: int = 400,
        subcode: int | None = None,
        user_msg: str | None = None,
        headers: dict[str, str] | None = None,
        n: int = 1,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """The next ``n`` matching requests answer this Graph error and change nothing."""

        def answer() -> Response:
            return graph_error(
                status, code, message, subcode=subcode, user_msg=user_msg, headers=headers
            )

        self.faults.append(Fault("error", n, answer, path=path, method=method))

    def slow_next(
        self, n: int = 1, *, seconds: float, path: str | None = None, method: str | None = None
    ) -> None:
        """Wait before handling: a client that times out first changed nothing."""
        self.faults.append(Fault("slow", n, seconds=seconds, path=path, method=method))

    def hang_after_apply(
        self, n: int = 1, *, seconds: float, path: str | None = None, method: str | None = None
    ) -> None:
        """Apply the request, then answer late: the client times out, the change is made."""
        self.faults.append(Fault("hang_after_apply", n, seconds=seconds, path=path, method=method))

    def transport(self) -> httpx.AsyncBaseTransport:
        return TimeoutASGITransport(self.app)

    def client(self, *, timeout: float = 5.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport(), timeout=timeout)

    def calls(self, method: str, path_part: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    # --- plumbing -----------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        params: dict[str, str] = dict(request.query_params)
        files: dict[str, bytes] = {}
        if request.method == "POST":
            async with request.form() as form:
                for key, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        files[key] = await value.read()
                    else:
                        params[key] = str(value)
        segments = [s for s in request.url.path.split("/") if s]
        if segments and _VERSION.match(segments[0]):
            segments = segments[1:]
        if segments[:1] == ["__fake__"]:
            return await self.admin(segments[1:], request)
        header = request.headers.get("authorization", "")
        bearer = header.lower().startswith(("bearer ", "oauth "))
        token = header.split(" ", 1)[1] if bearer else params.get("access_token")
        fake_request = FakeRequest(request.method, segments, params, files, token)
        self.requests.append(
            RecordedRequest(request.method, fake_request.path, params, request.url.query, bearer)
        )
        fault = next(
            (
                f
                for f in self.faults
                if f.remaining > 0 and f.matches(request.method, fake_request.path)
            ),
            None,
        )
        if fault is not None:
            fault.remaining -= 1
            if fault.kind == "error" and fault.response is not None:
                return fault.response()
            if fault.kind == "slow":
                await anyio.sleep(fault.seconds)
        response = await self.route(fake_request)
        if fault is not None and fault.kind == "hang_after_apply":
            await anyio.sleep(fault.seconds)
        return response

    async def route(self, request: FakeRequest) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    async def admin(self, segments: list[str], request: Request) -> Response:
        """``/__fake__/...``: the fake's own knobs (not Meta's API)."""
        if segments == ["comments"] and request.method == "POST":
            body = await request.json()
            try:
                comment = self.inject_comment(body)
            except KeyError as exc:
                return JSONResponse({"error": f"unknown {exc.args[0]}"}, status_code=404)
            return JSONResponse({k: v for k, v in comment.items() if not k.startswith("_")})
        return JSONResponse({"error": "no such knob"}, status_code=404)

    def inject_comment(self, body: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise KeyError("network")

    # --- direct messages (Messenger, Instagram) -----------------------------------------

    def add_message(
        self, person: str, text: str, *, owner: str, at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """A message from ``person`` to the Page / account ``owner``."""
        return self._new_message(person, text, sender=person, recipient=owner, at=at)

    def _new_message(
        self, person: str, text: str, *, sender: str, recipient: str, at: dt.datetime | None
    ) -> dict[str, Any]:
        when = at or self.now()
        message = {
            "id": f"m_{secrets.token_urlsafe(24)}",
            "message": text,
            "from": {"id": sender},
            "to": {"data": [{"id": recipient}]},
            "created_time": graph_time(when),
            "_created": when,
            "_incoming": sender == person,
        }
        self.conversations.setdefault(person, []).append(message)
        return message

    def send_message(self, owner: str, params: dict[str, str]) -> Response:
        """``POST /{owner}/messages`` (Send API)."""
        try:
            recipient = str(json.loads(params.get("recipient", "{}"))["id"])
            text = str(json.loads(params.get("message", "{}"))["text"])
        except (KeyError, TypeError, ValueError):
            return graph_error(400, 100, "(#100) The parameter recipient is required")
        incoming = [m for m in self.conversations.get(recipient, []) if m["_incoming"]]
        if not incoming:
            return graph_error(400, 100, "(#100) No matching user found", subcode=2018001)
        if self.now() - incoming[-1]["_created"] > dt.timedelta(hours=24):
            return graph_error(
                400,
                10,
                "(#10) This message is sent outside of allowed window.",
                subcode=2018278,
            )
        message = self._new_message(recipient, text, sender=owner, recipient=recipient, at=None)
        return JSONResponse({"recipient_id": recipient, "message_id": message["id"]})

    def list_conversations(self, owner: str, params: dict[str, str]) -> Response:
        """``GET /{owner}/conversations?user_id=`` with the latest messages nested."""
        person = params.get("user_id")
        people = [person] if person else list(self.conversations)
        data = []
        for someone in people:
            messages = self.conversations.get(someone or "", [])
            if not messages:
                continue
            newest_first = sorted(messages, key=lambda m: m["_created"], reverse=True)
            data.append(
                {
                    "id": f"t_{someone}",
                    "messages": {
                        "data": [
                            {k: v for k, v in m.items() if not k.startswith("_")}
                            for m in newest_first[:50]
                        ]
                    },
                }
            )
        return JSONResponse({"data": data})

    def authorize(self, request: FakeRequest, *kinds: str) -> Token | Response:
        if not request.token:
            return graph_error(400, 104, "An access token is required to request this resource.")
        token = self.tokens.get(request.token)
        if token is None:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if token.expires_at is not None and token.expires_at <= self.now():
            when = token.expires_at.strftime("%A, %d-%b-%y %H:%M:%S UTC")
            return graph_error(
                400,
                190,
                f"Error validating access token: Session has expired on {when}.",
                subcode=463,
            )
        if kinds and token.kind not in kinds:
            return graph_error(
                403, 200, "(#200) Provide valid app ID or the right kind of access token"
            )
        return token

    def unknown_path(self, request: FakeRequest) -> Response:
        return graph_error(
            400,
            100,
            f"Unsupported {request.method.lower()} request. Object with ID "
            f"'{request.segments[0] if request.segments else ''}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            error_type="GraphMethodException",
        )

    def check_app(self, params: dict[str, str], *, with_id: bool = True) -> Response | None:
        if with_id and params.get("client_id") != APP_ID:
            return graph_error(400, 101, "Error validating application. Invalid application ID.")
        if params.get("client_secret") != APP_SECRET:
            return graph_error(400, 100, "Error validating client secret.", subcode=None)
        return None

    def long_lived_answer(self, kind: str, subject: str) -> JSONResponse:
        token = self.issue_token(
            kind, subject, lifetime=dt.timedelta(seconds=LONG_LIVED_SECONDS), long_lived=True
        )
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": LONG_LIVED_SECONDS}
        )


# --- containers (Instagram and Threads) ---------------------------------------------------


@dataclass
class Container:
    id: str
    owner: str
    params: dict[str, str]
    created_at: dt.datetime
    reads_until_ready: int
    error: str | None = None
    status: str = "IN_PROGRESS"
    published_id: str | None = None

    def read(self, now: dt.datetime) -> str:
        if self.status == "IN_PROGRESS":
            if self.reads_until_ready > 0:
                self.reads_until_ready -= 1
            else:
                self.status = "ERROR" if self.error else "FINISHED"
        if self.status == "FINISHED" and now - self.created_at > dt.timedelta(hours=24):
            self.status = "EXPIRED"
        return self.status


class _ContainerFake(GraphFake):
    #: How many status reads say IN_PROGRESS before the container is ready.
    image_reads = 1
    video_reads = 2

    def __init__(self) -> None:
        super().__init__()
        self.containers: dict[str, Container] = {}
        self.media_failures: dict[str, str] = {}
        self.quota_total = 100

    def fail_media_url(self, url: str, status: str) -> None:
        """Containers made from ``url`` end in ERROR with this ``status`` text."""
        self.media_failures[url] = status

    def new_container(self, owner: str, params: dict[str, str]) -> Container:
        url = params.get("video_url") or params.get("image_url") or ""
        reads = self.video_reads if params.get("video_url") else self.image_reads
        container = Container(
            id=self.new_id(),
            owner=owner,
            params=params,
            created_at=self.now(),
            reads_until_ready=reads,
            error=self.media_failures.get(url),
        )
        self.containers[container.id] = container
        return container


# --- Facebook ------------------------------------------------------------------------------


@dataclass
class Page:
    id: str
    name: str
    username: str
    token: str
    instagram_id: str | None = None
    instagram_username: str | None = None


class FacebookFake(GraphFake):
    network = "facebook"
    origin = "http://graph.facebook.test"
    #: Facebook answers 506 when a Page posts the same text again this soon.
    duplicate_window = dt.timedelta(minutes=10)

    def __init__(self) -> None:
        super().__init__()
        self.user_id = self.new_id()
        self.user_token = self.issue_token(
            "user", self.user_id, lifetime=dt.timedelta(seconds=LONG_LIVED_SECONDS), long_lived=True
        )
        page_id = self.new_id()
        self.page = Page(
            id=page_id,
            name="Acme Bakery",
            username="acmebakery",
            token=self.issue_token("page", page_id, lifetime=None),
            instagram_id=self.new_id(),
            instagram_username="acme.bakery",
        )
        self.pages = {page_id: self.page}
        self.posts: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, dict[str, Any]] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        #: Comments on each post (top level) and on each comment (replies), oldest first.
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.comment_index: dict[str, dict[str, Any]] = {}

    @property
    def page_id(self) -> str:
        return self.page.id

    @property
    def page_token(self) -> str:
        return self.page.token

    def published_posts(self) -> list[dict[str, Any]]:
        return [p for p in self.posts.values() if p["is_published"]]

    async def route(self, request: FakeRequest) -> Response:
        seg, method = request.segments, request.method
        if seg == ["oauth", "access_token"] and method == "GET":
            return self._oauth(request.params)
        token = self.authorize(request)
        if not isinstance(token, Token):
            return token
        if seg == ["me", "accounts"] and method == "GET":
            return self._accounts(token, request.params.get("fields") or "")
        if len(seg) == 1:
            if method == "GET":
                return self._read(seg[0], request.params)
            if method == "DELETE":
                return self._delete(seg[0], token)
        if len(seg) == 2:
            node, edge = seg
            page = self.pages.get(node)
            if page is not None and method == "POST":
                if token.kind != "page" or token.subject != page.id:
                    return graph_error(
                        403,
                        200,
                        "(#200) If posting to a page, requires both pages_read_engagement "
                        "and pages_manage_posts permission",
                    )
                if edge == "feed":
                    return self._feed(page, request.params)
                if edge == "photos":
                    return self._photo(page, request)
                if edge == "videos":
                    return self._video(page, request)
                if edge == "messages":
                    return self.send_message(page.id, request.params)
            if page is not None and method == "GET" and edge == "conversations":
                return self.list_conversations(page.id, request.params)
            if page is not None and method == "GET" and edge in ("published_posts", "feed"):
                return self._list(self.published_posts(), request.params, "message")
            if page is not None and method == "GET" and edge == "videos":
                return self._list(list(self.videos.values()), request.params, "description")
            if edge == "comments" and (
                node in self.posts or node in self.videos or node in self.comment_index
            ):
                if method == "POST":
                    return self._comment(node, token, request.params)
                return self._list_comments(node, request.params)
            if edge == "likes" and node in self.comment_index and method == "POST":
                return self._like(node, token)
        if len(seg) == 1 and method == "POST" and seg[0] in self.comment_index:
            return self._hide(seg[0], token, request.params)
        return self.unknown_path(request)

    def _oauth(self, params: dict[str, str]) -> Response:
        failure = self.check_app(params)
        if failure is not None:
            return failure
        if params.get("grant_type") == "fb_exchange_token":
            old = self.tokens.get(params.get("fb_exchange_token", ""))
            if old is None or old.kind != "user":
                return graph_error(
                    400, 190, "Invalid OAuth access token - Cannot parse access token"
                )
            return self.long_lived_answer("user", old.subject)
        code = params.get("code", "")
        subject = self.codes.pop(code, None)
        if subject is None:
            return graph_error(400, 100, "This authorization code has been used.", subcode=36009)
        token = self.issue_token("user", subject, lifetime=dt.timedelta(hours=2))
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 7199})

    def _accounts(self, token: Token, fields: str) -> Response:
        if token.kind != "user":
            return graph_error(400, 100, "(#100) Tried accessing nonexisting field (accounts)")
        data = []
        for page in self.pages.values():
            entry: dict[str, Any] = {
                "access_token": page.token,
                "category": "Bakery",
                "category_list": [{"id": "2244", "name": "Bakery"}],
                "name": page.name,
                "id": page.id,
                "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
            }
            if page.instagram_id and "instagram_business_account" in fields:
                entry["instagram_business_account"] = {
                    "id": page.instagram_id,
                    "username": page.instagram_username,
                }
            data.append(entry)
        cursor = "QVFIUmxtY2FfRkxQ"
        return JSONResponse(
            {"data": data, "paging": {"cursors": {"before": cursor, "after": cursor}}}
        )

    def _read(self, node: str, params: dict[str, str]) -> Response:
        fields = params.get("fields")
        page = self.pages.get(node)
        if page is not None:
            obj = {
                "id": page.id,
                "name": page.name,
                "username": page.username,
                "link": f"https://www.facebook.com/{page.username}",
                "picture": {
                    "data": {
                        "height": 50,
                        "is_silhouette": False,
                        "url": f"https://scontent.example/{page.id}.jpg",
                        "width": 50,
                    }
                },
            }
            return JSONResponse(pick(obj, fields, ("name", "id")))
        for store in (self.posts, self.photos, self.videos, self.comment_index):
            if node in store:
                return JSONResponse(pick(store[node], fields, ("created_time", "id")))
        return graph_error(
            400,
            100,
            f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            subcode=33,
            error_type="GraphMethodException",
        )

    def _duplicate(self, page: Page, message: str) -> bool:
        if not message:
            return False
        recent = [p for p in self.published_posts() if p["page_id"] == page.id]
        if not recent:
            return False
        last = max(recent, key=lambda p: p["_created"])
        return (
            last.get("message") == message and self.now() - last["_created"] < self.duplicate_window
        )

    def _new_post(self, page: Page, message: str | None, **extra: Any) -> dict[str, Any]:
        post_id = f"{page.id}_{self.new_id()}"
        now = self.now()
        post = {
            "id": post_id,
            "page_id": page.id,
            "message": message or None,
            "created_time": graph_time(now),
            "permalink_url": f"https://www.facebook.com/{page.id}/posts/{post_id.split('_')[1]}",
            "is_published": True,
            "_created": now,
            **extra,
        }
        self.posts[post_id] = post
        return post

    def _feed(self, page: Page, params: dict[str, str]) -> Response:
        message = params.get("message", "")
        attached = [
            json.loads(v)["media_fbid"]
            for k, v in sorted(params.items())
            if k.startswith("attached_media[")
        ]
        if not message and not params.get("link") and not attached:
            return graph_error(400, 100, "(#100) Missing message or attachment")
        if self._duplicate(page, message):
            return graph_error(400, 506, "(#506) Duplicate status message")
        for photo_id in attached:
            photo = self.photos.get(photo_id)
            if photo is None or photo["page_id"] != page.id:
                return graph_error(400, 100, f"(#100) Invalid media_fbid {photo_id}")
        post = self._new_post(page, message, link=params.get("link"), attached_media=attached)
        for photo_id in attached:
            self.photos[photo_id]["post_id"] = post["id"]
        return JSONResponse({"id": post["id"]})

    def _photo(self, page: Page, request: FakeRequest) -> Response:
        params = request.params
        if not params.get("url") and "source" not in request.files:
            return graph_error(400, 324, "(#324) Requires upload file")
        published = params.get("published", "true") != "false"
        caption = params.get("caption") or params.get("message") or ""
        if published and self._duplicate(page, caption):
            return graph_error(400, 506, "(#506) Duplicate status message")
        photo_id = self.new_id()
        photo: dict[str, Any] = {
            "id": photo_id,
            "page_id": page.id,
            "url": params.get("url"),
            "bytes": len(request.files.get("source", b"")),
            "alt_text_custom": params.get("alt_text_custom"),
            "created_time": graph_time(self.now()),
            "post_id": None,
        }
        self.photos[photo_id] = photo
        if not published:
            return JSONResponse({"id": photo_id})
        post = self._new_post(page, caption, attached_media=[photo_id])
        photo["post_id"] = post["id"]
        return JSONResponse({"id": photo_id, "post_id": post["id"]})

    def _video(self, page: Page, request: FakeRequest) -> Response:
        if not request.params.get("file_url") and "source" not in request.files:
            return graph_error(400, 100, "(#100) file_url or source is required")
        video_id = self.new_id()
        self.videos[video_id] = {
            "id": video_id,
            "page_id": page.id,
            "description": request.params.get("description") or None,
            "created_time": graph_time(self.now()),
            "permalink_url": f"/{page.id}/videos/{video_id}/",
            "_created": self.now(),
        }
        return JSONResponse({"id": video_id})

    def _list(self, items: list[dict[str, Any]], params: dict[str, str], text: str) -> Response:
        since = int(params.get("since", "0") or 0)
        limit = int(params.get("limit", "25") or 25)
        chosen = sorted(
            (i for i in items if i["_created"].timestamp() >= since),
            key=lambda i: i["_created"],
            reverse=True,
        )[:limit]
        data = [pick(i, params.get("fields"), ("created_time", text, "id")) for i in chosen]
        return JSONResponse(
            {"data": data, "paging": {"cursors": {"before": "MAZDZD", "after": "MQZDZD"}}}
        )

    def _comment(self, node: str, token: Token, params: dict[str, str]) -> Response:
        if not params.get("message"):
            return graph_error(400, 100, "(#100) Missing message")
        if self.comment_index.get(node, {}).get("parent") is not None:
            # Assumed shape: Facebook threads replies one level deep under a comment.
            return graph_error(400, 100, "(#100) Replies can only be made to top-level comments")
        page = self.pages.get(token.subject)
        author = {"name": page.name if page else "Someone", "id": token.subject}
        comment = self.add_comment(node, params["message"], author=author)
        return JSONResponse({"id": comment["id"]})

    def add_comment(
        self,
        on: str,
        message: str,
        *,
        author: dict[str, str] | None = None,
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A comment on post ``on`` (or a reply to comment ``on``), by someone else."""
        parent = self.comment_index.get(on)
        post_id = parent["_post"] if parent is not None else on
        if post_id not in self.posts and post_id not in self.videos:
            raise KeyError(on)
        when = at or self.now()
        comment_id = f"{post_id.split('_')[-1]}_{self.new_id()}"
        comment: dict[str, Any] = {
            "id": comment_id,
            "message": message,
            "from": author or {"name": "Jane Doe", "id": self.new_id()},
            "created_time": graph_time(when),
            "permalink_url": f"https://www.facebook.com/{post_id.replace('_', '/posts/')}"
            f"?comment_id={comment_id.split('_')[-1]}",
            "is_hidden": False,
            "parent": {"id": on} if parent is not None else None,
            "_post": post_id,
            "_created": when,
            "_likes": set(),
        }
        self.comments.setdefault(on, []).append(comment)
        self.comment_index[comment_id] = comment
        return comment

    def inject_comment(self, body: dict[str, Any]) -> dict[str, Any]:
        author = body.get("from")
        return self.add_comment(
            str(body["on"]),
            str(body["message"]),
            author=dict(author) if isinstance(author, dict) else None,
        )

    def _list_comments(self, node: str, params: dict[str, str]) -> Response:
        stream = params.get("filter") == "stream" and node not in self.comment_index
        items = list(self.comments.get(node, []))
        if stream:
            items += [
                r for c in self.comments.get(node, []) for r in self.comments.get(c["id"], [])
            ]
        since = int(params.get("since", "0") or 0)
        items = [c for c in items if c["_created"].timestamp() >= since]
        items.sort(
            key=lambda c: c["_created"], reverse=params.get("order") == "reverse_chronological"
        )
        chosen, paging = page_of(items, params)
        data = [
            pick(c, params.get("fields"), ("created_time", "from", "message", "id")) for c in chosen
        ]
        return JSONResponse({"data": data, "paging": paging})

    def _own_post_comment(self, node: str, token: Token) -> dict[str, Any] | None:
        comment = self.comment_index.get(node)
        if comment is None or token.kind != "page":
            return None
        post = self.posts.get(comment["_post"]) or self.videos.get(comment["_post"])
        return comment if post is not None and post["page_id"] == token.subject else None

    def _like(self, node: str, token: Token) -> Response:
        comment = self._own_post_comment(node, token)
        if comment is None:
            return self.unknown_path(FakeRequest("POST", [node, "likes"], {}, {}, None))
        comment["_likes"].add(token.subject)
        return JSONResponse({"success": True})

    def _hide(self, node: str, token: Token, params: dict[str, str]) -> Response:
        comment = self._own_post_comment(node, token)
        if comment is None or "is_hidden" not in params:
            return graph_error(400, 100, "(#100) The parameter is_hidden is required")
        comment["is_hidden"] = params["is_hidden"] == "true"
        return JSONResponse({"success": True})

    def _delete(self, node: str, token: Token) -> Response:
        comment = self._own_post_comment(node, token)
        if comment is not None:
            del self.comment_index[node]
            siblings = self.comments.get(
                comment["parent"]["id"] if comment["parent"] else comment["_post"], []
            )
            siblings[:] = [c for c in siblings if c["id"] != node]
            for reply in self.comments.pop(node, []):
                self.comment_index.pop(reply["id"], None)
            return JSONResponse({"success": True})
        post = self.posts.get(node) or self.videos.get(node)
        if post is None or token.kind != "page" or post["page_id"] != token.subject:
            return graph_error(
                400,
                100,
                f"Unsupported delete request. Object with ID '{node}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation.",
                subcode=33,
                error_type="GraphMethodException",
            )
        self.posts.pop(node, None)
        self.videos.pop(node, None)
        return JSONResponse({"success": True})


# --- Instagram -----------------------------------------------------------------------------


class InstagramFake(_ContainerFake):
    network = "instagram"
    origin = "http://graph.instagram.test"
    caption_limit = 2_200
    hashtag_limit = 30  # what the API reference states
    mention_limit = 20
    carousel_limit = 10

    def __init__(self) -> None:
        super().__init__()
        self.user_id = self.new_id()
        self.username = "acme.bakery"
        self.token = self.issue_token(
            "instagram",
            self.user_id,
            lifetime=dt.timedelta(seconds=LONG_LIVED_SECONDS),
            long_lived=True,
        )
        self.media: dict[str, dict[str, Any]] = {}
        #: Top-level comments per media and replies per comment, oldest first.
        self.comments: dict[str, list[dict[str, Any]]] = {}
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.comment_index: dict[str, dict[str, Any]] = {}
        #: What other accounts wrote naming this one, by comment id or media id.
        self.mentions: dict[str, dict[str, Any]] = {}

    def published_at(self) -> list[dt.datetime]:
        return [m["_created"] for m in self.media.values()]

    async def route(self, request: FakeRequest) -> Response:
        seg, method, params = request.segments, request.method, request.params
        if seg == ["oauth", "access_token"] and method == "POST":
            return self._code(params)
        if seg == ["access_token"] and method == "GET":
            return self._long_lived(params)
        if seg == ["refresh_access_token"] and method == "GET":
            return self._refresh(params)
        token = self.authorize(request, "instagram", "page")
        if not isinstance(token, Token):
            return token
        if len(seg) == 1 and method == "GET":
            return self._read(seg[0], params)
        if len(seg) == 1 and method == "DELETE" and seg[0] not in self.comment_index:
            # IG Media has no DELETE for Instagram Login apps.
            return self.unknown_path(request)
        if len(seg) == 2:
            node, edge = seg
            if node == self.user_id:
                if edge == "media" and method == "POST":
                    return self._create(params)
                if edge == "media" and method == "GET":
                    return self._list(params)
                if edge == "media_publish" and method == "POST":
                    return self._publish(params)
                if edge == "content_publishing_limit" and method == "GET":
                    return self._quota()
                if edge == "messages" and method == "POST":
                    return self.send_message(self.user_id, params)
                if edge == "conversations" and method == "GET":
                    return self.list_conversations(self.user_id, params)
            if node in self.media and edge == "comments":
                if method == "POST":
                    return self._comment(node, params)
                return self._list_comments(self.comments.get(node, []), params)
            if node in self.comment_index and edge == "replies":
                if method == "POST":
                    return self._reply(node, params)
                return self._list_comments(self.replies.get(node, []), params)
        if len(seg) == 1 and seg[0] in self.comment_index:
            if method == "POST":
                return self._hide(seg[0], params)
            if method == "DELETE":
                return self._delete_comment(seg[0])
        return self.unknown_path(request)

    # OAuth (Instagram Login)

    def _code(self, params: dict[str, str]) -> Response:
        failure = self.check_app(params)
        if failure is not None:
            return failure
        subject = self.codes.pop(params.get("code", ""), None)
        if subject is None or params.get("grant_type") != "authorization_code":
            return JSONResponse(
                {
                    "error_type": "OAuthException",
                    "code": 400,
                    "error_message": "Invalid authorization code",
                },
                status_code=400,
            )
        token = self.issue_token("instagram", subject, lifetime=dt.timedelta(hours=1))
        return JSONResponse(
            {
                "data": [
                    {
                        "access_token": token,
                        "user_id": subject,
                        "permissions": "instagram_business_basic,"
                        "instagram_business_content_publish",
                    }
                ]
            }
        )

    def _long_lived(self, params: dict[str, str]) -> Response:
        failure = self.check_app(params, with_id=False)
        if failure is not None:
            return failure
        old = self.tokens.get(params.get("access_token", ""))
        if params.get("grant_type") != "ig_exchange_token" or old is None or old.long_lived:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        return self.long_lived_answer("instagram", old.subject)

    def _refresh(self, params: dict[str, str]) -> Response:
        old = self.tokens.get(params.get("access_token", ""))
        if params.get("grant_type") != "ig_refresh_token" or old is None or not old.long_lived:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if old.expires_at is not None and old.expires_at <= self.now():
            return graph_error(
                400, 190, "Error validating access token: Session has expired", subcode=463
            )
        if self.now() - old.issued_at < dt.timedelta(hours=24):
            return graph_error(400, 10, "(#10) The token must be at least 24 hours old to refresh")
        return self.long_lived_answer("instagram", old.subject)

    # reading

    def _read(self, node: str, params: dict[str, str]) -> Response:
        fields = params.get("fields")
        if node in (self.user_id, "me"):
            obj = {
                "id": self.user_id,
                "user_id": self.user_id,
                "username": self.username,
                "name": "Acme Bakery",
                "profile_picture_url": f"https://scontent.cdninstagram.example/{self.user_id}.jpg",
            }
            mention = re.match(
                r"mentioned_(comment|media)\.(?:comment|media)_id\((\w+)\)", fields or ""
            )
            if mention:
                found = self.mentions.get(mention.group(2))
                if found is None:
                    return graph_error(400, 100, "(#100) Invalid mention id", subcode=33)
                key = f"mentioned_{mention.group(1)}"
                return JSONResponse({"id": self.user_id, key: found})
            return JSONResponse(pick(obj, fields, ("id",)))
        container = self.containers.get(node)
        if container is not None:
            status_code = container.read(self.now())
            obj = {"id": container.id, "status_code": status_code}
            if status_code == "ERROR":
                obj["status"] = f"Error: {container.error}"
            return JSONResponse(pick(obj, fields, ("id",)))
        if node in self.media:
            return JSONResponse(pick(self._media_view(self.media[node]), fields, ("id",)))
        if node in self.comment_index:
            return JSONResponse(pick(self.comment_index[node], fields, ("timestamp", "text", "id")))
        return self.unknown_path(FakeRequest("GET", [node], params, {}, None))

    def _media_view(self, media: dict[str, Any]) -> dict[str, Any]:
        count = sum(
            1 + len(self.replies.get(c["id"], [])) for c in self.comments.get(media["id"], [])
        )
        return {**media, "comments_count": count}

    def _list(self, params: dict[str, str]) -> Response:
        limit = int(params.get("limit", "25") or 25)
        items = sorted(self.media.values(), key=lambda m: m["_created"], reverse=True)[:limit]
        data = [pick(self._media_view(m), params.get("fields"), ("id",)) for m in items]
        return JSONResponse(
            {"data": data, "paging": {"cursors": {"before": "QVFIU", "after": "QVFIU"}}}
        )

    def _quota(self) -> Response:
        usage = sum(1 for t in self.published_at() if self.now() - t < dt.timedelta(hours=24))
        return JSONResponse(
            {
                "data": [
                    {
                        "quota_usage": usage,
                        "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                    }
                ]
            }
        )

    # publishing

    def _caption_error(self, caption: str) -> Response | None:
        if len(caption) > self.caption_limit:
            return graph_error(
                400,
                100,
                "Invalid parameter",
                subcode=2207010,
                user_title="Caption too long",
                user_msg=f"The caption is longer than {self.caption_limit} characters.",
            )
        if len(_HASHTAG.findall(caption)) > self.hashtag_limit:
            return graph_error(
                400,
                100,
                "Invalid parameter",
                subcode=2207010,
                user_title="Too many hashtags",
                user_msg=f"The caption has more than {self.hashtag_limit} hashtags.",
            )
        if len(_MENTION.findall(caption)) > self.mention_limit:
            return graph_error(
                400,
                100,
                "Invalid parameter",
                subcode=2207010,
                user_title="Too many mentions",
                user_msg=f"The caption tags more than {self.mention_limit} accounts.",
            )
        return None

    def _create(self, params: dict[str, str]) -> Response:
        failure = self._caption_error(params.get("caption", ""))
        if failure is not None:
            return failure
        media_type = params.get("media_type", "IMAGE")
        if media_type == "CAROUSEL":
            children = [c for c in params.get("children", "").split(",") if c]
            if not 2 <= len(children) <= self.carousel_limit:
                return graph_error(
                    400,
                    100,
                    "Invalid parameter",
                    subcode=2207028,
                    user_msg=f"A carousel holds 2 to {self.carousel_limit} items.",
                )
            for child in children:
                item = self.containers.get(child)
                if item is None or item.params.get("is_carousel_item") != "true":
                    return graph_error(
                        400, 100, f"(#100) Invalid children: {child}", subcode=2207028
                    )
            return JSONResponse({"id": self.new_container(self.user_id, params).id})
        if media_type in ("REELS", "VIDEO"):
            if not params.get("video_url"):
                return graph_error(400, 100, "(#100) The parameter video_url is required")
            if media_type == "VIDEO" and params.get("is_carousel_item") != "true":
                return graph_error(
                    400, 100, "(#100) media_type VIDEO is only for carousel items; use REELS"
                )
            return JSONResponse({"id": self.new_container(self.user_id, params).id})
        url = params.get("image_url")
        if not url:
            return graph_error(400, 100, "(#100) The parameter image_url is required.")
        if re.search(r"\.(png|gif|webp|heic|bmp)(\?|$)", url, re.IGNORECASE):
            return graph_error(
                400,
                36001,
                "Invalid parameter",
                subcode=2207005,
                user_msg="The image format is not supported. Only JPEG images are supported.",
            )
        return JSONResponse({"id": self.new_container(self.user_id, params).id})

    def _publish(self, params: dict[str, str]) -> Response:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None or container.owner != self.user_id:
            return graph_error(
                400, 24, "Media builder not found", subcode=2207008, error_type="OAuthException"
            )
        if container.status == "PUBLISHED":
            # Assumed shape: the docs do not show publishing a container twice.
            return graph_error(400, 100, "(#100) The media container has already been published")
        if container.status != "FINISHED":
            return graph_error(
                400,
                9007,
                "Media ID is not available",
                subcode=2207027,
                user_title="Media not ready",
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        used = sum(1 for t in self.published_at() if self.now() - t < dt.timedelta(hours=24))
        if used >= self.quota_total:
            return graph_error(
                400,
                9,
                "Application request limit reached",
                subcode=2207042,
                user_title="Publishing limit reached",
                user_msg="You reached maximum number of posts that is allowed to be published "
                "by Content Publishing API.",
            )
        media_id = self.new_id()
        now = self.now()
        kind = container.params.get("media_type", "IMAGE")
        shortcode = secrets.token_urlsafe(8)[:11]
        kind_path = "reel" if kind == "REELS" else "p"
        self.media[media_id] = {
            "id": media_id,
            "caption": container.params.get("caption"),
            "media_type": {"REELS": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}.get(kind, "IMAGE"),
            "media_product_type": "REELS" if kind == "REELS" else "FEED",
            "timestamp": graph_time(now),
            "permalink": f"https://www.instagram.com/{kind_path}/{shortcode}/",
            "username": self.username,
            "_created": now,
            "_container": container.id,
        }
        container.status = "PUBLISHED"
        container.published_id = media_id
        return JSONResponse({"id": media_id})

    def _comment(self, media_id: str, params: dict[str, str]) -> Response:
        if not params.get("message"):
            return graph_error(400, 100, "(#100) The parameter message is required")
        comment = self.add_comment(media_id, params["message"], username=self.username)
        return JSONResponse({"id": comment["id"]})

    def _reply(self, comment_id: str, params: dict[str, str]) -> Response:
        if not params.get("message"):
            return graph_error(400, 100, "(#100) The parameter message is required")
        reply = self.add_comment(comment_id, params["message"], username=self.username)
        return JSONResponse({"id": reply["id"]})

    def add_comment(
        self,
        on: str,
        text: str,
        *,
        username: str = "jane.doe",
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        """A comment on media ``on`` or a reply to comment ``on`` (a reply to a reply goes
        to its top-level comment, as the replies edge documents)."""
        parent = self.comment_index.get(on)
        if parent is not None and parent.get("parent_id"):
            parent = self.comment_index[parent["parent_id"]]
        media_id = parent["media"]["id"] if parent is not None else on
        if media_id not in self.media:
            raise KeyError(on)
        when = at or self.now()
        author_id = self.user_id if username == self.username else self.new_id()
        comment: dict[str, Any] = {
            "id": self.new_id(),
            "text": text,
            "username": username,
            "from": {"id": author_id, "username": username},
            "timestamp": graph_time(when),
            "hidden": False,
            "like_count": 0,
            "media": {"id": media_id},
            "parent_id": parent["id"] if parent is not None else None,
            "_created": when,
        }
        if parent is not None:
            self.replies.setdefault(parent["id"], []).append(comment)
        else:
            self.comments.setdefault(media_id, []).append(comment)
        self.comment_index[comment["id"]] = comment
        return comment

    def inject_comment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.add_comment(
            str(body["on"]), str(body["message"]), username=str(body.get("username", "jane.doe"))
        )

    def add_mention(
        self, *, username: str, text: str, media_id: str, comment_id: str | None = None
    ) -> None:
        """Someone names the account in a caption (or in a comment on their media)."""
        when = graph_time(self.now())
        if comment_id:
            self.mentions[comment_id] = {
                "id": comment_id,
                "text": text,
                "timestamp": when,
                "username": username,
            }
        else:
            self.mentions[media_id] = {
                "id": media_id,
                "caption": text,
                "timestamp": when,
                "username": username,
                "permalink": f"https://www.instagram.com/p/{media_id}/",
            }

    def _list_comments(self, items: list[dict[str, Any]], params: dict[str, str]) -> Response:
        # Assumed order: newest first (the reference does not promise one).
        ordered = sorted(items, key=lambda c: c["_created"], reverse=True)
        chosen, paging = page_of(ordered, params)
        data = []
        for comment in chosen:
            view = dict(comment)
            replies = self.replies.get(comment["id"], [])
            if replies:
                view["replies"] = {
                    "data": [
                        pick(
                            r,
                            None,
                            ("timestamp", "text", "id", "username", "from", "parent_id", "hidden"),
                        )
                        for r in replies
                    ]
                }
            data.append(pick(view, params.get("fields"), ("timestamp", "text", "id")))
        return JSONResponse({"data": data, "paging": paging})

    def _hide(self, comment_id: str, params: dict[str, str]) -> Response:
        if params.get("hide") not in ("true", "false"):
            return graph_error(400, 100, "(#100) The parameter hide is required")
        self.comment_index[comment_id]["hidden"] = params["hide"] == "true"
        return JSONResponse({"success": True})

    def _delete_comment(self, comment_id: str) -> Response:
        comment = self.comment_index.pop(comment_id)
        siblings = (
            self.replies.get(comment["parent_id"], [])
            if comment["parent_id"]
            else self.comments.get(comment["media"]["id"], [])
        )
        siblings[:] = [c for c in siblings if c["id"] != comment_id]
        for reply in self.replies.pop(comment_id, []):
            self.comment_index.pop(reply["id"], None)
        return JSONResponse({"success": True})


# --- Threads -------------------------------------------------------------------------------


class ThreadsFake(_ContainerFake):
    network = "threads"
    origin = "http://graph.threads.test"
    version = "v1.0"
    text_limit = 500
    link_limit = 5
    carousel_limit = 20

    def __init__(self) -> None:
        super().__init__()
        self.quota_total = 250
        self.user_id = self.new_id()
        self.username = "acmebakery"
        self.token = self.issue_token(
            "threads",
            self.user_id,
            lifetime=dt.timedelta(seconds=LONG_LIVED_SECONDS),
            long_lived=True,
        )
        self.posts: dict[str, dict[str, Any]] = {}
        self.mentions: dict[str, dict[str, Any]] = {}

    def roots(self) -> list[dict[str, Any]]:
        return [
            p
            for p in self.posts.values()
            if p["_reply_to"] is None and p["username"] == self.username
        ]

    async def route(self, request: FakeRequest) -> Response:
        seg, method, params = request.segments, request.method, request.params
        if seg == ["oauth", "access_token"] and method == "POST":
            return self._code(params)
        if seg == ["access_token"] and method == "GET":
            return self._long_lived(params)
        if seg == ["refresh_access_token"] and method == "GET":
            return self._refresh(params)
        token = self.authorize(request, "threads")
        if not isinstance(token, Token):
            return token
        if len(seg) == 1 and method == "GET":
            return self._read(seg[0], params)
        if len(seg) == 1 and method == "DELETE" and seg[0] in self.posts:
            self.posts.pop(seg[0])
            return JSONResponse({"success": True, "deleted_id": seg[0]})
        if len(seg) == 2:
            node, edge = seg
            if node in (self.user_id, "me"):
                if edge == "threads" and method == "POST":
                    return self._create(params)
                if edge == "threads" and method == "GET":
                    return self._list(self.roots(), params)
                if edge == "threads_publish" and method == "POST":
                    return self._publish(params)
                if edge == "threads_publishing_limit" and method == "GET":
                    return self._quota()
            if node in self.posts and edge == "replies" and method == "GET":
                replies = [p for p in self.posts.values() if p["_reply_to"] == node]
                return self._list(replies, params)
            if node in self.posts and edge == "conversation" and method == "GET":
                return self._conversation(node, params)
            if node in self.posts and edge == "manage_reply" and method == "POST":
                return self._manage_reply(node, params)
            if node in (self.user_id, "me") and edge == "mentions" and method == "GET":
                return self._list(list(self.mentions.values()), params)
        return self.unknown_path(request)

    def add_reply(
        self, on: str, text: str, *, username: str = "jane.doe", at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Someone else's reply to post or reply ``on``."""
        if on not in self.posts:
            raise KeyError(on)
        return self._new_post(text, username=username, reply_to=on, at=at)

    def add_mention(self, text: str, *, username: str = "jane.doe") -> dict[str, Any]:
        """Someone else's post that names this account (outside our threads)."""
        post = self._new_post(text, username=username, reply_to=None)
        self.posts.pop(post["id"])  # not one of ours: only the mentions edge lists it
        self.mentions[post["id"]] = post
        return post

    def inject_comment(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.add_reply(
            str(body["on"]), str(body["message"]), username=str(body.get("username", "jane.doe"))
        )

    def _root_of(self, post_id: str) -> str:
        while self.posts[post_id]["_reply_to"] is not None:
            post_id = self.posts[post_id]["_reply_to"]
        return post_id

    def _conversation(self, node: str, params: dict[str, str]) -> Response:
        replies = [
            p
            for p in self.posts.values()
            if p["_reply_to"] is not None and p["id"] != node and self._under(p["id"], node)
        ]
        # ``reverse`` defaults to true (newest first); false lists oldest first.
        replies.sort(key=lambda p: p["_created"], reverse=params.get("reverse", "true") != "false")
        chosen, paging = page_of(replies, params)
        data = [pick(p, params.get("fields"), ("id",)) for p in chosen]
        return JSONResponse({"data": data, "paging": paging})

    def _under(self, post_id: str, ancestor: str) -> bool:
        parent = self.posts[post_id]["_reply_to"]
        while parent is not None:
            if parent == ancestor:
                return True
            parent = self.posts[parent]["_reply_to"]
        return False

    def _manage_reply(self, node: str, params: dict[str, str]) -> Response:
        reply = self.posts[node]
        if (
            reply["_reply_to"] is None
            or self.posts[self._root_of(node)]["username"] != self.username
        ):
            return graph_error(
                400, 100, "(#100) Only replies to the user's own posts can be managed"
            )
        if params.get("hide") not in ("true", "false"):
            return graph_error(400, 100, "(#100) Param hide must be a boolean")
        reply["hide_status"] = "HIDDEN" if params["hide"] == "true" else "UNHUSHED"
        return JSONResponse({"success": True})

    def _code(self, params: dict[str, str]) -> Response:
        failure = self.check_app(params)
        if failure is not None:
            return failure
        subject = self.codes.pop(params.get("code", ""), None)
        if subject is None:
            return graph_error(
                400,
                100,
                "Invalid verification code format.",
                subcode=36008,
                error_type="OAuthException",
            )
        token = self.issue_token("threads", subject, lifetime=dt.timedelta(hours=1))
        return JSONResponse({"access_token": token, "user_id": int(subject)})

    def _long_lived(self, params: dict[str, str]) -> Response:
        failure = self.check_app(params, with_id=False)
        if failure is not None:
            return failure
        old = self.tokens.get(params.get("access_token", ""))
        if params.get("grant_type") != "th_exchange_token" or old is None or old.long_lived:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        return self.long_lived_answer("threads", old.subject)

    def _refresh(self, params: dict[str, str]) -> Response:
        old = self.tokens.get(params.get("access_token", ""))
        if params.get("grant_type") != "th_refresh_token" or old is None or not old.long_lived:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if old.expires_at is not None and old.expires_at <= self.now():
            return graph_error(
                400, 190, "Error validating access token: Session has expired", subcode=463
            )
        if self.now() - old.issued_at < dt.timedelta(hours=24):
            return graph_error(400, 10, "(#10) The token must be at least 24 hours old to refresh")
        return self.long_lived_answer("threads", old.subject)

    def _read(self, node: str, params: dict[str, str]) -> Response:
        fields = params.get("fields")
        if node in (self.user_id, "me"):
            obj = {
                "id": self.user_id,
                "username": self.username,
                "name": "Acme Bakery",
                "threads_profile_picture_url": f"https://scontent.cdninstagram.example/t/{self.user_id}.jpg",
                "threads_biography": "Fresh bread daily",
            }
            return JSONResponse(pick(obj, fields, ("id",)))
        container = self.containers.get(node)
        if container is not None:
            status = container.read(self.now())
            obj = {"id": container.id, "status": status}
            if status == "ERROR":
                obj["error_message"] = container.error
            return JSONResponse(pick(obj, fields, ("id",)))
        if node in self.posts:
            return JSONResponse(pick(self.posts[node], fields, ("id",)))
        return self.unknown_path(FakeRequest("GET", [node], params, {}, None))

    def _list(self, items: list[dict[str, Any]], params: dict[str, str]) -> Response:
        since = int(params.get("since", "0") or 0)
        limit = int(params.get("limit", "25") or 25)
        chosen = sorted(
            (p for p in items if p["_created"].timestamp() >= since),
            key=lambda p: p["_created"],
            reverse=True,
        )[:limit]
        data = [pick(p, params.get("fields"), ("id",)) for p in chosen]
        return JSONResponse(
            {"data": data, "paging": {"cursors": {"before": "QVFIU", "after": "QVFIU"}}}
        )

    def _quota(self) -> Response:
        usage = sum(1 for p in self.roots() if self.now() - p["_created"] < dt.timedelta(hours=24))
        return JSONResponse(
            {
                "data": [
                    {
                        "quota_usage": usage,
                        "config": {"quota_total": self.quota_total, "quota_duration": 86400},
                    }
                ]
            }
        )

    def _create(self, params: dict[str, str]) -> Response:
        media_type = params.get("media_type")
        text = params.get("text", "")
        if media_type not in ("TEXT", "IMAGE", "VIDEO", "CAROUSEL"):
            return graph_error(
                400, 100, "(#100) Param media_type must be one of {TEXT, IMAGE, VIDEO, CAROUSEL}"
            )
        if len(text) > self.text_limit:
            return graph_error(
                400,
                100,
                "Invalid parameter",
                subcode=4279009,
                user_msg=f"The text is longer than {self.text_limit} characters.",
            )
        if len(set(_URL.findall(text))) > self.link_limit:
            return graph_error(
                400,
                100,
                "THREADS_API__LINK_LIMIT_EXCEEDED",
                user_msg="The post has more than 5 links.",
            )
        if media_type == "TEXT" and not text:
            return graph_error(400, 100, "(#100) Param text is required for TEXT posts")
        if media_type == "IMAGE" and not params.get("image_url"):
            return graph_error(400, 100, "(#100) Param image_url is required for IMAGE posts")
        if media_type == "VIDEO" and not params.get("video_url"):
            return graph_error(400, 100, "(#100) Param video_url is required for VIDEO posts")
        if media_type == "CAROUSEL":
            children = [c for c in params.get("children", "").split(",") if c]
            if not 2 <= len(children) <= self.carousel_limit or any(
                c not in self.containers for c in children
            ):
                return graph_error(
                    400, 100, "(#100) Param children must list 2 to 20 carousel items"
                )
        reply_to = params.get("reply_to_id")
        if reply_to and reply_to not in self.posts:
            return graph_error(400, 100, f"(#100) Invalid reply_to_id {reply_to}")
        return JSONResponse({"id": self.new_container(self.user_id, params).id})

    def _publish(self, params: dict[str, str]) -> Response:
        container = self.containers.get(params.get("creation_id", ""))
        if container is None:
            return graph_error(400, 24, "The requested resource does not exist", subcode=4279009)
        if container.status == "PUBLISHED":
            return graph_error(400, 100, "(#100) The container has already been published")
        if container.status != "FINISHED":
            # Assumed shape (shared with Instagram): the container is still processing.
            return graph_error(
                400,
                9007,
                "Media ID is not available",
                subcode=2207027,
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        reply_to = container.params.get("reply_to_id")
        if reply_to is None:
            used = sum(
                1 for p in self.roots() if self.now() - p["_created"] < dt.timedelta(hours=24)
            )
            if used >= self.quota_total:
                return graph_error(400, 4, "Application request limit reached", subcode=2207042)
        media_type = {"TEXT": "TEXT_POST", "CAROUSEL": "CAROUSEL_ALBUM"}.get(
            container.params.get("media_type", "TEXT"), container.params.get("media_type")
        )
        post = self._new_post(
            container.params.get("text"),
            username=self.username,
            reply_to=reply_to,
            media_type=media_type,
        )
        container.status = "PUBLISHED"
        container.published_id = post["id"]
        return JSONResponse({"id": post["id"]})

    def _new_post(
        self,
        text: str | None,
        *,
        username: str,
        reply_to: str | None,
        media_type: str | None = "TEXT_POST",
        at: dt.datetime | None = None,
    ) -> dict[str, Any]:
        post_id = self.new_id()
        now = at or self.now()
        shortcode = secrets.token_urlsafe(8)[:11]
        post: dict[str, Any] = {
            "id": post_id,
            "text": text,
            "media_type": media_type,
            "media_product_type": "THREADS",
            "permalink": f"https://www.threads.com/@{username}/post/{shortcode}",
            "shortcode": shortcode,
            "timestamp": graph_time(now),
            "username": username,
            "is_quote_post": False,
            "_reply_to": reply_to,
            "_created": now,
        }
        if reply_to is not None:
            post |= {
                "is_reply": True,
                "replied_to": {"id": reply_to},
                "root_post": {"id": self._root_of(reply_to)},
                "is_reply_owned_by_me": username == self.username,
                "hide_status": "NOT_HUSHED",
            }
        self.posts[post_id] = post
        return post


def shape_differences(actual: Any, documented: Any, where: str = "$") -> list[str]:
    """Where ``actual`` differs in shape from ``documented``: keys and JSON types."""

    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int | float):
            return "number"
        return type(value).__name__

    if kind(actual) != kind(documented):
        return [f"{where}: {kind(actual)} where the docs show {kind(documented)}"]
    if isinstance(documented, dict):
        problems = [f"{where}: missing {k!r}" for k in documented if k not in actual]
        problems += [f"{where}: undocumented {k!r}" for k in actual if k not in documented]
        for key in documented:
            if key in actual:
                problems += shape_differences(actual[key], documented[key], f"{where}.{key}")
        return problems
    if isinstance(documented, list) and documented and actual:
        return shape_differences(actual[0], documented[0], f"{where}[0]")
    return []


FAKES: dict[str, type[GraphFake]] = {
    "facebook": FacebookFake,
    "instagram": InstagramFake,
    "threads": ThreadsFake,
}


@dataclass
class Seed:
    """What a standalone fake prints so a person or a script can use it."""

    network: str
    url: str
    values: dict[str, str] = field(default_factory=dict)


def seed_of(fake: GraphFake, url: str) -> Seed:
    values: dict[str, str] = {"app_id": APP_ID}
    if isinstance(fake, FacebookFake):
        values |= {
            "page_id": fake.page_id,
            "page_token": fake.page_token,
            "user_token": fake.user_token,
        }
    elif isinstance(fake, InstagramFake | ThreadsFake):
        values |= {"user_id": fake.user_id, "token": fake.token}
    return Seed(fake.network, url, values)


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=sorted(FAKES), default="facebook")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    fake = FAKES[args.network]()
    seed = seed_of(fake, f"http://{args.host}:{args.port}/{fake.version}")
    print(json.dumps({"network": seed.network, "base_url": seed.url, **seed.values}), flush=True)
    uvicorn.run(fake.app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
