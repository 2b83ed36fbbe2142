# SPDX-License-Identifier: AGPL-3.0-or-later
"""Threads through the Threads API (``graph.threads.net``).

Publishing is two steps, like Instagram: ``POST /{threads-user-id}/threads`` makes a
container (``media_type`` TEXT, IMAGE, VIDEO or CAROUSEL), its ``status`` goes from
``IN_PROGRESS`` to ``FINISHED``, then ``POST /{threads-user-id}/threads_publish`` makes it
a post. A thread (reply chain) is each further part published with ``reply_to_id`` set to
the part before it.

There is no idempotency key. An uncertain ``threads_publish`` is resolved by
``find_published``, which reads the account's recent posts for our text and walks our own
replies down the chain; parts that are missing after the root exists are published then,
so a retry never repeats the root.

Tokens: a short-lived token (1 hour) from the authorization code, exchanged for a
long-lived one (60 days) that is refreshed with ``th_refresh_token`` while still valid.

The inbox: replies at every depth under the account's recent posts are read from
``GET /{media-id}/conversation`` (``reverse=false``, oldest first) for each of the
:attr:`ThreadsConnector.inbox_post_limit` newest posts; mentions from
``GET /{threads-user-id}/mentions`` when the channel was authorised with
``threads_manage_mentions`` (``Credentials.extra["threads_mentions"] == "true"``; without
advanced access Meta returns only mentions by the app's testers; source:
https://developers.facebook.com/docs/threads/threads-mentions, checked 2026-11). The cursor
(:class:`~socialdesk.connectors.meta_graph.InboxCursor`) keeps syncs from missing or doubling
a reply. A reply is published like a post (container with ``reply_to_id``, then
``threads_publish``) and looked up among the target's replies after an uncertain attempt.
Replies can be hidden (``POST /{reply-id}/manage_reply``); the API cannot like them, nor
delete someone else's reply, so those raise ``Rejected``.

``Credentials.extra``: ``threads_user_id`` (learned by ``verify()`` if missing),
``threads_mentions`` (``"true"`` to read mentions), ``base_url`` (optional, tests).
"""

from __future__ import annotations

import datetime as dt
import logging
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
    get_all,
    id_of,
    inbox_page,
    needs_refresh,
    newest_match,
    origin_of,
    parse_graph_time,
    poll_container,
    public_media_urls,
    renewed,
    same_text,
)
from socialdesk.errors import ConnectorError, Rejected, TransientError

logger = logging.getLogger(__name__)

_DOCS = "https://developers.facebook.com/docs/threads/"


