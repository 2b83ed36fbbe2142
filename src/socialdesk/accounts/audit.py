# SPDX-License-Identifier: AGPL-3.0-or-later
"""The append-only audit log of every change that matters."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.storage.tables import AuditEvent


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a signed-in user, an API token, or the command line."""

    label: str
    user_id: uuid.UUID | None = None
    ip: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        return cls(label="cli")


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    workspace_id: uuid.UUID | None = None,
    target_type: str | None = None,
    target_id: object | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event in the caller's transaction, so it exists exactly when the change does."""
    event = AuditEvent(
        workspace_id=workspace_id,
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        details=details or {},
        ip=actor.ip,
    )
    session.add(event)
    return event


def list_events(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    limit: int = 50,
    before_id: int | None = None,
    action_prefix: str | None = None,
    since: dt.datetime | None = None,
) -> list[AuditEvent]:
    """Newest first; page with ``before_id`` (the smallest id of the previous page)."""
    query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))
