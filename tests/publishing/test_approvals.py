# SPDX-License-Identifier: AGPL-3.0-or-later
"""Approvals end to end in the domain: request, decide, discuss, edit, and who sees what.

Posts go out (or do not) through the real publisher against the fake Mastodon.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts import members, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, NotFound, PermissionDenied, ValidationError
from socialdesk.publishing import approvals, posts
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import (
    Approval,
    AuditEvent,
    Delivery,
    Job,
    Notification,
    Post,
    PostComment,
    User,
)
from socialdesk.storage.types import utcnow
from tests.publishing.conftest import Desk

CLI = Actor.cli()


def _member(desk: Desk, email: str, role: Role, name: str = "") -> uuid.UUID:
    """A member who never signs in here (no password hashing: tests stay fast)."""
    with desk.db.transaction() as session:
        user = User(email=email, name=name, password_hash="!")
        session.add(user)
        session.flush()
        members.add_user(
            session, workspace_id=desk.access.workspace.id, user=user, role=role, actor=CLI
        )
        return user.id


@contextmanager
def _as(desk: Desk, user_id: uuid.UUID) -> Iterator[tuple[Session, Access]]:
    """One transaction acting as a member, scoped to the desk's workspace."""
    with desk.db.transaction() as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, user_id), workspace_id=desk.access.workspace.id
        )
        scope_to_workspace(session, desk.access.workspace.id)
        yield session, access


def _actor(user_id: uuid.UUID) -> Actor:
    return Actor(label=f"user {user_id}", user_id=user_id)


def _mode(desk: Desk, mode: str, roles: tuple[str, ...] = ()) -> None:
    with _as(desk, desk.access.user.id) as (session, access):
        approvals.set_approval_mode(session, access=access, actor=CLI, mode=mode, roles=roles)


def _create(
    desk: Desk,
    user_id: uuid.UUID,
    channel_id: uuid.UUID,
    *,
    text: str = "Spring menu is here",
    when: str = "at",
    at: dt.datetime | None = None,
    recurrence: str | None = None,
) -> uuid.UUID:
    if when == "at" and at is None:
        at = utcnow() + dt.timedelta(hours=2)
    with _as(desk, user_id) as (session, access):
        post = posts.create_post(
            session,
            settings=desk.settings,
            access=access,
            actor=_actor(user_id),
            draft=PostDraft(
                text=text,
                channels=[ChannelContent(channel_id=channel_id)],
                when=when,  # type: ignore[arg-type]
                at=at,
                recurrence=recurrence,
            ),
        )
        return post.id


def _post(desk: Desk, post_id: uuid.UUID) -> Post:
    with desk.db.transaction() as session:
        post = session.get_one(Post, post_id)
        _ = list(post.deliveries)
        return post


def _jobs_of(desk: Desk, post_id: uuid.UUID) -> list[str]:
    with desk.db.transaction() as session:
        return list(
            session.scalars(
                select(Job.state)
                .join(Delivery, Delivery.job_id == Job.id)
                .where(Delivery.post_id == post_id)
            )
        )


def _approvals(desk: Desk, post_id: uuid.UUID) -> list[Approval]:
    with desk.db.transaction() as session:
        return list(
            session.scalars(
                select(Approval).where(Approval.post_id == post_id).order_by(Approval.requested_at)
            )
        )


def _inbox(desk: Desk, user_id: uuid.UUID) -> list[tuple[str, str]]:
    with desk.db.transaction() as session:
        return [
            (n.kind, n.title)
            for n in session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id)
                .order_by(Notification.created_at)
            )
        ]


def _actions(desk: Desk) -> list[str]:
    with desk.db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("post.%"))
                .order_by(AuditEvent.id)
            )
        )


def _make_due(desk: Desk) -> None:
    with desk.db.transaction() as session:
        session.execute(update(Job).where(Job.state == "queued").values(due_at=utcnow()))


