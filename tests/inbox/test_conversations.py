# SPDX-License-Identifier: AGPL-3.0-or-later
"""Working the inbox: filters, status, assignment, tags, notes, bulk, contacts, analysis."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from socialdesk.accounts.audit import Actor
from socialdesk.errors import NotFound, PermissionDenied, ValidationError
from socialdesk.inbox import contacts, conversations
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.conversations import ConversationFilter
from socialdesk.storage.tables import InboxConversation, InboxItem, InboxNote, Notification
from socialdesk.text.analyzer import DefaultAnalyzer
from tests.inbox.conftest import T0, Inbox, author, item

H = dt.timedelta(hours=1)
CLI = Actor.cli()


def _seed(inbox: Inbox) -> dict[str, InboxConversation]:
    inbox.ingest(
        item(
            conversation="angry",
            text="This is terrible, worst service ever!!",
            who=author("bigshot", followers=900_000),
            at=T0,
        ),
        item(
            conversation="happy",
            text="Thanks a lot, I really love the new version!",
            who=author("fan"),
            at=T0 + H,
        ),
        item(conversation="answered", text="When does the shop open tomorrow?", at=T0 + 2 * H),
        item(conversation="answered", text="Answer.", at=T0 + 3 * H, from_us=True),
    )
    with inbox.db.transaction() as session:
        analyze_pending(session, analyzer=DefaultAnalyzer())
        found = session.scalars(select(InboxConversation)).all()
        return {c.external_id: c for c in found}


def _list(inbox: Inbox, now: dt.datetime = T0 + 10 * H, **filters: object) -> list[str]:
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        rows = conversations.list_conversations(
            session,
            access=inbox.manager,
            filters=ConversationFilter(**filters),  # type: ignore[arg-type]
            now=now,
        )
        return [row.conversation.external_id for row in rows]


def test_analysis_sets_sentiment_language_and_priority(inbox: Inbox) -> None:
    seeded = _seed(inbox)
    assert seeded["angry"].sentiment_label == "negative"
    assert seeded["angry"].priority > 80
    assert seeded["happy"].sentiment_label == "positive"
    assert seeded["happy"].priority == 0
    with inbox.db.transaction() as session:
        ours = session.scalars(select(InboxItem).where(InboxItem.from_us)).one()
        assert ours.sentiment is None
        assert ours.analyzed_at is not None
        assert session.scalars(select(InboxItem.language).where(~InboxItem.from_us)).all() == [
            "en",
            "en",
            "en",
        ]
        # Everything is analysed: nothing left to do.
        assert analyze_pending(session, analyzer=DefaultAnalyzer()) == 0


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["answered", "happy", "angry"]),
        ({"sort": "priority"}, ["angry", "answered", "happy"]),
        ({"sentiments": ["negative"]}, ["angry"]),
        ({"sentiments": ["positive", "negative"], "sort": "oldest"}, ["angry", "happy"]),
        ({"unanswered_for": 9 * H, "sort": "oldest"}, ["angry", "happy"]),
        ({"unanswered_for": 9.5 * H}, ["angry"]),
        ({"networks": ["bluesky"]}, []),
        ({"networks": ["mastodon"], "min_priority": 50}, ["angry"]),
        ({"search": "worst"}, ["angry"]),
        ({"search": "100%_"}, []),
        ({"statuses": ["closed"]}, []),
        ({"sort": "waiting"}, ["angry", "happy", "answered"]),
    ],
)
def test_filters(inbox: Inbox, filters: dict[str, object], expected: list[str]) -> None:
    _seed(inbox)
    assert _list(inbox, **filters) == expected


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"statuses": ["done"]}, "status"),
        ({"sentiments": ["angry"]}, "sentiment"),
        ({"sort": "random"}, "sort"),
    ],
)
def test_bad_filters_say_what_to_fix(inbox: Inbox, filters: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _list(inbox, **filters)
    assert caught.value.field == field


def test_status_assignment_and_tags(inbox: Inbox) -> None:
    seeded = _seed(inbox)
    conversation_id = seeded["angry"].id
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        updated = conversations.update_conversation(
            session,
            access=inbox.manager,
            actor=CLI,
            conversation_id=conversation_id,
            status="closed",
            assignee_id=inbox.manager.user.id,
            tags=["#VIP", " refund ", "vip"],
        )
        assert updated.status == "closed"
        assert updated.resolved_at is not None
        assert updated.tags == ["vip", "refund"]
    assert _list(inbox, assignee_id=inbox.manager.user.id) == ["angry"]
    assert _list(inbox, tag="refund") == ["angry"]
    assert _list(inbox, unassigned=True) == ["answered", "happy"]
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        reopened = conversations.update_conversation(
            session,
            access=inbox.manager,
            actor=CLI,
            conversation_id=conversation_id,
            status="open",
            unassign=True,
        )
        assert reopened.resolved_at is None
        assert reopened.assignee_id is None


def test_only_inbox_workers_can_be_assigned_and_can_change_things(inbox: Inbox) -> None:
    seeded = _seed(inbox)
    with (
        pytest.raises(ValidationError, match="works the inbox"),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        conversations.update_conversation(
            session,
            access=inbox.manager,
            actor=CLI,
            conversation_id=seeded["angry"].id,
            assignee_id=inbox.viewer.user.id,
        )
    with (
        pytest.raises(PermissionDenied),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        conversations.update_conversation(
            session,
            access=inbox.viewer,
            actor=CLI,
            conversation_id=seeded["angry"].id,
            status="closed",
        )
    # The analyst still reads.
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        assert conversations.list_conversations(session, access=inbox.viewer)


def test_bulk_is_all_or_nothing(inbox: Inbox) -> None:
    seeded = _seed(inbox)
    ids = [c.id for c in seeded.values()]
    import uuid

    with pytest.raises(NotFound), inbox.db.transaction(workspace_id=inbox.workspace_id) as s:
        conversations.bulk_update(
            s,
            access=inbox.manager,
            actor=CLI,
            conversation_ids=[*ids, uuid.uuid4()],
            status="closed",
        )
    assert _list(inbox, statuses=["closed"]) == []
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        changed = conversations.bulk_update(
            session,
            access=inbox.manager,
            actor=CLI,
            conversation_ids=ids[:2],
            status="pending",
            add_tags=["Later"],
        )
    assert changed == 2
    assert sorted(_list(inbox, statuses=["pending"], tag="later")) == sorted(
        c.external_id for c in list(seeded.values())[:2]
    )
    with (
        pytest.raises(ValidationError, match="say what to change"),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        conversations.bulk_update(session, access=inbox.manager, actor=CLI, conversation_ids=ids)


def test_notes_notify_mentioned_members_and_show_in_the_conversation(inbox: Inbox) -> None:
    seeded = _seed(inbox)
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        conversations.add_note(
            session,
            access=inbox.manager,
            conversation_id=seeded["angry"].id,
            body="@Olga Owner can you call them?",
        )
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        view = conversations.open_conversation(
            session, access=inbox.viewer, conversation_id=seeded["angry"].id
        )
        assert [n.note.body for n in view.notes] == ["@Olga Owner can you call them?"]
        assert view.notes[0].author is not None
        assert view.contact is not None
        assert view.contact.followers == 900_000
        [note] = session.scalars(select(Notification).where(Notification.kind == "mentioned"))
        assert note.user_id == inbox.owner.user.id
    with (
        pytest.raises(ValidationError),
        inbox.db.transaction(workspace_id=inbox.workspace_id) as session,
    ):
        conversations.add_note(
            session, access=inbox.manager, conversation_id=seeded["angry"].id, body="   "
        )
    with inbox.db.transaction() as session:
        assert len(session.scalars(select(InboxNote)).all()) == 1


def test_a_contact_shows_their_earlier_conversations_and_keeps_our_notes(inbox: Inbox) -> None:
    carla = author("carla")
    inbox.ingest(
        item(conversation="first", who=carla, at=T0),
        item(conversation="second", who=carla, at=T0 + H),
    )
    with inbox.db.transaction(workspace_id=inbox.workspace_id) as session:
        [latest, *_] = conversations.list_conversations(session, access=inbox.manager)
        view = conversations.open_conversation(
            session, access=inbox.manager, conversation_id=latest.conversation.id
        )
        assert [c.external_id for c in view.earlier] == ["first"]
        assert view.contact is not None
        contact = contacts.update_contact(
            session,
            access=inbox.manager,
            contact_id=view.contact.id,
            tags=["Press"],
            notes="Journalist at the Gazette",
        )
        assert contact.tags == ["press"]
        profile = contacts.open_contact(session, access=inbox.viewer, contact_id=contact.id)
        assert [c.external_id for c in profile.conversations] == ["second", "first"]
