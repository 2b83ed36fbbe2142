# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox pages driven like a browser: the list and its filters, a conversation, working
it (status, assignee, tags, notes, replies, likes), bulk changes, roles and tenancy."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from socialdesk.accounts import members, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.connectors.base import InboundAuthor, InboundItem, InboundKind
from socialdesk.inbox import saved_replies
from socialdesk.inbox.actions import ACTION_KIND
from socialdesk.inbox.ingest import ChannelRef, ingest_items
from socialdesk.storage import Database
from socialdesk.storage.tables import (
    Channel,
    InboxAction,
    InboxConversation,
    InboxItem,
    InboxNote,
    InboxSettings,
    Job,
    User,
    VaultSecret,
    Workspace,
)
from socialdesk.storage.types import utcnow
from socialdesk.web.templating import templates
from socialdesk.web.ui.common import Shell
from tests.publishing.calendar_data import QueryCounter
from tests.web.api.helpers import CSRF, browser_cookie
from tests.web.ui.helpers import text_of

CLI = Actor.cli()
_ids = itertools.count(1)


@dataclass
class Scene:
    db: Database
    settings: Settings
    workspace: Workspace
    channel: ChannelRef
    ids: dict[str, uuid.UUID]
    browser: Callable[[str], TestClient]

    @property
    def ws(self) -> str:
        return f"/w/{self.workspace.id}"

    def ingest(
        self,
        text: str,
        *,
        who: str = "carla",
        conversation: str | None = None,
        ago: dt.timedelta = dt.timedelta(hours=1),
        followers: int | None = 120,
        from_us: bool = False,
        channel: ChannelRef | None = None,
    ) -> uuid.UUID:
        """One message stored the way the sync stores it; returns its conversation's id."""
        channel = channel or self.channel
        author = (
            InboundAuthor(external_id="us", handle="acme@mastodon.example")
            if from_us
            else InboundAuthor(
                external_id=f"user-{who}",
                handle=f"{who}@social.example",
                display_name=f"{who.title()} Diaz",
                followers=followers,
            )
        )
        item = InboundItem(
            external_id=f"item-{next(_ids)}",
            kind=InboundKind.REPLY,
            author=author,
            text=text,
            created_at=utcnow() - ago,
            conversation_id=conversation or f"conv-{next(_ids)}",
            url="https://social.example/@x/1",
            from_us=from_us,
        )
        with self.db.transaction() as session:
            result = ingest_items(session, channel=channel, items=[item])
        return result.conversation_ids[0]

    def conversation(self, conversation_id: uuid.UUID) -> InboxConversation:
        with self.db.transaction() as session:
            return session.get_one(InboxConversation, conversation_id)

    def post(
        self, who: str, path: str, data: dict[str, str | list[str]] | None = None, **kw: object
    ) -> Response:
        return self.browser(who).post(path, data={"csrf_token": CSRF, **(data or {})}, **kw)  # type: ignore[arg-type]


def _person(db: Database, workspace: Workspace | None, email: str, name: str, role: Role) -> User:
    with db.transaction() as session:
        user = User(email=email, name=name, password_hash="!")
        session.add(user)
        session.flush()
        if workspace is not None:
            members.add_user(session, workspace_id=workspace.id, user=user, role=role, actor=CLI)
        return user


