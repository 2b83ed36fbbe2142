# SPDX-License-Identifier: AGPL-3.0-or-later
"""Connecting channels through each network's consent page, against the networks' fakes.

Every test runs on SQLite and on PostgreSQL (the ``db`` fixture). The dance is the real
one: socialdesk's authorize URL is opened on the fake, whose consent page redirects to
our callback with a code; the code is exchanged with the PKCE verifier (the fakes check
it), the account is verified, and only then is a channel saved.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select, update

from socialdesk.accounts import members, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault, rotate_keys
from socialdesk.config import Settings, load_settings
from socialdesk.connectors.base import MediaItem
from socialdesk.errors import PermissionDenied, Rejected, ValidationError
from socialdesk.media import public_urls
from socialdesk.media.public_urls import SignedMediaUrls, Verdict
from socialdesk.publishing import channels, oauth
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage import Database
from socialdesk.storage.session import scope_to_workspace
from socialdesk.storage.tables import (
    AuditEvent,
    Channel,
    Delivery,
    Membership,
    OAuthClient,
    OAuthState,
    Post,
    User,
    VaultSecret,
    Workspace,
)
from tests.publishing.oauth_fakes import Networks, past

BASE_URL = "https://desk.example"


@dataclass
class World:
    db: Database
    settings: Settings
    vault: Vault
    runtime: NetworkRuntime
    nets: Networks
    owner: User
    workspace: Workspace

    def start(self, network: str, *, base_url: str | None = None, user: User | None = None) -> str:
        with self.db.sessions() as session:
            scope_to_workspace(session, self.workspace.id)
            url = oauth.start_connect(
                session,
                vault=self.vault,
                settings=self.settings,
                network_runtime=self.runtime,
                workspace_id=self.workspace.id,
                user_id=(user or self.owner).id,
                network=network,
                base_url=base_url,
            )
            session.commit()
        return url

    def finish(
        self, network: str, answer: dict[str, str], *, user: User | None = None
    ) -> oauth.ConnectOutcome:
        who = user or self.owner
        return oauth.finish_connect(
            self.db,
            vault=self.vault,
            settings=self.settings,
            network_runtime=self.runtime,
            network=network,
            state=answer.get("state", ""),
            code=answer.get("code"),
            error=answer.get("error"),
            actor=Actor(label=who.email, user_id=who.id),
        )

    def connect(self, network: str, **start: Any) -> oauth.ConnectOutcome:
        return self.finish(network, self.nets.consent(self.start(network, **start)))

    def channels(self) -> list[Channel]:
        with self.db.transaction() as session:
            return list(session.scalars(select(Channel).order_by(Channel.created_at)))

    def count(self, model: type[Any]) -> int:
        with self.db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def stored_credentials(self, channel: Channel) -> tuple[str, dict[str, Any]]:
        """The channel's secret as stored (ciphertext) and as the vault reads it."""
        with self.db.transaction() as session:
            secret = session.get_one(VaultSecret, channel.credentials_secret_id)
            return secret.ciphertext, json.loads(self.vault.decrypt(secret.ciphertext))

    def person(self, email: str, role: Role) -> User:
        with self.db.transaction() as session:
            user = users.create_user(session, email=email, password="p" * 12, actor=Actor.cli())
            members.add_user(
                session, workspace_id=self.workspace.id, user=user, role=role, actor=Actor.cli()
            )
        return user


def make_world(db: Database, tmp_path: Path, **overrides: Any) -> World:
    nets = Networks(base_url=BASE_URL)
    values = {**nets.settings(), **overrides}
    settings = load_settings(
        data_dir=tmp_path / "data", secret_key="s" * 48, base_url=BASE_URL, **values
    )
    with db.transaction() as session:
        owner = users.create_user(
            session, email="ana@example.com", password="p" * 12, actor=Actor.cli()
        )
        workspace = workspaces.create_workspace(
            session, name="Acme", owner=owner, actor=Actor.cli()
        )
    return World(
        db=db,
        settings=settings,
        vault=Vault(settings),
        runtime=NetworkRuntime(transport_factory=nets.transport),
        nets=nets,
        owner=owner,
        workspace=workspace,
    )


