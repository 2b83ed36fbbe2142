# SPDX-License-Identifier: AGPL-3.0-or-later
"""Posts: write once, tailor per channel, schedule, and change your mind safely.

Every function validates everything first and writes afterwards, in the caller's
transaction: bad input raises ``ValidationError`` and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from socialdesk import jobs
from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, can, require
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.media.library import get_asset, media_check
from socialdesk.publishing import approvals, recurrence
from socialdesk.publishing import deliveries as dl
from socialdesk.publishing.channels import ACTIVE, NEEDS_RECONNECT, get_channel
from socialdesk.publishing.scheduling import QueueSlot as SlotSpec
from socialdesk.publishing.scheduling import next_free_slot, validate_schedule
from socialdesk.publishing.validation import ValidationReport, validate_delivery
from socialdesk.storage.tables import Channel, Delivery, DeliveryMedia, Post, QueueSlot
from socialdesk.storage.types import utcnow

When = Literal["draft", "now", "at", "queue"]
#: A time this far in the past still counts as "now" (the form took a while to submit).
PAST_GRACE = dt.timedelta(minutes=2)
MAX_LABELS = 20
#: Options a channel added to an existing post takes over from its first copy.
_SHARED_OPTIONS = ("thread", "first_comment", "link")


@dataclass(frozen=True, slots=True)
class MediaRef:
    asset_id: uuid.UUID
    alt_text: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelContent:
    """What one channel gets; None fields fall back to the post's."""

    channel_id: uuid.UUID
    text: str | None = None
    media: Sequence[MediaRef] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostDraft:
    text: str
    channels: Sequence[ChannelContent]
    media: Sequence[MediaRef] = ()
    when: When = "draft"
    at: dt.datetime | None = None
    timezone: str = "UTC"
    labels: Sequence[str] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    #: An RFC 5545 RRULE ("FREQ=WEEKLY;BYDAY=MO"): the post repeats, in ``timezone``.
    recurrence: str | None = None


def _problems_message(problems: Mapping[str, ValidationReport]) -> str:
    lines = [f"{where}: {error}" for where, report in problems.items() for error in report.errors]
    return "the post cannot be published as it is:\n- " + "\n- ".join(lines)


def _labels(labels: Sequence[str]) -> list[str]:
    cleaned = sorted({label.strip() for label in labels if label.strip()})
    if len(cleaned) > MAX_LABELS:
        raise ValidationError(f"at most {MAX_LABELS} labels per post", field="labels")
    if any(len(label) > 50 for label in cleaned):
        raise ValidationError("a label is longer than 50 characters", field="labels")
    return cleaned


def _resolve_channels(session: Session, draft: PostDraft) -> list[tuple[ChannelContent, Channel]]:
    if not draft.channels:
        raise ValidationError("choose at least one channel", field="channels")
    seen: set[uuid.UUID] = set()
    resolved = []
    for content in draft.channels:
        if content.channel_id in seen:
            raise ValidationError("a channel is listed twice", field="channels")
        seen.add(content.channel_id)
        channel = get_channel(session, channel_id=content.channel_id)
        if channel.status not in (ACTIVE, NEEDS_RECONNECT):
            raise ValidationError(
                f"the channel {channel.handle} is disconnected; reconnect it first",
                field="channels",
            )
        resolved.append((content, channel))
    return resolved


def check_draft(
    session: Session, *, settings: Settings, draft: PostDraft
) -> dict[str, ValidationReport]:
    """Validate every channel's copy; a report per channel handle."""
    reports: dict[str, ValidationReport] = {}
    for content, channel in _resolve_channels(session, draft):
        media_refs = content.media if content.media is not None else draft.media
        checks = [
            media_check(
                settings,
                get_asset(session, asset_id=ref.asset_id),
                alt_text=ref.alt_text,
            )
            for ref in media_refs
        ]
        options = {**draft.options, **content.options}
        thread = [str(part) for part in options.get("thread", [])]
        reports[f"{channel.network} {channel.handle}"] = validate_delivery(
            network=channel.network,
            text=content.text if content.text is not None else draft.text,
            media=checks,
            thread=thread,
            options=options,
            extra=channel.extra,
        )
    return reports


