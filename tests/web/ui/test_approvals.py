# SPDX-License-Identifier: AGPL-3.0-or-later
"""The approvals pages and the bell, driven like a browser (forms, htmx fragments)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.accounts import members, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.config import Settings
from socialdesk.publishing import posts
from socialdesk.publishing.posts import ChannelContent, PostDraft
from socialdesk.storage import Database
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import (
    Approval,
    Channel,
    Notification,
    Post,
    User,
    VaultSecret,
    Workspace,
)
from socialdesk.storage.types import utcnow
from tests.web.api.helpers import browser_cookie
from tests.web.ui.helpers import csrf_of, post_form, text_of

CLI = Actor.cli()


@dataclass
class Scene:
    db: Database
    settings: Settings
    workspace: Workspace
    channel: Channel
    ids: dict[str, uuid.UUID]
    browser: Callable[[str], TestClient]

    @property
    def ws(self) -> str:
        return f"/w/{self.workspace.id}"

    def draft(
        self, text: str = "Spring menu is here", *, by: str = "mia", at: bool = True
    ) -> uuid.UUID:
        """A draft (with a planned time) written by ``by``, as the composer saves one."""
        with self.db.transaction() as session:
            access = workspaces.access_for(
                session, user=session.get_one(User, self.ids[by]), workspace_id=self.workspace.id
            )
            scope_to_workspace(session, self.workspace.id)
            post = posts.create_post(
                session,
                settings=self.settings,
                access=access,
                actor=CLI,
                draft=PostDraft(text=text, channels=[ChannelContent(channel_id=self.channel.id)]),
            )
            if at:
                post.scheduled_at = utcnow() + dt.timedelta(hours=3)
                for delivery in post.deliveries:
                    delivery.due_at = post.scheduled_at
            return post.id

    def status(self, post_id: uuid.UUID) -> str:
        with self.db.transaction() as session:
            return session.get_one(Post, post_id).status


def _person(db: Database, workspace: Workspace | None, email: str, name: str, role: Role) -> User:
    """A member who is signed in by cookie (no password hashing: the tests stay fast)."""
    with db.transaction() as session:
        user = User(email=email, name=name, password_hash="!")
        session.add(user)
        session.flush()
        if workspace is not None:
            members.add_user(session, workspace_id=workspace.id, user=user, role=role, actor=CLI)
        return user


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
        "carl": _person(db, workspace, "carl@client.example", "Carl Client", Role.APPROVER),
    }
    with db.transaction() as session:
        secret = VaultSecret(workspace_id=workspace.id, purpose="channel", ciphertext="x")
        session.add(secret)
        session.flush()
        channel = Channel(
            workspace_id=workspace.id,
            network="mastodon",
            external_id="1",
            handle="acme@mastodon.example",
            display_name="Acme Coffee",
            base_url="https://mastodon.example",
            credentials_secret_id=secret.id,
            extra={},
        )
        session.add(channel)
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
        channel=channel,
        ids={who: user.id for who, user in people.items()},
        browser=browser,
    )


def _no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert not re.search(r'\sstyle="', html)


def _bell_count(page: str) -> str:
    found = re.search(r'<span id="bell-count"[^>]*>(.*?)</span>', page)
    assert found, "the page has no bell"
    return re.sub(r"<[^>]+>.*", "", found.group(1))


# -- pages render for everyone, with what each may do ------------------------------------------


@pytest.mark.parametrize("who", ["ana", "mia", "carl"])
def test_the_approvals_pages_render_for_every_role(scene: Scene, who: str) -> None:
    post_id = scene.draft()
    post_form(scene.browser("mia"), f"{scene.ws}/approvals/{post_id}/request")
    client = scene.browser(who)
    listing = client.get(f"{scene.ws}/approvals")
    assert listing.status_code == 200
    _no_inline_code(listing.text)
    assert f'href="{scene.ws}/approvals" aria-current="page"' in listing.text
    assert "Spring menu is here" in text_of(listing)
    page = client.get(f"{scene.ws}/approvals/{post_id}")
    assert page.status_code == 200
    _no_inline_code(page.text)
    text = text_of(page)
    assert "What will be published" in text
    assert "acme@mastodon.example" in text
    decides = who in ("ana", "carl")
    assert ("Approve and post now" in text) is decides
    assert ("Take it back" in text) is (who == "mia")
    assert client.get(f"{scene.ws}/notifications").status_code == 200


def test_an_approver_lands_on_approvals_and_sees_nothing_else(scene: Scene) -> None:
    carl = scene.browser("carl")
    assert carl.get(scene.ws).headers["location"] == f"{scene.ws}/approvals"
    page = carl.get(f"{scene.ws}/approvals")
    assert "Posts Acme Coffee sent you for approval" in text_of(page)
    assert "Drafts to send" not in text_of(page)
    for hidden in ("/calendar", "/members", "/library", "/settings#approvals"):
        assert f'href="{scene.ws}{hidden}"' not in page.text
    settings_page = carl.get(f"{scene.ws}/settings")
    assert 'id="approvals"' not in settings_page.text


# -- the flow --------------------------------------------------------------------------------


def test_send_for_approval_approve_and_the_author_hears_of_it(scene: Scene) -> None:
    post_id = scene.draft()
    mia = scene.browser("mia")
    drafts = mia.get(f"{scene.ws}/approvals?show=drafts")
    assert f"{scene.ws}/approvals/{post_id}" in drafts.text
    page = mia.get(f"{scene.ws}/approvals/{post_id}")
    assert f'<option value="{scene.ids["carl"]}"' in page.text
    assert "Send for approval" in text_of(page)
    sent = post_form(
        mia,
        f"{scene.ws}/approvals/{post_id}/request",
        {"approver_id": str(scene.ids["carl"]), "note": "For Friday's newsletter"},
    )
    assert sent.status_code == 303
    assert "Sent for approval to Carl Client." in text_of(mia.get(sent.headers["location"]))
    assert scene.status(post_id) == "in_review"

    carl = scene.browser("carl")
    queue = carl.get(f"{scene.ws}/approvals")
    assert _bell_count(queue.text) == "1"
    assert "For Friday" not in text_of(queue)  # the note is in the post's discussion
    review = carl.get(f"{scene.ws}/approvals/{post_id}")
    assert "For Friday's newsletter" in text_of(review)
    approved = post_form(carl, f"{scene.ws}/approvals/{post_id}/approve", {"comment": "Great"})
    assert approved.status_code == 303
    assert "Approved and scheduled." in text_of(carl.get(approved.headers["location"]))
    assert scene.status(post_id) == "scheduled"
    assert "Approved" in text_of(carl.get(f"{scene.ws}/approvals?show=decided"))

    notices = mia.get(f"{scene.ws}/notifications")
    assert "Carl Client approved your post" in text_of(notices)
    assert _bell_count(notices.text) == "1"


def test_reject_needs_a_comment_and_the_author_sees_it(scene: Scene) -> None:
    post_id = scene.draft()
    post_form(scene.browser("mia"), f"{scene.ws}/approvals/{post_id}/request")
    carl = scene.browser("carl")
    refused = post_form(carl, f"{scene.ws}/approvals/{post_id}/reject", {"comment": " "})
    assert refused.status_code == 422
    assert "Write what should change" in text_of(refused)
    assert 'aria-invalid="true"' in refused.text
    assert scene.status(post_id) == "in_review"
    rejected = post_form(
        carl, f"{scene.ws}/approvals/{post_id}/reject", {"comment": "Please add the prices."}
    )
    assert rejected.status_code == 303
    assert scene.status(post_id) == "draft"

    mia = scene.browser("mia")
    page = text_of(mia.get(f"{scene.ws}/approvals/{post_id}"))
    assert "Rejected by Carl Client" in page
    assert "Please add the prices." in page
    assert "Send for approval" in page  # fix it and send it again
    drafts = text_of(mia.get(f"{scene.ws}/approvals?show=drafts"))
    assert "Carl Client: Please add the prices." in drafts


def test_editing_an_approved_post_sends_it_back_to_review(scene: Scene) -> None:
    post_id = scene.draft()
    post_form(scene.browser("mia"), f"{scene.ws}/approvals/{post_id}/request")
    post_form(scene.browser("carl"), f"{scene.ws}/approvals/{post_id}/approve")
    assert scene.status(post_id) == "scheduled"
    mia = scene.browser("mia")
    page = mia.get(f"{scene.ws}/approvals/{post_id}")
    assert "needs approval again" in text_of(page)
    too_long = post_form(mia, f"{scene.ws}/approvals/{post_id}/edit", {"text": "x" * 600})
    assert too_long.status_code == 422
    assert scene.status(post_id) == "scheduled"
    saved = post_form(
        mia, f"{scene.ws}/approvals/{post_id}/edit", {"text": "Spring menu, with soup"}
    )
    assert saved.status_code == 303
    assert "waits for approval again" in text_of(mia.get(saved.headers["location"]))
    assert scene.status(post_id) == "in_review"
    assert "Spring menu, with soup" in text_of(scene.browser("carl").get(f"{scene.ws}/approvals"))


def test_comments_and_mentions_from_the_page(scene: Scene) -> None:
    post_id = scene.draft()
    mia = scene.browser("mia")
    post_form(
        mia, f"{scene.ws}/approvals/{post_id}/request", {"approver_id": str(scene.ids["carl"])}
    )
    empty = post_form(mia, f"{scene.ws}/approvals/{post_id}/comments", {"body": ""})
    assert empty.status_code == 422
    said = post_form(
        mia, f"{scene.ws}/approvals/{post_id}/comments", {"body": "@Ana Owner can you look too?"}
    )
    assert said.status_code == 303
    assert said.headers["location"].endswith("#discussion")
    assert "can you look too?" in text_of(mia.get(f"{scene.ws}/approvals/{post_id}"))
    ana = scene.browser("ana")
    assert "Mia Chen mentioned you in a comment" in text_of(ana.get(f"{scene.ws}/notifications"))
    carl = scene.browser("carl")
    assert "Mia Chen commented on a post" in text_of(carl.get(f"{scene.ws}/notifications"))


# -- an approver reaches only what was sent to them -----------------------------------------------


def test_an_approver_cannot_open_or_act_on_posts_not_sent_to_them(scene: Scene) -> None:
    hidden = scene.draft("Secret launch plans")
    carl = scene.browser("carl")
    assert "Secret launch" not in text_of(carl.get(f"{scene.ws}/approvals"))
    assert carl.get(f"{scene.ws}/approvals/{hidden}").status_code == 404
    for action, data in [
        ("approve", {}),
        ("reject", {"comment": "no"}),
        ("comments", {"body": "hi"}),
        ("request", {}),
        ("edit", {"text": "pwned"}),
        ("withdraw", {}),
    ]:
        response = post_form(carl, f"{scene.ws}/approvals/{hidden}/{action}", data)
        assert response.status_code == 404, action
        assert "Secret launch" not in response.text
    assert scene.status(hidden) == "draft"
    with scene.db.transaction() as session:
        assert session.scalars(select(Approval)).first() is None


# -- the bell --------------------------------------------------------------------------------------


def test_the_bell_counts_lists_and_marks_read(scene: Scene) -> None:
    for text in ("First post", "Second post"):
        post_form(scene.browser("mia"), f"{scene.ws}/approvals/{scene.draft(text)}/request")
    carl = scene.browser("carl")
    page = carl.get(f"{scene.ws}/approvals")
    assert _bell_count(page.text) == "2"
    assert 'aria-label="Notifications"' in page.text
    count = carl.get(f"{scene.ws}/notifications/count")
    assert count.status_code == 200
    assert 'hx-trigger="every 60s, sd:notifications from:body"' in count.text
    assert ">2<" in count.text
    panel = carl.get(f"{scene.ws}/notifications/panel")
    assert text_of(panel).count("asks you to approve a post") == 2
    assert "Mark all read" in text_of(panel)

    # Opening one marks it read and goes to its post.
    with scene.db.transaction() as session:
        first = session.scalars(
            select(Notification).where(Notification.user_id == scene.ids["carl"])
        ).first()
        assert first is not None
    opened = post_form(carl, f"{scene.ws}/notifications/{first.id}/open")
    assert opened.status_code == 303
    assert opened.headers["location"] == first.link
    assert ">1<" in carl.get(f"{scene.ws}/notifications/count").text
    # Nobody opens someone else's.
    assert (
        post_form(scene.browser("mia"), f"{scene.ws}/notifications/{first.id}/open").status_code
        == 404
    )

    token = csrf_of(page.text)
    cleared = carl.post(
        f"{scene.ws}/notifications/read-all",
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert cleared.status_code == 200
    assert cleared.headers["hx-trigger"] == "sd:notifications"
    assert "Mark all read" not in text_of(cleared)
    assert "is-empty" in carl.get(f"{scene.ws}/notifications/count").text


# -- settings ---------------------------------------------------------------------------------


def test_the_approval_mode_is_set_in_settings(scene: Scene) -> None:
    ana = scene.browser("ana")
    page = ana.get(f"{scene.ws}/settings")
    assert 'id="approvals"' in page.text
    assert "Save approval settings" in text_of(page)
    refused = post_form(ana, f"{scene.ws}/settings/approvals", {"mode": "roles"})
    assert refused.status_code == 303
    assert "Choose the roles whose posts need approval." in text_of(
        ana.get(refused.headers["location"])
    )
    saved = ana.post(
        f"{scene.ws}/settings/approvals",
        data={"csrf_token": csrf_of(page.text), "mode": "roles", "roles": ["manager", "marketer"]},
    )
    assert saved.status_code == 303
    page = ana.get(saved.headers["location"])
    assert "Approval settings saved." in text_of(page)
    assert 'value="roles" x-model="mode" checked' in page.text
    assert 'value="manager" checked' in page.text
    with scene.db.transaction() as session:
        workspace = session.get_one(Workspace, scene.workspace.id)
        assert (workspace.approval_mode, workspace.approval_roles) == (
            "roles",
            ["manager", "marketer"],
        )

    mia = scene.browser("mia")
    shown = mia.get(f"{scene.ws}/settings")
    assert 'id="approvals"' in shown.text
    assert "Save approval settings" not in text_of(shown)
    assert post_form(mia, f"{scene.ws}/settings/approvals", {"mode": "none"}).status_code == 403
    assert "Posts by some roles need approval" in text_of(mia.get(f"{scene.ws}/approvals"))
