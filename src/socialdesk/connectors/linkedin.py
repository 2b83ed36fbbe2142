# SPDX-License-Identifier: AGPL-3.0-or-later
"""LinkedIn: the versioned REST API (Posts, Images, Comments) with 3-legged OAuth 2.0.

A channel posts either as a member (``urn:li:person:…``, scope ``w_member_social``) or as an
organisation page the member administers (``urn:li:organization:…``, ``w_organization_social``).

Post text ("commentary") is in LinkedIn's *little* format, where ``\\ | { } @ [ ] ( ) < > # *
_ ~`` are markup; unescaped, LinkedIn cuts the post at the first one. :func:`escape_little`
escapes them, leaving links and ``#hashtags`` working.

LinkedIn has no idempotency key. After an uncertain attempt :meth:`LinkedInConnector.find_published`
lists the author's posts, which LinkedIn allows for organisations (``r_organization_social``)
but for members only with the restricted ``r_member_social``; where it may not look it answers
None, and the retry relies on LinkedIn refusing the same content again with 422
``DUPLICATE_POST``, whose message names the existing post: :meth:`LinkedInConnector.publish`
adopts that post when it was made after the delivery's first attempt started
(``options["attempted_at"]``).

Options read from :attr:`OutboundPost.options`: ``attempted_at`` (when the delivery's first
attempt started, aware datetime or ISO 8601, as the publisher passes it),
``visibility`` (``PUBLIC``, ``CONNECTIONS``, ``LOGGED_IN``), ``link_title`` and
``link_description`` for the article card.

The inbox (organisation pages): comments and replies on the page's recent posts, read with
``GET /rest/socialActions/{post}/comments`` (``start``/``count`` paging) and, for each comment,
its nested comments; the cursor is the Meta connectors' one
(:class:`~socialdesk.connectors.meta_graph.InboxCursor`, which knows nothing of Meta), so a
sync neither misses nor doubles an item. Replies are comments with ``parentComment``; a like
is a ``LIKE`` reaction (``POST /rest/reactions``); an organisation deletes comments on its
posts with ``DELETE /rest/socialActions/{post}/comments/{id}?actor=``. LinkedIn has no way
to hide a comment. A member's own posts cannot be listed without ``r_member_social`` (which
LinkedIn grants to few apps), so a member channel's inbox raises ``Rejected``.

Sources (checked 2026-11), learn.microsoft.com/linkedin/: shared/authentication/
authorization-code-flow, shared/authentication/authorization-code-flow-native (PKCE),
shared/authentication/programmatic-refresh-tokens, consumer/integrations/self-serve/
sign-in-with-linkedin-v2 (userinfo), marketing/community-management/shares/{posts-api,
images-api, multiimage-post-api, comments-api, little-text-format}, shared/api-guide/concepts/
rate-limits, marketing/community-management/shares/{comments-api, reactions-api}; the 422
DUPLICATE_POST body as reported in Arisamiga/Linkedin-RSS#5.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

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
from socialdesk.connectors.meta_graph import INBOX_PAGE_SIZE, InboxCursor, inbox_page
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
    "ACCESS_DENIED",
    "API_BASE_URL",
    "API_VERSION",
    "DUPLICATE_POST",
    "LITTLE_RESERVED",
    "NOT_FOUND",
    "OAUTH_BASE_URL",
    "SCOPES_MEMBER",
    "SCOPES_ORGANIZATION",
    "LinkedInConnector",
    "LinkedInErrorMapper",
    "OAuthClient",
    "escape_little",
    "unescape_little",
]

logger = logging.getLogger(__name__)

CHECKED = "2026-11"
API_BASE_URL = "https://api.linkedin.com"
OAUTH_BASE_URL = "https://www.linkedin.com"
#: The ``LinkedIn-Version`` header (YYYYMM); versions are served for about a year.
API_VERSION = "202610"
SCOPES_MEMBER = ("openid", "profile", "w_member_social")
SCOPES_ORGANIZATION = (
    *SCOPES_MEMBER,
    "w_organization_social",
    "r_organization_social",
    "rw_organization_admin",
)

#: ``Rejected.reason`` prefixes this connector acts on.
DUPLICATE_POST = "duplicate post"
ACCESS_DENIED = "access denied"
NOT_FOUND = "not found"

#: Characters that are markup in the little format (little-text-format, "Text").
LITTLE_RESERVED = frozenset("\\|{}@[]()<>#*_~")

_CLOCK_SKEW = dt.timedelta(minutes=5)
LOOKUP_LOOKBACK = dt.timedelta(hours=24)
_IMAGE_POLLS = 10
_POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")
_COMMENT_URN = re.compile(r"urn:li:comment:\((urn:li:[A-Za-z]+:[^,()]+),([^,()]+)\)")
#: Comments a page of the Comments API holds at most (``count``).
_COMMENTS_PER_PAGE = 100
_MAX_COMMENT_PAGES = 20
# Links are left as they are (LinkedIn links them); a backslash ends one, so the escaped and
# the plain text find the same links.
_LINK = re.compile(r"https?://[^\s<>\\]+", re.IGNORECASE)
_LINK_TRAILER = ".,;:!?'\")]}"
_HASHTAG = re.compile(r"(?<!\w)#\w+")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _link_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for match in _LINK.finditer(text):
        start, end = match.span()
        # Trailing punctuation is the sentence's, unless it closes a bracket of the link.
        while end > start and text[end - 1] in _LINK_TRAILER:
            tail = text[end - 1]
            opener = {")": "(", "]": "[", "}": "{"}.get(tail)
            body = text[start : end - 1]
            if opener and body.count(opener) > body.count(tail):
                break
            end -= 1
        spans.append((start, end))
    return spans


def escape_little(text: str) -> str:
    """``text`` as little-format commentary that LinkedIn shows exactly as written."""
    out: list[str] = []
    position = 0
    for start, end in [*_link_spans(text), (len(text), len(text))]:
        plain = text[position:start]
        # A hashtag stays markup, so it stays a link to the tag: keep it whole.
        tagged = {i for m in _HASHTAG.finditer(plain) for i in range(m.start(), m.end())}
        out.extend(
            f"\\{char}" if char in LITTLE_RESERVED and index not in tagged else char
            for index, char in enumerate(plain)
        )
        out.append(text[start:end])
        position = end
    return "".join(out)


def unescape_little(text: str) -> str:
    """The inverse of :func:`escape_little`: what a reader sees of plain little text."""
    out: list[str] = []
    position = 0
    for start, end in [*_link_spans(text), (len(text), len(text))]:
        plain = text[position:start]
        index = 0
        while index < len(plain):
            char = plain[index]
            if char == "\\" and index + 1 < len(plain) and plain[index + 1] in LITTLE_RESERVED:
                out.append(plain[index + 1])
                index += 2
            else:
                out.append(char)
                index += 1
        out.append(text[start:end])
        position = end
    return "".join(out)


def _urn_time(urn: str) -> dt.datetime | None:
    """The creation time carried in a post id's top 41 bits (milliseconds since 1970).

    Undocumented but stable (share and activity ids are time-ordered); used only where the
    member may not read the post itself.
    """
    match = re.fullmatch(r"urn:li:(?:share|ugcPost|activity):(\d+)", urn)
    if not match:
        return None
    try:
        return dt.datetime.fromtimestamp((int(match.group(1)) >> 22) / 1000, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _same_text(a: str, b: str) -> bool:
    def norm(value: str) -> str:
        return unicodedata.normalize("NFC", value).strip()

    return norm(a) == norm(b)


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """socialdesk's app at LinkedIn (Developer Portal, "Auth" tab)."""

    client_id: str
    redirect_uri: str
    #: Needed for the web flow and for refreshing; absent only for PKCE native clients.
    client_secret: str | None = field(default=None, repr=False)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _linkedin_reason(response: httpx.Response, body: Any) -> tuple[str, set[str]]:
    """A short reason and the error codes (``code`` and ``inputErrors[].code``)."""
    if not isinstance(body, dict):
        return (response.text[:300] or response.reason_phrase).strip(), set()
    codes = {str(body["code"])} if isinstance(body.get("code"), str) else set()
    details = body.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, dict) else None
    descriptions: list[str] = []
    for item in inputs if isinstance(inputs, list) else ():
        if isinstance(item, dict):
            if isinstance(item.get("code"), str):
                codes.add(item["code"])
            if isinstance(item.get("description"), str):
                descriptions.append(item["description"])
    message = body.get("message") or body.get("error_description") or body.get("error")
    reason = message if isinstance(message, str) and message else response.reason_phrase
    # Java exception prefixes say nothing to a person.
    reason = re.sub(r"^(?:[\w.]+Exception:\s*)+", "", reason)
    if descriptions and descriptions[0] not in reason:
        reason = f"{reason} ({descriptions[0]})"
    return reason[:500], codes


