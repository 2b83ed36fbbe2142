# SPDX-License-Identifier: AGPL-3.0-or-later
"""The inbox API: thin routes over the domain, permissions per role, errors that help."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts import tokens, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.inbox.analysis import analyze_pending
from socialdesk.inbox.ingest import ingest_items
from socialdesk.storage import Database
from socialdesk.storage.tables import InboxAction, Job, Membership, Workspace
from socialdesk.text.analyzer import DefaultAnalyzer
from tests.inbox.conftest import T0, author, item, make_channel
from tests.web.api.helpers import Person, make_person


def _seed(db: Database, person: Person) -> None:
    channel = make_channel(db, person.workspace.id)
    with db.transaction() as session:
        ingest_items(
            session,
            channel=channel,
            items=[
                item(
                    conversation="angry",
                    text="Terrible service, I want a refund now!!",
                    who=author("bob", followers=50_000),
                    at=T0,
                ),
                item(
                    conversation="happy",
                    text="Wonderful support, thank you so much",
                    who=author("carla"),
                    at=T0,
                ),
            ],
        )
        analyze_pending(session, analyzer=DefaultAnalyzer())


def _base(person: Person) -> str:
    return f"/api/v1/workspaces/{person.workspace.id}/inbox"


def _conversation_id(client: TestClient, person: Person, search: str) -> str:
    response = client.get(
        f"{_base(person)}/conversations", params={"search": search}, headers=person.bearer
    )
    assert response.status_code == 200, response.text
    [found] = response.json()
    return str(found["id"])


def test_list_filter_open_and_work_a_conversation(client: TestClient, db: Database) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    _seed(db, owner)
    base, headers = _base(owner), owner.bearer
    listed = client.get(f"{base}/conversations", params={"sort": "priority"}, headers=headers)
    assert listed.status_code == 200
    rows = listed.json()
    assert [r["sentiment_label"] for r in rows] == ["negative", "positive"]
    assert rows[0]["contact"]["followers"] == 50_000
    assert rows[0]["priority"] > rows[1]["priority"]
    negative = client.get(
        f"{base}/conversations", params=[("sentiment", "negative")], headers=headers
    ).json()
    assert [r["subject"] for r in negative] == ["Terrible service, I want a refund now!!"]
    conversation_id = rows[0]["id"]

    patched = client.patch(
        f"{base}/conversations/{conversation_id}",
        headers=headers,
        json={"status": "closed", "tags": ["Refund"], "assignee_id": str(owner.user.id)},
    )
    assert patched.status_code == 200, patched.text
    detail = patched.json()
    assert detail["conversation"]["status"] == "closed"
    assert detail["conversation"]["tags"] == ["refund"]
    assert detail["conversation"]["assignee"]["email"] == "olga@example.com"
    assert [i["text"] for i in detail["items"]] == ["Terrible service, I want a refund now!!"]

    note = client.post(
        f"{base}/conversations/{conversation_id}/notes",
        headers=headers,
        json={"body": "Refund approved"},
    )
    assert note.status_code == 201
    bad = client.post(
        f"{base}/conversations/{conversation_id}/notes", headers=headers, json={"body": ""}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "body"

    bulk = client.post(
        f"{base}/conversations/bulk",
        headers=headers,
        json={"conversation_ids": [r["id"] for r in rows], "status": "pending"},
    )
    assert bulk.json() == {"updated": 2}
    filtered = client.get(f"{base}/conversations", params={"status": "pending"}, headers=headers)
    assert len(filtered.json()) == 2

    contact_id = rows[0]["contact"]["id"]
    contact = client.patch(
        f"{base}/contacts/{contact_id}",
        headers=headers,
        json={"notes": "Long-time customer", "tags": ["vip"]},
    )
    assert contact.json()["tags"] == ["vip"]
    profile = client.get(f"{base}/contacts/{contact_id}", headers=headers).json()
    assert profile["conversations"] == [conversation_id]


def test_a_reply_is_queued_once_and_a_viewer_cannot_send_one(
    client: TestClient, db: Database
) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    _seed(db, owner)
    conversation_id = _conversation_id(client, owner, "refund")
    url = f"{_base(owner)}/conversations/{conversation_id}/actions"
    sent = client.post(url, headers=owner.bearer, json={"action": "reply", "text": "On it!"})
    assert sent.status_code == 202, sent.text
    assert sent.json()["state"] == "pending"
    too_long = client.post(url, headers=owner.bearer, json={"text": "x" * 501})
    assert too_long.status_code == 422
    assert "Mastodon allows 500" in too_long.json()["error"]["message"]
    with db.transaction() as session:
        assert len(session.scalars(select(Job).where(Job.kind == "inbox.action")).all()) == 1
        assert len(session.scalars(select(InboxAction)).all()) == 1


def test_replies_of_a_role_that_needs_approval_wait_for_it(
    client: TestClient, db: Database
) -> None:
    manager = make_person(db, "mia@example.com", "Acme", role=Role.MANAGER)
    with db.transaction() as session:
        workspace = session.get_one(Workspace, manager.workspace.id)
        workspace.approval_mode = "roles"
        workspace.approval_roles = ["manager"]
        owner = session.scalars(
            select(Membership).where(
                Membership.workspace_id == workspace.id, Membership.role == "owner"
            )
        ).one()
        access = workspaces.access_for(session, user=owner.user, workspace_id=workspace.id)
        _token, owner_secret = tokens.create_token(
            session, access=access, actor=Actor.cli(), name="owner"
        )
    _seed(db, manager)
    conversation_id = _conversation_id(client, manager, "refund")
    sent = client.post(
        f"{_base(manager)}/conversations/{conversation_id}/actions",
        headers=manager.bearer,
        json={"text": "Sure, refund on its way"},
    )
    assert sent.status_code == 202
    action = sent.json()
    assert action["state"] == "awaiting_approval"
    with db.transaction() as session:
        assert session.scalars(select(Job).where(Job.kind == "inbox.action")).all() == []
    # The manager cannot approve their own reply.
    refused = client.post(
        f"{_base(manager)}/actions/{action['id']}/approve", headers=manager.bearer
    )
    assert refused.status_code == 422
    owner_headers = {"Authorization": f"Bearer {owner_secret}"}
    approved = client.post(
        f"{_base(manager)}/actions/{action['id']}/approve", headers=owner_headers
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "pending"
    with db.transaction() as session:
        assert len(session.scalars(select(Job).where(Job.kind == "inbox.action")).all()) == 1
    # Decided once.
    assert (
        client.post(
            f"{_base(manager)}/actions/{action['id']}/reject", headers=owner_headers
        ).status_code
        == 409
    )


def test_saved_replies_crud_and_render(client: TestClient, db: Database) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    _seed(db, owner)
    base, headers = _base(owner), owner.bearer
    created = client.post(
        f"{base}/saved-replies",
        headers=headers,
        json={"name": "Refund", "text": "Hi {first_name}, refund sent."},
    )
    assert created.status_code == 201, created.text
    reply_id = created.json()["id"]
    assert (
        client.post(
            f"{base}/saved-replies", headers=headers, json={"name": "Refund", "text": "dup"}
        ).status_code
        == 409
    )
    conversation_id = _conversation_id(client, owner, "refund")
    rendered = client.post(
        f"{base}/saved-replies/{reply_id}/render",
        headers=headers,
        json={"conversation_id": conversation_id},
    )
    assert rendered.json() == {"text": "Hi Bob, refund sent."}
    assert (
        client.patch(
            f"{base}/saved-replies/{reply_id}", headers=headers, json={"text": "{nope}"}
        ).status_code
        == 422
    )
    assert client.delete(f"{base}/saved-replies/{reply_id}", headers=headers).status_code == 204
    assert client.get(f"{base}/saved-replies", headers=headers).json() == []


def test_settings_and_reports(client: TestClient, db: Database) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    analyst = make_person(db, "ana@example.com", "Other", role=Role.ANALYST)
    _seed(db, owner)
    base, headers = _base(owner), owner.bearer
    saved = client.put(
        f"{base}/settings",
        headers=headers,
        json={
            "timezone": "Europe/Paris",
            "weekly_hours": {"mon": [["09:00", "17:00"]]},
            "holidays": ["2026-12-25"],
            "first_response_minutes": 60,
            "alert_webhook_url": "https://hooks.example/x",
            "alert_webhook_secret": "do-not-show-me",
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["alert_webhook_secret_set"] is True
    assert "do-not-show-me" not in saved.text
    again = client.get(f"{base}/settings", headers=headers).json()
    assert again["weekly_hours"] == {"mon": [["09:00", "17:00"]]}
    assert (
        client.put(
            f"{base}/settings",
            headers=headers,
            json={"weekly_hours": {"mon": [["18:00", "09:00"]]}},
        ).status_code
        == 422
    )
    params = {"since": "2026-11-01T00:00:00Z", "until": "2026-11-30T00:00:00Z"}
    report = client.get(f"{base}/reports", headers=headers, params=params)
    assert report.status_code == 200, report.text
    assert report.json()["total"]["inbound_items"] == 2
    assert report.json()["business_hours"] is True
    exported = client.get(f"{base}/reports.csv", headers=headers, params=params)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[-1].startswith("total,All,2,")
    naive = client.get(f"{base}/reports", headers=headers, params={"since": "2026-11-01T00:00:00"})
    assert naive.status_code == 422
    # An analyst of another workspace sees nothing of this one.
    assert client.get(f"{base}/reports", headers=analyst.bearer).status_code == 404


def test_a_conversation_that_does_not_exist_is_not_found(client: TestClient, db: Database) -> None:
    owner = make_person(db, "olga@example.com", "Acme")
    response = client.get(f"{_base(owner)}/conversations/{uuid.uuid4()}", headers=owner.bearer)
    assert response.status_code == 404
