# SPDX-License-Identifier: AGPL-3.0-or-later
"""Recurring posts: a series' first post, and its occurrences planned ahead.

A post created with an RFC 5545 repeat rule (``Post.recurrence_rule``) is the **parent**
of a series and is itself the series' first post, at its own time. Every later
occurrence becomes a post of its own (``recurrence_parent_id`` points at the parent) with
the parent's channels, per-channel text, media and options, so it can be followed,
rescheduled, retried or cancelled on its own like any post.

Occurrences are expanded in the time zone the parent was planned in
(:func:`socialdesk.publishing.scheduling.expand_recurrence`): a 09:00 Europe/Paris post
stays at 09:00 in Paris across daylight saving time. They are materialised ahead, up to
:data:`HORIZON` and at most :data:`MAX_AHEAD` at a time, when the post is created and by
the periodic job :data:`RECURRENCE_KIND`, which keeps topping the series up.

Materialising is idempotent, however many workers run it at once: the parent row is
locked (``FOR UPDATE`` on PostgreSQL; SQLite runs one write transaction at a time) while
the missing occurrences are looked for and created, in one transaction. An occurrence is
known by the idempotency keys of its deliveries, derived from the parent delivery's
(random) key and the occurrence's instant: fresh for each occurrence and channel, stable
when an occurrence is rescheduled by hand, and backed by the unique index on
``deliveries.idempotency_key``, so even a code path that forgot the lock could not create
an occurrence twice.

Cancelling the parent ends the series; changing its rule (or rescheduling the parent,
which moves the series' start) re-plans the occurrences that have not started yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk import jobs
from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, SocialdeskError, ValidationError
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing.channels import DISCONNECTED, NEEDS_RECONNECT
from socialdesk.publishing.scheduling import expand_recurrence, to_local
from socialdesk.storage.tables import Delivery, DeliveryMedia, Post
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext, enqueue_next_run

__all__ = [
    "HORIZON",
    "MAX_AHEAD",
    "RECURRENCE_INTERVAL",
    "RECURRENCE_KIND",
    "cancel_series",
    "change_rule",
    "check_rule",
    "is_live",
    "materialise",
    "materialise_recurrences",
    "occurrence_key",
    "planned_instants",
    "replan",
]

logger = logging.getLogger(__name__)

RECURRENCE_KIND = "publish.recurrences"
#: How often the periodic job tops every series up.
RECURRENCE_INTERVAL = dt.timedelta(hours=1)
#: How far ahead occurrences exist as posts of their own.
HORIZON = dt.timedelta(days=30)
#: The most occurrences of one series planned ahead at a time (a rule with several
#: times a day fills fewer days of the horizon; the periodic job adds the rest later).
MAX_AHEAD = 60
#: ``Post.recurrence_rule`` is a String(500).
MAX_RULE_LENGTH = 500
#: A rule must repeat within this long after the first post, or it is refused.
_FIRST_REPEAT_WITHIN = dt.timedelta(days=366 * 10)
#: Statuses in which a parent's series does not run (nothing is scheduled, or it ended).
_DORMANT = ("draft", "in_review", "cancelled")
#: Occurrence statuses that may still hold deliveries nobody has tried to send.
_MAY_BE_UNSTARTED = ("draft", "in_review", "approved", "scheduled")
_SYSTEM = Actor(label="socialdesk")


# --------------------------------------------------------------------------- rules


def check_rule(rule: str, *, start: dt.datetime, timezone: str) -> str:
    """The repeat rule as stored (``FREQ=WEEKLY;BYDAY=MO``), checked against its start.

    ``start`` is the first post's instant, ``timezone`` the zone it was planned in. A rule
    socialdesk cannot expand, or one that never repeats after the first post (``COUNT=1``,
    an ``UNTIL`` before the start, a date that does not exist), raises
    ``ValidationError(field="recurrence")``.
    """
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :].strip()
    text = text.upper()
    if not text:
        raise ValidationError(
            "the repeat rule is empty; e.g. FREQ=WEEKLY;BYDAY=MO", field="recurrence"
        )
    if len(text) > MAX_RULE_LENGTH:
        raise ValidationError(
            f"the repeat rule is longer than {MAX_RULE_LENGTH} characters", field="recurrence"
        )
    first = _first_repeat(text, start=start, timezone=timezone)
    if first is None:
        raise ValidationError(
            f"the repeat rule {text} gives no date after the post's own; check its COUNT, "
            "UNTIL and BY… parts",
            field="recurrence",
        )
    return text


def _first_repeat(rule: str, *, start: dt.datetime, timezone: str) -> dt.datetime | None:
    effective = _effective_rule(rule, start=start, timezone=timezone)
    if effective is None:
        return None
    found = _expand(
        effective, start=start, timezone=timezone, after=start, before=start + _FIRST_REPEAT_WITHIN
    )
    return found[0] if found else None


def _expand(
    rule: str,
    *,
    start: dt.datetime,
    timezone: str,
    after: dt.datetime,
    before: dt.datetime,
    limit: int = 1,
) -> list[dt.datetime]:
    """:func:`expand_recurrence` from the series' start, its errors named ``recurrence``."""
    try:
        return expand_recurrence(
            rule,
            dtstart_local=to_local(start, timezone),
            tz=timezone,
            after=after,
            before=before,
            limit=limit,
        )
    except ValidationError as exc:
        raise ValidationError(exc.message, field="recurrence") from exc


