# SPDX-License-Identifier: AGPL-3.0-or-later
"""The people who write to us: their profile, our tags and notes, their conversations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import NotFound, ValidationError
from socialdesk.inbox.conversations import clean_tags
from socialdesk.storage.tables import InboxContact, InboxConversation

__all__ = ["ContactView", "get_contact", "open_contact", "update_contact"]

MAX_NOTES = 10_000


@dataclass(frozen=True, slots=True)
class ContactView:
    contact: InboxContact
    #: Newest first.
    conversations: list[InboxConversation]


def get_contact(session: Session, *, access: Access, contact_id: uuid.UUID) -> InboxContact:
    require(access.role, Permission.INBOX_READ)
    contact = session.scalars(
        select(InboxContact).where(
            InboxContact.id == contact_id, InboxContact.workspace_id == access.workspace.id
        )
    ).first()
    if contact is None:
        raise NotFound("no such contact in this workspace")
    return contact


def open_contact(
    session: Session, *, access: Access, contact_id: uuid.UUID, limit: int = 50
) -> ContactView:
    contact = get_contact(session, access=access, contact_id=contact_id)
    conversations = list(
        session.scalars(
            select(InboxConversation)
            .where(InboxConversation.contact_id == contact.id)
            .order_by(InboxConversation.last_item_at.desc())
            .limit(limit)
        )
    )
    return ContactView(contact=contact, conversations=conversations)


def update_contact(
    session: Session,
    *,
    access: Access,
    contact_id: uuid.UUID,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
) -> InboxContact:
    """Our tags and notes about a person (never sent anywhere)."""
    require(access.role, Permission.INBOX_WORK)
    contact = get_contact(session, access=access, contact_id=contact_id)
    cleaned = clean_tags(tags) if tags is not None else None
    if notes is not None and len(notes) > MAX_NOTES:
        raise ValidationError(f"notes are at most {MAX_NOTES} characters", field="notes")
    if cleaned is not None:
        contact.tags = cleaned
    if notes is not None:
        contact.notes = notes.strip()
    return contact