def _until_midnight_utc(now: dt.datetime | None = None) -> float:
    now = now or _utcnow()
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


class LinkedInErrorMapper(ErrorMapper):
    """LinkedIn's ``{"status", "serviceErrorCode", "code", "message"}`` answers."""

    def __init__(self) -> None:
        super().__init__("LinkedIn")

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        reason, codes = _linkedin_reason(response, _json(response))
        if status == 401:
            return AuthExpired(
                f"LinkedIn refused the credentials ({reason}); reconnect the channel"
            )
        if status == 429:
            # Limits are per day and reset at midnight UTC; LinkedIn sends no Retry-After.
            retry_after = retry_after_seconds(response)
            if retry_after is None and "DAY" in reason.upper():
                retry_after = _until_midnight_utc()
            return RateLimited(
                f"LinkedIn is rate limiting this account ({reason})", retry_after=retry_after
            )
        if status == 422 and ("DUPLICATE_POST" in codes or "duplicate" in reason.lower()):
            urn = _POST_URN.search(reason)
            return Rejected(
                f"LinkedIn already has a post with this content ({reason})",
                reason=f"{DUPLICATE_POST}: {urn.group(0) if urn else 'unknown'}",
            )
        if status == 403:
            return Rejected(
                f"LinkedIn does not let this account do that ({reason})",
                reason=f"{ACCESS_DENIED}: {reason}",
            )
        if status == 404:
            return Rejected(f"LinkedIn has no such thing ({reason})", reason=NOT_FOUND)
        if status >= 500 or status in (408, 425):
            return TransientError(f"LinkedIn answered {status} ({reason}); will try again")
        return Rejected(f"LinkedIn refused the request: {reason}", reason=reason)