def _channel(db: Database, workspace: Workspace, network: str = "mastodon") -> ChannelRef:
    with db.transaction() as session:
        secret = VaultSecret(workspace_id=workspace.id, purpose="channel", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace.id,
            network=network,
            external_id=f"acct-{network}",
            handle="acme@mastodon.example" if network == "mastodon" else "acme",
            display_name="Acme Coffee",
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
        session.flush()
        return ChannelRef(id=channel.id, workspace_id=workspace.id, network=network)


@pytest.fixture
def scene(db: Database, settings: Settings, new_client: Callable[[], TestClient]) -> Scene:
    ana = _person(db, None, "ana@example.com", "Ana Owner", Role.OWNER)
    with db.transaction() as session:
        workspace = workspaces.create_workspace(
            session, name="Acme Coffee", owner=session.get_one(User, ana.id), actor=CLI
        )
    people = {
        "ana": ana,
        "mia": _person(db, workspace, "mia@example.com", "Mia Chen", Role.MANAGER),
        "leo": _person(db, workspace, "leo@example.com", "Leo Park", Role.MANAGER),
        "ali": _person(db, workspace, "ali@example.com", "Ali Analyst", Role.ANALYST),
        "carl": _person(db, workspace, "carl@client.example", "Carl Client", Role.APPROVER),
        "zed": _person(db, None, "zed@other.example", "Zed Other", Role.OWNER),
    }
    browsers: dict[str, TestClient] = {}

    def browser(who: str) -> TestClient:
        if who not in browsers:
            browsers[who] = new_client()
            browsers[who].cookies.update(browser_cookie(settings, people[who]))
        return browsers[who]

    return Scene(
        db=db,
        settings=settings,
        workspace=workspace,
        channel=_channel(db, workspace),
        ids={who: user.id for who, user in people.items()},
        browser=browser,
    )


def _no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert not re.search(r'\sstyle="', html)


def _row_ids(html: str) -> list[str]:
    return re.findall(r'<li id="row-([0-9a-f-]{36})"', html)


HTMX = {"HX-Request": "true"}


# -- the list ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["ana", "mia", "ali"])
def test_the_inbox_renders_for_everyone_who_reads_it(scene: Scene, who: str) -> None:
    first = scene.ingest("Where is my order? It is late and I am upset", who="carla")
    scene.ingest("Love the new roast!", who="dan")
    client = scene.browser(who)
    page = client.get(f"{scene.ws}/inbox")
    assert page.status_code == 200
    _no_inline_code(page.text)
    assert f'href="{scene.ws}/inbox" aria-current="page"' in page.text
    text = text_of(page)
    assert "Carla Diaz" in text
    assert "Dan Diaz" in text
    assert "Where is my order?" in text
    assert len(_row_ids(page.text)) == 2
    opened = client.get(f"{scene.ws}/inbox/{first}")
    assert opened.status_code == 200
    _no_inline_code(opened.text)
    body = text_of(opened)
    assert "Where is my order? It is late and I am upset" in body
    assert "carla@social.example" in body
    works = who != "ali"
    assert ("Send reply" in body) is works
    assert ("Assign to me" in body) is works
    assert ('id="inbox-bulk"' in opened.text) is works


def test_an_approver_has_no_inbox(scene: Scene) -> None:
    conversation = scene.ingest("Hello?")
    carl = scene.browser("carl")
    page = carl.get(f"{scene.ws}/approvals")
    assert f'href="{scene.ws}/inbox"' not in page.text
    assert carl.get(f"{scene.ws}/inbox").status_code == 403
    assert carl.get(f"{scene.ws}/inbox/{conversation}").status_code == 403


def test_another_workspaces_conversation_is_not_found(scene: Scene) -> None:
    conversation = scene.ingest("Private matter")
    zed = scene.browser("zed")
    with scene.db.transaction() as session:
        theirs = workspaces.create_workspace(
            session, name="Other", owner=session.get_one(User, scene.ids["zed"]), actor=CLI
        )
    assert zed.get(f"/w/{theirs.id}/inbox").status_code == 200
    assert zed.get(f"/w/{theirs.id}/inbox/{conversation}").status_code == 404
    assert "Private matter" not in zed.get(f"/w/{theirs.id}/inbox").text
    response = scene.post(
        "zed", f"/w/{theirs.id}/inbox/{conversation}/status", {"status": "closed"}
    )
    assert response.status_code == 404
    response = scene.post(
        "zed", f"/w/{theirs.id}/inbox/{conversation}/reply", {"text": "Hi from elsewhere"}
    )
    assert response.status_code == 404
    assert scene.conversation(conversation).status == "open"
    with scene.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxAction)) == 0
    # Not a member of the first workspace at all: 404 too.
    assert zed.get(f"{scene.ws}/inbox/{conversation}").status_code == 404


def test_tabs_and_filters(scene: Scene) -> None:
    angry = scene.ingest("This is terrible, awful service", who="carla", ago=dt.timedelta(hours=9))
    happy = scene.ingest("Great coffee", who="dan", ago=dt.timedelta(minutes=20))
    closed = scene.ingest("Thanks, all good", who="eve")
    with scene.db.transaction() as session:
        session.get_one(InboxConversation, angry).sentiment_label = "negative"
        session.get_one(InboxConversation, happy).sentiment_label = "positive"
        session.get_one(InboxConversation, closed).status = "closed"
        session.get_one(InboxConversation, happy).assignee_id = scene.ids["mia"]
        session.get_one(InboxConversation, happy).tags = ["beans"]
    mia = scene.browser("mia")

    def rows(query: str) -> set[str]:
        response = mia.get(f"{scene.ws}/inbox{query}")
        assert response.status_code == 200, response.text[:300]
        return set(_row_ids(response.text))

    assert rows("") == {str(angry), str(happy)}
    assert rows("?tab=closed") == {str(closed)}
    assert rows("?tab=all") == {str(angry), str(happy), str(closed)}
    assert rows("?tab=mine") == {str(happy)}
    assert rows("?tab=unassigned") == {str(angry)}
    assert rows("?tab=unanswered") == {str(angry), str(happy)}
    assert rows("?sentiment=negative") == {str(angry)}
    assert rows("?waiting=2") == {str(angry)}
    assert rows("?network=mastodon") == {str(angry), str(happy)}
    assert rows("?network=bluesky") == set()
    assert rows(f"?channel={scene.channel.id}") == {str(angry), str(happy)}
    assert rows(f"?assignee={scene.ids['mia']}") == {str(happy)}
    assert rows("?assignee=none") == {str(angry)}
    assert rows("?tag=beans") == {str(happy)}
    assert rows("?q=terrible") == {str(angry)}
    # The counts in the tabs.
    page = text_of(mia.get(f"{scene.ws}/inbox"))
    for tab in ("Open 2", "Mine 1", "Unanswered 2"):
        assert tab in page
    # A bad filter is explained, and the list falls back to its tab.
    bad = mia.get(f"{scene.ws}/inbox?waiting=soon")
    assert bad.status_code == 200
    assert "give a number" in text_of(bad)
    assert set(_row_ids(bad.text)) == {str(angry), str(happy)}


