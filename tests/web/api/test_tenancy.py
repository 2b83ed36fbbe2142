# SPDX-License-Identifier: AGPL-3.0-or-later
"""Invariant 4: no endpoint returns another workspace's data.

The test walks EVERY API route that takes a workspace, as a member of another workspace
(with a token and with a browser session), and gets 403/404 with none of the other
workspace's data. A route with a path parameter this test does not know fails the test,
so new routes cannot slip past it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import invitations, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.storage import Database
from socialdesk.storage.tables import (
    ApiToken,
    Channel,
    ContentTemplate,
    Delivery,
    HashtagGroup,
    InboxAction,
    InboxContact,
    InboxConversation,
    InboxItem,
    MediaAsset,
    Membership,
    Post,
    SavedReply,
    VaultSecret,
)
from socialdesk.storage.types import utcnow
from tests.web.api.helpers import CSRF, Person, browser_cookie, make_person

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/workspaces/{workspace_id}"): {"name": "Pwned"},
    ("POST", "/api/v1/workspaces/{workspace_id}/members"): {
        "email": "ana@example.com",
        "role": "owner",
    },
    ("PATCH", "/api/v1/workspaces/{workspace_id}/members/{membership_id}"): {"role": "approver"},
    ("POST", "/api/v1/workspaces/{workspace_id}/invitations"): {
        "email": "eve@example.com",
        "role": "owner",
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/tokens"): {"name": "stolen"},
    ("POST", "/api/v1/workspaces/{workspace_id}/channels"): {
        "network": "mastodon",
        "base_url": "http://127.0.0.1:9",
        "secret": "x",
    },
    ("PUT", "/api/v1/workspaces/{workspace_id}/channels/{channel_id}/slots"): {
        "slots": [{"weekday": 0, "time": "09:00"}]
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/posts"): {"text": "hi", "channels": []},
    ("POST", "/api/v1/workspaces/{workspace_id}/posts/{post_id}/reschedule"): {
        "at": "2099-01-01T09:00:00Z"
    },
    ("PATCH", "/api/v1/workspaces/{workspace_id}/library/media/{asset_id}"): {"alt_text": "x"},
    ("POST", "/api/v1/workspaces/{workspace_id}/templates"): {"name": "Pwned", "text": "x"},
    ("POST", "/api/v1/workspaces/{workspace_id}/templates/preview"): {"text": "{x}"},
    ("PATCH", "/api/v1/workspaces/{workspace_id}/templates/{template_id}"): {"name": "Pwned"},
    ("POST", "/api/v1/workspaces/{workspace_id}/templates/{template_id}/render"): {"values": {}},
    ("POST", "/api/v1/workspaces/{workspace_id}/hashtag-groups"): {"name": "P", "hashtags": ["#x"]},
    ("PATCH", "/api/v1/workspaces/{workspace_id}/hashtag-groups/{group_id}"): {"name": "Pwned"},
    ("POST", "/api/v1/workspaces/{workspace_id}/posts/validate"): {
        "network": "x",
        "text": "hi",
        "channel_id": "CHANNEL",
    },
    ("PATCH", "/api/v1/workspaces/{workspace_id}/inbox/conversations/{conversation_id}"): {
        "status": "closed"
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/inbox/conversations/bulk"): {
        "conversation_ids": ["CONVERSATION"],
        "status": "closed",
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/inbox/conversations/{conversation_id}/notes"): {
        "body": "pwned"
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/inbox/conversations/{conversation_id}/actions"): {
        "action": "reply",
        "text": "pwned",
    },
    ("PATCH", "/api/v1/workspaces/{workspace_id}/inbox/contacts/{contact_id}"): {"notes": "x"},
    ("POST", "/api/v1/workspaces/{workspace_id}/inbox/saved-replies"): {"name": "P", "text": "x"},
    ("PATCH", "/api/v1/workspaces/{workspace_id}/inbox/saved-replies/{saved_reply_id}"): {
        "text": "pwned"
    },
    ("POST", "/api/v1/workspaces/{workspace_id}/inbox/saved-replies/{saved_reply_id}/render"): {
        "conversation_id": "CONVERSATION"
    },
    ("PUT", "/api/v1/workspaces/{workspace_id}/inbox/settings"): {"first_response_minutes": 1},
}


def _victim_ids(db: Database, victim: Person) -> dict[str, uuid.UUID]:
    with db.transaction() as session:
        access = workspaces.access_for(session, user=victim.user, workspace_id=victim.workspace.id)
        invitation, _ = invitations.create_invitation(
            session, access=access, actor=Actor.cli(), email="new@example.com", role=Role.MANAGER
        )
        membership = session.query(Membership).filter_by(workspace_id=victim.workspace.id).first()
        token = session.query(ApiToken).filter_by(workspace_id=victim.workspace.id).first()
        assert membership is not None
        assert token is not None
        secret = VaultSecret(workspace_id=victim.workspace.id, purpose="p", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=victim.workspace.id,
            network="mastodon",
            external_id="1",
            handle="victor@mastodon.example",
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        post = Post(workspace_id=victim.workspace.id, text="Victim Ltd secret plans", labels=[])
        session.add_all([channel, post])
        session.flush()
        delivery = Delivery(
            workspace_id=victim.workspace.id,
            post_id=post.id,
            channel_id=channel.id,
            text=post.text,
            idempotency_key=uuid.uuid4().hex,
            state="failed",
            options={},
        )
        session.add(delivery)
        asset = MediaAsset(
            workspace_id=victim.workspace.id,
            kind="image",
            mime_type="image/png",
            size_bytes=1,
            sha256="0" * 64,
            storage_path="victim.png",
            original_filename="victim-secret-plans.png",
        )
        template = ContentTemplate(workspace_id=victim.workspace.id, name="Victim", text="{x}")
        group = HashtagGroup(workspace_id=victim.workspace.id, name="Victim", hashtags=["#v"])
        session.add_all([asset, template, group])
        session.flush()
        inbox = _victim_inbox(session, victim.workspace.id, channel.id, victim.user.id)
        return {
            **inbox,
            "asset_id": asset.id,
            "template_id": template.id,
            "group_id": group.id,
            "workspace_id": victim.workspace.id,
            "membership_id": membership.id,
            "invitation_id": invitation.id,
            "token_id": token.id,
            "channel_id": channel.id,
            "post_id": post.id,
            "delivery_id": delivery.id,
        }


def _victim_inbox(
    session: Session, workspace_id: uuid.UUID, channel_id: uuid.UUID, user_id: uuid.UUID
) -> dict[str, uuid.UUID]:
    """A conversation with an item, a contact, an action and a saved reply of the victim."""
    contact = InboxContact(
        workspace_id=workspace_id, network="mastodon", external_id="c1", handle="victim-fan"
    )
    session.add(contact)
    session.flush()
    conversation = InboxConversation(
        workspace_id=workspace_id,
        channel_id=channel_id,
        external_id="conv-1",
        kind="reply",
        contact_id=contact.id,
        subject="Victim Ltd secret plans",
    )
    session.add(conversation)
    session.flush()
    inbox_item = InboxItem(
        workspace_id=workspace_id,
        channel_id=channel_id,
        conversation_id=conversation.id,
        external_id="i1",
        kind="reply",
        contact_id=contact.id,
        text="Victim Ltd secret plans",
        created_at=utcnow(),
        extra={},
    )
    saved = SavedReply(workspace_id=workspace_id, name="Victim", text="Victim Ltd secret plans")
    session.add_all([inbox_item, saved])
    session.flush()
    action = InboxAction(
        workspace_id=workspace_id,
        conversation_id=conversation.id,
        item_id=inbox_item.id,
        channel_id=channel_id,
        action="reply",
        text="Victim Ltd secret plans",
        state="awaiting_approval",
        idempotency_key=uuid.uuid4().hex,
        requested_by_id=user_id,
    )
    session.add(action)
    session.flush()
    return {
        "conversation_id": conversation.id,
        "contact_id": contact.id,
        "saved_reply_id": saved.id,
        "action_id": action.id,
    }


def _body(template: dict[str, Any] | None, ids: dict[str, uuid.UUID]) -> Any:
    """The request body, pointing at the victim's objects wherever it names one."""
    if template is None:
        return None
    body = dict(template)
    if body.get("conversation_ids") == ["CONVERSATION"]:
        body["conversation_ids"] = [str(ids["conversation_id"])]
    if body.get("conversation_id") == "CONVERSATION":
        body["conversation_id"] = str(ids["conversation_id"])
    if body.get("channel_id") == "CHANNEL":
        body["channel_id"] = str(ids["channel_id"])
    if body.get("channels") == []:
        body["channels"] = [{"channel_id": str(ids["channel_id"])}]
    return body


