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
3. The external id is stored the moment it is known, in its own transaction, which also
   marks the job done (:func:`socialdesk.jobs.complete_in`).

Failures follow the error tree: rejected → failed with the network's reason; auth expired
→ the channel needs reconnecting and the delivery is held; rate limited, transient or
uncertain → tried again later (uncertain ones looked up first), up to a bounded number of
attempts after which the delivery fails with the last reason.

The publisher is a :class:`~socialdesk.worker.ConcurrentHandler`: its jobs run as
coroutines on the :class:`NetworkRuntime`'s event loop, so a worker keeps many publishes
waiting on the network on one thread. Steps 1 and 3 of publishes that arrive together
share one transaction (:class:`_Batcher`), run on a small pool of database threads so the
loop never waits for the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from socialdesk import jobs, notifications
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
    REFRESH_MARGIN,
    build_connector,
    fresh_credentials,
    load_credentials,
    mark_needs_reconnect,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, Delivery, Post
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext

logger = logging.getLogger(__name__)

_OPTION_FIELDS = ("thread", "first_comment", "link")
#: Publishes whose first or last step share one transaction, at most.
MAX_BATCH = 100
#: Threads writing the publisher's transactions. SQLite has one writer at a time, and
#: threads of one process queueing for its lock would sleep in its busy handler.
DB_THREADS = {"sqlite": 1, "postgresql": 2}

Item = TypeVar("Item")
Result = TypeVar("Result")


class _NotSent(TransientError):
    """A passing failure before the network was asked to publish (a token refresh)."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    delivery_id: uuid.UUID
    workspace_id: uuid.UUID
    post_id: uuid.UUID
    channel: Channel
    #: None when the token is about to expire: refreshed (outside the batch) before use.
    credentials: Credentials | None
    outbound: OutboundPost
    maybe_sent_before: bool
    first_attempt_at: dt.datetime
    attempt: int
    #: The delivery's options once published, if they carry a note to drop then.
    options_once_published: dict[str, Any] | None = None


@dataclass(slots=True)
class _Recent:
    """A channel's publishes in its rate-limit window, as a batch counts them."""

    count: int
    oldest: dt.datetime | None


