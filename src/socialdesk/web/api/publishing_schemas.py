# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request and response bodies of the publishing API: channels, posts, media, validation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.storage.tables import Channel, Delivery, MediaAsset, Post, QueueSlot


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelPublic(BaseModel):
    id: uuid.UUID
    network: str
    handle: str
    display_name: str
    avatar_url: str | None
    profile_url: str | None
    #: active | needs_reconnect | disconnected
    status: str
    status_reason: str | None
    status_changed_at: dt.datetime
    timezone: str

    @classmethod
    def of(cls, channel: Channel) -> ChannelPublic:
        return cls(
            id=channel.id,
            network=channel.network,
            handle=channel.handle,
            display_name=channel.display_name,
            avatar_url=channel.avatar_url,
            profile_url=channel.profile_url,
            status=channel.status,
            status_reason=channel.status_reason,
            status_changed_at=channel.status_changed_at,
            timezone=channel.timezone,
        )


class ChannelConnect(_Body):
    """Connect with a secret the network gives out directly (no browser needed)."""

    network: Literal["bluesky", "mastodon"]
    #: The PDS (Bluesky) or instance (Mastodon) URL.
    base_url: Annotated[str, Field(max_length=300)]
    #: Bluesky: your handle. Mastodon: leave empty.
    identifier: Annotated[str | None, Field(max_length=300)] = None
    #: Bluesky: an app password. Mastodon: an access token. Never returned.
    secret: Annotated[str, Field(min_length=1, max_length=4000)]


class SlotBody(BaseModel):
    weekday: Annotated[int, Field(ge=0, le=6, description="0 = Monday")]
    time: Annotated[str, Field(examples=["09:30"])]

    @classmethod
    def of(cls, slot: QueueSlot) -> SlotBody:
        return cls(weekday=slot.weekday, time=slot.local_time)


class SlotsUpdate(_Body):
    slots: list[SlotBody]


class MediaPublic(BaseModel):
    id: uuid.UUID
    kind: str
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    duration_seconds: float | None
    filename: str
    alt_text: str
    created_at: dt.datetime

    @classmethod
    def of(cls, asset: MediaAsset) -> MediaPublic:
        return cls(
            id=asset.id,
            kind=asset.kind,
            mime_type=asset.mime_type,
            size_bytes=asset.size_bytes,
            width=asset.width,
            height=asset.height,
            duration_seconds=asset.duration_seconds,
            filename=asset.original_filename,
            alt_text=asset.alt_text,
            created_at=asset.created_at,
        )


class MediaRefBody(_Body):
    asset_id: uuid.UUID
    alt_text: Annotated[str | None, Field(max_length=5000)] = None


class ChannelContentBody(_Body):
    channel_id: uuid.UUID
    #: This channel's own text; the post's text when omitted.
    text: str | None = None
    media: list[MediaRefBody] | None = None
    #: thread (list of further parts), first_comment, link, visibility, spoiler_text, poll…
    options: dict[str, Any] = Field(default_factory=dict)


class PostCreate(_Body):
    text: str = ""
    channels: Annotated[list[ChannelContentBody], Field(min_length=1)]
    media: list[MediaRefBody] = Field(default_factory=list)
    #: draft, now, at (needs ``at``) or queue (each channel's next free slot)
    when: Literal["draft", "now", "at", "queue"] = "now"
    #: An instant with offset, or a local time read in ``timezone``.
    at: dt.datetime | None = None
    timezone: str = "UTC"
    labels: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    #: Repeat the post: an RFC 5545 RRULE ("FREQ=WEEKLY;BYDAY=MO"), read in ``timezone``.
    recurrence: Annotated[str | None, Field(max_length=500)] = None


class Reschedule(_Body):
    at: dt.datetime
    timezone: str = "UTC"


class DeliveryPublic(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    network: str
    handle: str
    #: pending | publishing | uncertain | published | failed | held | cancelled
    state: str
    text: str
    options: dict[str, Any]
    due_at: dt.datetime | None
    attempts: int
    last_error: str | None
    last_error_code: str | None
    external_id: str | None
    url: str | None
    published_at: dt.datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryPublic:
        return cls(
            id=delivery.id,
            channel_id=delivery.channel_id,
            network=delivery.channel.network,
            handle=delivery.channel.handle,
            state=delivery.state,
            text=delivery.text,
            options={k: v for k, v in delivery.options.items() if not k.startswith("_")},
            due_at=delivery.due_at,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            last_error_code=delivery.last_error_code,
            external_id=delivery.external_id,
            url=delivery.external_url,
            published_at=delivery.published_at,
        )


class PostPublic(BaseModel):
    id: uuid.UUID
    status: str
    text: str
    scheduled_at: dt.datetime | None
    timezone: str
    labels: list[str]
    created_at: dt.datetime
    published_at: dt.datetime | None
    #: The repeat rule of a series' first post; None for other posts.
    recurrence: str | None
    #: The series' first post, for an occurrence of a recurring post.
    recurrence_parent_id: uuid.UUID | None
    deliveries: list[DeliveryPublic]

    @classmethod
    def of(cls, post: Post) -> PostPublic:
        return cls(
            id=post.id,
            status=post.status,
            text=post.text,
            scheduled_at=post.scheduled_at,
            timezone=post.timezone,
            labels=list(post.labels),
            created_at=post.created_at,
            published_at=post.published_at,
            recurrence=post.recurrence_rule,
            recurrence_parent_id=post.recurrence_parent_id,
            deliveries=[DeliveryPublic.of(d) for d in post.deliveries],
        )


class ValidateBody(_Body):
    network: str
    text: str = ""
    media: list[MediaRefBody] = Field(default_factory=list)
    thread: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    #: A channel whose own limits apply (a Mastodon instance's character limit).
    channel_id: uuid.UUID | None = None


class ValidationResult(BaseModel):
    network: str
    length: int
    limit: int
    ok: bool
    errors: list[str]
    warnings: list[str]
    part_lengths: list[int]


class ImportRow(BaseModel):
    row: int
    ok: bool
    errors: list[str]
    post_id: uuid.UUID | None


class ImportResult(BaseModel):
    imported: int
    rows: list[ImportRow]
