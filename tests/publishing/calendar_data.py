# SPDX-License-Identifier: AGPL-3.0-or-later
"""Rows for calendar, list and failures tests: channels and many posts, written directly.

Posts made through ``create_post`` are what the publishing tests use; here the point is
volume (a month of 1,000 posts) and every status, so rows are inserted as they are
stored. Channels get a placeholder secret: nothing here talks to a network.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import Engine, event

from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, Delivery, Post, VaultSecret


def make_channel(
    db: Database,
    workspace_id: uuid.UUID,
    *,
    network: str = "mastodon",
    handle: str = "acme@mastodon.example",
    display_name: str = "Acme Coffee",
    status: str = "active",
    status_reason: str | None = None,
) -> Channel:
    with db.transaction(workspace_id) as session:
        secret = VaultSecret(workspace_id=workspace_id, purpose="test", ciphertext="-")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace_id,
            network=network,
            external_id=secrets.token_hex(6),
            handle=handle,
            display_name=display_name,
            base_url=f"https://{network}.example",
            credentials_secret_id=secret.id,
            status=status,
            status_reason=status_reason,
        )
        session.add(channel)
    return channel


def make_posts(
    db: Database,
    workspace_id: uuid.UUID,
    *,
    channels: Sequence[Channel],
    count: int,
    start: dt.datetime,
    step: dt.timedelta,
    author_id: uuid.UUID | None = None,
    status: str = "scheduled",
    state: str = "pending",
    labels: Sequence[str] = (),
    text: str = "Post {i}\nmore text",
    last_error: str | None = None,
    campaign_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """``count`` posts from ``start`` every ``step``, each delivered to every channel."""
    ids = []
    with db.transaction(workspace_id) as session:
        for i in range(count):
            at = start + i * step
            post = Post(
                id=uuid.uuid4(),
                workspace_id=workspace_id,
                author_id=author_id,
                status=status,
                text=text.format(i=i),
                scheduled_at=at,
                timezone="Europe/Paris",
                labels=list(labels),
                campaign_id=campaign_id,
            )
            session.add(post)
            ids.append(post.id)
            for channel in channels:
                session.add(
                    Delivery(
                        workspace_id=workspace_id,
                        post_id=post.id,
                        channel_id=channel.id,
                        text=post.text,
                        idempotency_key=secrets.token_hex(16),
                        state=state,
                        due_at=at,
                        last_error=last_error,
                        last_error_code="rejected" if last_error else None,
                        attempts=1 if last_error else 0,
                    )
                )
    return ids


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class QueryCounter:
    """Counts the queries an engine sends (``before_cursor_execute``), while active.

    Transaction control (SQLite's ``BEGIN IMMEDIATE``, savepoints) is not a query.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _count(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            self.statements.append(statement)

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    @property
    def count(self) -> int:
        return len(self.statements)