@dataclass(slots=True)
class _BeginBatch:
    """What one begin transaction gathers before writing it all at once."""

    deliveries: list[uuid.UUID]
    now: dt.datetime
    #: Rows of the deliveries that begin now, for one UPDATE by primary key.
    begun: list[dict[str, Any]] = field(default_factory=list)
    #: Posts to mark ``publishing`` (those still ``scheduled`` or ``approved``).
    posts: set[uuid.UUID] = field(default_factory=set)
    recent: dict[uuid.UUID, _Recent] = field(default_factory=dict)
    credentials: dict[uuid.UUID, Credentials | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Published:
    context: JobContext
    attempt: _Attempt
    result: PublishResult


class _Batcher(Generic[Item, Result]):
    """Runs ``run`` on the items requested while its previous call ran: one transaction
    for all of them (group commit), in a database thread, never blocking the loop.

    ``run`` returns one result or exception per item. When the whole call fails (one bad
    item, a deadlock), each item is run again on its own, so one item's failure is its
    own and not its neighbours'. Used only from the event loop's thread.
    """

    def __init__(
        self, run: Callable[[list[Item]], list[Result | Exception]], executor: Executor
    ) -> None:
        self._run = run
        self._executor = executor
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._running = False

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if not self._running and len(self._waiting) == 1:
            # Not at once: the other jobs started in this turn of the loop join the batch.
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        if self._running or not self._waiting:
            return
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        self._running = True
        items = [item for item, _ in batch]
        done = asyncio.get_running_loop().run_in_executor(self._executor, self._run_all, items)
        done.add_done_callback(functools.partial(self._finished, batch))

    def _finished(
        self,
        batch: list[tuple[Item, asyncio.Future[Result]]],
        done: asyncio.Future[list[Result | Exception]],
    ) -> None:
        self._running = False
        error = done.exception()
        results: Sequence[Result | BaseException] = (
            [error] * len(batch) if error is not None else done.result()
        )
        for (_item, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._flush()

    def _run_all(self, items: list[Item]) -> list[Result | Exception]:
        try:
            return self._run(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
        return [self._run_one(item) for item in items]

    def _run_one(self, item: Item) -> Result | Exception:
        try:
            return self._run([item])[0]
        except Exception as exc:
            return exc


class Publisher:
    """The handler of ``publish.delivery`` jobs."""

    def __init__(
        self, *, db: Database, settings: Settings, vault: Vault, network: NetworkRuntime
    ) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self.network = network
        self._db_threads = ThreadPoolExecutor(
            max_workers=DB_THREADS.get(db.engine.dialect.name, 2),
            thread_name_prefix="socialdesk-publish-db",
        )
        self._begins = _Batcher(self._begin_many, self._db_threads)
        self._settles = _Batcher(self._published_many, self._db_threads)
        #: Connectors by channel, reused while the credentials stay the same; only touched
        #: on the network loop. Reuse keeps a network session (Bluesky signs in once, not
        #: once per post: its sign-in limit is 30 per 5 minutes).
        self._connectors: dict[uuid.UUID, tuple[Credentials, Connector]] = {}

    def start(self, context: JobContext) -> Future[None]:
        """Publish the job's delivery on the network loop (the worker's entry point)."""
        return self.network.submit(self._publish(context))

    def __call__(self, context: JobContext) -> None:
        self.start(context).result()

    async def _publish(self, context: JobContext) -> None:
        delivery_id = uuid.UUID(str(context.job.payload["delivery_id"]))
        attempt = await self._begins.submit((delivery_id, context.job.id))
        if attempt is None:
            return
        try:
            result = await self._send(attempt)
        except AuthExpired as exc:
            await self._in_db(self._held, attempt, exc)
            return
        except Rejected as exc:
            await self._in_db(self._failed, attempt, exc.reason, exc.code)
            return
        except ValidationError as exc:
            await self._in_db(self._failed, attempt, exc.message, exc.code)
            return
        except (RateLimited, TransientError) as exc:
            await self._in_db(self._retryable, attempt, exc)
            raise
        except SocialdeskError as exc:
            await self._in_db(self._failed, attempt, exc.message, exc.code)
            return
        except Exception as exc:
            # A bug or an unexpected answer: the call may have gone through.
            uncertain = UncertainOutcome(f"{type(exc).__name__}: {exc}")
            await self._in_db(self._retryable, attempt, uncertain)
            raise
        await self._settles.submit(_Published(context=context, attempt=attempt, result=result))

    async def _in_db(self, function: Callable[..., None], *args: Any) -> None:
        """Run one of the single-publish transactions (the failures) in a database thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._db_threads, functools.partial(function, *args))

    # -- the three steps ----------------------------------------------------------------

    def _begin_many(
        self, requests: list[tuple[uuid.UUID, int]]
    ) -> list[_Attempt | Exception | None]:
        """Step 1 for many deliveries (``(delivery id, job id)``), in one transaction.

        The deliveries are read through the ORM (with their post, channel and media) and
        written back with plain UPDATEs by primary key, one executemany for the batch.
        """
        with self.db.transaction() as session:
            found = {
                delivery.id: delivery
                for delivery in session.scalars(
                    select(Delivery)
                    .where(Delivery.id.in_([delivery_id for delivery_id, _ in requests]))
                    .options(joinedload(Delivery.post))
                )
            }
            batch = _BeginBatch(deliveries=list(found), now=utcnow())
            results: list[_Attempt | Exception | None] = []
            # The reads in the loop (rate-limit counts, credentials) do not depend on the
            # writes before them: no flush before each of them.
            with session.no_autoflush:
                for delivery_id, job_id in requests:
                    delivery = found.get(delivery_id)
                    if delivery is None or delivery.job_id != job_id:
                        results.append(None)  # deleted, or rescheduled under another job
                        continue
                    results.append(self._begin_one(session, delivery, batch=batch))
            # The rare changes made through the ORM (a channel disconnected or held) go
            # first: the UPDATEs below then see the post statuses they computed.
            session.flush()
            if batch.begun:
                session.execute(update(Delivery), batch.begun)
            if batch.posts:
                session.execute(
                    update(Post)
                    .where(Post.id.in_(batch.posts), Post.status.in_(("scheduled", "approved")))
                    .values(status="publishing", updated_at=batch.now)
                    .execution_options(synchronize_session=False)
                )
            return results

    def _begin_one(
        self, session: Session, delivery: Delivery, *, batch: _BeginBatch
    ) -> _Attempt | Exception | None:
        if delivery.state not in (dl.PENDING, dl.PUBLISHING, dl.UNCERTAIN):
            return None
        post = delivery.post
        channel = delivery.channel
        if post.status in ("draft", "in_review", "cancelled"):
            return None
        if channel.status == DISCONNECTED:
            dl.cancel_delivery(session, delivery=delivery, reason="the channel was disconnected")
            session.flush()  # the post's status is read back from its deliveries' states
            dl.refresh_post_status(session, post=post)
            return None
        if channel.status != ACTIVE:
            delivery.state = dl.HELD
            delivery.job_id = None
            session.flush()
            dl.refresh_post_status(session, post=post)
            return None
        # Checked before anything is written: a refusal leaves this delivery untouched.
        refusal = self._rate_limit_refusal(
            session, channel, recent=batch.recent, batch=batch.deliveries
        )
        if refusal is not None:
            return refusal
        if channel.id not in batch.credentials:
            batch.credentials[channel.id] = self._usable_credentials(session, channel)
        maybe_sent = delivery.state in (dl.PUBLISHING, dl.UNCERTAIN) or bool(
            delivery.options.get("_lookup_first")
        )
        attempt = delivery.attempts + 1
        first_attempt_at = delivery.first_attempt_at or batch.now
        batch.begun.append(
            {
                "id": delivery.id,
                "state": dl.PUBLISHING,
                "attempts": attempt,
                "first_attempt_at": first_attempt_at,
                "updated_at": batch.now,
            }
        )
        if post.status in ("scheduled", "approved"):
            batch.posts.add(post.id)
        lookup_note = "_lookup_first" in delivery.options
        return _Attempt(
            delivery_id=delivery.id,
            workspace_id=delivery.workspace_id,
            post_id=delivery.post_id,
            channel=channel,
            credentials=batch.credentials[channel.id],
            outbound=self._outbound(delivery, attempted_at=first_attempt_at),
            maybe_sent_before=maybe_sent,
            first_attempt_at=first_attempt_at,
            attempt=attempt,
            options_once_published=(
                {k: v for k, v in delivery.options.items() if k != "_lookup_first"}
                if lookup_note
                else None
            ),
        )

    def _usable_credentials(self, session: Session, channel: Channel) -> Credentials | None:
        """The stored credentials if they are good for a while; None if they need a refresh.

        Read in the batch's transaction: what :func:`fresh_credentials` would read in one
        of its own, for every publish but the rare one that must refresh a token first.
        """
        stored = load_credentials(session, vault=self.vault, channel=channel)
        expires = stored.expires_at
        if expires is None or expires - REFRESH_MARGIN > utcnow():
            return stored
        return None

    async def _send(self, attempt: _Attempt) -> PublishResult:
        loop = asyncio.get_running_loop()
        credentials = attempt.credentials
        if credentials is None:
            # A refresh waits on the network and maybe on another refresher's lease: in a
            # thread of the loop's default pool, not in a database thread.
            credentials = await loop.run_in_executor(None, self._fresh_credentials, attempt)
        connector = self._connector(attempt.channel, credentials)
        outbound = attempt.outbound
        if outbound.media:
            # Resizing and transcoding take CPU and disk time: not on the loop.
            outbound = await loop.run_in_executor(
                None, self._with_prepared_media, outbound, connector
            )
        # No idempotency of its own, or a key the network has forgotten by now (Mastodon
        # keeps one for an hour): look the possibly-sent attempt up before sending again.
        if attempt.maybe_sent_before and self._must_look_up(connector, attempt):
            found = await connector.find_published(outbound)
            if found is not None:
                logger.info("delivery %s was already published; found it", attempt.delivery_id)
                return found
        return await connector.publish(outbound)

    def _fresh_credentials(self, attempt: _Attempt) -> Credentials:
        try:
            return fresh_credentials(
                self.db,
                vault=self.vault,
                channel_id=attempt.channel.id,
                http=self.network.http,
                run=self.network.run,
                settings=self.settings,
            )
        except TransientError as exc:
            # Even a refresh that timed out sent nothing of the post: no "uncertain" state.
            raise _NotSent(exc.message) from exc

    def _connector(self, channel: Channel, credentials: Credentials) -> Connector:
        """The channel's connector, reused while the credentials stay the same."""
        cached = self._connectors.get(channel.id)
        if cached is not None and cached[0] == credentials:
            return cached[1]
        connector = build_connector(
            channel, credentials, http=self.network.http, settings=self.settings
        )
        self._connectors[channel.id] = (credentials, connector)
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

    def _published_many(self, items: list[_Published]) -> list[Exception | None]:
        """Step 3 for many publishes in one transaction: store what the network answered,
        settle the posts' statuses and mark the jobs done.

        Plain UPDATEs by primary key (one executemany per shape), without loading the
        deliveries: this runs once per publish and the ORM's bookkeeping was most of it.
        """
        now = utcnow()
        rows: list[dict[str, Any]] = []
        rows_with_options: list[dict[str, Any]] = []
        for item in items:
            result = item.result
            row = {
                "id": item.attempt.delivery_id,
                "state": dl.PUBLISHED,
                "external_id": result.external_id,
                "external_url": result.url,
                "part_ids": list(result.part_ids),
                "published_at": now,
                "last_error": None,
                "last_error_code": None,
                "job_id": None,
                "updated_at": now,
            }
            if item.attempt.options_once_published is None:
                rows.append(row)
            else:
                rows_with_options.append({**row, "options": item.attempt.options_once_published})
        with self.db.transaction() as session:
            for batch in (rows, rows_with_options):
                if batch:
                    session.execute(update(Delivery), batch)
            dl.refresh_post_statuses(session, post_ids={item.attempt.post_id for item in items})
            by_owner: dict[str, list[int]] = defaultdict(list)
            for item in items:
                by_owner[item.context.owner].append(item.context.job.id)
            done: set[int] = set()
            for owner, job_ids in by_owner.items():
                done |= jobs.complete_in(session, job_ids=job_ids, owner=owner, now=now)
        for item in items:
            if item.context.job.id in done:
                item.context.settled.set()
            logger.info(
                "published delivery %s as %s", item.attempt.delivery_id, item.result.external_id
            )
        return [None] * len(items)

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

    def _rate_limit_refusal(
        self,
        session: Session,
        channel: Channel,
        *,
        recent: dict[uuid.UUID, _Recent],
        batch: Collection[uuid.UUID],
    ) -> RateLimited | None:
        """Keep under the network's published per-account limit before calling it.

        Publishes on their way count too: deliveries ``publishing`` in other batches or
        workers, and those let through earlier in this batch (``recent`` holds, per channel,
        the count made at the batch's first delivery of that channel, plus those).
        """
        limit = connector_class(channel.network).rate_limit
        if limit is None:
            return None
        counted = recent.get(channel.id)
        if counted is None:
            since = utcnow() - dt.timedelta(seconds=limit.per_seconds)
            count, oldest = session.execute(
                select(func.count(), func.min(Delivery.published_at)).where(
                    Delivery.channel_id == channel.id,
                    or_(
                        and_(Delivery.state == dl.PUBLISHED, Delivery.published_at > since),
                        and_(Delivery.state == dl.PUBLISHING, Delivery.id.not_in(batch)),
                    ),
                )
            ).one()
            counted = recent[channel.id] = _Recent(count=count, oldest=oldest)
        if counted.count < limit.max_posts:
            counted.count += 1
            return None
        window_ends = (counted.oldest or utcnow()) + dt.timedelta(seconds=limit.per_seconds)
        wait = (window_ends - utcnow()).total_seconds()
        return RateLimited(
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
