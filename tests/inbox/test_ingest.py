# SPDX-License-Identifier: AGPL-3.0-or-later
"""Storing items: once each, linked, times right whatever the order, cursor with the items."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from socialdesk.inbox.ingest import ingest_items
from socialdesk.storage.tables import (
    Delivery,
    InboxContact,
    InboxConversation,
    InboxItem,
    InboxSyncState,
    Post,
)
from tests.inbox.conftest import T0, Inbox, author, item, make_channel

H = dt.timedelta(hours=1)


def _conversation(inbox: Inbox, external_id: str = "conv-1") -> InboxConversation:
    with inbox.db.transaction() as session:
        return session.scalars(
            select(InboxConversation).where(InboxConversation.external_id == external_id)
        ).one()


def _count(inbox: Inbox, table: type) -> int:
    with inbox.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_page_is_stored_once_with_its_conversation_and_contact(inbox: Inbox) -> None:
    page = [item(text="Where is my order?"), item(text="Any news?", at=T0 + H)]
    first = inbox.ingest(*page, cursor="c1")
    assert (first.received, first.stored, first.duplicates) == (2, 2, 0)
    again = inbox.ingest(*page, cursor="c1")
    assert (again.stored, again.duplicates) == (0, 2)
    assert _count(inbox, InboxItem) == 2
    assert _count(inbox, InboxContact) == 1
    conversation = _conversation(inbox)
    assert conversation.item_count == 2
    assert conversation.first_inbound_at == T0
    assert conversation.awaiting_since == T0
    assert conversation.first_response_at is None
    assert conversation.subject == "Where is my order?"
    assert conversation.contact_id is not None


def test_duplicates_inside_one_page_are_stored_once(inbox: Inbox) -> None:
    one = item(external_id="same")
    result = inbox.ingest(one, one, one)
    assert result.stored == 1
    assert result.duplicates == 2


def test_out_of_order_items_give_the_same_times_as_in_order(inbox: Inbox) -> None:
    question = item(text="Help?", at=T0)
    answer = item(text="On it!", at=T0 + 2 * H, from_us=True)
    follow_up = item(text="Thanks", at=T0 + 3 * H)
    inbox.ingest(follow_up)
    inbox.ingest(answer)
    inbox.ingest(question)
    conversation = _conversation(inbox)
    assert conversation.first_inbound_at == T0
    assert conversation.first_response_at == T0 + 2 * H
    assert conversation.last_response_at == T0 + 2 * H
    assert conversation.awaiting_since == T0 + 3 * H
    assert conversation.last_item_at == T0 + 3 * H
    assert conversation.item_count == 3


def test_our_thread_part_before_any_question_is_not_a_response(inbox: Inbox) -> None:
    inbox.ingest(item(at=T0 - H, from_us=True), item(at=T0))
    conversation = _conversation(inbox)
    assert conversation.first_response_at is None
    assert conversation.awaiting_since == T0


def test_a_new_message_reopens_a_closed_conversation_but_an_older_one_does_not(
    inbox: Inbox,
) -> None:
    inbox.ingest(item(at=T0))
    with inbox.db.transaction() as session:
        conversation = session.scalars(select(InboxConversation)).one()
        conversation.status = "closed"
        conversation.resolved_at = T0 + 2 * H
    inbox.ingest(item(at=T0 + H))  # older than the close, delivered late
    assert _conversation(inbox).status == "closed"
    inbox.ingest(item(at=T0 + 3 * H))
    reopened = _conversation(inbox)
    assert reopened.status == "open"
    assert reopened.resolved_at is None


def test_the_cursor_moves_with_the_items_and_none_keeps_it(inbox: Inbox) -> None:
    inbox.ingest(item(), cursor="c1")
    with inbox.db.transaction() as session:
        session.execute(select(InboxSyncState)).scalar_one()
        ingest_items(
            session, channel=inbox.channel, items=[item()], cursor=None, save_sync_cursor=True
        )
    with inbox.db.transaction() as session:
        state = session.get_one(InboxSyncState, inbox.channel.id)
        assert state.cursor == "c1"
        assert state.items_stored == 2


def test_a_failed_transaction_stores_neither_items_nor_cursor(inbox: Inbox) -> None:
    with pytest.raises(RuntimeError), inbox.db.transaction() as session:
        ingest_items(
            session, channel=inbox.channel, items=[item()], cursor="c9", save_sync_cursor=True
        )
        raise RuntimeError("crash before commit")
    assert _count(inbox, InboxItem) == 0
    assert _count(inbox, InboxSyncState) == 0


def test_the_same_external_id_on_another_channel_is_another_item(inbox: Inbox) -> None:
    other = make_channel(inbox.db, inbox.workspace_id, network="bluesky", external_id="did:x")
    inbox.ingest(item(external_id="42"))
    with inbox.db.transaction() as session:
        result = ingest_items(session, channel=other, items=[item(external_id="42")])
    assert result.stored == 1
    assert _count(inbox, InboxItem) == 2
    # The same person on another network is another contact.
    assert _count(inbox, InboxContact) == 2


def test_contacts_keep_their_followers_current(inbox: Inbox) -> None:
    inbox.ingest(item(who=author("carla", followers=10)))
    inbox.ingest(item(who=author("carla", followers=None)))
    inbox.ingest(item(who=author("carla", followers=5000)))
    with inbox.db.transaction() as session:
        assert session.scalars(select(InboxContact.followers)).one() == 5000


def test_replies_link_to_our_post_by_delivery_or_part_id(inbox: Inbox) -> None:
    with inbox.db.transaction() as session:
        post = Post(workspace_id=inbox.workspace_id, text="Launch!", labels=[], status="published")
        session.add(post)
        session.flush()
        session.add(
            Delivery(
                workspace_id=inbox.workspace_id,
                post_id=post.id,
                channel_id=inbox.channel.id,
                text="Launch!",
                idempotency_key="k1",
                state="published",
                options={},
                external_id="root-1",
                part_ids=["part-2"],
                published_at=T0,
            )
        )
        post_id = post.id
    inbox.ingest(
        item(conversation="a", our_post_id="root-1"),
        item(conversation="b", our_post_id="part-2"),
        item(conversation="c", our_post_id="someone-elses"),
    )
    with inbox.db.transaction() as session:
        links = dict(
            tuple(row)
            for row in session.execute(
                select(InboxConversation.external_id, InboxConversation.post_id)
            )
        )
    assert links == {"a": post_id, "b": post_id, "c": None}
