# SPDX-License-Identifier: AGPL-3.0-or-later
"""The worker: claims due jobs from the database and runs them.

One :class:`Worker` runs up to ``concurrency`` jobs at a time and keeps their leases alive
with a heartbeat thread. A plain handler runs each job in a thread of its own; a
:class:`ConcurrentHandler` (the publisher) starts the job and hands back a future, so
many of its jobs wait on the network at once on one event loop instead of one thread each.
Any number of workers, in any number of processes on any number of machines, may share
one PostgreSQL database; on SQLite one worker normally runs inside ``socialdesk serve``
(:meth:`Worker.start_in_thread`). An idle worker sleeps until the next job falls due
(at most ``poll_seconds``), so work due at the top of the hour starts then.

What happens to a job after its handler returns follows the error tree of
:mod:`socialdesk.errors`:

==========================  ==========================================================
handler outcome             job
==========================  ==========================================================
returns                     done
``RateLimited``             queued again at ``retry_after`` (or after a backoff)
``TransientError``          queued again after an exponential backoff
any other SocialdeskError   failed with the error's message (``Rejected``,
                            ``AuthExpired``, ``ValidationError``: retrying won't help)
an unexpected exception     queued again after a backoff; logged with its traceback
no handler for its kind     failed
==========================  ==========================================================

A retryable outcome on the job's last allowed attempt fails it instead. Payloads are
never logged: they may hold secrets. Log lines name the job by id and kind.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk import jobs
from socialdesk.errors import RateLimited, SocialdeskError, TransientError
from socialdesk.jobs import ClaimedJob, JobState
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Job
from socialdesk.storage.types import utcnow

__all__ = [
    "PERIODIC",
    "PRUNE_KIND",
    "ConcurrentHandler",
    "Handler",
    "JobContext",
    "Worker",
    "default_handlers",
    "enqueue_next_run",
    "ensure_periodic_jobs",
    "prune_jobs",
    "run_worker_process",
]

logger = logging.getLogger(__name__)

PRUNE_KIND = "jobs.prune"
#: Done and cancelled jobs are kept this long (to answer "did it run?"), then deleted.
PRUNE_RETENTION = dt.timedelta(days=7)
PRUNE_INTERVAL = dt.timedelta(hours=24)
#: The longest the claim loop waits after a database error before trying again.
MAX_ERROR_PAUSE_SECONDS = 30.0
#: With a backlog, a claim waits this long for more slots to free up rather than taking
#: one job per claim: a claim costs about as much for one job as for fifty.
CLAIM_GATHER_SECONDS = 0.01


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the database, the claimed job and a way to notice a lost lease.

    ``lease_lost`` is set when the heartbeat finds another worker took the job over; a
    long handler should check it between steps and return early, since its outcome will
    not be recorded anyway.
    """

    db: Database
    job: ClaimedJob
    owner: str = ""
    lease_lost: threading.Event = field(default_factory=threading.Event, compare=False)
    #: Set by a handler that marked the job done itself (:func:`socialdesk.jobs.complete_in`
    #: in the transaction that recorded its work, committed): nothing is left to record.
    settled: threading.Event = field(default_factory=threading.Event, compare=False)


Handler = Callable[[JobContext], None]


@runtime_checkable
class ConcurrentHandler(Protocol):
    """A handler that runs its jobs itself, many at once, and hands back a future per job.

    The future's outcome is the job's outcome, exactly as a plain handler returning or
    raising. ``start`` must return at once: it runs on the claim loop's thread.
    """

    def start(self, context: JobContext) -> Future[None]: ...


AnyHandler = Handler | ConcurrentHandler
_SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def prune_jobs(context: JobContext) -> None:
    """Delete finished jobs past retention, and schedule the next prune a day later.

    Both happen in one transaction, and the next run's dedupe key names its time bucket,
    so however many workers run this (or run it twice after a crash) there is one next run.
    """
    now = utcnow()
    with context.db.transaction() as session:
        deleted = jobs.prune_finished(session, older_than=now - PRUNE_RETENTION)
        enqueue_next_run(session, kind=PRUNE_KIND, interval=PRUNE_INTERVAL, now=now)
    logger.info("pruned %s finished jobs older than %s days", deleted, PRUNE_RETENTION.days)


