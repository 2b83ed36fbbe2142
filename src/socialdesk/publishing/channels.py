# SPDX-License-Identifier: AGPL-3.0-or-later
"""Channels: connecting accounts, keeping their tokens fresh, and their health.

Network calls never happen inside a database transaction: on SQLite a transaction holds
the write lock, and on any database a slow network must not hold rows. Each flow is
"read in one transaction, call the network, write in another".

A channel is marked ``needs_reconnect`` only on a definite authentication failure
(``AuthExpired``), never on a timeout or a 5xx. Its deliveries are then ``held``, not
failed, and go out again once the channel is reconnected.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault, read_secret, replace_secret, store_secret
from socialdesk.config import Settings
from socialdesk.connectors.base import AccountInfo, Connector, Credentials
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import AuthExpired, NotFound, TransientError, ValidationError
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, Delivery, Workspace
from socialdesk.storage.types import utcnow

logger = logging.getLogger(__name__)

ACTIVE = "active"
NEEDS_RECONNECT = "needs_reconnect"
DISCONNECTED = "disconnected"

#: Refresh a token this long before it expires.
REFRESH_MARGIN = dt.timedelta(minutes=5)
REFRESH_LEASE = dt.timedelta(seconds=60)

Runner = Callable[[Awaitable[Any]], Any]


def credentials_to_json(credentials: Credentials) -> str:
    return json.dumps(
        {
            "access_token": credentials.access_token,
            "refresh_token": credentials.refresh_token,
            "expires_at": credentials.expires_at.isoformat() if credentials.expires_at else None,
            "extra": dict(credentials.extra),
        }
    )


def credentials_from_json(text: str) -> Credentials:
    data = json.loads(text)
    expires = data.get("expires_at")
    return Credentials(
        access_token=data["access_token"],
        refresh_token=data.get("refresh_token"),
        expires_at=dt.datetime.fromisoformat(expires) if expires else None,
        extra=data.get("extra") or {},
    )


def merge_refreshed(old: Credentials, new: Credentials) -> Credentials:
    """New credentials, keeping the stored refresh token when the network sent none."""
    return Credentials(
        access_token=new.access_token,
        refresh_token=new.refresh_token or old.refresh_token,
        expires_at=new.expires_at,
        extra={**old.extra, **new.extra},
    )


def get_channel(session: Session, *, channel_id: uuid.UUID) -> Channel:
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise NotFound("no such channel in this workspace")
    return channel


def find_channel(session: Session, *, workspace_id: uuid.UUID, ref: str) -> Channel:
    """A channel by id, or by handle (``@ana.bsky.social``, ``ana@mastodon.social``)."""
    try:
        channel = session.get(Channel, uuid.UUID(ref))
    except ValueError:
        handle = ref.lstrip("@").lower()
        matches = list(
            session.scalars(
                select(Channel).where(
                    Channel.workspace_id == workspace_id, Channel.handle.ilike(handle)
                )
            )
        )
        if len(matches) > 1:
            networks = ", ".join(sorted(c.network for c in matches))
            raise ValidationError(
                f"{ref!r} is connected on several networks ({networks}); use the channel id",
                field="channel",
            ) from None
        channel = matches[0] if matches else None
    if channel is None or channel.workspace_id != workspace_id:
        raise NotFound(f"no channel {ref!r} in this workspace")
    return channel


def list_channels(session: Session, *, workspace_id: uuid.UUID) -> list[Channel]:
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.workspace_id == workspace_id, Channel.status != DISCONNECTED)
            .order_by(Channel.network, Channel.handle)
        )
    )


def load_credentials(session: Session, *, vault: Vault, channel: Channel) -> Credentials:
    return credentials_from_json(
        read_secret(session, vault=vault, secret_id=channel.credentials_secret_id)
    )


def build_connector(
    channel: Channel,
    credentials: Credentials,
    *,
    http: httpx.AsyncClient,
    settings: Settings | None = None,
) -> Connector:
    """The channel's connector. With ``settings`` it also gets what the deployment
    configures for it: the network's app (to refresh X and LinkedIn tokens) and signed
    public media URLs (Instagram and Threads download media by URL)."""
    options: dict[str, Any] = {}
    if settings is not None:
        from socialdesk.publishing.oauth import connector_options

        options = connector_options(channel.network, settings)
    return connector_class(channel.network)(
        http=http, credentials=credentials, base_url=channel.base_url, **options
    )


def save_connected_channel(
    session: Session,
    *,
    vault: Vault,
    workspace_id: uuid.UUID,
    network: str,
    base_url: str,
    account: AccountInfo,
    credentials: Credentials,
    actor: Actor,
    timezone: str | None = None,
) -> Channel:
    """Store a verified account: a new channel, or the same account reconnected."""
    existing = session.scalars(
        select(Channel).where(
            Channel.workspace_id == workspace_id,
            Channel.network == network,
            Channel.external_id == account.external_id,
        )
    ).first()
    secret_text = credentials_to_json(credentials)
    if existing is None:
        secret = store_secret(
            session,
            vault=vault,
            workspace_id=workspace_id,
            purpose=f"channel:{network}",
            value=secret_text,
        )
        channel = Channel(
            workspace_id=workspace_id,
            network=network,
            external_id=account.external_id,
            credentials_secret_id=secret.id,
            created_by_id=actor.user_id,
        )
        if timezone:
            channel.timezone = timezone
        session.add(channel)
        action = "channel.connect"
    else:
        channel = existing
        previous = load_credentials(session, vault=vault, channel=channel)
        credentials = merge_refreshed(previous, credentials)
        replace_secret(
            session,
            vault=vault,
            secret_id=channel.credentials_secret_id,
            value=credentials_to_json(credentials),
        )
        action = "channel.reconnect"
    channel.handle = account.handle
    channel.display_name = account.display_name
    channel.avatar_url = account.avatar_url
    channel.profile_url = account.url
    channel.base_url = base_url
    channel.token_expires_at = credentials.expires_at
    channel.last_verified_at = utcnow()
    channel.extra = {**(channel.extra or {}), **credentials.extra}
    was_held = channel.status == NEEDS_RECONNECT
    _set_status(channel, ACTIVE, None)
    session.flush()
    if was_held or action == "channel.reconnect":
        resume_held_deliveries(session, channel=channel)
    audit.record(
        session,
        actor=actor,
        action=action,
        workspace_id=workspace_id,
        target_type="channel",
        target_id=channel.id,
        details={"network": network, "handle": account.handle},
    )
    return channel


def _set_status(channel: Channel, status: str, reason: str | None) -> None:
    if channel.status != status or channel.status_reason != reason:
        channel.status = status
        channel.status_reason = reason
        channel.status_changed_at = utcnow()


def mark_needs_reconnect(session: Session, *, channel: Channel, reason: str) -> None:
    """A definite auth failure: hold the channel's work and ask a person to reconnect."""
    _set_status(channel, NEEDS_RECONNECT, reason)
    audit.record(
        session,
        actor=Actor(label="socialdesk"),
        action="channel.needs_reconnect",
        workspace_id=channel.workspace_id,
        target_type="channel",
        target_id=channel.id,
        details={"reason": reason[:300]},
    )