def _with_context(error: ConnectorError, prefix: str) -> ConnectorError:
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


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _credentials_from_token(
    token: Any, *, previous: Credentials | None, now: dt.datetime
) -> Credentials:
    """Credentials from a token response; a refresh token is never replaced by nothing."""
    if not isinstance(token, dict):
        raise TransientError("LinkedIn answered the token request with something not JSON")
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise TransientError("LinkedIn answered the token request without an access token")
    refresh = token.get("refresh_token")
    if not isinstance(refresh, str) or not refresh:
        refresh = previous.refresh_token if previous else None
    extra = dict(previous.extra) if previous else {}
    if isinstance(token.get("scope"), str) and token["scope"]:
        extra["scope"] = token["scope"]
    refresh_ttl = _number(token.get("refresh_token_expires_in"))
    if refresh_ttl is not None:
        extra["refresh_token_expires_at"] = (now + dt.timedelta(seconds=refresh_ttl)).isoformat()
    ttl = _number(token.get("expires_in"))
    return Credentials(
        access_token=access,
        refresh_token=refresh,
        expires_at=now + dt.timedelta(seconds=ttl) if ttl is not None else None,
        extra=extra,
    )


def _elements(body: Any) -> list[dict[str, Any]]:
    items = body.get("elements") if isinstance(body, dict) else None
    return [item for item in items or () if isinstance(item, dict)]