def _queue_time(session: Session, *, channel: Channel, after: dt.datetime) -> dt.datetime:
    slots = [
        SlotSpec(weekday=slot.weekday, local_time=dt.time.fromisoformat(slot.local_time))
        for slot in session.scalars(select(QueueSlot).where(QueueSlot.channel_id == channel.id))
    ]
    if not slots:
        raise ValidationError(
            f"the channel {channel.handle} has no queue slots; add posting times first",
            field="when",
        )
    taken: set[dt.datetime] = set(
        due
        for due in session.scalars(
            select(Delivery.due_at).where(
                Delivery.channel_id == channel.id,
                Delivery.state.in_(tuple(dl.OPEN_STATES)),
                Delivery.due_at > after,
            )
        )
        if due is not None
    )
    return next_free_slot(slots, channel.timezone, after=after, taken=taken)


@dataclass(slots=True)
class _Plan:
    """A draft checked against the rules and turned into times, before anything is written."""

    review: bool
    labels: list[str]
    resolved: list[tuple[ChannelContent, Channel]]
    at: dt.datetime | None
    rule: str | None
    due_by_channel: dict[uuid.UUID, dt.datetime]
    now: dt.datetime

    @property
    def scheduled_at(self) -> dt.datetime | None:
        return self.at or (min(self.due_by_channel.values()) if self.due_by_channel else None)


def _plan(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    draft: PostDraft,
    review: bool,
) -> _Plan:
    """Check permission, times, the repeat rule and every channel's copy; write nothing."""
    if review:
        # The approver's decision publishes it, so asking for approval is permission enough.
        require(access.role, Permission.APPROVALS_REQUEST)
    elif draft.when != "draft":
        require(access.role, Permission.POSTS_PUBLISH)
    labels = _labels(draft.labels)
    resolved = _resolve_channels(session, draft)
    now = utcnow()
    at: dt.datetime | None = None
    if draft.when == "at":
        if draft.at is None:
            raise ValidationError("give the time to publish at", field="at")
        validate_schedule(draft.at, now=now, grace=PAST_GRACE)
        at = max(draft.at, now)
    elif draft.when == "now":
        at = now
    rule: str | None = None
    if draft.recurrence is not None and draft.recurrence.strip():
        if draft.when == "queue":
            raise ValidationError(
                "a repeating post needs a start time: publish it now or at a time, not in "
                "the queue",
                field="recurrence",
            )
        rule = recurrence.check_rule(
            draft.recurrence, start=at or draft.at or now, timezone=draft.timezone
        )
    if draft.when != "draft":
        reports = check_draft(session, settings=settings, draft=draft)
        problems = {where: report for where, report in reports.items() if not report.ok}
        if problems:
            raise ValidationError(_problems_message(problems), field="text")
    due_by_channel: dict[uuid.UUID, dt.datetime] = {}
    if draft.when == "queue":
        for _content, channel in resolved:
            due_by_channel[channel.id] = _queue_time(session, channel=channel, after=now)
    return _Plan(review, labels, resolved, at, rule, due_by_channel, now)


