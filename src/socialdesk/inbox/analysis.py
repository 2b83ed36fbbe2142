# SPDX-License-Identifier: AGPL-3.0-or-later
"""Sentiment, language and priority of stored items, and of their conversations.

Items are stored unanalysed (``analyzed_at`` is NULL) by :mod:`socialdesk.inbox.ingest`;
:func:`analyze_pending` scores a batch of them, oldest first, and updates their
conversations' sentiment (the most negative thing said) and priority (the highest of its
items; see :func:`socialdesk.text.sentiment.priority`). The sync and webhook jobs call it
after storing, and the periodic ``inbox.analyze`` job catches anything left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from socialdesk.inbox.bulk import one_of, plan_for_actual_values
from socialdesk.storage.tables import InboxContact, InboxConversation, InboxItem
from socialdesk.storage.types import utcnow
from socialdesk.text.analyzer import Analyzer
from socialdesk.text.sentiment import label_for, priority
from socialdesk.worker import JobContext, enqueue_next_run

__all__ = ["ANALYZE_INTERVAL", "ANALYZE_KIND", "Analyze", "analyze_pending"]

logger = logging.getLogger(__name__)

ANALYZE_KIND = "inbox.analyze"
ANALYZE_INTERVAL = dt.timedelta(minutes=1)
BATCH = 1000

_items = cast(Table, InboxItem.__table__)
_contacts = cast(Table, InboxContact.__table__)
_conversations = cast(Table, InboxConversation.__table__)


def analyze_pending(
    session: Session,
    *,
    analyzer: Analyzer,
    workspace_id: uuid.UUID | None = None,
    limit: int = BATCH,
    now: dt.datetime | None = None,
) -> int:
    """Analyse up to ``limit`` unanalysed items (of one workspace, or all); return how many."""
    now = now or utcnow()
    plan_for_actual_values(session)
    i = _items.c
    query = (
        select(i.id, i.text, i.from_us, i.conversation_id, _contacts.c.followers)
        .outerjoin(_contacts, _contacts.c.id == i.contact_id)
        .where(i.analyzed_at.is_(None))
        .order_by(i.id)
        .limit(limit)
    )
    if workspace_id is not None:
        query = query.where(i.workspace_id == workspace_id)
    rows = session.execute(query).all()
    if not rows:
        return 0
    updates = []
    for row in rows:
        language = analyzer.language(row.text)
        if row.from_us:
            # Our own answers: no sentiment or priority (they are not what we must answer).
            score, label, rank = None, None, 0
        else:
            found = analyzer.sentiment(row.text)
            score, label = found.score, found.label
            rank = priority(score=score, followers=row.followers)
        updates.append(
            {
                "b_id": row.id,
                "b_score": score,
                "b_label": label,
                "b_language": language,
                "b_priority": rank,
                "b_at": now,
            }
        )
    session.execute(
        update(_items)
        .where(i.id == bindparam("b_id"))
        .values(
            sentiment=bindparam("b_score"),
            sentiment_label=bindparam("b_label"),
            language=bindparam("b_language"),
            priority=bindparam("b_priority"),
            analyzed_at=bindparam("b_at"),
        ),
        updates,
    )
    refresh_sentiment(session, conversation_ids=list({row.conversation_id for row in rows}))
    return len(rows)


def refresh_sentiment(session: Session, *, conversation_ids: Sequence[uuid.UUID]) -> None:
    """A conversation's sentiment is its most negative inbound item; its priority the highest."""
    if not conversation_ids:
        return
    i = _items.c
    rows = session.execute(
        select(i.conversation_id, func.min(i.sentiment), func.max(i.priority))
        .where(
            one_of(session, i.conversation_id, list(conversation_ids)),
            ~i.from_us,
            ~i.deleted,
            i.analyzed_at.is_not(None),
        )
        .group_by(i.conversation_id)
    ).all()
    updates = [
        {
            "b_id": cid,
            "b_score": score,
            "b_label": None if score is None else label_for(score),
            "b_priority": rank or 0,
        }
        for cid, score, rank in rows
    ]
    if updates:
        session.execute(
            update(_conversations)
            .where(_conversations.c.id == bindparam("b_id"))
            .values(
                sentiment=bindparam("b_score"),
                sentiment_label=bindparam("b_label"),
                priority=bindparam("b_priority"),
            ),
            updates,
        )


class Analyze:
    """The periodic ``inbox.analyze`` job: analyse what is left, then schedule the next run."""

    def __init__(self, *, analyzer: Analyzer) -> None:
        self.analyzer = analyzer

    def __call__(self, context: JobContext) -> None:
        total = 0
        while not context.lease_lost.is_set():
            with context.db.transaction() as session:
                done = analyze_pending(session, analyzer=self.analyzer)
            total += done
            if done < BATCH:
                break
        with context.db.transaction() as session:
            enqueue_next_run(session, kind=ANALYZE_KIND, interval=ANALYZE_INTERVAL, now=utcnow())
        if total:
            logger.info("analysed %s inbox items", total)
