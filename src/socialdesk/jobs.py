# SPDX-License-Identifier: AGPL-3.0-or-later
"""The job queue, kept in the database: enqueue, claim under a lease, settle.

socialdesk needs a queue that runs embedded on one SQLite file and across many machines
on one PostgreSQL, and that never loses work when a worker dies (design invariant 1).
So a unit of work is a row of ``jobs`` and its life is::

    queued ──claim──► running ──complete──► done
      ▲  │               │ └────fail───────► failed
      │  cancel          │
      │  ▼               └──retry_later──► queued (due later)
    cancelled        running with an expired lease ──claim──► running (another owner)

A worker *claims* due rows in one transaction: on PostgreSQL with
``FOR UPDATE SKIP LOCKED`` so that concurrent workers pass each other instead of
queueing; on SQLite every transaction is ``BEGIN IMMEDIATE`` (see
:mod:`socialdesk.storage.engine`), which serialises claims. A claim writes a short lease
(``lease_owner``, ``lease_until``) that the worker's heartbeat keeps extending. When a
worker dies, its lease runs out and the next claim takes the row again, counting one more
attempt, until ``max_attempts`` is spent.

Every settling call (:func:`complete`, :func:`retry_later`, :func:`fail`) only touches a
row that is still ``running`` under the caller's lease, so a worker that lost its lease
(paused too long, network partition) cannot overwrite the outcome of the worker that took
the job over. Work therefore runs *at least* once; handlers make their effects idempotent
(idempotency keys, look-ups before a retry) where running twice would matter.

Lease times come from the workers' clocks, so machines sharing a database must keep their
clocks in sync (NTP); a skew of a few seconds is harmless next to a 30 second lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from socialdesk.storage.session import Database
from socialdesk.storage.tables import Job
from socialdesk.storage.types import utcnow

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ClaimedJob",
    "JobState",
    "backoff_delay",
    "cancel",
    "claim",
    "complete",
    "complete_in",
    "counts_by_state",
    "enqueue",
    "fail",
    "heartbeat",
    "next_due_at",
    "oldest_due_age_seconds",
    "prune_finished",
    "retry_later",
    "taken_over",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 5
#: Backoff of the first retry, doubled for each further attempt, never above the cap.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 15 * 60.0
#: ``last_error`` is shown to people; a whole HTML error page does not help them.
MAX_ERROR_LENGTH = 2000


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: States after which nothing happens to a job any more.
FINISHED_STATES = frozenset({JobState.DONE, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker needs to run one claimed job; a snapshot, detached from any session.

    ``attempts`` counts this run. The payload is left out of ``repr`` because it may hold
    secrets and reprs end up in logs and tracebacks.
    """

    id: int
    kind: str
    payload: dict[str, Any] = field(repr=False)
    workspace_id: uuid.UUID | None
    attempts: int
    max_attempts: int
    due_at: dt.datetime