def _add_deliveries(session: Session, *, post: Post, draft: PostDraft, plan: _Plan) -> None:
    """One delivery per channel, queued at its time (or only planned while in review)."""
    for content, channel in plan.resolved:
        options = {**draft.options, **content.options}
        delivery = Delivery(
            workspace_id=post.workspace_id,
            post_id=post.id,
            channel_id=channel.id,
            text=content.text if content.text is not None else draft.text,
            options=dict(options),
            idempotency_key=secrets.token_hex(16),
            state=dl.PENDING,
        )
        session.add(delivery)
        session.flush()
        media_refs = content.media if content.media is not None else draft.media
        for position, ref in enumerate(media_refs):
            asset = get_asset(session, asset_id=ref.asset_id)
            session.add(
                DeliveryMedia(
                    workspace_id=post.workspace_id,
                    delivery_id=delivery.id,
                    asset_id=asset.id,
                    position=position,
                    alt_text=ref.alt_text if ref.alt_text is not None else asset.alt_text,
                )
            )
        due = plan.due_by_channel.get(channel.id, plan.at)
        if due is not None:
            if plan.review:
                delivery.due_at = due  # planned; queued once approved
            elif channel.status == NEEDS_RECONNECT:
                delivery.state = dl.HELD
                delivery.due_at = due
            else:
                dl.enqueue_delivery(session, delivery=delivery, due_at=due)


def create_post(
    session: Session, *, settings: Settings, access: Access, actor: Actor, draft: PostDraft
) -> Post:
    """Create a post with one delivery per channel, and schedule it unless it is a draft.

    A member whose posts need approval schedules into review (approvals.py) instead.
    """
    require_write(access)
    review = draft.when != "draft" and approvals.approval_required(access)
    plan = _plan(session, settings=settings, access=access, draft=draft, review=review)
    post = Post(
        workspace_id=access.workspace.id,
        author_id=access.user.id,
        status="draft" if draft.when == "draft" else "in_review" if review else "scheduled",
        text=draft.text,
        timezone=draft.timezone,
        labels=plan.labels,
        scheduled_at=plan.scheduled_at,
        recurrence_rule=plan.rule,
    )
    session.add(post)
    session.flush()
    _add_deliveries(session, post=post, draft=draft, plan=plan)
    if plan.rule is not None:
        recurrence.materialise(session, parent=post, actor=actor, now=plan.now)
    audit.record(
        session,
        actor=actor,
        action="post.create" if draft.when == "draft" else "post.schedule",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={
            "channels": [str(c.id) for _, c in plan.resolved],
            "when": draft.when,
            "at": post.scheduled_at.isoformat() if post.scheduled_at else None,
            "recurrence": plan.rule,
        },
    )
    if review:
        approvals.hold_for_review(session, access=access, actor=actor, post=post)
    return post


def revise_post(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    actor: Actor,
    post: Post,
    draft: PostDraft,
) -> Post:
    """Replace what a post says, where and when, as long as none of it has gone out.

    The composer's edit: the same checks as ``create_post``, then every copy is rewritten
    in place (the post keeps its id, comments and approval history). A post waiting for
    approval stays in review with its new content; an approved post goes back to review;
    a member whose posts need approval sends it for approval.
    """
    require_write(access)
    check_editable(post)
    if post.recurrence_rule is not None or (draft.recurrence or "").strip():
        raise ValidationError(
            "a repeating post cannot be edited here; cancel the series and create it again",
            field="recurrence",
        )
    if draft.when == "draft" and post.status == "in_review":
        raise Conflict("the post waits for approval; withdraw it first to keep it as a draft")
    was_approved = post.status in ("approved", "scheduled") and approvals.was_approved(
        session, post=post
    )
    in_review = post.status == "in_review"
    review = draft.when != "draft" and (
        in_review or was_approved or approvals.approval_required(access)
    )
    plan = _plan(session, settings=settings, access=access, draft=draft, review=review)
    old_channels = [str(d.channel_id) for d in post.deliveries]
    for delivery in list(post.deliveries):
        if delivery.job_id is not None:
            jobs.cancel(session, job_id=delivery.job_id)
        post.deliveries.remove(delivery)
    session.flush()
    post.text = draft.text
    post.timezone = draft.timezone
    post.labels = plan.labels
    post.scheduled_at = plan.scheduled_at
    if draft.when == "draft":
        post.status = "draft"
    elif not review:
        post.status = "scheduled"
    _add_deliveries(session, post=post, draft=draft, plan=plan)
    audit.record(
        session,
        actor=actor,
        action="post.revise",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={
            "channels_before": old_channels,
            "channels": [str(c.id) for _, c in plan.resolved],
            "when": draft.when,
            "at": post.scheduled_at.isoformat() if post.scheduled_at else None,
        },
    )
    if review and not in_review:
        if was_approved:
            approvals.back_to_review(session, access=access, actor=actor, post=post)
        else:
            approvals.hold_for_review(session, access=access, actor=actor, post=post)
    return post