def test_the_list_is_a_fixed_number_of_queries(scene: Scene) -> None:
    mia = scene.browser("mia")
    for n in range(3):
        scene.ingest(f"Question {n}", who=f"p{n}")
    mia.get(f"{scene.ws}/inbox")  # warm up (session, first-request work)

    def count() -> tuple[int, int]:
        with QueryCounter(scene.db.engine) as counter:
            response = mia.get(f"{scene.ws}/inbox")
        assert response.status_code == 200
        return counter.count, len(_row_ids(response.text))

    small, shown = count()
    assert shown == 3
    for n in range(40):
        conversation = scene.ingest(f"More {n}", who=f"q{n}")
        if n % 2:
            with scene.db.transaction() as session:
                session.get_one(InboxConversation, conversation).assignee_id = scene.ids["leo"]
    large, shown = count()
    assert shown == 43
    assert large == small


# -- one conversation --------------------------------------------------------------------------


def test_status_assignment_and_tags(scene: Scene) -> None:
    conversation = scene.ingest("Do you ship to Lisbon?")
    url = f"{scene.ws}/inbox/{conversation}"
    response = scene.post("mia", f"{url}/assign", {"assignee_id": "me", "back": "?tab=mine"})
    assert response.status_code == 303
    assert response.headers["location"] == f"{url}?tab=mine"
    assert scene.conversation(conversation).assignee_id == scene.ids["mia"]
    page = scene.browser("mia").get(response.headers["location"])
    assert "Assigned to you." in text_of(page)
    scene.post("mia", f"{url}/assign", {"assignee_id": str(scene.ids["leo"])})
    assert scene.conversation(conversation).assignee_id == scene.ids["leo"]
    # An analyst cannot be assigned: refused, nothing changed.
    refused = scene.post("mia", f"{url}/assign", {"assignee_id": str(scene.ids["ali"])})
    assert refused.status_code == 422
    assert "who works the inbox" in text_of(refused)
    assert scene.conversation(conversation).assignee_id == scene.ids["leo"]
    scene.post("mia", f"{url}/assign", {"assignee_id": ""})
    assert scene.conversation(conversation).assignee_id is None

    closed = scene.post("mia", f"{url}/status", {"status": "closed"})
    assert closed.status_code == 303
    assert scene.conversation(conversation).status == "closed"
    assert scene.conversation(conversation).resolved_at is not None
    assert scene.post("mia", f"{url}/status", {"status": "done"}).status_code == 422
    assert scene.conversation(conversation).status == "closed"

    scene.post("mia", f"{url}/tags", {"tags": "Shipping, #Portugal, shipping"})
    assert scene.conversation(conversation).tags == ["shipping", "portugal"]
    too_long = scene.post("mia", f"{url}/tags", {"tags": "x" * 41})
    assert too_long.status_code == 422
    assert "longer than 40" in text_of(too_long)
    assert scene.conversation(conversation).tags == ["shipping", "portugal"]


def test_htmx_changes_return_the_conversation_and_refresh_the_list(scene: Scene) -> None:
    conversation = scene.ingest("Is the shop open on Sunday?")
    url = f"{scene.ws}/inbox/{conversation}"
    pane = scene.browser("mia").get(url, headers={**HTMX, "HX-Target": "conversation"})
    assert pane.status_code == 200
    assert "<html" not in pane.text
    assert f'data-conversation="{conversation}"' in pane.text
    response = scene.post("mia", f"{url}/assign?tab=all", {"assignee_id": "me"}, headers=HTMX)
    assert response.status_code == 200
    assert "sd:inbox-changed" in response.headers["HX-Trigger"]
    assert "Assigned to you." in response.headers["HX-Trigger"]
    assert f'data-conversation="{conversation}"' in response.text
    # The list refreshes itself alone.
    listing = scene.browser("mia").get(
        f"{scene.ws}/inbox?current={conversation}", headers={**HTMX, "HX-Target": "inbox-list"}
    )
    assert listing.text.lstrip().startswith('<section id="inbox-list"')
    assert 'class="ib-row ib-row-open is-unanswered is-current"' in listing.text
    # An error comes back in the pane (htmx swaps only 2xx) with a toast.
    bad = scene.post("mia", f"{url}/notes", {"body": "  "}, headers=HTMX)
    assert bad.status_code == 200
    assert "Write something in the note." in bad.text
    assert '"kind": "error"' in bad.headers["HX-Trigger"]