def _effective_rule(rule: str, *, start: dt.datetime, timezone: str) -> str | None:
    """The rule to expand for the occurrences after the first post (None: there are none).

    RFC 5545 counts the start as the first occurrence even when it does not match the
    rule ("every Monday" starting on a Tuesday); dateutil counts only matches. So with
    ``COUNT=n`` and a start off the rule, n - 1 occurrences follow the first post.
    """
    match = re.search(r"(?:^|;)COUNT=(\d+)", rule)
    if match is None:
        return rule
    second = dt.timedelta(seconds=1)
    on_rule = _expand(
        rule, start=start, timezone=timezone, after=start - second, before=start + second
    )
    if on_rule:
        return rule
    count = int(match.group(1)) - 1
    if count < 1:
        return None
    return rule[: match.start(1)] + str(count) + rule[match.end(1) :]


# --------------------------------------------------------------------------- planning


def is_live(parent: Post) -> bool:
    """Whether the post heads a series whose occurrences should exist."""
    return (
        parent.recurrence_rule is not None
        and parent.recurrence_parent_id is None
        and parent.scheduled_at is not None
        and parent.status not in _DORMANT
    )


def planned_instants(parent: Post, *, now: dt.datetime) -> list[dt.datetime]:
    """The series' next occurrences after ``now`` (and after the first post), in UTC.

    At most :data:`MAX_AHEAD` of them, none later than ``now + HORIZON``.
    """
    start, rule_text = parent.scheduled_at, parent.recurrence_rule
    if not is_live(parent) or start is None or rule_text is None:
        return []
    rule = _effective_rule(rule_text, start=start, timezone=parent.timezone)
    after = max(start, now)
    before = now + HORIZON
    if rule is None or before <= after:
        return []
    return _expand(
        rule,
        start=start,
        timezone=parent.timezone,
        after=after,
        before=before,
        limit=MAX_AHEAD,
    )


def occurrence_key(template_key: str, instant: dt.datetime) -> str:
    """The idempotency key of one channel's delivery of the occurrence at ``instant``.

    Derived from the parent delivery's random key, so it is new for every occurrence and
    channel yet always the same for the same occurrence: what makes materialising
    idempotent, and the unique index on the key a last line of defence.
    """
    moment = instant.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return hashlib.sha256(f"{template_key}/{moment}".encode()).hexdigest()[:32]


def _lock_parent(session: Session, parent: Post) -> None:
    """Serialise work on one series, and read its rule and status as they are now.

    PostgreSQL: the row lock makes a second materialiser wait, then see the first one's
    occurrences (each statement reads what is committed). SQLite: ``BEGIN IMMEDIATE``
    already makes this the only write transaction.
    """
    session.flush()
    session.execute(
        select(Post)
        .where(Post.id == parent.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _templates(session: Session, parent: Post) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery)
            .where(Delivery.post_id == parent.id)
            .order_by(Delivery.created_at, Delivery.id)
        )
    )


def materialise(
    session: Session, *, parent: Post, actor: Actor, now: dt.datetime | None = None
) -> list[Post]:
    """Create the series' missing occurrences up to the horizon; return the new ones.

    Runs in the caller's transaction. Occurrences that exist already (whatever became of
    them since: rescheduled, published, cancelled) are never created again.
    """
    now = now or utcnow()
    _lock_parent(session, parent)
    instants = planned_instants(parent, now=now)
    templates = _templates(session, parent) if instants else []
    if not templates:
        return []
    wanted = {
        instant: [occurrence_key(t.idempotency_key, instant) for t in templates]
        for instant in instants
    }
    all_keys = [key for keys in wanted.values() for key in keys]
    existing = set(
        session.scalars(
            select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(all_keys))
        )
    )
    created = [
        _create_occurrence(session, parent=parent, templates=templates, instant=instant, keys=keys)
        for instant, keys in wanted.items()
        if existing.isdisjoint(keys)
    ]
    if created:
        audit.record(
            session,
            actor=actor,
            action="post.occurrences_schedule",
            workspace_id=parent.workspace_id,
            target_type="post",
            target_id=parent.id,
            details={
                "count": len(created),
                "first": created[0].scheduled_at.isoformat() if created[0].scheduled_at else None,
                "last": created[-1].scheduled_at.isoformat() if created[-1].scheduled_at else None,
            },
        )
    return created