def require_write(access: Access) -> None:
    """Managers write posts; marketers write them for their campaigns."""
    if not can(access.role, Permission.CAMPAIGN_POSTS_WRITE):
        require(access.role, Permission.POSTS_WRITE)


def get_post(session: Session, *, post_id: uuid.UUID) -> Post:
    post = session.scalars(
        select(Post).where(Post.id == post_id).options(selectinload(Post.deliveries))
    ).first()
    if post is None:
        raise NotFound("no such post in this workspace")
    return post


def list_posts(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    statuses: Sequence[str] = (),
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 200,
) -> list[Post]:
    query = (
        select(Post)
        .where(Post.workspace_id == workspace_id)
        .options(selectinload(Post.deliveries))
        .order_by(Post.scheduled_at.is_(None), Post.scheduled_at, Post.created_at)
        .limit(limit)
    )
    if statuses:
        query = query.where(Post.status.in_(tuple(statuses)))
    if start is not None:
        query = query.where(Post.scheduled_at >= start)
    if end is not None:
        query = query.where(Post.scheduled_at < end)
    return list(session.scalars(query))


#: Statuses in which a post can still be edited (if nothing of it has gone out).
EDITABLE = ("draft", "in_review", "approved", "scheduled")


def has_started(post: Post) -> bool:
    """Whether a copy of the post is going out, has gone out, or was tried."""
    return any(d.state not in (dl.PENDING, dl.HELD) or d.attempts for d in post.deliveries)


def check_editable(post: Post) -> None:
    """A Conflict saying why, unless the post can still be changed."""
    if post.status not in EDITABLE:
        raise Conflict(f"a {post.status.replace('_', ' ')} post cannot be edited")
    if has_started(post):
        raise Conflict("part of this post is going out or has gone out; it cannot be edited")


def can_revise(post: Post) -> bool:
    """Whether the composer can open this post to edit it (a series is changed as a whole)."""
    return post.status in EDITABLE and not has_started(post) and post.recurrence_rule is None


