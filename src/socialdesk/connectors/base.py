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