def enqueue(
    session: Session,
    *,
    kind: str,
    payload: dict[str, Any] | None = None,
    due_at: dt.datetime | None = None,
    workspace_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> Job:
    """Add a job in the caller's transaction, so it exists exactly when the caller commits.

    With a ``dedupe_key`` that is already taken (by a job in any state), the existing job
    is returned and nothing is inserted. This is race-safe: the insert is
    ``ON CONFLICT DO NOTHING``, so a concurrent transaction inserting the same key makes
    this one wait for it (PostgreSQL) or is serialised with it (SQLite) and then find its
    row, instead of failing the caller's whole transaction with an integrity error.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = utcnow()
    values: dict[str, Any] = {
        "kind": kind,
        "payload": payload or {},
        "workspace_id": workspace_id,
        "dedupe_key": dedupe_key,
        "state": JobState.QUEUED.value,
        "due_at": due_at or now,
        "attempts": 0,
        "max_attempts": max_attempts,
        "created_at": now,
    }
    if dedupe_key is None:
        job = Job(**values)
        session.add(job)
        session.flush()
        return job

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Job).values(**values).on_conflict_do_nothing(index_elements=[Job.dedupe_key])
    inserted = session.execute(statement.returning(Job.id)).scalar_one_or_none()
    job = session.scalars(select(Job).where(Job.dedupe_key == dedupe_key)).one()
    if inserted is None:
        logger.debug("job %s (%s) already enqueued under its dedupe key", job.id, job.kind)
    return job


def _claimable(*, now: dt.datetime, due_by: dt.datetime) -> ColumnElement[bool]:
    """Queued and due, or running under a lease that ran out (its worker is gone)."""
    return or_(_due(due_by), _lease_expired(now))


def _due(due_by: dt.datetime) -> ColumnElement[bool]:
    return and_(Job.state == JobState.QUEUED.value, Job.due_at <= due_by)


def _lease_expired(now: dt.datetime) -> ColumnElement[bool]:
    return and_(Job.state == JobState.RUNNING.value, Job.lease_until < now)


def claim(
    db: Database,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    now: dt.datetime | None = None,
    due_by: dt.datetime | None = None,
) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs for ``owner``, oldest due first, in one transaction.

    Queued jobs due at or before ``due_by`` (default and at most: ``now``) are claimed,
    and so are running jobs whose lease expired before ``now``. A job whose lease expired
    on its last allowed attempt is not run again but marked failed: a job that kills its
    worker every time must not take down every worker in turn.
    """
    if limit < 1:
        return []
    now = now or utcnow()
    lease_until = now + dt.timedelta(seconds=lease_seconds)
    with db.transaction() as session:
        # Two queries, not one with OR: each walks its own index in order and stops at
        # ``limit`` (ix_jobs_lease, ix_jobs_claim), where the OR made the database read
        # and sort every due job under the claim's lock: O(backlog) per claim. Expired
        # leases come first: those jobs have waited longest.
        rows = _claimable_rows(session, _lease_expired(now), limit=limit)
        if len(rows) < limit:
            due = _due(min(due_by or now, now))
            rows += _claimable_rows(session, due, limit=limit - len(rows))
        exhausted = {
            row.id
            for row in rows
            if row.state == JobState.RUNNING.value and row.attempts >= row.max_attempts
        }
        claimed = [
            ClaimedJob(
                id=row.id,
                kind=row.kind,
                payload=dict(row.payload or {}),
                workspace_id=row.workspace_id,
                attempts=row.attempts + 1,
                max_attempts=row.max_attempts,
                due_at=row.due_at,
            )
            for row in rows
            if row.id not in exhausted
        ]
        for row in rows:
            if row.id in exhausted:
                _give_up_on_dead_lease(session, row.id, attempts=row.attempts, now=now)
                logger.warning(
                    "job %s (%s) failed: its lease expired on the last allowed attempt (%s)",
                    row.id,
                    row.kind,
                    row.attempts,
                )
            elif row.state == JobState.RUNNING.value:
                logger.info(
                    "job %s (%s): lease of %s expired; taking it over",
                    row.id,
                    row.kind,
                    row.lease_owner,
                )
        if claimed:
            session.execute(
                update(Job)
                .where(Job.id.in_([job.id for job in claimed]))
                .values(
                    state=JobState.RUNNING.value,
                    lease_owner=owner,
                    lease_until=lease_until,
                    attempts=Job.attempts + 1,
                    started_at=now,
                )
                .execution_options(synchronize_session=False)
            )
    for job in claimed:
        logger.debug(
            "%s claimed job %s (%s), attempt %s of %s",
            owner,
            job.id,
            job.kind,
            job.attempts,
            job.max_attempts,
        )
    return claimed


_CLAIM_COLUMNS = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.workspace_id,
    Job.state,
    Job.lease_owner,
    Job.attempts,
    Job.max_attempts,
    Job.due_at,
)