def test_notes_and_the_persons_card(scene: Scene) -> None:
    first = scene.ingest("Earlier question", who="carla", ago=dt.timedelta(days=3))
    conversation = scene.ingest("Hello again", who="carla", followers=48_200)
    url = f"{scene.ws}/inbox/{conversation}"
    response = scene.post("mia", f"{url}/notes", {"body": "Regular customer, @Leo Park knows"})
    assert response.status_code == 303
    with scene.db.transaction() as session:
        [note] = session.scalars(select(InboxNote)).all()
        assert note.author_id == scene.ids["mia"]
    page = text_of(scene.browser("ali").get(url))
    assert "Regular customer, @Leo Park knows" in page
    assert "Mia Chen" in page
    assert "48,200" in page
    assert "Earlier question" in page
    assert f'href="{scene.ws}/inbox/{first}"' in scene.browser("ali").get(url).text
    empty = scene.post("mia", f"{url}/notes", {"body": ""})
    assert empty.status_code == 422
    assert "Write something in the note." in text_of(empty)
    saved = scene.post(
        "mia", f"{url}/contact", {"contact_tags": "VIP, wholesale", "contact_notes": "Owns a café"}
    )
    assert saved.status_code == 303
    page = scene.browser("mia").get(url).text
    assert 'value="vip, wholesale"' in page
    assert "Owns a café" in page


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("status", {"status": "closed"}),
        ("assign", {"assignee_id": "me"}),
        ("tags", {"tags": "x"}),
        ("notes", {"body": "hello"}),
        ("reply", {"text": "Hi!"}),
        ("items/{item}/like", {}),
        ("contact", {"contact_tags": "x"}),
    ],
)
def test_an_analyst_reads_but_cannot_act(scene: Scene, path: str, data: dict[str, str]) -> None:
    conversation = scene.ingest("Any vegan options?")
    with scene.db.transaction() as session:
        item = session.scalars(select(InboxItem.id)).one()
    before = scene.conversation(conversation)
    url = f"{scene.ws}/inbox/{conversation}/{path.format(item=item)}"
    response = scene.post("ali", url, data)
    assert response.status_code == 403
    after = scene.conversation(conversation)
    assert (after.status, after.assignee_id, after.tags) == (
        before.status,
        before.assignee_id,
        before.tags,
    )
    with scene.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(InboxAction)) == 0
        assert session.scalar(select(func.count()).select_from(InboxNote)) == 0


# -- replies and actions -----------------------------------------------------------------------


def _jobs(scene: Scene) -> list[Job]:
    with scene.db.transaction() as session:
        return list(session.scalars(select(Job).where(Job.kind == ACTION_KIND)))


def test_a_reply_is_queued_once_and_shown_pending(scene: Scene) -> None:
    conversation = scene.ingest("Do you have oat milk?")
    url = f"{scene.ws}/inbox/{conversation}"
    response = scene.post("mia", f"{url}/reply", {"text": "We do! Every day.", "close": "1"})
    assert response.status_code == 303
    with scene.db.transaction() as session:
        [action] = session.scalars(select(InboxAction)).all()
        assert (action.action, action.state, action.text) == (
            "reply",
            "pending",
            "We do! Every day.",
        )
        assert action.job_id is not None
    [job] = _jobs(scene)
    assert job.payload == {"action_id": str(action.id)}
    assert scene.conversation(conversation).status == "closed"
    page = scene.browser("mia").get(response.headers["location"])
    assert "Reply on its way; the conversation is closed." in text_of(page)
    assert 'data-reply-state="pending"' in page.text
    assert "We do! Every day." in text_of(page)


def test_a_reply_too_long_is_refused_and_kept(scene: Scene) -> None:
    conversation = scene.ingest("Tell me everything")
    response = scene.post("mia", f"{scene.ws}/inbox/{conversation}/reply", {"text": "word " * 200})
    assert response.status_code == 422
    assert "Mastodon allows 500" in text_of(response)
    assert "word word word" in response.text  # the text is still in the box
    assert _jobs(scene) == []
    empty = scene.post("mia", f"{scene.ws}/inbox/{conversation}/reply", {"text": "  "})
    assert empty.status_code == 422
    assert "Write the reply." in text_of(empty)


def test_replies_of_a_role_that_needs_approval_wait_for_a_teammate(scene: Scene) -> None:
    with scene.db.transaction() as session:
        workspace = session.get_one(Workspace, scene.workspace.id)
        workspace.approval_mode = "roles"
        workspace.approval_roles = ["manager"]
    conversation = scene.ingest("Can I book a table?")
    url = f"{scene.ws}/inbox/{conversation}"
    page = text_of(scene.browser("mia").get(url))
    assert "Send for approval" in page
    response = scene.post("mia", f"{url}/reply", {"text": "Yes, call us."})
    assert response.status_code == 303
    with scene.db.transaction() as session:
        [action] = session.scalars(select(InboxAction)).all()
    assert action.state == "awaiting_approval"
    assert _jobs(scene) == []
    mine = scene.browser("mia").get(url)
    assert "waits for approval" in text_of(mine)
    assert "Approve and send" not in text_of(mine)
    owner = scene.browser("ana").get(url)
    assert "Approve and send" in text_of(owner)
    approved = scene.post("ana", f"{url}/actions/{action.id}/approve")
    assert approved.status_code == 303
    with scene.db.transaction() as session:
        assert session.get_one(InboxAction, action.id).state == "pending"
    assert len(_jobs(scene)) == 1


def test_like_and_delete_where_the_network_allows(scene: Scene) -> None:
    conversation = scene.ingest("Spam spam spam")
    with scene.db.transaction() as session:
        item = session.scalars(select(InboxItem)).one()
    url = f"{scene.ws}/inbox/{conversation}"
    page = scene.browser("mia").get(url).text
    # Mastodon can like and delete, not hide (Connector.inbox_actions).
    assert f"/items/{item.id}/like" in page
    assert f"/items/{item.id}/delete" in page
    assert f"/items/{item.id}/hide" not in page
    assert scene.post("mia", f"{url}/items/{item.id}/like").status_code == 303
    refused = scene.post("mia", f"{url}/items/{item.id}/hide")
    assert refused.status_code == 422
    assert "cannot hide items on Mastodon" in text_of(refused)
    assert scene.post("mia", f"{url}/items/{item.id}/explode").status_code == 422
    with scene.db.transaction() as session:
        assert [a.action for a in session.scalars(select(InboxAction))] == ["like"]
    assert "Like: Queued" in text_of(scene.browser("mia").get(url))