#: Periodic job kinds and how often they run; their handlers enqueue their own next run.
PERIODIC: dict[str, dt.timedelta] = {PRUNE_KIND: PRUNE_INTERVAL}


def _periodic_dedupe_key(kind: str, due_at: dt.datetime, interval: dt.timedelta) -> str:
    bucket = int(due_at.timestamp() // interval.total_seconds())
    return f"{kind}:{bucket}"


def enqueue_next_run(
    session: Session, *, kind: str, interval: dt.timedelta, now: dt.datetime
) -> None:
    """Enqueue a periodic job's next run, once however many workers ask."""
    due_at = now + interval
    jobs.enqueue(
        session, kind=kind, due_at=due_at, dedupe_key=_periodic_dedupe_key(kind, due_at, interval)
    )


def ensure_periodic_jobs(db: Database, periodic: Mapping[str, dt.timedelta] = PERIODIC) -> None:
    """Enqueue the periodic jobs that are not queued or running yet; safe to call always.

    Every worker process calls this at start. Concurrent callers enqueue under the same
    dedupe key (the current time bucket), so there is one job however many workers start.
    """
    now = utcnow()
    with db.transaction() as session:
        for kind, interval in periodic.items():
            pending = session.scalars(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
                )
                .limit(1)
            ).first()
            if pending is None:
                jobs.enqueue(
                    session,
                    kind=kind,
                    due_at=now,
                    dedupe_key=_periodic_dedupe_key(kind, now, interval),
                )


def default_handlers() -> dict[str, Handler]:
    """The built-in job kinds and their handlers: the one explicit registry."""
    return {PRUNE_KIND: prune_jobs}


def default_owner_name() -> str:
    """``host:pid:random``: unique per worker, and says where to look when one misbehaves."""
    # The column is 120 characters; a long FQDN must not make every claim fail.
    return f"{socket.gethostname()[:90]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class _Running:
    context: JobContext
    #: Set when the handler returned and the outcome is being written: the heartbeat no
    #: longer reports a vanished lease as lost, since settling is what made it vanish.
    settling: bool = False


