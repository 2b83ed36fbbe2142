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

The inbox: comments and replies on the Page's recent posts are read with
``GET /{post-id}/comments?filter=stream&order=chronological&since=...`` for each of the
:attr:`FacebookConnector.inbox_post_limit` newest posts (``GET /{page-id}/published_posts``);
the cursor (:class:`~socialdesk.connectors.meta_graph.InboxCursor`) re-reads a short overlap
and remembers the ids in it, so nothing is missed or returned twice. Comments on older posts,
and Messenger messages, arrive by webhook (:func:`~socialdesk.connectors.meta_graph.parse_webhook`):
reading ``/{page-id}/conversations`` needs ``pages_messaging`` with Advanced Access and would
only repeat what the ``messages`` webhook already delivers. Facebook nests comments one level
deep, so an answer to a reply goes to its top-level comment, as Facebook's own apps do.
A Messenger message is answered with the Send API (``POST /{page-id}/messages``,
``messaging_type=RESPONSE``: within 24 hours of the person's last message, else ``Rejected``)
and looked up after an uncertain attempt in ``/{page-id}/conversations?user_id=``.

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
    InboundItem,
    InboundKind,
    InboxPage,
    MediaItem,
    MediaRules,
    Network,
    OutboundPost,
    PublishResult,
    ReplyTarget,
    TextCounting,
    TextRules,
)
from socialdesk.connectors.meta_graph import (
    GRAPH_API_VERSION,
    INBOX_PAGE_SIZE,
    GraphClient,
    InboxCursor,
    MediaUrlResolver,
    MetaApp,
    MetaGraphErrorMapper,
    access_token_of,
    after_first_write,
    attempted_since,
    expires_at,
    find_sent_message,
    get_all,
    graph_author,
    id_of,
    inbox_page,
    newest_match,
    next_cursor,
    parent_of,
    parse_graph_time,
    public_media_urls,
    same_text,
    send_message,
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
    # Messages come by webhook only (see the module docstring).
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.COMMENT, InboundKind.REPLY, InboundKind.MESSAGE}
    )
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "like", "hide", "delete"})
    #: How many of the Page's newest posts an inbox sync reads comments of.
    inbox_post_limit: ClassVar[int] = 25
    #: The most items one ``fetch_inbox`` returns (``more`` says when others wait).
    inbox_page_size: ClassVar[int] = INBOX_PAGE_SIZE
    #: ``from`` needs ``pages_read_user_content``; without it Facebook leaves it out.
    comment_fields: ClassVar[str] = (
        "id,message,created_time,from{id,name,picture},parent{id},permalink_url,is_hidden"
    )

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

    # --- the inbox ----------------------------------------------------------------------

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        state = InboxCursor.decode(cursor)
        read_from = state.read_from
        posts = await self.graph.get(
            f"{self.page_id}/published_posts",
            {"fields": "id,created_time", "limit": self.inbox_post_limit},
        )
        found: list[InboundItem] = []
        for post in posts.get("data") or []:
            if not isinstance(post, dict) or not post.get("id"):
                continue
            post_id = str(post["id"])
            comments = await get_all(
                self.graph,
                f"{post_id}/comments",
                {
                    "fields": self.comment_fields,
                    "filter": "stream",
                    "order": "chronological",
                    "since": int(read_from.timestamp()) if read_from else None,
                    "limit": 100,
                },
            )
            found.extend(
                item for c in comments if (item := self._comment_item(c, post_id)) is not None
            )
        return inbox_page(found, state, limit=self.inbox_page_size)

    def _comment_item(self, comment: Mapping[str, Any], post_id: str) -> InboundItem | None:
        created = parse_graph_time(comment.get("created_time"))
        if not comment.get("id") or created is None:
            return None
        parent = comment.get("parent")
        parent_id = str(parent["id"]) if isinstance(parent, dict) and parent.get("id") else None
        author = graph_author(comment.get("from"))
        extra = {"post_id": post_id}
        if parent_id:
            extra["parent_id"] = parent_id
        if comment.get("is_hidden") is True:
            extra["hidden"] = "true"
        link = comment.get("permalink_url")
        return InboundItem(
            external_id=str(comment["id"]),
            kind=InboundKind.REPLY if parent_id else InboundKind.COMMENT,
            author=author,
            text=str(comment.get("message") or ""),
            created_at=created,
            conversation_id=post_id,
            url=link if isinstance(link, str) and link else None,
            in_reply_to=parent_id or post_id,
            our_post_id=post_id,
            from_us=author.external_id == self.page_id,
            extra=extra,
        )

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        if to.kind is InboundKind.MESSAGE:
            mid = await send_message(self.graph, self.page_id, to.conversation_id, post.text)
            return PublishResult(external_id=mid)
        target = parent_of(to.kind, to.external_id, to.extra)
        comment_id = await self._comment(target, post.text)
        return PublishResult(external_id=comment_id, url=await self._permalink(comment_id))

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        since = attempted_since(post)
        if to.kind is InboundKind.MESSAGE:
            mid = await find_sent_message(
                self.graph,
                self.page_id,
                platform="messenger",
                recipient_id=to.conversation_id,
                own_id=self.page_id,
                text=post.text,
                since=since,
            )
            return PublishResult(external_id=mid) if mid else None
        target = parent_of(to.kind, to.external_id, to.extra)
        comments = await self.graph.get(
            f"{target}/comments",
            {
                "fields": "id,message,created_time,from{id},permalink_url",
                "filter": "toplevel",
                "order": "reverse_chronological",
                "limit": 100,
            },
        )
        ours = [
            c
            for c in comments.get("data") or []
            if isinstance(c, dict)
            and isinstance(c.get("from"), dict)
            and str(c["from"].get("id")) == self.page_id
        ]
        found = newest_match(
            ours, text=post.text, text_field="message", time_field="created_time", since=since
        )
        if found is None:
            return None
        link = found.get("permalink_url")
        return PublishResult(
            external_id=str(found["id"]), url=link if isinstance(link, str) else None
        )

    async def like(self, item_id: str) -> None:
        self._confirm(await self.graph.post(f"{item_id}/likes"), "liking", item_id)

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        body = await self.graph.post(item_id, {"is_hidden": hidden})
        self._confirm(body, "hiding" if hidden else "unhiding", item_id)

    async def delete_item(self, item_id: str) -> None:
        self._confirm(await self.graph.delete(item_id), "deleting", item_id)

    @staticmethod
    def _confirm(body: Mapping[str, Any], doing: str, item_id: str) -> None:
        if body.get("success") is not True:
            raise Rejected(f"Facebook did not confirm {doing} comment {item_id}")

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
            after = next_cursor(body)
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


__all__ = ["FacebookConnector", "FacebookPage"]
