# SPDX-License-Identifier: AGPL-3.0-or-later
"""Notifications: who is told, read state per member, mentions, and nobody else's bell."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk import notifications
from socialdesk.accounts import members, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import ValidationError
from socialdesk.storage import Database
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import (
    Channel,
    Delivery,
    Notification,
    Post,
    User,
    VaultSecret,
    Workspace,
)
from socialdesk.storage.types import utcnow

CLI = Actor.cli()


@dataclass
class World:
    db: Database
    workspace: Workspace
    other: Workspace
    people: dict[str, uuid.UUID]

    @contextmanager
    def acting(
        self, who: str, workspace: Workspace | None = None
    ) -> Iterator[tuple[Session, Access]]:
        target = workspace or self.workspace
        with self.db.transaction() as session:
            access = workspaces.access_for(
                session, user=session.get_one(User, self.people[who]), workspace_id=target.id
            )
            scope_to_workspace(session, target.id)
            yield session, access


def _user(session: Session, email: str, name: str = "") -> User:
    user = User(email=email, name=name, password_hash="!")
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(db: Database) -> World:
    roles = {
        "olga": Role.OWNER,
        "adam": Role.ADMIN,
        "mia": Role.MANAGER,
        "max": Role.MARKETER,
        "dan": Role.ANALYST,
        "carl": Role.APPROVER,
    }
    names = {"mia": "Mia Chen", "max": "Max", "carl": "Carl Client", "dan": "Dan"}
    with db.transaction() as session:
        people = {who: _user(session, f"{who}@example.com", names.get(who, "")) for who in roles}
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=session.get_one(User, people["olga"].id), actor=CLI
        )
        for who, role in roles.items():
            if role is not Role.OWNER:
                members.add_user(
                    session, workspace_id=workspace.id, user=people[who], role=role, actor=CLI
                )
        other = workspaces.create_workspace(session, name="Other", owner=people["mia"], actor=CLI)
        return World(
            db=db,
            workspace=workspace,
            other=other,
            people={who: user.id for who, user in people.items()},
        )


def _delivery(
    world: World, *, author: str, state: str, channel_status: str = "active"
) -> uuid.UUID:
    with world.db.transaction() as session:
        secret = VaultSecret(workspace_id=world.workspace.id, purpose="p", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=world.workspace.id,
            network="mastodon",
            external_id=uuid.uuid4().hex,
            handle="acme@mastodon.example",
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            status=channel_status,
            status_reason="The token was revoked" if channel_status != "active" else None,
            status_changed_at=utcnow(),
            extra={},
        )
        post = Post(
            workspace_id=world.workspace.id,
            author_id=world.people[author],
            text="Spring menu",
            status="failed",
            labels=[],
        )
        session.add_all([channel, post])
        session.flush()
        delivery = Delivery(
            workspace_id=world.workspace.id,
            post_id=post.id,
            channel_id=channel.id,
            text="Spring menu",
            idempotency_key=uuid.uuid4().hex,
            state=state,
            last_error="Text is too long (422)" if state == "failed" else "auth",
            options={},
        )
        session.add(delivery)
        session.flush()
        return delivery.id


def _kinds_by_person(world: World) -> dict[str, list[str]]:
    with world.db.transaction() as session:
        rows = session.execute(
            select(Notification.user_id, Notification.kind).order_by(Notification.created_at)
        ).all()
    found: dict[str, list[str]] = {}
    by_id = {uid: who for who, uid in world.people.items()}
    for user_id, kind in rows:
        found.setdefault(by_id[user_id], []).append(kind)
    return found


def _trouble(world: World, delivery_id: uuid.UUID) -> list[Notification]:
    with world.db.transaction() as session:
        return notifications.delivery_trouble(
            session, delivery=session.get_one(Delivery, delivery_id)
        )


# -- fan-out -------------------------------------------------------------------------------


def test_a_failed_delivery_tells_the_people_who_can_fix_it_and_its_author(world: World) -> None:
    delivery_id = _delivery(world, author="max", state="failed")
    created = _trouble(world, delivery_id)
    assert len(created) == 4
    assert _kinds_by_person(world) == {
        "olga": ["delivery_failed"],
        "adam": ["delivery_failed"],
        "mia": ["delivery_failed"],
        "max": ["delivery_failed"],  # the marketer wrote it
    }
    with world.db.transaction() as session:
        sample = session.scalars(select(Notification)).first()
        assert sample is not None
        assert sample.title == "A post failed on Mastodon (acme@mastodon.example)"
        assert "Text is too long (422)" in sample.body
        assert sample.link is not None
        assert sample.link == f"/w/{world.workspace.id}/failures"


def test_a_channel_needing_reconnect_is_told_once_per_episode(world: World) -> None:
    first = _delivery(world, author="mia", state="held", channel_status="needs_reconnect")
    assert len(_trouble(world, first)) == 3  # owner, admin, manager
    assert _trouble(world, first) == []  # the second held delivery of the same episode
    # A pending delivery, or a held one on a healthy channel, is no trouble.
    assert _trouble(world, _delivery(world, author="mia", state="pending")) == []
    assert _trouble(world, _delivery(world, author="mia", state="held")) == []
    assert _kinds_by_person(world) == {
        "olga": ["channel_needs_reconnect"],
        "adam": ["channel_needs_reconnect"],
        "mia": ["channel_needs_reconnect"],
    }


def test_notify_refuses_unknown_kinds_and_skips_duplicates_and_the_excluded(world: World) -> None:
    with world.db.transaction() as session:
        with pytest.raises(ValidationError):
            notifications.notify(
                session, workspace_id=world.workspace.id, user_ids=[], kind="spam", title="x"
            )
        created = notifications.notify(
            session,
            workspace_id=world.workspace.id,
            user_ids=[world.people["mia"], world.people["mia"], None, world.people["olga"]],
            kind="comment",
            title="  Hello   there  ",
            exclude={world.people["olga"]},
        )
        assert [(n.user_id, n.title) for n in created] == [(world.people["mia"], "Hello there")]


# -- read state ------------------------------------------------------------------------------


def _notify(world: World, who: str, n: int, workspace: Workspace | None = None) -> None:
    with world.db.transaction() as session:
        for i in range(n):
            notifications.notify(
                session,
                workspace_id=(workspace or world.workspace).id,
                user_ids=[world.people[who]],
                kind="comment",
                title=f"Comment {i}",
            )


def test_each_member_reads_only_their_own_notifications(world: World) -> None:
    _notify(world, "mia", 3)
    _notify(world, "olga", 2)
    _notify(world, "mia", 4, workspace=world.other)
    with world.db.transaction() as session:
        olgas = list(
            session.scalars(
                select(Notification.id).where(Notification.user_id == world.people["olga"])
            )
        )
    with world.acting("mia") as (session, access):
        mine = notifications.list_notifications(session, access=access)
        assert len(mine) == 3
        assert {n.user_id for n in mine} == {world.people["mia"]}
        assert notifications.unread_count(session, access=access) == 3
        # Someone else's ids change nothing.
        assert notifications.mark_read(session, access=access, ids=olgas) == 0
        assert notifications.mark_read(session, access=access, ids=[mine[0].id]) == 1
        assert notifications.mark_read(session, access=access, ids=[mine[0].id]) == 0
        assert notifications.unread_count(session, access=access) == 2
        unread = notifications.list_notifications(session, access=access, unread_only=True)
        assert mine[0].id not in {n.id for n in unread}
        assert notifications.mark_all_read(session, access=access) == 2
        assert notifications.unread_count(session, access=access) == 0
    with world.acting("olga") as (session, access):
        assert notifications.unread_count(session, access=access) == 2
    with world.acting("mia", world.other) as (session, access):
        assert notifications.unread_count(session, access=access) == 4


def test_lists_are_newest_first_and_paged(world: World) -> None:
    _notify(world, "mia", 5)
    with world.acting("mia") as (session, access):
        first = notifications.list_notifications(session, access=access, limit=2)
        assert [n.title for n in first] == ["Comment 4", "Comment 3"]
        rest = notifications.list_notifications(
            session, access=access, limit=10, before=first[-1].created_at
        )
        assert [n.title for n in rest] == ["Comment 2", "Comment 1", "Comment 0"]
        for bad in (0, notifications.MAX_PAGE + 1):
            with pytest.raises(ValidationError):
                notifications.list_notifications(session, access=access, limit=bad)
        with pytest.raises(ValidationError):
            notifications.mark_read(
                session,
                access=access,
                ids=[uuid.uuid4() for _ in range(notifications.MAX_PAGE + 1)],
            )


def test_an_approver_has_a_bell_too(world: World) -> None:
    _notify(world, "carl", 1)
    with world.acting("carl") as (session, access):
        assert notifications.unread_count(session, access=access) == 1


# -- mentions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        ("@Mia Chen please look", {"mia"}),
        ("@mia chen, please look", {"mia"}),
        ("ask @mia@example.com.", {"mia"}),
        ("@MIA@EXAMPLE.COM", {"mia"}),
        ("@Mia Chenko is someone else", set()),
        ("@mia@example.community is not Mia", set()),
        ("mia@example.com without the at sign in front", set()),
        ("@Max and @Carl Client", {"max", "carl"}),
        ("@Maximilian is not Max", set()),
        ("@max_power neither", set()),
        ("no mention at all", set()),
        ("@", set()),
        ("@olga@example.com (owner, no name)", {"olga"}),
    ],
)
def test_mentions_by_name_or_email(world: World, text: str, mentioned: set[str]) -> None:
    with world.db.transaction() as session:
        found = notifications.mentioned_user_ids(
            session, workspace_id=world.workspace.id, text=text
        )
    by_id = {uid: who for who, uid in world.people.items()}
    assert {by_id[user_id] for user_id in found} == mentioned


def test_members_of_another_workspace_cannot_be_mentioned(world: World) -> None:
    with world.db.transaction() as session:
        outsider = _user(session, "out@example.com", "Outsider")
        found = notifications.mentioned_user_ids(
            session, workspace_id=world.workspace.id, text="@Outsider @out@example.com"
        )
    assert outsider.id not in found
    assert found == set()


def test_excerpt_cuts_at_a_word() -> None:
    assert notifications.excerpt("short") == "short"
    assert notifications.excerpt("one two  three\nfour", 9) == "one two…"
    assert len(notifications.excerpt("x" * 500, 20)) == 20
