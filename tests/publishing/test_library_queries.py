# SPDX-License-Identifier: AGPL-3.0-or-later
"""The content library: search, tags, usage counted in one query, safe deletion; ideas."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.errors import Conflict, PermissionDenied, ValidationError
from socialdesk.media.library import asset_path, store_file
from socialdesk.publishing import ideas, posts
from socialdesk.publishing import library_queries as lq
from socialdesk.publishing.library_queries import LibraryFilter
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft
from socialdesk.storage import Database
from socialdesk.storage.tables import Channel, MediaAsset, Post
from socialdesk.storage.types import utcnow
from tests.media.builders import encode, mp4, noise, write
from tests.publishing.conftest import Desk

CLI = Actor.cli()


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


def _store(
    desk: Desk, session: Session, tmp: Path, name: str, data: bytes, **kw: str
) -> MediaAsset:
    return store_file(
        session,
        settings=desk.settings,
        workspace_id=desk.access.workspace.id,
        source=write(tmp, name, data),
        filename=name,
        actor=CLI,
        **kw,
    )


def _draft(desk: Desk, session: Session, channels: list[Channel], assets: list[MediaAsset]) -> Post:
    return posts.create_post(
        session,
        settings=desk.settings,
        access=desk.access,
        actor=CLI,
        draft=PostDraft(
            text="Fresh from the roaster",
            channels=[ChannelContent(channel_id=c.id) for c in channels],
            media=[MediaRef(asset_id=a.id) for a in assets],
            when="draft",
        ),
    )


@pytest.fixture
def library(desk: Desk, tmp_path: Path) -> dict[str, MediaAsset]:
    """Three files: a tagged photo used by two posts, a screenshot, a video; two channels."""
    alice, _ = desk.connect_mastodon("alice")
    bob, _ = desk.connect_mastodon("bob")
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        photo = _store(
            desk,
            session,
            tmp_path,
            "beans-closeup.jpg",
            encode(noise(64, 48), "JPEG"),
            alt_text="Roasted coffee beans on a tray",
        )
        lq.update_asset(
            session, access=desk.access, actor=CLI, asset=photo, tags="Summer, Product_Shots"
        )
        shot = _store(desk, session, tmp_path, "screenshot.png", encode(noise(32, 32), "PNG"))
        clip = _store(desk, session, tmp_path, "tour.mp4", mp4(seconds=42.0))
        lq.update_asset(session, access=desk.access, actor=CLI, asset=clip, tags=["summer"])
        channels = list(session.scalars(select(Channel).where(Channel.id.in_([alice.id, bob.id]))))
        # One post on two channels counts once; a second post makes two.
        _draft(desk, session, channels, [photo])
        _draft(desk, session, channels[:1], [photo, shot])
    return {"photo": photo, "shot": shot, "clip": clip}


def _names(page: lq.LibraryPage) -> list[str]:
    return sorted(item.asset.original_filename for item in page.items)


def test_usage_is_counted_per_post(desk: Desk, library: dict[str, MediaAsset]) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        page = lq.search_assets(session, workspace_id=desk.access.workspace.id)
        uses = {item.asset.original_filename: item.uses for item in page.items}
        assert uses == {"beans-closeup.jpg": 2, "screenshot.png": 1, "tour.mp4": 0}
        assert page.total == 3
        used_by = lq.usage_of(
            session, workspace_id=desk.access.workspace.id, asset_id=library["photo"].id
        )
        assert len(used_by) == 2


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (LibraryFilter(query="BEANS"), ["beans-closeup.jpg"]),
        (LibraryFilter(query="tray roasted"), ["beans-closeup.jpg"]),  # alt text, every word
        (LibraryFilter(query="product_"), ["beans-closeup.jpg"]),  # a tag; _ is not a wildcard
        (LibraryFilter(query="summer"), ["beans-closeup.jpg", "tour.mp4"]),
        (LibraryFilter(query="%"), []),
        (LibraryFilter(kind="video"), ["tour.mp4"]),
        (LibraryFilter(kind="image"), ["beans-closeup.jpg", "screenshot.png"]),
        (LibraryFilter(tag="summer"), ["beans-closeup.jpg", "tour.mp4"]),
        (LibraryFilter(tag="summ"), []),  # a tag filter matches whole tags
        (LibraryFilter(tag="summer", kind="image"), ["beans-closeup.jpg"]),
        (LibraryFilter(query="tour", tag="product_shots"), []),
    ],
)
def test_search_by_name_alt_text_tags_and_type(
    desk: Desk, library: dict[str, MediaAsset], filters: LibraryFilter, expected: list[str]
) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        page = lq.search_assets(session, workspace_id=desk.access.workspace.id, filters=filters)
        assert _names(page) == expected
        assert page.total == len(expected)


def test_unknown_type_filter_is_a_clear_error(desk: Desk) -> None:
    with (
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
        pytest.raises(ValidationError, match="unknown type 'pdf'"),
    ):
        lq.search_assets(
            session, workspace_id=desk.access.workspace.id, filters=LibraryFilter(kind="pdf")
        )


def test_tags_and_kinds_are_counted(desk: Desk, library: dict[str, MediaAsset]) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        assert lq.tag_counts(session, workspace_id=desk.access.workspace.id) == [
            ("summer", 2),
            ("product_shots", 1),
        ]
        assert lq.kind_counts(session, workspace_id=desk.access.workspace.id) == {
            "image": 2,
            "video": 1,
        }


def test_a_page_of_many_files_takes_two_queries(
    desk: Desk, library: dict[str, MediaAsset], tmp_path: Path
) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        for seed in range(25):
            _store(desk, session, tmp_path, f"n{seed}.png", encode(noise(8, 8, seed=seed), "PNG"))
    with (
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
        count_queries(desk.db) as statements,
    ):
        page = lq.search_assets(
            session,
            workspace_id=desk.access.workspace.id,
            filters=LibraryFilter(kind="image"),
            limit=100,
        )
        assert page.total == len(page.items) == 27
        assert [item.uses for item in page.items if item.asset.original_filename == "n3.png"] == [0]
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, selects


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Summer,  product   shots ,summer", ["summer", "product shots"]),
        (["#Launch", " ", "launch"], ["launch"]),
        ("", []),
    ],
)
def test_tags_are_cleaned(raw: str | list[str], expected: list[str]) -> None:
    assert lq.clean_tags(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (",".join(f"t{i}" for i in range(21)), "at most 20 tags"),
        ("x" * 41, "longer than 40 characters"),
    ],
)
def test_bad_tags_are_explained(raw: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        lq.clean_tags(raw)


def test_editing_alt_text_and_tags_is_audited(desk: Desk, library: dict[str, MediaAsset]) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        shot = session.get_one(MediaAsset, library["shot"].id)
        lq.update_asset(
            session, access=desk.access, actor=CLI, asset=shot, alt_text=" Our menu ", tags=""
        )
        with pytest.raises(ValidationError, match="longer than 5000"):
            lq.update_asset(session, access=desk.access, actor=CLI, asset=shot, alt_text="x" * 5001)
        analyst = dataclasses.replace(desk.access, role=Role.ANALYST)
        with pytest.raises(PermissionDenied):
            lq.update_asset(session, access=analyst, actor=CLI, asset=shot, tags="nope")
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        shot = session.get_one(MediaAsset, library["shot"].id)
        assert (shot.alt_text, shot.tags) == ("Our menu", [])
        event_ = audit.list_events(
            session, workspace_id=desk.access.workspace.id, action_prefix="media.update"
        )[0]
        assert event_.target_id == str(shot.id)
        assert event_.details["changed"] == ["alt_text"]


def test_a_used_file_cannot_be_deleted(desk: Desk, library: dict[str, MediaAsset]) -> None:
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        photo = session.get_one(MediaAsset, library["photo"].id)
        with pytest.raises(Conflict, match="used in 2 posts"):
            lq.delete_asset(
                session, settings=desk.settings, access=desk.access, actor=CLI, asset=photo
            )
    assert asset_path(desk.settings, library["photo"]).exists()


def test_an_unused_file_goes_with_its_bytes_only_on_commit(
    desk: Desk, library: dict[str, MediaAsset]
) -> None:
    clip = library["clip"]
    path = asset_path(desk.settings, clip)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), desk.db.transaction(workspace_id=desk.access.workspace.id) as s:
        lq.delete_asset(
            s, settings=desk.settings, access=desk.access, actor=CLI, asset=s.merge(clip)
        )
        raise Undo
    assert path.exists()
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        lq.delete_asset(
            session,
            settings=desk.settings,
            access=desk.access,
            actor=CLI,
            asset=session.get_one(MediaAsset, clip.id),
        )
        assert path.exists()  # not before the commit
    assert not path.exists()
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        assert session.get(MediaAsset, clip.id) is None
        assert audit.list_events(
            session, workspace_id=desk.access.workspace.id, action_prefix="media.delete"
        )


def test_other_workspaces_see_nothing(desk: Desk, library: dict[str, MediaAsset]) -> None:
    with desk.db.transaction() as session:
        eve = users.create_user(
            session, email="eve@example.com", password="correct horse battery", actor=CLI
        )
        other = workspaces.create_workspace(session, name="Other", owner=eve, actor=CLI)
    with desk.db.transaction(workspace_id=other.id) as session:
        assert lq.search_assets(session, workspace_id=other.id).items == []
        assert lq.tag_counts(session, workspace_id=other.id) == []
        assert ideas.list_ideas(session, workspace_id=other.id) == []


# -- ideas -----------------------------------------------------------------------------


def test_ideas_are_drafts_without_a_date(desk: Desk, library: dict[str, MediaAsset]) -> None:
    channel, _ = desk.connect_mastodon("carol")
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        idea = ideas.create_idea(
            session,
            access=desk.access,
            actor=CLI,
            text="  Behind the scenes at the roastery  ",
            labels="video, Summer,video",
        )
        assert (idea.text, idea.labels, idea.deliveries) == (
            "Behind the scenes at the roastery",
            ["Summer", "video"],
            [],
        )
        posts.create_post(
            session,
            settings=desk.settings,
            access=desk.access,
            actor=CLI,
            draft=PostDraft(
                text="Scheduled, so not an idea",
                channels=[ChannelContent(channel_id=channel.id)],
                when="at",
                at=utcnow() + dt.timedelta(days=2),
            ),
        )
    with (
        desk.db.transaction(workspace_id=desk.access.workspace.id) as session,
        count_queries(desk.db) as statements,
    ):
        cards = ideas.list_ideas(session, workspace_id=desk.access.workspace.id)
        texts = [card.post.text for card in cards]
        # The two composer drafts with media (from the fixture) are ideas too.
        assert sorted(texts) == sorted(
            ["Behind the scenes at the roastery"] + ["Fresh from the roaster"] * 2
        )
        for card in cards:  # channels and media are loaded already
            _ = [(d.channel.handle, [m.asset.kind for m in d.media]) for d in card.post.deliveries]
        assert cards[0].author is not None
    assert len(statements) <= 6, statements
    with desk.db.transaction(workspace_id=desk.access.workspace.id) as session:
        wid = desk.access.workspace.id
        assert [
            c.post.text for c in ideas.list_ideas(session, workspace_id=wid, label="video")
        ] == ["Behind the scenes at the roastery"]
        assert ideas.list_ideas(session, workspace_id=wid, query="ROASTERY scenes")
        assert ideas.idea_label_counts(session, workspace_id=wid) == [("Summer", 1), ("video", 1)]


def test_editing_and_deleting_ideas(desk: Desk, library: dict[str, MediaAsset]) -> None:
    wid = desk.access.workspace.id
    with desk.db.transaction(workspace_id=wid) as session:
        draft = session.scalars(select(Post).where(Post.text == "Fresh from the roaster")).first()
        assert draft is not None
        tailored = draft.deliveries[0]
        tailored.text = "Tailored for this channel"
        draft_id = draft.id
    with desk.db.transaction(workspace_id=wid) as session:
        post = ideas.get_idea(session, workspace_id=wid, post_id=draft_id)
        ideas.update_idea(session, access=desk.access, actor=CLI, post=post, text="New words")
        with pytest.raises(ValidationError, match="write the idea down"):
            ideas.update_idea(session, access=desk.access, actor=CLI, post=post, text=" ")
    with desk.db.transaction(workspace_id=wid) as session:
        post = ideas.get_idea(session, workspace_id=wid, post_id=draft_id)
        assert post.text == "New words"
        assert sorted(d.text for d in post.deliveries) == ["New words", "Tailored for this channel"]
        copy = posts.duplicate_post(session, access=desk.access, actor=CLI, post=post)
        ideas.delete_idea(session, access=desk.access, actor=CLI, post=post)
    with desk.db.transaction(workspace_id=wid) as session:
        assert session.get(Post, draft_id) is None
        assert session.get(Post, copy.id) is not None
        # The copy uses the photo in place of the deleted idea.
        page = lq.search_assets(session, workspace_id=wid, filters=LibraryFilter(query="beans"))
        assert [item.uses for item in page.items] == [2]
        assert copy.id in {
            p.id for p in lq.usage_of(session, workspace_id=wid, asset_id=page.items[0].asset.id)
        }


def test_scheduled_posts_are_not_ideas(desk: Desk) -> None:
    channel, _ = desk.connect_mastodon("dave")
    wid = desk.access.workspace.id
    with desk.db.transaction(workspace_id=wid) as session:
        post = posts.create_post(
            session,
            settings=desk.settings,
            access=desk.access,
            actor=CLI,
            draft=PostDraft(
                text="Going out soon",
                channels=[ChannelContent(channel_id=channel.id)],
                when="at",
                at=utcnow() + dt.timedelta(days=1),
            ),
        )
        with pytest.raises(Conflict, match="scheduled already"):
            ideas.get_idea(session, workspace_id=wid, post_id=post.id)
        with pytest.raises(Conflict):
            ideas.delete_idea(session, access=desk.access, actor=CLI, post=post)
        analyst = dataclasses.replace(desk.access, role=Role.ANALYST)
        with pytest.raises(PermissionDenied):
            ideas.create_idea(session, access=analyst, actor=CLI, text="x")
