# SPDX-License-Identifier: AGPL-3.0-or-later
"""Saved replies: reusable answers with variables filled in for each conversation.

Variables (the template language of :mod:`socialdesk.publishing.templates`):

==================  ===============================================================
``{first_name}``    the person's first name (their display name's first word, or handle)
``{name}``          the person's display name (or handle)
``{handle}``        the person's handle, with ``@``
``{agent}``         the name of the member who answers
``{agent_first_name}``  that member's first name
``{channel}``       our account's handle on that network
==================  ===============================================================
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.publishing import templates
from socialdesk.storage.tables import Channel, InboxContact, InboxConversation, SavedReply

__all__ = [
    "VARIABLES",
    "create_saved_reply",
    "delete_saved_reply",
    "get_saved_reply",
    "list_saved_replies",
    "render_saved_reply",
    "update_saved_reply",
    "values_for",
]

VARIABLES = ("first_name", "name", "handle", "agent", "agent_first_name", "channel")
MAX_NAME = 120
MAX_TEXT = 5000


def _clean(name: str, text: str) -> tuple[str, str]:
    name = " ".join(name.split())
    if not name:
        raise ValidationError("give the saved reply a name", field="name")
    if len(name) > MAX_NAME:
        raise ValidationError(f"a name is at most {MAX_NAME} characters", field="name")
    text = text.strip()
    if not text:
        raise ValidationError("write the reply's text", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"a saved reply is at most {MAX_TEXT} characters", field="text")
    unknown = [v for v in templates.variables_of(text) if v not in VARIABLES]
    if unknown:
        known = ", ".join("{" + v + "}" for v in VARIABLES)
        raise ValidationError(
            f"unknown variable {', '.join('{' + v + '}' for v in unknown)}; use {known}",
            field="text",
        )
    return name, text


def _check_name_free(
    session: Session, *, access: Access, name: str, except_id: uuid.UUID | None = None
) -> None:
    query = select(SavedReply.id).where(
        SavedReply.workspace_id == access.workspace.id, SavedReply.name == name
    )
    if except_id is not None:
        query = query.where(SavedReply.id != except_id)
    if session.scalar(query) is not None:
        raise Conflict(f"a saved reply named {name!r} exists already")


def list_saved_replies(session: Session, *, access: Access) -> list[SavedReply]:
    require(access.role, Permission.INBOX_READ)
    return list(
        session.scalars(
            select(SavedReply)
            .where(SavedReply.workspace_id == access.workspace.id)
            .order_by(SavedReply.name)
        )
    )


def get_saved_reply(session: Session, *, access: Access, reply_id: uuid.UUID) -> SavedReply:
    require(access.role, Permission.INBOX_READ)
    found = session.scalars(
        select(SavedReply).where(
            SavedReply.id == reply_id, SavedReply.workspace_id == access.workspace.id
        )
    ).first()
    if found is None:
        raise NotFound("no such saved reply in this workspace")
    return found


def create_saved_reply(session: Session, *, access: Access, name: str, text: str) -> SavedReply:
    require(access.role, Permission.INBOX_WORK)
    name, text = _clean(name, text)
    _check_name_free(session, access=access, name=name)
    reply = SavedReply(
        workspace_id=access.workspace.id, name=name, text=text, created_by_id=access.user.id
    )
    session.add(reply)
    session.flush()
    return reply


def update_saved_reply(
    session: Session,
    *,
    access: Access,
    reply_id: uuid.UUID,
    name: str | None = None,
    text: str | None = None,
) -> SavedReply:
    require(access.role, Permission.INBOX_WORK)
    reply = get_saved_reply(session, access=access, reply_id=reply_id)
    new_name, new_text = _clean(
        name if name is not None else reply.name, text if text is not None else reply.text
    )
    _check_name_free(session, access=access, name=new_name, except_id=reply.id)
    reply.name, reply.text = new_name, new_text
    return reply


def delete_saved_reply(session: Session, *, access: Access, reply_id: uuid.UUID) -> None:
    require(access.role, Permission.INBOX_WORK)
    session.delete(get_saved_reply(session, access=access, reply_id=reply_id))


def values_for(
    *, contact: InboxContact | None, agent_name: str, channel_handle: str
) -> dict[str, str]:
    """The variables' values for one conversation and the member answering it."""
    handle = (contact.handle if contact else "").lstrip("@")
    name = (contact.display_name.strip() if contact else "") or handle or "there"
    agent = agent_name.strip() or "the team"
    return {
        "first_name": name.split()[0],
        "name": name,
        "handle": f"@{handle}" if handle else "",
        "agent": agent,
        "agent_first_name": agent.split()[0],
        "channel": channel_handle,
    }


def render_saved_reply(
    session: Session, *, access: Access, reply_id: uuid.UUID, conversation_id: uuid.UUID
) -> str:
    """The saved reply's text for this conversation, answered by the caller."""
    from socialdesk.inbox.conversations import get_conversation

    reply = get_saved_reply(session, access=access, reply_id=reply_id)
    conversation: InboxConversation = get_conversation(
        session, access=access, conversation_id=conversation_id
    )
    contact = (
        session.get(InboxContact, conversation.contact_id) if conversation.contact_id else None
    )
    channel = session.get_one(Channel, conversation.channel_id)
    values = values_for(
        contact=contact,
        agent_name=access.user.name or access.user.email.split("@")[0],
        channel_handle=channel.handle,
    )
    used = templates.variables_of(reply.text)
    return templates.render(reply.text, {k: v for k, v in values.items() if k in used and v})
