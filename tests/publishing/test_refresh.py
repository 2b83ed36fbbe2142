# SPDX-License-Identifier: AGPL-3.0-or-later
"""Token refresh and channel health, against the fake X and its rotating refresh tokens.

X rotates refresh tokens: each refresh kills the one it used. So a channel must refresh
at most once at a time (two refreshes racing leave one holding a dead token), must store
the new refresh token before anything else, and must only be marked ``needs_reconnect``
when X definitely refused it — never because of a 5xx or a timeout.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from starlette.responses import JSONResponse

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault, replace_secret
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import Credentials
from socialdesk.errors import AuthExpired, TransientError
from socialdesk.handlers import build_handlers
from socialdesk.publishing import channels, posts
from socialdesk.publishing.channels import (
    connect_channel,
    credentials_to_json,
    fresh_credentials,
    load_credentials,
)
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Channel, Delivery, Job
from socialdesk.storage.types import utcnow
from socialdesk.worker import Worker
from tests.fakes.x import ACCESS_TOKEN_SECONDS, FakeTransport, User, XFake

CLI = Actor.cli()
CLIENT_ID = "socialdesk-test"
TOKEN = ("POST", "/2/oauth2/token")
TWEET = ("POST", "/2/tweets")
#: Short, so that a stalled token request times out quickly.
READ_TIMEOUT = 1.0


@dataclass
class XDesk:
    db: Database
    settings: Settings
    vault: Vault
    network: NetworkRuntime
    fake: XFake
    user: User
    access: Access

    def connect(self) -> Channel:
        access, refresh = self.fake.issue_token(self.user, client_id=CLIENT_ID)
        return connect_channel(
            self.db,
            vault=self.vault,
            http=self.network.http,
            run=self.network.run,
            workspace_id=self.access.workspace.id,
            network="x",
            base_url=self.fake.base_url,
            credentials=Credentials(
                access_token=access,
                refresh_token=refresh,
                expires_at=utcnow() + dt.timedelta(seconds=ACCESS_TOKEN_SECONDS),
                extra={"client_id": CLIENT_ID},
            ),
            actor=CLI,
        )

    def stored(self, channel: Channel) -> Credentials:
        with self.db.transaction() as session:
            current = session.get_one(Channel, channel.id)
            return load_credentials(session, vault=self.vault, channel=current)

    def expire(self, channel: Channel) -> Credentials:
        """Two hours later: X no longer takes the access token, and we know it expired."""
        with self.db.transaction() as session:
            current = session.get_one(Channel, channel.id)
            old = load_credentials(session, vault=self.vault, channel=current)
            expired = replace(old, expires_at=utcnow() - dt.timedelta(minutes=1))
            replace_secret(
                session,
                vault=self.vault,
                secret_id=current.credentials_secret_id,
                value=credentials_to_json(expired),
            )
            current.token_expires_at = expired.expires_at
        self.fake.advance(ACCESS_TOKEN_SECONDS + 60)
        assert self.fake.tokens[old.access_token].expires_at is not None
        return expired

    def token_calls(self) -> int:
        return self.fake.requests.count(TOKEN)

    def fresh(self, channel: Channel, **options: Any) -> Credentials:
        return fresh_credentials(
            self.db,
            vault=self.vault,
            channel_id=channel.id,
            http=self.network.http,
            run=self.network.run,
            **options,
        )

    def post_now(self, channel: Channel, text: str = "Hello from socialdesk") -> uuid.UUID:
        with self.db.transaction(workspace_id=self.access.workspace.id) as session:
            post = posts.create_post(
                session,
                settings=self.settings,
                access=self.access,
                actor=CLI,
                draft=PostDraft(
                    text=text, channels=[ChannelContent(channel_id=channel.id)], when="now"
                ),
            )
            return post.id

    def delivery(self, post_id: uuid.UUID) -> Delivery:
        with self.db.transaction() as session:
            return session.scalars(select(Delivery).where(Delivery.post_id == post_id)).one()

    def channel(self, channel: Channel) -> Channel:
        with self.db.transaction() as session:
            return session.get_one(Channel, channel.id)

    def run_worker(self) -> int:
        handlers = build_handlers(
            db=self.db, settings=self.settings, vault=self.vault, network=self.network
        )
        return Worker(self.db, handlers, concurrency=2, poll_seconds=0.05).run_once()

    def make_due(self) -> None:
        with self.db.transaction() as session:
            session.execute(update(Job).where(Job.state == "queued").values(due_at=utcnow()))


@pytest.fixture
def xdesk(db: Database, tmp_path: Path) -> Iterator[XDesk]:
    settings = load_settings(data_dir=tmp_path / "data", secret_key="s" * 48)
    fake = XFake()
    fake.add_app(CLIENT_ID, "http://127.0.0.1/oauth/callback/x")
    user = fake.add_user("acme")
    network = NetworkRuntime(
        transport_factory=lambda: FakeTransport(fake),
        timeout=httpx.Timeout(READ_TIMEOUT, connect=READ_TIMEOUT),
    )
    with db.transaction() as session:
        owner = users.create_user(
            session, email="ana@example.com", password="correct horse battery", actor=CLI
        )
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=owner, actor=CLI, timezone="Europe/Paris"
        )
        access = workspaces.access_for(session, user=owner, workspace_id=workspace.id)
    try:
        yield XDesk(
            db=db,
            settings=settings,
            vault=Vault(settings),
            network=network,
            fake=fake,
            user=user,
            access=access,
        )
    finally:
        network.close()


def _in_threads(count: int, target: Callable[[], Credentials]) -> list[Credentials | BaseException]:
    """Run ``target`` in ``count`` threads released at the same moment; their outcomes."""
    barrier = threading.Barrier(count)
    outcomes: list[Credentials | BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            outcome: Credentials | BaseException = target()
        except BaseException as exc:
            outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == count
    return outcomes


# --------------------------------------------------------------------------- refreshing


def test_a_fresh_token_is_used_as_it_is(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    before = xdesk.stored(channel)
    assert xdesk.fresh(channel) == before
    assert xdesk.token_calls() == 0


def test_an_expired_token_is_refreshed_once_before_publishing(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    old = xdesk.expire(channel)
    post_id = xdesk.post_now(channel)
    xdesk.run_worker()

    assert xdesk.token_calls() == 1
    # The refresh came first, then the post, with the new token.
    assert xdesk.fake.requests.index(TOKEN) < xdesk.fake.requests.index(TWEET)
    delivery = xdesk.delivery(post_id)
    assert delivery.state == "published"
    assert [t.id for t in xdesk.fake.posts_of(xdesk.user)] == [delivery.external_id]

    new = xdesk.stored(channel)
    assert new.access_token != old.access_token
    assert new.refresh_token != old.refresh_token
    # X killed the old refresh token and knows the stored one.
    assert old.refresh_token not in xdesk.fake.refresh_tokens
    assert new.refresh_token in xdesk.fake.refresh_tokens
    assert new.expires_at is not None
    assert new.expires_at > utcnow() + dt.timedelta(minutes=100)
    assert new.extra["client_id"] == CLIENT_ID
    stored = xdesk.channel(channel)
    assert stored.token_expires_at == new.expires_at
    assert stored.refresh_lease_until is None
    assert stored.status == "active"

    # The next post uses the new token as it is.
    xdesk.post_now(channel, text="Hello again")
    xdesk.run_worker()
    assert xdesk.token_calls() == 1
    assert len(xdesk.fake.posts_of(xdesk.user)) == 2


def test_two_refreshers_at_once_make_one_refresh_call(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    old = xdesk.expire(channel)
    # X takes its time, so the second refresher arrives while the first one is at it.
    xdesk.fake.inject("delay", seconds=0.8, method="POST", path="/2/oauth2/token")

    outcomes = _in_threads(2, lambda: xdesk.fresh(channel))

    assert xdesk.token_calls() == 1
    assert all(isinstance(o, Credentials) for o in outcomes), outcomes
    stored = xdesk.stored(channel)
    assert {o.access_token for o in outcomes if isinstance(o, Credentials)} == {stored.access_token}
    assert stored.access_token != old.access_token
    assert stored.refresh_token in xdesk.fake.refresh_tokens
    assert xdesk.channel(channel).status == "active"


def test_two_refreshers_refused_by_x_make_one_call(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    xdesk.expire(channel)
    xdesk.fake.refresh_tokens.clear()  # the person revoked the app on X
    xdesk.fake.inject("delay", seconds=0.8, method="POST", path="/2/oauth2/token")

    outcomes = _in_threads(2, lambda: xdesk.fresh(channel))

    assert all(isinstance(o, AuthExpired) for o in outcomes), outcomes
    assert xdesk.token_calls() == 1
    assert xdesk.channel(channel).status == "needs_reconnect"
    with xdesk.db.transaction() as session:
        marked = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "channel.needs_reconnect")
        ).all()
        assert len(marked) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_refresher_that_read_before_another_one_committed_uses_the_new_token(
    xdesk: XDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: SQLite runs one write transaction at a time, so this cannot happen.

    The late refresher reads the (expired) credentials, then the other one refreshes and
    commits, freeing its lease; the late one then gets the lease. Refreshing with what it
    read first would spend the refresh token X has just killed.
    """
    channel = xdesk.connect()
    old = xdesk.expire(channel)
    read_first = threading.Event()
    other_done = threading.Event()
    original = channels.load_credentials
    paused: list[str] = []

    def load_then_pause(session: Any, *, vault: Vault, channel: Channel) -> Credentials:
        credentials = original(session, vault=vault, channel=channel)
        if threading.current_thread().name == "late" and not paused:
            paused.append("late")
            read_first.set()
            assert other_done.wait(30)
        return credentials

    monkeypatch.setattr(channels, "load_credentials", load_then_pause)
    outcomes: list[Credentials | BaseException] = []

    def late() -> None:
        try:
            outcomes.append(xdesk.fresh(channel))
        except BaseException as exc:
            outcomes.append(exc)

    thread = threading.Thread(target=late, name="late")
    thread.start()
    assert read_first.wait(30)
    try:
        first = xdesk.fresh(channel)
    finally:
        other_done.set()
        thread.join(60)

    assert first.access_token != old.access_token
    assert outcomes == [first]
    assert xdesk.token_calls() == 1
    assert xdesk.channel(channel).status == "active"
    assert xdesk.stored(channel) == first


