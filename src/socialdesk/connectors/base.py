# SPDX-License-Identifier: AGPL-3.0-or-later
"""What every network connector is: one class per network that describes itself as data.

A connector module (``connectors/bluesky.py``...) holds everything that knows one network:
its text and media rules, what it can do, its API calls and its error mapping. Core code
reads the class attributes and calls the methods below; it never asks which network it is.

Connectors are given an ``httpx.AsyncClient`` (tests point it at the real Bluesky PDS or
at a local fake of the network) and the channel's decrypted :class:`Credentials`.
"""

from __future__ import annotations

import datetime as dt
import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from socialdesk.connectors.http import ErrorMapper
from socialdesk.errors import Rejected


class Network(enum.StrEnum):
    BLUESKY = "bluesky"
    MASTODON = "mastodon"
    X = "x"
    LINKEDIN = "linkedin"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    THREADS = "threads"


class TextCounting(enum.StrEnum):
    """How a network measures text length (implemented in ``socialdesk.text.counting``)."""

    GRAPHEMES = "graphemes"  # extended grapheme clusters (Bluesky)
    X_WEIGHTED = "x_weighted"  # twitter-text v3: weights by code point range, URLs 23
    MASTODON = "mastodon"  # grapheme clusters, URLs 23, @user@domain counted as @user
    CODE_POINTS = "code_points"  # Unicode code points (Threads, LinkedIn, Meta)
    UTF16 = "utf16"  # UTF-16 code units (what JavaScript's length says)


class Idempotency(enum.StrEnum):
    """How a repeat of the same publish is kept from making a second post."""

    KEY = "key"  # the network honours an idempotency key (Mastodon Idempotency-Key)
    RECORD_KEY = "record_key"  # we choose the record key; a repeat conflicts (Bluesky rkey)
    LOOKUP = "lookup"  # nothing: after an uncertain attempt, look the post up first


@dataclass(frozen=True, slots=True)
class TextRules:
    max_length: int
    counting: TextCounting
    #: Where the numbers come from, and when they were last checked.
    source: str
    checked: str
    max_hashtags: int | None = None
    max_mentions: int | None = None
    #: Length every URL counts as, where the network shortens links (X, Mastodon: 23).
    url_length: int | None = None


@dataclass(frozen=True, slots=True)
class MediaRules:
    max_items: int
    image_types: frozenset[str]
    video_types: frozenset[str] = frozenset()
    max_image_bytes: int | None = None
    max_video_bytes: int | None = None
    max_video_seconds: float | None = None
    min_video_seconds: float | None = None
    max_image_side: int | None = None
    #: Width / height bounds; None means any aspect ratio.
    min_aspect_ratio: float | None = None
    max_aspect_ratio: float | None = None
    max_alt_text: int | None = None
    max_videos: int = 1
    mix_images_and_video: bool = False
    media_required: bool = False
    source: str = ""
    checked: str = ""


@dataclass(frozen=True, slots=True)
class Capabilities:
    idempotency: Idempotency
    threads: bool = False
    first_comment: bool = False
    delete: bool = True
    link_card: bool = False
    polls: bool = False
    content_warning: bool = False
    visibilities: tuple[str, ...] = ()
    #: Connecting needs OAuth in a browser (else: a handle and an app password or token).
    oauth: bool = True


@dataclass(frozen=True, slots=True)
class RateLimit:
    """The network's published per-account limit on creating posts."""

    max_posts: int
    per_seconds: int
    source: str


@dataclass(frozen=True, slots=True)
class Credentials:
    """A channel's decrypted secrets. Its repr hides every value, so it cannot be logged."""

    access_token: str
    refresh_token: str | None = None
    expires_at: dt.datetime | None = None
    #: Network-specific non-secret values (account id, page id, instance URL, DID...).
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Credentials(access_token='****', extra_keys={sorted(self.extra)})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """The account a channel is, as the network told us when we verified it."""

    external_id: str
    handle: str
    display_name: str = ""
    avatar_url: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class MediaItem:
    path: Path
    mime_type: str
    size_bytes: int
    alt_text: str = ""
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    #: Focal point in [-1, 1] x [-1, 1] (Mastodon's convention); None for the centre.
    focus: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class OutboundPost:
    """One delivery's content, as a connector publishes it.

    ``options`` may carry ``attempted_at`` (ISO 8601): when an earlier attempt whose
    outcome is unknown started. ``find_published`` looks for posts made since then.
    """

    text: str
    #: A key stable across every attempt of this delivery (never reused for another).
    idempotency_key: str
    media: tuple[MediaItem, ...] = ()
    #: Further parts of a thread, each published as a reply to the previous one.
    thread: tuple[str, ...] = ()
    first_comment: str | None = None
    link: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishResult:
    external_id: str
    url: str | None = None
    #: Ids of thread parts and the first comment after the first post, in order.
    part_ids: tuple[str, ...] = ()