def test_saved_reply_variables_are_filled_in(scene: Scene) -> None:
    conversation = scene.ingest("Hi, when do you open?", who="carla")
    with scene.db.transaction() as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, scene.ids["mia"]), workspace_id=scene.workspace.id
        )
        reply = saved_replies.create_saved_reply(
            session,
            access=access,
            name="Opening hours",
            text="Hi {first_name}, we open at 8. — {agent_first_name} at {channel}",
        )
    url = f"{scene.ws}/inbox/{conversation}"
    expected = "Hi Carla, we open at 8. — Mia at acme@mastodon.example"
    body = scene.browser("mia").get(f"{url}/saved-replies/{reply.id}").json()
    assert body == {"text": expected}
    # Without JavaScript, "Insert" reloads the conversation with the reply box filled.
    page = scene.browser("mia").get(f"{url}?saved={reply.id}")
    assert f">{expected}</textarea>" in page.text.replace("&#39;", "'")
    assert scene.browser("mia").get(f"{url}/saved-replies/{uuid.uuid4()}").status_code == 404


# -- bulk --------------------------------------------------------------------------------------


def test_bulk_actions_change_all_or_nothing(scene: Scene) -> None:
    ids = [scene.ingest(f"Question {n}", who=f"p{n}") for n in range(3)]
    chosen = [str(i) for i in ids[:2]]
    response = scene.post(
        "mia", f"{scene.ws}/inbox/bulk", {"ids": chosen, "do": "close", "back": "?tab=all"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{scene.ws}/inbox?tab=all"
    assert [scene.conversation(i).status for i in ids] == ["closed", "closed", "open"]
    assert "Close: 2 conversations." in text_of(
        scene.browser("mia").get(response.headers["location"])
    )

    scene.post(
        "mia",
        f"{scene.ws}/inbox/bulk",
        {"ids": chosen, "do": "assign", "assignee_id": str(scene.ids["leo"])},
    )
    assert [scene.conversation(i).assignee_id for i in ids] == [scene.ids["leo"]] * 2 + [None]
    scene.post("mia", f"{scene.ws}/inbox/bulk", {"ids": chosen, "do": "tag", "tag": "Refund"})
    assert [scene.conversation(i).tags for i in ids] == [["refund"], ["refund"], []]

    # One conversation of another workspace among them: nothing changes.
    with scene.db.transaction() as session:
        theirs = workspaces.create_workspace(
            session, name="Other", owner=session.get_one(User, scene.ids["zed"]), actor=CLI
        )
    foreign = scene.ingest("Elsewhere", channel=_channel(scene.db, theirs, "mastodon"))
    refused = scene.post(
        "mia", f"{scene.ws}/inbox/bulk", {"ids": [str(ids[2]), str(foreign)], "do": "close"}
    )
    assert refused.status_code == 303
    assert "not in this workspace. Nothing was changed." in text_of(
        scene.browser("mia").get(refused.headers["location"])
    )
    assert scene.conversation(ids[2]).status == "open"
    assert scene.conversation(foreign).status == "open"
    nothing = scene.post("mia", f"{scene.ws}/inbox/bulk", {"do": "close"})
    page = text_of(scene.browser("mia").get(nothing.headers["location"]))
    assert "Choose at least one conversation. Nothing was changed." in page
    assert (
        scene.post("ali", f"{scene.ws}/inbox/bulk", {"ids": chosen, "do": "open"}).status_code
        == 403
    )
    assert scene.conversation(ids[0]).status == "closed"


# -- saved replies ------------------------------------------------------------------------------


def test_saved_replies_are_written_checked_and_deleted(scene: Scene) -> None:
    base = f"{scene.ws}/inbox/saved-replies"
    page = scene.browser("mia").get(base)
    assert page.status_code == 200
    _no_inline_code(page.text)
    assert "No saved reply yet" in text_of(page)
    created = scene.post("mia", base, {"name": "Thanks", "text": "Thank you {first_name}!"})
    assert created.status_code == 303
    listing = text_of(scene.browser("mia").get(base))
    assert "Saved reply “Thanks” added." in listing
    assert "Thank you Carla!" in listing  # the sample as a customer reads it
    unknown = scene.post("mia", base, {"name": "Bad", "text": "Hi {nickname}"})
    assert unknown.status_code == 422
    assert "Unknown variable {nickname}" in text_of(unknown)
    assert "Hi {nickname}" in unknown.text  # kept in the form
    twice = scene.post("mia", base, {"name": "Thanks", "text": "Again"})
    assert twice.status_code == 409
    assert "exists already" in text_of(twice)
    with scene.db.transaction() as session:
        [reply] = session.scalars(select(saved_replies.SavedReply)).all()
    edited = scene.post("mia", f"{base}/{reply.id}", {"name": "Thanks", "text": "Cheers {name}"})
    assert edited.status_code == 303
    empty = scene.post("mia", f"{base}/{reply.id}", {"name": "Thanks", "text": ""})
    assert empty.status_code == 422
    assert "Write the reply's text." in text_of(empty)
    with scene.db.transaction() as session:
        assert session.get_one(saved_replies.SavedReply, reply.id).text == "Cheers {name}"
    assert scene.browser("ali").get(base).status_code == 403
    assert scene.post("ali", base, {"name": "X", "text": "Y"}).status_code == 403
    assert scene.post("mia", f"{base}/{reply.id}/delete").status_code == 303
    with scene.db.transaction() as session:
        assert session.scalars(select(saved_replies.SavedReply)).all() == []


# -- service levels -----------------------------------------------------------------------------

GOOD_SETTINGS = {
    "timezone": "Europe/Lisbon",
    "mode": "hours",
    "day_mon": "09:00-12:30, 13:30-18:00",
    "day_tue": "9:00-18:00",
    "day_wed": "09:00-18:00",
    "day_thu": "09:00-18:00",
    "day_fri": "09:00-17:00",
    "day_sat": "",
    "day_sun": "",
    "holidays": "2026-12-25\n2027-01-01",
    "first_response_minutes": "60",
    "resolution_minutes": "1440",
    "alert_webhook_url": "https://chat.example/hooks/inbox",
    "alert_webhook_secret": "s3cret-value",
}


def _stored_settings(scene: Scene) -> dict[str, object] | None:
    with scene.db.transaction() as session:
        found = session.scalars(select(InboxSettings)).first()
        if found is None:
            return None
        return {
            "timezone": found.timezone,
            "weekly": found.weekly_hours,
            "holidays": found.holidays,
            "first": found.first_response_minutes,
            "resolution": found.resolution_minutes,
            "webhook": found.alert_webhook_url,
            "secret": found.alert_webhook_secret_id is not None,
        }


def test_business_hours_and_targets_are_saved(scene: Scene) -> None:
    url = f"{scene.ws}/inbox/settings"
    page = scene.browser("ana").get(url)
    assert page.status_code == 200
    _no_inline_code(page.text)
    saved = scene.post("ana", url, GOOD_SETTINGS)
    assert saved.status_code == 303, text_of(saved)
    assert _stored_settings(scene) == {
        "timezone": "Europe/Lisbon",
        "weekly": {
            "mon": [["09:00", "12:30"], ["13:30", "18:00"]],
            "tue": [["09:00", "18:00"]],
            "wed": [["09:00", "18:00"]],
            "thu": [["09:00", "18:00"]],
            "fri": [["09:00", "17:00"]],
            "sat": [],
            "sun": [],
        },
        "holidays": ["2026-12-25", "2027-01-01"],
        "first": 60,
        "resolution": 1440,
        "webhook": "https://chat.example/hooks/inbox",
        "secret": True,
    }
    again = scene.browser("ana").get(url)
    assert "Service levels saved." in text_of(again)
    assert 'value="09:00-12:30, 13:30-18:00"' in again.text
    assert "s3cret-value" not in again.text  # a secret is never shown back
    # Around the clock, no targets.
    scene.post("ana", url, {"timezone": "UTC", "mode": "always", "alert_webhook_url": ""})
    stored = _stored_settings(scene)
    assert stored is not None
    assert (stored["weekly"], stored["first"], stored["secret"]) == ({}, None, False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"day_tue": "9 to 5"}, "Tuesday: write the hours like 09:00-17:00"),
        ({"day_wed": "18:00-09:00"}, "Wednesday: 18:00-09:00 closes before it opens"),
        ({"day_mon": "09:00-13:00, 12:00-17:00"}, "Monday: intervals overlap"),
        ({"day_mon": "25:00-26:00"}, "Monday: '25:00' is not a time like 09:00"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone 'Mars/Olympus'"),
        ({"holidays": "Christmas"}, "'Christmas' is not a date like 2026-12-25"),
        ({"first_response_minutes": "an hour"}, "First response: give a whole number of minutes"),
        ({"resolution_minutes": "0"}, "The resolution target is between 1 and"),
        ({"alert_webhook_url": "ftp://chat.example"}, "The alert webhook must be an http(s) URL"),
        (
            {f"day_{d}": "" for d in ("mon", "tue", "wed", "thu", "fri")},
            "give the hours of at least one day",
        ),
    ],
)
def test_bad_service_levels_are_refused_and_nothing_changes(
    scene: Scene, change: dict[str, str], message: str
) -> None:
    url = f"{scene.ws}/inbox/settings"
    assert scene.post("ana", url, GOOD_SETTINGS).status_code == 303
    before = _stored_settings(scene)
    refused = scene.post("ana", url, {**GOOD_SETTINGS, "first_response_minutes": "30", **change})
    assert refused.status_code == 422
    text = text_of(refused)
    assert message.lower() in text.lower()
    assert "Nothing was saved." in text
    assert _stored_settings(scene) == before
    # What was typed is still in the form.
    for value in change.values():
        if value and "\n" not in value:
            assert f'value="{value}"' in refused.text or value in refused.text


