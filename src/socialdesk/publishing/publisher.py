# SPDX-License-Identifier: AGPL-3.0-or-later
"""The publisher: the job handler that sends one delivery to its network, at most once.

How a delivery is published exactly once (DESIGN.md, invariant 1):

1. In one transaction the delivery moves to ``publishing`` and its attempt is counted.
   If it was already ``publishing`` or ``uncertain``, an earlier attempt may have reached
   the network (a worker killed mid-call, a timeout).
2. Outside any transaction the connector is called. Where the network has no idempotency
   of its own (``Idempotency.LOOKUP``), a possibly-sent earlier attempt is first looked
   up on the network. Networks with an idempotency key or a record key we choose are
   simply called again: the repeat cannot make a second post.
3. The external id is stored the moment it is known, in its own transaction.

Failures follow the error tree: rejected → failed with the network's reason; auth expired
→ the channel needs reconnecting and the delivery is held; rate limited, transient or
uncertain → tried again later (uncertain ones looked up first), up to a bounded number of
attempts after which the delivery fails with the last reason.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from socialdesk import notifications
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.connectors.base import (
    Connector,
    Credentials,
    Idempotency,
    MediaItem,
    OutboundPost,
    PublishResult,
)
from socialdesk.connectors.registry import connector_class
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    SocialdeskError,
    TransientError,
    UncertainOutcome,
    ValidationError,
)
from socialdesk.media.library import asset_path, prepare_for_network
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing.channels import (
    ACTIVE,
    DISCONNECTED,
    build_connector,
    fresh_credentials,
    mark_needs_reconnect,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, Delivery
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext

logger = logging.getLogger(__name__)

_OPTION_FIELDS = ("thread", "first_comment", "link")


class _NotSent(TransientError):
    """A passing failure before the network was asked to publish (a token refresh)."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    delivery_id: uuid.UUID
    workspace_id: uuid.UUID
    channel: Channel
    outbound: OutboundPost
    maybe_sent_before: bool
    first_attempt_at: dt.datetime
    attempt: int


