# SPDX-License-Identifier: AGPL-3.0-or-later
"""The publishing API end to end, against the fake Mastodon instance."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.handlers import build_handlers
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Post
from socialdesk.worker import Worker
from tests.fakes.mastodon import MastodonFake
from tests.web.api.helpers import Person, make_person


@pytest.fixture
def fake() -> MastodonFake:
    return MastodonFake()


@pytest.fixture
def network(client: TestClient, fake: MastodonFake) -> Iterator[NetworkRuntime]:
    runtime = NetworkRuntime(transport_factory=fake.transport)
    client.app.state.network = runtime  # type: ignore[attr-defined]
    yield runtime
    runtime.close()


def _connect(client: TestClient, person: Person, fake: MastodonFake, username: str) -> dict:  # type: ignore[type-arg]
    _account, token = fake.create_account(username)
    response = client.post(
        f"/api/v1/workspaces/{person.workspace.id}/channels",
        json={"network": "mastodon", "base_url": fake.base_url, "secret": token},
        headers=person.bearer,
    )
    assert response.status_code == 201, response.text
    assert token not in response.text
    return response.json()  # type: ignore[no-any-return]


def _work(db: Database, settings: Settings, network: NetworkRuntime) -> None:
    handlers = build_handlers(db=db, settings=settings, vault=Vault(settings), network=network)
    Worker(db, handlers, concurrency=2, poll_seconds=0.05).run_once()


def test_connect_post_and_see_it_published(
    client: TestClient,
    db: Database,
    settings: Settings,
    fake: MastodonFake,
    network: NetworkRuntime,
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    channel = _connect(client, ana, fake, "alice")
    assert channel["status"] == "active"
    assert channel["handle"].startswith("alice@")
    base = f"/api/v1/workspaces/{ana.workspace.id}"
    listed = client.get(f"{base}/channels", headers=ana.bearer).json()
    assert [c["id"] for c in listed] == [channel["id"]]

    created = client.post(
        f"{base}/posts",
        json={"text": "Our spring menu is here", "channels": [{"channel_id": channel["id"]}]},
        headers=ana.bearer,
    )
    assert created.status_code == 201, created.text
    post = created.json()
    assert post["status"] == "scheduled"
    _work(db, settings, network)
    shown = client.get(f"{base}/posts/{post['id']}", headers=ana.bearer).json()
    assert shown["status"] == "published"
    [delivery] = shown["deliveries"]
    assert delivery["state"] == "published"
    assert delivery["url"].startswith(fake.base_url)
    account = fake.account_named("alice")
    assert account is not None
    assert fake.count_statuses(account.id) == 1


def test_wrong_token_connects_nothing(
    client: TestClient, db: Database, fake: MastodonFake, network: NetworkRuntime
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/channels",
        json={"network": "mastodon", "base_url": fake.base_url, "secret": "not-a-token"},
        headers=ana.bearer,
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "auth_expired"
    assert "not-a-token" not in response.text
    assert (
        client.get(f"/api/v1/workspaces/{ana.workspace.id}/channels", headers=ana.bearer).json()
        == []
    )


def test_a_post_that_breaks_the_rules_lists_every_problem_and_saves_nothing(
    client: TestClient, db: Database, fake: MastodonFake, network: NetworkRuntime
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    channel = _connect(client, ana, fake, "alice")
    response = client.post(
        f"/api/v1/workspaces/{ana.workspace.id}/posts",
        json={
            "text": "x" * 600,
            "channels": [{"channel_id": channel["id"], "options": {"thread": ["", "ok"]}}],
        },
        headers=ana.bearer,
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "600 characters long; Mastodon allows 500" in message
    assert "thread part 2 is empty" in message
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0


def test_validate_endpoint_uses_the_instance_limit(
    client: TestClient, db: Database, fake: MastodonFake, network: NetworkRuntime
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    fake.limits.max_characters = 1000
    channel = _connect(client, ana, fake, "alice")
    body = {"network": "mastodon", "text": "y" * 700}
    url = f"/api/v1/workspaces/{ana.workspace.id}/posts/validate"
    generic = client.post(url, json=body, headers=ana.bearer).json()
    assert generic["limit"] == 500
    assert generic["ok"] is False
    instance = client.post(
        url, json={**body, "channel_id": channel["id"]}, headers=ana.bearer
    ).json()
    assert instance["limit"] == 1000
    assert instance["ok"] is True


def test_csv_import_is_all_or_nothing(
    client: TestClient, db: Database, fake: MastodonFake, network: NetworkRuntime
) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    channel = _connect(client, ana, fake, "alice")
    url = f"/api/v1/workspaces/{ana.workspace.id}/posts/import"
    bad = (
        "channel,text,at,tz\n"
        f"{channel['id']},Monday coffee,2099-03-02T09:00,Europe/Paris\n"
        f"{channel['id']},{'z' * 501},2099-03-03T09:00,Europe/Paris\n"
        f"nobody,Hello,2099-03-04T09:00,Mars/Base\n"
    )
    rejected = client.post(url, files={"file": ("posts.csv", bad, "text/csv")}, headers=ana.bearer)
    assert rejected.status_code == 422
    rows = rejected.json()["error"]["details"]["rows"]
    assert [row["ok"] for row in rows] == [True, False, False]
    assert rows[1]["row"] == 3
    assert "Mastodon allows 500" in rows[1]["errors"][0]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0

    good = (
        "channel,text,at,tz\n"
        f"{channel['id']},Monday coffee,2099-03-02T09:00,Europe/Paris\n"
        f"{channel['handle']},Tuesday tea,2099-03-03T09:00+00:00,\n"
    )
    accepted = client.post(url, files={"file": ("posts.csv", good, "text/csv")}, headers=ana.bearer)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["imported"] == 2
    posts = client.get(f"/api/v1/workspaces/{ana.workspace.id}/posts", headers=ana.bearer).json()
    # 09:00 in Paris in March is 08:00 UTC.
    assert [p["scheduled_at"] for p in posts] == ["2099-03-02T08:00:00Z", "2099-03-03T09:00:00Z"]


def test_media_upload_is_typed_by_content(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    image = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(image, format="PNG")
    url = f"/api/v1/workspaces/{ana.workspace.id}/media"
    uploaded = client.post(
        url,
        files={"file": ("holiday.jpg", image.getvalue(), "image/jpeg")},
        data={"alt_text": "A teal square"},
        headers=ana.bearer,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["mime_type"] == "image/png"
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (40, 30)
    broken = client.post(
        url, files={"file": ("x.png", b"\x89PNG\r\n\x1a\nbroken", "image/png")}, headers=ana.bearer
    )
    assert broken.status_code == 422
    assert "x.png" in broken.json()["error"]["message"]
    with db.transaction() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("media.upload") == 1
