# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Library (media, templates, hashtag groups) and Ideas pages, as a browser uses them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image
from sqlalchemy import event, select

from socialdesk.accounts import workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.media.library import asset_path
from socialdesk.publishing import posts
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft
from socialdesk.storage import Database
from socialdesk.storage.tables import (
    AuditEvent,
    Channel,
    ContentTemplate,
    HashtagGroup,
    MediaAsset,
    Post,
    User,
    VaultSecret,
    Workspace,
)
from tests.media.builders import encode, mp4, noise
from tests.web.ui.helpers import (
    add_member,
    follow,
    make_user,
    make_workspace,
    post_form,
    session_csrf,
    sign_in,
    text_of,
)

JPEG = encode(noise(640, 480), "JPEG")
PNG = encode(noise(40, 30), "PNG")
VIDEO = mp4(seconds=83.0, width=1280, height=720)


@dataclass
class Team:
    workspace: Workspace
    owner: User


@pytest.fixture
def team(db: Database, client: TestClient) -> Team:
    ana = make_user(db, "ana@example.com", name="Ana Lima")
    workspace = make_workspace(db, ana)
    sign_in(client, "ana@example.com")
    return Team(workspace=workspace, owner=ana.user)


def make_channel(
    db: Database, workspace: Workspace, handle: str = "acme@mastodon.example"
) -> Channel:
    with db.transaction() as session:
        secret = VaultSecret(workspace_id=workspace.id, purpose="channel", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace.id,
            network="mastodon",
            external_id=handle,
            handle=handle,
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
    return channel


def upload(
    client: TestClient, ws: Workspace, *files: tuple[str, bytes], json: bool = False
) -> Response:
    return client.post(
        f"/w/{ws.id}/library/upload",
        data={"csrf_token": session_csrf(client)},
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        headers={"Accept": "application/json"} if json else {},
    )


def assets(db: Database) -> dict[str, MediaAsset]:
    with db.transaction() as session:
        return {a.original_filename: a for a in session.scalars(select(MediaAsset))}


def use_in_draft(
    db: Database, settings: Settings, team: Team, channel: Channel, *asset_ids: uuid.UUID
) -> Post:
    with db.transaction(workspace_id=team.workspace.id) as session:
        access = workspaces.access_for(
            session, user=session.get_one(User, team.owner.id), workspace_id=team.workspace.id
        )
        return posts.create_post(
            session,
            settings=settings,
            access=access,
            actor=Actor.cli(),
            draft=PostDraft(
                text="Our new roast is here",
                channels=[ChannelContent(channel_id=channel.id)],
                media=[MediaRef(asset_id=a) for a in asset_ids],
                when="draft",
            ),
        )


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def assert_csp_clean(response: Response) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert "<style" not in response.text
    assert not re.search(r'\sstyle="', response.text)


# -- media ---------------------------------------------------------------------------------


def test_an_empty_library_explains_itself(client: TestClient, team: Team) -> None:
    response = client.get(f"/w/{team.workspace.id}/library")
    assert response.status_code == 200
    text = text_of(response)
    assert "Your library is empty" in text
    assert "Drop images and videos here" in text
    for label, slug in (("Library", "library"), ("Ideas", "ideas"), ("Import", "import")):
        assert f'href="/w/{team.workspace.id}/{slug}"' in response.text, label
    assert_csp_clean(response)


def test_upload_without_javascript_adds_every_good_file(
    client: TestClient, team: Team, db: Database, settings: Settings
) -> None:
    response = upload(
        client, team.workspace, ("beans.jpg", JPEG), ("tour.mp4", VIDEO), ("notes.txt", b"hello")
    )
    page = follow(client, response)
    text = text_of(page)
    assert "Added 2 files to the library." in text
    assert "notes.txt" in text  # the refused file is named, with the reason
    stored = assets(db)
    assert sorted(stored) == ["beans.jpg", "tour.mp4"]
    # The grid: a thumbnail for the image, an icon and the duration for the video.
    photo, video = stored["beans.jpg"], stored["tour.mp4"]
    assert f'src="/w/{team.workspace.id}/library/media/{photo.id}/thumb"' in page.text
    assert f"/library/media/{video.id}/thumb" not in page.text
    assert "Video · 1:23" in text
    assert "640 \N{MULTIPLICATION SIGN} 480" in text
    assert "Not used yet" in text
    assert "No alt text" in text
    assert f'href="/w/{team.workspace.id}/compose?media={photo.id}"' in page.text
    assert asset_path(settings, photo).is_file()
    # The same file again is kept once.
    again = follow(client, upload(client, team.workspace, ("beans-copy.jpg", JPEG)))
    assert "1 already in the library" in text_of(again)
    assert len(assets(db)) == 2
    with db.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
        assert actions.count("media.upload") == 2


def test_upload_from_the_script_answers_with_the_card(
    client: TestClient, team: Team, db: Database
) -> None:
    response = upload(client, team.workspace, ("beans.jpg", JPEG), json=True)
    assert response.status_code == 200
    (item,) = response.json()["items"]
    assert item["new"] is True
    assert item["html"].strip().startswith('<li class="lib-card" id="asset-')
    assert "beans.jpg" in item["html"]
    assert (
        upload(client, team.workspace, ("b.jpg", JPEG), json=True).json()["items"][0]["new"]
        is False
    )
    refused = upload(client, team.workspace, ("notes.txt", b"hello"), json=True)
    assert refused.status_code == 422
    assert "notes.txt" in refused.json()["error"]["message"]
    assert len(assets(db)) == 1


def test_files_are_served_to_members_with_type_and_caching(
    client: TestClient, team: Team, db: Database, new_client: object
) -> None:
    upload(client, team.workspace, ("beans.jpg", JPEG), ("tour.mp4", VIDEO))
    stored = assets(db)
    photo, video = stored["beans.jpg"], stored["tour.mp4"]
    base = f"/w/{team.workspace.id}/library/media"

    original = client.get(f"{base}/{photo.id}/file")
    assert original.status_code == 200
    assert original.content == JPEG
    assert original.headers["content-type"] == "image/jpeg"
    assert original.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert original.headers["etag"] == f'"{photo.sha256}"'
    assert original.headers["content-disposition"].startswith("inline")

    thumb = client.get(f"{base}/{photo.id}/thumb")
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/webp"
    assert "private" in thumb.headers["cache-control"]
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert image.format == "WEBP"
        assert max(image.size) == 480
        assert image.size == (480, 360)
    assert client.get(f"{base}/{photo.id}/thumb").content == thumb.content  # made once

    assert client.get(f"{base}/{video.id}/file").headers["content-type"] == "video/mp4"
    assert client.get(f"{base}/{video.id}/thumb").status_code == 404

    # Signed out: no file (the browser is sent to sign in).
    stranger = new_client()  # type: ignore[operator]
    assert stranger.get(f"{base}/{photo.id}/file").status_code == 303


def test_search_filter_and_tags(client: TestClient, team: Team, db: Database) -> None:
    upload(client, team.workspace, ("beans.jpg", JPEG), ("menu.png", PNG), ("tour.mp4", VIDEO))
    stored = assets(db)
    ws = team.workspace.id
    post_form(
        client,
        f"/w/{ws}/library/media/{stored['beans.jpg'].id}",
        {"alt_text": "Roasted beans on a tray", "tags": "Summer, product shots"},
    )
    post_form(client, f"/w/{ws}/library/media/{stored['tour.mp4'].id}", {"tags": "summer"})

    def names(query: str) -> list[str]:
        page = client.get(f"/w/{ws}/library?{query}")
        assert page.status_code == 200
        found = re.findall(r'class="lib-name"[^>]*>([^<]+)<', page.text)
        return sorted(found)

    assert names("q=tray") == ["beans.jpg"]
    assert names("q=SUMMER") == ["beans.jpg", "tour.mp4"]
    assert names("type=video") == ["tour.mp4"]
    assert names("tag=product+shots") == ["beans.jpg"]
    assert names("tag=summer&type=image") == ["beans.jpg"]
    assert names("q=nothing-like-this") == []
    tagged = client.get(f"/w/{ws}/library?tag=summer")
    assert "tagged summer" in text_of(tagged)
    assert 'aria-current="true">summer' in tagged.text
    assert "Nothing matches" in text_of(client.get(f"/w/{ws}/library?q=zzz"))


def test_the_grid_pages_and_never_queries_per_file(
    client: TestClient, team: Team, db: Database, settings: Settings
) -> None:
    channel = make_channel(db, team.workspace)
    files = [(f"n{i}.png", encode(noise(8, 8, seed=i), "PNG")) for i in range(6)]
    upload(client, team.workspace, *files)
    stored = assets(db)
    use_in_draft(db, settings, team, channel, stored["n1.png"].id)
    url = f"/w/{team.workspace.id}/library"
    with count_queries(db) as few:
        assert client.get(url).status_code == 200
    more = [(f"m{i}.png", encode(noise(8, 8, seed=100 + i), "PNG")) for i in range(55)]
    upload(client, team.workspace, *more)
    use_in_draft(
        db, settings, team, channel, *[a.id for name, a in assets(db).items() if name[0] == "m"]
    )
    with count_queries(db) as many:
        first = client.get(url)
    assert len(many) == len(few), (len(few), len(many))
    assert first.text.count('class="lib-card"') == 48
    assert "1\N{EN DASH}48 of 61" in text_of(first)
    second = client.get(f"{url}?page=2")
    assert second.text.count('class="lib-card"') == 13
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text


def test_editing_alt_text_and_tags(client: TestClient, team: Team, db: Database) -> None:
    upload(client, team.workspace, ("beans.jpg", JPEG))
    photo = assets(db)["beans.jpg"]
    url = f"/w/{team.workspace.id}/library/media/{photo.id}"
    page = client.get(url)
    assert page.status_code == 200
    assert "Not used yet" not in text_of(page) or "No post uses this file yet" in text_of(page)
    assert_csp_clean(page)

    saved = follow(client, post_form(client, url, {"alt_text": "  Beans  ", "tags": "a, B, a"}))
    assert "Saved the alt text and tags." in text_of(saved)
    assert (assets(db)["beans.jpg"].alt_text, assets(db)["beans.jpg"].tags) == ("Beans", ["a", "b"])

    too_many = ",".join(f"t{i}" for i in range(21))
    refused = post_form(client, url, {"alt_text": "Changed", "tags": too_many})
    assert refused.status_code == 422
    assert "At most 20 tags per file." in text_of(refused)
    assert too_many in refused.text  # what they typed is kept
    assert assets(db)["beans.jpg"].alt_text == "Beans"  # nothing changed


def test_deleting_a_file_only_when_no_post_uses_it(
    client: TestClient, team: Team, db: Database, settings: Settings
) -> None:
    channel = make_channel(db, team.workspace)
    upload(client, team.workspace, ("beans.jpg", JPEG), ("menu.png", PNG))
    stored = assets(db)
    photo, menu = stored["beans.jpg"], stored["menu.png"]
    use_in_draft(db, settings, team, channel, photo.id)
    use_in_draft(db, settings, team, channel, photo.id)
    ws = team.workspace.id

    detail = client.get(f"/w/{ws}/library/media/{photo.id}")
    assert "Used in 2 posts" in text_of(detail)
    assert "Our new roast is here" in text_of(detail)
    assert re.search(r'<button type="submit" class="button button-danger" disabled', detail.text)
    assert "Used in 2 posts" in text_of(client.get(f"/w/{ws}/library"))

    refused = follow(client, post_form(client, f"/w/{ws}/library/media/{photo.id}/delete"))
    assert "is used in 2 posts" in text_of(refused)
    assert asset_path(settings, photo).exists()

    client.get(f"/w/{ws}/library/media/{menu.id}/thumb")
    gone = follow(client, post_form(client, f"/w/{ws}/library/media/{menu.id}/delete"))
    assert "menu.png was deleted from the library." in text_of(gone)
    assert sorted(assets(db)) == ["beans.jpg"]
    assert not asset_path(settings, menu).exists()
    assert not list((settings.media_dir / "derived" / "thumbnails").glob(f"{menu.sha256}*"))
    assert client.get(f"/w/{ws}/library/media/{menu.id}").status_code == 404


def test_library_export_is_a_safe_csv(client: TestClient, team: Team, db: Database) -> None:
    upload(client, team.workspace, ("beans.jpg", JPEG), ("menu.png", PNG))
    photo = assets(db)["beans.jpg"]
    post_form(
        client,
        f"/w/{team.workspace.id}/library/media/{photo.id}",
        {"alt_text": "=HYPERLINK(evil)", "tags": "summer, sale"},
    )
    response = client.get(f"/w/{team.workspace.id}/library/export.csv?tag=summer")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["file name"] for r in rows] == ["beans.jpg"]
    assert rows[0]["alt text"] == "'=HYPERLINK(evil)"  # a spreadsheet shows it as text
    assert rows[0]["tags"] == "summer|sale"
    assert rows[0]["used in posts"] == "0"
    assert rows[0]["width"] == "640"


