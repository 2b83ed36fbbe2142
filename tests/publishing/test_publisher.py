# SPDX-License-Identifier: AGPL-3.0-or-later
"""The publisher against the fake Mastodon: on time, exactly once, failures visible."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from socialdesk.accounts.audit import Actor
from socialdesk.connectors.base import RateLimit
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.errors import ValidationError
from socialdesk.handlers import build_handlers
from socialdesk.publishing import posts
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.storage.tables import Channel, Delivery, Job, Post
from socialdesk.storage.types import utcnow
from socialdesk.worker import Worker
from tests.publishing.conftest import Desk

CLI = Actor.cli()


def _post(
    desk: Desk, *channel_ids: object, text: str = "Hello from socialdesk", **kw: object
) -> Post:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        draft = PostDraft(
            text=text,
            channels=[ChannelContent(channel_id=c) for c in channel_ids],  # type: ignore[arg-type]
            when=kw.pop("when", "now"),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )
        return posts.create_post(
            session, settings=desk.settings, access=desk.access, actor=CLI, draft=draft
        )


def _deliveries(desk: Desk, post: Post) -> list[Delivery]:
    with desk.db.transaction() as session:
        return list(
            session.scalars(
                select(Delivery).where(Delivery.post_id == post.id).order_by(Delivery.created_at)
            )
        )


def _status(desk: Desk, post: Post) -> str:
    with desk.db.transaction() as session:
        return session.get_one(Post, post.id).status


def _make_due(desk: Desk) -> None:
    """Bring retries forward instead of waiting out their backoff."""
    with desk.db.transaction() as session:
        session.execute(update(Job).where(Job.state == "queued").values(due_at=utcnow()))


def test_publish_now_goes_out_once_and_stores_the_id(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    post = _post(desk, channel.id)
    assert desk.run_worker() >= 1
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert delivery.external_id
    assert delivery.external_url
    assert delivery.external_url.startswith(desk.fake.base_url)
    assert desk.fake.count_statuses(account) == 1
    assert _status(desk, post) == "published"
    # Running the worker again publishes nothing more.
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 1


def test_a_scheduled_post_waits_for_its_time(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    post = _post(desk, channel.id, when="at", at=utcnow() + dt.timedelta(hours=1))
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0
    assert _status(desk, post) == "scheduled"


def test_too_long_for_the_network_is_refused_before_anything_is_saved(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("alice")
    with pytest.raises(ValidationError, match="501 characters long; Mastodon allows 500"):
        _post(desk, channel.id, text="x" * 501)
    with desk.db.transaction() as session:
        assert session.scalars(select(Post)).all() == []
        assert session.scalars(select(Job).where(Job.kind == "publish.delivery")).all() == []


def test_a_transient_error_is_retried_and_still_publishes_once(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    desk.fake.inject("fail", status=503, method="POST", path="/api/v1/statuses")
    post = _post(desk, channel.id)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state in ("pending", "uncertain")
    assert delivery.last_error_code == "transient_error"
    assert desk.fake.count_statuses(account) == 0
    _make_due(desk)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert delivery.attempts == 2
    assert desk.fake.count_statuses(account) == 1


def test_an_uncertain_outcome_never_publishes_twice(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    # The instance creates the status, then the connection drops before we hear back.
    desk.fake.inject("apply_then_drop", method="POST", path="/api/v1/statuses")
    post = _post(desk, channel.id)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "uncertain"
    assert desk.fake.count_statuses(account) == 1
    _make_due(desk)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert desk.fake.count_statuses(account) == 1


def test_auth_failure_holds_the_delivery_until_reconnected(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    desk.fake.tokens.clear()  # the user revoked our access on the instance
    post = _post(desk, channel.id)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "held"
    with desk.db.transaction() as session:
        stored = session.get_one(Channel, channel.id)
        assert stored.status == "needs_reconnect"
        assert stored.status_reason
    assert desk.fake.count_statuses(account) == 0

    # Reconnecting the same account sends what was held.
    _, token = desk.fake.create_account("ignored")
    desk.fake.tokens[token].account_id = account
    from socialdesk.connectors.base import Credentials
    from socialdesk.publishing.channels import connect_channel

    connect_channel(
        desk.db,
        vault=desk.vault,
        http=desk.network.http,
        run=desk.network.run,
        workspace_id=desk.access.workspace.id,
        network="mastodon",
        base_url=desk.fake.base_url,
        credentials=Credentials(access_token=token),
        actor=CLI,
    )
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert desk.fake.count_statuses(account) == 1


def test_a_rejection_fails_with_the_networks_reason_and_can_be_retried(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    desk.fake.inject("fail", status=422, method="POST", path="/api/v1/statuses")
    post = _post(desk, channel.id)
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "failed"
    assert delivery.last_error_code == "rejected"
    assert delivery.last_error
    assert _status(desk, post) == "failed"

    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        posts.retry_delivery(
            session,
            access=desk.access,
            actor=CLI,
            delivery=session.get_one(Delivery, delivery.id),
        )
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert desk.fake.count_statuses(account) == 1


def test_partial_success_is_shown_per_channel(desk: Desk) -> None:
    alice, alice_id = desk.connect_mastodon("alice")
    bob, bob_id = desk.connect_mastodon("bob")
    bob_token = next(t for t, v in desk.fake.tokens.items() if v.account_id == bob_id)
    desk.fake.tokens[bob_token].scopes = frozenset({"read"})  # bob can no longer write
    post = _post(desk, alice.id, bob.id)
    desk.run_worker()
    states = {d.channel_id: d.state for d in _deliveries(desk, post)}
    assert states == {alice.id: "published", bob.id: "failed"}
    assert _status(desk, post) == "partly_failed"
    assert desk.fake.count_statuses(alice_id) == 1
    assert desk.fake.count_statuses(bob_id) == 0


def test_a_rate_limit_waits_as_the_network_says(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    desk.fake.inject("fail", status=429, retry_after=120, method="POST", path="/api/v1/statuses")
    post = _post(desk, channel.id)
    before = utcnow()
    desk.run_worker()
    [delivery] = _deliveries(desk, post)
    assert delivery.last_error_code == "rate_limited"
    with desk.db.transaction() as session:
        job = session.get_one(Job, delivery.job_id)
        assert job.state == "queued"
        assert job.due_at >= before + dt.timedelta(seconds=110)
    assert desk.fake.count_statuses(account) == 0


def test_publishes_begun_together_count_against_the_rate_limit(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deliveries begun in one batch are on their way: each counts against the limit."""
    monkeypatch.setattr(
        MastodonConnector, "rate_limit", RateLimit(max_posts=2, per_seconds=3600, source="test")
    )
    channel, account = desk.connect_mastodon("alice")
    created = [_post(desk, channel.id, text=f"Post {n}") for n in range(3)]
    handlers = build_handlers(
        db=desk.db, settings=desk.settings, vault=desk.vault, network=desk.network
    )
    before = utcnow()
    Worker(desk.db, handlers, concurrency=5, poll_seconds=0.05).run_once()
    assert desk.fake.count_statuses(account) == 2
    states = sorted(_deliveries(desk, post)[0].state for post in created)
    assert states == ["pending", "published", "published"]
    with desk.db.transaction() as session:
        [waiting] = session.scalars(select(Job).where(Job.state == "queued")).all()
    assert waiting.last_error is not None
    assert "reached 2 posts" in waiting.last_error
    assert waiting.due_at >= before + dt.timedelta(seconds=3500)