def _claimable_rows(
    session: Session, condition: ColumnElement[bool], *, limit: int
) -> list[Row[Any]]:
    return list(
        session.execute(
            select(*_CLAIM_COLUMNS)
            .where(condition)
            .order_by(Job.due_at, Job.id)
            .limit(limit)
            # PostgreSQL: rows another worker is claiming right now are passed over rather
            # than waited for. SQLite's compiler leaves the clause out; BEGIN IMMEDIATE
            # already makes this transaction the only writer.
            .with_for_update(skip_locked=True)
        ).all()
    )


def _give_up_on_dead_lease(
    session: Session, job_id: int, *, attempts: int, now: dt.datetime
) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(
            state=JobState.FAILED.value,
            lease_until=None,
            finished_at=now,
            last_error=(
                f"gave up after {attempts} attempts: each time, the worker running this job "
                "died or stopped responding (crash, kill, lost database connection) and its "
                "lease expired"
            ),
        )
        .execution_options(synchronize_session=False)
    )


def heartbeat(
    db: Database,
    *,
    owner: str,
    job_ids: list[int] | set[int] | frozenset[int],
    lease_seconds: float,
    now: dt.datetime | None = None,
) -> set[int]:
    """Extend ``owner``'s leases on ``job_ids``; return the ids it still holds.

    An id missing from the result was taken over by another worker (or settled), and the
    work running for it should stop as soon as it can.
    """
    if not job_ids:
        return set()
    now = now or utcnow()
    with db.transaction() as session:
        held = session.scalars(
            update(Job)
            .where(
                Job.id.in_(list(job_ids)),
                Job.state == JobState.RUNNING.value,
                Job.lease_owner == owner,
            )
            .values(lease_until=now + dt.timedelta(seconds=lease_seconds))
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).all()
    return set(held)


def taken_over(db: Database, *, owner: str, job_ids: Collection[int]) -> set[int]:
    """Which of ``job_ids`` another worker holds or settled now (or that are gone).

    A job missing from :func:`heartbeat`'s answer was either taken over, or settled by
    its own worker a moment before (:func:`complete_in`); the last owner stays on a
    settled row, so the owner tells the two apart.
    """
    if not job_ids:
        return set()
    with db.transaction() as session:
        rows = session.execute(select(Job.id, Job.lease_owner).where(Job.id.in_(list(job_ids))))
        owners = {job_id: lease_owner for job_id, lease_owner in rows}
    return {job_id for job_id in job_ids if owners.get(job_id) != owner}