@pytest.fixture
def world(db: Database, tmp_path: Path) -> Iterator[World]:
    made = make_world(db, tmp_path)
    try:
        yield made
    finally:
        made.runtime.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- Mastodon -----------------------------------------------------------------------------


def test_mastodon_registers_once_per_instance_and_connects(world: World) -> None:
    url = world.start("mastodon", base_url="mastodon.example")
    assert url.startswith("https://mastodon.example/oauth/authorize?")
    params = query_of(url)
    assert params["code_challenge_method"] == "S256"
    assert params["redirect_uri"] == BASE_URL + "/oauth/callback/mastodon"
    assert len(world.nets.mastodon.apps) == 1
    outcome = world.finish("mastodon", world.nets.consent(url))

    [channel] = outcome.channels
    assert (channel.network, channel.handle) == ("mastodon", "alice@mastodon.example")
    assert channel.base_url == "https://mastodon.example"
    ciphertext, stored = world.stored_credentials(channel)
    assert stored["access_token"] in world.nets.mastodon.tokens
    assert stored["access_token"] not in ciphertext

    # The app's secret is stored encrypted, and the registration serves the next flows.
    [app] = world.nets.mastodon.apps.values()
    with world.db.transaction() as session:
        client = session.scalars(select(OAuthClient)).one()
    assert client.client_id == app.client_id
    assert client.client_secret_ciphertext is not None
    assert app.client_secret not in client.client_secret_ciphertext
    assert world.vault.decrypt(client.client_secret_ciphertext) == app.client_secret
    again = world.start("mastodon", base_url="https://Mastodon.Example/")
    assert len(world.nets.mastodon.apps) == 1
    assert world.count(OAuthClient) == 1
    assert world.finish("mastodon", world.nets.consent(again)).channels[0].id == channel.id


def test_mastodon_refuses_a_verifier_that_does_not_match_the_challenge(world: World) -> None:
    url = world.start("mastodon", base_url="mastodon.example")
    with world.db.transaction() as session:
        session.execute(
            update(OAuthState).values(verifier_ciphertext=world.vault.encrypt("x" * 86))
        )
    with pytest.raises(ValidationError, match="Mastodon did not complete the connection"):
        world.finish("mastodon", world.nets.consent(url))
    assert world.channels() == []
    assert world.count(VaultSecret) == 0


