# SPDX-License-Identifier: AGPL-3.0-or-later
"""A local LinkedIn (versioned REST API and OAuth) that answers as its documentation shows.

LinkedIn cannot run here, so the LinkedIn connector's contract tests talk to this fake. It
models what publishing depends on:

- OAuth 2.0 3-legged: ``GET /oauth/v2/authorization`` (consents at once for
  ``consent_member``), ``POST /oauth/v2/accessToken`` with the client secret, or PKCE for
  apps it was enabled for; access tokens live 60 days; apps enabled for programmatic
  refresh tokens get one (a year), and refreshing returns the *same* refresh token with
  its remaining lifetime;
- ``GET /v2/userinfo`` (OpenID Connect), ``GET /rest/organizations/{id}``;
- every ``/rest`` call checks ``LinkedIn-Version`` (400 ``VERSION_MISSING``, 426
  ``NONEXISTENT_VERSION``) and ``X-Restli-Protocol-Version: 2.0.0``;
- Images API: ``POST /rest/images?action=initializeUpload``, ``PUT`` of the bytes to the
  ``uploadUrl``, ``GET /rest/images/{urn}`` (``PROCESSING`` then ``AVAILABLE``);
- Posts API: ``POST /rest/posts`` answering 201 with the URN in ``x-restli-id``, text-only,
  ``media``, ``multiImage`` and ``article`` content, 422 ``DUPLICATE_POST`` for content the
  author already posted, ``GET /rest/posts?q=author`` (needs ``r_member_social`` for a
  member, which apps rarely have: 403 otherwise), ``DELETE /rest/posts/{urn}`` (204);
- Comments: ``POST``/``GET /rest/socialActions/{urn}/comments`` on a post or, for nested
  comments (``parentComment``), on a comment, with ``start``/``count`` paging (newest first,
  an assumption: the docs promise no order); ``DELETE
  /rest/socialActions/{urn}/comments/{id}?actor=`` (the post's author or the comment's);
- Reactions: ``POST /rest/reactions?actor=`` with ``root`` and ``reactionType``;
- ``POST /__fake__/comments`` ``{"on", "actor", "text"}`` (the fake's own admin API, as the
  Mastodon fake's ``/__fake__/``): a comment by someone else, for inbox tests;
- the *little* text format: :func:`render_little` shows a commentary as a reader sees it,
  cut at the first unescaped reserved character, as LinkedIn does;
- errors as ``{"status", "serviceErrorCode", "code", "message"}``; a per-member daily cap
  on posts (429); faults as in :mod:`tests.fakes.x`.

In-process: ``LinkedInFake().client()``. As a server: ``python -m tests.fakes.linkedin
--port 8767`` (prints a member token).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.x import (
    ConnectionDropped,
    FakeTransport,
    Fault,
    Message,
    Receive,
    Scope,
    Send,
    take_fault,
)

ACCESS_TOKEN_SECONDS = 60 * 24 * 3600
REFRESH_TOKEN_SECONDS = 365 * 24 * 3600
ACTIVE_VERSIONS = frozenset(f"2026{month:02d}" for month in range(1, 12)) | frozenset(
    f"2025{month:02d}" for month in range(11, 13)
)
SCOPES = frozenset(
    {
        "openid",
        "profile",
        "email",
        "w_member_social",
        "r_member_social",
        "w_organization_social",
        "r_organization_social",
        "rw_organization_admin",
    }
)
RESERVED = frozenset("\\|{}@[]()<>#*_~")
BAD_CODE = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match "
    "authorization code. Or authorization code expired. Or external member binding exists"
)
BAD_REFRESH = "The provided authorization grant or refresh token is invalid, expired or revoked."


def render_little(commentary: str) -> str:
    """What a reader sees of ``commentary``: escapes resolved, mentions by name, links and
    hashtags as written, and nothing after the first unescaped reserved character."""
    out: list[str] = []
    index = 0
    while index < len(commentary):
        rest = commentary[index:]
        char = commentary[index]
        if char == "\\" and len(rest) > 1 and rest[1] in RESERVED:
            out.append(rest[1])
            index += 2
            continue
        link = re.match(r"https?://[^\s\\]+", rest)
        if link:
            out.append(link.group(0))
            index += link.end()
            continue
        mention = re.match(r"@\[([^\]]+)\]\((urn:li:(?:person|organization):[^)]+)\)", rest)
        if mention:
            out.append(mention.group(1))
            index += mention.end()
            continue
        tag = re.match(r"#\w+", rest)
        if tag and (index == 0 or not re.match(r"\w", commentary[index - 1])):
            out.append(tag.group(0))
            index += tag.end()
            continue
        if char in RESERVED:
            break  # LinkedIn drops the rest of the post here
        out.append(char)
        index += 1
    return "".join(out)


def _error(status: int, code: str, message: str, service: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if service is not None:
        body["serviceErrorCode"] = service
    return JSONResponse(body, status_code=status)


def _unprocessable(path: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"message": f"ERROR :: {path} :: {message}", "status": 422}, status_code=422
    )


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _pkce_ok(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(expected, challenge)


@dataclass
class App:
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]
    pkce_enabled: bool = False
    refresh_tokens: bool = False


@dataclass
class Member:
    sub: str
    name: str
    email: str


@dataclass
class Organization:
    id: str
    name: str
    vanity: str
    admins: set[str] = field(default_factory=set)

    @property
    def urn(self) -> str:
        return f"urn:li:organization:{self.id}"


@dataclass
class Token:
    value: str
    sub: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    sub: str
    scopes: frozenset[str]
    challenge: str | None


@dataclass
class Image:
    urn: str
    owner: str
    upload_token: str
    data: bytes | None = None
    polls_left: int = 1


@dataclass
class Post:
    urn: str
    author: str
    commentary: str
    visibility: str
    distribution: dict[str, Any]
    content: dict[str, Any] | None
    created_ms: int
    reshare_disabled: bool = False
    deleted: bool = False


@dataclass
class Comment:
    id: str
    post: str
    actor: str
    text: str
    created_ms: int
    #: The comment this one is nested under (LinkedIn nests one level deep).
    parent: str | None = None

    @property
    def urn(self) -> str:
        return f"urn:li:comment:({self.post},{self.id})"


@dataclass
class Reaction:
    actor: str
    root: str
    kind: str


class LinkedInFake:
    """State, knobs and the ASGI app of a fake LinkedIn."""

    def __init__(self, *, base_url: str = "https://api.linkedin.com") -> None:
        self.base_url = base_url
        self.apps: dict[str, App] = {}
        self.members: dict[str, Member] = {}
        self.organizations: dict[str, Organization] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.codes: dict[str, Code] = {}
        self.images: dict[str, Image] = {}
        self.posts: dict[str, Post] = {}
        self.comments: list[Comment] = []
        self.reactions: list[Reaction] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.consent_member: str | None = None
        self.daily_post_limit = 150
        self.image_processing_polls = 1
        self._offset = 0.0
        self._posted: dict[tuple[str, int], int] = {}
        self._ids = itertools.count(7_300_000_000_000_000_000, 104_729)
        self.routes = Starlette(routes=self._routes())

    # -- knobs ----------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def _new_id(self) -> str:
        return str(next(self._ids))

    def add_app(
        self,
        client_id: str,
        secret: str,
        redirect_uri: str,
        *,
        pkce: bool = False,
        refresh_tokens: bool = False,
    ) -> App:
        app = App(client_id, secret, (redirect_uri,), pkce, refresh_tokens)
        self.apps[client_id] = app
        return app

    def add_member(self, name: str) -> Member:
        sub = secrets.token_urlsafe(7)
        member = Member(sub, name, f"{name.split()[0].lower()}@example.com")
        self.members[sub] = member
        self.consent_member = self.consent_member or sub
        return member

    def add_organization(self, name: str, *, admins: tuple[Member, ...] = ()) -> Organization:
        org = Organization(
            str(next(self._ids) % 100_000_000),
            name,
            re.sub(r"\W+", "-", name.lower()).strip("-"),
            {m.sub for m in admins},
        )
        self.organizations[org.id] = org
        return org

    def issue_token(
        self,
        member: Member,
        *,
        scopes: frozenset[str] = frozenset({"openid", "profile", "w_member_social"}),
        client_id: str = "seeded",
    ) -> str:
        token = Token(
            secrets.token_urlsafe(32),
            member.sub,
            client_id,
            scopes,
            self.now() + ACCESS_TOKEN_SECONDS,
        )
        self.tokens[token.value] = token
        return token.value

    def inject(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind, **options)
        self.faults.append(fault)
        return fault

    def posts_of(self, author: str) -> list[Post]:
        return [p for p in self.posts.values() if p.author == author and not p.deleted]

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
        fault = take_fault(self.faults, method, path)
        if fault is not None and fault.kind == "fail":
            if fault.status == 429:
                answer = _error(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Resource level throttle APPLICATION DAY limit for calls to this resource "
                    "is reached.",
                    101,
                )
            else:
                answer = _error(fault.status, "SERVICE_UNAVAILABLE", "Service Unavailable")
            await answer(scope, receive, send)
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

    def _routes(self) -> list[Route]:
        return [
            Route("/oauth/v2/authorization", self.authorize, methods=["GET"]),
            Route("/oauth/v2/accessToken", self.access_token, methods=["POST"]),
            Route("/v2/userinfo", self.userinfo, methods=["GET"]),
            Route("/rest/organizations/{org_id}", self.organization, methods=["GET"]),
            Route("/rest/organizationAcls", self.organization_acls, methods=["GET"]),
            Route("/rest/images", self.initialize_upload, methods=["POST"]),
            Route("/rest/images/{urn}", self.image, methods=["GET"]),
            Route("/dms-uploads/{upload_token}", self.upload, methods=["PUT"]),
            Route("/rest/posts", self.create_post, methods=["POST"]),
            Route("/rest/posts", self.find_posts, methods=["GET"]),
            Route("/rest/posts/{urn}", self.get_post, methods=["GET"]),
            Route("/rest/posts/{urn}", self.delete_post, methods=["DELETE"]),
            Route("/rest/socialActions/{urn}/comments", self.create_comment, methods=["POST"]),
            Route("/rest/socialActions/{urn}/comments", self.list_comments, methods=["GET"]),
            Route(
                "/rest/socialActions/{urn}/comments/{comment_id}",
                self.delete_comment,
                methods=["DELETE"],
            ),
            Route("/rest/reactions", self.react, methods=["POST"]),
            Route("/__fake__/comments", self.inject_comment, methods=["POST"]),
        ]

    # -- auth -----------------------------------------------------------------------------

    def _caller(self, request: Request, *, rest: bool = True) -> Token | Response:
        header = request.headers.get("authorization", "")
        token = self.tokens.get(header.removeprefix("Bearer ").strip())
        if token is None or token.expires_at < self.now():
            return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token", 65600)
        if rest:
            version = request.headers.get("linkedin-version")
            if not version:
                return _error(
                    400,
                    "VERSION_MISSING",
                    "A version must be present. Please specify a version by adding the "
                    "LinkedIn-Version header.",
                )
            if version not in ACTIVE_VERSIONS:
                return _error(
                    426, "NONEXISTENT_VERSION", f"Requested version {version} is not active"
                )
            if request.headers.get("x-restli-protocol-version") != "2.0.0":
                return _error(400, "ILLEGAL_ARGUMENT", "X-Restli-Protocol-Version 2.0.0 required")
        return token

    def _may_act_as(self, token: Token, urn: str, *, write: bool) -> bool:
        if urn == f"urn:li:person:{token.sub}":
            return ("w_member_social" if write else "r_member_social") in token.scopes
        if urn.startswith("urn:li:organization:"):
            org = self.organizations.get(urn.rsplit(":", 1)[1])
            scope = "w_organization_social" if write else "r_organization_social"
            return org is not None and token.sub in org.admins and scope in token.scopes
        return False

    @staticmethod
    def _denied(what: str) -> JSONResponse:
        return _error(403, "ACCESS_DENIED", f"Not enough permissions to access: {what}", 100)

    # -- OAuth ----------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        app = self.apps.get(q.get("client_id", ""))
        redirect_uri = q.get("redirect_uri", "")
        if app is None or redirect_uri not in app.redirect_uris:
            return _oauth_error("invalid_request", "The redirect_uri does not match")
        scopes = frozenset(q.get("scope", "").replace(",", " ").split())
        challenge = q.get("code_challenge")
        if (
            q.get("response_type") != "code"
            or not scopes
            or not scopes <= SCOPES
            or (challenge and (not app.pkce_enabled or q.get("code_challenge_method") != "S256"))
        ):
            target = {"error": "invalid_request", "state": q.get("state", "")}
            return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)
        if self.consent_member is None:
            target = {
                "error": "user_cancelled_authorize",
                "error_description": "The user cancelled the authorization",
                "state": q.get("state", ""),
            }
            return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)
        code = secrets.token_urlsafe(32)
        self.codes[code] = Code(app.client_id, redirect_uri, self.consent_member, scopes, challenge)
        target = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(f"{redirect_uri}?{urlencode(target)}", status_code=302)

    async def access_token(self, request: Request) -> Response:
        form = await request.form()
        app = self.apps.get(str(form.get("client_id", "")))
        if app is None:
            return _oauth_error("invalid_client", "Client authentication failed", 401)
        secret = str(form.get("client_secret", ""))
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.pop(str(form.get("code", "")), None)
            verifier = str(form.get("code_verifier", ""))
            if secret and not secrets.compare_digest(secret, app.secret):
                return _oauth_error("invalid_client", "Client authentication failed", 401)
            if (
                code is None
                or code.client_id != app.client_id
                or code.redirect_uri != form.get("redirect_uri")
                or (code.challenge is not None and not _pkce_ok(verifier, code.challenge))
                or (code.challenge is None and not secret)
            ):
                return _oauth_error("invalid_request", BAD_CODE)
            refresh = None
            if app.refresh_tokens:
                refresh = Token(
                    secrets.token_urlsafe(32),
                    code.sub,
                    app.client_id,
                    code.scopes,
                    self.now() + REFRESH_TOKEN_SECONDS,
                )
                self.refresh_tokens[refresh.value] = refresh
            return self._token_answer(code.sub, app.client_id, code.scopes, refresh)
        if grant == "refresh_token":
            if not secrets.compare_digest(secret, app.secret):
                return _oauth_error("invalid_client", "Client authentication failed", 401)
            refresh = self.refresh_tokens.get(str(form.get("refresh_token", "")))
            if (
                not app.refresh_tokens
                or refresh is None
                or refresh.client_id != app.client_id
                or refresh.expires_at < self.now()
            ):
                return _oauth_error("invalid_request", BAD_REFRESH)
            return self._token_answer(refresh.sub, app.client_id, refresh.scopes, refresh)
        return _oauth_error("unsupported_grant_type", "Unsupported grant_type")

    def _token_answer(
        self, sub: str, client_id: str, scopes: frozenset[str], refresh: Token | None
    ) -> JSONResponse:
        access = Token(
            secrets.token_urlsafe(32), sub, client_id, scopes, self.now() + ACCESS_TOKEN_SECONDS
        )
        self.tokens[access.value] = access
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": ",".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if "openid" in scopes:
            body["id_token"] = "eyJ" + secrets.token_urlsafe(48)
        if refresh is not None:
            body["refresh_token"] = refresh.value
            body["refresh_token_expires_in"] = int(refresh.expires_at - self.now())
        return JSONResponse(body)

    # -- people and pages -----------------------------------------------------------------

    async def userinfo(self, request: Request) -> Response:
        token = self._caller(request, rest=False)
        if isinstance(token, Response):
            return token
        if not {"openid", "profile"} <= token.scopes:
            return self._denied("/v2/userinfo")
        member = self.members[token.sub]
        given, _, family = member.name.partition(" ")
        return JSONResponse(
            {
                "sub": member.sub,
                "email_verified": True,
                "name": member.name,
                "locale": {"country": "US", "language": "en"},
                "given_name": given,
                "family_name": family,
                "email": member.email,
                "picture": f"https://media.licdn.com/dms/image/{member.sub}/profile.jpg",
            }
        )

    async def organization(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        org = self.organizations.get(request.path_params["org_id"])
        if org is None:
            return _error(404, "NOT_FOUND", "Not Found")
        if token.sub not in org.admins:
            return self._denied(f"organizations.GET.{org.id}")
        return JSONResponse(
            {
                "vanityName": org.vanity,
                "localizedName": org.name,
                "id": int(org.id),
                "name": {
                    "localized": {"en_US": org.name},
                    "preferredLocale": {"country": "US", "language": "en"},
                },
            }
        )

    async def organization_acls(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        q = request.query_params
        if q.get("q") != "roleAssignee":
            return _error(400, "ILLEGAL_ARGUMENT", "Unknown finder")
        if "rw_organization_admin" not in token.scopes:
            return self._denied("organizationAcls.FINDER-roleAssignee")
        elements = [
            {
                "roleAssignee": f"urn:li:person:{token.sub}",
                "state": "APPROVED",
                "role": "ADMINISTRATOR",
                "organization": org.urn,
            }
            for org in self.organizations.values()
            if token.sub in org.admins and q.get("role", "ADMINISTRATOR") == "ADMINISTRATOR"
        ]
        return JSONResponse(
            {
                "paging": {"start": 0, "count": 10, "links": [], "total": len(elements)},
                "elements": elements,
            }
        )

    # -- images ---------------------------------------------------------------------------

    async def initialize_upload(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        if request.query_params.get("action") != "initializeUpload":
            return _error(400, "ILLEGAL_ARGUMENT", "Unknown action")
        body = await request.json()
        owner = str((body.get("initializeUploadRequest") or {}).get("owner", ""))
        if not self._may_act_as(token, owner, write=True):
            return self._denied("images.ACTION.initializeUpload")
        image = Image(
            "urn:li:image:C4E10AQ" + secrets.token_urlsafe(12),
            owner,
            secrets.token_urlsafe(16),
            polls_left=self.image_processing_polls,
        )
        self.images[image.urn] = image
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "value": {
                    "uploadUrlExpiresAt": int((self.now() + 86400) * 1000),
                    "uploadUrl": f"{base}/dms-uploads/{image.upload_token}"
                    "?ca=vector_ads&cn=uploads&sync=0&v=beta",
                    "image": image.urn,
                }
            }
        )

    async def upload(self, request: Request) -> Response:
        token = self._caller(request, rest=False)
        if isinstance(token, Response):
            return token
        found = [
            i for i in self.images.values() if i.upload_token == request.path_params["upload_token"]
        ]
        if not found:
            return _error(404, "NOT_FOUND", "Not Found")
        found[0].data = await request.body()
        return Response(status_code=201)

    def _image_status(self, image: Image) -> str:
        if image.data is None:
            return "WAITING_UPLOAD"
        return "AVAILABLE" if image.polls_left <= 0 else "PROCESSING"

    async def image(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        image = self.images.get(request.path_params["urn"])
        if image is None:
            return _error(404, "NOT_FOUND", "Not Found")
        status = self._image_status(image)
        if image.data is not None:
            image.polls_left -= 1
        body: dict[str, Any] = {"owner": image.owner, "status": status, "id": image.urn}
        if status == "AVAILABLE":
            body["downloadUrl"] = f"https://media.licdn.com/dms/image/{image.urn}/0"
            body["downloadUrlExpiresAt"] = int((self.now() + 86400) * 1000)
        return JSONResponse(body)

    # -- posts ----------------------------------------------------------------------------

    def _post_json(self, post: Post) -> dict[str, Any]:
        body: dict[str, Any] = {
            "isReshareDisabledByAuthor": post.reshare_disabled,
            "createdAt": post.created_ms,
            "lifecycleState": "PUBLISHED",
            "lastModifiedAt": post.created_ms,
            "visibility": post.visibility,
            "publishedAt": post.created_ms,
            "author": post.author,
            "id": post.urn,
            "distribution": post.distribution,
            "commentary": post.commentary,
            "lifecycleStateInfo": {"isEditedByAuthor": False},
        }
        if post.content:
            body["content"] = post.content
        return body

    def _check_content(self, content: Any, author: str) -> JSONResponse | None:
        if content is None:
            return None
        if not isinstance(content, dict) or len(content) != 1:
            return _unprocessable("/content", "exactly one content type is required")
        kind, value = next(iter(content.items()))
        if kind == "article":
            if not str(value.get("source", "")).startswith(("http://", "https://")):
                return _unprocessable("/content/article/source", "must be a URL")
            if not value.get("title"):
                return _unprocessable("/content/article/title", "field is required")
            return None
        if kind == "media":
            images = [value]
        elif kind == "multiImage":
            images = list(value.get("images", []))
            if not 2 <= len(images) <= 20:
                return _unprocessable("/content/multiImage/images", "2 to 20 images required")
        else:
            return _unprocessable(f"/content/{kind}", "unsupported content type here")
        for item in images:
            image = self.images.get(str(item.get("id", "")))
            if image is None or image.owner != author or self._image_status(image) != "AVAILABLE":
                return _unprocessable(f"/content/{kind}", f"image {item.get('id')} is not usable")
        return None

    async def create_post(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        body = await request.json()
        author = str(body.get("author", ""))
        if not self._may_act_as(token, author, write=True):
            return self._denied("partnerApiPostsExternal.CREATE.20261001")
        commentary = str(body.get("commentary", ""))
        if len(commentary) > 3000:
            return _unprocessable("/commentary", "length must be at most 3000")
        if body.get("visibility") not in ("PUBLIC", "CONNECTIONS", "LOGGED_IN"):
            return _unprocessable("/visibility", "invalid value")
        if body.get("lifecycleState") != "PUBLISHED":
            return _unprocessable("/lifecycleState", "must be PUBLISHED")
        distribution = body.get("distribution")
        if not isinstance(distribution, dict) or "feedDistribution" not in distribution:
            return _unprocessable("/distribution/feedDistribution", "field is required")
        problem = self._check_content(body.get("content"), author)
        if problem is not None:
            return problem
        day = int(self.now() // 86400)
        if self._posted.get((author, day), 0) >= self.daily_post_limit:
            return _error(
                429,
                "TOO_MANY_REQUESTS",
                "Resource level throttle MEMBER DAY limit for calls to this resource is reached.",
                101,
            )
        same = next(
            (
                p
                for p in self.posts_of(author)
                if unicodedata.normalize("NFC", p.commentary)
                == unicodedata.normalize("NFC", commentary)
                and p.content == body.get("content")
            ),
            None,
        )
        if same is not None:
            # As LinkedIn answers (reported in Arisamiga/Linkedin-RSS#5).
            return JSONResponse(
                {
                    "errorDetailType": "com.linkedin.common.error.BadRequest",
                    "message": "com.linkedin.content.common.exception.BadRequestResponseException:"
                    f" Content is a duplicate of {same.urn}",
                    "errorDetails": {
                        "inputErrors": [
                            {
                                "description": "Duplicate post is detected",
                                "input": {},
                                "code": "DUPLICATE_POST",
                            }
                        ]
                    },
                    "status": 422,
                },
                status_code=422,
            )
        self._posted[(author, day)] = self._posted.get((author, day), 0) + 1
        post = Post(
            # Like LinkedIn's, the id starts with its creation time in milliseconds.
            urn=f"urn:li:share:{(int(self.now() * 1000) << 22) | (int(self._new_id()) & 0x3FFFFF)}",
            author=author,
            commentary=commentary,
            visibility=str(body["visibility"]),
            distribution=distribution,
            content=body.get("content"),
            created_ms=int(self.now() * 1000),
            reshare_disabled=bool(body.get("isReshareDisabledByAuthor")),
        )
        self.posts[post.urn] = post
        return Response(status_code=201, headers={"x-restli-id": post.urn})

    async def find_posts(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        q = request.query_params
        if q.get("q") != "author":
            return _error(400, "ILLEGAL_ARGUMENT", "Unknown finder")
        author = q.get("author", "")
        if not self._may_act_as(token, author, write=False):
            return self._denied("partnerApiPostsExternal.FINDER-author.20261001")
        start, count = int(q.get("start", "0")), min(int(q.get("count", "10")), 100)
        posts = sorted(self.posts_of(author), key=lambda p: p.created_ms, reverse=True)
        page = posts[start : start + count]
        links = []
        if start + count < len(posts):
            following = {"author": author, "q": "author", "start": start + count, "count": count}
            links.append(
                {
                    "type": "application/json",
                    "rel": "next",
                    "href": f"/rest/posts?{urlencode(following)}",
                }
            )
        return JSONResponse(
            {
                "paging": {"start": start, "count": count, "links": links, "total": len(posts)},
                "elements": [self._post_json(p) for p in page],
            }
        )

    async def get_post(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        post = self.posts.get(request.path_params["urn"])
        if post is None or post.deleted:
            return _error(404, "NOT_FOUND", "Not Found")
        if not self._may_act_as(token, post.author, write=False):
            return self._denied("partnerApiPostsExternal.GET.20261001")
        return JSONResponse(self._post_json(post))

    async def delete_post(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        post = self.posts.get(request.path_params["urn"])
        if post is None or post.deleted:
            return _error(404, "NOT_FOUND", "Not Found")
        if not self._may_act_as(token, post.author, write=True):
            return self._denied("partnerApiPostsExternal.DELETE.20261001")
        post.deleted = True
        return Response(status_code=204)

    # -- comments -------------------------------------------------------------------------

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        stamp = {"actor": comment.actor, "time": comment.created_ms}
        body: dict[str, Any] = {
            "actor": comment.actor,
            "created": stamp,
            "id": comment.id,
            "lastModified": stamp,
            "message": {"text": comment.text},
            "object": comment.post,
            "$URN": comment.urn,
            "commentUrn": comment.urn,
        }
        if comment.parent is not None:
            body["parentComment"] = comment.parent
        return body

    def comment_by_urn(self, urn: str) -> Comment | None:
        return next((c for c in self.comments if c.urn == urn), None)

    def add_comment(self, on: str, text: str, *, actor: str, at_ms: int | None = None) -> Comment:
        """A comment on post ``on`` or nested under comment ``on``, by anyone."""
        parent = self.comment_by_urn(on)
        post_urn = parent.post if parent is not None else on
        post = self.posts.get(post_urn)
        if post is None or post.deleted:
            raise KeyError(on)
        comment = Comment(
            self._new_id(),
            post_urn,
            actor,
            text,
            at_ms if at_ms is not None else int(self.now() * 1000),
            parent=parent.urn if parent is not None else None,
        )
        self.comments.append(comment)
        return comment

    async def inject_comment(self, request: Request) -> Response:
        body = await request.json()
        try:
            comment = self.add_comment(str(body["on"]), str(body["text"]), actor=str(body["actor"]))
        except KeyError:
            return _error(404, "NOT_FOUND", "Not Found")
        return JSONResponse(self._comment_json(comment), status_code=201)

    def _target(self, urn: str) -> tuple[Post, Comment | None] | None:
        """The post commented on, and the parent comment for a nested comment."""
        parent = self.comment_by_urn(urn)
        post = self.posts.get(parent.post if parent is not None else urn)
        if post is None or post.deleted:
            return None
        return post, parent

    async def create_comment(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        urn = request.path_params["urn"]
        found = self._target(urn)
        if found is None:
            return _error(404, "NOT_FOUND", "Not Found")
        post, parent = found
        body = await request.json()
        actor = str(body.get("actor", ""))
        if not self._may_act_as(token, actor, write=True):
            return self._denied("socialActions.comments.CREATE")
        if body.get("object") != post.urn:
            return _unprocessable("/object", "must be the post commented on")
        if parent is not None and (parent.parent is not None or body.get("parentComment") != urn):
            return _unprocessable("/parentComment", "must be the top-level comment answered")
        text = str((body.get("message") or {}).get("text", ""))
        if not text:
            return _unprocessable("/message/text", "field is required")
        comment = self.add_comment(urn, text, actor=actor)
        return JSONResponse(
            self._comment_json(comment), status_code=201, headers={"x-restli-id": comment.id}
        )

    async def list_comments(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        urn = request.path_params["urn"]
        found = self._target(urn)
        if found is None:
            return _error(404, "NOT_FOUND", "Not Found")
        post, parent = found
        if not self._may_act_as(token, post.author, write=False):
            return self._denied("socialActions.comments.GET_ALL")
        wanted = parent.urn if parent is not None else None
        matching = sorted(
            (c for c in self.comments if c.post == post.urn and c.parent == wanted),
            key=lambda c: (c.created_ms, int(c.id)),
            reverse=True,
        )
        q = request.query_params
        start, count = int(q.get("start", "0")), min(int(q.get("count", "10")), 100)
        return JSONResponse(
            {
                "paging": {"start": start, "count": count, "links": [], "total": len(matching)},
                "elements": [self._comment_json(c) for c in matching[start : start + count]],
            }
        )

    async def delete_comment(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        found = self._target(request.path_params["urn"])
        comment = next(
            (c for c in self.comments if c.id == request.path_params["comment_id"]), None
        )
        if found is None or comment is None or comment.post != found[0].urn:
            return _error(404, "NOT_FOUND", "Not Found")
        actor = request.query_params.get("actor", "")
        if not self._may_act_as(token, actor, write=True) or actor not in (
            found[0].author,
            comment.actor,
        ):
            return self._denied("socialActions.comments.DELETE")
        self.comments = [c for c in self.comments if c is not comment and c.parent != comment.urn]
        return Response(status_code=204)

    async def react(self, request: Request) -> Response:
        token = self._caller(request)
        if isinstance(token, Response):
            return token
        actor = request.query_params.get("actor", "")
        if not self._may_act_as(token, actor, write=True):
            return self._denied("reactions.CREATE")
        body = await request.json()
        root = str(body.get("root", ""))
        kind = str(body.get("reactionType", ""))
        if kind not in ("LIKE", "PRAISE", "EMPATHY", "INTEREST", "APPRECIATION", "ENTERTAINMENT"):
            return _unprocessable("/reactionType", "invalid value")
        if self._target(root) is None:
            return _error(404, "NOT_FOUND", "Not Found")
        self.reactions = [r for r in self.reactions if (r.actor, r.root) != (actor, root)]
        self.reactions.append(Reaction(actor, root, kind))
        stamp = {"actor": actor, "time": int(self.now() * 1000)}
        return JSONResponse(
            {"root": root, "reactionType": kind, "created": stamp, "lastModified": stamp},
            status_code=201,
            headers={"x-restli-id": f"urn:li:reaction:({actor},{root})"},
        )


def main(argv: list[str] | None = None) -> None:
    """Serve a fake LinkedIn with one member, one page they administer, and one app."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/oauth/linkedin/callback")
    args = parser.parse_args(argv)
    fake = LinkedInFake(base_url=f"http://{args.host}:{args.port}")
    fake.add_app("socialdesk-demo", "demo-secret", args.redirect_uri, refresh_tokens=True)
    member = fake.add_member("Dana Demo")
    org = fake.add_organization("Demo Brand", admins=(member,))
    token = fake.issue_token(
        member,
        scopes=frozenset(
            {
                "openid",
                "profile",
                "w_member_social",
                "w_organization_social",
                "r_organization_social",
            }
        ),
    )
    print(f"fake LinkedIn at {fake.base_url}: member urn:li:person:{member.sub}, page {org.urn}")
    print(f"access token {token}", flush=True)
    uvicorn.run(fake, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