def _settle(db: Database, *, job_id: int, owner: str, outcome: str, **values: Any) -> bool:
    """Write an outcome if ``owner`` still holds the job's lease; say whether it did."""
    with db.transaction() as session:
        settled = session.scalars(
            update(Job)
            .where(
                Job.id == job_id,
                Job.state == JobState.RUNNING.value,
                Job.lease_owner == owner,
            )
            .values(lease_until=None, **values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).first()
    if settled is None:
        logger.warning(
            "job %s: %s lost its lease before recording the outcome (%s); "
            "another worker took it over or it was settled already",
            job_id,
            owner,
            outcome,
        )
        return False
    return True


def complete(db: Database, *, job_id: int, owner: str, now: dt.datetime | None = None) -> bool:
    """Mark the job done. The last owner stays on the row: it tells who ran it."""
    return _settle(
        db,
        job_id=job_id,
        owner=owner,
        outcome="done",
        state=JobState.DONE.value,
        finished_at=now or utcnow(),
        last_error=None,
    )


def complete_in(
    session: Session, *, job_ids: Collection[int], owner: str, now: dt.datetime | None = None
) -> set[int]:
    """Mark jobs done in the caller's transaction; return the ids ``owner`` still held.

    A handler that records its own outcome calls this in the same transaction, so the work
    and the job settle together: one transaction instead of two, and no moment where the
    work is recorded but its job still looks unfinished.
    """
    if not job_ids:
        return set()
    done = session.scalars(
        update(Job)
        .where(
            Job.id.in_(list(job_ids)),
            Job.state == JobState.RUNNING.value,
            Job.lease_owner == owner,
        )
        .values(
            state=JobState.DONE.value,
            lease_until=None,
            finished_at=now or utcnow(),
            last_error=None,
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    ).all()
    return set(done)


def retry_later(db: Database, *, job_id: int, owner: str, error: str, due_at: dt.datetime) -> bool:
    """Put the job back in the queue, due at ``due_at``, remembering why it must wait."""
    return _settle(
        db,
        job_id=job_id,
        owner=owner,
        outcome="retry",
        state=JobState.QUEUED.value,
        due_at=due_at,
        last_error=_clip(error),
    )


def fail(
    db: Database, *, job_id: int, owner: str, error: str, now: dt.datetime | None = None
) -> bool:
    """Give up on the job with ``error``, which is what the user will read."""
    return _settle(
        db,
        job_id=job_id,
        owner=owner,
        outcome="failed",
        state=JobState.FAILED.value,
        finished_at=now or utcnow(),
        last_error=_clip(error),
    )


def cancel(session: Session, *, job_id: int) -> bool:
    """Cancel a job that has not started; False if it is running or finished already.

    A running job is not interrupted: its outcome is about to be written by its worker.
    """
    cancelled = session.scalars(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.QUEUED.value)
        .values(state=JobState.CANCELLED.value, finished_at=utcnow())
        .returning(Job.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    return cancelled is not None


def counts_by_state(session: Session) -> dict[str, int]:
    """How many jobs are in each state, every state present (stable metric series)."""
    counts = dict.fromkeys((state.value for state in JobState), 0)
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    for state, count in rows:
        counts[state] = count
    return counts


def oldest_due_age_seconds(session: Session, now: dt.datetime | None = None) -> float | None:
    """How long the longest-waiting claimable job has been due: the queue's lag.

    None when nothing is waiting. A lag that keeps growing means too few workers, or none.
    """
    now = now or utcnow()
    oldest = session.scalars(
        select(Job.due_at).where(_claimable(now=now, due_by=now)).order_by(Job.due_at).limit(1)
    ).first()
    if oldest is None:
        return None
    return max(0.0, (now - oldest).total_seconds())


def next_due_at(db: Database) -> dt.datetime | None:
    """When the earliest queued job falls due (maybe in the past), or None if none is queued.

    An idle worker sleeps until then instead of a whole poll interval: work due at the top
    of the hour starts at the top of the hour.
    """
    with db.transaction() as session:
        return session.scalars(
            select(Job.due_at)
            .where(Job.state == JobState.QUEUED.value)
            .order_by(Job.due_at)
            .limit(1)
        ).first()


def prune_finished(session: Session, *, older_than: dt.datetime) -> int:
    """Delete done and cancelled jobs finished before ``older_than``; return how many.

    Failed jobs stay: each is a failure someone has to see, and they are few.
    """
    result = session.execute(
        delete(Job)
        .where(
            Job.state.in_([JobState.DONE.value, JobState.CANCELLED.value]),
            Job.finished_at < older_than,
        )
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


def backoff_delay(
    attempts: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = BACKOFF_CAP_SECONDS,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retrying after ``attempts`` failed attempts.

    Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**(attempts-1))]``.
    The jitter spreads the retries of jobs that failed together (a network outage) so they
    do not all come back at the same instant.
    """
    exponent = min(max(attempts, 1) - 1, 62)  # 2**62 * base is far above any cap
    ceiling = min(cap, base * 2.0**exponent)
    # Jitter needs no cryptographic randomness.
    return (rng or _jitter).uniform(0.0, ceiling)


_jitter = random.Random()  # noqa: S311


def _clip(error: str) -> str:
    if len(error) <= MAX_ERROR_LENGTH:
        return error
    return error[: MAX_ERROR_LENGTH - 1] + "…"