@pytest.fixture
def team(desk: Desk) -> dict[str, uuid.UUID]:
    return {
        "owner": desk.access.user.id,
        "mia": _member(desk, "mia@example.com", Role.MANAGER, "Mia Chen"),
        "carl": _member(desk, "carl@client.example", Role.APPROVER, "Carl Client"),
        "cora": _member(desk, "cora@client.example", Role.APPROVER, "Cora Client"),
        "dan": _member(desk, "dan@example.com", Role.ANALYST, "Dan Data"),
    }


# -- the whole flow ------------------------------------------------------------------------


def test_a_manager_post_waits_for_approval_then_goes_out_at_its_time(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    _mode(desk, "roles", ("manager",))
    planned = utcnow() + dt.timedelta(hours=3)
    post_id = _create(desk, team["mia"], channel.id, at=planned)

    post = _post(desk, post_id)
    assert post.status == "in_review"
    [delivery] = post.deliveries
    assert delivery.state == "pending"
    assert delivery.due_at == planned
    assert delivery.job_id is None  # nothing can publish it
    [pending] = _approvals(desk, post_id)
    assert (pending.status, pending.approver_id, pending.requested_by_id) == (
        "pending",
        None,
        team["mia"],
    )
    # Everyone who may decide hears of it; the author, the analyst and the team do not.
    for who in ("owner", "carl", "cora"):
        assert _inbox(desk, team[who]) == [
            ("approval_requested", "Mia Chen scheduled a post that needs your approval")
        ]
    assert _inbox(desk, team["mia"]) == _inbox(desk, team["dan"]) == []

    _make_due(desk)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0

    with _as(desk, team["carl"]) as (session, access):
        post = approvals.get_visible_post(session, access=access, post_id=post_id)
        approvals.approve(session, access=access, actor=_actor(team["carl"]), post=post)
    post = _post(desk, post_id)
    assert post.status == "scheduled"
    assert post.scheduled_at == planned
    assert post.deliveries[0].due_at == planned
    assert _jobs_of(desk, post_id) == ["queued"]
    assert _approvals(desk, post_id)[0].decided_by_id == team["carl"]
    assert ("approved", "Carl Client approved your post") in _inbox(desk, team["mia"])

    desk.run_worker()  # not due yet
    assert desk.fake.count_statuses(account) == 0
    _make_due(desk)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 1
    assert _post(desk, post_id).status == "published"
    assert _actions(desk) == ["post.schedule", "post.approval_request", "post.approve"]


def test_send_a_draft_to_one_approver_who_approves_and_posts_now(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    post_id = _create(desk, team["mia"], channel.id, when="draft")
    with _as(desk, team["mia"]) as (session, access):
        post = posts.get_post(session, post_id=post_id)
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=_actor(team["mia"]),
            post=post,
            approver_id=team["cora"],
            note="Can this go out today?",
        )
    assert _post(desk, post_id).status == "in_review"
    assert _inbox(desk, team["cora"]) == [
        ("approval_requested", "Mia Chen asks you to approve a post")
    ]
    assert _inbox(desk, team["carl"]) == []  # sent to Cora only

    with _as(desk, team["cora"]) as (session, access):
        review = approvals.review(
            session,
            access=access,
            post=approvals.get_visible_post(session, access=access, post_id=post_id),
        )
        assert [e.kind for e in review.timeline()] == ["requested", "comment"]
        assert review.comments[0].comment.body == "Can this go out today?"
        approvals.approve(
            session,
            access=access,
            actor=_actor(team["cora"]),
            post=review.post,
            comment="Go!",
            publish_now=True,
        )
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 1
    assert _post(desk, post_id).status == "published"


def test_a_draft_approved_without_a_time_waits_to_be_scheduled(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _account = desk.connect_mastodon("alice")
    post_id = _create(desk, team["mia"], channel.id, when="draft")
    with _as(desk, team["mia"]) as (session, access):
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
        )
    with _as(desk, team["owner"]) as (session, access):
        approvals.approve(
            session, access=access, actor=CLI, post=posts.get_post(session, post_id=post_id)
        )
    assert _post(desk, post_id).status == "approved"
    assert _jobs_of(desk, post_id) == []
    at = utcnow() + dt.timedelta(hours=1)
    with _as(desk, team["mia"]) as (session, access):
        posts.reschedule_post(
            session,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
            at=at,
            timezone="UTC",
        )
    assert _post(desk, post_id).status == "scheduled"
    assert _jobs_of(desk, post_id) == ["queued"]


def test_a_planned_time_that_passed_during_review_goes_out_on_approval(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    _mode(desk, "external")
    post_id = _create(desk, team["mia"], channel.id, when="now")
    assert _post(desk, post_id).status == "in_review"
    with desk.db.transaction() as session:  # an hour in review
        session.execute(
            update(Delivery)
            .where(Delivery.post_id == post_id)
            .values(due_at=utcnow() - dt.timedelta(hours=1))
        )
    with _as(desk, team["carl"]) as (session, access):
        approvals.approve(
            session, access=access, actor=CLI, post=posts.get_post(session, post_id=post_id)
        )
    assert _post(desk, post_id).scheduled_at > utcnow() - dt.timedelta(minutes=1)  # type: ignore[operator]
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 1


# -- rejecting ---------------------------------------------------------------------------------


def test_reject_needs_a_comment_and_sends_the_post_back_to_draft(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    _mode(desk, "external")
    post_id = _create(desk, team["mia"], channel.id)
    with _as(desk, team["carl"]) as (session, access):
        post = posts.get_post(session, post_id=post_id)
        with pytest.raises(ValidationError) as refused:
            approvals.reject(session, access=access, actor=CLI, post=post, comment="   ")
        assert refused.value.field == "comment"
    assert _post(desk, post_id).status == "in_review"
    assert _approvals(desk, post_id)[0].status == "pending"

    with _as(desk, team["carl"]) as (session, access):
        approvals.reject(
            session,
            access=access,
            actor=_actor(team["carl"]),
            post=posts.get_post(session, post_id=post_id),
            comment="Say 'spring menu' with a capital S, please.",
        )
    post = _post(desk, post_id)
    assert post.status == "draft"
    [rejected] = _approvals(desk, post_id)
    assert rejected.status == "rejected"
    assert rejected.comment == "Say 'spring menu' with a capital S, please."
    assert ("rejected", "Carl Client rejected your post") in _inbox(desk, team["mia"])
    with desk.db.transaction() as session:
        body = session.scalars(
            select(Notification.body).where(
                Notification.user_id == team["mia"], Notification.kind == "rejected"
            )
        ).one()
    assert "capital S" in body
    # The author sees why in the history.
    with _as(desk, team["mia"]) as (session, access):
        review = approvals.review(
            session, access=access, post=posts.get_post(session, post_id=post_id)
        )
        assert review.last_decision is not None
        assert review.last_decision.decided_by is not None
        assert review.last_decision.decided_by.email == "carl@client.example"
        assert [e.kind for e in review.timeline()] == ["requested", "rejected"]
    _make_due(desk)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0
    assert _actions(desk)[-1] == "post.reject"


# -- nothing goes out while in review ----------------------------------------------------


def test_a_post_in_review_cannot_be_published_by_any_path(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    _mode(desk, "roles", ("manager",))
    post_id = _create(desk, team["mia"], channel.id)
    # Moving its time (even to now) keeps it in review, with no job.
    with _as(desk, team["owner"]) as (session, access):
        posts.reschedule_post(
            session,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
            at=utcnow(),
            timezone="UTC",
        )
    assert _post(desk, post_id).status == "in_review"
    assert _jobs_of(desk, post_id) == []
    # Retrying its delivery is refused.
    with _as(desk, team["owner"]) as (session, access):
        delivery = session.scalars(select(Delivery).where(Delivery.post_id == post_id)).one()
        delivery.state = "held"
        with pytest.raises(Conflict):
            posts.retry_delivery(session, access=access, actor=CLI, delivery=delivery)
        session.rollback()
    # Even a stray job for it publishes nothing.
    with desk.db.transaction() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.post_id == post_id)).one()
        from socialdesk.publishing import deliveries as dl

        dl.enqueue_delivery(session, delivery=delivery, due_at=utcnow())
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0
    assert _post(desk, post_id).status == "in_review"


def test_a_scheduled_post_sent_for_approval_stops_until_approved(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    post_id = _create(desk, team["mia"], channel.id, when="now")
    assert _jobs_of(desk, post_id) == ["queued"]
    with _as(desk, team["mia"]) as (session, access):
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
        )
    assert _jobs_of(desk, post_id) == []
    with desk.db.transaction() as session:
        assert list(session.scalars(select(Job.state).where(Job.kind == "publish.delivery"))) == [
            "cancelled"
        ]
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0


# -- editing an approved post ------------------------------------------------------------------


def test_editing_an_approved_post_sends_it_back_to_its_approver(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    other, _ = desk.connect_mastodon("bob")
    post_id = _create(desk, team["mia"], channel.id, when="draft")
    with _as(desk, team["mia"]) as (session, access):
        post = posts.get_post(session, post_id=post_id)
        posts.reschedule_post(
            session,
            access=access,
            actor=CLI,
            post=post,
            at=utcnow() + dt.timedelta(hours=1),
            timezone="UTC",
        )
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=CLI,
            post=post,
            approver_id=team["carl"],
        )
    with _as(desk, team["carl"]) as (session, access):
        approvals.approve(
            session, access=access, actor=CLI, post=posts.get_post(session, post_id=post_id)
        )
    assert _post(desk, post_id).status == "scheduled"

    # An edit the networks would refuse changes nothing.
    with _as(desk, team["mia"]) as (session, access):
        with pytest.raises(ValidationError):
            posts.update_post(
                session,
                settings=desk.settings,
                access=access,
                actor=CLI,
                post=posts.get_post(session, post_id=post_id),
                text="x" * 600,
            )
        session.rollback()
    assert _post(desk, post_id).text == "Spring menu is here"
    assert _post(desk, post_id).status == "scheduled"

    with _as(desk, team["mia"]) as (session, access):
        posts.update_post(
            session,
            settings=desk.settings,
            access=access,
            actor=_actor(team["mia"]),
            post=posts.get_post(session, post_id=post_id),
            text="Our Spring menu is here",
            channel_ids=[channel.id, other.id],
        )
    post = _post(desk, post_id)
    assert post.status == "in_review"
    assert sorted(d.text for d in post.deliveries) == ["Our Spring menu is here"] * 2
    assert all(d.job_id is None for d in post.deliveries)
    assert [a.status for a in _approvals(desk, post_id)] == ["approved", "pending"]
    assert _approvals(desk, post_id)[1].approver_id == team["carl"]  # back to the same person
    assert _inbox(desk, team["carl"])[-1] == (
        "approval_requested",
        "Mia Chen changed an approved post; it needs your approval again",
    )
    _make_due(desk)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0

    with _as(desk, team["carl"]) as (session, access):
        approvals.approve(
            session,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
            publish_now=True,
        )
    desk.run_worker()
    [status] = desk.fake.statuses_of(account)
    assert "Our Spring menu is here" in status.text
    assert _actions(desk)[-3:] == ["post.update", "post.approval_request", "post.approve"]


def test_editing_a_draft_or_a_post_in_review_keeps_its_status(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    draft_id = _create(desk, team["mia"], channel.id, when="draft")
    _mode(desk, "external")
    review_id = _create(desk, team["mia"], channel.id)
    for post_id, status in ((draft_id, "draft"), (review_id, "in_review")):
        with _as(desk, team["mia"]) as (session, access):
            posts.update_post(
                session,
                settings=desk.settings,
                access=access,
                actor=CLI,
                post=posts.get_post(session, post_id=post_id),
                text="New words",
            )
        assert (_post(desk, post_id).status, _post(desk, post_id).text) == (status, "New words")
    assert len(_approvals(desk, review_id)) == 1


# -- who may do what ----------------------------------------------------------------------------


def test_an_approver_sees_only_what_was_sent_to_them(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    to_carl = _create(desk, team["mia"], channel.id, when="draft", text="For Carl")
    to_anyone = _create(desk, team["mia"], channel.id, when="draft", text="For anyone")
    never_sent = _create(desk, team["mia"], channel.id, when="draft", text="Secret draft")
    to_cora = _create(desk, team["mia"], channel.id, when="draft", text="For Cora")
    for post_id, approver in ((to_carl, "carl"), (to_anyone, None), (to_cora, "cora")):
        with _as(desk, team["mia"]) as (session, access):
            approvals.request_approval(
                session,
                settings=desk.settings,
                access=access,
                actor=CLI,
                post=posts.get_post(session, post_id=post_id),
                approver_id=team[approver] if approver else None,
            )
    with _as(desk, team["carl"]) as (session, access):
        queue = approvals.review_queue(session, access=access)
        assert sorted(item.post.text for item in queue) == ["For Carl", "For anyone"]
        assert approvals.pending_count(session, access=access) == 2
        for hidden in (never_sent, to_cora):
            with pytest.raises(NotFound):
                approvals.get_visible_post(session, access=access, post_id=hidden)
            post = posts.get_post(session, post_id=hidden)
            with pytest.raises(NotFound):
                approvals.review(session, access=access, post=post)
            with pytest.raises(NotFound):
                approvals.add_comment(session, access=access, actor=CLI, post=post, body="hi")
            with pytest.raises(NotFound):
                approvals.reject(session, access=access, actor=CLI, post=post, comment="no")
        assert approvals.review_queue(session, access=access, state="decided") == []
        with pytest.raises(PermissionDenied):
            approvals.draft_queue(session, access=access)
    # The team sees everything; the analyst reads but neither decides nor comments.
    with _as(desk, team["dan"]) as (session, access):
        assert len(approvals.review_queue(session, access=access)) == 3
        assert approvals.pending_count(session, access=access) == 3
        post = posts.get_post(session, post_id=to_anyone)
        with pytest.raises(PermissionDenied):
            approvals.approve(session, access=access, actor=CLI, post=post)
        with pytest.raises(PermissionDenied):
            approvals.add_comment(session, access=access, actor=CLI, post=post, body="hi")


def test_in_external_mode_only_the_approver_decides_and_nobody_approves_their_own(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    _mode(desk, "external")
    owners_post = _create(desk, team["owner"], channel.id)
    assert _post(desk, owners_post).status == "in_review"  # every post, the owner's too
    for who in ("owner", "mia"):
        with _as(desk, team[who]) as (session, access), pytest.raises(PermissionDenied):
            approvals.approve(
                session,
                access=access,
                actor=CLI,
                post=posts.get_post(session, post_id=owners_post),
            )
    _mode(desk, "none")
    mine = _create(desk, team["owner"], channel.id, when="draft")
    with _as(desk, team["owner"]) as (session, access):
        post = posts.get_post(session, post_id=mine)
        with pytest.raises(ValidationError) as refused:
            approvals.request_approval(
                session,
                settings=desk.settings,
                access=access,
                actor=CLI,
                post=post,
                approver_id=team["mia"],  # a manager does not approve
            )
        assert refused.value.field == "approver_id"
        approvals.request_approval(
            session, settings=desk.settings, access=access, actor=CLI, post=post
        )
        with pytest.raises(PermissionDenied, match="someone else"):
            approvals.approve(session, access=access, actor=CLI, post=post)
    with _as(desk, team["mia"]) as (session, access), pytest.raises(PermissionDenied):
        approvals.approve(
            session, access=access, actor=CLI, post=posts.get_post(session, post_id=mine)
        )


def test_a_refused_request_changes_nothing(desk: Desk, team: dict[str, uuid.UUID]) -> None:
    channel, _ = desk.connect_mastodon("alice")
    post_id = _create(desk, team["mia"], channel.id, when="draft", text="x" * 600)
    cases: list[tuple[dict[str, object], type[Exception]]] = [
        ({"approver_id": uuid.uuid4()}, ValidationError),
        ({"approver_id": team["dan"]}, ValidationError),
        ({}, ValidationError),  # too long for Mastodon
        ({"note": "n" * 6000}, ValidationError),
    ]
    for kwargs, error in cases:
        with _as(desk, team["mia"]) as (session, access):
            with pytest.raises(error):
                approvals.request_approval(
                    session,
                    settings=desk.settings,
                    access=access,
                    actor=CLI,
                    post=posts.get_post(session, post_id=post_id),
                    **kwargs,  # type: ignore[arg-type]
                )
            session.rollback()
    assert _post(desk, post_id).status == "draft"
    assert _approvals(desk, post_id) == []
    assert _actions(desk) == ["post.create"]
    with _as(desk, team["carl"]) as (session, access), pytest.raises(PermissionDenied):
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
        )


@pytest.mark.parametrize(
    ("mode", "roles", "field"),
    [
        ("sometimes", (), "approval_mode"),
        ("roles", (), "approval_roles"),
        ("roles", ("owner",), "approval_roles"),
        ("roles", ("manager", "wizard"), "approval_roles"),
    ],
)
def test_approval_mode_is_validated(
    desk: Desk, mode: str, roles: tuple[str, ...], field: str
) -> None:
    with _as(desk, desk.access.user.id) as (session, access):
        with pytest.raises(ValidationError) as refused:
            approvals.set_approval_mode(session, access=access, actor=CLI, mode=mode, roles=roles)
        assert refused.value.field == field
    with desk.db.transaction() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "workspace.approval_mode")
            )
            == 0
        )


def test_only_owners_and_admins_set_the_approval_mode(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    with _as(desk, team["mia"]) as (session, access), pytest.raises(PermissionDenied):
        approvals.set_approval_mode(session, access=access, actor=CLI, mode="none")
    _mode(desk, "roles", ("marketer", "manager", "manager"))
    with _as(desk, team["mia"]) as (session, access):
        assert access.workspace.approval_mode == "roles"
        assert access.workspace.approval_roles == ["manager", "marketer"]
        assert approvals.approval_required(access)


def test_a_marketer_whose_posts_need_approval_schedules_into_review(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    marketer = _member(desk, "max@example.com", Role.MARKETER, "Max")
    with pytest.raises(PermissionDenied):  # without approvals, marketers do not publish
        _create(desk, marketer, channel.id)
    _mode(desk, "roles", ("marketer",))
    post_id = _create(desk, marketer, channel.id)
    assert _post(desk, post_id).status == "in_review"


def test_a_recurring_post_starts_its_series_only_once_approved(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    _mode(desk, "roles", ("manager",))
    post_id = _create(desk, team["mia"], channel.id, recurrence="FREQ=DAILY")

    def occurrences() -> int:
        with desk.db.transaction() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Post)
                    .where(Post.recurrence_parent_id == post_id)
                )
                or 0
            )

    assert occurrences() == 0
    with _as(desk, team["carl"]) as (session, access):
        approvals.approve(
            session, access=access, actor=CLI, post=posts.get_post(session, post_id=post_id)
        )
    assert occurrences() > 20


# -- discussion ------------------------------------------------------------------------------


def test_comments_reach_participants_and_mentioned_members_who_may_see_the_post(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    post_id = _create(desk, team["mia"], channel.id, when="draft")
    with _as(desk, team["mia"]) as (session, access):
        approvals.request_approval(
            session,
            settings=desk.settings,
            access=access,
            actor=CLI,
            post=posts.get_post(session, post_id=post_id),
            approver_id=team["carl"],
        )
    before = {who: len(_inbox(desk, uid)) for who, uid in team.items()}
    with _as(desk, team["carl"]) as (session, access):
        approvals.add_comment(
            session,
            access=access,
            actor=_actor(team["carl"]),
            post=posts.get_post(session, post_id=post_id),
            # Dan reads posts; Cora is an approver this post was not sent to.
            body="Looks good. @dan@example.com can you check the numbers? cc @Cora Client",
        )
    new = {who: _inbox(desk, uid)[before[who] :] for who, uid in team.items()}
    assert new["mia"] == [("comment", "Carl Client commented on a post")]
    assert new["dan"] == [("mentioned", "Carl Client mentioned you in a comment")]
    assert new["cora"] == []
    assert new["carl"] == []
    assert new["owner"] == []

    with _as(desk, team["mia"]) as (session, access):
        with pytest.raises(ValidationError):
            approvals.add_comment(
                session,
                access=access,
                actor=CLI,
                post=posts.get_post(session, post_id=post_id),
                body=" \n ",
            )
        session.rollback()
    with _as(desk, team["mia"]) as (session, access):
        approvals.add_comment(
            session,
            access=access,
            actor=_actor(team["mia"]),
            post=posts.get_post(session, post_id=post_id),
            body="Thanks @Carl Client!",
        )
    assert _inbox(desk, team["carl"])[-1] == ("mentioned", "Mia Chen mentioned you in a comment")
    assert _inbox(desk, team["dan"])[-1][0] == "mentioned"  # no second one: not a participant
    with desk.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PostComment)) == 2
    assert _actions(desk).count("post.comment") == 2