def test_only_owners_and_admins_change_service_levels(scene: Scene) -> None:
    url = f"{scene.ws}/inbox/settings"
    page = scene.browser("mia").get(url)
    assert page.status_code == 200
    assert "Only owners and admins can change these settings." in text_of(page)
    assert "Save service levels" not in text_of(page)
    assert scene.post("mia", url, GOOD_SETTINGS).status_code == 403
    assert _stored_settings(scene) is None


# -- reports -------------------------------------------------------------------------------------


def test_the_report_page_and_its_csv(scene: Scene) -> None:
    answered = scene.ingest("Where is my parcel?", who="carla", ago=dt.timedelta(hours=3))
    with scene.db.transaction() as session:
        conversation = session.get_one(InboxConversation, answered)
        external = conversation.external_id
    scene.ingest("On its way!", from_us=True, conversation=external, ago=dt.timedelta(hours=2))
    scene.ingest("Love it", who="dan", ago=dt.timedelta(hours=1))
    url = f"{scene.ws}/inbox/reports"
    page = scene.browser("ali").get(url)
    assert page.status_code == 200
    _no_inline_code(page.text)
    text = text_of(page)
    assert "Conversations 2" in text
    assert "First response, median 1h 00m" in text
    assert "Mastodon · acme@mastodon.example" in text
    by_member = text_of(scene.browser("ali").get(f"{url}?group=member&days=7"))
    assert "Unassigned" in by_member
    bad = scene.browser("ali").get(f"{url}?since=yesterday")
    assert bad.status_code == 422
    assert "Give the dates as YYYY-MM-DD" in text_of(bad)
    export = scene.browser("ali").get(f"{url}/export.csv?days=7&group=channel")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "inbox-channel" in export.headers["content-disposition"]
    lines = export.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("group,label,inbound_items,conversations")
    assert lines[-1].startswith("total,All,2,2,1")
    assert scene.browser("carl").get(url).status_code == 403
    assert scene.browser("carl").get(f"{url}/export.csv").status_code == 403


