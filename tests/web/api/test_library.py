# SPDX-License-Identifier: AGPL-3.0-or-later
"""The library over REST: media search and tags, templates (render), hashtag groups."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts.roles import Role
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent
from tests.media.builders import encode, noise
from tests.web.api.helpers import Person, make_person


def _url(person: Person, path: str) -> str:
    return f"/api/v1/workspaces/{person.workspace.id}{path}"


def _upload(client: TestClient, person: Person, name: str, seed: int) -> str:
    data = encode(noise(20, 10, seed=seed), "PNG")
    response = client.post(
        _url(person, "/media"), headers=person.bearer, files={"file": (name, data, "image/png")}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_media_search_tags_and_delete(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    menu = _upload(client, ana, "menu.png", 1)
    _upload(client, ana, "beans.png", 2)

    patched = client.patch(
        _url(ana, f"/library/media/{menu}"),
        headers=ana.bearer,
        json={"alt_text": "Our spring menu", "tags": ["Spring", "menus"]},
    )
    assert patched.status_code == 200
    assert patched.json()["tags"] == ["spring", "menus"]
    assert patched.json()["uses"] == 0

    found = client.get(_url(ana, "/library/media?q=spring"), headers=ana.bearer).json()
    assert (found["total"], [m["filename"] for m in found["items"]]) == (1, ["menu.png"])
    by_tag = client.get(_url(ana, "/library/media?tag=menus&type=image"), headers=ana.bearer)
    assert [m["id"] for m in by_tag.json()["items"]] == [menu]
    assert client.get(_url(ana, "/library/media?type=pdf"), headers=ana.bearer).status_code == 422
    tags = client.get(_url(ana, "/library/tags"), headers=ana.bearer).json()
    assert tags == [{"tag": "menus", "count": 1}, {"tag": "spring", "count": 1}]

    too_many = client.patch(
        _url(ana, f"/library/media/{menu}"),
        headers=ana.bearer,
        json={"tags": [f"t{i}" for i in range(21)]},
    )
    assert too_many.status_code == 422

    assert client.delete(_url(ana, f"/library/media/{menu}"), headers=ana.bearer).status_code == 204
    assert client.delete(_url(ana, f"/library/media/{menu}"), headers=ana.bearer).status_code == 404
    with db.transaction() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"media.update", "media.delete"} <= actions


def test_templates_render_with_clear_errors(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    created = client.post(
        _url(ana, "/templates"),
        headers=ana.bearer,
        json={"name": "Special", "text": "Today: {dish} at {price}"},
    )
    assert created.status_code == 201
    template = created.json()
    assert template["variables"] == ["dish", "price"]
    render = _url(ana, f"/templates/{template['id']}/render")

    ok = client.post(render, headers=ana.bearer, json={"values": {"dish": "Ramen", "price": "12"}})
    assert ok.json() == {"text": "Today: Ramen at 12"}
    missing = client.post(render, headers=ana.bearer, json={"values": {"dish": "Ramen"}})
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == "give a value for {price}"
    assert missing.json()["error"]["field"] == "values"
    unknown = client.post(
        render, headers=ana.bearer, json={"values": {"dish": "R", "price": "1", "cost": "2"}}
    )
    assert "no variable {cost}; it has {dish}, {price}" in unknown.json()["error"]["message"]

    preview = client.post(
        _url(ana, "/templates/preview"),
        headers=ana.bearer,
        json={"text": "Hi {name}", "values": {}},
    )
    assert preview.json() == {"variables": ["name"], "text": None, "missing": ["name"]}
    broken = client.post(
        _url(ana, "/templates/preview"), headers=ana.bearer, json={"text": "Hi {name", "values": {}}
    )
    assert broken.status_code == 422

    patched = client.patch(
        _url(ana, f"/templates/{template['id']}"), headers=ana.bearer, json={"text": "Now {x}"}
    )
    assert patched.json()["variables"] == ["x"]
    assert [t["name"] for t in client.get(_url(ana, "/templates"), headers=ana.bearer).json()] == [
        "Special"
    ]
    gone = client.delete(_url(ana, f"/templates/{template['id']}"), headers=ana.bearer)
    assert gone.status_code == 204
    assert (
        client.get(_url(ana, f"/templates/{template['id']}"), headers=ana.bearer).status_code == 404
    )


def test_hashtag_groups(client: TestClient, db: Database) -> None:
    ana = make_person(db, "ana@example.com", "Acme")
    bad = client.post(
        _url(ana, "/hashtag-groups"), headers=ana.bearer, json={"name": "C", "hashtags": ["coffee"]}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "hashtags"
    created = client.post(
        _url(ana, "/hashtag-groups"),
        headers=ana.bearer,
        json={"name": "Coffee", "hashtags": ["#coffee", "#Coffee", "#espresso"]},
    ).json()
    assert created["hashtags"] == ["#coffee", "#espresso"]
    url = _url(ana, f"/hashtag-groups/{created['id']}")
    assert client.patch(url, headers=ana.bearer, json={"name": "Café"}).json()["name"] == "Café"
    assert client.get(url, headers=ana.bearer).json()["hashtags"] == ["#coffee", "#espresso"]
    assert len(client.get(_url(ana, "/hashtag-groups"), headers=ana.bearer).json()) == 1
    assert client.delete(url, headers=ana.bearer).status_code == 204


def test_readers_read_and_cannot_write(client: TestClient, db: Database) -> None:
    dan = make_person(db, "dan@example.com", "Acme", role=Role.ANALYST)
    assert client.get(_url(dan, "/templates"), headers=dan.bearer).status_code == 200
    assert client.get(_url(dan, "/library/media"), headers=dan.bearer).status_code == 200
    refused = client.post(
        _url(dan, "/templates"), headers=dan.bearer, json={"name": "x", "text": "y"}
    )
    assert refused.status_code == 403
    refused = client.post(
        _url(dan, "/hashtag-groups"), headers=dan.bearer, json={"name": "x", "hashtags": ["#y"]}
    )
    assert refused.status_code == 403
