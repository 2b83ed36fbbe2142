# SPDX-License-Identifier: AGPL-3.0-or-later
"""Facebook Pages through the Graph API: everything socialdesk knows about Facebook.

A channel is one Page, reached with a *Page* access token. Connecting runs Facebook Login
in a browser (:meth:`FacebookConnector.authorization_url`), exchanges the code for a user
token, makes it long-lived, and lists the Pages the person manages
(:meth:`FacebookConnector.list_pages`); a Page token obtained from a long-lived user token has
no expiry date, so there is nothing to refresh.

Publishing: text and link posts go to ``POST /{page-id}/feed``; one photo to
``POST /{page-id}/photos``; several photos are uploaded unpublished and attached to one
feed post (``attached_media``); a video goes to ``POST /{page-id}/videos``. Media is
passed by URL where a public URL is known, else uploaded as ``source``. Facebook has no
idempotency key, so an uncertain publish is resolved by looking the post up among the
Page's recent posts (``GET /{page-id}/published_posts``).

``Credentials.extra``: ``page_id`` (required), ``base_url`` (optional, tests).
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

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
    TextCounting,
    TextRules,
)
from socialdesk.connectors.meta_graph import (
    GRAPH_API_VERSION,
    GraphClient,
    MediaUrlResolver,
    MetaApp,
    MetaGraphErrorMapper,
    access_token_of,
    after_first_write,
    attempted_since,
    expires_at,
    id_of,
    newest_match,
    public_media_urls,
    same_text,
)
from socialdesk.errors import ConnectorError, Rejected

logger = logging.getLogger(__name__)

_WEB = "https://www.facebook.com"


@dataclass(frozen=True, slots=True)
class FacebookPage:
    """A Page the person who logged in manages, with the credentials of its channel."""

    page_id: str
    name: str
    credentials: Credentials
    tasks: tuple[str, ...] = ()
    #: The Instagram professional account linked to the Page, if any.
    instagram_user_id: str | None = None
    instagram_username: str | None = None

    def instagram_credentials(self) -> Credentials | None:
        """Credentials for the linked Instagram account (Instagram API with Facebook Login)."""
        if not self.instagram_user_id:
            return None
        return Credentials(
            access_token=self.credentials.access_token,
            extra={
                "ig_user_id": self.instagram_user_id,
                "login": "facebook",
                "page_id": self.page_id,
            },
        )


class FacebookConnector(Connector):
    network: ClassVar[Network] = Network.FACEBOOK
    display_name: ClassVar[str] = "Facebook"
    text_rules: ClassVar[TextRules] = TextRules(
        max_length=63_206,
        counting=TextCounting.CODE_POINTS,
        source="Facebook Help Center: posts are limited to 63,206 characters",
        checked="2026-11",
    )
    media_rules: ClassVar[MediaRules] = MediaRules(
        # attached_media has no documented cap; 10 is our own conservative limit.
        max_items=10,
        image_types=frozenset(
            {"image/jpeg", "image/png", "image/gif", "image/tiff", "image/heif", "image/webp"}
        ),
        video_types=frozenset({"video/mp4", "video/quicktime"}),
        max_image_bytes=4 * 1024 * 1024,
        # Non-resumable upload through /{page-id}/videos: 1 GB and 20 minutes.
        max_video_bytes=1024 * 1024 * 1024,
        max_video_seconds=20 * 60,
        max_videos=1,
        mix_images_and_video=False,
        source=(
            "https://developers.facebook.com/docs/pages-api/posts (photo: under 4 MB, "
            "JPG/PNG/GIF/TIFF/HEIF/WebP); https://developers.facebook.com/docs/video-api"
        ),
        checked="2026-11",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        idempotency=Idempotency.LOOKUP, first_comment=True, delete=True, link_card=True
    )
    default_base_url: ClassVar[str | None] = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
    dialog_url: ClassVar[str] = f"https://www.facebook.com/{GRAPH_API_VERSION}/dialog/oauth"
    #: Publishing as the Page, and commenting as the Page for the first comment.
    default_scopes: ClassVar[tuple[str, ...]] = (
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts",
        "pages_manage_engagement",
    )
    #: How many recent posts a lookup reads (the attempt is minutes old at most).
    lookup_limit: ClassVar[int] = 25
    errors: ClassVar[MetaGraphErrorMapper] = MetaGraphErrorMapper("Facebook")

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        media_urls: MediaUrlResolver | None = None,
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        page_id = credentials.extra.get("page_id")
        if not page_id:
            raise ValueError("a Facebook channel needs credentials.extra['page_id']")
        self.page_id = page_id
        self.media_urls = media_urls
        self.graph = GraphClient(
            http=http,
            base_url=self.base_url,
            access_token=credentials.access_token,
            errors=self.errors,
        )

    # --- account ------------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        body = await self.graph.get(self.page_id, {"fields": "id,name,username,link,picture"})
        page_id = str(body.get("id") or self.page_id)
        self.channel_extra = {"page_id": page_id}
        picture = body.get("picture")
        avatar = None
        if isinstance(picture, dict) and isinstance(picture.get("data"), dict):
            avatar = picture["data"].get("url")
        return AccountInfo(
            external_id=page_id,
            handle=str(body.get("username") or page_id),
            display_name=str(body.get("name") or ""),
            avatar_url=avatar if isinstance(avatar, str) else None,
            url=str(body.get("link") or f"{_WEB}/{page_id}"),
        )

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, post: OutboundPost) -> PublishResult:
        images = [m for m in post.media if m.mime_type.startswith("image/")]
        videos = [m for m in post.media if m.mime_type.startswith("video/")]
        if len(images) + len(videos) != len(post.media):
            raise Rejected("Facebook posts take images or one video", reason="unsupported media")
        if videos and (images or len(videos) > 1):
            raise Rejected(
                "a Facebook post has either photos or one video",
                reason="photos and video cannot be mixed on Facebook",
            )
        sources = await self._sources(post)
        if videos:
            result = await self._publish_video(post, sources[0])
        elif len(images) == 1:
            result = await self._publish_photo(post, sources[0])
        elif images:
            result = await self._publish_album(post, sources)
        else:
            result = await self._publish_feed(post, {})
        if post.first_comment:
            try:
                comment_id = await self._comment(result.external_id, post.first_comment)
            except ConnectorError as exc:
                raise after_first_write(
                    exc, published_id=result.external_id, what="the first comment"
                ) from exc
            result = dataclasses.replace(result, part_ids=(comment_id,))
        return result

    async def _sources(self, post: OutboundPost) -> list[_Source]:
        if not post.media:
            return []
        if "media_urls" in post.options or self.media_urls is not None:
            urls = await public_media_urls(post, self.media_urls, network="Facebook")
            return [_Source(item=item, url=url) for item, url in zip(post.media, urls, strict=True)]
        # Facebook also takes the file itself, so no public URL is needed.
        return [_Source(item=item, url=None) for item in post.media]

    async def _publish_feed(self, post: OutboundPost, extra: Mapping[str, Any]) -> PublishResult:
        data: dict[str, Any] = {"message": post.text or None, "link": post.link, **extra}
        body = await self.graph.post(f"{self.page_id}/feed", data)
        post_id = _fb_id(body)
        return PublishResult(external_id=post_id, url=await self._permalink(post_id))

    async def _publish_photo(self, post: OutboundPost, source: _Source) -> PublishResult:
        data = {"caption": post.text or None, "published": True, **_alt(source.item)}
        body = await self._upload(f"{self.page_id}/photos", source, "url", data)
        post_id = str(body.get("post_id") or _fb_id(body))
        return PublishResult(external_id=post_id, url=await self._permalink(post_id))

    async def _publish_album(self, post: OutboundPost, sources: Sequence[_Source]) -> PublishResult:
        # Unpublished photos are invisible; if this attempt fails they stay unattached.
        photo_ids = []
        for source in sources:
            data = {"published": False, **_alt(source.item)}
            photo_ids.append(
                _fb_id(await self._upload(f"{self.page_id}/photos", source, "url", data))
            )
        attached = {
            f"attached_media[{i}]": {"media_fbid": photo_id} for i, photo_id in enumerate(photo_ids)
        }
        return await self._publish_feed(post, attached)

    async def _publish_video(self, post: OutboundPost, source: _Source) -> PublishResult:
        data = {"description": post.text or None}
        body = await self._upload(f"{self.page_id}/videos", source, "file_url", data)
        video_id = _fb_id(body)
        return PublishResult(external_id=video_id, url=await self._permalink(video_id))

    async def _upload(
        self, path: str, source: _Source, url_param: str, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        if source.url is not None:
            return await self.graph.post(path, {**data, url_param: source.url})
        try:
            content = await anyio.Path(source.item.path).read_bytes()
        except OSError as exc:
            raise Rejected(
                f"cannot read {source.item.path.name} from the media library",
                reason="media file missing",
            ) from exc
        files = {"source": (source.item.path.name, content, source.item.mime_type)}
        return await self.graph.post(path, data, files=files)

    async def _comment(self, object_id: str, text: str) -> str:
        return _fb_id(await self.graph.post(f"{object_id}/comments", {"message": text}))

    async def _permalink(self, object_id: str) -> str | None:
        """The post's URL; a failure here must not turn a published post into an error."""
        try:
            body = await self.graph.get(object_id, {"fields": "permalink_url"})
        except ConnectorError as exc:
            logger.info("Facebook permalink of %s unavailable: %s", object_id, exc.message)
            return None
        link = body.get("permalink_url")
        if not isinstance(link, str) or not link:
            return None
        return _WEB + link if link.startswith("/") else link

    # --- lookup, delete -----------------------------------------------------------------

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        since = attempted_since(post)
        is_video = any(m.mime_type.startswith("video/") for m in post.media)
        edge, text_field, time_field = (
            ("videos", "description", "created_time")
            if is_video
            else ("published_posts", "message", "created_time")
        )
        body = await self.graph.get(
            f"{self.page_id}/{edge}",
            {
                "fields": f"id,{text_field},{time_field},permalink_url",
                "since": int(since.timestamp()),
                "limit": self.lookup_limit,
            },
        )
        data = body.get("data")
        found = newest_match(
            data if isinstance(data, list) else [],
            text=post.text,
            text_field=text_field,
            time_field=time_field,
            since=since,
        )
        if found is None:
            return None
        external_id = str(found["id"])
        link = found.get("permalink_url")
        url = (_WEB + link if link.startswith("/") else link) if isinstance(link, str) else None
        result = PublishResult(external_id=external_id, url=url)
        if post.first_comment:
            comment_id = await self._find_or_post_comment(external_id, post.first_comment)
            result = dataclasses.replace(result, part_ids=(comment_id,))
        return result

    async def _find_or_post_comment(self, object_id: str, text: str) -> str:
        body = await self.graph.get(
            f"{object_id}/comments", {"fields": "id,message,from", "limit": 50}
        )
        for comment in body.get("data") or []:
            author = comment.get("from") if isinstance(comment, dict) else None
            if (
                isinstance(author, dict)
                and str(author.get("id")) == self.page_id
                and same_text(text, comment.get("message"))
            ):
                return str(comment["id"])
        # The post exists and its first comment does not: adding it is the only way on.
        return await self._comment(object_id, text)

    async def delete(self, external_id: str) -> None:
        body = await self.graph.delete(external_id)
        if body.get("success") is not True:
            raise Rejected(f"Facebook did not confirm deleting {external_id}")

    # --- OAuth (Facebook Login) ---------------------------------------------------------

    @classmethod
    def authorization_url(
        cls,
        app: MetaApp,
        *,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str] | None = None,
        dialog_url: str | None = None,
    ) -> str:
        query = {
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(scopes or cls.default_scopes),
        }
        return f"{dialog_url or cls.dialog_url}?{urllib.parse.urlencode(query)}"

    @classmethod
    async def exchange_code(
        cls,
        http: httpx.AsyncClient,
        app: MetaApp,
        *,
        code: str,
        redirect_uri: str,
        base_url: str | None = None,
    ) -> Credentials:
        """The code from the login dialog -> a (short-lived) user access token."""
        graph = cls._oauth_graph(http, base_url, secrets=(app.client_secret, code))
        body = await graph.get(
            "oauth/access_token",
            {
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        return Credentials(
            access_token=access_token_of(body, network=cls.display_name),
            expires_at=expires_at(body),
        )

    @classmethod
    async def exchange_long_lived(
        cls,
        http: httpx.AsyncClient,
        app: MetaApp,
        user_credentials: Credentials,
        *,
        base_url: str | None = None,
    ) -> Credentials:
        """A short-lived user token -> a long-lived one (about 60 days)."""
        token = user_credentials.access_token
        graph = cls._oauth_graph(http, base_url, secrets=(app.client_secret, token))
        body = await graph.get(
            "oauth/access_token",
            {
                "grant_type": "fb_exchange_token",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "fb_exchange_token": token,
            },
        )
        return Credentials(
            access_token=access_token_of(body, network=cls.display_name),
            refresh_token=user_credentials.refresh_token,
            expires_at=expires_at(body),
            extra=dict(user_credentials.extra),
        )

    @classmethod
    async def list_pages(
        cls,
        http: httpx.AsyncClient,
        user_credentials: Credentials,
        *,
        base_url: str | None = None,
        max_pages: int = 20,
    ) -> list[FacebookPage]:
        """The Pages the user manages, each with a Page token (from ``GET /me/accounts``)."""
        graph = GraphClient(
            http=http,
            base_url=base_url or cls.default_base_url or "",
            access_token=user_credentials.access_token,
            errors=cls.errors,
        )
        pages: list[FacebookPage] = []
        params: dict[str, Any] = {
            "fields": "id,name,access_token,tasks,instagram_business_account{id,username}",
            "limit": 100,
        }
        for _ in range(max_pages):
            body = await graph.get("me/accounts", params)
            for entry in body.get("data") or []:
                if isinstance(entry, dict) and entry.get("access_token") and entry.get("id"):
                    pages.append(_page_of(entry))
            after = _next_cursor(body)
            if after is None:
                break
            params = {**params, "after": after}
        return pages

    @classmethod
    def _oauth_graph(
        cls, http: httpx.AsyncClient, base_url: str | None, *, secrets: Sequence[str]
    ) -> GraphClient:
        return GraphClient(
            http=http,
            base_url=base_url or cls.default_base_url or "",
            access_token=None,
            errors=cls.errors,
            secrets=secrets,
        )

    async def refresh_credentials(self) -> Credentials | None:
        # A Page token made from a long-lived user token never expires; when Facebook
        # invalidates it (password change, removed role) only reconnecting helps.
        return None


@dataclass(frozen=True, slots=True)
class _Source:
    item: MediaItem
    url: str | None


def _alt(item: MediaItem) -> dict[str, Any]:
    return {"alt_text_custom": item.alt_text} if item.alt_text else {}


def _fb_id(body: Mapping[str, Any]) -> str:
    return id_of(body, network="Facebook")


def _page_of(entry: Mapping[str, Any]) -> FacebookPage:
    page_id = str(entry["id"])
    instagram = entry.get("instagram_business_account")
    tasks = entry.get("tasks")
    return FacebookPage(
        page_id=page_id,
        name=str(entry.get("name") or ""),
        # Page tokens from a long-lived user token have no expiry (expires_at None).
        credentials=Credentials(
            access_token=str(entry["access_token"]), extra={"page_id": page_id}
        ),
        tasks=tuple(str(t) for t in tasks) if isinstance(tasks, list) else (),
        instagram_user_id=str(instagram["id"]) if isinstance(instagram, dict) else None,
        instagram_username=(
            str(instagram.get("username")) if isinstance(instagram, dict) else None
        ),
    )


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


__all__ = ["FacebookConnector", "FacebookPage"]