def test_the_sidebar_badge_counts_unanswered_conversations(scene: Scene) -> None:
    scene.ingest("One")
    waiting = scene.ingest("Two")
    answered = scene.ingest("Three")
    with scene.db.transaction() as session:
        session.get_one(InboxConversation, waiting).status = "pending"
        session.get_one(InboxConversation, answered).awaiting_since = None
    badge = templates.get_template("inbox_nav_count.html")
    with scene.db.transaction() as session:
        workspace = session.get_one(Workspace, scene.workspace.id)
        mia = session.get_one(User, scene.ids["mia"])
        carl = session.get_one(User, scene.ids["carl"])
        shown = badge.render(
            shell=Shell(user=mia, memberships=[], current=workspace, role=Role.MANAGER)
        )
        hidden = badge.render(
            shell=Shell(user=carl, memberships=[], current=workspace, role=Role.APPROVER)
        )
    assert '>2<span class="visually-hidden"> unanswered</span>' in shown
    assert hidden.strip() == ""


def test_conversations_past_the_first_response_target_are_flagged(scene: Scene) -> None:
    late = scene.ingest("Anyone?", who="carla", ago=dt.timedelta(hours=3))
    scene.ingest("Just now", who="dan", ago=dt.timedelta(minutes=5))
    mia = scene.browser("mia")
    assert "Overdue" not in text_of(mia.get(f"{scene.ws}/inbox"))
    with scene.db.transaction() as session:
        session.add(
            InboxSettings(
                workspace_id=scene.workspace.id, timezone="UTC", first_response_minutes=60
            )
        )
    listing = mia.get(f"{scene.ws}/inbox").text
    rows = dict(zip(_row_ids(listing), listing.split('<li id="row-')[1:], strict=True))
    assert "Overdue" in rows[str(late)]
    assert sum("Overdue" in row for row in rows.values()) == 1
    assert "Overdue" in text_of(mia.get(f"{scene.ws}/inbox/{late}"))


@pytest.mark.parametrize(
    "suffix",
    [
        "/inbox",
        "/inbox/saved-replies",
        "/inbox/settings",
        "/inbox/reports",
        "/inbox/reports/export.csv",
    ],
)
def test_the_inbox_pages_of_another_workspace_are_not_found(scene: Scene, suffix: str) -> None:
    zed = scene.browser("zed")
    assert zed.get(f"{scene.ws}{suffix}").status_code == 404
    assert zed.get(f"/w/{uuid.uuid4()}{suffix}").status_code == 404


def test_saved_replies_of_another_workspace_are_not_found(scene: Scene) -> None:
    conversation = scene.ingest("Hi")
    with scene.db.transaction() as session:
        theirs = workspaces.create_workspace(
            session, name="Other", owner=session.get_one(User, scene.ids["zed"]), actor=CLI
        )
        access = workspaces.access_for(
            session, user=session.get_one(User, scene.ids["zed"]), workspace_id=theirs.id
        )
        foreign = saved_replies.create_saved_reply(
            session, access=access, name="Secret", text="Our secret answer"
        )
    base = f"{scene.ws}/inbox"
    mia = scene.browser("mia")
    assert mia.get(f"{base}/{conversation}/saved-replies/{foreign.id}").status_code == 404
    assert mia.get(f"{base}/{conversation}?saved={foreign.id}").status_code == 404
    edited = scene.post("mia", f"{base}/saved-replies/{foreign.id}", {"name": "Mine", "text": "x"})
    assert edited.status_code == 404
    assert scene.post("mia", f"{base}/saved-replies/{foreign.id}/delete").status_code == 404
    with scene.db.transaction() as session:
        kept = session.get_one(saved_replies.SavedReply, foreign.id)
        assert (kept.name, kept.text) == ("Secret", "Our secret answer")


