# SPDX-License-Identifier: AGPL-3.0-or-later
"""The approvals and notifications API end to end, and what an approver can reach.

The manager calls with an API token; approvers have none (their role cannot make
tokens), so they call with a browser session, as the web app does.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from socialdesk.accounts import members
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.handlers import build_handlers
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Job, Membership, User
from socialdesk.storage.types import utcnow
from socialdesk.worker import Worker
from tests.fakes.mastodon import MastodonFake
from tests.web.api.helpers import CSRF, Person, browser_cookie, make_person


@pytest.fixture
def fake() -> MastodonFake:
    return MastodonFake()


@pytest.fixture
def network(client: TestClient, fake: MastodonFake) -> Iterator[NetworkRuntime]:
    runtime = NetworkRuntime(transport_factory=fake.transport)
    client.app.state.network = runtime  # type: ignore[attr-defined]
    yield runtime
    runtime.close()


@dataclass
class Team:
    """A workspace with an owner, a manager (token), two approvers and an analyst."""

    client: TestClient
    db: Database
    settings: Settings
    network: NetworkRuntime
    fake: MastodonFake
    owner: Person
    mia: Person
    people: dict[str, uuid.UUID]

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.owner.workspace.id}"

    def as_browser(self, who: str) -> dict[str, str]:
        """Headers for a call as ``who`` through a browser session (no token)."""
        with self.db.transaction() as session:
            user = session.get_one(User, self.people[who])
        self.client.cookies.clear()
        self.client.cookies.update(browser_cookie(self.settings, user))
        return {"X-CSRF-Token": CSRF}

    def connect(self, username: str) -> dict[str, Any]:
        _account, token = self.fake.create_account(username)
        response = self.client.post(
            f"{self.base}/channels",
            json={"network": "mastodon", "base_url": self.fake.base_url, "secret": token},
            headers=self.owner.bearer,
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def post(self, channel_id: str, text: str, **extra: Any) -> dict[str, Any]:
        body = {"text": text, "channels": [{"channel_id": channel_id}], **extra}
        response = self.client.post(f"{self.base}/posts", json=body, headers=self.mia.bearer)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def work(self) -> None:
        with self.db.transaction() as session:
            session.execute(update(Job).where(Job.state == "queued").values(due_at=utcnow()))
        handlers = build_handlers(
            db=self.db, settings=self.settings, vault=Vault(self.settings), network=self.network
        )
        Worker(self.db, handlers, concurrency=2, poll_seconds=0.05).run_once()


def _add(db: Database, person: Person, email: str, role: Role, name: str) -> uuid.UUID:
    with db.transaction() as session:
        user = User(email=email, name=name, password_hash="!")
        session.add(user)
        session.flush()
        members.add_user(
            session, workspace_id=person.workspace.id, user=user, role=role, actor=Actor.cli()
        )
        return user.id


@pytest.fixture
def team(
    client: TestClient,
    db: Database,
    settings: Settings,
    network: NetworkRuntime,
    fake: MastodonFake,
) -> Team:
    owner = make_person(db, "olga@example.com", "Acme")
    with db.transaction() as session:
        mia_user = User(email="mia@example.com", name="Mia Chen", password_hash="!")
        session.add(mia_user)
        session.flush()
        members.add_user(
            session,
            workspace_id=owner.workspace.id,
            user=mia_user,
            role=Role.MANAGER,
            actor=Actor.cli(),
        )
        from socialdesk.accounts import tokens, workspaces

        access = workspaces.access_for(session, user=mia_user, workspace_id=owner.workspace.id)
        _token, secret = tokens.create_token(session, access=access, actor=Actor.cli(), name="t")
    mia = Person(user=mia_user, workspace=owner.workspace, token=secret)
    people = {
        "olga": owner.user.id,
        "mia": mia_user.id,
        "carl": _add(db, owner, "carl@client.example", Role.APPROVER, "Carl Client"),
        "cora": _add(db, owner, "cora@client.example", Role.APPROVER, "Cora Client"),
        "dan": _add(db, owner, "dan@example.com", Role.ANALYST, "Dan Data"),
    }
    return Team(
        client=client,
        db=db,
        settings=settings,
        network=network,
        fake=fake,
        owner=owner,
        mia=mia,
        people=people,
    )


def _later(hours: int = 2) -> str:
    return (utcnow() + dt.timedelta(hours=hours)).isoformat()


# -- the flow --------------------------------------------------------------------------------


def test_approve_flow_over_the_api(team: Team) -> None:
    client, base = team.client, team.base
    channel = team.connect("alice")
    refused = client.put(
        f"{base}/approval-settings", json={"mode": "none"}, headers=team.mia.bearer
    )
    assert refused.status_code == 403
    saved = client.put(
        f"{base}/approval-settings",
        json={"mode": "roles", "roles": ["manager"]},
        headers=team.owner.bearer,
    )
    assert saved.json() == {"mode": "roles", "roles": ["manager"]}

    post = team.post(channel["id"], "Spring menu is here", when="at", at=_later())
    assert post["status"] == "in_review"
    assert [d["state"] for d in post["deliveries"]] == ["pending"]

    carl = team.as_browser("carl")
    queue = client.get(f"{base}/approvals", headers=carl)
    assert queue.status_code == 200
    [item] = queue.json()
    assert item["post"]["id"] == post["id"]
    assert item["post"]["copies"][0]["text"] == "Spring menu is here"
    assert item["post"]["copies"][0]["handle"] == channel["handle"]
    assert item["approval"]["requested_by"]["email"] == "mia@example.com"
    assert item["approval"]["approver"] is None

    bell = client.get(f"{base}/notifications", headers=carl).json()
    assert bell["unread"] == 1
    assert bell["items"][0]["kind"] == "approval_requested"
    assert bell["items"][0]["link"] == f"/w/{team.owner.workspace.id}/approvals/{post['id']}"

    decided = client.post(
        f"{base}/posts/{post['id']}/approve", json={"comment": "Lovely"}, headers=carl
    )
    assert decided.status_code == 200, decided.text
    review = decided.json()
    assert review["post"]["status"] == "scheduled"
    [approval] = review["approvals"]
    assert approval["status"] == "approved"
    assert approval["decided_by"]["name"] == "Carl Client"
    assert approval["comment"] == "Lovely"
    again = client.post(f"{base}/posts/{post['id']}/approve", json={}, headers=carl)
    assert again.status_code == 409

    team.work()
    shown = client.get(f"{base}/posts/{post['id']}", headers=team.mia.bearer).json()
    assert shown["status"] == "published"
    account = team.fake.account_named("alice")
    assert account is not None
    assert team.fake.count_statuses(account.id) == 1

    mine = client.get(f"{base}/notifications?unread=true", headers=team.mia.bearer).json()
    assert [n["kind"] for n in mine["items"]] == ["approved"]
    assert client.post(
        f"{base}/notifications/read", json={"all": True}, headers=team.mia.bearer
    ).json() == {"unread": 0}
    with team.db.transaction() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("post.%"))
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["post.schedule", "post.approval_request", "post.approve"]


def test_reject_with_a_comment_over_the_api(team: Team) -> None:
    client, base = team.client, team.base
    channel = team.connect("alice")
    post = team.post(channel["id"], "Spring menu", when="draft")
    sent = client.post(
        f"{base}/posts/{post['id']}/approvals",
        json={"approver_id": str(team.people["carl"]), "note": "For Friday"},
        headers=team.mia.bearer,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["post"]["status"] == "in_review"
    assert [c["body"] for c in sent.json()["comments"]] == ["For Friday"]

    carl = team.as_browser("carl")
    missing = client.post(f"{base}/posts/{post['id']}/reject", json={}, headers=carl)
    assert missing.status_code == 422
    assert missing.json()["error"]["field"] == "comment"
    rejected = client.post(
        f"{base}/posts/{post['id']}/reject",
        json={"comment": "Mention the vegan options too"},
        headers=carl,
    )
    assert rejected.status_code == 200
    assert rejected.json()["post"]["status"] == "draft"

    review = client.get(f"{base}/posts/{post['id']}/review", headers=team.mia.bearer).json()
    assert review["approvals"][-1]["status"] == "rejected"
    assert review["approvals"][-1]["comment"] == "Mention the vegan options too"
    bell = client.get(f"{base}/notifications", headers=team.mia.bearer).json()
    assert bell["items"][0]["kind"] == "rejected"
    assert bell["items"][0]["body"] == "Mention the vegan options too"

    # The author comments back, mentioning Carl; then withdraws a second request.
    comment = client.post(
        f"{base}/posts/{post['id']}/comments",
        json={"body": "Done, @Carl Client — have another look"},
        headers=team.mia.bearer,
    )
    assert comment.status_code == 201
    assert comment.json()["author"]["email"] == "mia@example.com"
    carl = team.as_browser("carl")
    assert client.get(f"{base}/notifications", headers=carl).json()["items"][0]["kind"] == (
        "mentioned"
    )
    client.post(f"{base}/posts/{post['id']}/approvals", json={}, headers=team.mia.bearer)
    taken = client.post(f"{base}/posts/{post['id']}/withdraw", headers=team.mia.bearer)
    assert taken.json()["post"]["status"] == "draft"
    statuses = [
        a["status"]
        for a in client.get(f"{base}/posts/{post['id']}/approvals", headers=team.mia.bearer).json()
    ]
    assert statuses == ["rejected", "withdrawn"]


def test_editing_an_approved_post_over_the_api_sends_it_back(team: Team) -> None:
    client, base = team.client, team.base
    channel = team.connect("alice")
    second = team.connect("bob")
    team.client.put(
        f"{base}/approval-settings", json={"mode": "external"}, headers=team.owner.bearer
    )
    post = team.post(channel["id"], "Spring menu", when="at", at=_later())
    carl = team.as_browser("carl")
    assert (
        client.post(f"{base}/posts/{post['id']}/approve", json={}, headers=carl).status_code == 200
    )

    bad = client.patch(
        f"{base}/posts/{post['id']}", json={"text": "x" * 600}, headers=team.mia.bearer
    )
    assert bad.status_code == 422
    edited = client.patch(
        f"{base}/posts/{post['id']}",
        json={"text": "Spring menu, now with soup", "channel_ids": [channel["id"], second["id"]]},
        headers=team.mia.bearer,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "in_review"
    assert {d["handle"] for d in edited.json()["deliveries"]} == {
        channel["handle"],
        second["handle"],
    }
    statuses = [
        a["status"]
        for a in client.get(f"{base}/posts/{post['id']}/approvals", headers=team.mia.bearer).json()
    ]
    assert statuses == ["approved", "pending"]
    # An approver cannot edit, and nobody can put a post in review on the air.
    carl = team.as_browser("carl")
    assert (
        client.patch(f"{base}/posts/{post['id']}", json={"text": "hi"}, headers=carl).status_code
        == 403
    )
    moved = client.post(
        f"{base}/posts/{post['id']}/reschedule",
        json={"at": utcnow().isoformat()},
        headers=team.owner.bearer,
    )
    assert moved.status_code == 200
    assert moved.json()["status"] == "in_review"
    team.work()
    for username in ("alice", "bob"):
        account = team.fake.account_named(username)
        assert account is not None
        assert team.fake.count_statuses(account.id) == 0


# -- what an approver can reach ------------------------------------------------------------------

#: GET routes an approver may call (under /api/v1/workspaces/{workspace_id}); every other
#: one must refuse them. A new route open to approvers has to be added here on purpose.
APPROVER_MAY_GET = {
    "",
    "/approvals",
    "/approval-settings",
    "/notifications",
    "/tokens",  # their own tokens: always none, approvers cannot make any
    "/posts/{post_id}/review",
    "/posts/{post_id}/approvals",
    "/posts/{post_id}/comments",
}


@pytest.fixture
def sent(team: Team) -> dict[str, Any]:
    """Posts sent to Carl, to any approver, to Cora only, and never sent."""
    client, base = team.client, team.base
    shown = team.connect("alice")
    hidden = team.connect("hiddenchannel")
    made = {
        "carl": team.post(shown["id"], "For Carl", when="draft"),
        "anyone": team.post(shown["id"], "For anyone", when="draft"),
        "cora": team.post(hidden["id"], "Cora only plans", when="draft"),
        "draft": team.post(hidden["id"], "Secret draft plans", when="draft"),
    }
    for key, approver in (("carl", "carl"), ("anyone", None), ("cora", "cora")):
        body = {"approver_id": str(team.people[approver])} if approver else {}
        response = client.post(
            f"{base}/posts/{made[key]['id']}/approvals", json=body, headers=team.mia.bearer
        )
        assert response.status_code == 201, response.text
    return {"posts": made, "hidden_channel": hidden, "shown_channel": shown}


def _get_routes(client: TestClient) -> list[str]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    prefix = "/api/v1/workspaces/{workspace_id}"
    return sorted(
        path.removeprefix(prefix)
        for path, operations in paths.items()
        if path.startswith(prefix) and "get" in operations
    )


def test_an_approver_reaches_nothing_but_what_was_sent_to_them(
    team: Team, sent: dict[str, Any]
) -> None:
    client, base = team.client, team.base
    posts = sent["posts"]
    with team.db.transaction() as session:
        dans = session.scalars(
            select(Membership.id).where(Membership.user_id == team.people["dan"])
        ).one()
    hidden_ids = {
        "workspace_id": team.owner.workspace.id,
        "post_id": posts["cora"]["id"],
        "channel_id": sent["hidden_channel"]["id"],
        "delivery_id": posts["draft"]["deliveries"][0]["id"],
        "membership_id": dans,
    }
    secrets = [
        "Cora only plans",
        "Secret draft plans",
        sent["hidden_channel"]["handle"],
        "dan@example.com",
        "olga@example.com",
        team.fake.base_url,
    ]
    carl = team.as_browser("carl")
    routes = _get_routes(client)
    assert len(routes) >= 12, routes
    for route in routes:
        url = base + route
        for name in [part.split("}")[0] for part in route.split("{")[1:]]:
            url = url.replace("{" + name + "}", str(hidden_ids.get(name, uuid.uuid4())))
        response = client.get(url, headers=carl)
        if route in APPROVER_MAY_GET and "{" not in route:
            assert response.status_code == 200, (url, response.status_code)
        else:
            assert response.status_code in (403, 404), (url, response.status_code)
        for secret in secrets:
            assert secret not in response.text, (url, secret)

    # What was sent to them, they can read; the general post API stays closed.
    for key in ("carl", "anyone"):
        post_id = posts[key]["id"]
        review = client.get(f"{base}/posts/{post_id}/review", headers=carl)
        assert review.status_code == 200
        assert posts[key]["text"] in review.text
        assert client.get(f"{base}/posts/{post_id}", headers=carl).status_code in (403, 404)
    queue = client.get(f"{base}/approvals", headers=carl).json()
    assert sorted(item["post"]["text"] for item in queue) == ["For Carl", "For anyone"]

    # Nothing can be done to a post not sent to them.
    hidden = posts["cora"]["id"]
    for method, path, body in [
        ("POST", f"/posts/{hidden}/approve", {}),
        ("POST", f"/posts/{hidden}/reject", {"comment": "no"}),
        ("POST", f"/posts/{hidden}/comments", {"body": "hello"}),
        ("POST", f"/posts/{hidden}/withdraw", None),
        ("POST", f"/posts/{hidden}/approvals", {}),
        ("PATCH", f"/posts/{hidden}", {"text": "pwned"}),
        ("POST", f"/posts/{posts['draft']['id']}/approve", {}),
    ]:
        response = client.request(method, base + path, json=body, headers=carl)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "Cora only" not in response.text
    cora = team.as_browser("cora")
    review = client.get(f"{base}/posts/{hidden}/review", headers=cora).json()
    assert review["post"]["status"] == "in_review"
    assert review["comments"] == []
    assert review["post"]["text"] == "Cora only plans"


def test_notifications_are_per_member(team: Team, sent: dict[str, Any]) -> None:
    client, base = team.client, team.base
    cora = team.as_browser("cora")
    coras = client.get(f"{base}/notifications", headers=cora).json()
    # Cora heard of the post sent to her and of the one sent to any approver; not Carl's.
    assert coras["unread"] == 2
    ids = [n["id"] for n in coras["items"]]
    carl = team.as_browser("carl")
    assert client.post(f"{base}/notifications/read", json={"ids": ids}, headers=carl).json() == {
        "unread": 2
    }
    cora = team.as_browser("cora")
    assert client.get(f"{base}/notifications", headers=cora).json()["unread"] == 2
    assert client.post(
        f"{base}/notifications/read", json={"ids": ids[:1]}, headers=cora
    ).json() == {"unread": 1}
    too_many = client.post(
        f"{base}/notifications/read",
        json={"ids": [str(uuid.uuid4()) for _ in range(101)]},
        headers=cora,
    )
    assert too_many.status_code == 422


def test_only_people_who_may_approve_are_offered(team: Team) -> None:
    client, base = team.client, team.base
    offered = client.get(f"{base}/approvers", headers=team.mia.bearer).json()
    assert sorted(p["email"] for p in offered) == [
        "carl@client.example",
        "cora@client.example",
        "olga@example.com",
    ]
    client.put(f"{base}/approval-settings", json={"mode": "external"}, headers=team.owner.bearer)
    offered = client.get(f"{base}/approvers", headers=team.mia.bearer).json()
    assert sorted(p["email"] for p in offered) == ["carl@client.example", "cora@client.example"]
    carl = team.as_browser("carl")
    assert client.get(f"{base}/approvers", headers=carl).status_code == 403
