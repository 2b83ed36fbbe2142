# SPDX-License-Identifier: AGPL-3.0-or-later
"""Posts in the domain: create, tailor, duplicate, reschedule, cancel, retry, who may."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select, update

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, PermissionDenied, ValidationError
from socialdesk.media.library import store_file
from socialdesk.publishing import posts, queue
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft
from socialdesk.publishing.scheduling import parse_instant, to_local, to_utc
from socialdesk.storage.tables import AuditEvent, Channel, Delivery, Job, Post
from socialdesk.storage.types import utcnow
from tests.media.builders import encode, noise, write
from tests.publishing.conftest import Desk

CLI = Actor.cli()
PARIS = "Europe/Paris"


# --------------------------------------------------------------------------- helpers


def _create(
    desk: Desk,
    *channel_ids: uuid.UUID,
    text: str = "Hello from socialdesk",
    when: str = "now",
    at: dt.datetime | None = None,
    contents: Sequence[ChannelContent] | None = None,
    access: Access | None = None,
    **kw: Any,
) -> Post:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        post = posts.create_post(
            session,
            settings=desk.settings,
            access=access or desk.access,
            actor=CLI,
            draft=PostDraft(
                text=text,
                channels=contents or [ChannelContent(channel_id=c) for c in channel_ids],
                when=when,  # type: ignore[arg-type]
                at=at,
                timezone=kw.pop("timezone", PARIS),
                **kw,
            ),
        )
        return post


def _get(desk: Desk, post_id: uuid.UUID) -> Post:
    with desk.db.transaction() as session:
        return posts.get_post(session, post_id=post_id)


def _jobs(desk: Desk, post: Post) -> list[Job]:
    with desk.db.transaction() as session:
        ids = [d.job_id for d in posts.get_post(session, post_id=post.id).deliveries if d.job_id]
        return list(session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)))


def _count(desk: Desk, model: type[Any], *where: Any) -> int:
    with desk.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _events(desk: Desk, action: str) -> int:
    return _count(desk, AuditEvent, AuditEvent.action == action)


def _nothing_saved(desk: Desk) -> None:
    assert _count(desk, Post) == 0
    assert _count(desk, Delivery) == 0
    assert _count(desk, Job, Job.kind == "publish.delivery") == 0
    assert _count(desk, AuditEvent, AuditEvent.action.like("post.%")) == 0


def _member(desk: Desk, role: Role) -> Access:
    with desk.db.transaction() as session:
        user = users.create_user(
            session,
            email=f"{role.value}@example.com",
            password="correct horse battery",
            actor=CLI,
        )
        members.add_user(
            session, workspace_id=desk.access.workspace.id, user=user, role=role, actor=CLI
        )
        return workspaces.access_for(session, user=user, workspace_id=desk.access.workspace.id)


def _local_day(days: int) -> dt.date:
    return (utcnow() + dt.timedelta(days=days)).astimezone(ZoneInfo(PARIS)).date()


@pytest.fixture
def alice(desk: Desk) -> Channel:
    channel, _ = desk.connect_mastodon("alice")
    return channel


# --------------------------------------------------------------------------- create


def test_a_draft_is_saved_without_a_time_or_a_job(desk: Desk, alice: Channel) -> None:
    post = _create(desk, alice.id, when="draft")
    stored = _get(desk, post.id)
    assert stored.status == "draft"
    assert stored.scheduled_at is None
    [delivery] = stored.deliveries
    assert delivery.job_id is None
    assert delivery.due_at is None
    assert _count(desk, Job, Job.kind == "publish.delivery") == 0
    assert _events(desk, "post.create") == 1
    desk.run_worker()
    assert _get(desk, post.id).status == "draft"


def test_now_is_queued_at_once(desk: Desk, alice: Channel) -> None:
    before = utcnow()
    post = _create(desk, alice.id, when="now")
    stored = _get(desk, post.id)
    assert stored.status == "scheduled"
    assert stored.scheduled_at is not None
    assert before <= stored.scheduled_at <= utcnow()
    [job] = _jobs(desk, post)
    assert job.state == "queued"
    assert job.due_at == stored.scheduled_at
    assert _events(desk, "post.schedule") == 1


def test_at_a_local_time_is_stored_as_its_utc_instant(desk: Desk, alice: Channel) -> None:
    day = _local_day(10)
    typed = f"{day.isoformat()}T09:00"
    at = parse_instant(typed, PARIS)
    post = _create(desk, alice.id, when="at", at=at)
    stored = _get(desk, post.id)
    assert stored.scheduled_at == to_utc(dt.datetime.combine(day, dt.time(9)), PARIS)
    assert stored.scheduled_at.tzinfo == dt.UTC
    assert to_local(stored.scheduled_at, PARIS) == dt.datetime.combine(day, dt.time(9))
    assert stored.timezone == PARIS
    [job] = _jobs(desk, post)
    assert job.due_at == stored.scheduled_at


@pytest.mark.parametrize(
    ("ago", "accepted"),
    [(dt.timedelta(minutes=1), True), (dt.timedelta(minutes=10), False)],
    ids=["a-minute-ago-is-now", "ten-minutes-ago-is-refused"],
)
def test_a_time_just_past_means_now_and_an_older_one_is_refused(
    desk: Desk, alice: Channel, ago: dt.timedelta, accepted: bool
) -> None:
    at = utcnow() - ago
    if not accepted:
        with pytest.raises(ValidationError, match="in the past") as caught:
            _create(desk, alice.id, when="at", at=at)
        assert caught.value.field == "at"
        _nothing_saved(desk)
        return
    post = _create(desk, alice.id, when="at", at=at)
    stored = _get(desk, post.id)
    assert stored.scheduled_at is not None
    assert stored.scheduled_at > at  # sent now, not "in the past"


def test_at_without_a_time_is_refused(desk: Desk, alice: Channel) -> None:
    with pytest.raises(ValidationError, match="give the time") as caught:
        _create(desk, alice.id, when="at")
    assert caught.value.field == "at"
    _nothing_saved(desk)


def test_the_queue_takes_each_channels_next_free_slot_across_dst(desk: Desk) -> None:
    """Paris springs forward on Sunday 28 March 2027: 09:00 is 08:00 UTC, then 07:00."""
    alice, _ = desk.connect_mastodon("alice")
    bob, _ = desk.connect_mastodon("bob")
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        for channel in (alice, bob):
            stored = session.get_one(Channel, channel.id)
            assert stored.timezone == PARIS  # the workspace's
            queue.set_slots(
                session, channel=stored, slots=[("sat", "09:00"), ("mon", "09:00")], actor=CLI
            )

    utc = dt.UTC
    with time_machine.travel(dt.datetime(2027, 3, 25, 12, 0, tzinfo=utc), tick=True):
        first = _create(desk, alice.id, when="queue")
        second = _create(desk, alice.id, when="queue")
        # A post placed by hand on the next free slot: the queue passes it by.
        at_hand = _create(desk, alice.id, when="at", at=dt.datetime(2027, 4, 3, 7, 0, tzinfo=utc))
        third = _create(desk, alice.id, when="queue")
        both = _create(desk, alice.id, bob.id, when="queue")

    def due(post: Post) -> dict[uuid.UUID, dt.datetime | None]:
        return {d.channel_id: d.due_at for d in _get(desk, post.id).deliveries}

    assert due(first) == {alice.id: dt.datetime(2027, 3, 27, 8, 0, tzinfo=utc)}  # Sat, CET
    assert due(second) == {alice.id: dt.datetime(2027, 3, 29, 7, 0, tzinfo=utc)}  # Mon, CEST
    assert due(at_hand) == {alice.id: dt.datetime(2027, 4, 3, 7, 0, tzinfo=utc)}
    assert due(third) == {alice.id: dt.datetime(2027, 4, 5, 7, 0, tzinfo=utc)}
    # Each channel its own next slot; the post is scheduled at the earliest.
    assert due(both) == {
        alice.id: dt.datetime(2027, 4, 10, 7, 0, tzinfo=utc),
        bob.id: dt.datetime(2027, 3, 27, 8, 0, tzinfo=utc),
    }
    assert _get(desk, both.id).scheduled_at == dt.datetime(2027, 3, 27, 8, 0, tzinfo=utc)
    for post in (first, second, third, both):
        assert {to_local(j.due_at, PARIS).time() for j in _jobs(desk, post)} == {dt.time(9)}


def test_the_queue_needs_slots(desk: Desk, alice: Channel) -> None:
    with pytest.raises(ValidationError, match="no queue slots") as caught:
        _create(desk, alice.id, when="queue")
    assert caught.value.field == "when"
    _nothing_saved(desk)


def test_each_channel_can_have_its_own_text(desk: Desk, alice: Channel) -> None:
    bob, _ = desk.connect_mastodon("bob")
    post = _create(
        desk,
        contents=[
            ChannelContent(channel_id=alice.id),
            ChannelContent(
                channel_id=bob.id, text="Bob's own words", options={"visibility": "unlisted"}
            ),
        ],
        options={"language": "en"},
    )
    texts = {d.channel_id: (d.text, d.options) for d in _get(desk, post.id).deliveries}
    assert texts == {
        alice.id: ("Hello from socialdesk", {"language": "en"}),
        bob.id: ("Bob's own words", {"language": "en", "visibility": "unlisted"}),
    }
    desk.run_worker()
    published = {s.text for s in desk.fake.statuses.values()}
    assert published == {"Hello from socialdesk", "Bob's own words"}


def test_an_override_too_long_for_its_channel_is_refused_by_name(
    desk: Desk, alice: Channel
) -> None:
    bob, _ = desk.connect_mastodon("bob")
    with pytest.raises(ValidationError, match=f"mastodon {bob.handle}") as caught:
        _create(
            desk,
            contents=[
                ChannelContent(channel_id=alice.id),
                ChannelContent(channel_id=bob.id, text="x" * 501),
            ],
        )
    assert f"mastodon {alice.handle}" not in caught.value.message
    _nothing_saved(desk)


def test_a_channel_twice_or_none_is_refused(desk: Desk, alice: Channel) -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        _create(desk, alice.id, alice.id)
    with pytest.raises(ValidationError, match="at least one channel"):
        _create(desk)
    _nothing_saved(desk)


# --------------------------------------------------------------------------- labels


def test_labels_are_cleaned_and_limited(desk: Desk, alice: Channel) -> None:
    twenty = [f"label {n:02d}" for n in range(20)]
    post = _create(desk, alice.id, when="draft", labels=[*reversed(twenty), " label 03 ", "  "])
    assert _get(desk, post.id).labels == twenty
    longest = _create(desk, alice.id, when="draft", labels=["x" * 50])
    assert _get(desk, longest.id).labels == ["x" * 50]
    count = _count(desk, Post)

    for labels, message in [
        ([*twenty, "one more"], "at most 20 labels"),
        (["x" * 51], "longer than 50"),
    ]:
        with pytest.raises(ValidationError, match=message) as caught:
            _create(desk, alice.id, when="draft", labels=labels)
        assert caught.value.field == "labels"
    assert _count(desk, Post) == count


# --------------------------------------------------------------------------- duplicate


def test_a_duplicate_is_a_new_draft_with_fresh_keys(
    desk: Desk, alice: Channel, tmp_path: Path
) -> None:
    bob, _ = desk.connect_mastodon("bob")
    image = write(tmp_path, "cup.png", encode(noise(32, 32), "PNG"))
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        asset_id = store_file(
            session,
            settings=desk.settings,
            workspace_id=desk.access.workspace.id,
            source=image,
            filename="cup.png",
            actor=CLI,
        ).id
    source = _create(
        desk,
        when="at",
        at=utcnow() + dt.timedelta(days=1),
        contents=[
            ChannelContent(channel_id=alice.id),
            ChannelContent(channel_id=bob.id, text="Bonjour", options={"visibility": "unlisted"}),
        ],
        media=[MediaRef(asset_id=asset_id, alt_text="A cup")],
        labels=["launch"],
    )
    jobs_before = _count(desk, Job)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        copy = posts.duplicate_post(
            session,
            access=desk.access,
            actor=CLI,
            post=posts.get_post(session, post_id=source.id),
        )
        copy_id = copy.id

    original, twin = _get(desk, source.id), _get(desk, copy_id)
    assert twin.id != original.id
    assert twin.status == "draft"
    assert twin.scheduled_at is None
    assert (twin.text, twin.labels, twin.timezone) == (original.text, original.labels, PARIS)

    def content(post: Post) -> set[tuple[Any, ...]]:
        return {
            (
                d.channel_id,
                d.text,
                tuple(sorted(d.options.items())),
                tuple((m.asset_id, m.position, m.alt_text) for m in d.media),
            )
            for d in post.deliveries
        }

    assert content(twin) == content(original)
    keys = [d.idempotency_key for d in (*original.deliveries, *twin.deliveries)]
    assert len(set(keys)) == 4
    assert all(d.job_id is None and d.state == "pending" for d in twin.deliveries)
    assert _count(desk, Job) == jobs_before
    assert original.status == "scheduled"
    assert _events(desk, "post.duplicate") == 1


# --------------------------------------------------------------------------- change of mind


def test_cancelling_while_a_copy_is_going_out_is_refused(desk: Desk, alice: Channel) -> None:
    bob, _ = desk.connect_mastodon("bob")
    post = _create(desk, alice.id, bob.id, when="at", at=utcnow() + dt.timedelta(hours=1))
    with desk.db.transaction() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.post_id == post.id, Delivery.channel_id == alice.id)
            .values(state="publishing")
        )
    with (
        pytest.raises(Conflict, match="being published right now"),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.cancel_post(
            session, access=desk.access, actor=CLI, post=posts.get_post(session, post_id=post.id)
        )
    stored = _get(desk, post.id)
    assert stored.status == "scheduled"
    assert {d.channel_id: d.state for d in stored.deliveries} == {
        alice.id: "publishing",
        bob.id: "pending",
    }
    assert {j.state for j in _jobs(desk, post)} == {"queued"}
    assert _events(desk, "post.cancel") == 0


def test_cancel_stops_what_has_not_gone_out(desk: Desk, alice: Channel) -> None:
    post = _create(desk, alice.id, when="at", at=utcnow() + dt.timedelta(hours=1))
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        posts.cancel_post(
            session, access=desk.access, actor=CLI, post=posts.get_post(session, post_id=post.id)
        )
    stored = _get(desk, post.id)
    assert stored.status == "cancelled"
    assert [d.state for d in stored.deliveries] == ["cancelled"]
    with desk.db.transaction() as session:
        assert set(session.scalars(select(Job.state))) >= {"cancelled"}
    with (
        pytest.raises(Conflict, match="already cancelled"),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.cancel_post(
            session, access=desk.access, actor=CLI, post=posts.get_post(session, post_id=post.id)
        )


def test_rescheduling_into_the_past_is_refused_and_changes_nothing(
    desk: Desk, alice: Channel
) -> None:
    at = utcnow() + dt.timedelta(hours=2)
    post = _create(desk, alice.id, when="at", at=at)
    [job] = _jobs(desk, post)
    with (
        pytest.raises(ValidationError, match="in the past") as caught,
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.reschedule_post(
            session,
            access=desk.access,
            actor=CLI,
            post=posts.get_post(session, post_id=post.id),
            at=utcnow() - dt.timedelta(hours=1),
            timezone="America/New_York",
        )
    assert caught.value.field == "at"
    stored = _get(desk, post.id)
    assert stored.scheduled_at == at
    assert stored.timezone == PARIS
    assert [d.due_at for d in stored.deliveries] == [at]
    assert [(j.id, j.due_at, j.state) for j in _jobs(desk, post)] == [(job.id, at, "queued")]
    assert _events(desk, "post.reschedule") == 0


def test_rescheduling_moves_the_same_job(desk: Desk, alice: Channel) -> None:
    post = _create(desk, alice.id, when="at", at=utcnow() + dt.timedelta(hours=2))
    [job] = _jobs(desk, post)
    later = utcnow() + dt.timedelta(days=3)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        posts.reschedule_post(
            session,
            access=desk.access,
            actor=CLI,
            post=posts.get_post(session, post_id=post.id),
            at=later,
            timezone=PARIS,
        )
    assert [(j.id, j.due_at) for j in _jobs(desk, post)] == [(job.id, later)]
    assert _count(desk, Job, Job.kind == "publish.delivery") == 1
    assert _events(desk, "post.reschedule") == 1


# --------------------------------------------------------------------------- who may


def test_an_analyst_cannot_create_even_a_draft(desk: Desk, alice: Channel) -> None:
    analyst = _member(desk, Role.ANALYST)
    for when in ("draft", "now"):
        with pytest.raises(PermissionDenied):
            _create(desk, alice.id, when=when, access=analyst)
    _nothing_saved(desk)


@pytest.mark.parametrize("when", ["now", "at", "queue"])
def test_a_marketer_writes_drafts_but_does_not_schedule(
    desk: Desk, alice: Channel, when: str
) -> None:
    marketer = _member(desk, Role.MARKETER)
    at = utcnow() + dt.timedelta(hours=1) if when == "at" else None
    with pytest.raises(PermissionDenied, match=r"posts\.publish"):
        _create(desk, alice.id, when=when, at=at, access=marketer)
    _nothing_saved(desk)

    draft = _create(desk, alice.id, when="draft", access=marketer)
    assert _get(desk, draft.id).status == "draft"
    with (
        pytest.raises(PermissionDenied),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.reschedule_post(
            session,
            access=marketer,
            actor=CLI,
            post=posts.get_post(session, post_id=draft.id),
            at=utcnow() + dt.timedelta(hours=1),
            timezone=PARIS,
        )
    assert _get(desk, draft.id).status == "draft"
    assert _count(desk, Job, Job.kind == "publish.delivery") == 0


def test_a_manager_schedules_and_an_approver_cannot_write(desk: Desk, alice: Channel) -> None:
    manager = _member(desk, Role.MANAGER)
    post = _create(desk, alice.id, when="now", access=manager)
    assert _get(desk, post.id).author_id == manager.user.id
    approver = _member(desk, Role.APPROVER)
    with pytest.raises(PermissionDenied):
        _create(desk, alice.id, when="draft", access=approver)
    assert _count(desk, Post) == 1


# --------------------------------------------------------------------------- partial failure


def test_retrying_the_failed_channel_leaves_the_published_one_alone(desk: Desk) -> None:
    alice, alice_account = desk.connect_mastodon("alice")
    bob, bob_account = desk.connect_mastodon("bob")
    bob_token = next(t for t, v in desk.fake.tokens.items() if v.account_id == bob_account)
    desk.fake.tokens[bob_token].scopes = frozenset({"read"})  # bob's token cannot write
    post = _create(desk, alice.id, bob.id)
    desk.run_worker()
    stored = _get(desk, post.id)
    assert stored.status == "partly_failed"
    by_channel = {d.channel_id: d for d in stored.deliveries}
    assert by_channel[alice.id].state == "published"
    failed = by_channel[bob.id]
    assert failed.state == "failed"
    assert failed.last_error

    # Only a failed delivery can be retried, and only by someone who may publish.
    with (
        pytest.raises(Conflict, match="only failed"),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.retry_delivery(
            session,
            access=desk.access,
            actor=CLI,
            delivery=posts.get_delivery(session, delivery_id=by_channel[alice.id].id),
        )
    marketer = _member(desk, Role.MARKETER)
    with (
        pytest.raises(PermissionDenied),
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
    ):
        posts.retry_delivery(
            session,
            access=marketer,
            actor=CLI,
            delivery=posts.get_delivery(session, delivery_id=failed.id),
        )

    desk.fake.tokens[bob_token].scopes = frozenset({"read", "write"})  # fixed on the instance
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        retried = posts.retry_delivery(
            session,
            access=desk.access,
            actor=CLI,
            delivery=posts.get_delivery(session, delivery_id=failed.id),
        )
        assert retried.state == "pending"
        assert retried.last_error is None
        assert retried.post.status == "publishing"
    desk.run_worker()

    stored = _get(desk, post.id)
    assert stored.status == "published"
    assert {d.state for d in stored.deliveries} == {"published"}
    assert desk.fake.count_statuses(alice_account) == 1
    assert desk.fake.count_statuses(bob_account) == 1
    assert _events(desk, "delivery.retry") == 1


# --------------------------------------------------------------------------- revise (edit)


def _revise(desk: Desk, post: Post, draft: PostDraft, access: Access | None = None) -> Post:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        return posts.revise_post(
            session,
            settings=desk.settings,
            access=access or desk.access,
            actor=CLI,
            post=posts.get_post(session, post_id=post.id),
            draft=draft,
        )


def test_revising_replaces_text_channels_and_time_in_place(desk: Desk, alice: Channel) -> None:
    bob, _ = desk.connect_mastodon("bob")
    start = utcnow() + dt.timedelta(days=2)
    post = _create(desk, alice.id, when="at", at=start, text="First words")
    [old_job] = _jobs(desk, post)
    later = start + dt.timedelta(days=1)
    _revise(
        desk,
        post,
        PostDraft(
            text="Better words",
            channels=[
                ChannelContent(channel_id=alice.id),
                ChannelContent(channel_id=bob.id, text="Bob's own words"),
            ],
            when="at",
            at=later,
            timezone=PARIS,
        ),
    )
    stored = _get(desk, post.id)
    assert stored.id == post.id
    assert stored.status == "scheduled"
    assert stored.text == "Better words"
    assert stored.scheduled_at is not None
    assert abs(stored.scheduled_at - later) < dt.timedelta(seconds=1)
    assert {d.channel_id: d.text for d in stored.deliveries} == {
        alice.id: "Better words",
        bob.id: "Bob's own words",
    }
    jobs_now = _jobs(desk, stored)
    assert len(jobs_now) == 2
    assert old_job.id not in {j.id for j in jobs_now}
    with desk.db.transaction() as session:
        assert session.get_one(Job, old_job.id).state != "pending"
    assert _events(desk, "post.revise") == 1
    desk.run_worker()  # not due yet: nothing goes out, the old job publishes nothing
    assert desk.fake.count_statuses(alice.external_id) == 0
    assert desk.fake.count_statuses(bob.external_id) == 0


def test_a_revision_that_breaks_a_rule_changes_nothing(desk: Desk, alice: Channel) -> None:
    post = _create(desk, alice.id, when="at", at=utcnow() + dt.timedelta(days=1), text="ok")
    before = [(d.id, d.text, d.job_id) for d in _get(desk, post.id).deliveries]
    with pytest.raises(ValidationError) as refused:
        _revise(
            desk,
            post,
            PostDraft(text="x" * 600, channels=[ChannelContent(channel_id=alice.id)], when="now"),
        )
    assert "500" in refused.value.message or "long" in refused.value.message
    after = [(d.id, d.text, d.job_id) for d in _get(desk, post.id).deliveries]
    assert after == before
    assert _events(desk, "post.revise") == 0


def test_a_post_that_went_out_cannot_be_revised(desk: Desk, alice: Channel) -> None:
    post = _create(desk, alice.id, when="now")
    desk.run_worker()
    assert _get(desk, post.id).status == "published"
    with pytest.raises(Conflict):
        _revise(desk, post, PostDraft(text="late", channels=[ChannelContent(channel_id=alice.id)]))


def test_revising_a_draft_into_a_schedule_needs_the_right_to_publish(
    desk: Desk, alice: Channel
) -> None:
    post = _create(desk, alice.id, when="draft", text="idea")
    marketer = _member(desk, Role.MARKETER)
    draft = PostDraft(text="idea, polished", channels=[ChannelContent(channel_id=alice.id)])
    _revise(desk, post, draft, access=marketer)  # still a draft: allowed
    assert _get(desk, post.id).text == "idea, polished"
    with pytest.raises(PermissionDenied):
        _revise(
            desk,
            post,
            PostDraft(text="go", channels=[ChannelContent(channel_id=alice.id)], when="now"),
            access=marketer,
        )
    assert _get(desk, post.id).status == "draft"
    _revise(
        desk, post, PostDraft(text="go", channels=[ChannelContent(channel_id=alice.id)], when="now")
    )
    desk.run_worker()
    assert _get(desk, post.id).status == "published"