# -- templates and hashtag groups -----------------------------------------------------------


def test_templates_are_created_previewed_edited_and_deleted(
    client: TestClient, team: Team, db: Database
) -> None:
    ws = team.workspace.id
    page = client.get(f"/w/{ws}/library/templates")
    assert page.status_code == 200
    assert "No template yet" in text_of(page)
    assert_csp_clean(page)

    # The no-JavaScript preview renders the text with the sample values, saving nothing.
    preview = post_form(
        client,
        f"/w/{ws}/library/templates",
        {
            "name": "Weekly",
            "text": "This week: {dish} for {price}",
            "action": "preview",
            "sample.dish": "Ramen",
            "sample.price": "12 €",
        },
    )
    assert preview.status_code == 200
    assert "This week: Ramen for 12 €" in text_of(preview)
    assert 'name="sample.price" type="text" value="12 €"' in preview.text

    # The live preview (library.js) gets JSON; a missing sample is named.
    live = post_form(
        client,
        f"/w/{ws}/library/templates/preview",
        {"text": "Hi {name} in {city}", "sample.name": "Ana"},
    )
    assert live.json() == {
        "variables": ["name", "city"],
        "text": None,
        "missing": ["city"],
        "error": None,
    }
    broken = post_form(client, f"/w/{ws}/library/templates/preview", {"text": "Hi {name"})
    assert "has no partner" in broken.json()["error"]

    bad = post_form(client, f"/w/{ws}/library/templates", {"name": "Weekly", "text": "Hi {9}"})
    assert bad.status_code == 422
    assert "is not a variable" in text_of(bad)
    created = follow(
        client,
        post_form(
            client, f"/w/{ws}/library/templates", {"name": "Weekly", "text": "This week: {dish}"}
        ),
    )
    assert "Saved the template “Weekly”." in text_of(created)
    assert '<mark class="tpl-var">{dish}</mark>' in created.text
    with db.transaction() as session:
        template = session.scalars(select(ContentTemplate)).one()

    duplicate = post_form(client, f"/w/{ws}/library/templates", {"name": "weekly", "text": "x"})
    assert duplicate.status_code == 422
    assert "exists already" in text_of(duplicate)

    edit_url = f"/w/{ws}/library/templates/{template.id}"
    refused = post_form(client, edit_url, {"name": "Weekly", "text": ""})
    assert refused.status_code == 422
    assert re.search(
        r'<details class="inline-editor" open>\s*<summary[^>]*>.*?Weekly', refused.text, re.S
    )
    follow(client, post_form(client, edit_url, {"name": "Weekly special", "text": "Now: {dish}!"}))
    with db.transaction() as session:
        assert session.get_one(ContentTemplate, template.id).text == "Now: {dish}!"
    deleted = follow(client, post_form(client, f"{edit_url}/delete"))
    assert "Deleted the template “Weekly special”." in text_of(deleted)


