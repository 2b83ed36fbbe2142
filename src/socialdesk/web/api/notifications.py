# SPDX-License-Identifier: AGPL-3.0-or-later
"""The caller's own notifications in a workspace: list, unread count, mark read."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from socialdesk import notifications
from socialdesk.storage.tables import Notification
from socialdesk.web.deps import SessionDep, WorkspaceAccessDep

router = APIRouter(prefix="/workspaces/{workspace_id}/notifications", tags=["notifications"])


class NotificationPublic(BaseModel):
    id: uuid.UUID
    #: approval_requested | approved | rejected | comment | mentioned | delivery_failed
    #: | channel_needs_reconnect
    kind: str
    title: str
    body: str
    #: A page of the web app (a path), when there is one to open.
    link: str | None
    created_at: dt.datetime
    read_at: dt.datetime | None

    @classmethod
    def of(cls, item: Notification) -> NotificationPublic:
        return cls(
            id=item.id,
            kind=item.kind,
            title=item.title,
            body=item.body,
            link=item.link,
            created_at=item.created_at,
            read_at=item.read_at,
        )


class NotificationList(BaseModel):
    unread: int
    items: list[NotificationPublic]


class MarkRead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[uuid.UUID], Field(max_length=notifications.MAX_PAGE)] = Field(
        default_factory=list
    )
    #: Mark every notification read (``ids`` is then ignored).
    all: bool = False


class UnreadCount(BaseModel):
    unread: int


@router.get("")
def list_notifications(
    session: SessionDep,
    access: WorkspaceAccessDep,
    unread: bool = False,
    before: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=notifications.MAX_PAGE)] = 20,
) -> NotificationList:
    """Newest first; page with ``before`` (the oldest ``created_at`` of the previous page)."""
    found = notifications.list_notifications(
        session, access=access, limit=limit, unread_only=unread, before=before
    )
    return NotificationList(
        unread=notifications.unread_count(session, access=access),
        items=[NotificationPublic.of(n) for n in found],
    )


@router.post("/read")
def mark_read(body: MarkRead, session: SessionDep, access: WorkspaceAccessDep) -> UnreadCount:
    if body.all:
        notifications.mark_all_read(session, access=access)
    else:
        notifications.mark_read(session, access=access, ids=body.ids)
    return UnreadCount(unread=notifications.unread_count(session, access=access))