class Worker:
    """Claims due jobs and runs them with ``handlers``, ``concurrency`` at a time."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, AnyHandler],
        *,
        concurrency: int = 1,
        lease_seconds: float = 30,
        poll_seconds: float = 1.0,
        name: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if lease_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("lease_seconds and poll_seconds must be positive")
        self.db = db
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.owner = name or default_owner_name()
        #: Extend leases three times per lease: one missed beat (a slow query) is harmless.
        self.heartbeat_seconds = lease_seconds / 3
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._ran = 0
        #: Set when a slot frees up or a stop is requested: the loop then claims at once.
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        #: Claim at least this many jobs at once when a backlog is waiting.
        self._claim_batch = max(1, concurrency // 10)

    # -- public entry points ------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Run until ``stop`` is set, then finish the running jobs and return.

        Returns how many jobs ran. Setting ``stop`` from elsewhere is noticed within
        ``poll_seconds``; :meth:`request_stop` is noticed at once.
        """
        return self._serve(stop, until_idle=False)

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Run every job that is due now, until none is left; return how many ran.

        "Due now" is fixed when the call starts: a job retried with a backoff, or enqueued
        by a handler for a moment after the start, waits for the next call. So a failing
        job cannot spend all its attempts in one call (``socialdesk worker --once``).
        """
        return self._serve(stop or threading.Event(), until_idle=True)

    def request_stop(self) -> None:
        """Stop claiming, let running jobs finish; the running loop returns after that."""
        if self._stop is not None:
            self._stop.set()
        self._wake.set()

    def start_in_thread(self) -> threading.Thread:
        """Run the worker in a background thread (the worker inside ``socialdesk serve``)."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this worker is running already")
        stop = threading.Event()
        self._thread = threading.Thread(
            target=self.run, args=(stop,), name=f"socialdesk-worker-{self.owner}", daemon=True
        )
        # A daemon thread: if the server exits without calling stop(), the process still
        # exits, and the jobs in flight are claimed again once their leases expire.
        self._stop = stop
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread of :meth:`start_in_thread`; True if it ended within ``timeout``."""
        self.request_stop()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # -- the loop -----------------------------------------------------------------------

    def _serve(self, stop: threading.Event, *, until_idle: bool) -> int:
        self._stop = stop
        due_by = utcnow() if until_idle else None
        with self._lock:
            ran_before = self._ran
        heartbeat_stop = threading.Event()
        beating = threading.Thread(
            target=self._beat, args=(heartbeat_stop,), name="socialdesk-heartbeat", daemon=True
        )
        beating.start()
        logger.info(
            "worker %s started: %s slots, lease %ss, handlers %s",
            self.owner,
            self.concurrency,
            self.lease_seconds,
            ", ".join(sorted(self.handlers)),
        )
        try:
            with ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="socialdesk-job"
            ) as executor:
                self._claim_loop(executor, stop, until_idle=until_idle, due_by=due_by)
                if stop.is_set():
                    logger.info("worker %s stopping: waiting for running jobs", self.owner)
                # Concurrent jobs record their outcome through the executor: it must
                # outlive them. The heartbeat keeps beating meanwhile.
                self._wait_until_idle()
        finally:
            heartbeat_stop.set()
            beating.join()
        with self._lock:
            ran = self._ran - ran_before
        logger.info("worker %s stopped after %s jobs", self.owner, ran)
        return ran

    def _claim_loop(
        self,
        executor: ThreadPoolExecutor,
        stop: threading.Event,
        *,
        until_idle: bool,
        due_by: dt.datetime | None,
    ) -> None:
        errors_in_a_row = 0
        backlog = False
        while not stop.is_set():
            # Cleared before looking at the slots, so a job that finishes from here on
            # wakes the wait below instead of being missed.
            self._wake.clear()
            free = self._free_slots()
            if backlog and 0 < free < self._claim_batch:
                stop.wait(CLAIM_GATHER_SECONDS)
                free = self._free_slots()
            claimed: list[ClaimedJob] = []
            if free > 0:
                try:
                    claimed = jobs.claim(
                        self.db,
                        owner=self.owner,
                        limit=free,
                        lease_seconds=self.lease_seconds,
                        due_by=due_by,
                    )
                except Exception:
                    if until_idle:
                        raise  # a one-off run reports the failure instead of waiting it out
                    errors_in_a_row = min(errors_in_a_row + 1, 16)  # 2**16 polls: past the cap
                    pause = min(MAX_ERROR_PAUSE_SECONDS, self.poll_seconds * 2**errors_in_a_row)
                    logger.exception("claiming jobs failed; trying again in %.1fs", pause)
                    stop.wait(pause)
                    continue
                errors_in_a_row = 0
                for job in claimed:
                    self._submit(executor, job)
            with self._lock:
                idle = not self._running
            if until_idle and idle and free > 0 and not claimed:
                return
            backlog = free > 0 and len(claimed) == free
            if backlog:
                continue  # every free slot found work: more may be due
            self._wake.wait(self._idle_wait(until_idle=until_idle, has_free_slots=free > 0))

    def _free_slots(self) -> int:
        with self._lock:
            return self.concurrency - len(self._running)

    def _idle_wait(self, *, until_idle: bool, has_free_slots: bool) -> float:
        """How long to wait for a free slot or new work: up to the next due job, at most
        ``poll_seconds`` (new jobs may be enqueued elsewhere, due earlier)."""
        if until_idle or not has_free_slots:
            return self.poll_seconds
        try:
            due_at = jobs.next_due_at(self.db)
        except Exception:
            logger.exception("looking up the next due job failed")
            return self.poll_seconds
        if due_at is None:
            return self.poll_seconds
        # A job due already but not claimed is being claimed by another worker right now:
        # a short pause, not a busy loop.
        until_due = max(CLAIM_GATHER_SECONDS, (due_at - utcnow()).total_seconds())
        return min(self.poll_seconds, until_due)

    def _wait_until_idle(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                if not self._running:
                    return
            self._wake.wait(self.poll_seconds)

    def _submit(self, executor: ThreadPoolExecutor, job: ClaimedJob) -> None:
        context = JobContext(db=self.db, job=job, owner=self.owner)
        with self._lock:
            if job.id in self._running:
                # Its lease ran out while it still runs here (the heartbeat could not extend
                # it in time) and this worker claimed it back: the claim renewed the lease
                # and the run in progress goes on. Starting it again would run the job twice
                # at once, and the first run to end would drop the other's bookkeeping.
                logger.warning(
                    "job %s (%s): its lease ran out while it was running here; reclaimed",
                    job.id,
                    job.kind,
                )
                return
            self._running[job.id] = _Running(context)
        handler = self.handlers.get(job.kind)
        if not isinstance(handler, ConcurrentHandler):
            executor.submit(self._execute, context)
            return
        try:
            started = handler.start(context)
        except Exception as exc:  # a bug in start(): the job's outcome, like any other
            started = Future()
            started.set_exception(exc)
        started.add_done_callback(functools.partial(self._started_done, executor, context))

    def _started_done(
        self, executor: ThreadPoolExecutor, context: JobContext, started: Future[None]
    ) -> None:
        """Runs on the handler's thread (an event loop) when a started job ends."""
        if context.settled.is_set() and not started.cancelled() and started.exception() is None:
            # Recorded in the handler's own transaction: only the bookkeeping is left.
            logger.debug("job %s (%s) done", context.job.id, context.job.kind)
            self._forget(context.job)
            return
        # Writing the outcome takes the database: in a pool thread, never on that loop.
        executor.submit(self._execute, context, started)

    def _execute(self, context: JobContext, started: Future[None] | None = None) -> None:
        """Run one job (or take the outcome of a started one) and record the outcome.

        Never raises: this is a pool thread.
        """
        job = context.job
        try:
            if started is None:
                error = self._call_handler(context)
            else:
                error = self._outcome(context, started)
            with self._lock:
                self._running[job.id].settling = True
            if error is None and context.settled.is_set():
                logger.debug("job %s (%s) done", job.id, job.kind)
            else:
                self._record(job, error)
        except Exception:
            # The outcome could not be written (database gone?). The lease will expire and
            # the job will run again: at least once, never silently lost.
            logger.exception("job %s (%s): recording the outcome failed", job.id, job.kind)
        finally:
            self._forget(job)

    def _forget(self, job: ClaimedJob) -> None:
        """The job is over here: free its slot and wake the claim loop."""
        with self._lock:
            self._running.pop(job.id, None)
            self._ran += 1
        self._wake.set()

    def _call_handler(self, context: JobContext) -> Exception | None:
        job = context.job
        handler = self.handlers.get(job.kind)
        if handler is None:
            return _NoHandler(f"no handler for kind {job.kind!r}")
        logger.debug("job %s (%s) starting, attempt %s", job.id, job.kind, job.attempts)
        try:
            if isinstance(handler, ConcurrentHandler):
                handler.start(context).result()  # not reached from _submit; for completeness
            else:
                handler(context)
        except Exception as exc:
            return self._as_outcome(job, exc)
        return None

    def _outcome(self, context: JobContext, started: Future[None]) -> Exception | None:
        try:
            started.result()
        except Exception as exc:  # CancelledError too: the work may not have run
            return self._as_outcome(context.job, exc)
        return None

    @staticmethod
    def _as_outcome(job: ClaimedJob, exc: Exception) -> Exception:
        if not isinstance(exc, SocialdeskError):
            logger.error(
                "job %s (%s) attempt %s of %s raised an unexpected error",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                exc_info=exc,
            )
        return exc

    def _record(self, job: ClaimedJob, error: Exception | None) -> None:
        owner = self.owner
        if error is None:
            if jobs.complete(self.db, job_id=job.id, owner=owner):
                logger.info("job %s (%s) done", job.id, job.kind)
            return
        if isinstance(error, _NoHandler):
            logger.error("job %s: %s", job.id, error.message)
            jobs.fail(self.db, job_id=job.id, owner=owner, error=error.message)
            return
        if isinstance(error, SocialdeskError) and not isinstance(
            error, RateLimited | TransientError
        ):
            logger.warning(
                "job %s (%s) failed: %s: %s", job.id, job.kind, type(error).__name__, error.message
            )
            jobs.fail(self.db, job_id=job.id, owner=owner, error=error.message)
            return

        if isinstance(error, SocialdeskError):
            message = error.message
            logger.warning(
                "job %s (%s) attempt %s of %s: %s: %s",
                job.id,
                job.kind,
                job.attempts,
                job.max_attempts,
                type(error).__name__,
                message,
            )
        else:
            message = f"{type(error).__name__}: {error}"  # logged with its traceback already
        if job.attempts >= job.max_attempts:
            jobs.fail(
                self.db,
                job_id=job.id,
                owner=owner,
                error=f"gave up after {job.attempts} attempts: {message}",
            )
            return
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(0.0, error.retry_after)
        else:
            delay = jobs.backoff_delay(job.attempts)
        due_at = utcnow() + dt.timedelta(seconds=delay)
        if jobs.retry_later(self.db, job_id=job.id, owner=owner, error=message, due_at=due_at):
            logger.info("job %s (%s) will be retried in %.1fs", job.id, job.kind, delay)

    # -- the heartbeat ------------------------------------------------------------------

    def _beat(self, stop: threading.Event) -> None:
        """Extend the leases of running jobs until ``stop`` is set. Never raises."""
        while not stop.wait(self.heartbeat_seconds):
            with self._lock:
                ids = {job_id for job_id, run in self._running.items() if not run.settling}
            if not ids:
                continue
            try:
                held = jobs.heartbeat(
                    self.db, owner=self.owner, job_ids=ids, lease_seconds=self.lease_seconds
                )
            except Exception:
                # Keep beating: a lease lasts three beats, so one failure costs nothing.
                logger.exception("heartbeat of %s jobs failed", len(ids))
                continue
            gone = ids - held
            if gone:
                try:
                    # Not held any more: taken over, or settled by its handler meanwhile.
                    gone = jobs.taken_over(self.db, owner=self.owner, job_ids=gone)
                except Exception:
                    logger.exception("looking up %s jobs that lost their lease failed", len(gone))
                    continue
            with self._lock:
                lost = [
                    run
                    for job_id, run in self._running.items()
                    if job_id in gone and not run.settling
                ]
            for run in lost:
                if not run.context.lease_lost.is_set():
                    run.context.lease_lost.set()
                    logger.warning(
                        "job %s (%s): lease lost to another worker; its outcome will be dropped",
                        run.context.job.id,
                        run.context.job.kind,
                    )