def test_hashtag_groups_are_validated(client: TestClient, team: Team, db: Database) -> None:
    ws = team.workspace.id
    bad = post_form(
        client, f"/w/{ws}/library/hashtags", {"name": "Coffee", "hashtags": "#coffee tea"}
    )
    assert bad.status_code == 422
    assert "Not a hashtag: 'tea'" in text_of(bad)
    assert "#coffee tea" in bad.text  # kept for fixing
    too_many = " ".join(f"#t{i}" for i in range(31))
    assert "at most 30" in text_of(
        post_form(client, f"/w/{ws}/library/hashtags", {"name": "Many", "hashtags": too_many})
    )
    saved = follow(
        client,
        post_form(
            client,
            f"/w/{ws}/library/hashtags",
            {"name": "Coffee", "hashtags": "#coffee, #Espresso"},
        ),
    )
    assert "Saved the hashtag group “Coffee” (2 hashtags)." in text_of(saved)
    assert 'value="#coffee #Espresso"' in saved.text  # what "Copy" copies
    assert "2 / 30" in text_of(saved)
    with db.transaction() as session:
        group = session.scalars(select(HashtagGroup)).one()
    follow(
        client,
        post_form(
            client,
            f"/w/{ws}/library/hashtags/{group.id}",
            {"name": "Coffee", "hashtags": "#flatwhite"},
        ),
    )
    with db.transaction() as session:
        assert session.get_one(HashtagGroup, group.id).hashtags == ["#flatwhite"]
    follow(client, post_form(client, f"/w/{ws}/library/hashtags/{group.id}/delete"))
    with db.transaction() as session:
        assert session.scalars(select(HashtagGroup)).all() == []