# -- lists without a query per row ---------------------------------------------------------------


def test_the_review_queue_costs_the_same_queries_for_3_or_30_posts(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, _ = desk.connect_mastodon("alice")
    second, _ = desk.connect_mastodon("bob")
    _mode(desk, "roles", ("manager",))

    def queries_for_queue() -> int:
        count = 0

        def counter(*_args: object) -> None:
            nonlocal count
            count += 1

        event.listen(desk.db.engine, "before_cursor_execute", counter)
        try:
            with _as(desk, team["carl"]) as (session, access):
                count = 0
                items = approvals.review_queue(session, access=access)
                for item in items:  # everything a page shows
                    assert item.approval is not None
                    _ = (item.author, item.approval.requested_by, item.approval.approver)
                    for delivery in item.post.deliveries:
                        _ = (delivery.channel.handle, list(delivery.media))
        finally:
            event.remove(desk.db.engine, "before_cursor_execute", counter)
        return count

    def add(n: int) -> None:
        for _ in range(n):
            with _as(desk, team["mia"]) as (session, access):
                posts.create_post(
                    session,
                    settings=desk.settings,
                    access=access,
                    actor=CLI,
                    draft=PostDraft(
                        text="Hello",
                        channels=[
                            ChannelContent(channel_id=channel.id),
                            ChannelContent(channel_id=second.id),
                        ],
                        when="at",
                        at=utcnow() + dt.timedelta(hours=1),
                    ),
                )

    add(3)
    few = queries_for_queue()
    add(27)
    assert queries_for_queue() == few


# -- the publisher tells people about failures ---------------------------------------------


def test_the_publisher_notifies_failures_and_a_reconnect_once(
    desk: Desk, team: dict[str, uuid.UUID]
) -> None:
    channel, account = desk.connect_mastodon("alice")
    desk.fake.inject("fail", status=422, method="POST", path="/api/v1/statuses")
    failed = _create(desk, team["mia"], channel.id, when="now")
    desk.run_worker()
    assert _post(desk, failed).status == "failed"
    for who in ("owner", "mia"):
        assert _inbox(desk, team[who]) == [
            ("delivery_failed", f"A post failed on Mastodon ({channel.handle})")
        ]
    for who in ("carl", "dan"):
        assert _inbox(desk, team[who]) == []

    desk.fake.tokens.clear()  # access revoked on the instance: two posts are held
    _create(desk, team["mia"], channel.id, when="now")
    _create(desk, team["mia"], channel.id, when="now")
    desk.run_worker()
    for who in ("owner", "mia"):
        kinds = [kind for kind, _title in _inbox(desk, team[who])]
        assert kinds == ["delivery_failed", "channel_needs_reconnect"]
    assert desk.fake.count_statuses(account) == 0
