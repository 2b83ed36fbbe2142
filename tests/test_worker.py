# SPDX-License-Identifier: AGPL-3.0-or-later
"""The worker: outcomes by error class, heartbeat, stopping, and many worker processes.

The process tests start ``tests/worker_helpers.py`` as real processes against one database
(SQLite file or PostgreSQL) to prove what threads in one process cannot: that concurrent
workers never run a job twice, and that the job of a worker killed with SIGKILL is run by
another one once its lease expires.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from socialdesk import jobs
from socialdesk.errors import (
    AuthExpired,
    RateLimited,
    Rejected,
    SocialdeskError,
    TransientError,
    ValidationError,
)
from socialdesk.storage import Database
from socialdesk.storage.tables import Job
from socialdesk.storage.types import utcnow
from socialdesk.worker import (
    PRUNE_KIND,
    JobContext,
    Worker,
    default_handlers,
    ensure_periodic_jobs,
    run_worker_process,
)
from tests.worker_helpers import BLOCK_KIND, RECORD_KIND, runs_from, wait_for

HELPER = Path(__file__).with_name("worker_helpers.py")


def add(db: Database, kind: str = "t", **kwargs: Any) -> int:
    with db.transaction() as session:
        return jobs.enqueue(session, kind=kind, **kwargs).id


def row(db: Database, job_id: int) -> Job:
    with db.transaction() as session:
        return session.get_one(Job, job_id)


def raising(error: Exception | None) -> Callable[[JobContext], None]:
    def handler(_context: JobContext) -> None:
        if error is not None:
            raise error

    return handler


# -- outcomes --------------------------------------------------------------------------

SECOND = dt.timedelta(seconds=1)
FIRST_BACKOFF = dt.timedelta(seconds=jobs.BACKOFF_BASE_SECONDS)


@pytest.mark.parametrize(
    ("error", "max_attempts", "state", "last_error", "retry_within"),
    [
        (None, 5, "done", None, None),
        (
            RateLimited("429 from mastodon.social", retry_after=120),
            5,
            "queued",
            "429 from mastodon.social",
            (120 * SECOND, 120 * SECOND),
        ),
        (RateLimited("429", retry_after=None), 5, "queued", "429", (0 * SECOND, FIRST_BACKOFF)),
        (
            TransientError("502 Bad Gateway"),
            5,
            "queued",
            "502 Bad Gateway",
            (0 * SECOND, FIRST_BACKOFF),
        ),
        (RuntimeError("boom"), 5, "queued", "RuntimeError: boom", (0 * SECOND, FIRST_BACKOFF)),
        (AuthExpired("reconnect the channel"), 5, "failed", "reconnect the channel", None),
        (Rejected("text is too long"), 5, "failed", "text is too long", None),
        (ValidationError("no text"), 5, "failed", "no text", None),
        (SocialdeskError("something we know"), 5, "failed", "something we know", None),
        # A retryable error on the last allowed attempt gives up.
        (TransientError("502"), 1, "failed", "gave up after 1 attempts: 502", None),
        (RateLimited("429", retry_after=5), 1, "failed", "gave up after 1 attempts: 429", None),
        (KeyError("x"), 1, "failed", "gave up after 1 attempts: KeyError: 'x'", None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_the_outcome_follows_the_error_class(
    db: Database,
    error: Exception | None,
    max_attempts: int,
    state: str,
    last_error: str | None,
    retry_within: tuple[dt.timedelta, dt.timedelta] | None,
) -> None:
    job_id = add(db, max_attempts=max_attempts)
    before = utcnow()
    assert Worker(db, {"t": raising(error)}).run_once() == 1
    after = utcnow()
    stored = row(db, job_id)
    assert (stored.state, stored.last_error, stored.attempts) == (state, last_error, 1)
    assert stored.lease_until is None
    if retry_within is None:
        assert stored.finished_at is not None
    else:
        assert stored.finished_at is None
        low, high = retry_within
        assert before + low <= stored.due_at <= after + high


def test_a_job_is_retried_until_its_attempts_are_spent(db: Database) -> None:
    job_id = add(db, max_attempts=3)
    worker = Worker(db, {"t": raising(TransientError("timeout"))})
    for attempt in (1, 2, 3):
        with db.transaction() as session:  # skip the backoff
            session.execute(update(Job).where(Job.id == job_id).values(due_at=utcnow()))
        assert worker.run_once() == 1
        assert row(db, job_id).attempts == attempt
    stored = row(db, job_id)
    assert (stored.state, stored.last_error) == ("failed", "gave up after 3 attempts: timeout")


def test_a_job_of_unknown_kind_fails(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    job_id = add(db, kind="publish.myspace")
    with caplog.at_level(logging.ERROR, logger="socialdesk.worker"):
        assert Worker(db, {"t": raising(None)}).run_once() == 1
    stored = row(db, job_id)
    assert (stored.state, stored.last_error) == ("failed", "no handler for kind 'publish.myspace'")
    assert stored.attempts == 1
    assert "no handler for kind 'publish.myspace'" in caplog.text


def test_an_unexpected_error_is_logged_with_its_traceback_but_not_the_payload(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = add(db, payload={"access_token": "s3cr3t-t0ken"})

    def handler(context: JobContext) -> None:
        assert context.job.payload == {"access_token": "s3cr3t-t0ken"}
        raise ZeroDivisionError("division by zero")

    with caplog.at_level(logging.DEBUG):
        Worker(db, {"t": handler}).run_once()
    [record] = [r for r in caplog.records if r.exc_info and r.name == "socialdesk.worker"]
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError
    assert f"job {job_id} (t)" in record.getMessage()
    assert "s3cr3t-t0ken" not in caplog.text
    assert row(db, job_id).last_error == "ZeroDivisionError: division by zero"


# -- the loop ----------------------------------------------------------------------------


def test_run_once_runs_everything_due_and_nothing_else(db: Database) -> None:
    due = {add(db) for _ in range(10)}
    later = add(db, due_at=utcnow() + dt.timedelta(hours=1))
    ran: list[int] = []
    lock = threading.Lock()

    def handler(context: JobContext) -> None:
        with lock:
            ran.append(context.job.id)

    assert Worker(db, {"t": handler}, concurrency=3).run_once() == 10
    assert sorted(ran) == sorted(due)
    assert all(row(db, job_id).state == "done" for job_id in due)
    assert row(db, later).state == "queued"
    assert Worker(db, {"t": handler}).run_once() == 0


def test_jobs_run_concurrently_up_to_the_limit(db: Database) -> None:
    for _ in range(6):
        add(db)
    active, peak = 0, 0
    lock = threading.Lock()
    three_running = threading.Barrier(3, timeout=10)

    def handler(_context: JobContext) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        three_running.wait()  # breaks (and fails the jobs) unless three run at once
        with lock:
            active -= 1

    assert Worker(db, {"t": handler}, concurrency=3).run_once() == 6
    assert peak == 3
    with db.transaction() as session:
        assert jobs.counts_by_state(session)["done"] == 6


def test_the_heartbeat_keeps_a_long_job_leased(db: Database) -> None:
    job_id = add(db)
    seen: dict[str, Any] = {}

    def handler(context: JobContext) -> None:
        time.sleep(1.6)  # well past the 0.6 s lease it was claimed with
        seen["lease_until"] = row(db, job_id).lease_until
        seen["stolen"] = jobs.claim(db, owner="thief", limit=1, lease_seconds=10)
        seen["lost"] = context.lease_lost.is_set()

    claimed_at = utcnow()
    Worker(db, {"t": handler}, lease_seconds=0.6).run_once()
    assert seen["lease_until"] > claimed_at + dt.timedelta(seconds=1.6)
    assert seen["stolen"] == []
    assert seen["lost"] is False
    stored = row(db, job_id)
    assert (stored.state, stored.attempts) == ("done", 1)


def test_a_lost_lease_is_signalled_and_its_outcome_dropped(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = add(db)
    noticed: list[bool] = []

    def handler(context: JobContext) -> None:
        # What another worker does when it believes this one dead: take the job over.
        with db.transaction() as session:
            session.execute(update(Job).where(Job.id == job_id).values(lease_owner="other"))
        noticed.append(context.lease_lost.wait(timeout=5))

    with caplog.at_level(logging.WARNING):
        Worker(db, {"t": handler}, lease_seconds=0.3).run_once()
    assert noticed == [True]
    stored = row(db, job_id)
    assert (stored.state, stored.lease_owner) == ("running", "other")
    assert "lease lost to another worker" in caplog.text
    assert "lost its lease before recording the outcome" in caplog.text


def test_a_worker_thread_picks_up_new_jobs_and_stops_after_the_running_one(
    db: Database,
) -> None:
    started, release = threading.Event(), threading.Event()

    def handler(context: JobContext) -> None:
        started.set()
        release.wait(timeout=10)

    worker = Worker(db, {"t": handler}, poll_seconds=0.05)
    thread = worker.start_in_thread()
    try:
        first = add(db)
        assert started.wait(timeout=10), "the running worker did not pick up a new job"
        waiting = add(db)
        assert worker.stop(timeout=0.2) is False  # still waiting for the running job
        release.set()
        assert worker.stop(timeout=10) is True
    finally:
        release.set()
        worker.stop(timeout=10)
    assert not thread.is_alive()
    assert row(db, first).state == "done"
    stored = row(db, waiting)  # not claimed once the stop was asked for
    assert (stored.state, stored.attempts) == ("queued", 0)


def test_a_worker_refuses_nonsense_settings(db: Database) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Worker(db, {}, concurrency=0)
    with pytest.raises(ValueError, match="positive"):
        Worker(db, {}, lease_seconds=0)


def test_the_owner_name_says_where_the_worker_runs(db: Database) -> None:
    first, second = Worker(db, {}), Worker(db, {})
    assert first.owner.split(":")[1] == str(os.getpid())
    assert first.owner != second.owner
    assert Worker(db, {}, name="w1").owner == "w1"


def test_run_worker_process_restores_the_signal_handlers(db: Database) -> None:
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    add(db)
    ran = run_worker_process(
        db, {"t": raising(None)}, concurrency=2, once=True, lease_seconds=30, poll_seconds=0.05
    )
    assert ran == 1
    assert {signum: signal.getsignal(signum) for signum in before} == before


class LoopHandler:
    """A :class:`ConcurrentHandler`: its jobs run as tasks on an event loop of its own."""

    def __init__(self, db: Database, outcome: Exception | None = None, *, settle: bool = False):
        self.db = db
        self.outcome = outcome
        self.settle = settle
        self.threads: set[int] = set()
        self.running = 0
        self.peak = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def start(self, context: JobContext) -> Future[None]:
        return asyncio.run_coroutine_threadsafe(self.run(context), self.loop)

    async def run(self, context: JobContext) -> None:
        self.threads.add(threading.get_ident())
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.2)  # waiting on the network, side by side
        self.running -= 1
        if self.outcome is not None:
            raise self.outcome
        if self.settle:  # what the publisher does: settle with its own work
            with self.db.transaction() as session:
                held = jobs.complete_in(session, job_ids=[context.job.id], owner=context.owner)
            if held:
                context.settled.set()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.mark.parametrize(
    ("outcome", "settle", "state", "last_error"),
    [
        (None, False, "done", None),
        (None, True, "done", None),
        (TransientError("502 Bad Gateway"), False, "queued", "502 Bad Gateway"),
        (Rejected("text is too long"), False, "failed", "text is too long"),
        (RuntimeError("boom"), False, "queued", "RuntimeError: boom"),
    ],
    ids=["returns", "settles-itself", "transient", "rejected", "unexpected"],
)
def test_a_concurrent_handler_runs_many_jobs_on_one_thread(
    db: Database,
    caplog: pytest.LogCaptureFixture,
    outcome: Exception | None,
    settle: bool,
    state: str,
    last_error: str | None,
) -> None:
    job_ids = [add(db) for _ in range(6)]
    handler = LoopHandler(db, outcome, settle=settle)
    try:
        with caplog.at_level(logging.WARNING, logger="socialdesk.jobs"):
            assert Worker(db, {"t": handler}, concurrency=6).run_once() == 6
    finally:
        handler.close()
    assert handler.peak == 6  # all six in flight at once ...
    assert len(handler.threads) == 1  # ... on the handler's one thread
    stored = [row(db, job_id) for job_id in job_ids]
    assert {(job.state, job.last_error, job.attempts) for job in stored} == {(state, last_error, 1)}
    # A job the handler settled is not settled a second time by the worker.
    assert "lost its lease" not in caplog.text


def test_an_idle_worker_wakes_when_the_next_job_falls_due(db: Database) -> None:
    ran = threading.Event()
    worker = Worker(db, {"t": lambda _context: ran.set()}, poll_seconds=60)
    add(db, due_at=utcnow() + dt.timedelta(seconds=0.5))
    worker.start_in_thread()
    try:
        # Not after the 60 s poll: the worker slept until the job's due time.
        assert ran.wait(timeout=20), "the job did not run when it fell due"
    finally:
        assert worker.stop(timeout=10)


# -- the periodic prune ------------------------------------------------------------------


def test_prune_deletes_old_finished_jobs_and_schedules_itself(db: Database) -> None:
    now = utcnow()
    old, recent, failed = add(db), add(db), add(db)
    with db.transaction() as session:
        for job_id, state, age in [(old, "done", 8), (recent, "done", 6), (failed, "failed", 30)]:
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(state=state, finished_at=now - dt.timedelta(days=age))
            )
    ensure_periodic_jobs(db)
    ensure_periodic_jobs(db)  # every worker calls it at start: still one job

    assert Worker(db, default_handlers()).run_once() == 1

    with db.transaction() as session:
        prunes = session.scalars(select(Job).where(Job.kind == PRUNE_KIND).order_by(Job.id)).all()
        remaining = set(session.scalars(select(Job.id).where(Job.kind == "t")))
    assert remaining == {recent, failed}
    assert [job.state for job in prunes] == ["done", "queued"]
    following = prunes[1]
    assert now + dt.timedelta(hours=24) <= following.due_at <= utcnow() + dt.timedelta(hours=24)
    bucket = int(following.due_at.timestamp() // dt.timedelta(hours=24).total_seconds())
    assert following.dedupe_key == f"{PRUNE_KIND}:{bucket}"
    ensure_periodic_jobs(db)
    with db.transaction() as session:
        assert jobs.counts_by_state(session)["queued"] == 1


# -- worker processes --------------------------------------------------------------------


class Processes:
    """Worker processes started by one test; all are killed and reaped when it ends."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        index = len(self.started)
        with (self.directory / f"worker-{index}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(HELPER),
                    "--url",
                    self.url,
                    "--dir",
                    str(self.directory),
                    *args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(self.directory.glob("worker-*.log"))
        )

    def wait_all(self, timeout: float) -> list[int]:
        deadline = time.monotonic() + timeout
        codes = []
        for process in self.started:
            try:
                codes.append(process.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker process did not exit in {timeout}s:\n{self.logs()}")
        return codes

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[Processes]:
    started = Processes(database_url, tmp_path)
    try:
        yield started
    finally:
        started.kill_all()


@contextmanager
def show_logs_on_failure(processes: Processes) -> Iterator[None]:
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker logs ---\n{processes.logs()}") from exc


@pytest.mark.slow
def test_many_worker_processes_run_every_job_exactly_once(
    db: Database, processes: Processes, tmp_path: Path
) -> None:
    total, workers = 500, 4
    with db.transaction() as session:
        for _ in range(total):
            jobs.enqueue(session, kind=RECORD_KIND)
    for _ in range(workers):
        processes.start("--once", "--barrier", "--concurrency", "4", "--work-seconds", "0.005")
    with show_logs_on_failure(processes):
        wait_for(
            lambda: len(list(tmp_path.glob("ready-*"))) == workers,
            timeout=30,
            what="the workers to start",
        )
        (tmp_path / "go").touch()  # all claim at once from here
        assert processes.wait_all(timeout=60) == [0] * workers

        runs = runs_from(tmp_path)
        per_job = collections.Counter(job_id for job_id, _, _ in runs)
        assert len(per_job) == total
        assert [job_id for job_id, count in per_job.items() if count != 1] == []
        assert {attempt for _, _, attempt in runs} == {1}
        # The processes did compete for the queue: each of them ran jobs.
        assert len({owner for _, owner, _ in runs}) == workers
    with db.transaction() as session:
        counts = jobs.counts_by_state(session)
        owners = {r.id: r.lease_owner for r in session.execute(select(Job.id, Job.lease_owner))}
    assert counts == {"queued": 0, "running": 0, "done": total, "failed": 0, "cancelled": 0}
    assert owners == {job_id: owner for job_id, owner, _ in runs}


@pytest.mark.slow
def test_the_job_of_a_killed_worker_is_run_by_another_after_its_lease(
    db: Database, processes: Processes, tmp_path: Path
) -> None:
    lease = 3
    job_id = add(db, kind=BLOCK_KIND)
    first = processes.start("--lease", str(lease), "--block-seconds", "60")
    marker = tmp_path / f"started-{job_id}-1"
    with show_logs_on_failure(processes):
        wait_for(marker.exists, timeout=30, what="the first worker to start the job")
        first.send_signal(signal.SIGKILL)  # no clean-up of any kind
        first.wait(timeout=10)
        killed_at = utcnow()
        held = row(db, job_id)
        assert (held.state, held.lease_owner) == ("running", marker.read_text())
        assert held.lease_until is not None

        second = processes.start("--lease", str(lease), "--block-seconds", "0", "--poll", "0.1")
        wait_for(
            lambda: row(db, job_id).state == "done",
            timeout=lease + 30,
            what="the second worker to finish the job",
        )
        taken_over_at = row(db, job_id).started_at
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=10) == 0
    stored = row(db, job_id)
    assert stored.attempts == 2
    assert stored.lease_owner == (tmp_path / f"started-{job_id}-2").read_text()
    assert stored.lease_owner != held.lease_owner
    assert taken_over_at is not None
    # Not before the dead worker's lease expired, and well within the 60 s of invariant 1.
    assert taken_over_at > held.lease_until
    assert taken_over_at - killed_at < dt.timedelta(seconds=lease + 10)


@pytest.mark.slow
def test_sigterm_lets_the_running_job_finish(
    db: Database, processes: Processes, tmp_path: Path
) -> None:
    running = add(db, kind=BLOCK_KIND)
    waiting = add(db, kind=BLOCK_KIND)
    worker = processes.start("--block-seconds", "1.5")
    with show_logs_on_failure(processes):
        wait_for((tmp_path / f"started-{running}-1").exists, timeout=30, what="the job to start")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    assert (row(db, running).state, row(db, running).attempts) == ("done", 1)
    assert (row(db, waiting).state, row(db, waiting).attempts) == ("queued", 0)