# -- ideas --------------------------------------------------------------------------------


def test_ideas_board(client: TestClient, team: Team, db: Database) -> None:
    ws = team.workspace.id
    empty = client.get(f"/w/{ws}/ideas")
    assert "No ideas yet" in text_of(empty)
    assert_csp_clean(empty)

    refused = post_form(client, f"/w/{ws}/ideas", {"text": "   ", "labels": "x"})
    assert refused.status_code == 422
    assert "Write the idea down first." in text_of(refused)

    follow(
        client,
        post_form(
            client, f"/w/{ws}/ideas", {"text": "Roastery tour video", "labels": "video, summer"}
        ),
    )
    follow(client, post_form(client, f"/w/{ws}/ideas", {"text": "Ask: oat or dairy?"}))
    board = client.get(f"/w/{ws}/ideas")
    text = text_of(board)
    assert "Roastery tour video" in text
    assert "No channel yet" in text
    with db.transaction() as session:
        idea = session.scalars(select(Post).where(Post.text == "Roastery tour video")).one()
    assert f'href="/w/{ws}/compose?post={idea.id}"' in board.text

    only_video = client.get(f"/w/{ws}/ideas?label=video")
    assert "Roastery tour video" in text_of(only_video)
    assert "oat or dairy" not in text_of(only_video)
    assert "oat or dairy" in text_of(client.get(f"/w/{ws}/ideas?q=DAIRY"))

    follow(
        client,
        post_form(
            client, f"/w/{ws}/ideas/{idea.id}", {"text": "Roastery tour (60 s)", "labels": "video"}
        ),
    )
    bad_edit = post_form(client, f"/w/{ws}/ideas/{idea.id}", {"text": "", "labels": ""})
    assert bad_edit.status_code == 422
    assert f'id="idea-{idea.id}"' in bad_edit.text
    assert "Write the idea down first." in text_of(bad_edit)

    follow(client, post_form(client, f"/w/{ws}/ideas/{idea.id}/duplicate"))
    with db.transaction() as session:
        assert session.scalars(select(Post.text).where(Post.text.like("Roastery%"))).all() == [
            "Roastery tour (60 s)",
            "Roastery tour (60 s)",
        ]
    export = client.get(f"/w/{ws}/ideas/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert sorted(r["text"] for r in rows) == [
        "Ask: oat or dairy?",
        "Roastery tour (60 s)",
        "Roastery tour (60 s)",
    ]
    assert {r["labels"] for r in rows} == {"video", ""}

    follow(client, post_form(client, f"/w/{ws}/ideas/{idea.id}/delete"))
    with db.transaction() as session:
        assert session.get(Post, idea.id) is None