class Publisher:
    """The handler of ``publish.delivery`` jobs."""

    def __init__(
        self, *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
    ) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self.network = network
        self._local = threading.local()

    def __call__(self, context: JobContext) -> None:
        delivery_id = uuid.UUID(str(context.job.payload["delivery_id"]))
        attempt = self._begin(delivery_id, job_id=context.job.id)
        if attempt is None:
            return
        try:
            result = self._send(attempt)
        except AuthExpired as exc:
            self._held(attempt, exc)
            return
        except Rejected as exc:
            self._failed(attempt, exc.reason, exc.code)
            return
        except ValidationError as exc:
            self._failed(attempt, exc.message, exc.code)
            return
        except (RateLimited, TransientError) as exc:
            self._retryable(attempt, exc)
            raise
        except SocialdeskError as exc:
            self._failed(attempt, exc.message, exc.code)
            return
        except Exception as exc:
            # A bug or an unexpected answer: the call may have gone through.
            self._retryable(attempt, UncertainOutcome(f"{type(exc).__name__}: {exc}"))
            raise
        self._published(attempt, result)

    # -- the three steps ----------------------------------------------------------------

    def _begin(self, delivery_id: uuid.UUID, *, job_id: int) -> _Attempt | None:
        with self.db.transaction() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.job_id != job_id:
                return None  # deleted, or rescheduled under another job
            if delivery.state not in (dl.PENDING, dl.PUBLISHING, dl.UNCERTAIN):
                return None
            post = delivery.post
            channel = delivery.channel
            if post.status in ("draft", "in_review", "cancelled"):
                return None
            if channel.status == DISCONNECTED:
                dl.cancel_delivery(
                    session, delivery=delivery, reason="the channel was disconnected"
                )
                dl.refresh_post_status(session, post=post)
                return None
            if channel.status != ACTIVE:
                delivery.state = dl.HELD
                delivery.job_id = None
                dl.refresh_post_status(session, post=post)
                return None
            self._check_rate_limit(session, channel)
            maybe_sent = delivery.state in (dl.PUBLISHING, dl.UNCERTAIN) or bool(
                delivery.options.get("_lookup_first")
            )
            delivery.state = dl.PUBLISHING
            delivery.attempts += 1
            delivery.first_attempt_at = delivery.first_attempt_at or utcnow()
            if post.status in ("scheduled", "approved"):
                post.status = "publishing"
            outbound = self._outbound(delivery, attempted_at=delivery.first_attempt_at)
            session.expunge(channel)
            return _Attempt(
                delivery_id=delivery.id,
                workspace_id=delivery.workspace_id,
                channel=channel,
                outbound=outbound,
                maybe_sent_before=maybe_sent,
                first_attempt_at=delivery.first_attempt_at,
                attempt=delivery.attempts,
            )

    def _send(self, attempt: _Attempt) -> PublishResult:
        channel = attempt.channel
        try:
            credentials = fresh_credentials(
                self.db,
                vault=self.vault,
                channel_id=channel.id,
                http=self.network.http,
                run=self.network.run,
                settings=self.settings,
            )
        except TransientError as exc:
            # Even a refresh that timed out sent nothing of the post: no "uncertain" state.
            raise _NotSent(exc.message) from exc
        connector = self._connector(channel, credentials)
        outbound = self._with_prepared_media(attempt.outbound, connector)
        # No idempotency of its own, or a key the network has forgotten by now (Mastodon
        # keeps one for an hour): look the possibly-sent attempt up before sending again.
        if attempt.maybe_sent_before and self._must_look_up(connector, attempt):
            found = self.network.run(connector.find_published(outbound))
            if found is not None:
                logger.info("delivery %s was already published; found it", attempt.delivery_id)
                return found
        return self.network.run(connector.publish(outbound))

    def _connector(self, channel: Channel, credentials: Credentials) -> Connector:
        """This thread's connector for the channel, reused while the credentials stay the same.

        Reuse keeps a network session (Bluesky signs in once, not once per post: its
        sign-in limit is 30 per 5 minutes) and the thread's HTTP connections.
        """
        cache: dict[uuid.UUID, tuple[Credentials, Connector]] | None = getattr(
            self._local, "connectors", None
        )
        if cache is None:
            cache = self._local.connectors = {}
        cached = cache.get(channel.id)
        if cached is not None and cached[0] == credentials:
            return cached[1]
        connector = build_connector(
            channel, credentials, http=self.network.http, settings=self.settings
        )
        cache[channel.id] = (credentials, connector)
        return connector

    @staticmethod
    def _must_look_up(connector: Connector, attempt: _Attempt) -> bool:
        """Whether a repeat could duplicate: no idempotency, or the key has been forgotten."""
        idempotency = connector.capabilities.idempotency
        if idempotency is Idempotency.LOOKUP:
            return True
        window = connector.idempotency_window
        if idempotency is Idempotency.KEY and window is not None:
            age = (utcnow() - attempt.first_attempt_at).total_seconds()
            # Leave a margin: the network's clock and ours differ.
            return age > window - 300
        return False

    def _published(self, attempt: _Attempt, result: PublishResult) -> None:
        with self.db.transaction() as session:
            delivery = session.get_one(Delivery, attempt.delivery_id)
            delivery.state = dl.PUBLISHED
            delivery.external_id = result.external_id
            delivery.external_url = result.url
            delivery.part_ids = list(result.part_ids)
            delivery.published_at = utcnow()
            delivery.options = {k: v for k, v in delivery.options.items() if k != "_lookup_first"}
            delivery.last_error = None
            delivery.last_error_code = None
            delivery.job_id = None
            dl.refresh_post_status(session, post=delivery.post)
        logger.info("published delivery %s as %s", attempt.delivery_id, result.external_id)

    # -- failures -------------------------------------------------------------------------

    def _failed(self, attempt: _Attempt, reason: str, code: str) -> None:
        with self.db.transaction() as session:
            delivery = session.get_one(Delivery, attempt.delivery_id)
            delivery.state = dl.FAILED
            delivery.last_error = reason
            delivery.last_error_code = code
            delivery.job_id = None
            dl.refresh_post_status(session, post=delivery.post)
            notifications.delivery_trouble(session, delivery=delivery)
        logger.info("delivery %s failed: %s", attempt.delivery_id, code)

    def _held(self, attempt: _Attempt, error: AuthExpired) -> None:
        with self.db.transaction() as session:
            # Lock the channel first: deliveries of one channel failing auth in parallel
            # mark it and tell its people once, not once each.
            channel = session.get_one(Channel, attempt.channel.id, with_for_update=True)
            delivery = session.get_one(Delivery, attempt.delivery_id)
            if channel.status == ACTIVE:
                mark_needs_reconnect(session, channel=channel, reason=error.message)
            # An auth failure is definite: the post did not go out on this attempt. An
            # earlier uncertain attempt still needs its lookup, so keep that knowledge.
            delivery.state = dl.HELD
            delivery.last_error = error.message
            delivery.last_error_code = error.code
            delivery.job_id = None
            if attempt.maybe_sent_before:
                delivery.options = {**delivery.options, "_lookup_first": True}
            dl.refresh_post_status(session, post=delivery.post)
            notifications.delivery_trouble(session, delivery=delivery)

    def _retryable(self, attempt: _Attempt, error: SocialdeskError) -> None:
        uncertain = not isinstance(error, _NotSent) and (
            isinstance(error, UncertainOutcome)
            or (
                isinstance(error, TransientError)
                and connector_class(attempt.channel.network).capabilities.idempotency
                is Idempotency.LOOKUP
                and not isinstance(error, RateLimited)
            )
        )
        with self.db.transaction() as session:
            delivery = session.get_one(Delivery, attempt.delivery_id)
            delivery.last_error = error.message
            delivery.last_error_code = error.code
            if uncertain or attempt.maybe_sent_before:
                delivery.state = dl.UNCERTAIN
            else:
                delivery.state = dl.PENDING
            if attempt.attempt >= dl.MAX_DELIVERY_ATTEMPTS:
                if delivery.state == dl.UNCERTAIN:
                    # Never give up on a delivery that might be out there without saying so.
                    delivery.last_error = (
                        f"gave up after {attempt.attempt} attempts; it may have been published"
                        f" — check the channel before retrying ({error.message})"
                    )
                else:
                    delivery.last_error = (
                        f"gave up after {attempt.attempt} attempts: {error.message}"
                    )
                delivery.state = dl.FAILED
                delivery.job_id = None
            dl.refresh_post_status(session, post=delivery.post)
            notifications.delivery_trouble(session, delivery=delivery)
        if attempt.attempt >= dl.MAX_DELIVERY_ATTEMPTS:
            # The delivery carries the outcome; the job must not be retried any more.
            raise Rejected(error.message) from error

    # -- helpers ----------------------------------------------------------------------------

    def _check_rate_limit(self, session: Any, channel: Channel) -> None:
        """Keep under the network's published per-account limit before calling it."""
        limit = connector_class(channel.network).rate_limit
        if limit is None:
            return
        since = utcnow() - dt.timedelta(seconds=limit.per_seconds)
        recent = session.execute(
            select(func.count(), func.min(Delivery.published_at)).where(
                Delivery.channel_id == channel.id,
                Delivery.state == dl.PUBLISHED,
                Delivery.published_at > since,
            )
        ).one()
        count, oldest = recent
        if count >= limit.max_posts and oldest is not None:
            wait = (oldest + dt.timedelta(seconds=limit.per_seconds) - utcnow()).total_seconds()
            raise RateLimited(
                f"{channel.handle} reached {limit.max_posts} posts in {limit.per_seconds} s",
                retry_after=max(1.0, wait),
            )

    def _outbound(self, delivery: Delivery, *, attempted_at: dt.datetime | None) -> OutboundPost:
        options = {k: v for k, v in delivery.options.items() if not k.startswith("_")}
        if attempted_at is not None:
            options["attempted_at"] = attempted_at.isoformat()
        media = tuple(
            MediaItem(
                path=asset_path(self.settings, item.asset),
                mime_type=item.asset.mime_type,
                size_bytes=item.asset.size_bytes,
                alt_text=item.alt_text,
                width=item.asset.width,
                height=item.asset.height,
                duration_seconds=item.asset.duration_seconds,
            )
            for item in delivery.media
        )
        thread = tuple(str(part) for part in options.get("thread", []))
        return OutboundPost(
            text=delivery.text,
            idempotency_key=delivery.idempotency_key,
            media=media,
            thread=thread,
            first_comment=options.get("first_comment"),
            link=options.get("link"),
            options={k: v for k, v in options.items() if k not in _OPTION_FIELDS},
        )

    def _with_prepared_media(self, outbound: OutboundPost, connector: Connector) -> OutboundPost:
        if not outbound.media:
            return outbound
        media = tuple(
            prepare_for_network(self.settings, item, connector.media_rules)
            for item in outbound.media
        )
        return OutboundPost(
            text=outbound.text,
            idempotency_key=outbound.idempotency_key,
            media=media,
            thread=outbound.thread,
            first_comment=outbound.first_comment,
            link=outbound.link,
            options=outbound.options,
        )