def test_a_failed_reply_shows_why_and_can_be_retried(scene: Scene) -> None:
    conversation = scene.ingest("Hello?")
    url = f"{scene.ws}/inbox/{conversation}"
    scene.post("mia", f"{url}/reply", {"text": "Hi there"})
    with scene.db.transaction() as session:
        action = session.scalars(select(InboxAction)).one()
        action.state, action.job_id = "failed", None
        action.last_error = "the status is too long for this instance"
    page = text_of(scene.browser("mia").get(url))
    assert "Failed" in page
    assert "The status is too long for this instance." in page
    assert scene.post("ali", f"{url}/actions/{action.id}/retry").status_code == 403
    retried = scene.post("mia", f"{url}/actions/{action.id}/retry")
    assert retried.status_code == 303
    with scene.db.transaction() as session:
        again = session.get_one(InboxAction, action.id)
        assert again.state == "pending"
        assert again.job_id is not None
    # An action is reached only through its own conversation.
    other = scene.ingest("Another")
    wrong = scene.post("mia", f"{scene.ws}/inbox/{other}/actions/{action.id}/retry")
    assert wrong.status_code == 404


def test_a_rejected_reply_tells_its_author_why(scene: Scene) -> None:
    with scene.db.transaction() as session:
        workspace = session.get_one(Workspace, scene.workspace.id)
        workspace.approval_mode = "roles"
        workspace.approval_roles = ["manager"]
    conversation = scene.ingest("Is it vegan?")
    url = f"{scene.ws}/inbox/{conversation}"
    scene.post("mia", f"{url}/reply", {"text": "Probably!"})
    with scene.db.transaction() as session:
        action = session.scalars(select(InboxAction)).one()
    # Mia cannot approve her own reply; nor can Leo (his replies need approval too).
    assert scene.post("mia", f"{url}/actions/{action.id}/approve").status_code == 422
    assert scene.post("leo", f"{url}/actions/{action.id}/approve").status_code == 422
    rejected = scene.post(
        "ana", f"{url}/actions/{action.id}/reject", {"reason": "Check the recipe first"}
    )
    assert rejected.status_code == 303
    page = text_of(scene.browser("mia").get(url))
    assert "Rejected" in page
    assert "Check the recipe first." in page
    assert _jobs(scene) == []


def test_an_inbox_without_channels_says_where_to_start(scene: Scene) -> None:
    with scene.db.transaction() as session:
        session.delete(session.get_one(Channel, scene.channel.id))
    page = scene.browser("mia").get(f"{scene.ws}/inbox")
    assert "No channel connected yet" in text_of(page)
    assert f'href="{scene.ws}/channels"' in page.text


def test_a_reply_to_one_message_of_the_thread(scene: Scene) -> None:
    conversation = scene.ingest("First question", who="carla", conversation="thread-1")
    scene.ingest("Second question", who="dan", conversation="thread-1", ago=dt.timedelta(0))
    other = scene.ingest("Elsewhere")
    with scene.db.transaction() as session:
        first = session.scalars(select(InboxItem).where(InboxItem.text == "First question")).one()
        foreign = session.scalars(select(InboxItem).where(InboxItem.conversation_id == other)).one()
    url = f"{scene.ws}/inbox/{conversation}"
    assert f'data-reply-to="{first.id}"' in scene.browser("mia").get(url).text
    wrong = scene.post("mia", f"{url}/reply", {"text": "Hi", "item_id": str(foreign.id)})
    assert wrong.status_code == 422
    assert "No such item in this conversation." in text_of(wrong)
    garbage = scene.post("mia", f"{url}/reply", {"text": "Hi", "item_id": "abc"})
    assert garbage.status_code == 422
    assert scene.post("mia", f"{url}/reply", {"text": "Hi Carla", "item_id": str(first.id)})
    with scene.db.transaction() as session:
        [action] = session.scalars(select(InboxAction)).all()
    assert action.item_id == first.id


def test_opening_a_conversation_is_a_fixed_number_of_queries(scene: Scene) -> None:
    mia = scene.browser("mia")
    conversation = scene.ingest("Start", who="carla", conversation="long")
    url = f"{scene.ws}/inbox/{conversation}"
    scene.post("mia", f"{url}/notes", {"body": "A note"})
    scene.post("mia", f"{url}/reply", {"text": "Pending reply"})
    mia.get(url)

    def count() -> int:
        with QueryCounter(scene.db.engine) as counter:
            assert mia.get(url).status_code == 200
        return counter.count

    small = count()
    for n in range(25):
        scene.ingest(f"More {n}", who=f"p{n}", conversation="long")
        scene.ingest(f"Answer {n}", from_us=True, conversation="long")
        scene.post("mia" if n % 2 else "leo", f"{url}/notes", {"body": f"Note {n}"})
    scene.post("leo", f"{url}/reply", {"text": "Another pending reply"})
    assert count() == small