class LinkedInConnector(Connector):
    """One LinkedIn member or organisation page, through the versioned REST API."""

    network = Network.LINKEDIN
    display_name = "LinkedIn"
    default_base_url = API_BASE_URL
    text_rules = TextRules(
        max_length=3000,
        counting=TextCounting.CODE_POINTS,
        source=(
            "https://learn.microsoft.com/linkedin/marketing/community-management/shares/"
            "posts-api (commentary)"
        ),
        checked=CHECKED,
    )
    media_rules = MediaRules(
        # 2 to 20 images make a MultiImage post; video needs the Videos API (not supported).
        max_items=20,
        image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
        # LinkedIn states a pixel limit (36,152,320) rather than a byte limit for images.
        max_image_bytes=None,
        source=(
            "https://learn.microsoft.com/linkedin/marketing/community-management/shares/"
            "images-api; .../multiimage-post-api"
        ),
        checked=CHECKED,
    )
    capabilities = Capabilities(
        idempotency=Idempotency.LOOKUP,
        threads=False,
        first_comment=True,
        delete=True,
        link_card=True,
        polls=False,
        visibilities=("PUBLIC", "CONNECTIONS", "LOGGED_IN"),
        oauth=True,
    )
    # LinkedIn publishes no numbers ("Standard rate limits are not published"); 150 posts a
    # day per member is the figure integrators report.
    rate_limit = RateLimit(
        max_posts=150,
        per_seconds=24 * 60 * 60,
        source="https://www.ayrshare.com/docs/apis/post/social-networks/linkedin (unofficial)",
    )
    errors: ClassVar[ErrorMapper] = LinkedInErrorMapper()
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.COMMENT, InboundKind.REPLY}
    )
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "like", "delete"})
    #: How many of the author's newest posts an inbox sync reads comments of.
    inbox_post_limit: ClassVar[int] = 25
    inbox_page_size: ClassVar[int] = INBOX_PAGE_SIZE

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        oauth_client: OAuthClient | None = None,
        oauth_base_url: str | None = None,
        api_version: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        self.oauth_client = oauth_client
        self.oauth_base_url = (
            oauth_base_url or credentials.extra.get("oauth_base_url") or OAUTH_BASE_URL
        ).rstrip("/")
        self.api_version = api_version or credentials.extra.get("linkedin_version") or API_VERSION
        self._sleep = sleep
        self._member_urn: str | None = None
        self._userinfo: dict[str, Any] = {}

    # -- OAuth ------------------------------------------------------------------------------

    @classmethod
    def authorization_url(
        cls,
        client: OAuthClient,
        *,
        state: str,
        code_challenge: str | None = None,
        scopes: Sequence[str] = SCOPES_MEMBER,
        oauth_base_url: str = OAUTH_BASE_URL,
    ) -> str:
        """Where to send the person's browser; PKCE only for apps LinkedIn enabled it for."""
        params = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "state": state,
            "scope": " ".join(scopes),
        }
        if code_challenge:
            params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{oauth_base_url.rstrip('/')}/oauth/v2/authorization?{urlencode(params)}"

    @classmethod
    async def exchange_code(
        cls,
        *,
        http: httpx.AsyncClient,
        client: OAuthClient,
        code: str,
        code_verifier: str | None = None,
        oauth_base_url: str = OAUTH_BASE_URL,
    ) -> Credentials:
        """Trade the authorization code for credentials (access token valid 60 days)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uri,
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        token = await cls._token_request(http, oauth_base_url.rstrip("/"), client, form)
        return _credentials_from_token(token, previous=None, now=_utcnow())

    async def refresh_credentials(self) -> Credentials | None:
        """A new access token from the refresh token (only apps LinkedIn enabled get one).

        LinkedIn answers with the same refresh token, whose lifetime keeps counting down
        from the first authorisation; if the answer has none the old one is kept.
        """
        current = self.credentials
        if not current.refresh_token or current.expires_at is None:
            return None
        if self.oauth_client is None or not self.oauth_client.client_secret:
            raise ConfigurationError("refreshing a LinkedIn token needs the app's client secret")
        try:
            token = await self._token_request(
                self.http,
                self.oauth_base_url,
                self.oauth_client,
                {"grant_type": "refresh_token", "refresh_token": current.refresh_token},
            )
        except Rejected as exc:
            raise AuthExpired(
                f"LinkedIn no longer accepts this channel's refresh token ({exc.reason}); "
                "reconnect the channel"
            ) from exc
        fresh = _credentials_from_token(token, previous=current, now=_utcnow())
        self.credentials = fresh
        return fresh

    @classmethod
    async def _token_request(
        cls,
        http: httpx.AsyncClient,
        oauth_base_url: str,
        client: OAuthClient,
        form: Mapping[str, str],
    ) -> Any:
        data = {**form, "client_id": client.client_id}
        if client.client_secret:
            data["client_secret"] = client.client_secret
        request = http.build_request("POST", f"{oauth_base_url}/oauth/v2/accessToken", data=data)
        return _json(await cls.errors.send(http, request))

    # -- plumbing ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.credentials.access_token}",
            "LinkedIn-Version": self.api_version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def _call(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        """``path`` carries its own query: Rest.li wants URNs in it percent-encoded."""
        request = self.http.build_request(
            method, f"{self.base_url}{path}", json=json, headers=self._headers()
        )
        return await self.errors.send(self.http, request)

    async def _author(self) -> str:
        author = self.credentials.extra.get("author_urn")
        if author:
            return author
        return await self._member()

    async def _member(self) -> str:
        if self._member_urn is None:
            request = self.http.build_request(
                "GET",
                f"{self.base_url}/v2/userinfo",
                headers={"Authorization": f"Bearer {self.credentials.access_token}"},
            )
            body = _json(await self.errors.send(self.http, request))
            sub = body.get("sub") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(sub, str) or not sub:
                raise TransientError("LinkedIn answered /v2/userinfo without a member id")
            self._member_urn = f"urn:li:person:{sub}"
            self._userinfo = body
        return self._member_urn

    @staticmethod
    def post_url(urn: str) -> str:
        return f"https://www.linkedin.com/feed/update/{urn}/"

    # -- the contract -----------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        author = self.credentials.extra.get("author_urn", "")
        if author.startswith("urn:li:organization:"):
            org_id = author.rsplit(":", 1)[1]
            body = _json(await self._call("GET", f"/rest/organizations/{org_id}"))
            if not isinstance(body, dict):
                raise TransientError("LinkedIn answered the organization lookup without JSON")
            vanity = str(body.get("vanityName") or org_id)
            self.channel_extra["author_urn"] = author
            return AccountInfo(
                external_id=author,
                handle=vanity,
                display_name=str(body.get("localizedName") or vanity),
                url=f"https://www.linkedin.com/company/{vanity}/",
            )
        self._member_urn = None
        urn = await self._member()
        info = self._userinfo
        name = str(info.get("name") or "")
        # Posts, images and comments are made as this URN.
        self.channel_extra["author_urn"] = urn
        return AccountInfo(
            external_id=urn,
            handle=name or urn.rsplit(":", 1)[1],
            display_name=name,
            avatar_url=info.get("picture") if isinstance(info.get("picture"), str) else None,
        )

    async def administered_organizations(self) -> list[str]:
        """The pages the member may post for (approved ADMINISTRATOR roles), as URNs.

        Needs ``rw_organization_admin``; the chosen URN becomes ``extra["author_urn"]``.
        """
        listing = _json(
            await self._call(
                "GET", "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED"
            )
        )
        return [
            str(element["organization"])
            for element in _elements(listing)
            if str(element.get("organization", "")).startswith("urn:li:organization:")
        ]

    async def publish(self, post: OutboundPost) -> PublishResult:
        author = await self._author()
        body: dict[str, Any] = {
            "author": author,
            "commentary": escape_little(self._text(post)),
            "visibility": str(post.options.get("visibility") or "PUBLIC"),
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        content = await self._content(post, author)
        if content:
            body["content"] = content
        resumed = False
        try:
            response = await self._call("POST", "/rest/posts", json=body)
            urn = str(response.headers.get("x-restli-id") or "")
            if not urn:
                raise UncertainOutcome("LinkedIn accepted the post but did not say its id")
        except Rejected as exc:
            if not exc.reason.startswith(DUPLICATE_POST):
                raise
            urn = await self._adopt_duplicate(post, exc)
            resumed = True
        part_ids: tuple[str, ...] = ()
        if post.first_comment:
            try:
                comment = await self._first_comment(urn, author, post.first_comment, resumed)
            except ConnectorError as exc:
                raise _with_context(exc, f"the first comment failed after post {urn}") from exc
            part_ids = (comment,) if comment else ()
        return PublishResult(external_id=urn, url=self.post_url(urn), part_ids=part_ids)

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        """The post if the author's recent posts show it; None if absent or not listable.

        A found post whose first comment is missing gets it now (when comments can be read;
        otherwise it is left out rather than risk posting it twice).
        """
        author = await self._author()
        since = _as_utc(post.options.get("attempted_at"))
        since = (since or _utcnow() - LOOKUP_LOOKBACK) - _CLOCK_SKEW
        query = f"author={quote(author, safe='')}&q=author&count=50&sortBy=LAST_MODIFIED"
        try:
            listing = _json(await self._call("GET", f"/rest/posts?{query}"))
        except Rejected as exc:
            if not exc.reason.startswith(ACCESS_DENIED):
                raise
            logger.info("LinkedIn does not let this app list the author's posts; not looked up")
            return None
        text = self._text(post)
        for element in _elements(listing):
            created = _number(element.get("createdAt")) or 0.0
            if (
                element.get("lifecycleState") == "PUBLISHED"
                and created >= since.timestamp() * 1000
                and _same_text(unescape_little(str(element.get("commentary", ""))), text)
            ):
                urn = str(element.get("id"))
                part_ids: tuple[str, ...] = ()
                if post.first_comment:
                    # The post exists; a missing first comment can only be added now.
                    comment = await self._first_comment(
                        urn, author, post.first_comment, resumed=True
                    )
                    part_ids = (comment,) if comment else ()
                return PublishResult(external_id=urn, url=self.post_url(urn), part_ids=part_ids)
        return None

    async def delete(self, external_id: str) -> None:
        try:
            await self._call("DELETE", f"/rest/posts/{quote(external_id, safe='')}")
        except Rejected as exc:
            if exc.reason != NOT_FOUND:
                raise

    # -- publishing steps -------------------------------------------------------------------

    @staticmethod
    def _text(post: OutboundPost) -> str:
        # With media there is no article card, so the link goes into the text.
        if post.link and post.media and post.link not in post.text:
            return f"{post.text}\n\n{post.link}" if post.text else post.link
        return post.text

    async def _content(self, post: OutboundPost, author: str) -> dict[str, Any] | None:
        if post.media:
            if len(post.media) > self.media_rules.max_items:
                raise Rejected("LinkedIn takes at most 20 images per post", reason="media")
            images = []
            for item in post.media:
                if item.mime_type not in self.media_rules.image_types:
                    raise Rejected(
                        f"LinkedIn posts here take images only, not {item.mime_type}",
                        reason="media",
                    )
                image = {"id": await self._upload(item, author)}
                if item.alt_text:
                    image["altText"] = item.alt_text
                images.append(image)
            if len(images) == 1:
                return {"media": images[0]}
            return {"multiImage": {"images": images}}
        if post.link:
            article: dict[str, Any] = {
                "source": post.link,
                "title": str(post.options.get("link_title") or post.link),
            }
            if post.options.get("link_description"):
                article["description"] = str(post.options["link_description"])
            return {"article": article}
        return None

    async def _upload(self, item: MediaItem, author: str) -> str:
        """Images API: initializeUpload, PUT the bytes, wait until the image is available."""
        try:
            started = _json(
                await self._call(
                    "POST",
                    "/rest/images?action=initializeUpload",
                    json={"initializeUploadRequest": {"owner": author}},
                )
            )
            value = started.get("value") if isinstance(started, dict) else None
            if not isinstance(value, dict) or not value.get("uploadUrl") or not value.get("image"):
                raise TransientError("LinkedIn did not start the image upload")
            content = await asyncio.to_thread(item.path.read_bytes)
            request = self.http.build_request(
                "PUT",
                str(value["uploadUrl"]),
                content=content,
                headers={
                    "Authorization": f"Bearer {self.credentials.access_token}",
                    "Content-Type": "application/octet-stream",
                },
            )
            await self.errors.send(self.http, request)
        except UncertainOutcome as exc:
            raise TransientError(f"uploading {item.path.name} to LinkedIn was interrupted") from exc
        image = str(value["image"])
        for _ in range(_IMAGE_POLLS):
            status = _json(await self._call("GET", f"/rest/images/{quote(image, safe='')}"))
            state = status.get("status") if isinstance(status, dict) else None
            if state == "AVAILABLE":
                return image
            if state in ("PROCESSING_FAILED", "DELETED"):
                raise Rejected(f"LinkedIn could not process {item.path.name}", reason="media")
            await self._sleep(1.0)
        raise TransientError(f"LinkedIn is still processing {item.path.name}; try again later")

    async def _adopt_duplicate(self, post: OutboundPost, error: Rejected) -> str:
        """After DUPLICATE_POST: the post LinkedIn names is ours if made since our attempt.

        An older post with the same content is someone's earlier post (and a deleted one
        still counts for LinkedIn for a while): that stays a rejection.
        """
        urn = error.reason.split(": ", 1)[-1]
        since = _as_utc(post.options.get("attempted_at"))
        if since is None or not _POST_URN.fullmatch(urn):
            raise error
        created = await self._created_at(urn)
        if created is None or created < since - _CLOCK_SKEW:
            raise Rejected(
                f"LinkedIn already has this content in an earlier post ({urn}); change the "
                "text to post it again",
                reason=error.reason,
            ) from error
        logger.info("LinkedIn post %s of an earlier attempt found; not posting again", urn)
        return urn

    async def _created_at(self, urn: str) -> dt.datetime | None:
        """When ``urn`` was posted: from the post, or else from its id; None if deleted."""
        try:
            body = _json(await self._call("GET", f"/rest/posts/{quote(urn, safe='')}"))
        except Rejected as exc:
            if exc.reason == NOT_FOUND:
                return None
            if not exc.reason.startswith(ACCESS_DENIED):
                raise
            body = None
        created = _number(body.get("createdAt")) if isinstance(body, dict) else None
        if created is not None:
            return dt.datetime.fromtimestamp(created / 1000, dt.UTC)
        return _urn_time(urn)

    async def _first_comment(self, urn: str, author: str, text: str, resumed: bool) -> str | None:
        if resumed:
            try:
                existing = await self._find_comment(urn, author, text)
            except Rejected as exc:
                if not exc.reason.startswith(ACCESS_DENIED):
                    raise
                # At most once: without a way to look, do not risk a second comment.
                logger.warning(
                    "LinkedIn post %s was adopted but its comments cannot be read; "
                    "the first comment is not posted again",
                    urn,
                )
                return None
            if existing:
                return existing
        response = await self._call(
            "POST",
            f"/rest/socialActions/{quote(urn, safe='')}/comments",
            json={"actor": author, "object": urn, "message": {"text": text}},
        )
        body = _json(response)
        for candidate in (
            body.get("$URN") if isinstance(body, dict) else None,
            body.get("commentUrn") if isinstance(body, dict) else None,
        ):
            if isinstance(candidate, str) and candidate:
                return candidate
        comment_id = str(response.headers.get("x-restli-id") or "")
        if comment_id.startswith("urn:"):
            return comment_id
        if comment_id:
            return f"urn:li:comment:({urn},{comment_id})"
        raise UncertainOutcome("LinkedIn accepted the comment but did not say its id")

    async def _find_comment(self, urn: str, author: str, text: str) -> str | None:
        listing = _json(
            await self._call("GET", f"/rest/socialActions/{quote(urn, safe='')}/comments")
        )
        for element in _elements(listing):
            message = element.get("message")
            if (
                element.get("actor") == author
                and isinstance(message, dict)
                and _same_text(str(message.get("text", "")), text)
            ):
                found = element.get("$URN") or element.get("commentUrn") or element.get("id")
                return str(found) if found else None
        return None

    # -- the inbox --------------------------------------------------------------------------

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        state = InboxCursor.decode(cursor)
        author = await self._author()
        query = f"author={quote(author, safe='')}&q=author&count={self.inbox_post_limit}"
        try:
            listing = _json(await self._call("GET", f"/rest/posts?{query}&sortBy=LAST_MODIFIED"))
        except Rejected as exc:
            if not exc.reason.startswith(ACCESS_DENIED):
                raise
            raise Rejected(
                "LinkedIn lets socialdesk read comments only on organisation pages (or for "
                "apps granted r_member_social); connect the page to see its comments",
                reason=f"{ACCESS_DENIED}: cannot list this author's posts",
            ) from exc
        found: list[InboundItem] = []
        for post in _elements(listing):
            urn = str(post.get("id") or "")
            if not urn:
                continue
            for comment in await self._comments(urn):
                item = self._comment_item(comment, urn, author)
                if item is None:
                    continue
                found.append(item)
                summary = comment.get("commentsSummary")
                total = (
                    summary.get("aggregatedTotalComments") if isinstance(summary, dict) else None
                )
                # Without the summary every comment's nested comments must be read.
                if total != 0:
                    found.extend(
                        reply
                        for nested in await self._comments(item.external_id)
                        if (reply := self._comment_item(nested, urn, author)) is not None
                    )
        return inbox_page(found, state, limit=self.inbox_page_size)

    async def _comments(self, target: str) -> list[dict[str, Any]]:
        """Every comment on ``target`` (a post, or a comment for its nested comments)."""
        out: list[dict[str, Any]] = []
        start = 0
        for _ in range(_MAX_COMMENT_PAGES):
            body = _json(
                await self._call(
                    "GET",
                    f"/rest/socialActions/{quote(target, safe='')}/comments"
                    f"?start={start}&count={_COMMENTS_PER_PAGE}",
                )
            )
            elements = _elements(body)
            out.extend(elements)
            paging = body.get("paging") if isinstance(body, dict) else None
            total = _number(paging.get("total")) if isinstance(paging, dict) else None
            start += len(elements)
            if not elements or total is None or start >= total:
                return out
        logger.warning("LinkedIn: stopped reading comments of %s after %d pages", target, start)
        return out

    def _comment_item(
        self, comment: Mapping[str, Any], post_urn: str, author: str
    ) -> InboundItem | None:
        urn = comment.get("$URN") or comment.get("commentUrn")
        created = comment.get("created")
        millis = _number(created.get("time")) if isinstance(created, dict) else None
        if not isinstance(urn, str) or not urn or millis is None:
            return None
        actor = str(comment.get("actor") or "")
        parent = comment.get("parentComment")
        parent_urn = parent if isinstance(parent, str) and parent else None
        message = comment.get("message")
        text = message.get("text") if isinstance(message, dict) else None
        extra = {"post_urn": post_urn}
        if parent_urn:
            extra["parent_id"] = parent_urn
        return InboundItem(
            external_id=urn,
            kind=InboundKind.REPLY if parent_urn else InboundKind.COMMENT,
            author=InboundAuthor(external_id=actor, handle=actor.rsplit(":", 1)[-1]),
            text=str(text or ""),
            created_at=dt.datetime.fromtimestamp(millis / 1000, dt.UTC),
            conversation_id=post_urn,
            url=f"{self.post_url(post_urn)}?commentUrn={quote(urn, safe='')}",
            in_reply_to=parent_urn or post_urn,
            our_post_id=post_urn,
            from_us=actor == author,
            extra=extra,
        )

    def _reply_parent(self, to: ReplyTarget) -> tuple[str, str]:
        """The comment an answer nests under, and the post both belong to."""
        parent = to.extra.get("parent_id") if to.kind is InboundKind.REPLY else None
        parent = parent or to.external_id
        match = _COMMENT_URN.fullmatch(parent)
        if match is None:
            raise Rejected(
                f"{parent} is not a LinkedIn comment, so it cannot be answered here",
                reason="not a LinkedIn comment",
            )
        return parent, to.extra.get("post_urn") or to.conversation_id or match.group(1)

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        author = await self._author()
        parent, post_urn = self._reply_parent(to)
        response = await self._call(
            "POST",
            f"/rest/socialActions/{quote(parent, safe='')}/comments",
            json={
                "actor": author,
                "object": post_urn,
                "parentComment": parent,
                "message": {"text": post.text},
            },
        )
        body = _json(response)
        urn = body.get("$URN") or body.get("commentUrn") if isinstance(body, dict) else None
        if not isinstance(urn, str) or not urn:
            comment_id = str(response.headers.get("x-restli-id") or "")
            if not comment_id:
                raise UncertainOutcome("LinkedIn accepted the reply but did not say its id")
            urn = (
                comment_id
                if comment_id.startswith("urn:")
                else (f"urn:li:comment:({post_urn},{comment_id})")
            )
        return PublishResult(
            external_id=urn, url=f"{self.post_url(post_urn)}?commentUrn={quote(urn, safe='')}"
        )

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        author = await self._author()
        parent, post_urn = self._reply_parent(to)
        since = _as_utc(post.options.get("attempted_at"))
        since = (since or _utcnow() - LOOKUP_LOOKBACK) - _CLOCK_SKEW
        for comment in reversed(await self._comments(parent)):
            item = self._comment_item(comment, post_urn, author)
            if (
                item is not None
                and item.from_us
                and item.created_at >= since
                and _same_text(item.text, post.text)
            ):
                return PublishResult(external_id=item.external_id, url=item.url)
        return None

    async def like(self, item_id: str) -> None:
        author = await self._author()
        await self._call(
            "POST",
            f"/rest/reactions?actor={quote(author, safe='')}",
            json={"root": item_id, "reactionType": "LIKE"},
        )

    async def delete_item(self, item_id: str) -> None:
        match = _COMMENT_URN.fullmatch(item_id)
        if match is None:
            raise Rejected(f"{item_id} is not a LinkedIn comment", reason="not a LinkedIn comment")
        author = await self._author()
        target, comment_id = match.group(1), match.group(2)
        try:
            await self._call(
                "DELETE",
                f"/rest/socialActions/{quote(target, safe='')}/comments/"
                f"{quote(comment_id, safe='')}?actor={quote(author, safe='')}",
            )
        except Rejected as exc:
            if exc.reason != NOT_FOUND:
                raise

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        raise Rejected(
            "LinkedIn has no way to hide a comment; delete it instead",
            reason="LinkedIn comments cannot be hidden",
        )