def test_a_burst_of_deliveries_is_published_once_each_and_every_job_is_done(desk: Desk) -> None:
    """Many publishes in flight at once, begun and settled in shared transactions."""
    channel, account = desk.connect_mastodon("alice")
    other, other_account = desk.connect_mastodon("bob")
    created = [_post(desk, channel.id, other.id, text=f"Burst {n}") for n in range(12)]
    handlers = build_handlers(
        db=desk.db, settings=desk.settings, vault=desk.vault, network=desk.network
    )
    assert Worker(desk.db, handlers, concurrency=10, poll_seconds=0.05).run_once() == 24
    assert desk.fake.count_statuses(account) == desk.fake.count_statuses(other_account) == 12
    assert {_status(desk, post) for post in created} == {"published"}
    deliveries = [d for post in created for d in _deliveries(desk, post)]
    assert len({d.external_id for d in deliveries}) == 24
    assert all(d.job_id is None and d.published_at is not None for d in deliveries)
    with desk.db.transaction() as session:
        states = session.scalars(select(Job.state).where(Job.kind == "publish.delivery")).all()
    assert states == ["done"] * 24


def test_reschedule_and_cancel(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    post = _post(desk, channel.id, when="at", at=utcnow() + dt.timedelta(hours=2))
    soon = utcnow() + dt.timedelta(hours=1)
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=post.id)
        posts.reschedule_post(
            session, access=desk.access, actor=CLI, post=stored, at=soon, timezone="UTC"
        )
    [delivery] = _deliveries(desk, post)
    assert delivery.due_at == soon
    with desk.db.transaction() as session:
        jobs_for_delivery = session.scalars(select(Job).where(Job.kind == "publish.delivery")).all()
        assert [j.due_at for j in jobs_for_delivery] == [soon]
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        stored = posts.get_post(session, post_id=post.id)
        posts.cancel_post(session, access=desk.access, actor=CLI, post=stored)
    _make_due(desk)
    desk.run_worker()
    assert desk.fake.count_statuses(account) == 0
    assert _status(desk, post) == "cancelled"


def test_a_delivery_left_without_a_job_is_requeued_by_the_reconciler(desk: Desk) -> None:
    channel, account = desk.connect_mastodon("alice")
    post = _post(desk, channel.id)
    with desk.db.transaction() as session:
        # As if its job had given up after workers died on it again and again.
        session.execute(update(Job).where(Job.kind == "publish.delivery").values(state="failed"))
        session.execute(update(Delivery).values(state="publishing"))
    from socialdesk.publishing.reconcile import RECONCILE_KIND
    from socialdesk.worker import ensure_periodic_jobs

    ensure_periodic_jobs(desk.db, {RECONCILE_KIND: dt.timedelta(minutes=5)})
    desk.run_worker()  # the reconciler queues it again ...
    _make_due(desk)
    desk.run_worker()  # ... and it goes out, once
    [delivery] = _deliveries(desk, post)
    assert delivery.state == "published"
    assert desk.fake.count_statuses(account) == 1