def _create_occurrence(
    session: Session,
    *,
    parent: Post,
    templates: Sequence[Delivery],
    instant: dt.datetime,
    keys: Sequence[str],
) -> Post:
    occurrence = Post(
        workspace_id=parent.workspace_id,
        author_id=parent.author_id,
        status="scheduled",
        text=parent.text,
        timezone=parent.timezone,
        labels=list(parent.labels),
        campaign_id=parent.campaign_id,
        scheduled_at=instant,
        recurrence_parent_id=parent.id,
    )
    session.add(occurrence)
    session.flush()
    states = []
    for template, key in zip(templates, keys, strict=True):
        delivery = Delivery(
            workspace_id=parent.workspace_id,
            post_id=occurrence.id,
            channel_id=template.channel_id,
            text=template.text,
            # Keys starting with "_" are the publisher's notes about one attempt.
            options={k: v for k, v in template.options.items() if not k.startswith("_")},
            idempotency_key=key,
            state=dl.PENDING,
        )
        session.add(delivery)
        session.flush()
        for item in template.media:
            session.add(
                DeliveryMedia(
                    workspace_id=parent.workspace_id,
                    delivery_id=delivery.id,
                    asset_id=item.asset_id,
                    position=item.position,
                    alt_text=item.alt_text,
                )
            )
        channel = template.channel
        if channel.status == DISCONNECTED:
            delivery.state = dl.CANCELLED
            delivery.last_error = "the channel was disconnected"
        elif channel.status == NEEDS_RECONNECT:
            delivery.state = dl.HELD
            delivery.due_at = instant
        else:
            dl.enqueue_delivery(session, delivery=delivery, due_at=instant)
        states.append(delivery.state)
    if all(state == dl.CANCELLED for state in states):
        occurrence.status = "cancelled"
    return occurrence


def _remove_unstarted(
    session: Session, *, parent: Post, keep: Callable[[Post, set[str]], bool]
) -> int:
    """Delete the occurrences nobody tried to send yet, unless ``keep`` says otherwise.

    An occurrence is removed only if every delivery is untried (pending or held, no
    attempt) or cancelled, and at least one is untried. The deliveries are locked first,
    so a worker that is starting to publish one either finishes before (and the
    occurrence is kept) or finds it gone.
    """
    candidates = list(
        session.scalars(
            select(Post).where(
                Post.recurrence_parent_id == parent.id, Post.status.in_(_MAY_BE_UNSTARTED)
            )
        )
    )
    if not candidates:
        return 0
    by_post: dict[uuid.UUID, list[Delivery]] = {post.id: [] for post in candidates}
    for delivery in session.scalars(
        select(Delivery)
        .where(Delivery.post_id.in_(list(by_post)))
        .with_for_update(of=Delivery)
        .execution_options(populate_existing=True)
    ):
        by_post[delivery.post_id].append(delivery)
    removed = 0
    for occurrence in candidates:
        found = by_post[occurrence.id]
        untried = [d for d in found if d.state in (dl.PENDING, dl.HELD) and d.attempts == 0]
        others = [d for d in found if d not in untried]
        if not untried or any(d.state != dl.CANCELLED for d in others):
            continue
        if keep(occurrence, {d.idempotency_key for d in found}):
            continue
        for delivery in untried:
            if delivery.job_id is not None:
                jobs.cancel(session, job_id=delivery.job_id)
        session.delete(occurrence)
        removed += 1
    session.flush()
    return removed


