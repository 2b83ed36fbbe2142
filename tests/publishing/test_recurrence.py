# SPDX-License-Identifier: AGPL-3.0-or-later
"""Recurring posts: occurrences planned ahead in local time, once each, and re-planned."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import selectinload

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, PermissionDenied, ValidationError
from socialdesk.jobs import ClaimedJob
from socialdesk.media.library import store_file
from socialdesk.publishing import posts, recurrence
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.publishing.scheduling import to_local, to_utc
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Delivery, Job, Post
from socialdesk.storage.types import utcnow
from socialdesk.worker import JobContext, ensure_periodic_jobs
from tests.media.builders import encode, noise, write
from tests.publishing.conftest import Desk

CLI = Actor.cli()
PARIS = "Europe/Paris"
NEW_YORK = "America/New_York"
NINE = dt.time(9, 0)


# --------------------------------------------------------------------------- helpers


def _next_dst_change(tz: str, *, spring: bool, after: dt.date) -> dt.date:
    """The first day after ``after`` on which ``tz`` springs forward (or falls back)."""
    zone = ZoneInfo(tz)
    day = after
    for _ in range(400):
        today = dt.datetime.combine(day, dt.time(0), zone).utcoffset()
        tomorrow = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), zone).utcoffset()
        assert today is not None
        assert tomorrow is not None
        if today != tomorrow and (tomorrow > today) == spring:
            return day
        day += dt.timedelta(days=1)
    raise AssertionError(f"{tz} has no DST change within a year")


def _create(
    desk: Desk,
    *channel_ids: uuid.UUID,
    rule: str | None,
    at: dt.datetime | None = None,
    tz: str = PARIS,
    when: str = "at",
    text: str = "Good morning",
    contents: Sequence[ChannelContent] | None = None,
    media: Sequence[MediaRef] = (),
    access: Access | None = None,
) -> Post:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        return posts.create_post(
            session,
            settings=desk.settings,
            access=access or desk.access,
            actor=CLI,
            draft=PostDraft(
                text=text,
                channels=contents or [ChannelContent(channel_id=c) for c in channel_ids],
                media=media,
                when=when,  # type: ignore[arg-type]
                at=at,
                timezone=tz,
                recurrence=rule,
            ),
        )


def _occurrences(desk: Desk, parent: Post) -> list[Post]:
    with desk.db.transaction() as session:
        return list(
            session.scalars(
                select(Post)
                .where(Post.recurrence_parent_id == parent.id)
                .options(selectinload(Post.deliveries))
                .order_by(Post.scheduled_at)
            )
        )


def _get(desk: Desk, post_id: uuid.UUID) -> Post:
    with desk.db.transaction() as session:
        return session.scalars(
            select(Post).where(Post.id == post_id).options(selectinload(Post.deliveries))
        ).one()


def _materialise(desk: Desk, parent: Post, *, now: dt.datetime) -> list[Post]:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = session.get_one(Post, parent.id)
        return recurrence.materialise(session, parent=stored, actor=CLI, now=now)


def _job_context(desk: Desk) -> JobContext:
    job = ClaimedJob(
        id=0,
        kind=recurrence.RECURRENCE_KIND,
        payload={},
        workspace_id=None,
        attempts=1,
        max_attempts=5,
        due_at=utcnow(),
    )
    return JobContext(db=desk.db, job=job)


def _count(desk: Desk, model: type[object], *where: object) -> int:
    with desk.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _in(days: int, hour: int = 9, minute: int = 0, *, tz: str = PARIS) -> dt.datetime:
    day = (utcnow() + dt.timedelta(days=days)).astimezone(ZoneInfo(tz)).date()
    return to_utc(dt.datetime.combine(day, dt.time(hour, minute)), tz)


# --------------------------------------------------------------------------- local time


@pytest.mark.parametrize(
    ("tz", "spring"),
    [(PARIS, True), (PARIS, False), (NEW_YORK, True), (NEW_YORK, False)],
    ids=["paris-spring", "paris-autumn", "new-york-spring", "new-york-autumn"],
)
def test_a_daily_0900_series_stays_at_0900_local_across_dst(
    desk: Desk, tz: str, spring: bool
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    change = _next_dst_change(tz, spring=spring, after=utcnow().date() + dt.timedelta(days=10))
    first_day = change - dt.timedelta(days=5)
    start = to_utc(dt.datetime.combine(first_day, NINE), tz)
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=start, tz=tz)
    # Plan from the eve of the first post, whatever today is: the horizon covers the change.
    _materialise(desk, parent, now=start - dt.timedelta(hours=12))

    found = _occurrences(desk, parent)
    days = [first_day + dt.timedelta(days=n) for n in range(1, 11)]
    expected = [to_utc(dt.datetime.combine(day, NINE), tz) for day in days]
    assert [o.scheduled_at for o in found[:10]] == expected
    assert {to_local(o.scheduled_at, tz).time() for o in found if o.scheduled_at} == {NINE}
    # 09:00 local is a different UTC hour on each side of the change.
    before = {o.scheduled_at.hour for o in found[:4] if o.scheduled_at}
    after = {o.scheduled_at.hour for o in found[6:10] if o.scheduled_at}
    assert len(before) == len(after) == 1
    assert before != after
    # Each occurrence's delivery is queued for exactly its instant.
    with desk.db.transaction() as session:
        for occurrence in found[:10]:
            [delivery] = occurrence.deliveries
            assert delivery.due_at == occurrence.scheduled_at
            assert session.get_one(Job, delivery.job_id).due_at == occurrence.scheduled_at


def test_a_weekly_new_york_series_keeps_its_weekdays_and_wall_time(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    change = _next_dst_change(NEW_YORK, spring=True, after=utcnow().date() + dt.timedelta(days=20))
    monday = change - dt.timedelta(days=change.weekday() + 7)  # the week before the change
    start = to_utc(dt.datetime.combine(monday, dt.time(18, 30)), NEW_YORK)
    parent = _create(desk, channel.id, rule="FREQ=WEEKLY;BYDAY=MO,TH", at=start, tz=NEW_YORK)
    _materialise(desk, parent, now=start)

    found = _occurrences(desk, parent)
    local = [to_local(o.scheduled_at, NEW_YORK) for o in found if o.scheduled_at]
    assert local[:6] == [
        dt.datetime.combine(monday + dt.timedelta(days=d), dt.time(18, 30))
        for d in (3, 7, 10, 14, 17, 21)
    ]
    assert all(moment.time() == dt.time(18, 30) for moment in local)
    assert {moment.weekday() for moment in local} == {0, 3}
    # 18:30 is 23:30 UTC in winter and 22:30 in summer.
    assert [o.scheduled_at.hour for o in found[:6] if o.scheduled_at] == [23, 23, 23, 22, 22, 22]


def test_a_time_lost_to_spring_forward_goes_out_when_the_clock_resumes(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    change = _next_dst_change(PARIS, spring=True, after=utcnow().date() + dt.timedelta(days=10))
    first_day = change - dt.timedelta(days=2)
    start = to_utc(dt.datetime.combine(first_day, dt.time(2, 30)), PARIS)
    parent = _create(desk, channel.id, rule="FREQ=DAILY;COUNT=5", at=start)
    _materialise(desk, parent, now=start)

    local = [to_local(o.scheduled_at, PARIS) for o in _occurrences(desk, parent) if o.scheduled_at]
    assert [moment.time() for moment in local] == [
        dt.time(2, 30),
        dt.time(3, 0),  # 02:30 does not exist that night: the first instant after the gap
        dt.time(2, 30),
        dt.time(2, 30),
    ]


# --------------------------------------------------------------------------- content


def test_occurrences_copy_the_series_with_fresh_keys(desk: Desk, tmp_path: Path) -> None:
    alice, _ = desk.connect_mastodon("alice")
    bob, _ = desk.connect_mastodon("bob")
    image = write(tmp_path, "cup.png", encode(noise(64, 48), "PNG"))
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        asset = store_file(
            session,
            settings=desk.settings,
            workspace_id=desk.access.workspace.id,
            source=image,
            filename="cup.png",
            actor=CLI,
        )
        asset_id = asset.id
    parent = _create(
        desk,
        rule="FREQ=WEEKLY",
        at=_in(2),
        contents=[
            ChannelContent(channel_id=alice.id),
            ChannelContent(channel_id=bob.id, text="Bonjour", options={"visibility": "unlisted"}),
        ],
        media=[MediaRef(asset_id=asset_id, alt_text="A cup of coffee")],
    )
    parent = _get(desk, parent.id)
    found = _occurrences(desk, parent)
    assert 3 <= len(found) <= 5  # weekly within 30 days

    templates = {d.channel_id: d for d in parent.deliveries}
    keys = {d.idempotency_key for d in parent.deliveries}
    for occurrence in found:
        assert occurrence.status == "scheduled"
        assert occurrence.recurrence_parent_id == parent.id
        assert occurrence.recurrence_rule is None
        assert occurrence.timezone == PARIS
        assert occurrence.text == "Good morning"
        assert {d.channel_id for d in occurrence.deliveries} == {alice.id, bob.id}
        for delivery in occurrence.deliveries:
            template = templates[delivery.channel_id]
            assert delivery.text == template.text
            assert delivery.options == template.options
            assert [(m.asset_id, m.alt_text) for m in delivery.media] == [
                (asset_id, "A cup of coffee")
            ]
            assert delivery.state == "pending"
            assert delivery.idempotency_key not in keys
            keys.add(delivery.idempotency_key)
    by_channel = {d.channel_id: d.text for d in found[0].deliveries}
    assert by_channel == {alice.id: "Good morning", bob.id: "Bonjour"}
    # An occurrence is known by its keys, which are the same however often it is planned.
    assert found[0].deliveries[0].idempotency_key == recurrence.occurrence_key(
        templates[found[0].deliveries[0].channel_id].idempotency_key, found[0].scheduled_at
    )


def test_the_series_goes_out_once_per_occurrence(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", when="now")
    found = _occurrences(desk, parent)
    assert len(found) >= 29  # daily for 30 days ahead
    desk.run_worker()
    assert _get(desk, parent.id).status == "published"
    assert desk.fake.count_statuses(account) == 1  # the occurrences wait for their day

    first = found[0]
    with desk.db.transaction() as session:
        session.execute(
            update(Job).where(Job.id == first.deliveries[0].job_id).values(due_at=utcnow())
        )
    desk.run_worker()
    desk.run_worker()
    assert _get(desk, first.id).status == "published"
    assert desk.fake.count_statuses(account) == 2
    sent_keys = {s.idempotency_key for s in desk.fake.statuses.values()}
    assert len(sent_keys) == 2


# --------------------------------------------------------------------------- planning ahead


def test_occurrences_are_planned_up_to_the_horizon_and_the_cap(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    weekly = _create(desk, channel.id, rule="FREQ=WEEKLY", at=_in(1))
    found = _occurrences(desk, weekly)
    assert len(found) in (4, 5)
    assert all(o.scheduled_at and o.scheduled_at < utcnow() + recurrence.HORIZON for o in found)

    hourly = _create(desk, channel.id, rule="FREQ=DAILY;BYHOUR=8,10,12,14,16,18", at=_in(1, 8))
    assert len(_occurrences(desk, hourly)) == recurrence.MAX_AHEAD

    # Nothing is planned for a series that starts after the horizon ...
    later = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(60))
    assert _occurrences(desk, later) == []
    # ... until its time comes closer.
    assert len(_materialise(desk, later, now=_in(45))) >= 14


@pytest.mark.parametrize(
    ("rule", "start_weekday", "children"),
    [
        ("FREQ=DAILY;COUNT=3", None, 2),  # the first post is the first of the three
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=3", 0, 2),
        ("FREQ=WEEKLY;BYDAY=MO;COUNT=3", 1, 2),  # starts on a Tuesday: still three in all
        ("FREQ=DAILY;UNTIL={until}", None, 3),
    ],
)
def test_count_and_until_include_the_first_post(
    desk: Desk, rule: str, start_weekday: int | None, children: int
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    start = _in(2)
    if start_weekday is not None:
        local = to_local(start, PARIS)
        start = _in(2 + (start_weekday - local.weekday()) % 7)
    until = to_local(start + dt.timedelta(days=3), PARIS).strftime("%Y%m%dT%H%M%S")
    parent = _create(desk, channel.id, rule=rule.format(until=until), at=start)
    assert len(_occurrences(desk, parent)) == children


def test_planning_again_creates_nothing_twice(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    planned = len(_occurrences(desk, parent))
    assert planned >= 28
    publish_jobs = _count(desk, Job, Job.kind == "publish.delivery")

    # Through the worker, as the periodic job runs in production ...
    ensure_periodic_jobs(desk.db, {recurrence.RECURRENCE_KIND: recurrence.RECURRENCE_INTERVAL})
    desk.run_worker()
    # ... and again, directly.
    recurrence.materialise_recurrences(_job_context(desk))
    recurrence.materialise_recurrences(_job_context(desk))
    assert _materialise(desk, parent, now=utcnow()) == []

    assert len(_occurrences(desk, parent)) == planned
    assert _count(desk, Job, Job.kind == "publish.delivery") == publish_jobs
    with desk.db.transaction() as session:
        states = session.scalars(
            select(Job.state).where(Job.kind == recurrence.RECURRENCE_KIND)
        ).all()
        assert "done" in states
        assert "queued" in states  # the job schedules its own next run


def test_planning_tops_a_series_up_after_the_horizon_moves(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    found = _occurrences(desk, parent)
    last = found[-1].scheduled_at
    assert last is not None
    added = _materialise(desk, parent, now=utcnow() + dt.timedelta(days=3))
    assert [to_local(o.scheduled_at, PARIS) for o in added if o.scheduled_at] == [
        to_local(last, PARIS) + dt.timedelta(days=n) for n in (1, 2, 3)
    ]
    assert len(_occurrences(desk, parent)) == len(found) + 3


def test_two_workers_planning_at_once_create_each_occurrence_once(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parents = [
        _create(desk, channel.id, rule=rule, at=_in(1, 9 + n))
        for n, rule in enumerate(["FREQ=DAILY", "FREQ=DAILY;BYHOUR=7,19", "FREQ=WEEKLY"])
    ]
    expected = [len(_occurrences(desk, p)) for p in parents]
    with desk.db.transaction() as session:  # as if they had not been planned yet
        session.execute(delete(Post).where(Post.recurrence_parent_id.in_([p.id for p in parents])))
    assert [len(_occurrences(desk, p)) for p in parents] == [0, 0, 0]

    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def plan() -> None:
        barrier.wait()
        try:
            recurrence.materialise_recurrences(_job_context(desk))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=plan) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for parent, count in zip(parents, expected, strict=True):
        found = _occurrences(desk, parent)
        assert len(found) == count
        assert len({o.scheduled_at for o in found}) == count


def test_a_series_whose_rule_cannot_be_planned_does_not_stop_the_others(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    broken = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    healthy = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1, 10))
    with desk.db.transaction() as session:
        session.execute(delete(Post).where(Post.recurrence_parent_id.is_not(None)))
        session.execute(
            update(Post).where(Post.id == broken.id).values(recurrence_rule="FREQ=SOMETIMES")
        )
    recurrence.materialise_recurrences(_job_context(desk))
    assert _occurrences(desk, broken) == []
    assert len(_occurrences(desk, healthy)) >= 28


# --------------------------------------------------------------------------- bad rules


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "at most daily"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("every monday", "NAME=VALUE"),
        ("FREQ=DAILY;COUNT=1", "no date after"),
        ("FREQ=DAILY;UNTIL=20000101", "no date after"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no date after"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20990101", "not both"),
        ("DTSTART:20270101T090000\nRRULE:FREQ=DAILY", "one RRULE line"),
        ("FREQ=DAILY;" + "BYHOUR=9;" * 60, "longer than 500"),
    ],
)
def test_a_bad_rule_is_refused_and_nothing_is_saved(desk: Desk, rule: str, message: str) -> None:
    channel, _ = desk.connect_mastodon("alice")
    with pytest.raises(ValidationError, match=message) as caught:
        _create(desk, channel.id, rule=rule, at=_in(2))
    assert caught.value.field == "recurrence"
    assert _count(desk, Post) == 0
    assert _count(desk, Delivery) == 0
    assert _count(desk, Job, Job.kind == "publish.delivery") == 0
    assert _count(desk, AuditEvent, AuditEvent.action.like("post.%")) == 0


def test_a_series_cannot_start_in_the_queue(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    with pytest.raises(ValidationError, match="needs a start time") as caught:
        _create(desk, channel.id, rule="FREQ=DAILY", when="queue")
    assert caught.value.field == "recurrence"
    assert _count(desk, Post) == 0


def test_a_draft_series_plans_nothing_until_it_is_scheduled(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="rrule:freq=weekly;byday=mo", when="draft")
    assert _get(desk, parent.id).recurrence_rule == "FREQ=WEEKLY;BYDAY=MO"
    recurrence.materialise_recurrences(_job_context(desk))
    assert _occurrences(desk, parent) == []
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        posts.reschedule_post(
            session, access=desk.access, actor=CLI, post=stored, at=_in(1), timezone=PARIS
        )
    assert len(_occurrences(desk, parent)) in (4, 5)


# --------------------------------------------------------------------------- changes


def test_cancelling_the_first_post_ends_the_series(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    assert _occurrences(desk, parent)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        posts.cancel_post(session, access=desk.access, actor=CLI, post=stored)

    stored = _get(desk, parent.id)
    assert stored.status == "cancelled"
    assert stored.recurrence_rule is None
    assert _occurrences(desk, parent) == []
    recurrence.materialise_recurrences(_job_context(desk))
    assert _occurrences(desk, parent) == []
    with desk.db.transaction() as session:
        states = set(session.scalars(select(Job.state).where(Job.kind == "publish.delivery")))
        assert states == {"cancelled"}
    with desk.db.transaction() as session:
        session.execute(update(Job).values(due_at=utcnow()))
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0


def test_cancelling_a_published_first_post_stops_what_is_still_to_come(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", when="now")
    desk.run_worker()
    found = _occurrences(desk, parent)
    # One occurrence was cancelled on its own before; it stays as it is.
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        own = posts.get_post(session, post_id=found[3].id)
        posts.cancel_post(session, access=desk.access, actor=CLI, post=own)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        posts.cancel_post(session, access=desk.access, actor=CLI, post=stored)

    stored = _get(desk, parent.id)
    assert stored.status == "published"
    assert stored.recurrence_rule is None
    assert [o.id for o in _occurrences(desk, parent)] == [found[3].id]
    recurrence.materialise_recurrences(_job_context(desk))
    assert len(_occurrences(desk, parent)) == 1
    assert desk.fake.count_statuses(account) == 1


def test_cancelling_a_series_while_its_first_post_goes_out_is_refused(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    planned = len(_occurrences(desk, parent))
    with desk.db.transaction() as session:
        session.execute(
            update(Delivery).where(Delivery.post_id == parent.id).values(state="publishing")
        )
    with (
        pytest.raises(Conflict, match="being published"),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        stored = posts.get_post(session, post_id=parent.id)
        posts.cancel_post(session, access=desk.access, actor=CLI, post=stored)
    assert _get(desk, parent.id).recurrence_rule == "FREQ=DAILY"
    assert len(_occurrences(desk, parent)) == planned


def _change_rule(desk: Desk, parent: Post, rule: str | None, access: Access | None = None) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        recurrence.change_rule(
            session, access=access or desk.access, actor=CLI, parent=stored, rule=rule
        )


def test_changing_the_rule_replans_what_has_not_gone_out(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", when="now")
    desk.run_worker()
    daily = _occurrences(desk, parent)
    # The first occurrence is out already.
    with desk.db.transaction() as session:
        session.execute(
            update(Job).where(Job.id == daily[0].deliveries[0].job_id).values(due_at=utcnow())
        )
    desk.run_worker()
    assert _get(desk, daily[0].id).status == "published"

    _change_rule(desk, parent, "FREQ=WEEKLY")
    found = _occurrences(desk, parent)
    assert found[0].id == daily[0].id  # published: kept
    weekly = found[1:]
    start = _get(desk, parent.id).scheduled_at
    assert start is not None
    first = to_local(start, PARIS).replace(microsecond=0)
    assert [to_local(o.scheduled_at, PARIS) for o in weekly if o.scheduled_at] == [
        first + dt.timedelta(weeks=n) for n in range(1, len(weekly) + 1)
    ]
    assert 4 <= len(weekly) <= 5
    # The week-later occurrence was already planned under the daily rule: kept, not recreated.
    assert weekly[0].id == daily[6].id
    # Nothing of the daily plan is left to go out.
    with desk.db.transaction() as session:
        live = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == "publish.delivery", Job.state == "queued")
        )
        assert live == len(weekly)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "post.recurrence_change")
        ).all()
        assert event.details["from"] == "FREQ=DAILY"
        assert event.details["to"] == "FREQ=WEEKLY"
    assert desk.fake.count_statuses(account) == 2

    # No rule any more: nothing more is to come.
    _change_rule(desk, parent, None)
    assert [o.id for o in _occurrences(desk, parent)] == [daily[0].id]


def test_a_bad_new_rule_changes_nothing(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    before = [o.id for o in _occurrences(desk, parent)]
    with pytest.raises(ValidationError, match="at most daily"):
        _change_rule(desk, parent, "FREQ=MINUTELY")
    marketer = Access(workspace=desk.access.workspace, user=desk.access.user, role=Role.MARKETER)
    with pytest.raises(PermissionDenied):
        _change_rule(desk, parent, "FREQ=WEEKLY", access=marketer)
    assert _get(desk, parent.id).recurrence_rule == "FREQ=DAILY"
    assert [o.id for o in _occurrences(desk, parent)] == before
    with pytest.raises(Conflict, match="one occurrence"):
        _change_rule(desk, _occurrences(desk, parent)[0], "FREQ=WEEKLY")


def test_rescheduling_the_first_post_moves_the_series(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", at=_in(1))
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        posts.reschedule_post(
            session, access=desk.access, actor=CLI, post=stored, at=_in(1, 17, 30), timezone=PARIS
        )
    found = _occurrences(desk, parent)
    assert len(found) >= 28
    assert {to_local(o.scheduled_at, PARIS).time() for o in found if o.scheduled_at} == {
        dt.time(17, 30)
    }
    with desk.db.transaction() as session:
        queued = session.scalars(
            select(Job.due_at).where(Job.kind == "publish.delivery", Job.state == "queued")
        ).all()
        assert {to_local(due, PARIS).time() for due in queued} == {dt.time(17, 30)}


def test_new_content_on_the_first_post_is_carried_to_what_is_still_to_come(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    parent = _create(desk, channel.id, rule="FREQ=DAILY", when="now")
    desk.run_worker()
    before = _occurrences(desk, parent)
    # The first occurrence is due: it goes out as it was planned.
    with desk.db.transaction() as session:
        session.execute(
            update(Job).where(Job.id == before[0].deliveries[0].job_id).values(due_at=utcnow())
        )
        session.execute(update(Post).where(Post.id == before[0].id).values(scheduled_at=utcnow()))
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=parent.id)
        stored.text = stored.deliveries[0].text = "Good evening"  # as an edit would
        removed, created = recurrence.replan(
            session, parent=stored, actor=CLI, content_changed=True
        )
    assert removed == created == len(before) - 1

    after = _occurrences(desk, parent)
    assert [o.id for o in after][:1] == [before[0].id]
    assert [o.scheduled_at for o in after[1:]] == [o.scheduled_at for o in before[1:]]
    assert [d.text for o in after[1:] for d in o.deliveries] == ["Good evening"] * len(after[1:])
    assert after[0].deliveries[0].text == "Good morning"
    # Made again from the same plan: the same keys, so still each occurrence once.
    assert {d.idempotency_key for o in after for d in o.deliveries} == {
        d.idempotency_key for o in before for d in o.deliveries
    }
    with desk.db.transaction() as session:
        queued = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.kind == "publish.delivery", Job.state == "queued")
        )
        assert queued == len(after)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 2


# --------------------------------------------------------------------------- the API


def test_the_api_takes_and_shows_a_repeat_rule(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    from fastapi.testclient import TestClient

    from socialdesk.config import load_settings
    from socialdesk.web.app import create_app
    from tests.fakes.mastodon import MastodonFake
    from tests.web.api.helpers import make_person

    settings = load_settings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key="s" * 48
    )
    fake = MastodonFake()
    ana = make_person(db, "ana@example.com", "Acme")
    base = f"/api/v1/workspaces/{ana.workspace.id}"
    with TestClient(create_app(settings, db=db), base_url="http://127.0.0.1:8000") as client:
        network = NetworkRuntime(transport_factory=fake.transport)
        client.app.state.network = network  # type: ignore[attr-defined]
        try:
            _account, token = fake.create_account("alice")
            channel = client.post(
                f"{base}/channels",
                json={"network": "mastodon", "base_url": fake.base_url, "secret": token},
                headers=ana.bearer,
            ).json()
            start = _in(2)
            body = {
                "text": "Weekly menu",
                "channels": [{"channel_id": channel["id"]}],
                "when": "at",
                "at": to_local(start, PARIS).isoformat(),
                "timezone": PARIS,
            }
            refused = client.post(
                f"{base}/posts", json={**body, "recurrence": "FREQ=HOURLY"}, headers=ana.bearer
            )
            assert refused.status_code == 422, refused.text
            assert "at most daily" in refused.text
            assert client.get(f"{base}/posts", headers=ana.bearer).json() == []

            created = client.post(
                f"{base}/posts",
                json={**body, "recurrence": "RRULE:FREQ=WEEKLY"},
                headers=ana.bearer,
            )
            assert created.status_code == 201, created.text
            parent = created.json()
            assert parent["recurrence"] == "FREQ=WEEKLY"
            assert parent["recurrence_parent_id"] is None
            assert dt.datetime.fromisoformat(parent["scheduled_at"]) == start
            listed = client.get(f"{base}/posts", headers=ana.bearer).json()
            children = [p for p in listed if p["recurrence_parent_id"] == parent["id"]]
            assert 3 <= len(children) <= 5
            assert all(p["recurrence"] is None for p in children)
        finally:
            network.close()