def test_an_instance_that_forgot_the_app_gets_a_new_registration(world: World) -> None:
    url = world.start("mastodon", base_url="mastodon.example")
    answer = world.nets.consent(url)
    world.nets.mastodon.apps.clear()  # the instance was reset
    with pytest.raises(ValidationError, match="did not accept socialdesk's app registration"):
        world.finish("mastodon", answer)
    assert world.count(OAuthClient) == 0
    again = world.start("mastodon", base_url="mastodon.example")
    assert len(world.nets.mastodon.apps) == 1
    assert len(world.finish("mastodon", world.nets.consent(again)).channels) == 1


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mastodon.social", "https://mastodon.social"),
        ("https://Mastodon.Social/", "https://mastodon.social"),
        ("@ana@fosstodon.org", "https://fosstodon.org"),
        ("http://localhost:3000", "http://localhost:3000"),
    ],
)
def test_instance_addresses_people_type(typed: str, expected: str, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert oauth.instance_url(typed, settings=settings) == expected


@pytest.mark.parametrize(
    "typed", ["", "   ", "ftp://mastodon.social", "https://mastodon.social/@ana", "a b c"]
)
def test_instance_addresses_that_are_refused(typed: str, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(ValidationError) as raised:
        oauth.instance_url(typed, settings=settings)
    assert raised.value.field == "instance_url"


def test_an_instance_that_does_not_answer_registers_nothing(world: World) -> None:
    world.nets.mastodon.inject("fail", status=503, path="/api/v1/apps", count=3)
    with pytest.raises(ValidationError, match="did not register socialdesk") as raised:
        world.start("mastodon", base_url="mastodon.example")
    assert raised.value.field == "instance_url"
    assert world.count(OAuthClient) == 0
    assert world.count(OAuthState) == 0


# -- X and LinkedIn -------------------------------------------------------------------------


def test_x_connects_with_pkce_and_keeps_the_refresh_token_encrypted(world: World) -> None:
    url = world.start("x")
    assert url.startswith("http://x.test/i/oauth2/authorize?")
    params = query_of(url)
    assert params["client_id"] == "x-client-id"
    assert "offline.access" in params["scope"].split()
    # The state we sent is not stored; only its hash is.
    with world.db.transaction() as session:
        stored = session.scalars(select(OAuthState)).one()
    assert params["state"] not in (stored.state_hash, stored.verifier_ciphertext)

    [channel] = world.finish("x", world.nets.consent(url)).channels
    assert (channel.network, channel.handle, channel.display_name) == ("x", "ana", "Ana Lima")
    assert channel.token_expires_at is not None
    ciphertext, creds = world.stored_credentials(channel)
    assert creds["refresh_token"] in world.nets.x.refresh_tokens
    for secret in (creds["access_token"], creds["refresh_token"]):
        assert secret not in ciphertext
        assert secret not in json.dumps(channel.extra)
    assert world.count(OAuthState) == 0

    # The stored refresh token works, with the app's secret from the settings (the
    # fake's app is confidential: it refuses a refresh without Basic auth).
    connector = channels.build_connector(
        channel,
        channels.credentials_from_json(world.vault.decrypt(ciphertext)),
        http=world.runtime.http,
        settings=world.settings,
    )
    world.nets.x.advance(3 * 3600)
    fresh = world.runtime.run(connector.refresh_credentials())
    assert fresh is not None
    assert fresh.access_token != creds["access_token"]


@pytest.mark.parametrize("pkce", [False, True])
def test_linkedin_connects_and_keeps_the_refresh_token(
    db: Database, tmp_path: Path, pkce: bool
) -> None:
    world = make_world(db, tmp_path, linkedin_pkce=pkce)
    try:
        world.nets.linkedin.apps["li-client-id"].pkce_enabled = pkce
        url = world.start("linkedin")
        assert url.startswith("http://linkedin.test/oauth/v2/authorization?")
        assert ("code_challenge" in query_of(url)) is pkce
        [channel] = world.finish("linkedin", world.nets.consent(url)).channels
        member = next(iter(world.nets.linkedin.members.values()))
        assert channel.external_id == f"urn:li:person:{member.sub}"
        ciphertext, creds = world.stored_credentials(channel)
        assert creds["refresh_token"] in world.nets.linkedin.refresh_tokens
        assert creds["refresh_token"] not in ciphertext
        assert creds["extra"]["oauth_base_url"] == "http://linkedin.test"
    finally:
        world.runtime.close()


def test_a_declined_consent_changes_nothing(world: World) -> None:
    world.nets.x.consent_user = None  # the person clicks "Cancel" on X
    answer = world.nets.consent(world.start("x"))
    assert answer["error"] == "access_denied"
    audit_before = world.count(AuditEvent)
    with pytest.raises(ValidationError, match="X was not connected: the permission was not"):
        world.finish("x", answer)
    assert world.channels() == []
    assert world.count(VaultSecret) == 0
    assert world.count(AuditEvent) == audit_before
    assert world.count(OAuthState) == 0  # the flow is over


def test_a_code_the_network_refuses_changes_nothing(world: World) -> None:
    answer = world.nets.consent(world.start("x"))
    with pytest.raises(ValidationError, match="X did not complete the connection") as raised:
        world.finish("x", {**answer, "code": "forged-code"})
    assert "x-client-secret" not in str(raised.value)
    assert world.channels() == []
    assert world.count(VaultSecret) == 0


def test_a_state_works_once(world: World) -> None:
    answer = world.nets.consent(world.start("x"))
    assert len(world.finish("x", answer).channels) == 1
    with pytest.raises(ValidationError, match="not valid"):
        world.finish("x", answer)
    assert len(world.channels()) == 1


def test_a_state_for_another_network_or_made_up_is_refused(world: World) -> None:
    answer = world.nets.consent(world.start("x"))
    with pytest.raises(ValidationError, match="not valid"):
        world.finish("linkedin", answer)
    with pytest.raises(ValidationError, match="not valid"):
        world.finish("x", {**answer, "state": "made-up"})
    assert len(world.finish("x", answer).channels) == 1  # the real one still works


def test_an_expired_state_is_refused_and_forgotten(world: World) -> None:
    answer = world.nets.consent(world.start("x"))
    with world.db.transaction() as session:
        session.execute(update(OAuthState).values(expires_at=past()))
    with pytest.raises(ValidationError, match="the connection took too long; start again"):
        world.finish("x", answer)
    assert world.channels() == []
    assert world.count(OAuthState) == 0


def test_only_the_person_who_started_can_finish(world: World) -> None:
    colleague = world.person("bo@example.com", Role.ADMIN)
    answer = world.nets.consent(world.start("x"))
    with pytest.raises(PermissionDenied, match="started by someone else"):
        world.finish("x", answer, user=colleague)
    with world.db.transaction() as session:
        outsider = users.create_user(
            session, email="eve@example.com", password="p" * 12, actor=Actor.cli()
        )
    with pytest.raises(PermissionDenied):
        world.finish("x", answer, user=outsider)
    assert world.channels() == []
    assert len(world.finish("x", answer).channels) == 1  # untouched for its owner


def test_losing_the_permission_before_finishing_connects_nothing(world: World) -> None:
    admin = world.person("bo@example.com", Role.ADMIN)
    answer = world.nets.consent(world.start("x", user=admin))
    with world.db.transaction() as session:
        session.execute(
            update(Membership).where(Membership.user_id == admin.id).values(role=Role.ANALYST.value)
        )
    with pytest.raises(PermissionDenied):
        world.finish("x", answer, user=admin)
    assert world.channels() == []


def test_networks_without_their_app_say_which_settings_to_set(db: Database, tmp_path: Path) -> None:
    world = make_world(db, tmp_path, x_client_id=None, meta_app_secret=None)
    try:
        with pytest.raises(ValidationError, match="set SOCIALDESK_X_CLIENT_ID"):
            world.start("x")
        options = {o.network: o for o in oauth.connect_options(world.settings)}
        assert options["x"].missing == "not configured: set SOCIALDESK_X_CLIENT_ID"
        assert options["facebook"].settings_to_set == ("SOCIALDESK_META_APP_SECRET",)
        assert options["linkedin"].missing is None
        assert options["mastodon"].missing is None
        assert world.count(OAuthState) == 0
    finally:
        world.runtime.close()


def test_app_password_networks_have_no_consent_page(world: World) -> None:
    with pytest.raises(ValidationError, match="app password"):
        world.start("bluesky")


# -- reconnecting ---------------------------------------------------------------------------


def test_reconnecting_updates_the_credentials_and_resumes_held_deliveries(world: World) -> None:
    [channel] = world.connect("x").channels
    _, first = world.stored_credentials(channel)
    with world.db.transaction(workspace_id=world.workspace.id) as session:
        current = session.get_one(Channel, channel.id)
        channels.mark_needs_reconnect(session, channel=current, reason="X revoked the token")
        post = Post(workspace_id=world.workspace.id, status="scheduled", text="hello")
        session.add(post)
        session.flush()
        session.add(
            Delivery(
                workspace_id=world.workspace.id,
                post_id=post.id,
                channel_id=channel.id,
                state="held",
                text="hello",
                idempotency_key=uuid.uuid4().hex,
            )
        )
    [again] = world.connect("x").channels
    assert again.id == channel.id
    _, second = world.stored_credentials(again)
    assert second["access_token"] != first["access_token"]
    with world.db.transaction() as session:
        current = session.get_one(Channel, channel.id)
        assert (current.status, current.status_reason) == ("active", None)
        assert session.scalars(select(Delivery.state)).one() == "pending"


# -- Facebook, Instagram, Threads ---------------------------------------------------------


def test_facebook_connects_the_one_page_at_once(world: World) -> None:
    url = world.start("facebook")
    assert url.startswith("http://graph.facebook.test/dialog/oauth?")
    fb = world.nets.facebook
    outcome = world.finish("facebook", world.nets.meta_consent(url, fb, fb.user_id))
    assert outcome.choice is None
    [channel] = outcome.channels
    assert (channel.network, channel.external_id, channel.handle) == (
        "facebook",
        fb.page_id,
        "acmebakery",
    )
    ciphertext, creds = world.stored_credentials(channel)
    assert creds["access_token"] == fb.page_token  # the Page's token, not the user's
    assert fb.page_token not in ciphertext


def test_facebook_with_several_pages_asks_which_to_connect(world: World) -> None:
    other = world.nets.add_page("Other Client")
    fb = world.nets.facebook
    url = world.start("facebook")
    outcome = world.finish("facebook", world.nets.meta_consent(url, fb, fb.user_id))
    assert outcome.channels == []
    assert outcome.choice is not None
    assert world.channels() == []
    actor = Actor(label="ana", user_id=world.owner.id)
    network, choices = oauth.pending_choice(
        world.db,
        vault=world.vault,
        token=outcome.choice,
        workspace_id=world.workspace.id,
        actor=actor,
    )
    assert network == "facebook"
    assert sorted(c.label for c in choices) == ["Acme Bakery", "Other Client"]
    # The Page tokens wait encrypted.
    with world.db.transaction() as session:
        waiting = session.scalars(select(OAuthState.verifier_ciphertext)).one()
    assert other.token not in waiting
    assert fb.page_token not in waiting

    someone = world.person("bo@example.com", Role.ADMIN)
    with pytest.raises(PermissionDenied):
        oauth.connect_chosen(
            world.db,
            vault=world.vault,
            network_runtime=world.runtime,
            token=outcome.choice,
            workspace_id=world.workspace.id,
            keys=[other.id],
            actor=Actor(label="bo", user_id=someone.id),
        )
    with pytest.raises(ValidationError, match="tick at least one"):
        oauth.connect_chosen(
            world.db,
            vault=world.vault,
            network_runtime=world.runtime,
            token=outcome.choice,
            workspace_id=world.workspace.id,
            keys=[],
            actor=actor,
        )
    chosen = oauth.connect_chosen(
        world.db,
        vault=world.vault,
        network_runtime=world.runtime,
        token=outcome.choice,
        workspace_id=world.workspace.id,
        keys=[other.id],
        actor=actor,
    )
    assert [c.external_id for c in chosen.channels] == [other.id]
    assert [c.external_id for c in world.channels()] == [other.id]
    with pytest.raises(ValidationError, match="not valid"):  # a choice is used once
        oauth.pending_choice(
            world.db,
            vault=world.vault,
            token=outcome.choice,
            workspace_id=world.workspace.id,
            actor=actor,
        )


def test_instagram_connects_the_account_linked_to_the_page(world: World) -> None:
    world.nets.add_page("No Instagram Here")  # skipped: nothing linked to it
    fb, ig = world.nets.facebook, world.nets.instagram
    url = world.start("instagram")
    assert "instagram_content_publish" in query_of(url)["scope"]
    [channel] = world.finish("instagram", world.nets.meta_consent(url, fb, fb.user_id)).channels
    assert (channel.network, channel.external_id, channel.handle) == (
        "instagram",
        ig.user_id,
        "acme.bakery",
    )
    assert channel.extra["login"] == "facebook"
    _, creds = world.stored_credentials(channel)
    assert creds["access_token"] == fb.page_token


def test_instagram_without_a_linked_account_says_so(world: World) -> None:
    fb = world.nets.facebook
    fb.page.instagram_id = None
    url = world.start("instagram")
    with pytest.raises(
        ValidationError,
        match=r"none of your Facebook Pages has an Instagram professional account linked",
    ):
        world.finish("instagram", world.nets.meta_consent(url, fb, fb.user_id))
    assert world.channels() == []


def test_threads_connects_with_a_long_lived_token(world: World) -> None:
    th = world.nets.threads
    url = world.start("threads")
    assert url.startswith("http://graph.threads.test/oauth/authorize?")
    [channel] = world.finish("threads", world.nets.meta_consent(url, th, th.user_id)).channels
    assert (channel.network, channel.handle) == ("threads", "acmebakery")
    _, creds = world.stored_credentials(channel)
    assert th.tokens[creds["access_token"]].long_lived


def test_a_meta_code_used_twice_is_a_clear_error(world: World) -> None:
    th = world.nets.threads
    answer = world.nets.meta_consent(world.start("threads"), th, th.user_id)
    th.codes.clear()  # Threads already took this code
    with pytest.raises(ValidationError, match="Threads did not complete the connection"):
        world.finish("threads", answer)
    assert world.channels() == []


# -- key rotation ----------------------------------------------------------------------------


def test_rotating_keys_reencrypts_app_secrets_and_verifiers(world: World) -> None:
    [channel] = world.connect("mastodon", base_url="mastodon.example").channels
    pending = world.start("mastodon", base_url="mastodon.example")  # a flow in progress
    old_key = world.settings.encryption_key_file.read_text().strip()
    with world.db.transaction() as session:
        before = (
            session.scalars(select(OAuthClient.client_secret_ciphertext)).one(),
            session.scalars(select(OAuthState.verifier_ciphertext)).one(),
        )

    report = rotate_keys(db=world.db, settings=world.settings, actor=Actor.cli())
    assert report.oauth_secrets == 2

    with world.db.transaction() as session:
        after = (
            session.scalars(select(OAuthClient.client_secret_ciphertext)).one(),
            session.scalars(select(OAuthState.verifier_ciphertext)).one(),
        )
    fresh = Vault(world.settings)
    old_only = Fernet(old_key.encode())
    for old, new in zip(before, after, strict=True):
        assert old is not None
        assert new is not None
        assert new != old
        assert fresh.decrypt(new) == old_only.decrypt(old.encode()).decode()
        with pytest.raises(InvalidToken):
            old_only.decrypt(new.encode())
    # The flow started before the rotation still finishes after it.
    world.vault = fresh
    assert world.finish("mastodon", world.nets.consent(pending)).channels[0].id == channel.id


# -- the Channels page's data ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slots", "text"),
    [
        ([], ""),
        ([(0, "09:30")], "Mon 09:30"),
        ([(d, "09:30") for d in range(5)], "Mon\u2013Fri 09:30"),
        ([(0, "09:30"), (1, "09:30"), (4, "17:00")], "Mon, Tue 09:30; Fri 17:00"),
        ([(5, "11:00"), (0, "11:00"), (2, "11:00")], "Mon, Wed, Sat 11:00"),
    ],
)
def test_slots_summary(slots: list[tuple[int, str]], text: str) -> None:
    assert oauth.slots_summary(slots) == text


def test_reconnect_count_is_per_workspace(world: World) -> None:
    [channel] = world.connect("x").channels
    with world.db.transaction() as session:
        other = workspaces.create_workspace(
            session, name="Other", owner=session.get_one(User, world.owner.id), actor=Actor.cli()
        )
        current = session.get_one(Channel, channel.id)
        assert oauth.reconnect_count(session, workspace_id=world.workspace.id) == 0
        channels.mark_needs_reconnect(session, channel=current, reason="token revoked")
        session.flush()
        assert oauth.reconnect_count(session, workspace_id=world.workspace.id) == 1
        assert oauth.reconnect_count(session, workspace_id=other.id) == 0


# -- public media URLs -----------------------------------------------------------------------


@pytest.fixture
def media_settings(tmp_path: Path) -> Settings:
    settings = load_settings(
        data_dir=tmp_path / "data", secret_key="m" * 48, base_url="https://desk.example"
    )
    settings.ensure_data_dir()
    return settings


def _parts(path: str) -> tuple[str, str, str]:
    prefix, expires, sig, relative = path.split("/", 4)[1:]
    assert "/" + prefix == public_urls.PREFIX
    return expires, sig, relative


def test_a_signed_media_url_is_valid_until_it_expires(media_settings: Settings) -> None:
    now = time.time()
    path = public_urls.signed_path(media_settings, relative="ws/ab/abc.jpg", now=now)
    expires, sig, relative = _parts(path)
    assert int(expires) == int(now) + public_urls.URL_SECONDS
    check = public_urls.check
    assert check(media_settings, relative=relative, expires=expires, sig=sig) is Verdict.VALID
    later = now + public_urls.URL_SECONDS + 1
    assert (
        check(media_settings, relative=relative, expires=expires, sig=sig, now=later)
        is Verdict.EXPIRED
    )


@pytest.mark.parametrize(
    "tamper",
    ["signature", "path", "expiry", "traversal", "other key"],
)
def test_a_tampered_media_url_is_invalid(
    media_settings: Settings, tamper: str, tmp_path: Path
) -> None:
    expires, sig, relative = _parts(
        public_urls.signed_path(media_settings, relative="ws/ab/abc.jpg")
    )
    settings = media_settings
    if tamper == "signature":
        sig = ("A" if sig[0] != "A" else "B") + sig[1:]
    elif tamper == "path":
        relative = "ws/ab/abd.jpg"
    elif tamper == "expiry":
        expires = str(int(expires) + 3600)
    elif tamper == "traversal":
        relative = "ws/../../secret.key"
    else:
        settings = load_settings(data_dir=tmp_path / "other", secret_key="n" * 48)
    assert (
        public_urls.check(settings, relative=relative, expires=expires, sig=sig) is Verdict.INVALID
    )


def _item(path: Path) -> MediaItem:
    return MediaItem(path=path, mime_type="image/jpeg", size_bytes=3)


def test_the_resolver_signs_files_of_the_media_directory(media_settings: Settings) -> None:
    target = media_settings.media_dir / "derived" / "photo.jpg"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"jpg")
    resolver = SignedMediaUrls(settings=media_settings, network="Instagram")
    runtime = NetworkRuntime()
    try:
        url = runtime.run(resolver(_item(target)))
    finally:
        runtime.close()
    assert url.startswith("https://desk.example/media/")
    assert url.endswith("/derived/photo.jpg")
    expires, sig, relative = _parts(urlsplit(url).path)
    assert public_urls.check(media_settings, relative=relative, expires=expires, sig=sig) is (
        Verdict.VALID
    )
    assert public_urls.file_for(media_settings, relative) == target.resolve()


def test_the_resolver_refuses_what_meta_could_not_fetch(
    media_settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"jpg")
    runtime = NetworkRuntime()
    try:
        with pytest.raises(Rejected, match="not in the media library"):
            runtime.run(SignedMediaUrls(settings=media_settings, network="Threads")(_item(outside)))
        local = load_settings(data_dir=media_settings.data_dir, secret_key="m" * 48)
        inside = media_settings.media_dir / "a.jpg"
        inside.write_bytes(b"jpg")
        with pytest.raises(Rejected, match="SOCIALDESK_BASE_URL"):
            runtime.run(SignedMediaUrls(settings=local, network="Instagram")(_item(inside)))
    finally:
        runtime.close()


def test_instagram_and_threads_connectors_get_the_resolver(media_settings: Settings) -> None:
    for network in ("instagram", "threads"):
        options = oauth.connector_options(network, media_settings)
        assert isinstance(options["media_urls"], SignedMediaUrls)
    assert oauth.connector_options("bluesky", media_settings) == {}