def replan(
    session: Session,
    *,
    parent: Post,
    actor: Actor,
    now: dt.datetime | None = None,
    content_changed: bool = False,
) -> tuple[int, int]:
    """Bring untried future occurrences in line with the parent's (new) rule and start.

    Those the new plan still has stay as they are; the others are removed; missing ones
    are created. With ``content_changed`` (the parent's text, channels or media were
    edited) every untried future occurrence is made again from the parent. Returns
    (removed, created).
    """
    now = now or utcnow()
    _lock_parent(session, parent)
    instants = planned_instants(parent, now=now)
    templates = _templates(session, parent)
    planned = {occurrence_key(t.idempotency_key, i) for i in instants for t in templates}

    def keep(occurrence: Post, keys: set[str]) -> bool:
        due = occurrence.scheduled_at
        # Due already: it goes out now under the plan it was made with.
        if due is None or due <= now:
            return True
        return not content_changed and not planned.isdisjoint(keys)

    removed = _remove_unstarted(session, parent=parent, keep=keep)
    created = materialise(session, parent=parent, actor=actor, now=now)
    return removed, len(created)


# --------------------------------------------------------------------------- changes


def change_rule(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    parent: Post,
    rule: str | None,
    now: dt.datetime | None = None,
) -> Post:
    """Give the post a new repeat rule (None: stop repeating) and re-plan its series.

    The rule is checked first: a bad one raises ``ValidationError`` and changes nothing.
    Occurrences already published, being published or due stay as they are.
    """
    require(access.role, Permission.POSTS_PUBLISH)
    now = now or utcnow()
    if parent.recurrence_parent_id is not None:
        raise Conflict(
            "this post is one occurrence of a series; change the rule on the series' first post"
        )
    if parent.status == "cancelled":
        raise Conflict("the post is cancelled; its series cannot repeat any more")
    new_rule = None
    if rule is not None and rule.strip():
        new_rule = check_rule(rule, start=parent.scheduled_at or now, timezone=parent.timezone)
    old_rule = parent.recurrence_rule
    parent.recurrence_rule = new_rule
    removed, created = replan(session, parent=parent, actor=actor, now=now)
    audit.record(
        session,
        actor=actor,
        action="post.recurrence_change",
        workspace_id=parent.workspace_id,
        target_type="post",
        target_id=parent.id,
        details={"from": old_rule, "to": new_rule, "removed": removed, "created": created},
    )
    return parent


def cancel_series(session: Session, *, actor: Actor, parent: Post) -> Post:
    """End the series: its untried occurrences go, and the parent too if not out yet.

    What was published, or is being published right now, stays. The caller checked the
    permission (as for cancelling any post).
    """
    _lock_parent(session, parent)
    own = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.post_id == parent.id)
            .with_for_update(of=Delivery)
            .execution_options(populate_existing=True)
        )
    )
    still_open = parent.status not in ("published", "cancelled")
    if still_open and any(d.state in (dl.PUBLISHING, dl.UNCERTAIN) for d in own):
        raise Conflict("the post is being published right now; wait a moment and delete it instead")
    removed = _remove_unstarted(session, parent=parent, keep=lambda _post, _keys: False)
    if still_open:
        for delivery in own:
            dl.cancel_delivery(session, delivery=delivery, reason="cancelled by a member")
        published = any(d.state == dl.PUBLISHED for d in own)
        parent.status = "partly_failed" if published else "cancelled"
    rule = parent.recurrence_rule
    parent.recurrence_rule = None
    audit.record(
        session,
        actor=actor,
        action="post.cancel",
        workspace_id=parent.workspace_id,
        target_type="post",
        target_id=parent.id,
        details={"series_ended": rule, "occurrences_removed": removed},
    )
    return parent


# --------------------------------------------------------------------------- the job


def materialise_recurrences(context: JobContext, *, now: dt.datetime | None = None) -> None:
    """The periodic job: top every live series up to the horizon.

    One transaction per series, so one series cannot hold up, or fail, the others.
    """
    now = now or utcnow()
    with context.db.transaction() as session:
        # First: a series that keeps failing must not stop the job from running again.
        enqueue_next_run(session, kind=RECURRENCE_KIND, interval=RECURRENCE_INTERVAL, now=now)
        series = session.execute(
            select(Post.id, Post.workspace_id).where(
                Post.recurrence_rule.is_not(None),
                Post.recurrence_parent_id.is_(None),
                Post.scheduled_at.is_not(None),
                Post.status.not_in(_DORMANT),
            )
        ).all()
    created = 0
    for post_id, workspace_id in series:
        if context.lease_lost.is_set():
            return
        try:
            with context.db.transaction(workspace_id=workspace_id) as session:
                parent = session.get(Post, post_id)
                if parent is not None:
                    created += len(materialise(session, parent=parent, actor=_SYSTEM, now=now))
        except SocialdeskError as exc:
            # A rule stored before the rules got stricter: say so, go on with the others.
            logger.warning("series %s cannot be planned: %s", post_id, exc.message)
    if created:
        logger.info("planned %s occurrences of %s series", created, len(series))
