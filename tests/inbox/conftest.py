# SPDX-License-Identifier: AGPL-3.0-or-later
"""A workspace with a channel and members, and InboundItem builders, for the inbox tests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass

import pytest

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.workspaces import Access
from socialdesk.connectors.base import InboundAuthor, InboundItem, InboundKind
from socialdesk.inbox.ingest import ChannelRef, IngestResult, ingest_items
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, VaultSecret

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)  # a Monday
_ids = itertools.count(1)


def author(name: str = "carla", followers: int | None = 120) -> InboundAuthor:
    return InboundAuthor(
        external_id=f"user-{name}",
        handle=f"{name}.example",
        display_name=name.title(),
        followers=followers,
    )


def item(
    *,
    conversation: str = "conv-1",
    text: str = "Hello there",
    at: dt.datetime = T0,
    who: InboundAuthor | None = None,
    from_us: bool = False,
    external_id: str | None = None,
    kind: InboundKind = InboundKind.REPLY,
    our_post_id: str | None = None,
) -> InboundItem:
    return InboundItem(
        external_id=external_id or f"item-{next(_ids)}",
        kind=kind,
        author=InboundAuthor(external_id="us", handle="acme.example")
        if from_us
        else (who or author()),
        text=text,
        created_at=at,
        conversation_id=conversation,
        from_us=from_us,
        our_post_id=our_post_id,
        extra={"cid": "bafy"},
    )


@dataclass
class Inbox:
    db: Database
    owner: Access
    manager: Access
    viewer: Access
    channel: ChannelRef

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.owner.workspace.id

    def ingest(self, *items: InboundItem, cursor: str | None = None) -> IngestResult:
        with self.db.transaction() as session:
            return ingest_items(
                session,
                channel=self.channel,
                items=list(items),
                cursor=cursor,
                save_sync_cursor=cursor is not None,
            )


def make_channel(
    db: Database, workspace_id: uuid.UUID, network: str = "mastodon", external_id: str = "acct-1"
) -> ChannelRef:
    with db.transaction() as session:
        secret = VaultSecret(workspace_id=workspace_id, purpose="p", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace_id,
            network=network,
            external_id=external_id,
            handle="acme.example",
            base_url="https://social.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
        session.flush()
        return ChannelRef(id=channel.id, workspace_id=workspace_id, network=network)


def _member(db: Database, workspace_id: uuid.UUID, email: str, role: Role) -> Access:
    with db.transaction() as session:
        user = users.create_user(
            session,
            email=email,
            password="correct horse battery",
            actor=Actor.cli(),
            name=email.split("@")[0].title(),
        )
        members.add_user(
            session, workspace_id=workspace_id, user=user, role=role, actor=Actor.cli()
        )
        return workspaces.access_for(session, user=user, workspace_id=workspace_id)


@pytest.fixture
def inbox(db: Database) -> Inbox:
    with db.transaction() as session:
        owner_user = users.create_user(
            session,
            email="olga@example.com",
            password="correct horse battery",
            actor=Actor.cli(),
            name="Olga Owner",
        )
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=owner_user, actor=Actor.cli(), timezone="Europe/Paris"
        )
        owner = workspaces.access_for(session, user=owner_user, workspace_id=workspace.id)
    return Inbox(
        db=db,
        owner=owner,
        manager=_member(db, workspace.id, "mia@example.com", Role.MANAGER),
        viewer=_member(db, workspace.id, "ana@example.com", Role.ANALYST),
        channel=make_channel(db, workspace.id),
    )