def test_a_new_refresh_token_replaces_the_old_one(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    old = xdesk.expire(channel)
    new = xdesk.fresh(channel)
    assert new.refresh_token not in (None, old.refresh_token)
    assert xdesk.stored(channel).refresh_token == new.refresh_token
    # And it is the one that works next time.
    xdesk.expire(channel)
    assert xdesk.fresh(channel).access_token != new.access_token
    assert xdesk.token_calls() == 2


def test_without_a_new_refresh_token_the_old_one_is_kept(xdesk: XDesk) -> None:
    channel = xdesk.connect()
    xdesk.fake.rotate_refresh_tokens = False
    old = xdesk.expire(channel)
    new = xdesk.fresh(channel)
    assert new.access_token != old.access_token
    assert new.refresh_token == old.refresh_token
    assert xdesk.stored(channel).refresh_token == old.refresh_token
    # Still good for the refresh after this one.
    xdesk.expire(channel)
    assert xdesk.fresh(channel).access_token not in (old.access_token, new.access_token)
    assert xdesk.channel(channel).status == "active"


def test_a_refresher_that_waited_in_vain_does_not_hand_out_an_expired_token(
    xdesk: XDesk,
) -> None:
    """Using it would get a 401, which would wrongly say the channel needs reconnecting."""
    channel = xdesk.connect()
    xdesk.expire(channel)
    with xdesk.db.transaction() as session:  # another process is refreshing, slowly
        session.execute(
            update(Channel)
            .where(Channel.id == channel.id)
            .values(refresh_lease_until=utcnow() + dt.timedelta(seconds=30))
        )
    with pytest.raises(TransientError, match="refresh"):
        xdesk.fresh(channel, wait_seconds=0.2)
    assert xdesk.token_calls() == 0
    assert xdesk.channel(channel).status == "active"


# --------------------------------------------------------------------------- health


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "fail", "status": 503},
        {"kind": "fail", "status": 500},
        {"kind": "delay", "seconds": READ_TIMEOUT + 2},  # no answer in time
    ],
    ids=["503", "500", "timeout"],
)
def test_a_refresh_that_fails_for_now_is_retried_later(xdesk: XDesk, fault: dict[str, Any]) -> None:
    channel = xdesk.connect()
    old = xdesk.expire(channel)
    xdesk.fake.inject(method="POST", path="/2/oauth2/token", **fault)
    post_id = xdesk.post_now(channel)
    xdesk.run_worker()

    stored = xdesk.channel(channel)
    assert stored.status == "active"
    assert stored.status_reason is None
    assert stored.refresh_lease_until is None  # the next attempt may refresh at once
    assert xdesk.stored(channel).refresh_token == old.refresh_token
    delivery = xdesk.delivery(post_id)
    # Nothing went out: the delivery waits, not "uncertain" (which would mean it may have).
    assert delivery.state == "pending"
    assert delivery.last_error_code in ("transient_error", "uncertain_outcome")
    assert delivery.job_id is not None
    with xdesk.db.transaction() as session:
        job = session.get_one(Job, delivery.job_id)
        assert job.state == "queued"
        assert job.due_at > utcnow() - dt.timedelta(seconds=1)
    assert xdesk.fake.posts_of(xdesk.user) == []
    assert TWEET not in xdesk.fake.requests

    xdesk.make_due()
    xdesk.run_worker()
    assert xdesk.delivery(post_id).state == "published"
    assert len(xdesk.fake.posts_of(xdesk.user)) == 1
    assert xdesk.channel(channel).status == "active"
    # The second attempt published at once: no look-up of a post that never went out.
    assert ("GET", f"/2/users/{xdesk.user.id}/tweets") not in xdesk.fake.requests