class _NoHandler(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def run_worker_process(
    db: Database,
    handlers: Mapping[str, AnyHandler],
    *,
    concurrency: int,
    once: bool,
    lease_seconds: float,
    poll_seconds: float,
    periodic: Mapping[str, dt.timedelta] = PERIODIC,
) -> int:
    """Run a worker as the whole process (``socialdesk worker``); return how many jobs ran.

    The first SIGTERM or SIGINT stops claiming and lets running jobs finish, so a deploy
    or Ctrl-C loses nothing; a second one acts as usual (ends the process at once), and the
    jobs still running are then claimed again by another worker after their leases expire.
    """
    worker = Worker(
        db,
        handlers,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll_seconds=poll_seconds,
    )
    stop = threading.Event()
    previous: dict[signal.Signals, _SignalHandler] = {}

    def restore() -> None:
        for signum, handler in previous.items():
            # None: a handler not installed from Python; the default is the best we can do.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        previous.clear()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info(
            "%s: finishing running jobs, then exiting (send it again to exit now)",
            signal.Signals(signum).name,
        )
        stop.set()
        worker.request_stop()
        restore()

    # Python lets only the main thread install signal handlers.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, on_signal)
    try:
        ensure_periodic_jobs(
            db, {kind: every for kind, every in periodic.items() if kind in worker.handlers}
        )
        return worker.run_once(stop) if once else worker.run(stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            restore()
