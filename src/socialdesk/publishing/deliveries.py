# SPDX-License-Identifier: AGPL-3.0-or-later
"""Delivery states, the job that publishes each delivery, and the post's overall status.

States of a delivery::

    pending ──claim──▶ publishing ──▶ published
       ▲                  │  ├──▶ failed      (rejected by the network, or gave up)
       │                  │  ├──▶ held        (the channel needs reconnecting)
       └──── retry ◀──────┘  └──▶ uncertain   (may have gone out: look it up first)

Each live delivery has exactly one publish job (``Delivery.job_id``); a job whose id is not
the delivery's current one is stale and does nothing, so rescheduling can never publish twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from socialdesk import jobs
from socialdesk.storage.tables import Delivery, Job, Post
from socialdesk.storage.types import utcnow

PUBLISH_KIND = "publish.delivery"
#: A delivery gives up after this many attempts that failed for passing reasons.
MAX_DELIVERY_ATTEMPTS = 8
#: The job's own limit is higher: a worker killed mid-publish costs a job attempt too,
#: and the delivery's limit above is the one that decides.
PUBLISH_JOB_MAX_ATTEMPTS = 50

PENDING = "pending"
PUBLISHING = "publishing"
UNCERTAIN = "uncertain"
PUBLISHED = "published"
FAILED = "failed"
HELD = "held"
CANCELLED = "cancelled"

OPEN_STATES = frozenset({PENDING, PUBLISHING, UNCERTAIN, HELD})
DONE_STATES = frozenset({PUBLISHED, FAILED, CANCELLED})


def enqueue_delivery(session: Session, *, delivery: Delivery, due_at: dt.datetime) -> None:
    """Make ``due_at`` the delivery's publish time, reusing its queued job if it has one."""
    delivery.due_at = due_at
    if delivery.state not in (UNCERTAIN, PUBLISHING):
        delivery.state = PENDING
    if delivery.job_id is not None:
        result = session.execute(
            update(Job)
            .where(Job.id == delivery.job_id, Job.state == jobs.JobState.QUEUED.value)
            .values(due_at=due_at)
        )
        moved = cast(CursorResult[Any], result).rowcount
        if moved:
            return
    job = jobs.enqueue(
        session,
        kind=PUBLISH_KIND,
        payload={"delivery_id": str(delivery.id)},
        due_at=due_at,
        workspace_id=delivery.workspace_id,
        max_attempts=PUBLISH_JOB_MAX_ATTEMPTS,
    )
    delivery.job_id = job.id


def requeue_delivery(session: Session, *, delivery: Delivery) -> None:
    """Send again now (or at its time, if that is still ahead)."""
    now = utcnow()
    due = delivery.due_at if delivery.due_at and delivery.due_at > now else now
    if delivery.state in (FAILED, HELD, CANCELLED):
        delivery.state = PENDING
    delivery.job_id = None
    enqueue_delivery(session, delivery=delivery, due_at=due)


def cancel_delivery(session: Session, *, delivery: Delivery, reason: str) -> None:
    if delivery.state in DONE_STATES:
        return
    if delivery.job_id is not None:
        jobs.cancel(session, job_id=delivery.job_id)
    delivery.state = CANCELLED
    delivery.job_id = None
    delivery.last_error = reason


def overall_status(states: list[str], *, current: str) -> str:
    """The post's status from its deliveries' states."""
    if not states:
        return current
    count = Counter(states)
    total = len(states)
    if count[PUBLISHED] == total:
        return "published"
    if count[CANCELLED] == total:
        return "cancelled"
    if any(state in (PENDING, PUBLISHING, UNCERTAIN, HELD) for state in states):
        if count[PUBLISHING] or count[UNCERTAIN] or count[PUBLISHED] or count[FAILED]:
            return "publishing"
        return current if current in ("scheduled", "approved") else "scheduled"
    if count[PUBLISHED]:
        return "partly_failed"
    return "failed"


def refresh_post_status(session: Session, *, post: Post) -> None:
    if post.status in ("draft", "in_review"):
        return  # nothing is scheduled yet; the deliveries are only drafts
    # Deliveries of one post finish in parallel: lock the post so each transaction reads
    # the others' committed states, instead of two of them each missing the other's.
    session.execute(select(Post.id).where(Post.id == post.id).with_for_update())
    states = list(session.scalars(select(Delivery.state).where(Delivery.post_id == post.id)))
    status = overall_status(states, current=post.status)
    if status != post.status:
        post.status = status
        if status in ("published", "partly_failed"):
            post.published_at = post.published_at or utcnow()


def refresh_post_statuses(session: Session, *, post_ids: Collection[uuid.UUID]) -> None:
    """:func:`refresh_post_status` for many posts at once, in four statements.

    The posts are locked in id order, so two transactions settling deliveries of the same
    posts take the locks in the same order and cannot deadlock each other.
    """
    if not post_ids:
        return
    ids = sorted(post_ids)
    posts = session.execute(
        select(Post.id, Post.status, Post.published_at)
        .where(Post.id.in_(ids))
        .order_by(Post.id)
        .with_for_update()
    ).all()
    states: dict[uuid.UUID, list[str]] = defaultdict(list)
    for post_id, state in session.execute(
        select(Delivery.post_id, Delivery.state).where(Delivery.post_id.in_(ids))
    ):
        states[post_id].append(state)
    now = utcnow()
    changes: list[dict[str, Any]] = []
    for post in posts:
        if post.status in ("draft", "in_review"):
            continue
        status = overall_status(states[post.id], current=post.status)
        if status == post.status:
            continue
        change: dict[str, Any] = {"id": post.id, "status": status, "updated_at": now}
        if status in ("published", "partly_failed"):
            change["published_at"] = post.published_at or now
        changes.append(change)
    # One executemany per shape of change (with or without published_at).
    for with_published_at in (True, False):
        batch = [c for c in changes if ("published_at" in c) is with_published_at]
        if batch:
            session.execute(update(Post), batch)