class ThreadsConnector(Connector):
    network: ClassVar[Network] = Network.THREADS
    display_name: ClassVar[str] = "Threads"
    text_rules: ClassVar[TextRules] = TextRules(
        max_length=500,
        # The docs count emoji as their UTF-8 byte length; TextCounting has no such
        # mode yet, so code points under-count emoji-heavy texts.
        counting=TextCounting.CODE_POINTS,
        # One topic tag per post; at most 5 links per post (not expressible here).
        max_hashtags=1,
        source=_DOCS + "posts (Limitations: 500 characters; emoji count as UTF-8 bytes; "
        "5 links); topic tags: one per post",
        checked="2026-11",
    )
    media_rules: ClassVar[MediaRules] = MediaRules(
        max_items=20,
        image_types=frozenset({"image/jpeg", "image/png"}),
        video_types=frozenset({"video/mp4", "video/quicktime"}),
        max_image_bytes=8 * 1024 * 1024,
        max_video_bytes=1024 * 1024 * 1024,
        max_video_seconds=5 * 60,
        max_image_side=1440,
        min_aspect_ratio=0.1,
        max_aspect_ratio=10.0,
        max_videos=20,
        mix_images_and_video=True,
        source=_DOCS + "overview#media-specifications (images JPEG/PNG 8 MB, 320-1440 px "
        "wide, aspect ratio up to 10:1; video MOV/MP4 1 GB, 5 min); carousels 2-20 items",
        checked="2026-11",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        idempotency=Idempotency.LOOKUP, threads=True, delete=True
    )
    rate_limit: ClassVar[RateLimit | None] = RateLimit(
        max_posts=250,
        per_seconds=24 * 3600,
        source=_DOCS + "troubleshooting (250 API-published posts and 1,000 replies per "
        "24 hours; GET /{threads-user-id}/threads_publishing_limit tells the live quota)",
    )
    default_base_url: ClassVar[str | None] = "https://graph.threads.net/v1.0"
    authorize_url: ClassVar[str] = "https://threads.net/oauth/authorize"
    default_scopes: ClassVar[tuple[str, ...]] = (
        "threads_basic",
        "threads_content_publish",
        "threads_manage_replies",
        "threads_read_replies",
        "threads_delete",
    )
    short_lived: ClassVar[dt.timedelta] = dt.timedelta(hours=1)
    refresh_before: ClassVar[dt.timedelta] = dt.timedelta(days=7)
    lookup_limit: ClassVar[int] = 25
    errors: ClassVar[MetaGraphErrorMapper] = MetaGraphErrorMapper("Threads")
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset(
        {InboundKind.REPLY, InboundKind.MENTION}
    )
    inbox_actions: ClassVar[frozenset[str]] = frozenset({"reply", "hide"})
    #: How many of the account's newest posts an inbox sync reads the conversation of.
    inbox_post_limit: ClassVar[int] = 25
    inbox_page_size: ClassVar[int] = INBOX_PAGE_SIZE
    reply_fields: ClassVar[str] = (
        "id,text,username,permalink,timestamp,replied_to,root_post,is_reply_owned_by_me,hide_status"
    )

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        credentials: Credentials,
        base_url: str | None = None,
        media_urls: MediaUrlResolver | None = None,
        poll_interval: float = 2.0,
        poll_give_up: float = 300.0,
    ) -> None:
        super().__init__(http=http, credentials=credentials, base_url=base_url)
        # "me" works on every user edge; verify() learns the numeric id for the channel.
        self.user_id = credentials.extra.get("threads_user_id") or "me"
        self.media_urls = media_urls
        self.poll_interval = poll_interval
        self.poll_give_up = poll_give_up
        self.read_mentions = credentials.extra.get("threads_mentions") == "true"
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
            "me", {"fields": "id,username,name,threads_profile_picture_url"}
        )
        username = str(body.get("username") or "")
        picture = body.get("threads_profile_picture_url")
        user_id = str(body.get("id") or self.user_id)
        self.user_id = user_id
        self.channel_extra = {"threads_user_id": user_id}
        return AccountInfo(
            external_id=user_id,
            handle=username or self.user_id,
            display_name=str(body.get("name") or ""),
            avatar_url=picture if isinstance(picture, str) else None,
            url=f"https://www.threads.com/@{username}" if username else None,
        )

    async def publishing_quota(self) -> tuple[int, int]:
        """``(used, total)`` API-published posts in the current 24-hour window."""
        body = await self.graph.get(
            f"{self.user_id}/threads_publishing_limit", {"fields": "quota_usage,config"}
        )
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        config = entry.get("config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        limit = self.rate_limit.max_posts if self.rate_limit else 0
        return int(entry.get("quota_usage") or 0), int(total or limit)

    # --- publishing ---------------------------------------------------------------------

    async def publish(self, post: OutboundPost) -> PublishResult:
        if len(post.media) > self.media_rules.max_items:
            raise Rejected(
                f"a Threads carousel holds at most {self.media_rules.max_items} items",
                reason="too many media items for Threads",
            )
        kinds = [_kind(item) for item in post.media]
        urls = await public_media_urls(post, self.media_urls, network="Threads")
        root = await self._publish_one(
            post.text, media=post.media, kinds=kinds, urls=urls, link=post.link
        )
        part_ids: list[str] = []
        for number, text in enumerate(post.thread, start=2):
            try:
                part_ids.append(await self._publish_one(text, reply_to=part_ids[-1:] or [root]))
            except ConnectorError as exc:
                raise after_first_write(
                    exc, published_id=root, what=f"part {number} of the thread"
                ) from exc
        return PublishResult(
            external_id=root, url=await self._permalink(root), part_ids=tuple(part_ids)
        )

    async def _publish_one(
        self,
        text: str,
        *,
        media: Sequence[MediaItem] = (),
        kinds: Sequence[str] = (),
        urls: Sequence[str] = (),
        link: str | None = None,
        reply_to: Sequence[str] = (),
    ) -> str:
        params: dict[str, Any] = {"text": text or None}
        if reply_to:
            params["reply_to_id"] = reply_to[0]
        if not media:
            params["media_type"] = "TEXT"
            if link:
                params["link_attachment"] = link
        elif len(media) == 1:
            params.update(_item_params(media[0], kinds[0], urls[0], carousel=False))
        else:
            children = []
            for item, kind, url in zip(media, kinds, urls, strict=True):
                child = await self._create(_item_params(item, kind, url, carousel=True))
                await self._wait_ready(child)
                children.append(child)
            params.update({"media_type": "CAROUSEL", "children": ",".join(children)})
        container_id = await self._create(params)
        await self._wait_ready(container_id)
        for _ in range(3):
            try:
                body = await self.graph.post(
                    f"{self.user_id}/threads_publish", {"creation_id": container_id}
                )
            except MediaNotReady:
                await self._wait_ready(container_id)
                continue
            return id_of(body, network=self.display_name)
        raise TransientError("Threads kept saying the media is not ready; will try again")

    async def _create(self, params: Mapping[str, Any]) -> str:
        body = await self.graph.post(f"{self.user_id}/threads", params)
        return id_of(body, network=self.display_name)

    async def _wait_ready(self, container_id: str) -> None:
        body = await poll_container(
            self.graph,
            container_id,
            fields="status,error_message",
            status_field="status",
            interval=self.poll_interval,
            give_up_after=self.poll_give_up,
            what="the post",
        )
        status = body.get("status")
        if status in ("FINISHED", "PUBLISHED"):
            return
        if status == "EXPIRED":
            raise TransientError("the Threads container expired before publishing; will retry")
        reason = str(body.get("error_message") or "Threads could not process the post")
        raise Rejected(f"Threads could not process the post: {reason}", reason=reason)

    async def _permalink(self, media_id: str) -> str | None:
        try:
            body = await self.graph.get(media_id, {"fields": "permalink"})
        except ConnectorError as exc:
            logger.info("Threads permalink of %s unavailable: %s", media_id, exc.message)
            return None
        link = body.get("permalink")
        return link if isinstance(link, str) and link else None

    # --- lookup, delete -----------------------------------------------------------------

    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        since = attempted_since(post)
        body = await self.graph.get(
            f"{self.user_id}/threads",
            {
                "fields": "id,text,timestamp,permalink",
                "since": int(since.timestamp()),
                "limit": self.lookup_limit,
            },
        )
        data = body.get("data")
        found = newest_match(
            data if isinstance(data, list) else [],
            text=post.text,
            text_field="text",
            time_field="timestamp",
            since=since,
        )
        if found is None:
            return None
        root = str(found["id"])
        link = found.get("permalink")
        part_ids = await self._find_or_finish_chain(root, post.thread) if post.thread else []
        return PublishResult(
            external_id=root,
            url=link if isinstance(link, str) else None,
            part_ids=tuple(part_ids),
        )

    async def _find_or_finish_chain(self, root: str, parts: Sequence[str]) -> list[str]:
        me = await self.graph.get("me", {"fields": "username"})
        found: list[str] = []
        previous = root
        for index, text in enumerate(parts):
            reply = await self._own_reply(previous, text, username=me.get("username"))
            if reply is None:
                # The root exists: the missing parts can only be added, never redone.
                for rest in parts[index:]:
                    previous = await self._publish_one(rest, reply_to=[previous])
                    found.append(previous)
                return found
            found.append(reply)
            previous = reply
        return found

    async def _own_reply(self, parent: str, text: str, *, username: Any) -> str | None:
        body = await self.graph.get(f"{parent}/replies", {"fields": "id,text,username,timestamp"})
        for reply in body.get("data") or []:
            if (
                isinstance(reply, dict)
                and reply.get("username") == username
                and same_text(text, reply.get("text"))
            ):
                return str(reply["id"])
        return None

    async def delete(self, external_id: str) -> None:
        body = await self.graph.delete(external_id)
        if body.get("success") is not True:
            raise Rejected(f"Threads did not confirm deleting {external_id}")

    # --- the inbox ----------------------------------------------------------------------

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        state = InboxCursor.decode(cursor)
        username = await self._own_username()
        roots = await self.graph.get(
            f"{self.user_id}/threads", {"fields": "id,timestamp", "limit": self.inbox_post_limit}
        )
        found: list[InboundItem] = []
        for root in roots.get("data") or []:
            if not isinstance(root, dict) or not root.get("id"):
                continue
            root_id = str(root["id"])
            replies = await get_all(
                self.graph,
                f"{root_id}/conversation",
                {"fields": self.reply_fields, "reverse": False, "limit": 100},
            )
            found.extend(
                item
                for reply in replies
                if (item := self._item(reply, username, InboundKind.REPLY, root_id)) is not None
            )
        if self.read_mentions:
            read_from = state.read_from
            mentions = await get_all(
                self.graph,
                f"{self.user_id}/mentions",
                {
                    "fields": "id,text,username,permalink,timestamp,root_post,replied_to",
                    "since": int(read_from.timestamp()) if read_from else None,
                    "limit": 100,
                },
            )
            found.extend(
                item
                for mention in mentions
                if (item := self._item(mention, username, InboundKind.MENTION, None)) is not None
            )
        return inbox_page(found, state, limit=self.inbox_page_size)

    def _item(
        self, body: Mapping[str, Any], username: str, kind: InboundKind, root_id: str | None
    ) -> InboundItem | None:
        created = parse_graph_time(body.get("timestamp"))
        if not body.get("id") or created is None:
            return None
        handle = str(body.get("username") or "")
        root = _id_in(body.get("root_post")) or root_id
        parent = _id_in(body.get("replied_to"))
        extra = {"root_id": root} if root else {}
        if isinstance(body.get("hide_status"), str):
            extra["hide_status"] = body["hide_status"]
        link = body.get("permalink")
        return InboundItem(
            external_id=str(body["id"]),
            kind=kind,
            author=InboundAuthor(external_id=handle, handle=handle),
            text=str(body.get("text") or ""),
            created_at=created,
            conversation_id=root or str(body["id"]),
            url=link if isinstance(link, str) and link else None,
            in_reply_to=parent or root_id,
            our_post_id=root_id,
            from_us=body.get("is_reply_owned_by_me") is True
            or (bool(handle) and handle == username),
            extra=extra,
        )

    async def _own_username(self) -> str:
        if self._username is None:
            body = await self.graph.get("me", {"fields": "username"})
            self._username = str(body.get("username") or "")
        return self._username

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        reply_id = await self._publish_one(post.text, reply_to=[to.external_id])
        return PublishResult(external_id=reply_id, url=await self._permalink(reply_id))

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        username = await self._own_username()
        replies = await get_all(
            self.graph,
            f"{to.external_id}/replies",
            {"fields": "id,text,username,timestamp,permalink,is_reply_owned_by_me"},
        )
        ours = [
            r
            for r in replies
            if r.get("is_reply_owned_by_me") is True or r.get("username") == username
        ]
        found = newest_match(
            ours,
            text=post.text,
            text_field="text",
            time_field="timestamp",
            since=attempted_since(post),
        )
        if found is None:
            return None
        link = found.get("permalink")
        return PublishResult(
            external_id=str(found["id"]), url=link if isinstance(link, str) else None
        )

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        body = await self.graph.post(f"{item_id}/manage_reply", {"hide": hidden})
        if body.get("success") is not True:
            raise Rejected(f"Threads did not confirm hiding reply {item_id}")

    async def like(self, item_id: str) -> None:
        raise Rejected(
            "the Threads API cannot like replies; like it in the Threads app",
            reason="Threads replies cannot be liked through its API",
        )

    async def delete_item(self, item_id: str) -> None:
        raise Rejected(
            "the Threads API deletes only the account's own posts; hide this reply instead",
            reason="Threads replies by others cannot be deleted through its API",
        )

    # --- OAuth --------------------------------------------------------------------------

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
            "scope": ",".join(scopes or cls.default_scopes),
            "response_type": "code",
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
        base_url: str | None = None,
    ) -> Credentials:
        """The code from the authorization window -> a short-lived (1 h) user token."""
        graph = cls._oauth_graph(http, base_url, secrets=(app.client_secret, code))
        body = await graph.post(
            "oauth/access_token",
            {
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
        )
        user_id = body.get("user_id")
        if user_id in (None, ""):
            raise Rejected("Threads answered the token exchange without the user id")
        return Credentials(
            access_token=access_token_of(body, network=cls.display_name),
            expires_at=expires_at(body) or dt.datetime.now(dt.UTC) + cls.short_lived,
            extra={"threads_user_id": str(user_id)},
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
        """A short-lived token -> a long-lived one (60 days)."""
        token = credentials.access_token
        graph = cls._oauth_graph(http, base_url, secrets=(app.client_secret, token))
        body = await graph.get(
            "access_token",
            {
                "grant_type": "th_exchange_token",
                "client_secret": app.client_secret,
                "access_token": token,
            },
        )
        return renewed(credentials, body, network=cls.display_name)

    async def refresh_credentials(self) -> Credentials | None:
        """Refresh the long-lived token once it nears its end (it must be 24 h old)."""
        if not needs_refresh(self.credentials.expires_at, before=self.refresh_before):
            return None
        token = self.credentials.access_token
        graph = self._oauth_graph(self.http, self.base_url, secrets=(token,))
        body = await graph.get(
            "refresh_access_token", {"grant_type": "th_refresh_token", "access_token": token}
        )
        return renewed(self.credentials, body, network=self.display_name)

    @classmethod
    def _oauth_graph(
        cls, http: httpx.AsyncClient, base_url: str | None, *, secrets: Sequence[str]
    ) -> GraphClient:
        # The OAuth endpoints are not versioned: graph.threads.net/oauth/access_token.
        return GraphClient(
            http=http,
            base_url=origin_of(base_url or cls.default_base_url or ""),
            access_token=None,
            errors=cls.errors,
            secrets=secrets,
        )


def _kind(item: MediaItem) -> str:
    if item.mime_type in ThreadsConnector.media_rules.image_types:
        return "image"
    if item.mime_type in ThreadsConnector.media_rules.video_types:
        return "video"
    raise Rejected(
        f"Threads does not take {item.mime_type} ({item.path.name})",
        reason=f"{item.mime_type} is not supported by Threads",
    )


def _item_params(item: MediaItem, kind: str, url: str, *, carousel: bool) -> dict[str, Any]:
    params: dict[str, Any] = (
        {"media_type": "IMAGE", "image_url": url}
        if kind == "image"
        else {"media_type": "VIDEO", "video_url": url}
    )
    if item.alt_text:
        params["alt_text"] = item.alt_text
    if carousel:
        params["is_carousel_item"] = True
    return params


def _id_in(value: Any) -> str | None:
    """The ``id`` of a nested object such as ``root_post`` or ``replied_to``."""
    if isinstance(value, dict) and value.get("id"):
        return str(value["id"])
    return None


__all__ = ["ThreadsConnector"]