def test_scheduled_posts_cannot_be_changed_from_the_board(
    client: TestClient, team: Team, db: Database, settings: Settings
) -> None:
    channel = make_channel(db, team.workspace)
    draft = use_in_draft(db, settings, team, channel)
    with db.transaction() as session:
        session.get_one(Post, draft.id).status = "scheduled"
    response = post_form(client, f"/w/{team.workspace.id}/ideas/{draft.id}/delete")
    assert response.status_code == 409
    assert "scheduled already" in text_of(response)


# -- who may do what -------------------------------------------------------------------------


def test_analysts_read_and_approvers_see_nothing(
    client: TestClient, new_client: object, team: Team, db: Database
) -> None:
    upload(client, team.workspace, ("beans.jpg", JPEG))
    photo = assets(db)["beans.jpg"]
    ws = team.workspace.id
    dan = make_user(db, "dan@example.com")
    add_member(db, team.workspace, dan, Role.ANALYST)
    analyst = new_client()  # type: ignore[operator]
    sign_in(analyst, "dan@example.com")
    page = analyst.get(f"/w/{ws}/library")
    assert page.status_code == 200
    assert "beans.jpg" in page.text
    assert "data-upload" not in page.text
    assert "/compose?media=" not in page.text
    assert f'href="/w/{ws}/import"' not in page.text  # importing publishes
    assert analyst.get(f"/w/{ws}/import").status_code == 403
    assert "Delete file" not in analyst.get(f"/w/{ws}/library/media/{photo.id}").text
    for path, data in (
        (f"/w/{ws}/library/media/{photo.id}", {"alt_text": "x"}),
        (f"/w/{ws}/library/media/{photo.id}/delete", {}),
        (f"/w/{ws}/library/templates", {"name": "x", "text": "y"}),
        (f"/w/{ws}/library/hashtags", {"name": "x", "hashtags": "#y"}),
        (f"/w/{ws}/ideas", {"text": "x"}),
    ):
        assert post_form(analyst, path, data).status_code == 403, path
    assert upload(analyst, team.workspace, ("x.png", PNG)).status_code == 403

    carla = make_user(db, "client@example.com")
    add_member(db, team.workspace, carla, Role.APPROVER)
    approver = new_client()  # type: ignore[operator]
    sign_in(approver, "client@example.com")
    for path in (
        "library",
        f"library/media/{photo.id}/file",
        "library/templates",
        "ideas",
        "import",
    ):
        assert approver.get(f"/w/{ws}/{path}").status_code == 403, path