def _answer_token_requests_with(fake: XFake, status: int, body: dict[str, str]) -> None:
    routes = fake.routes

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/2/oauth2/token":
            await JSONResponse(body, status_code=status)(scope, receive, send)
            return
        await routes(scope, receive, send)

    fake.routes = refuse  # type: ignore[assignment]


@pytest.mark.parametrize("refusal", ["revoked", "invalid_grant", "401"])
def test_a_refused_refresh_asks_for_a_reconnect_and_holds_the_delivery(
    xdesk: XDesk, refusal: str
) -> None:
    channel = xdesk.connect()
    xdesk.expire(channel)
    if refusal == "revoked":  # X answers 400 invalid_request, as it does for a dead token
        xdesk.fake.refresh_tokens.clear()
    elif refusal == "invalid_grant":
        _answer_token_requests_with(
            xdesk.fake,
            400,
            {"error": "invalid_grant", "error_description": "Refresh token is invalid"},
        )
    else:
        _answer_token_requests_with(
            xdesk.fake, 401, {"error": "unauthorized_client", "error_description": "Unauthorized"}
        )
    post_id = xdesk.post_now(channel)
    xdesk.run_worker()

    stored = xdesk.channel(channel)
    assert stored.status == "needs_reconnect"
    assert stored.status_reason
    assert "reconnect" in stored.status_reason
    assert stored.refresh_lease_until is None
    delivery = xdesk.delivery(post_id)
    assert delivery.state == "held"
    assert delivery.last_error_code == "auth_expired"
    assert delivery.job_id is None
    assert xdesk.token_calls() == 1
    # Held, not retried: running the worker again asks X nothing.
    xdesk.make_due()
    xdesk.run_worker()
    assert xdesk.token_calls() == 1
    assert xdesk.fake.posts_of(xdesk.user) == []
    # No secret in what people read.
    tokens = {*xdesk.fake.tokens, *xdesk.fake.refresh_tokens}
    assert not any(token in stored.status_reason for token in tokens)

    # Reconnecting sends what was held, once.
    xdesk.connect()
    xdesk.run_worker()
    assert xdesk.delivery(post_id).state == "published"
    assert len(xdesk.fake.posts_of(xdesk.user)) == 1
    assert xdesk.channel(channel).status == "active"
