# SPDX-License-Identifier: AGPL-3.0-or-later
"""The periodic check that no delivery is ever left stuck.

A delivery that should be going out has a live publish job. Should that ever stop being
true (its job gave up after workers died again and again, or was pruned), this puts the
delivery back in the queue, so nothing is silently lost.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select

from socialdesk import jobs
from socialdesk.publishing import deliveries as dl
from socialdesk.storage.tables import Delivery, Job, Post
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext, enqueue_next_run

logger = logging.getLogger(__name__)

RECONCILE_KIND = "publish.reconcile"
RECONCILE_INTERVAL = dt.timedelta(minutes=5)
_LIVE_JOB_STATES = (jobs.JobState.QUEUED.value, jobs.JobState.RUNNING.value)


def reconcile_deliveries(context: JobContext) -> None:
    now = utcnow()
    with context.db.transaction() as session:
        live_job = select(Job.id).where(Job.id == Delivery.job_id, Job.state.in_(_LIVE_JOB_STATES))
        stuck = list(
            session.scalars(
                select(Delivery)
                .join(Post, Post.id == Delivery.post_id)
                .where(
                    Delivery.state.in_((dl.PENDING, dl.PUBLISHING, dl.UNCERTAIN)),
                    Post.status.not_in(("draft", "in_review", "cancelled")),
                    or_(Delivery.due_at.is_(None), Delivery.due_at <= now),
                    ~live_job.exists(),
                )
                .limit(1000)
            )
        )
        for delivery in stuck:
            logger.warning(
                "delivery %s was %s without a live job; queueing it again",
                delivery.id,
                delivery.state,
            )
            dl.requeue_delivery(session, delivery=delivery)
        enqueue_next_run(session, kind=RECONCILE_KIND, interval=RECONCILE_INTERVAL, now=now)