class Connector(ABC):
    """One network. Subclasses set the class attributes and implement the methods."""

    network: ClassVar[Network]
    display_name: ClassVar[str]
    text_rules: ClassVar[TextRules]
    media_rules: ClassVar[MediaRules]
    capabilities: ClassVar[Capabilities]
    rate_limit: ClassVar[RateLimit | None] = None
    #: Where the API lives unless the channel says otherwise (Mastodon: the instance).
    default_base_url: ClassVar[str | None] = None
    errors: ClassVar[ErrorMapper] = ErrorMapper()
    #: How long the network remembers an idempotency key (``Idempotency.KEY``); a retry
    #: later than this must look the post up first, like ``Idempotency.LOOKUP``.
    idempotency_window: ClassVar[int | None] = None

    def __init__(
        self, *, http: httpx.AsyncClient, credentials: Credentials, base_url: str | None = None
    ) -> None:
        self.http = http
        self.credentials = credentials
        url = base_url or credentials.extra.get("base_url") or self.default_base_url
        if not url:
            raise ValueError(f"{self.display_name} needs a base URL for this channel")
        self.base_url = url.rstrip("/")
        #: Non-secret values ``verify()`` learned (account ids, the instance's limits). The
        #: domain stores them with the channel and passes them back in ``credentials.extra``.
        self.channel_extra: dict[str, str] = {}

    @abstractmethod
    async def verify(self) -> AccountInfo:
        """Call the network with these credentials and say which account they open."""

    @abstractmethod
    async def publish(self, post: OutboundPost) -> PublishResult:
        """Publish once. Raise from the error tree; ``UncertainOutcome`` when unsure."""

    @abstractmethod
    async def find_published(self, post: OutboundPost) -> PublishResult | None:
        """After an uncertain attempt: the post if it exists on the network, else None."""

    async def delete(self, external_id: str) -> None:
        """Delete a published post (only called when ``capabilities.delete``)."""
        raise Rejected(f"{self.display_name} posts cannot be deleted through its API")

    async def refresh_credentials(self) -> Credentials | None:
        """New credentials if these expire and can be refreshed; None if nothing to do."""
        return None

    # -- the inbox: what people say to the account, and our answers --------------------------
    #
    # A connector that can read its inbox sets ``inbox_kinds``; the inbox (``inbox/``) calls
    # ``fetch_inbox`` with the cursor it stored last time and stores the returned cursor in
    # the same transaction as the items, so a restart neither misses nor doubles an item.

    #: What the network lets us read (empty: the connector has no inbox).
    inbox_kinds: ClassVar[frozenset[InboundKind]] = frozenset()
    #: What we can do to an item on this network (``reply``, ``like``, ``hide``, ``delete``).
    inbox_actions: ClassVar[frozenset[str]] = frozenset()

    async def fetch_inbox(self, cursor: str | None) -> InboxPage:
        """Items newer than ``cursor`` (None: the first sync), oldest first, and the next cursor.

        Never returns an item twice for one cursor; may return an item already stored for an
        older cursor (the inbox deduplicates on ``(channel, external_id)``).
        """
        raise Rejected(f"socialdesk cannot read the {self.display_name} inbox yet")

    async def complete_pushed(self, item: InboundItem) -> InboundItem:
        """A pushed item in full, when its webhook carried ids only (``extra["partial"]``)."""
        return item

    async def reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult:
        """Answer an item once (same idempotency rules as ``publish``)."""
        raise Rejected(f"socialdesk cannot reply on {self.display_name} yet")

    async def find_reply(self, to: ReplyTarget, post: OutboundPost) -> PublishResult | None:
        """After an uncertain ``reply``: the answer if it exists on the network, else None."""
        return None

    async def like(self, item_id: str) -> None:
        raise Rejected(f"{self.display_name} items cannot be liked through its API")

    async def hide(self, item_id: str, *, hidden: bool = True) -> None:
        raise Rejected(f"{self.display_name} items cannot be hidden through its API")

    async def delete_item(self, item_id: str) -> None:
        """Delete someone's comment on our post (where the network lets the owner do it)."""
        raise Rejected(f"{self.display_name} comments cannot be deleted through its API")


class InboundKind(enum.StrEnum):
    """What an inbox item is, as people on every network would call it."""

    COMMENT = "comment"  # on our post (Facebook, Instagram, LinkedIn)
    REPLY = "reply"  # in a thread under our post (Bluesky, Mastodon, X, Threads)
    MENTION = "mention"  # names the account outside our threads
    QUOTE = "quote"  # quotes one of our posts
    MESSAGE = "message"  # a direct or private message


@dataclass(frozen=True, slots=True)
class InboundAuthor:
    external_id: str
    handle: str
    display_name: str = ""
    avatar_url: str | None = None
    url: str | None = None
    #: Followers, where the network says (the inbox's priority weighs reach).
    followers: int | None = None


@dataclass(frozen=True, slots=True)
class InboundItem:
    """One thing someone said to or about the account, as the network gave it."""

    #: The network's own id of this item: the natural key, unique per channel.
    external_id: str
    kind: InboundKind
    author: InboundAuthor
    text: str
    created_at: dt.datetime
    #: The network's id of the whole conversation (thread root, DM conversation).
    conversation_id: str
    url: str | None = None
    #: The item or post this answers, when it is an answer.
    in_reply_to: str | None = None
    #: The external id of our post this is about (the root of its thread), when known.
    our_post_id: str | None = None
    #: True when the account itself wrote it (our replies seen on the network).
    from_us: bool = False
    #: Network values a later reply needs (Bluesky root/parent cid, Mastodon visibility...).
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: tuple[InboundItem, ...]
    #: Store this and pass it to the next ``fetch_inbox``; None keeps the previous one.
    cursor: str | None
    #: True when the network has more right now (call again before sleeping).
    more: bool = False


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """What a reply answers: the item's ids as stored from ``InboundItem``."""

    external_id: str
    conversation_id: str
    kind: InboundKind
    author_handle: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookItem:
    """An inbox item a network pushed, with the account it is for (a channel's external id)."""

    account_id: str
    item: InboundItem
