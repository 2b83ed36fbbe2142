# SPDX-License-Identifier: AGPL-3.0-or-later
"""Instagram professional accounts through the Instagram Platform (Graph API).

Two ways in, one connector:

- **Instagram API with Instagram Login** (``login="instagram"``, the default): the account
  owner logs in on instagram.com; calls go to ``graph.instagram.com`` with an Instagram
  user token that lasts 60 days and is refreshed with ``ig_refresh_token``.
- **Instagram API with Facebook Login** (``login="facebook"``): the account is linked to a
  Facebook Page; calls go to ``graph.facebook.com`` with that Page's token
  (:meth:`socialdesk.connectors.facebook.FacebookPage.instagram_credentials`).

Publishing is two steps: create a *container* (``POST /{ig-user-id}/media`` with the
media's public URL), wait until its ``status_code`` is ``FINISHED``, then
``POST /{ig-user-id}/media_publish``. A container that was created but not published is
harmless (it expires after 24 hours), so only an uncertain ``media_publish`` needs the
lookup: ``find_published`` reads the account's recent media for our caption.

Graph downloads media from a public URL, so the connector is given a
:data:`~socialdesk.connectors.meta_graph.MediaUrlResolver` (or per post
``options["media_urls"]``).

The inbox: comments and replies on the account's recent media are read from
``GET /{ig-media-id}/comments`` (top-level comments, with their ``replies``) for each of the
:attr:`InstagramConnector.inbox_media_limit` newest media; the cursor
(:class:`~socialdesk.connectors.meta_graph.InboxCursor`) keeps syncs from missing or doubling
an item. Instagram attaches a reply to a reply to the top-level comment, so answers go there.
Mentions (``@account`` in someone's caption or comment) and direct messages arrive by webhook
only (:func:`~socialdesk.connectors.meta_graph.parse_webhook`): a mention webhook carries ids,
which :meth:`InstagramConnector.read_mention` turns into the full item; pulling photo tags
(``/{ig-user-id}/tags``) is not done yet. The API cannot like comments, so ``like`` raises
``Rejected``. A direct message is answered with ``POST /{ig-user-id}/messages`` (within 24
hours of the person's last message) and looked up after an uncertain attempt in
``/{ig-user-id}/conversations?platform=instagram&user_id=``.

``Credentials.extra``: ``ig_user_id`` (required), ``login`` (``instagram`` | ``facebook``),
``page_id`` (informational, Facebook Login), ``base_url`` (optional, tests).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

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
from socialdesk.connectors.meta_graph import (
    GRAPH_API_VERSION,
    INBOX_PAGE_SIZE,
    GraphClient,
    InboxCursor,
    MediaNotReady,
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
    needs_refresh,
    newest_match,
    next_cursor,
    origin_of,
    parent_of,
    parse_graph_time,
    poll_container,
    public_media_urls,
    renewed,
    same_text,
    send_message,
)
from socialdesk.errors import ConnectorError, Rejected, TransientError

logger = logging.getLogger(__name__)

_SOURCE = "https://developers.facebook.com/docs/instagram-platform/content-publishing"
_REFERENCE = (
    "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/"
)

#: Container ``status`` subcodes (error-codes reference) and what a person should read.
_CONTAINER_ERRORS: Mapping[int, str] = {
    2207003: "downloading the media took too long",
    2207004: "the image is larger than 8 MB",
    2207005: "the image format is not supported (Instagram takes JPEG only)",
    2207009: "the aspect ratio is not supported (images: 4:5 to 1.91:1)",
    2207026: "the video format is not supported (MP4 or MOV, H.264 or HEVC, AAC audio)",
    2207052: "Instagram could not fetch the media from its URL",
}
#: Subcodes whose documented remedy is "try again" (a new container).
_CONTAINER_RETRY = frozenset({2207001, 2207003, 2207020, 2207032, 2207053})


class InstagramConnector(Connector):
    network: ClassVar[Network] = Network.INSTAGRAM
    display_name: ClassVar[str] = "Instagram"
    text_rules: ClassVar[TextRules] = TextRules(
        max_length=2_200,
        counting=TextCounting.CODE_POINTS,
        # The API reference says 30 hashtags and 20 @ tags; Instagram has since capped
        # captions at 5 hashtags (announced by @creators, December 2025), so 5 it is.
        max_hashtags=5,
        max_mentions=20,
        source=_REFERENCE + "ig-user/media (caption: 2200 characters, 30 hashtags, 20 @ tags);"
        " Instagram @creators announcement, Dec 2025 (5 hashtags per post)",
        checked="2026-11",
    )
    media_rules: ClassVar[MediaRules] = MediaRules(
        max_items=10,
        image_types=frozenset({"image/jpeg"}),
        video_types=frozenset({"video/mp4", "video/quicktime"}),
        max_image_bytes=8 * 1024 * 1024,
        max_video_bytes=300 * 1024 * 1024,
        max_video_seconds=15 * 60,
        min_video_seconds=3,
        max_image_side=1440,
        # Images must be 4:5 to 1.91:1 but reels are 9:16, and MediaRules has one bound
        # for both kinds, so the bound is left to Instagram (subcode 2207009).
        min_aspect_ratio=None,
        max_aspect_ratio=None,
        max_videos=10,
        mix_images_and_video=True,
        media_required=True,
        source=_SOURCE
        + " (Limitations; JPEG only; carousels of up to 10 items); "
        + _REFERENCE
        + "ig-user/media (image 8 MB, 320-1440 px wide; reels 3 s-15 min, 300 MB)",
        checked="2026-11",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        idempotency=Idempotency.LOOKUP,
        first_comment=True,
        # IG Media has no documented DELETE for apps using Instagram Login.
        delete=False,
    )
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        max_posts=100,
        per_seconds=24 * 3600,
        source=_SOURCE + " (100 API-published posts per 24-hour moving period; a carousel "
        "counts as one); GET /{ig-user-id}/content_publishing_limit tells the live quota",
    )
    default_base_url: ClassVar[str | None] = f"https://graph.instagram.com/{GRAPH_API_VERSION}"
    facebook_base_url: ClassVar[str] = f"https://graph.facebook.com/{GRAPH_API_VERSION}"
    authorize_url: ClassVar[str] = "https://www.instagram.com/oauth/authorize"
    token_url: ClassVar[str] = "https://api.instagram.com/oauth/access_token"  # noqa: S105
    default_scopes: ClassVar[tuple[str, ...]] = (
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_comments",
    )
    #: Short-lived Instagram Login tokens last one hour (no ``expires_in`` is returned).
    short_lived: ClassVar[dt.timedelta] = dt.timedelta(hours=1)
    #: Refresh a long-lived token once it has less than this left (it must be 24 h old).
    refresh_before: ClassVar[dt.timedelta] = dt.timedelta(days=7)
    lookup_limit: ClassVar[int] = 25
    errors: ClassVar[MetaGraphErrorMapper] = MetaGraphErrorMapper("Instagram")
    # Mentions and messages come by webhook only (see the module docstring).
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.COMMENT, InboundKind.REPLY, InboundKind.MENTION, InboundKind.MESSAGE}
    )
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "hide", "delete"})
    #: How many of the account's newest media an inbox sync reads comments of.
    inbox_media_limit: ClassVar[int] = 25
    inbox_page_size: ClassVar[int] = INBOX_PAGE_SIZE
    _reply_fields: ClassVar[str] = "id,text,timestamp,username,from{id,username},parent_id,hidden"
    comment_fields: ClassVar[str] = (
        "id,text,timestamp,username,from{id,username},hidden,like_count,"
        f"replies{{{_reply_fields}}}"
    )

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        media_urls: MediaUrlResolver | None = None,
        poll_interval: float = 3.0,
        poll_give_up: float = 600.0,
    ) -> None:
        self.login = credentials.extra.get("login", "instagram")
        if self.login not in ("instagram", "facebook"):
            raise ValueError("credentials.extra['login'] must be 'instagram' or 'facebook'")
        if base_url is None and not credentials.extra.get("base_url") and self.login == "facebook":
            base_url = self.facebook_base_url
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        user_id = credentials.extra.get("ig_user_id")
        if not user_id:
            raise ValueError("an Instagram channel needs credentials.extra['ig_user_id']")
        self.user_id = user_id
        self.media_urls = media_urls
        self.poll_interval = poll_interval
        self.poll_give_up = poll_give_up
        self._username: str | None = None
        self.graph = GraphClient(
            http=http,
            base_url=self.base_url,
            access_token=credentials.access_token,
            errors=self.errors,
        )

    # --- account ------------------------------------------------------------------------

    async def verify(self) -> AccountInfo:
        body = await self.graph.get(
            self.user_id, {"fields": "id,username,name,profile_picture_url"}
        )
        username = str(body.get("username") or "")
        picture = body.get("profile_picture_url")
        self.channel_extra = {"ig_user_id": self.user_id, "login": self.login}
        return AccountInfo(
            external_id=self.user_id,
            handle=username or self.user_id,
            display_name=str(body.get("name") or ""),
            avatar_url=picture if isinstance(picture, str) else None,
            url=f"https://www.instagram.com/{username}/" if username else None,
        )

    async def publishing_quota(self) -> tuple[int, int]:
        """``(used, total)`` API-published posts in the current 24-hour window."""
        body = await self.graph.get(
            f"{self.user_id}/content_publishing_limit", {"fields": "quota_usage,config"}
        )
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        config = entry.get("config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        limit = self.rate_limit.max_posts if self.rate_limit else 0
        return int(entry.get("quota_usage") or 0), int(total or limit)

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, post: OutboundPost) -> PublishResult:
        if not post.media:
            raise Rejected(
                "an Instagram post needs at least one image or video",
                reason="Instagram posts need media",
            )
        if len(post.media) > self.media_rules.max_items:
            raise Rejected(
                f"an Instagram carousel holds at most {self.media_rules.max_items} items",
                reason="too many media items for Instagram",
            )
        kinds = [_kind(item) for item in post.media]
        urls = await public_media_urls(post, self.media_urls, network="Instagram")
        container_id = await self._container(post, kinds, urls)
        media_id = await self._publish_container(container_id)
        result = PublishResult(external_id=media_id, url=await self._permalink(media_id))
        if post.first_comment:
            try:
                comment_id = await self._comment(media_id, post.first_comment)
            except ConnectorError as exc:
                raise after_first_write(
                    exc, published_id=media_id, what="the first comment"
                ) from exc
            result = dataclasses.replace(result, part_ids=(comment_id,))
        return result

    async def _container(
        self, post: OutboundPost, kinds: Sequence[str], urls: Sequence[str]
    ) -> str:
        caption = post.text or None
        if len(post.media) == 1:
            params = _item_params(post.media[0], kinds[0], urls[0], carousel=False)
            container_id = await self._create({**params, "caption": caption})
        else:
            children = []
            for item, kind, url in zip(post.media, kinds, urls, strict=True):
                child_id = await self._create(_item_params(item, kind, url, carousel=True))
                await self._wait_ready(child_id)
                children.append(child_id)
            container_id = await self._create(
                {"media_type": "CAROUSEL", "children": ",".join(children), "caption": caption}
            )
        await self._wait_ready(container_id)
        return container_id

    async def _create(self, params: Mapping[str, Any]) -> str:
        body = await self.graph.post(f"{self.user_id}/media", params)
        return id_of(body, network="Instagram")

    async def _wait_ready(self, container_id: str) -> None:
        body = await poll_container(
            self.graph,
            container_id,
            fields="status_code,status",
            status_field="status_code",
            interval=self.poll_interval,
            give_up_after=self.poll_give_up,
            what="the media",
        )
        status_code = body.get("status_code")
        if status_code in ("FINISHED", "PUBLISHED"):
            return
        if status_code == "EXPIRED":
            raise TransientError("the Instagram container expired before publishing; will retry")
        detail = str(body.get("status") or "")
        subcode = _subcode(detail)
        if subcode in _CONTAINER_RETRY:
            raise TransientError(f"Instagram could not process the media ({detail}); will retry")
        reason = _CONTAINER_ERRORS.get(subcode or 0) or detail or "Instagram rejected the media"
        raise Rejected(f"Instagram could not process the media: {reason}", reason=reason)

    async def _publish_container(self, container_id: str) -> str:
        for _ in range(3):
            try:
                body = await self.graph.post(
                    f"{self.user_id}/media_publish", {"creation_id": container_id}
                )
            except MediaNotReady:
                # A definite "not published yet": wait for the container and ask again.
                await self._wait_ready(container_id)
                continue
            return id_of(body, network="Instagram")
        raise TransientError("Instagram kept saying the media is not ready; will try again")

    async def _comment(self, media_id: str, text: str) -> str:
        return id_of(
            await self.graph.post(f"{media_id}/comments", {"message": text}), network="Instagram"
        )

    async def _permalink(self, media_id: str) -> str | None:
        try:
            body = await self.graph.get(media_id, {"fields": "permalink"})
        except ConnectorError as exc:
            logger.info("Instagram permalink of %s unavailable: %s", media_id, exc.message)
            return None
        link = body.get("permalink")
        return link if isinstance(link, str) and link else None

    # --- lookup -------------------------------------------------------------------------

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        since = attempted_since(post)
        body = await self.graph.get(
            f"{self.user_id}/media",
            {"fields": "id,caption,timestamp,permalink", "limit": self.lookup_limit},
        )
        data = body.get("data")
        found = newest_match(
            data if isinstance(data, list) else [],
            text=post.text,
            text_field="caption",
            time_field="timestamp",
            since=since,
        )
        if found is None:
            return None
        media_id = str(found["id"])
        link = found.get("permalink")
        result = PublishResult(external_id=media_id, url=link if isinstance(link, str) else None)
        if post.first_comment:
            comment_id = await self._find_or_post_comment(media_id, post.first_comment)
            result = dataclasses.replace(result, part_ids=(comment_id,))
        return result

    async def _find_or_post_comment(self, media_id: str, text: str) -> str:
        me = await self.graph.get(self.user_id, {"fields": "username"})
        body = await self.graph.get(
            f"{media_id}/comments", {"fields": "id,text,username", "limit": 50}
        )
        for comment in body.get("data") or []:
            if (
                isinstance(comment, dict)
                and comment.get("username") == me.get("username")
                and same_text(text, comment.get("text"))
            ):
                return str(comment["id"])
        return await self._comment(media_id, text)

    # --- the inbox ----------------------------------------------------------------------

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        state = InboxCursor.decode(cursor)
        username = await self._own_username()
        media = await self.graph.get(
            f"{self.user_id}/media",
            {"fields": "id,timestamp,comments_count", "limit": self.inbox_media_limit},
        )
        found: list[InboundItem] = []
        for entry in media.get("data") or []:
            if not isinstance(entry, dict) or not entry.get("id"):
                continue
            if entry.get("comments_count") == 0:
                continue
            media_id = str(entry["id"])
            # The edge has no ``since``: every comment is read and the cursor filters.
            comments = await get_all(
                self.graph, f"{media_id}/comments", {"fields": self.comment_fields, "limit": 50}
            )
            for comment in comments:
                found.extend(await self._with_replies(comment, media_id, username))
        return inbox_page(found, state, limit=self.inbox_page_size)

    async def _with_replies(
        self, comment: Mapping[str, Any], media_id: str, username: str
    ) -> list[InboundItem]:
        items = [self._comment_item(comment, media_id, username, parent_id=None)]
        replies = comment.get("replies")
        listed: list[Any] = []
        if isinstance(replies, dict):
            data = replies.get("data")
            listed = data if isinstance(data, list) else []
            if next_cursor(replies) is not None:
                listed = await get_all(
                    self.graph, f"{comment.get('id')}/replies", {"fields": self._reply_fields}
                )
        parent = str(comment.get("id") or "")
        items += [
            self._comment_item(reply, media_id, username, parent_id=parent)
            for reply in listed
            if isinstance(reply, dict)
        ]
        return [item for item in items if item is not None]

    def _comment_item(
        self, comment: Mapping[str, Any], media_id: str, username: str, *, parent_id: str | None
    ) -> InboundItem | None:
        created = parse_graph_time(comment.get("timestamp"))
        if not comment.get("id") or created is None:
            return None
        author = graph_author(comment.get("from"), handle_field="username")
        handle = author.handle or str(comment.get("username") or "")
        author = InboundAuthor(external_id=author.external_id, handle=handle)
        extra = {"media_id": media_id}
        if parent_id:
            extra["parent_id"] = parent_id
        if comment.get("hidden") is True:
            extra["hidden"] = "true"
        return InboundItem(
            external_id=str(comment["id"]),
            kind=InboundKind.REPLY if parent_id else InboundKind.COMMENT,
            author=author,
            text=str(comment.get("text") or ""),
            created_at=created,
            conversation_id=media_id,
            in_reply_to=parent_id or media_id,
            our_post_id=media_id,
            from_us=author.external_id == self.user_id or (bool(handle) and handle == username),
            extra=extra,
        )

    async def _own_username(self) -> str:
        if self._username is None:
            body = await self.graph.get(self.user_id, {"fields": "username"})
            self._username = str(body.get("username") or "")
        return self._username

    async def read_mention(self, item: InboundItem) -> InboundItem:
        """The full mention behind a ``mentions`` webhook item (which carries ids only).

        ``GET /{ig-user-id}?fields=mentioned_comment.comment_id(...)`` for a comment that
        names the account, ``mentioned_media.media_id(...)`` for a caption.
        """
        media_id = item.extra.get("media_id") or item.conversation_id
        comment_id = item.extra.get("comment_id")
        if comment_id:
            field = f"mentioned_comment.comment_id({comment_id}){{id,text,timestamp,username}}"
            key, text_field = "mentioned_comment", "text"
        else:
            field = (
                f"mentioned_media.media_id({media_id}){{id,caption,timestamp,username,permalink}}"
            )
            key, text_field = "mentioned_media", "caption"
        body = await self.graph.get(self.user_id, {"fields": field})
        found = body.get(key)
        if not isinstance(found, dict):
            raise Rejected(f"Instagram no longer shows the mention {item.external_id}")
        username = str(found.get("username") or "")
        link = found.get("permalink")
        return InboundItem(
            external_id=item.external_id,
            kind=InboundKind.MENTION,
            # A mention gives the author's username, not their id: it stands for the id
            # (so the inbox keeps one contact per mentioning account).
            author=InboundAuthor(external_id=f"@{username}" if username else "", handle=username),
            text=str(found.get(text_field) or ""),
            created_at=parse_graph_time(found.get("timestamp")) or item.created_at,
            conversation_id=item.conversation_id,
            url=link if isinstance(link, str) else None,
            in_reply_to=item.in_reply_to,
            extra={k: v for k, v in item.extra.items() if k != "partial"},
        )

    async def complete_pushed(self, item: InboundItem) -> InboundItem:
        return await self.read_mention(item) if item.extra.get("partial") else item

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        if to.kind is InboundKind.MESSAGE:
            mid = await send_message(
                self.graph, self.user_id, to.conversation_id, post.text, messaging_type=None
            )
            return PublishResult(external_id=mid)
        target = self._reply_parent(to)
        body = await self.graph.post(f"{target}/replies", {"message": post.text})
        return PublishResult(external_id=id_of(body, network="Instagram"))

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        if to.kind is InboundKind.MESSAGE:
            mid = await find_sent_message(
                self.graph,
                self.user_id,
                platform="instagram",
                recipient_id=to.conversation_id,
                own_id=self.user_id,
                text=post.text,
                since=attempted_since(post),
            )
            return PublishResult(external_id=mid) if mid else None
        target = self._reply_parent(to)
        username = await self._own_username()
        replies = await get_all(
            self.graph, f"{target}/replies", {"fields": "id,text,timestamp,username,from{id}"}
        )
        ours = [
            r
            for r in replies
            if r.get("username") == username
            or (isinstance(r.get("from"), dict) and str(r["from"].get("id")) == self.user_id)
        ]
        found = newest_match(
            ours,
            text=post.text,
            text_field="text",
            time_field="timestamp",
            since=attempted_since(post),
        )
        return PublishResult(external_id=str(found["id"])) if found is not None else None

    def _reply_parent(self, to: ReplyTarget) -> str:
        if to.kind is InboundKind.MENTION and not to.extra.get("comment_id"):
            raise Rejected(
                "a mention in someone's caption can only be answered with a comment on "
                "their post, which the API does not allow here",
                reason="Instagram caption mentions cannot be answered",
            )
        return parent_of(to.kind, to.external_id, to.extra)

    async def like(self, item_id: str) -> None:
        raise Rejected(
            "Instagram's API cannot like comments; like it in the Instagram app",
            reason="Instagram comments cannot be liked through its API",
        )

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        body = await self.graph.post(item_id, {"hide": hidden})
        if body.get("success") is not True:
            raise Rejected(f"Instagram did not confirm hiding comment {item_id}")

    async def delete_item(self, item_id: str) -> None:
        body = await self.graph.delete(item_id)
        if body.get("success") is not True:
            raise Rejected(f"Instagram did not confirm deleting comment {item_id}")

    # --- OAuth (Instagram Login) --------------------------------------------------------

    @classmethod
    def authorization_url(
        cls,
        app: MetaApp,
        *,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str] | None = None,
        authorize_url: str | None = None,
    ) -> str:
        query = {
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes or cls.default_scopes),
            "state": state,
        }
        return f"{authorize_url or cls.authorize_url}?{urllib.parse.urlencode(query)}"

    @classmethod
    async def exchange_code(
        cls,
        http: httpx.AsyncClient,
        app: MetaApp,
        *,
        code: str,
        redirect_uri: str,
        token_url: str | None = None,
    ) -> Credentials:
        """The code from the authorization window -> a short-lived (1 h) user token."""
        graph = GraphClient(
            http=http,
            base_url="",
            access_token=None,
            errors=cls.errors,
            secrets=(app.client_secret, code),
        )
        body = await graph.post(
            token_url or cls.token_url,
            {
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        # Newer answers wrap the token in {"data": [...]}; older ones are flat.
        data = body.get("data")
        entry: Mapping[str, Any] = (
            data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else body
        )
        token = access_token_of(entry, network=cls.display_name)
        user_id = entry.get("user_id")
        if user_id in (None, ""):
            raise Rejected("Instagram answered the token exchange without the account id")
        return Credentials(
            access_token=token,
            expires_at=expires_at(entry) or dt.datetime.now(dt.UTC) + cls.short_lived,
            extra={"ig_user_id": str(user_id), "login": "instagram"},
        )

    @classmethod
    async def exchange_long_lived(
        cls,
        http: httpx.AsyncClient,
        app: MetaApp,
        credentials: Credentials,
        *,
        base_url: str | None = None,
    ) -> Credentials:
        """A short-lived Instagram user token -> a long-lived one (60 days)."""
        token = credentials.access_token
        graph = GraphClient(
            http=http,
            base_url=origin_of(base_url or cls.default_base_url or ""),
            access_token=None,
            errors=cls.errors,
            secrets=(app.client_secret, token),
        )
        body = await graph.get(
            "access_token",
            {
                "grant_type": "ig_exchange_token",
                "client_secret": app.client_secret,
                "access_token": token,
            },
        )
        return renewed(credentials, body, network=cls.display_name)

    async def refresh_credentials(self) -> Credentials | None:
        """Refresh an Instagram Login token that nears its end (Page tokens never expire)."""
        if self.login != "instagram" or not needs_refresh(
            self.credentials.expires_at, before=self.refresh_before
        ):
            return None
        token = self.credentials.access_token
        graph = GraphClient(
            http=self.http,
            base_url=origin_of(self.base_url),
            access_token=None,
            errors=self.errors,
            secrets=(token,),
        )
        body = await graph.get(
            "refresh_access_token", {"grant_type": "ig_refresh_token", "access_token": token}
        )
        return renewed(self.credentials, body, network=self.display_name)


def _kind(item: MediaItem) -> str:
    if item.mime_type == "image/jpeg":
        return "image"
    if item.mime_type in InstagramConnector.media_rules.video_types:
        return "video"
    raise Rejected(
        f"Instagram does not take {item.mime_type} ({item.path.name}); use JPEG images, "
        "MP4 or MOV videos",
        reason=f"{item.mime_type} is not supported by Instagram",
    )


def _item_params(item: MediaItem, kind: str, url: str, *, carousel: bool) -> dict[str, Any]:
    if kind == "image":
        params: dict[str, Any] = {"image_url": url}
        if item.alt_text:
            params["alt_text"] = item.alt_text
    elif carousel:
        params = {"media_type": "VIDEO", "video_url": url}
    else:
        # Every feed video published through the API is a reel (since July 2023).
        params = {"media_type": "REELS", "video_url": url, "share_to_feed": True}
    if carousel:
        params["is_carousel_item"] = True
    return params


_SUBCODE = re.compile(r"\b(22\d{5})\b")


def _subcode(status: str) -> int | None:
    match = _SUBCODE.search(status)
    return int(match.group(1)) if match else None


__all__ = ["InstagramConnector"]