def test_another_workspace_is_not_found(
    client: TestClient, new_client: object, team: Team, db: Database, settings: Settings
) -> None:
    channel = make_channel(db, team.workspace)
    upload(client, team.workspace, ("beans.jpg", JPEG))
    photo = assets(db)["beans.jpg"]
    idea = use_in_draft(db, settings, team, channel)
    follow(
        client,
        post_form(client, f"/w/{team.workspace.id}/library/templates", {"name": "T", "text": "x"}),
    )
    follow(
        client,
        post_form(
            client, f"/w/{team.workspace.id}/library/hashtags", {"name": "H", "hashtags": "#x"}
        ),
    )
    with db.transaction() as session:
        template = session.scalars(select(ContentTemplate)).one()
        group = session.scalars(select(HashtagGroup)).one()

    make_user(db, "mallory@example.com")
    mallory = new_client()  # type: ignore[operator]
    sign_in(mallory, "mallory@example.com")
    theirs = team.workspace.id
    for path in (
        f"/w/{theirs}/library",
        f"/w/{theirs}/library/media/{photo.id}",
        f"/w/{theirs}/library/media/{photo.id}/file",
        f"/w/{theirs}/library/media/{photo.id}/thumb",
        f"/w/{theirs}/library/export.csv",
        f"/w/{theirs}/library/templates",
        f"/w/{theirs}/ideas",
        f"/w/{theirs}/ideas/export.csv",
        f"/w/{theirs}/import",
        f"/w/{theirs}/import/template.csv",
    ):
        response = mallory.get(path)
        assert response.status_code == 404, path
        assert "beans.jpg" not in response.text

    # Her own workspace, with their objects' ids.
    with db.transaction() as session:
        mine = workspaces.create_workspace(
            session,
            name="Mallory Inc",
            owner=session.scalars(select(User).where(User.email == "mallory@example.com")).one(),
            actor=Actor.cli(),
        )
    m = mine.id
    for path in (
        f"/w/{m}/library/media/{photo.id}",
        f"/w/{m}/library/media/{photo.id}/file",
        f"/w/{m}/library/media/{photo.id}/thumb",
    ):
        assert mallory.get(path).status_code == 404, path
    for path, data in (
        (f"/w/{m}/library/media/{photo.id}", {"alt_text": "pwned"}),
        (f"/w/{m}/library/media/{photo.id}/delete", {}),
        (f"/w/{m}/library/templates/{template.id}", {"name": "pwned", "text": "x"}),
        (f"/w/{m}/library/templates/{template.id}/delete", {}),
        (f"/w/{m}/library/hashtags/{group.id}", {"name": "pwned", "hashtags": "#x"}),
        (f"/w/{m}/library/hashtags/{group.id}/delete", {}),
        (f"/w/{m}/ideas/{idea.id}", {"text": "pwned"}),
        (f"/w/{m}/ideas/{idea.id}/duplicate", {}),
        (f"/w/{m}/ideas/{idea.id}/delete", {}),
    ):
        assert post_form(mallory, path, data).status_code == 404, path
    with db.transaction() as session:
        assert session.get_one(MediaAsset, photo.id).alt_text == ""
        assert session.get_one(ContentTemplate, template.id).name == "T"
        assert session.get_one(HashtagGroup, group.id).name == "H"
        assert session.get_one(Post, idea.id).text == "Our new roast is here"
        assert session.scalars(select(Post).where(Post.workspace_id == m)).all() == []
