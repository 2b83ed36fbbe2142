# SPDX-License-Identifier: AGPL-3.0-or-later
"""The job queue: enqueue, claim under a lease, heartbeat, settle. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text, update

from socialdesk import jobs
from socialdesk.jobs import JobState
from socialdesk.storage import Database
from socialdesk.storage.tables import Job
from socialdesk.storage.types import utcnow
from tests.worker_helpers import wait_for

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
LEASE = 30


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def add(db: Database, kind: str = "k", **kwargs: Any) -> int:
    kwargs.setdefault("due_at", at(-1))
    with db.transaction() as session:
        return jobs.enqueue(session, kind=kind, **kwargs).id


def row(db: Database, job_id: int) -> Job:
    with db.transaction() as session:
        return session.get_one(Job, job_id)


def take(db: Database, owner: str = "a", *, seconds: float = 0, limit: int = 10) -> list[int]:
    claimed = jobs.claim(db, owner=owner, limit=limit, lease_seconds=LEASE, now=at(seconds))
    return [job.id for job in claimed]


# -- enqueue ---------------------------------------------------------------------------


def test_enqueue_stores_a_queued_job(db: Database) -> None:
    before = utcnow()
    with db.transaction() as session:
        job = jobs.enqueue(session, kind="publish", payload={"delivery": 7}, max_attempts=3)
    stored = row(db, job.id)
    assert (stored.kind, stored.payload, stored.state) == ("publish", {"delivery": 7}, "queued")
    assert (stored.attempts, stored.max_attempts, stored.lease_owner) == (0, 3, None)
    assert before <= stored.due_at <= utcnow()


def test_enqueue_is_part_of_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        jobs.enqueue(session, kind="k", dedupe_key="rolled-back")
        raise RuntimeError("the caller's work failed")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_enqueue_with_a_taken_dedupe_key_returns_the_existing_job(db: Database) -> None:
    first = add(db, dedupe_key="post:1", payload={"n": 1})
    with db.transaction() as session:
        again = jobs.enqueue(session, kind="k", dedupe_key="post:1", payload={"n": 2})
        assert again.id == first
        assert again.payload == {"n": 1}
    # Even once the first job is finished: the key names one unit of work, done or not.
    jobs.complete(db, job_id=take(db)[0], owner="a")
    assert add(db, dedupe_key="post:1") == first
    assert add(db, dedupe_key="post:2") != first
    assert add(db) != add(db)  # no key, no deduplication


def test_enqueue_waits_for_a_concurrent_insert_of_the_same_key(db: Database) -> None:
    """The race: two transactions enqueue one key at once; both end up with one job."""
    results: dict[str, object] = {}

    def second() -> None:
        try:
            with db.transaction() as session:
                results["id"] = jobs.enqueue(session, kind="k", dedupe_key="same").id
        except Exception as exc:  # reported by the assertions below
            results["error"] = exc

    thread = threading.Thread(target=second)
    with db.sessions() as first:
        with first.begin():
            job_id = jobs.enqueue(first, kind="k", dedupe_key="same").id
            thread.start()
            if db.engine.dialect.name == "postgresql":
                # The second INSERT ... ON CONFLICT waits on our uncommitted key.
                wait_for(lambda: _waiting_locks(db) > 0, timeout=10, what="a blocked insert")
            else:
                thread.join(0.3)  # SQLite: the second BEGIN IMMEDIATE waits for ours
            assert thread.is_alive()
        thread.join(10)
    assert not thread.is_alive()
    assert results == {"id": job_id}
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1


def _waiting_locks(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


def test_enqueue_refuses_zero_attempts(db: Database) -> None:
    with pytest.raises(ValueError, match="max_attempts"), db.transaction() as session:
        jobs.enqueue(session, kind="k", max_attempts=0)


# -- claim -----------------------------------------------------------------------------


def test_claim_takes_due_jobs_oldest_first_and_leaves_future_ones(db: Database) -> None:
    middle = add(db, due_at=at(-20))
    oldest = add(db, due_at=at(-30))
    newest = add(db, due_at=at(-10))
    future = add(db, due_at=at(20))
    assert take(db, limit=2) == [oldest, middle]
    assert take(db) == [newest]
    assert take(db) == []
    assert take(db, seconds=19) == []
    assert take(db, seconds=20) == [future]


def test_claim_writes_the_lease(db: Database) -> None:
    job_id = add(db, payload={"x": 1}, max_attempts=4)
    [claimed] = jobs.claim(db, owner="host:1:ab", limit=5, lease_seconds=LEASE, now=at(0))
    assert (claimed.id, claimed.kind, claimed.payload) == (job_id, "k", {"x": 1})
    assert (claimed.attempts, claimed.max_attempts, claimed.due_at) == (1, 4, at(-1))
    stored = row(db, job_id)
    assert (stored.state, stored.lease_owner, stored.attempts) == ("running", "host:1:ab", 1)
    assert stored.lease_until == at(LEASE)
    assert stored.started_at == at(0)


def test_claimed_job_repr_hides_the_payload(db: Database) -> None:
    add(db, payload={"token": "s3cr3t"})
    [claimed] = jobs.claim(db, owner="a", limit=1, lease_seconds=LEASE, now=at(0))
    assert "s3cr3t" not in repr(claimed)


def test_claim_with_due_by_leaves_jobs_due_later(db: Database) -> None:
    early, late = add(db, due_at=at(-10)), add(db, due_at=at(-1))
    claimed = jobs.claim(db, owner="a", limit=5, lease_seconds=LEASE, now=at(0), due_by=at(-5))
    assert [job.id for job in claimed] == [early]
    assert take(db) == [late]


def test_a_lease_is_respected_until_it_expires(db: Database) -> None:
    job_id = add(db)
    assert take(db, "a") == [job_id]
    assert take(db, "b", seconds=LEASE - 1) == []
    assert take(db, "b", seconds=LEASE) == []  # expired means strictly before now
    [claimed] = jobs.claim(db, owner="b", limit=1, lease_seconds=LEASE, now=at(LEASE + 1))
    assert claimed.attempts == 2
    stored = row(db, job_id)
    assert (stored.lease_owner, stored.attempts, stored.lease_until) == ("b", 2, at(2 * LEASE + 1))


def test_a_job_whose_worker_dies_every_time_fails(db: Database) -> None:
    job_id = add(db, max_attempts=2)
    assert take(db, "a") == [job_id]
    assert take(db, "b", seconds=LEASE + 1) == [job_id]
    other = add(db, due_at=at(50))
    # Its second lease expired too: no third attempt, and the claim moves on.
    assert take(db, "c", seconds=2 * LEASE + 2) == [other]
    stored = row(db, job_id)
    assert stored.state == "failed"
    assert stored.finished_at == at(2 * LEASE + 2)
    assert stored.last_error is not None
    assert "gave up after 2 attempts" in stored.last_error
    assert "lease expired" in stored.last_error


def test_claim_passes_over_rows_another_claim_holds(db: Database) -> None:
    """PostgreSQL skips locked rows; SQLite serialises the claims. Never the same row twice."""
    first, second = add(db, due_at=at(-2)), add(db, due_at=at(-1))
    results: list[list[int]] = []
    thread = threading.Thread(target=lambda: results.append(take(db, "b", limit=1)))
    with db.sessions() as holder, holder.begin():
        if db.engine.dialect.name == "postgresql":
            # What a claim in flight in another worker looks like: the row is locked.
            holder.execute(select(Job.id).where(Job.id == first).with_for_update())
            thread.start()
            thread.join(5)
            assert not thread.is_alive(), "claim waited for a locked row instead of skipping it"
            assert results == [[second]]
            return
        holder.execute(update(Job).where(Job.id == first).values(lease_owner="x"))
        thread.start()
        thread.join(0.3)
        assert thread.is_alive(), "SQLite claim ran alongside another write transaction"
        holder.rollback()
    thread.join(10)
    assert results == [[first]]


def test_claim_takes_jobs_due_at_the_same_instant_in_id_order(db: Database) -> None:
    """A busy top of the hour: every job due at once, taken in id order, none twice."""
    ids = [add(db, due_at=at(-5)) for _ in range(7)]
    assert take(db, limit=3) == ids[:3]
    assert take(db, limit=3) == ids[3:6]
    assert take(db, limit=3) == ids[6:]


def test_claim_takes_expired_leases_before_queued_jobs(db: Database) -> None:
    abandoned = add(db, due_at=at(-1))
    assert take(db, "a", limit=1) == [abandoned]
    queued = add(db, due_at=at(-100))
    assert take(db, "b", seconds=LEASE + 1, limit=1) == [abandoned]
    assert take(db, "b", seconds=LEASE + 1) == [queued]


def test_next_due_at_is_the_earliest_queued_job(db: Database) -> None:
    assert jobs.next_due_at(db) is None
    add(db, due_at=at(30))
    soon = add(db, due_at=at(10))
    assert jobs.next_due_at(db) == at(10)
    take(db, seconds=10)  # running jobs are not waiting for their time any more
    assert row(db, soon).state == "running"
    assert jobs.next_due_at(db) == at(30)


# -- heartbeat and settling ------------------------------------------------------------


def test_heartbeat_extends_only_the_owners_running_leases(db: Database) -> None:
    mine, theirs = add(db), add(db)
    take(db, "a", limit=1)
    take(db, "b", limit=1)
    held = jobs.heartbeat(db, owner="a", job_ids=[mine, theirs], lease_seconds=LEASE, now=at(20))
    assert held == {mine}
    assert row(db, mine).lease_until == at(20 + LEASE)
    assert row(db, theirs).lease_until == at(LEASE)
    assert take(db, "c", seconds=LEASE + 1) == [theirs]
    assert take(db, "c", seconds=20 + LEASE + 1) == [mine]
    assert jobs.heartbeat(db, owner="a", job_ids=[mine], lease_seconds=LEASE, now=at(60)) == set()
    assert jobs.heartbeat(db, owner="a", job_ids=[], lease_seconds=LEASE) == set()


SETTLE: dict[str, Callable[[Database, int, str], bool]] = {
    "complete": lambda db, job_id, owner: jobs.complete(db, job_id=job_id, owner=owner, now=at(5)),
    "retry_later": lambda db, job_id, owner: jobs.retry_later(
        db, job_id=job_id, owner=owner, error="timeout", due_at=at(100)
    ),
    "fail": lambda db, job_id, owner: jobs.fail(
        db, job_id=job_id, owner=owner, error="rejected: too long", now=at(5)
    ),
}


@pytest.mark.parametrize(
    ("how", "state", "due_at", "last_error", "finished_at"),
    [
        ("complete", "done", at(-1), None, at(5)),
        ("retry_later", "queued", at(100), "timeout", None),
        ("fail", "failed", at(-1), "rejected: too long", at(5)),
    ],
)
def test_settling_a_held_job(
    db: Database,
    how: str,
    state: str,
    due_at: dt.datetime,
    last_error: str | None,
    finished_at: dt.datetime | None,
) -> None:
    job_id = add(db)
    take(db, "a")
    assert SETTLE[how](db, job_id, "a") is True
    stored = row(db, job_id)
    assert (stored.state, stored.due_at, stored.last_error) == (state, due_at, last_error)
    assert (stored.finished_at, stored.lease_until, stored.attempts) == (finished_at, None, 1)
    assert SETTLE[how](db, job_id, "a") is False  # settled once, not twice


@pytest.mark.parametrize("how", sorted(SETTLE))
def test_a_lost_lease_cannot_settle(
    db: Database, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = add(db)
    take(db, "a")
    take(db, "b", seconds=LEASE + 1)  # a was presumed dead; b took over
    with caplog.at_level(logging.WARNING, logger="socialdesk.jobs"):
        assert SETTLE[how](db, job_id, "a") is False
    assert f"job {job_id}: a lost its lease" in caplog.text
    stored = row(db, job_id)
    assert (stored.state, stored.lease_owner, stored.attempts) == ("running", "b", 2)
    assert jobs.complete(db, job_id=job_id, owner="b") is True


def test_complete_in_settles_only_the_owners_running_jobs_in_the_callers_transaction(
    db: Database,
) -> None:
    mine, taken_over, done = add(db), add(db), add(db)
    take(db, "a")
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == taken_over).values(lease_owner="b"))
    assert jobs.complete(db, job_id=done, owner="a", now=at(1))
    with pytest.raises(RuntimeError), db.transaction() as session:
        jobs.complete_in(session, job_ids=[mine], owner="a", now=at(2))
        raise RuntimeError("the caller's work failed: nothing is settled")
    assert row(db, mine).state == "running"
    with db.transaction() as session:
        settled = jobs.complete_in(session, job_ids=[mine, taken_over, done], owner="a", now=at(3))
    assert settled == {mine}
    stored = row(db, mine)
    assert (stored.state, stored.finished_at, stored.lease_until) == ("done", at(3), None)
    assert (row(db, taken_over).state, row(db, done).finished_at) == ("running", at(1))


def test_taken_over_tells_a_takeover_from_a_job_settled_by_its_owner(db: Database) -> None:
    settled, stolen, running = add(db), add(db), add(db)
    take(db, "a")
    assert jobs.complete(db, job_id=settled, owner="a")
    take(db, "b", seconds=LEASE + 1, limit=1)  # nothing: the leases still hold
    with db.transaction() as session:
        session.execute(update(Job).where(Job.id == stolen).values(lease_owner="b"))
    assert jobs.heartbeat(
        db, owner="a", job_ids=[settled, stolen, running], lease_seconds=LEASE
    ) == {running}
    assert jobs.taken_over(db, owner="a", job_ids=[settled, stolen, 10_000]) == {stolen, 10_000}


def test_a_long_error_is_clipped(db: Database) -> None:
    job_id = add(db)
    take(db)
    jobs.fail(db, job_id=job_id, owner="a", error="x" * 10_000)
    stored = row(db, job_id).last_error
    assert stored is not None
    assert len(stored) == jobs.MAX_ERROR_LENGTH
    assert stored.endswith("…")


# -- cancel, metrics, prune -------------------------------------------------------------


def test_cancel_only_queued_jobs(db: Database) -> None:
    queued, running = add(db, due_at=at(10)), add(db)
    take(db)
    with db.transaction() as session:
        assert jobs.cancel(session, job_id=queued) is True
        assert jobs.cancel(session, job_id=queued) is False
        assert jobs.cancel(session, job_id=running) is False
        assert jobs.cancel(session, job_id=999_999) is False
    assert row(db, queued).state == "cancelled"
    assert row(db, queued).finished_at is not None
    assert take(db, seconds=20) == []


def test_counts_by_state_lists_every_state(db: Database) -> None:
    with db.transaction() as session:
        assert jobs.counts_by_state(session) == dict.fromkeys(list(JobState), 0)
    add(db)
    add(db)
    add(db, due_at=at(100))
    take(db, limit=1)
    with db.transaction() as session:
        counts = jobs.counts_by_state(session)
    assert counts == {"queued": 2, "running": 1, "done": 0, "failed": 0, "cancelled": 0}


def test_oldest_due_age_measures_the_queue_lag(db: Database) -> None:
    with db.transaction() as session:
        assert jobs.oldest_due_age_seconds(session, now=at(0)) is None
    add(db, due_at=at(60))
    with db.transaction() as session:
        assert jobs.oldest_due_age_seconds(session, now=at(0)) is None  # not due yet
    add(db, due_at=at(-45))
    add(db, due_at=at(-5))
    with db.transaction() as session:
        assert jobs.oldest_due_age_seconds(session, now=at(0)) == 45.0
    take(db, limit=2)  # running under a live lease: not waiting
    with db.transaction() as session:
        assert jobs.oldest_due_age_seconds(session, now=at(1)) is None
        # Their worker died: they are waiting again, since they were due.
        assert jobs.oldest_due_age_seconds(session, now=at(LEASE + 1)) == LEASE + 46


def test_prune_deletes_old_done_and_cancelled_jobs_only(db: Database) -> None:
    ids = {name: add(db, kind=name) for name in ("old_done", "new_done", "old_failed", "queued")}
    ids["old_cancelled"] = add(db, kind="old_cancelled")
    with db.transaction() as session:
        for name, state, finished in [
            ("old_done", "done", at(-8 * 86400)),
            ("new_done", "done", at(-86400)),
            ("old_failed", "failed", at(-30 * 86400)),
            ("old_cancelled", "cancelled", at(-8 * 86400)),
        ]:
            session.execute(
                update(Job).where(Job.id == ids[name]).values(state=state, finished_at=finished)
            )
    with db.transaction() as session:
        assert jobs.prune_finished(session, older_than=at(-7 * 86400)) == 2
    with db.transaction() as session:
        left = set(session.scalars(select(Job.kind)))
    assert left == {"new_done", "old_failed", "queued"}


# -- backoff ---------------------------------------------------------------------------


@given(attempts=st.integers(min_value=-5, max_value=10_000), seed=st.integers())
def test_backoff_stays_within_its_exponential_ceiling(attempts: int, seed: int) -> None:
    delay = jobs.backoff_delay(attempts, rng=random.Random(seed))
    doublings = max(attempts, 1) - 1
    exponential = jobs.BACKOFF_BASE_SECONDS * 2.0 ** min(doublings, 100)  # 2**100 is past any cap
    ceiling = min(jobs.BACKOFF_CAP_SECONDS, exponential)
    assert 0.0 <= delay <= ceiling


@pytest.mark.parametrize(("attempts", "ceiling"), [(1, 2.0), (2, 4.0), (5, 32.0), (40, 900.0)])
def test_backoff_is_jittered_up_to_its_ceiling(attempts: int, ceiling: float) -> None:
    delays = [jobs.backoff_delay(attempts, rng=random.Random(seed)) for seed in range(200)]
    assert max(delays) <= ceiling
    # Full jitter: spread over the whole range, not clustered at the ceiling.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9
