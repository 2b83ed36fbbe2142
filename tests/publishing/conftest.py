# SPDX-License-Identifier: AGPL-3.0-or-later
"""A workspace with a Mastodon channel on the fake instance, and a worker to publish with."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from socialdesk.accounts import users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import Credentials
from socialdesk.handlers import build_handlers
from socialdesk.publishing.channels import connect_channel
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel
from socialdesk.worker import Worker
from tests.fakes.mastodon import MastodonFake


@dataclass
class Desk:
    """Everything a publishing test touches."""

    db: Database
    settings: Settings
    vault: Vault
    network: NetworkRuntime
    fake: MastodonFake
    access: Access

    def connect_mastodon(self, username: str) -> tuple[Channel, str]:
        account, token = self.fake.create_account(username)
        channel = connect_channel(
            self.db,
            vault=self.vault,
            http=self.network.http,
            run=self.network.run,
            workspace_id=self.access.workspace.id,
            network="mastodon",
            base_url=self.fake.base_url,
            credentials=Credentials(access_token=token),
            actor=Actor.cli(),
        )
        return channel, account.id

    def run_worker(self) -> int:
        handlers = build_handlers(
            db=self.db, settings=self.settings, vault=self.vault, network=self.network
        )
        return Worker(self.db, handlers, concurrency=2, poll_seconds=0.05).run_once()


@pytest.fixture
def desk(db: Database, tmp_path: Path) -> Iterator[Desk]:
    settings = load_settings(data_dir=tmp_path / "data", secret_key="s" * 48)
    fake = MastodonFake()
    network = NetworkRuntime(transport_factory=fake.transport)
    with db.transaction() as session:
        owner = users.create_user(
            session, email="ana@example.com", password="correct horse battery", actor=Actor.cli()
        )
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=owner, actor=Actor.cli(), timezone="Europe/Paris"
        )
        access = workspaces.access_for(session, user=owner, workspace_id=workspace.id)
    try:
        yield Desk(
            db=db,
            settings=settings,
            vault=Vault(settings),
            network=network,
            fake=fake,
            access=access,
        )
    finally:
        network.close()