def update_post(
    session: Session,
    *,
    settings: Settings,
    access: Access,
    actor: Actor,
    post: Post,
    text: str | None = None,
    channel_ids: Sequence[uuid.UUID] | None = None,
) -> Post:
    """Change the text or the channels of a post that has not started going out.

    Copies that were not tailored per channel follow the new text; a channel added gets
    the text with the media and shared options of the post's first copy. Unless the post
    is a draft, every copy is checked against its network's rules first. An approved post
    that is edited, or a scheduled one edited by a member whose posts need approval, goes
    back to review.
    """
    require_write(access)
    check_editable(post)
    new_text = post.text if text is None else text
    current = {d.channel_id: d for d in post.deliveries}
    wanted = list(dict.fromkeys(channel_ids)) if channel_ids is not None else list(current)
    if not wanted:
        raise ValidationError("choose at least one channel", field="channels")
    targets = PostDraft(text=new_text, channels=[ChannelContent(channel_id=c) for c in wanted])
    added = [c for _, c in _resolve_channels(session, targets) if c.id not in current]
    removed = [d for d in post.deliveries if d.channel_id not in wanted]
    if new_text == post.text and not added and not removed:
        return post
    template = post.deliveries[0]
    shared = {k: v for k, v in template.options.items() if k in _SHARED_OPTIONS}
    copies = [
        (d.channel, new_text if d.text == post.text else d.text, d.media, d.options)
        for d in post.deliveries
        if d not in removed
    ] + [(channel, new_text, template.media, shared) for channel in added]
    if post.status != "draft":
        problems = {
            f"{channel.network} {channel.handle}": report
            for channel, copy, media, options in copies
            if not (
                report := validate_delivery(
                    network=channel.network,
                    text=copy,
                    media=[media_check(settings, m.asset, alt_text=m.alt_text) for m in media],
                    thread=[str(part) for part in options.get("thread", [])],
                    options={k: v for k, v in options.items() if not k.startswith("_")},
                    extra=channel.extra,
                )
            ).ok
        }
        if problems:
            raise ValidationError(_problems_message(problems), field="text")
    # Everything is valid: write.
    back_to_review = post.status in ("approved", "scheduled") and (
        approvals.was_approved(session, post=post) or approvals.approval_required(access)
    )
    for delivery in removed:
        if delivery.job_id is not None:
            jobs.cancel(session, job_id=delivery.job_id)
        post.deliveries.remove(delivery)
    for delivery in post.deliveries:
        if delivery.text == post.text:
            delivery.text = new_text
    for channel in added:
        delivery = Delivery(
            workspace_id=post.workspace_id,
            channel_id=channel.id,
            text=new_text,
            options=dict(shared),
            idempotency_key=secrets.token_hex(16),
            state=dl.HELD if channel.status == NEEDS_RECONNECT else dl.PENDING,
            due_at=template.due_at,
        )
        post.deliveries.append(delivery)
        session.flush()
        for item in template.media:
            session.add(
                DeliveryMedia(
                    workspace_id=post.workspace_id,
                    delivery_id=delivery.id,
                    asset_id=item.asset_id,
                    position=item.position,
                    alt_text=item.alt_text,
                )
            )
        scheduled = post.status == "scheduled" and not back_to_review
        if scheduled and delivery.state == dl.PENDING and delivery.due_at is not None:
            dl.enqueue_delivery(session, delivery=delivery, due_at=delivery.due_at)
    audit.record(
        session,
        actor=actor,
        action="post.update",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={
            "text_changed": new_text != post.text,
            "added": [str(c.id) for c in added],
            "removed": [str(d.channel_id) for d in removed],
        },
    )
    post.text = new_text
    if back_to_review:
        approvals.back_to_review(session, access=access, actor=actor, post=post)
    return post


def reschedule_post(
    session: Session, *, access: Access, actor: Actor, post: Post, at: dt.datetime, timezone: str
) -> Post:
    """Move a scheduled post (or a draft) to another time; published parts stay as they are.

    A post waiting for approval only gets a new planned time; a draft of a member whose
    posts need approval goes to review instead of being scheduled.
    """
    review = post.status == "in_review" or (
        post.status == "draft" and approvals.approval_required(access)
    )
    if review:
        require_write(access)
        require(access.role, Permission.APPROVALS_REQUEST)
    else:
        require(access.role, Permission.POSTS_PUBLISH)
    if post.status in ("published", "cancelled", "failed", "partly_failed"):
        raise Conflict(f"a {post.status.replace('_', ' ')} post cannot be rescheduled")
    validate_schedule(at, now=utcnow(), grace=PAST_GRACE)
    at = max(at, utcnow())
    old = post.scheduled_at
    post.scheduled_at = at
    post.timezone = timezone
    if post.status in ("draft", "approved") and not review:
        post.status = "scheduled"
    for delivery in post.deliveries:
        if delivery.state in (dl.PENDING, dl.HELD):
            if review or delivery.state == dl.HELD:
                delivery.due_at = at
            else:
                dl.enqueue_delivery(session, delivery=delivery, due_at=at)
    if post.recurrence_rule is not None:
        recurrence.replan(session, parent=post, actor=actor)  # the series starts elsewhere
    audit.record(
        session,
        actor=actor,
        action="post.reschedule",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
        details={"from": old.isoformat() if old else None, "to": at.isoformat()},
    )
    if review and post.status == "draft":
        approvals.hold_for_review(session, access=access, actor=actor, post=post)
    return post