def resume_held_deliveries(session: Session, *, channel: Channel) -> int:
    """Send the deliveries held while the channel needed reconnecting (now or when due)."""
    from socialdesk.publishing.deliveries import requeue_delivery

    held = list(
        session.scalars(
            select(Delivery).where(Delivery.channel_id == channel.id, Delivery.state == "held")
        )
    )
    for delivery in held:
        requeue_delivery(session, delivery=delivery)
    return len(held)


def disconnect_channel(session: Session, *, channel: Channel, actor: Actor) -> None:
    """Stop using a channel; its history stays, its pending deliveries are cancelled."""
    _set_status(channel, DISCONNECTED, "disconnected by a member")
    session.execute(
        update(Delivery)
        .where(
            Delivery.channel_id == channel.id,
            Delivery.state.in_(("pending", "held")),
        )
        .values(state="cancelled", last_error="the channel was disconnected")
    )
    audit.record(
        session,
        actor=actor,
        action="channel.disconnect",
        workspace_id=channel.workspace_id,
        target_type="channel",
        target_id=channel.id,
        details={"network": channel.network, "handle": channel.handle},
    )


def fresh_credentials(
    db: Database,
    *,
    vault: Vault,
    channel_id: uuid.UUID,
    http: httpx.AsyncClient,
    run: Runner,
    wait_seconds: float = 30.0,
    settings: Settings | None = None,
) -> Credentials:
    """The channel's credentials, refreshed first if they are about to expire.

    Only one process refreshes a channel at a time (a short lease on the channel row):
    networks that rotate refresh tokens invalidate the old one on use, so two refreshes
    racing would leave one of them holding a dead token.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.transaction() as session:
            channel = get_channel(session, channel_id=channel_id)
            credentials = load_credentials(session, vault=vault, channel=channel)
            now = utcnow()
            expires = credentials.expires_at
            if expires is None or expires - REFRESH_MARGIN > now:
                return credentials
            _refuse_if_refused(channel)
            result = session.execute(
                update(Channel)
                .where(
                    Channel.id == channel_id,
                    or_(
                        Channel.refresh_lease_until.is_(None),
                        Channel.refresh_lease_until < now,
                    ),
                )
                .values(refresh_lease_until=now + REFRESH_LEASE)
            )
            got_lease = cast(CursorResult[Any], result).rowcount
            if got_lease:
                # Read again under the lease. On PostgreSQL another refresher may have
                # committed new credentials (and freed its lease) since the read above;
                # refreshing with what we read then would spend a rotated, dead token.
                session.expire_all()
                channel = get_channel(session, channel_id=channel_id)
                credentials = load_credentials(session, vault=vault, channel=channel)
                expires = credentials.expires_at
                if expires is None or expires - REFRESH_MARGIN > now:
                    channel.refresh_lease_until = None
                    return credentials
                _refuse_if_refused(channel)  # rolls the lease back
        if got_lease:
            return _refresh(
                db,
                vault=vault,
                channel=channel,
                old=credentials,
                http=http,
                run=run,
                settings=settings,
            )
        if time.monotonic() > deadline:
            if expires > utcnow():
                return credentials  # the other refresher is slow; these still work a while
            # An expired token would get a 401, which means "reconnect": wait instead.
            raise TransientError(
                f"the token of {channel.handle} is being refreshed elsewhere; trying again soon"
            )
        time.sleep(0.5)


def _refuse_if_refused(channel: Channel) -> None:
    """A refresh the network refused for good is not asked again until a reconnect."""
    if channel.status == NEEDS_RECONNECT:
        raise AuthExpired(channel.status_reason or f"reconnect {channel.handle}")


def _refresh(
    db: Database,
    *,
    vault: Vault,
    channel: Channel,
    old: Credentials,
    http: httpx.AsyncClient,
    run: Runner,
    settings: Settings | None = None,
) -> Credentials:
    connector = build_connector(channel, old, http=http, settings=settings)
    try:
        new = run(connector.refresh_credentials())
    except AuthExpired as exc:
        with db.transaction(workspace_id=channel.workspace_id) as session:
            current = get_channel(session, channel_id=channel.id)
            current.refresh_lease_until = None
            mark_needs_reconnect(session, channel=current, reason=exc.message)
        raise
    except Exception:
        with db.transaction(workspace_id=channel.workspace_id) as session:
            get_channel(session, channel_id=channel.id).refresh_lease_until = None
        raise
    with db.transaction(workspace_id=channel.workspace_id) as session:
        current = get_channel(session, channel_id=channel.id)
        current.refresh_lease_until = None
        if new is None:
            return old
        merged = merge_refreshed(old, new)
        replace_secret(
            session,
            vault=vault,
            secret_id=current.credentials_secret_id,
            value=credentials_to_json(merged),
        )
        current.token_expires_at = merged.expires_at
        logger.info("refreshed the token of channel %s (%s)", current.id, current.network)
        return merged


def connect_channel(
    db: Database,
    *,
    vault: Vault,
    http: httpx.AsyncClient,
    run: Runner,
    workspace_id: uuid.UUID,
    network: str,
    base_url: str | None,
    credentials: Credentials,
    actor: Actor,
) -> Channel:
    """Verify the credentials against the network, then store the channel.

    Like a Home Assistant config flow: nothing is saved unless the network confirmed
    which account these credentials open.
    """
    cls = connector_class(network)
    connector = cls(http=http, credentials=credentials, base_url=base_url)
    account: AccountInfo = run(connector.verify())
    learned = {**connector.credentials.extra, **connector.channel_extra}
    verified = replace(connector.credentials, extra=learned)
    with db.transaction(workspace_id=workspace_id) as session:
        workspace = session.get_one(Workspace, workspace_id)
        return save_connected_channel(
            session,
            vault=vault,
            workspace_id=workspace_id,
            network=cls.network.value,
            base_url=connector.base_url,
            # Verifying may have taught the connector more (a DID, an instance's limits).
            account=account,
            credentials=verified,
            actor=actor,
            timezone=workspace.timezone,
        )
