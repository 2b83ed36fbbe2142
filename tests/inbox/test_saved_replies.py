# SPDX-License-Identifier: AGPL-3.0-or-later
"""Saved replies: variables checked when saved, filled in per conversation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from socialdesk.errors import Conflict, ValidationError
from socialdesk.inbox import saved_replies
from socialdesk.storage.tables import InboxConversation, SavedReply
from tests.inbox.conftest import Inbox, author, item


def test_a_saved_reply_is_filled_in_for_the_person_and_the_agent(inbox: Inbox) -> None:
    inbox.ingest(item(who=author("carla"), text="help"))
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        reply = saved_replies.create_saved_reply(
            session,
            access=inbox.manager,
            name="Sorry",
            text="Hi {first_name} ({handle}), {agent_first_name} here from {channel}. {{ok}}",
        )
        conversation = session.scalars(select(InboxConversation)).one()
        text = saved_replies.render_saved_reply(
            session, access=inbox.manager, reply_id=reply.id, conversation_id=conversation.id
        )
    assert text == "Hi Carla (@carla.example), Mia here from acme.example. {ok}"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("", "Hi", "name"),
        ("Hi", "  ", "write the reply"),
        ("Hi", "Hello {first}", "unknown variable {first}"),
        ("Hi", "Hello {first_name", "no partner"),
    ],
)
def test_bad_saved_replies_are_refused_and_nothing_is_saved(
    inbox: Inbox, name: str, text: str, message: str
) -> None:
    with (
        pytest.raises(ValidationError, match=message),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        saved_replies.create_saved_reply(session, access=inbox.manager, name=name, text=text)
    with inbox.db.transaction() as session:
        assert session.scalars(select(SavedReply)).all() == []


def test_names_are_unique_and_replies_can_be_edited_and_deleted(inbox: Inbox) -> None:
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        first = saved_replies.create_saved_reply(session, access=inbox.manager, name="A", text="a")
        saved_replies.create_saved_reply(session, access=inbox.manager, name="B", text="b")
    with pytest.raises(Conflict), inbox.db.transaction(workspace_id=inbox.workspace_id) as s:
        saved_replies.update_saved_reply(s, access=inbox.manager, reply_id=first.id, name="B")
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        saved_replies.update_saved_reply(
            session, access=inbox.manager, reply_id=first.id, text="Thanks {name}!"
        )
        saved_replies.delete_saved_reply(session, access=inbox.manager, reply_id=first.id)
        assert [r.name for r in saved_replies.list_saved_replies(session, access=inbox.viewer)] == [
            "B"
        ]