def _workspace_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every documented API route that takes a workspace (from the OpenAPI schema)."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        if "{workspace_id}" in path
        for method in operations
    ]


def _snapshot(db: Database, victim: Person) -> tuple[object, ...]:
    with db.transaction() as session:
        workspace = session.get_one(type(victim.workspace), victim.workspace.id)
        roles = sorted(
            m.role for m in session.query(Membership).filter_by(workspace_id=workspace.id)
        )
        tokens = session.query(ApiToken).filter_by(workspace_id=workspace.id).count()
        return workspace.name, tuple(roles), tokens


@pytest.mark.parametrize("credentials", ["token", "browser"])
def test_every_workspace_route_refuses_a_member_of_another_workspace(
    client: TestClient, db: Database, settings: Settings, credentials: str
) -> None:
    attacker = make_person(db, "ana@example.com", "Attacker Inc")
    victim = make_person(db, "victor@example.com", "Victim Ltd")
    victim_ids = _victim_ids(db, victim)
    before = _snapshot(db, victim)
    if credentials == "token":
        headers = attacker.bearer
    else:
        client.cookies.update(browser_cookie(settings, attacker.user))
        headers = {"X-CSRF-Token": CSRF}

    routes = _workspace_routes(client)
    assert len(routes) >= 12, routes
    secrets_of_victim = [str(v) for v in victim_ids.values()] + ["Victim Ltd", "victor@"]
    assert len(routes) >= 25, routes
    for method, path in routes:
        # Both the other workspace outright, and our own workspace with their objects in it.
        for own_workspace in (False, True):
            ids = dict(victim_ids)
            if own_workspace:
                if path.endswith("{workspace_id}") or path.count("{") == 1:
                    continue
                ids["workspace_id"] = attacker.workspace.id
            url = path
            for name in [part.split("}")[0] for part in path.split("{")[1:]]:
                assert name in ids, f"test_tenancy does not know path parameter {name} of {path}"
                url = url.replace("{" + name + "}", str(ids[name]))
            body = _body(BODIES.get((method, path)), ids)
            response = client.request(method, url, headers=headers, json=body)
            assert response.status_code in (403, 404), (method, url, response.status_code)
            for secret in secrets_of_victim:
                assert secret not in response.text, (method, url, secret)
    assert _snapshot(db, victim) == before


def test_lists_never_include_other_workspaces(
    client: TestClient, db: Database, settings: Settings
) -> None:
    ana = make_person(db, "ana@example.com", "Attacker Inc")
    make_person(db, "victor@example.com", "Victim Ltd")
    for headers in (ana.bearer, {}):
        if not headers:
            client.cookies.update(browser_cookie(settings, ana.user))
        for url in ("/api/v1/me", "/api/v1/workspaces"):
            response = client.get(url, headers=headers)
            assert response.status_code == 200
            assert "Victim" not in response.text
            assert "victor@" not in response.text


def test_a_token_opens_only_its_own_workspace_even_for_a_member_of_both(
    client: TestClient, db: Database
) -> None:
    ana = make_person(db, "ana@example.com", "First")
    with db.transaction() as session:
        second = workspaces.create_workspace(
            session, name="Second", owner=ana.user, actor=Actor.cli()
        )
    response = client.get(f"/api/v1/workspaces/{second.id}/members", headers=ana.bearer)
    assert response.status_code == 404
