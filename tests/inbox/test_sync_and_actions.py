# SPDX-License-Identifier: AGPL-3.0-or-later
"""End to end against the Mastodon fake: the worker syncs the inbox, and replies go out once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from socialdesk import jobs
from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import Credentials
from socialdesk.handlers import build_handlers
from socialdesk.inbox import actions
from socialdesk.inbox.sync import SCHEDULE_INTERVAL, SYNC_KIND, enqueue_sync, sync_statuses
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import (
    Channel,
    InboxAction,
    InboxConversation,
    InboxItem,
    InboxSyncState,
    Job,
)
from socialdesk.storage.types import utcnow
from socialdesk.worker import Worker
from tests.fakes.mastodon import MastodonFake


@dataclass
class Desk:
    db: Database
    settings: Settings
    vault: Vault
    network: NetworkRuntime
    fake: MastodonFake
    access: Access
    channel: Channel
    account_id: str

    syncs: int = 0

    def sync(self) -> None:
        # One sync per channel per interval: each call here is a later interval.
        self.syncs += 1
        with self.db.transaction() as session:
            enqueue_sync(
                session,
                channel_id=self.channel.id,
                workspace_id=self.access.workspace.id,
                now=utcnow() + self.syncs * SCHEDULE_INTERVAL,
            )
        self.run_worker()

    def run_worker(self) -> int:
        handlers = build_handlers(
            db=self.db, settings=self.settings, vault=self.vault, network=self.network
        )
        return Worker(self.db, handlers, concurrency=1, poll_seconds=0.05).run_once()

    def make_due(self) -> None:
        with self.db.transaction() as session:
            session.execute(update(Job).where(Job.state == "queued").values(due_at=utcnow()))

    def count(self, table: type, *where: object) -> int:
        with self.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(table).where(*where)) or 0


@pytest.fixture
def desk(db: Database, tmp_path: Path) -> Iterator[Desk]:
    settings = load_settings(data_dir=tmp_path / "data", secret_key="s" * 48)
    fake = MastodonFake()
    network = NetworkRuntime(transport_factory=fake.transport)
    vault = Vault(settings)
    with db.transaction() as session:
        owner = users.create_user(
            session,
            email="ana@example.com",
            password="correct horse battery",
            actor=Actor.cli(),
            name="Ana",
        )
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=owner, actor=Actor.cli()
        )
        access = workspaces.access_for(session, user=owner, workspace_id=workspace.id)
    account, token = fake.create_account("acme")
    channel = connect_channel(
        db,
        vault=vault,
        http=network.http,
        run=network.run,
        workspace_id=workspace.id,
        network="mastodon",
        base_url=fake.base_url,
        credentials=Credentials(access_token=token),
        actor=Actor.cli(),
    )
    try:
        yield Desk(
            db=db,
            settings=settings,
            vault=vault,
            network=network,
            fake=fake,
            access=access,
            channel=channel,
            account_id=account.id,
        )
    finally:
        network.close()


def test_the_worker_stores_replies_and_mentions_once_with_the_cursor(desk: Desk) -> None:
    ours = desk.fake.post_as("acme", "Our new release is out")
    desk.fake.post_as(
        "bob", "@acme this release broke everything, terrible", in_reply_to_id=ours.id
    )
    desk.fake.post_as("carol", "Loving what @acme ships lately!")
    desk.sync()
    assert desk.count(InboxItem) == 2
    assert desk.count(InboxConversation) == 2
    with desk.db.transaction() as session:
        state = session.get_one(InboxSyncState, desk.channel.id)
        assert state.cursor
        assert state.last_error is None
        items = {i.author_handle.split("@")[0]: i for i in session.scalars(select(InboxItem))}
    # Analysed right after storing.
    assert items["bob"].sentiment_label == "negative"
    assert items["carol"].sentiment_label == "positive"
    assert items["bob"].language == "en"
    assert items["bob"].kind == "reply"
    # Nothing new: syncing again stores nothing twice.
    desk.sync()
    assert desk.count(InboxItem) == 2
    desk.fake.post_as("dave", "@acme hello?")
    desk.sync()
    assert desk.count(InboxItem) == 3


def _conversation_of(desk: Desk, handle: str) -> InboxConversation:
    with desk.db.transaction() as session:
        return session.scalars(
            select(InboxConversation)
            .join(InboxItem, InboxItem.conversation_id == InboxConversation.id)
            .where(InboxItem.author_handle.startswith(handle))
        ).one()


def _reply(desk: Desk, conversation: InboxConversation, text: str) -> InboxAction:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        return actions.request_action(
            session,
            access=desk.access,
            actor=Actor.cli(),
            conversation_id=conversation.id,
            item_id=None,
            action="reply",
            text=text,
        )


def _replies_by_us(desk: Desk) -> int:
    return len([s for s in desk.fake.statuses_of(desk.account_id) if s.in_reply_to_id])


def test_a_reply_goes_out_once_and_counts_as_the_first_response(desk: Desk) -> None:
    desk.fake.post_as("bob", "@acme where is my refund?")
    desk.sync()
    conversation = _conversation_of(desk, "bob")
    action = _reply(desk, conversation, "Sorry Bob, we are on it")
    desk.run_worker()
    assert _replies_by_us(desk) == 1
    with desk.db.transaction() as session:
        done = session.get_one(InboxAction, action.id)
        assert done.state == "done"
        assert done.external_id
        after = session.get_one(InboxConversation, conversation.id)
        assert after.first_response_at is not None
        assert after.awaiting_since is None
    # The poller sees our reply too (it mentions bob, not us) or not: never stored twice.
    desk.sync()
    assert desk.count(InboxItem, InboxItem.from_us) == 1
    desk.run_worker()
    assert _replies_by_us(desk) == 1


def test_a_reply_whose_answer_was_lost_is_not_sent_twice(desk: Desk) -> None:
    desk.fake.post_as("bob", "@acme hello")
    desk.sync()
    conversation = _conversation_of(desk, "bob")
    desk.fake.inject("apply_then_drop", method="POST", path="/api/v1/statuses")
    action = _reply(desk, conversation, "Hi Bob!")
    desk.run_worker()
    with desk.db.transaction() as session:
        assert session.get_one(InboxAction, action.id).state == "uncertain"
    assert _replies_by_us(desk) == 1
    desk.make_due()
    desk.run_worker()
    with desk.db.transaction() as session:
        assert session.get_one(InboxAction, action.id).state == "done"
    assert _replies_by_us(desk) == 1


def test_a_rejected_action_fails_with_the_network_reason(desk: Desk) -> None:
    desk.fake.post_as("bob", "@acme hello")
    desk.sync()
    conversation = _conversation_of(desk, "bob")
    desk.fake.inject("fail", status=422, method="POST", path="/api/v1/statuses")
    action = _reply(desk, conversation, "Hi")
    desk.run_worker()
    with desk.db.transaction() as session:
        failed = session.get_one(InboxAction, action.id)
    assert failed.state == "failed"
    assert failed.last_error_code == "rejected"
    assert _replies_by_us(desk) == 0


def test_an_expired_token_marks_the_channel_and_records_why(desk: Desk) -> None:
    desk.fake.inject("fail", status=401, method="GET", path="/api/v1/notifications")
    desk.sync()
    with desk.db.transaction() as session:
        assert session.get_one(Channel, desk.channel.id).status == "needs_reconnect"
        state = session.get_one(InboxSyncState, desk.channel.id)
        assert state.last_error_code == "auth_expired"
        assert session.scalars(select(Job.state).where(Job.kind == SYNC_KIND)).all() == ["done"]
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        [status] = sync_statuses(session, access=desk.access)
    assert status.channel_status == "needs_reconnect"
    assert status.last_error_code == "auth_expired"
    assert status.has_inbox


def test_a_passing_failure_is_retried_and_then_syncs(desk: Desk) -> None:
    desk.fake.post_as("bob", "@acme hello")
    desk.fake.inject("fail", status=503, method="GET", path="/api/v1/notifications")
    desk.sync()
    with desk.db.transaction() as session:
        assert session.get_one(InboxSyncState, desk.channel.id).last_error_code == (
            "transient_error"
        )
        assert session.scalars(select(Job.state).where(Job.kind == SYNC_KIND)).all() == ["queued"]
    assert desk.count(InboxItem) == 0
    desk.make_due()
    desk.run_worker()
    assert desk.count(InboxItem) == 1
    with desk.db.transaction() as session:
        assert session.get_one(InboxSyncState, desk.channel.id).last_error is None


def test_the_schedule_enqueues_one_sync_per_channel_per_interval(desk: Desk) -> None:
    from socialdesk.inbox.sync import SCHEDULE_KIND

    with desk.db.transaction() as session:
        jobs.enqueue(session, kind=SCHEDULE_KIND)
        jobs.enqueue(session, kind=SCHEDULE_KIND)
    desk.run_worker()
    assert desk.count(Job, Job.kind == SYNC_KIND) == 1


def test_a_sync_cut_short_between_pages_resumes_from_its_cursor(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.connectors import mastodon

    desk.fake.post_as("bob", "@acme first")
    desk.sync()  # the first sync sets the cursor
    assert desk.count(InboxItem) == 1
    monkeypatch.setattr(mastodon, "_NOTIFICATION_PAGE", 2)
    for n in range(5):
        desk.fake.post_as("carol", f"@acme message {n}")
    # The first page is read and stored, then the network fails on the second.
    desk.fake.inject("fail", status=503, method="GET", path="/api/v1/notifications", after=1)
    desk.sync()
    assert desk.count(InboxItem) == 3
    desk.make_due()
    desk.run_worker()  # the retry starts from the stored cursor
    assert desk.count(InboxItem) == 6
    desk.sync()
    assert desk.count(InboxItem) == 6
    with desk.db.transaction() as session:
        texts = sorted(session.scalars(select(InboxItem.text)))
    assert texts == sorted(["@acme first", *(f"@acme message {n}" for n in range(5))])