def cancel_post(session: Session, *, access: Access, actor: Actor, post: Post) -> Post:
    """Cancel what has not gone out yet; what was published stays published."""
    require_write(access)
    if post.recurrence_rule is not None:
        return recurrence.cancel_series(session, actor=actor, parent=post)
    if post.status in ("published", "cancelled"):
        raise Conflict(f"the post is already {post.status}")
    in_flight = [d for d in post.deliveries if d.state in (dl.PUBLISHING, dl.UNCERTAIN)]
    if in_flight:
        raise Conflict("the post is being published right now; wait a moment and delete it instead")
    for delivery in post.deliveries:
        dl.cancel_delivery(session, delivery=delivery, reason="cancelled by a member")
    published = any(d.state == dl.PUBLISHED for d in post.deliveries)
    post.status = "partly_failed" if published else "cancelled"
    audit.record(
        session,
        actor=actor,
        action="post.cancel",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=post.id,
    )
    return post


def duplicate_post(session: Session, *, access: Access, actor: Actor, post: Post) -> Post:
    """A new draft with the same content and channels (and fresh idempotency keys)."""
    require_write(access)
    copy = Post(
        workspace_id=post.workspace_id,
        author_id=access.user.id,
        status="draft",
        text=post.text,
        timezone=post.timezone,
        labels=list(post.labels),
        campaign_id=post.campaign_id,
    )
    session.add(copy)
    session.flush()
    for delivery in post.deliveries:
        twin = Delivery(
            workspace_id=post.workspace_id,
            post_id=copy.id,
            channel_id=delivery.channel_id,
            text=delivery.text,
            options=dict(delivery.options),
            idempotency_key=secrets.token_hex(16),
        )
        session.add(twin)
        session.flush()
        for item in delivery.media:
            session.add(
                DeliveryMedia(
                    workspace_id=post.workspace_id,
                    delivery_id=twin.id,
                    asset_id=item.asset_id,
                    position=item.position,
                    alt_text=item.alt_text,
                )
            )
    audit.record(
        session,
        actor=actor,
        action="post.duplicate",
        workspace_id=post.workspace_id,
        target_type="post",
        target_id=copy.id,
        details={"from": str(post.id)},
    )
    return copy


def retry_delivery(
    session: Session, *, access: Access, actor: Actor, delivery: Delivery
) -> Delivery:
    """Try a failed (or held) delivery again, now; the others are left alone."""
    require(access.role, Permission.POSTS_PUBLISH)
    if delivery.state not in (dl.FAILED, dl.HELD):
        raise Conflict(f"only failed deliveries can be retried; this one is {delivery.state}")
    if delivery.post.status in ("draft", "in_review"):
        raise Conflict("the post is not scheduled (it is a draft or waits for approval)")
    if delivery.channel.status == NEEDS_RECONNECT:
        raise Conflict(f"reconnect {delivery.channel.handle} first; then it goes out by itself")
    delivery.attempts = 0
    delivery.last_error = None
    delivery.last_error_code = None
    dl.requeue_delivery(session, delivery=delivery)
    post = delivery.post
    post.status = (
        "publishing" if any(d.state == dl.PUBLISHED for d in post.deliveries) else "scheduled"
    )
    audit.record(
        session,
        actor=actor,
        action="delivery.retry",
        workspace_id=delivery.workspace_id,
        target_type="delivery",
        target_id=delivery.id,
    )
    return delivery


def get_delivery(session: Session, *, delivery_id: uuid.UUID) -> Delivery:
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound("no such delivery in this workspace")
    return delivery
