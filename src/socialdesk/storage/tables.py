# SPDX-License-Identifier: AGPL-3.0-or-later
"""Tables of socialdesk. Migrations in ``storage/migrations`` create them.

Every table that holds one workspace's data carries :class:`TenantScoped`, and sessions
scoped to a workspace (``scope_to_workspace``) filter those tables on every query.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from socialdesk.storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: An auto-incrementing 64-bit key on PostgreSQL that is still SQLite's ROWID.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON()}


class TenantScoped:
    """A row that belongs to exactly one workspace."""

    @declared_attr
    def workspace_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), index=True, nullable=False
        )


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    #: An instance administrator (created with ``socialdesk users create --admin``).
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Workspace(Base):
    """A brand, or one client of an agency."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: none | roles (posts by ``approval_roles`` need approval) | external (an approver
    #: outside the team, such as the client, approves every post)
    approval_mode: Mapped[str] = mapped_column(String(20), default="none")
    approval_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Membership(TenantScoped, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships", lazy="joined")
    workspace: Mapped[Workspace] = relationship(lazy="joined")


class Invitation(TenantScoped, Base):
    """A link that lets one person join a workspace with a role."""

    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]
    accepted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[dt.datetime | None]


class ApiToken(TenantScoped, Base):
    """A Bearer token that acts as its user, with that user's role, in one workspace."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    #: The first characters of the token, shown so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class AuditEvent(Base):
    """One change that matters. Append-only: a database trigger refuses UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    #: None for instance-level events (a user created from the CLI, a key rotation).
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: Who did it, as people read it ("ana@example.com", "cli", "token deploy-bot").
    actor_label: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VaultSecret(TenantScoped, Base):
    """A secret (a network token, an app password) encrypted with the vault's keys."""

    __tablename__ = "vault_secrets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    purpose: Mapped[str] = mapped_column(String(80))
    ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Job(Base):
    """One unit of due work, claimed by a worker under a lease (see ``socialdesk.jobs``)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "state", "due_at", "id"),
        Index("ix_jobs_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    #: Enqueueing the same key twice gives back the first job instead of a second one.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    due_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    lease_until: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


# -- publishing -----------------------------------------------------------------------


class OAuthClient(Base):
    """An app registration at a network (per instance for Mastodon), shared by workspaces."""

    __tablename__ = "oauth_clients"
    __table_args__ = (UniqueConstraint("network", "base_url", "redirect_uri"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    network: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(300))
    redirect_uri: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(300))
    #: Encrypted with the vault's keys (rotated with them).
    client_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OAuthState(TenantScoped, Base):
    """A connect flow in progress: the state we sent and the PKCE verifier to send back."""

    __tablename__ = "oauth_states"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    network: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(String(300))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    #: The PKCE verifier, encrypted with the vault's keys.
    verifier_ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class Channel(TenantScoped, Base):
    """One connected account on one network."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("workspace_id", "network", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    profile_url: Mapped[str | None] = mapped_column(String(1000))
    #: The API's address for this account (a Mastodon instance, a Bluesky PDS).
    base_url: Mapped[str] = mapped_column(String(300))
    credentials_secret_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("vault_secrets.id", ondelete="RESTRICT")
    )
    token_expires_at: Mapped[dt.datetime | None]
    #: active | needs_reconnect | disconnected
    status: Mapped[str] = mapped_column(String(20), default="active")
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: Non-secret values the connector needs (account ids, instance limits...).
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: IANA zone of the channel's posting queue (defaults to the workspace's).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: One token refresh at a time per channel: a short lease on this row.
    refresh_lease_until: Mapped[dt.datetime | None]
    last_verified_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MediaAsset(TenantScoped, Base):
    """A file in the workspace's content library (stored once, by content hash)."""

    __tablename__ = "media_assets"
    __table_args__ = (UniqueConstraint("workspace_id", "sha256"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None]
    sha256: Mapped[str] = mapped_column(String(64))
    #: Relative to the media directory.
    storage_path: Mapped[str] = mapped_column(String(500))
    original_filename: Mapped[str] = mapped_column(String(300), default="")
    alt_text: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Post(TenantScoped, Base):
    """One piece of content, delivered to one or more channels."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_workspace_scheduled", "workspace_id", "scheduled_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    #: draft | in_review | approved | scheduled | publishing | published | partly_failed
    #: | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="draft")
    text: Mapped[str] = mapped_column(Text, default="")
    scheduled_at: Mapped[dt.datetime | None]
    #: The IANA zone the post was planned in (what the person saw).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The marketer's campaign this post belongs to (campaigns arrive later).
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: RFC 5545 RRULE, expanded in ``timezone``; occurrences become posts of their own.
    recurrence_rule: Mapped[str | None] = mapped_column(String(500))
    recurrence_parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("posts.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[dt.datetime | None]

    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="post", order_by="Delivery.created_at", cascade="all, delete-orphan"
    )


class Delivery(TenantScoped, Base):
    """A post's copy for one channel, and how publishing it went."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "channel_id"),
        Index("ix_deliveries_channel_state", "channel_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("posts.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("channels.id", ondelete="CASCADE")
    )
    #: pending | publishing | uncertain | published | failed | held | cancelled
    state: Mapped[str] = mapped_column(String(16), default="pending")
    text: Mapped[str] = mapped_column(Text, default="")
    #: Thread parts, first comment, link, visibility, content warning, poll...
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Chosen before the first attempt and never changed: what makes a retry safe.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    due_at: Mapped[dt.datetime | None]
    job_id: Mapped[int | None] = mapped_column(BigIntId)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The error tree's code of the last failure (rate_limited, rejected, auth_expired...).
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    external_id: Mapped[str | None] = mapped_column(String(500))
    external_url: Mapped[str | None] = mapped_column(String(1000))
    part_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_attempt_at: Mapped[dt.datetime | None]
    published_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    post: Mapped[Post] = relationship(back_populates="deliveries")
    channel: Mapped[Channel] = relationship(lazy="joined")
    media: Mapped[list[DeliveryMedia]] = relationship(
        order_by="DeliveryMedia.position", cascade="all, delete-orphan", lazy="selectin"
    )


class DeliveryMedia(TenantScoped, Base):
    __tablename__ = "delivery_media"
    __table_args__ = (UniqueConstraint("delivery_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("media_assets.id", ondelete="RESTRICT")
    )
    position: Mapped[int] = mapped_column(Integer)
    alt_text: Mapped[str] = mapped_column(Text, default="")

    asset: Mapped[MediaAsset] = relationship(lazy="joined")


class QueueSlot(TenantScoped, Base):
    """A weekly posting time of one channel, in the channel's time zone."""

    __tablename__ = "queue_slots"
    __table_args__ = (UniqueConstraint("channel_id", "weekday", "local_time"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    #: 0 = Monday ... 6 = Sunday
    weekday: Mapped[int] = mapped_column(Integer)
    #: "HH:MM", wall-clock time in the channel's zone.
    local_time: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# -- the manager's workspace: approvals, comments, notifications, templates -------------


class Approval(TenantScoped, Base):
    """A request to approve a post, and its decision."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_post", "post_id", "requested_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("posts.id", ondelete="CASCADE"))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: The approver it was sent to; None means anyone who may approve in the workspace.
    approver_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    #: pending | approved | rejected | withdrawn
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[dt.datetime | None]
    comment: Mapped[str] = mapped_column(Text, default="")


class PostComment(TenantScoped, Base):
    """A comment in a post's discussion (approvers and the team)."""

    __tablename__ = "post_comments"
    __table_args__ = (Index("ix_post_comments_post", "post_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    post_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Notification(TenantScoped, Base):
    """An in-app notification for one member (the bell)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    #: approval_requested | approved | rejected | delivery_failed | channel_needs_reconnect
    #: | mentioned | comment
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]


class ContentTemplate(TenantScoped, Base):
    """Reusable post text with ``{variables}``."""

    __tablename__ = "content_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class HashtagGroup(TenantScoped, Base):
    """A saved set of hashtags inserted together."""

    __tablename__ = "hashtag_groups"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    hashtags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CalendarFeed(TenantScoped, Base):
    """A member's private iCalendar feed of scheduled posts (the URL carries the token)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]


# -- the inbox: what people say to our channels, and our answers --------------------------


class InboxContact(TenantScoped, Base):
    """A person who wrote to one of our channels, per network (their profile and our notes)."""

    __tablename__ = "inbox_contacts"
    __table_args__ = (UniqueConstraint("workspace_id", "network", "external_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(300))
    handle: Mapped[str] = mapped_column(String(300), default="")
    display_name: Mapped[str] = mapped_column(String(300), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    profile_url: Mapped[str | None] = mapped_column(String(1000))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InboxConversation(TenantScoped, Base):
    """A thread or a direct-message conversation on one channel, worked as one unit."""

    __tablename__ = "inbox_conversations"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_inbox_conversations_list", "workspace_id", "status", "last_item_at"),
        Index("ix_inbox_conversations_contact", "contact_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("channels.id", ondelete="CASCADE")
    )
    #: The network's id of the conversation (thread root, DM conversation).
    external_id: Mapped[str] = mapped_column(String(300))
    #: comment | reply | mention | quote | message (the kind of its first item)
    kind: Mapped[str] = mapped_column(String(16))
    #: open | pending | closed
    status: Mapped[str] = mapped_column(String(10), default="open")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    #: Who started it (the first person who wrote to us in it).
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("inbox_contacts.id", ondelete="SET NULL")
    )
    #: Our post it is about, when known.
    post_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("posts.id", ondelete="SET NULL")
    )
    subject: Mapped[str] = mapped_column(String(300), default="")
    #: 0-100, from the most negative item and its author's reach (``inbox.analysis``).
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: The most negative compound sentiment of what people said in it (-1..1).
    sentiment: Mapped[float | None]
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    last_item_at: Mapped[dt.datetime | None]
    first_inbound_at: Mapped[dt.datetime | None]
    last_inbound_at: Mapped[dt.datetime | None]
    first_response_at: Mapped[dt.datetime | None]
    last_response_at: Mapped[dt.datetime | None]
    #: The oldest inbound item not answered yet (None: nothing waits for us).
    awaiting_since: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    first_response_alerted_at: Mapped[dt.datetime | None]
    resolution_alerted_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboxItem(TenantScoped, Base):
    """One comment, reply, mention, quote or message, stored once per channel.

    The busiest table: its one foreign key is its conversation's (which cascades from the
    channel and the workspace). ``workspace_id``, ``channel_id`` and ``contact_id`` are
    copies written with the conversation's own by ``inbox.ingest``; checking each against
    its table on every insert tripled the cost of storing a page (bench/inbox.py).
    """

    __tablename__ = "inbox_items"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_inbox_items_conversation", "conversation_id", "created_at"),
        # Leads with workspace_id: also the index tenancy-scoped queries use.
        Index("ix_inbox_items_unanalyzed", "workspace_id", "analyzed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    #: TenantScoped's column without its foreign key and single-column index (see above).
    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    channel_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inbox_conversations.id", ondelete="CASCADE")
    )
    external_id: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    author_handle: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    #: When the network says it was written.
    created_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    url: Mapped[str | None] = mapped_column(String(1000))
    in_reply_to: Mapped[str | None] = mapped_column(String(300))
    #: The external id of our post it is about (its conversation links that post).
    our_post_external_id: Mapped[str | None] = mapped_column(String(300))
    from_us: Mapped[bool] = mapped_column(Boolean, default=False)
    sentiment: Mapped[float | None]
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    language: Mapped[str | None] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    analyzed_at: Mapped[dt.datetime | None]
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    liked: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Network values a reply needs (``InboundItem.extra``).
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


class InboxNote(TenantScoped, Base):
    """An internal note on a conversation (never sent to the network)."""

    __tablename__ = "inbox_notes"
    __table_args__ = (Index("ix_inbox_notes_conversation", "conversation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inbox_conversations.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InboxSyncState(TenantScoped, Base):
    """Where the poller of one channel's inbox is (its cursor) and how the last sync went."""

    __tablename__ = "inbox_sync_state"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    cursor: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    last_error_at: Mapped[dt.datetime | None]
    items_stored: Mapped[int] = mapped_column(BigInteger, default=0)


class InboxAction(TenantScoped, Base):
    """Something we do to an item on the network (reply, like, hide, delete), exactly once."""

    __tablename__ = "inbox_actions"
    __table_args__ = (Index("ix_inbox_actions_conversation", "conversation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("inbox_conversations.id", ondelete="CASCADE")
    )
    item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("inbox_items.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("channels.id", ondelete="CASCADE")
    )
    #: reply | like | hide | unhide | delete
    action: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text, default="")
    #: awaiting_approval | pending | sending | uncertain | done | failed | rejected
    state: Mapped[str] = mapped_column(String(20), default="pending")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[int | None] = mapped_column(BigIntId)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_code: Mapped[str | None] = mapped_column(String(40))
    #: The network's id of our reply, the moment it is known.
    external_id: Mapped[str | None] = mapped_column(String(500))
    external_url: Mapped[str | None] = mapped_column(String(1000))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[dt.datetime | None]
    first_attempt_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedReply(TenantScoped, Base):
    """A reusable answer with ``{variables}`` ({first_name}, {handle}, {agent}...)."""

    __tablename__ = "saved_replies"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InboxSettings(TenantScoped, Base):
    """A workspace's business hours, response-time targets and where overdue alerts go."""

    __tablename__ = "inbox_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    #: ``{"mon": [["09:00", "17:00"]], ...}``; no day at all means around the clock.
    weekly_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: ISO dates ("2026-12-25") on which the team does not answer.
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_response_minutes: Mapped[int | None] = mapped_column(Integer)
    resolution_minutes: Mapped[int | None] = mapped_column(Integer)
    alert_email: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_webhook_url: Mapped[str | None] = mapped_column(String(1000))
    #: The HMAC key of the outgoing webhook, in the vault.
    alert_webhook_secret_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("vault_secrets.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboxWebhookEvent(Base):
    """A payload a network pushed, stored as received (verified) before it is processed.

    Not tenant-scoped: one payload may concern channels of several workspaces.
    """

    __tablename__ = "inbox_webhook_events"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    network: Mapped[str] = mapped_column(String(32))
    #: sha256 of the raw body: a network's retry of the same delivery is stored once.
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
    items: Mapped[int] = mapped_column(Integer, default=0)
