# SPDX-License-Identifier: AGPL-3.0-or-later
"""Connecting a channel in the browser: a flow that calls the real network.

::

    start_connect ──► the network's consent page ──► /oauth/callback/<network>
                                                      │
                                        finish_connect: exchange the code (PKCE),
                                        verify the account, save the channel

Like a Home Assistant config flow, nothing is saved unless the network confirmed which
account the consent opened, and every failure (declined consent, a bad or reused code,
a network error) becomes a message for the person and changes nothing.

- The flow in progress is an :class:`~socialdesk.storage.tables.OAuthState` row: the
  ``state`` we send is random and stored only as a hash; the PKCE verifier is encrypted
  with the vault; the row lives 10 minutes and is deleted when used (single use). Only
  the person who started the flow can finish it, and only while they may still manage
  the workspace's connections.
- Mastodon has no central app: socialdesk registers itself on each instance once
  (``POST /api/v1/apps``) and keeps the registration in ``OAuthClient``, its secret
  encrypted, for every later connection to that instance.
- Facebook and Instagram: one consent gives a user token that reaches several Pages (and
  the Instagram accounts linked to them). When there is more than one, the person
  chooses which to connect: an agency's staff often manage many clients' Pages, and
  connecting all of them into one client's workspace would mix tenants. The accounts
  wait for that choice encrypted, in an ``OAuthState`` row of its own, for 10 minutes.
- Network calls never run inside a database transaction (on SQLite a transaction holds
  the write lock): each step reads in one transaction, calls the network, and writes in
  another.

The networks' OAuth helpers differ (PKCE or not, one token or a user token that lists
Pages); the small ``_Flow`` classes below adapt each connector module's helpers to one
shape. What a network *is* stays in its connector module.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, require
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import access_for
from socialdesk.config import Settings
from socialdesk.connectors import linkedin, mastodon, x
from socialdesk.connectors.base import Credentials, Network
from socialdesk.connectors.facebook import FacebookConnector, FacebookPage
from socialdesk.connectors.linkedin import LinkedInConnector
from socialdesk.connectors.meta_graph import MetaApp
from socialdesk.connectors.registry import connector_class
from socialdesk.connectors.threads import ThreadsConnector
from socialdesk.connectors.x import XConnector
from socialdesk.errors import (
    ConnectorError,
    NotFound,
    PermissionDenied,
    Rejected,
    ValidationError,
)
from socialdesk.media.public_urls import SignedMediaUrls
from socialdesk.publishing import channels
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.session import Database
from socialdesk.storage.tables import Channel, OAuthClient, OAuthState, QueueSlot, User
from socialdesk.storage.types import utcnow

logger = logging.getLogger(__name__)

#: How long a person has to approve on the network's page (and to choose Pages after).
STATE_TTL = dt.timedelta(minutes=10)
CALLBACK_PATH = "/oauth/callback/{network}"

TOOK_TOO_LONG = "the connection took too long; start again"
UNKNOWN_STATE = (
    "this connection link is not valid (already used, or not from this server); "
    "start again from the Channels page"
)

Method = Literal["password", "instance", "oauth"]


def _hash(value: str, *, purpose: str) -> str:
    return hashlib.sha256(f"{purpose}:{value}".encode()).hexdigest()


def callback_url(settings: Settings, network: str) -> str:
    """Where the network sends the browser back; register it in the network's app."""
    return settings.base_url.rstrip("/") + CALLBACK_PATH.format(network=network)


# -- the networks' apps, from settings ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class _AppFields:
    id_field: str
    secret_field: str
    secret_required: bool


#: Which settings hold each network's app. Mastodon registers itself per instance and
#: Bluesky signs in with an app password, so neither needs one.
_APP_FIELDS: dict[str, _AppFields] = {
    "x": _AppFields("x_client_id", "x_client_secret", secret_required=False),
    "linkedin": _AppFields("linkedin_client_id", "linkedin_client_secret", secret_required=True),
    "facebook": _AppFields("meta_app_id", "meta_app_secret", secret_required=True),
    "instagram": _AppFields("meta_app_id", "meta_app_secret", secret_required=True),
    "threads": _AppFields("threads_app_id", "threads_app_secret", secret_required=True),
}


@dataclass(frozen=True, slots=True)
class AppCredentials:
    client_id: str
    client_secret: str | None = field(repr=False)


def _env(name: str) -> str:
    return f"SOCIALDESK_{name.upper()}"


def app_credentials(settings: Settings, network: str) -> AppCredentials | None:
    """The network's app as configured, or None when it is not (fully) configured."""
    fields = _APP_FIELDS.get(network)
    if fields is None:
        return None
    client_id = getattr(settings, fields.id_field)
    secret = getattr(settings, fields.secret_field)
    secret_value = secret.get_secret_value() if secret is not None else None
    if not client_id or (fields.secret_required and not secret_value):
        return None
    return AppCredentials(client_id=client_id, client_secret=secret_value or None)


def settings_to_set(settings: Settings, network: str) -> tuple[str, ...]:
    """The environment variables still to set before ``network`` can be connected."""
    fields = _APP_FIELDS.get(network)
    if fields is None or app_credentials(settings, network) is not None:
        return ()
    names = [_env(fields.id_field)] if not getattr(settings, fields.id_field) else []
    secret = getattr(settings, fields.secret_field)
    if fields.secret_required and not (secret and secret.get_secret_value()):
        names.append(_env(fields.secret_field))
    return tuple(names)


def missing_settings(settings: Settings, network: str) -> str | None:
    """Why ``network`` cannot be connected here, naming the variables to set; else None."""
    names = settings_to_set(settings, network)
    return "not configured: set " + " and ".join(names) if names else None


def _url(settings: Settings, key: str, default: str) -> str:
    return settings.network_urls.get(key) or default


@dataclass(frozen=True, slots=True)
class ConnectOption:
    """One way to connect, as the Channels page offers it."""

    network: str
    display_name: str
    method: Method
    blurb: str
    #: "not configured: set SOCIALDESK_…" where the app is missing; None when usable.
    missing: str | None = None
    #: The variables that message names.
    settings_to_set: tuple[str, ...] = ()


_BLURBS: dict[str, tuple[Method, str]] = {
    "bluesky": ("password", "Sign in with your handle and an app password."),
    "mastodon": ("instance", "Any instance; socialdesk registers itself there the first time."),
    "x": ("oauth", "Your X account: posts, threads and polls."),
    "linkedin": ("oauth", "Your LinkedIn profile."),
    "facebook": ("oauth", "Facebook Pages you manage."),
    "instagram": ("oauth", "Instagram professional accounts linked to your Facebook Pages."),
    "threads": ("oauth", "Your Threads profile."),
}


def method_of(network: str) -> Method:
    """How ``network`` connects: an app password, an instance then OAuth, or OAuth."""
    return _BLURBS[connector_class(network).network.value][0]


def connect_options(settings: Settings) -> list[ConnectOption]:
    """Every network, in the order the page shows them, with what is missing to use it."""
    return [
        ConnectOption(
            network=network,
            display_name=connector_class(network).display_name,
            method=method,
            blurb=blurb,
            missing=missing_settings(settings, network),
            settings_to_set=settings_to_set(settings, network),
        )
        for network, (method, blurb) in _BLURBS.items()
    ]


def connector_options(network: str, settings: Settings) -> dict[str, Any]:
    """What a connector needs from this deployment beyond the channel's credentials.

    The app (to refresh X and LinkedIn tokens) and a public URL for each media file
    (Instagram and Threads download media by URL; see :mod:`socialdesk.media.public_urls`).
    """
    app = app_credentials(settings, network)
    if network == Network.X and app is not None:
        client = x.OAuthClient(
            client_id=app.client_id,
            redirect_uri=callback_url(settings, network),
            client_secret=app.client_secret,
        )
        return {"oauth_client": client}
    if network == Network.LINKEDIN and app is not None:
        options: dict[str, Any] = {
            "oauth_client": linkedin.OAuthClient(
                client_id=app.client_id,
                redirect_uri=callback_url(settings, network),
                client_secret=app.client_secret,
            )
        }
        if "linkedin.oauth" in settings.network_urls:
            options["oauth_base_url"] = settings.network_urls["linkedin.oauth"]
        return options
    if network in (Network.INSTAGRAM, Network.THREADS):
        display = connector_class(network).display_name
        return {"media_urls": SignedMediaUrls(settings=settings, network=display)}
    return {}


# -- one adapter per network's OAuth helpers ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Client:
    """The app registration a flow uses (from settings, or Mastodon's per instance)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    redirect_uri: str
    #: Mastodon: the instance. Others: the API address the channel will use.
    base_url: str


@dataclass(frozen=True, slots=True)
class _Account:
    """An account the consent opened, to verify and save (or to offer as a choice)."""

    credentials: Credentials
    #: The channel's API address; None for the connector's default.
    base_url: str | None
    key: str = ""
    label: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class _Exchange:
    """What trading a code needs: the HTTP client, the settings, the app, the code."""

    http: httpx.AsyncClient
    settings: Settings
    client: _Client
    code: str = field(repr=False)
    verifier: str = field(repr=False)


class _Flow:
    network: ClassVar[str]
    #: Several accounts may come back; the person chooses when there is more than one.
    several: ClassVar[bool] = False
    api_key: ClassVar[str | None] = None

    @property
    def display_name(self) -> str:
        return connector_class(self.network).display_name

    def api_base(self, settings: Settings) -> str | None:
        return settings.network_urls.get(self.api_key) if self.api_key else None

    def client(self, settings: Settings) -> _Client:
        app = app_credentials(settings, self.network)
        if app is None:
            raise ValidationError(
                f"{self.display_name} is {missing_settings(settings, self.network)}",
                field="network",
            )
        base = self.api_base(settings) or connector_class(self.network).default_base_url or ""
        return _Client(
            client_id=app.client_id,
            client_secret=app.client_secret,
            redirect_uri=callback_url(settings, self.network),
            base_url=base,
        )

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        raise NotImplementedError

    async def accounts(self, call: _Exchange) -> list[_Account]:
        """Trade the code for credentials: the accounts this consent opened."""
        raise NotImplementedError

    def app_refused(self, exc: ConnectorError) -> bool:
        """Whether the network no longer knows our app (so the registration is stale)."""
        return False


class _MastodonFlow(_Flow):
    network = Network.MASTODON.value

    @staticmethod
    def app(client: _Client) -> mastodon.MastodonApp:
        return mastodon.MastodonApp(
            base_url=client.base_url,
            client_id=client.client_id,
            client_secret=client.client_secret or "",
            redirect_uri=client.redirect_uri,
        )

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        return mastodon.authorization_url(self.app(client), state=state, code_verifier=verifier).url

    async def accounts(self, call: _Exchange) -> list[_Account]:
        credentials = await mastodon.exchange_code(
            call.http, self.app(call.client), code=call.code, code_verifier=call.verifier
        )
        return [_Account(credentials=credentials, base_url=call.client.base_url)]

    def app_refused(self, exc: ConnectorError) -> bool:
        # An instance that was reset or purged apps answers the token request 401.
        return isinstance(exc, Rejected) and exc.reason == "invalid_client"


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _XFlow(_Flow):
    network = Network.X.value
    api_key = "x.api"

    @staticmethod
    def app(client: _Client) -> x.OAuthClient:
        return x.OAuthClient(
            client_id=client.client_id,
            redirect_uri=client.redirect_uri,
            client_secret=client.client_secret,
        )

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        return XConnector.authorization_url(
            self.app(client),
            state=state,
            code_challenge=_pkce_challenge(verifier),
            authorize_url=_url(settings, "x.authorize", x.AUTHORIZE_URL),
        )

    async def accounts(self, call: _Exchange) -> list[_Account]:
        credentials = await XConnector.exchange_code(
            http=call.http,
            client=self.app(call.client),
            code=call.code,
            code_verifier=call.verifier,
            base_url=call.client.base_url,
        )
        return [_Account(credentials=credentials, base_url=self.api_base(call.settings))]


class _LinkedInFlow(_Flow):
    network = Network.LINKEDIN.value
    api_key = "linkedin.api"

    @staticmethod
    def app(client: _Client) -> linkedin.OAuthClient:
        return linkedin.OAuthClient(
            client_id=client.client_id,
            redirect_uri=client.redirect_uri,
            client_secret=client.client_secret,
        )

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        return LinkedInConnector.authorization_url(
            self.app(client),
            state=state,
            # LinkedIn refuses a challenge from an app it has not enabled PKCE for.
            code_challenge=_pkce_challenge(verifier) if settings.linkedin_pkce else None,
            oauth_base_url=_url(settings, "linkedin.oauth", linkedin.OAUTH_BASE_URL),
        )

    async def accounts(self, call: _Exchange) -> list[_Account]:
        settings = call.settings
        oauth_base = _url(settings, "linkedin.oauth", linkedin.OAUTH_BASE_URL)
        credentials = await LinkedInConnector.exchange_code(
            http=call.http,
            client=self.app(call.client),
            code=call.code,
            code_verifier=call.verifier if settings.linkedin_pkce else None,
            oauth_base_url=oauth_base,
        )
        if "linkedin.oauth" in settings.network_urls:
            # The connector refreshes against this host later (it reads it from extra).
            extra = {**credentials.extra, "oauth_base_url": oauth_base}
            credentials = Credentials(
                access_token=credentials.access_token,
                refresh_token=credentials.refresh_token,
                expires_at=credentials.expires_at,
                extra=extra,
            )
        return [_Account(credentials=credentials, base_url=self.api_base(settings))]


class _FacebookFlow(_Flow):
    """Facebook Login: a user token, made long-lived, that lists the person's Pages."""

    network = Network.FACEBOOK.value
    several = True
    api_key = "facebook.api"
    scopes: ClassVar[tuple[str, ...] | None] = None

    @staticmethod
    def app(client: _Client) -> MetaApp:
        return MetaApp(client_id=client.client_id, client_secret=client.client_secret or "")

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        return FacebookConnector.authorization_url(
            self.app(client),
            redirect_uri=client.redirect_uri,
            state=state,
            scopes=self.scopes,
            dialog_url=settings.network_urls.get("facebook.authorize"),
        )

    async def pages(self, call: _Exchange) -> list[FacebookPage]:
        api = call.settings.network_urls.get("facebook.api")
        app = self.app(call.client)
        short = await FacebookConnector.exchange_code(
            call.http, app, code=call.code, redirect_uri=call.client.redirect_uri, base_url=api
        )
        user = await FacebookConnector.exchange_long_lived(call.http, app, short, base_url=api)
        return await FacebookConnector.list_pages(call.http, user, base_url=api)

    async def accounts(self, call: _Exchange) -> list[_Account]:
        pages = await self.pages(call)
        if not pages:
            raise ValidationError(
                "your Facebook account manages no Page that socialdesk was allowed to use; "
                "connect again and select your Pages on Facebook's page"
            )
        return [
            _Account(
                credentials=page.credentials,
                base_url=self.api_base(call.settings),
                key=page.page_id,
                label=page.name,
                detail="Facebook Page",
            )
            for page in pages
        ]


class _InstagramFlow(_FacebookFlow):
    """Instagram API with Facebook Login: the accounts linked to the person's Pages.

    Permissions from developers.facebook.com/docs/instagram-platform/
    instagram-api-with-facebook-login (checked 2026-11).
    """

    network = Network.INSTAGRAM.value
    api_key = "instagram.api"
    scopes = (
        "instagram_basic",
        "instagram_content_publish",
        "instagram_manage_comments",
        "pages_show_list",
        "pages_read_engagement",
        "business_management",
    )

    async def accounts(self, call: _Exchange) -> list[_Account]:
        found = []
        for page in await self.pages(call):
            credentials = page.instagram_credentials()
            if credentials is None or page.instagram_user_id is None:
                continue
            name = page.instagram_username or page.instagram_user_id
            found.append(
                _Account(
                    credentials=credentials,
                    base_url=self.api_base(call.settings),
                    key=page.instagram_user_id,
                    label=f"@{name}",
                    detail=f"linked to the Facebook Page {page.name}",
                )
            )
        if not found:
            raise ValidationError(
                "none of your Facebook Pages has an Instagram professional account linked "
                "to it; link one in the Page's settings, then connect again"
            )
        return found


class _ThreadsFlow(_Flow):
    network = Network.THREADS.value
    api_key = "threads.api"

    @staticmethod
    def app(client: _Client) -> MetaApp:
        return MetaApp(client_id=client.client_id, client_secret=client.client_secret or "")

    def authorize_url(
        self, settings: Settings, client: _Client, *, state: str, verifier: str
    ) -> str:
        return ThreadsConnector.authorization_url(
            self.app(client),
            redirect_uri=client.redirect_uri,
            state=state,
            authorize_url=settings.network_urls.get("threads.authorize"),
        )

    async def accounts(self, call: _Exchange) -> list[_Account]:
        api = self.api_base(call.settings)
        app = self.app(call.client)
        short = await ThreadsConnector.exchange_code(
            call.http, app, code=call.code, redirect_uri=call.client.redirect_uri, base_url=api
        )
        credentials = await ThreadsConnector.exchange_long_lived(
            call.http, app, short, base_url=api
        )
        return [_Account(credentials=credentials, base_url=api)]


_FLOWS: dict[str, _Flow] = {
    flow.network: flow
    for flow in (
        _MastodonFlow(),
        _XFlow(),
        _LinkedInFlow(),
        _FacebookFlow(),
        _InstagramFlow(),
        _ThreadsFlow(),
    )
}
#: The networks connected through a consent page, in the order the API documents them.
OAUTH_NETWORKS: tuple[str, ...] = tuple(_FLOWS)


def _flow(network: str) -> _Flow:
    cls = connector_class(network)  # a ValidationError for an unknown network
    flow = _FLOWS.get(cls.network.value)
    if flow is None:
        raise ValidationError(
            f"{cls.display_name} connects with an app password, not through a consent page",
            field="network",
        )
    return flow


# -- Mastodon: one app registration per instance -----------------------------------------


_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")


def instance_url(value: str, *, settings: Settings) -> str:
    """A Mastodon instance's address from what a person typed (``mastodon.social``,
    ``https://mastodon.social/``, ``@ana@mastodon.social``)."""
    text = value.strip()
    if "://" not in text and "@" in text:
        text = text.rsplit("@", 1)[1]
    if not text:
        raise ValidationError(
            "enter your Mastodon instance's address, like mastodon.social", field="instance_url"
        )
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = -1
    host = (parts.hostname or "").lower()
    if (
        parts.scheme not in ("http", "https")
        or not _HOST.fullmatch(host)
        or port == -1
        or parts.username
        or parts.password
        or parts.query
        or parts.fragment
        or parts.path not in ("", "/")
    ):
        raise ValidationError(
            f"{value.strip()[:100]!r} is not an instance address; enter just its name, "
            "like mastodon.social",
            field="instance_url",
        )
    if parts.scheme == "http" and settings.is_production:
        raise ValidationError("the instance must be reached over https", field="instance_url")
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _find_client(
    session: Session, *, network: str, base_url: str, redirect_uri: str
) -> OAuthClient | None:
    return session.scalars(
        select(OAuthClient).where(
            OAuthClient.network == network,
            OAuthClient.base_url == base_url,
            OAuthClient.redirect_uri == redirect_uri,
        )
    ).first()


def _mastodon_client(
    session: Session,
    *,
    vault: Vault,
    settings: Settings,
    network_runtime: NetworkRuntime,
    instance: str,
) -> _Client:
    network = Network.MASTODON.value
    redirect_uri = callback_url(settings, network)
    row = _find_client(session, network=network, base_url=instance, redirect_uri=redirect_uri)
    if row is None:
        session.commit()  # hold no transaction (on SQLite: the write lock) while it answers
        try:
            app = network_runtime.run(
                mastodon.register_app(
                    network_runtime.http, instance, redirect_uri, website=settings.base_url
                )
            )
        except ConnectorError as exc:
            raise ValidationError(
                f"the instance at {instance} did not register socialdesk ({exc.message})",
                field="instance_url",
            ) from exc
        try:
            with session.begin_nested():
                row = OAuthClient(
                    network=network,
                    base_url=instance,
                    redirect_uri=redirect_uri,
                    client_id=app.client_id,
                    client_secret_ciphertext=vault.encrypt(app.client_secret),
                )
                session.add(row)
        except IntegrityError:
            # Another request registered on this instance meanwhile: use that one.
            row = _find_client(
                session, network=network, base_url=instance, redirect_uri=redirect_uri
            )
            if row is None:
                raise
        logger.info("registered socialdesk on the Mastodon instance %s", instance)
    return _Client(
        client_id=row.client_id,
        client_secret=(
            vault.decrypt(row.client_secret_ciphertext) if row.client_secret_ciphertext else None
        ),
        redirect_uri=row.redirect_uri,
        base_url=row.base_url,
    )


# -- starting ------------------------------------------------------------------------------


def start_connect(
    session: Session,
    *,
    vault: Vault,
    settings: Settings,
    network_runtime: NetworkRuntime,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    network: str,
    base_url: str | None = None,
) -> str:
    """Begin connecting ``network``; returns the consent page to send the browser to.

    ``base_url`` is the Mastodon instance. The caller checked the permission to manage
    connections. For an instance seen for the first time this registers socialdesk
    there, a network call: the session is committed before it, so no transaction is held.
    """
    flow = _flow(network)
    if isinstance(flow, _MastodonFlow):
        instance = instance_url(base_url or "", settings=settings)
        client = _mastodon_client(
            session,
            vault=vault,
            settings=settings,
            network_runtime=network_runtime,
            instance=instance,
        )
    else:
        client = flow.client(settings)
    session.execute(delete(OAuthState).where(OAuthState.expires_at < utcnow()))
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters; RFC 7636 allows 43 to 128
    session.add(
        OAuthState(
            workspace_id=workspace_id,
            state_hash=_hash(state, purpose="state"),
            network=flow.network,
            base_url=client.base_url,
            user_id=user_id,
            verifier_ciphertext=vault.encrypt(verifier),
            expires_at=utcnow() + STATE_TTL,
        )
    )
    session.flush()
    logger.info("connect flow started: %s in workspace %s", flow.network, workspace_id)
    return flow.authorize_url(settings, client, state=state, verifier=verifier)


# -- finishing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectOutcome:
    """How a connection ended: the channels saved, or a choice to make first."""

    workspace_id: uuid.UUID
    network: str
    channels: list[Channel] = field(default_factory=list)
    #: Accounts that could not be connected, with the reason (the others were).
    failures: list[str] = field(default_factory=list)
    #: Several accounts came back: the token of the choice (keep it in the browser's
    #: session, never in a URL) for :func:`pending_choice` and :func:`connect_chosen`.
    choice: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Claimed:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    network: str
    base_url: str
    secret: str = field(repr=False)


def _may_manage(session: Session, *, user_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such workspace")
    require(
        access_for(session, user=user, workspace_id=workspace_id).role,
        Permission.CONNECTIONS_MANAGE,
    )


def _claim(
    db: Database,
    *,
    vault: Vault,
    purpose: str,
    token: str,
    network: str | None,
    actor: Actor,
    workspace_id: uuid.UUID | None = None,
    consume: bool = True,
) -> _Claimed:
    """Find a flow's row by its token; check who asks; delete it (single use) if asked."""
    claimed: _Claimed | None = None
    with db.transaction() as session:
        row = (
            session.scalars(
                select(OAuthState).where(OAuthState.state_hash == _hash(token, purpose=purpose))
            ).first()
            if token
            else None
        )
        if (
            row is None
            or (network is not None and row.network != network)
            or (workspace_id is not None and row.workspace_id != workspace_id)
        ):
            raise ValidationError(UNKNOWN_STATE, field="state")
        if row.user_id != actor.user_id:
            raise PermissionDenied(
                "this connection was started by someone else; start your own from the Channels page"
            )
        _may_manage(session, user_id=row.user_id, workspace_id=row.workspace_id)
        if consume:
            gone = session.execute(delete(OAuthState).where(OAuthState.id == row.id))
            if cast(CursorResult[Any], gone).rowcount != 1:
                raise ValidationError(UNKNOWN_STATE, field="state")  # used meanwhile
        if row.expires_at > utcnow():
            claimed = _Claimed(
                workspace_id=row.workspace_id,
                user_id=row.user_id,
                network=row.network,
                base_url=row.base_url,
                secret=vault.decrypt(row.verifier_ciphertext),
            )
    if claimed is None:  # raised after the commit, so the expired row is gone for good
        raise ValidationError(TOOK_TOO_LONG, field="state")
    return claimed


def state_workspace(session: Session, *, state: str, user_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace of a flow this user started (to send them back there), if any."""
    if not state:
        return None
    row = session.scalars(
        select(OAuthState).where(OAuthState.state_hash == _hash(state, purpose="state"))
    ).first()
    return row.workspace_id if row is not None and row.user_id == user_id else None


_DECLINED = frozenset(
    {"access_denied", "user_denied", "user_cancelled_authorize", "user_cancelled_login"}
)


def _declined(flow: _Flow, error: str) -> str:
    if error in _DECLINED:
        return (
            f"{flow.display_name} was not connected: the permission was not given. "
            "Nothing was changed"
        )
    code = "".join(ch for ch in error if ch.isalnum() or ch in "_-.")[:60]
    return (
        f"{flow.display_name} did not connect ({code or 'an error'}); nothing was changed. "
        "Start again from the Channels page"
    )


def _failed(flow: _Flow, exc: ConnectorError) -> ValidationError:
    return ValidationError(
        f"{flow.display_name} did not complete the connection: {exc.message}. "
        "Nothing was changed; start again from the Channels page"
    )


def _client_for_finish(
    db: Database, *, vault: Vault, settings: Settings, flow: _Flow, claimed: _Claimed
) -> _Client:
    if not isinstance(flow, _MastodonFlow):
        return flow.client(settings)
    with db.transaction() as session:
        row = _find_client(
            session,
            network=flow.network,
            base_url=claimed.base_url,
            redirect_uri=callback_url(settings, flow.network),
        )
        if row is None:
            raise ValidationError(UNKNOWN_STATE, field="state")
        return _Client(
            client_id=row.client_id,
            client_secret=(
                vault.decrypt(row.client_secret_ciphertext)
                if row.client_secret_ciphertext
                else None
            ),
            redirect_uri=row.redirect_uri,
            base_url=row.base_url,
        )


def _forget_client(db: Database, *, settings: Settings, flow: _Flow, base_url: str) -> None:
    """Drop a registration the instance no longer knows; the next start registers anew."""
    with db.transaction() as session:
        session.execute(
            delete(OAuthClient).where(
                OAuthClient.network == flow.network,
                OAuthClient.base_url == base_url,
                OAuthClient.redirect_uri == callback_url(settings, flow.network),
            )
        )
    logger.info("forgot the registration on %s: the instance no longer knows it", base_url)


def finish_connect(
    db: Database,
    *,
    vault: Vault,
    settings: Settings,
    network_runtime: NetworkRuntime,
    network: str,
    state: str,
    code: str | None,
    actor: Actor,
    error: str | None = None,
) -> ConnectOutcome:
    """Finish a flow from the network's redirect (``code`` and ``state``, or ``error``).

    The state is used up whatever happens next. Raises ``ValidationError`` (unknown,
    used or expired state; declined consent; a code or account the network refused) and
    ``PermissionDenied`` (someone else's flow, or no longer allowed to manage
    connections); none of them leaves anything connected.
    """
    flow = _flow(network)
    claimed = _claim(
        db, vault=vault, purpose="state", token=state, network=flow.network, actor=actor
    )
    if error:
        raise ValidationError(_declined(flow, error))
    if not code:
        raise ValidationError(
            f"{flow.display_name} sent the browser back without an authorization code; start again"
        )
    client = _client_for_finish(db, vault=vault, settings=settings, flow=flow, claimed=claimed)
    try:
        call = _Exchange(
            http=network_runtime.http,
            settings=settings,
            client=client,
            code=code,
            verifier=claimed.secret,
        )
        accounts = network_runtime.run(flow.accounts(call))
    except ConnectorError as exc:
        if flow.app_refused(exc):
            _forget_client(db, settings=settings, flow=flow, base_url=claimed.base_url)
        raise _failed(flow, exc) from exc
    if flow.several and len(accounts) > 1:
        token = _store_choice(
            db, vault=vault, claimed=claimed, network=flow.network, actor=actor, accounts=accounts
        )
        return ConnectOutcome(workspace_id=claimed.workspace_id, network=flow.network, choice=token)
    return _connect_all(
        db,
        vault=vault,
        network_runtime=network_runtime,
        flow=flow,
        workspace_id=claimed.workspace_id,
        accounts=accounts,
        actor=actor,
    )


def _connect_all(
    db: Database,
    *,
    vault: Vault,
    network_runtime: NetworkRuntime,
    flow: _Flow,
    workspace_id: uuid.UUID,
    accounts: Sequence[_Account],
    actor: Actor,
) -> ConnectOutcome:
    """Verify and save each account; one account failing does not undo the others."""
    connected: list[Channel] = []
    failures: list[str] = []
    for account in accounts:
        try:
            connected.append(
                channels.connect_channel(
                    db,
                    vault=vault,
                    http=network_runtime.http,
                    run=network_runtime.run,
                    workspace_id=workspace_id,
                    network=flow.network,
                    base_url=account.base_url,
                    credentials=account.credentials,
                    actor=actor,
                )
            )
        except ConnectorError as exc:
            if len(accounts) == 1:
                raise _failed(flow, exc) from exc
            failures.append(f"{account.label or flow.display_name}: {exc.message}")
    logger.info(
        "connect flow finished: %s in workspace %s, %s connected, %s failed",
        flow.network,
        workspace_id,
        len(connected),
        len(failures),
    )
    return ConnectOutcome(
        workspace_id=workspace_id, network=flow.network, channels=connected, failures=failures
    )


# -- choosing among several accounts (Facebook Pages, Instagram accounts) -----------------


@dataclass(frozen=True, slots=True)
class Choice:
    key: str
    label: str
    detail: str


def _store_choice(
    db: Database,
    *,
    vault: Vault,
    claimed: _Claimed,
    network: str,
    actor: Actor,
    accounts: Sequence[_Account],
) -> str:
    token = secrets.token_urlsafe(32)
    payload = json.dumps(
        [
            {
                "key": a.key,
                "label": a.label,
                "detail": a.detail,
                "base_url": a.base_url,
                "credentials": channels.credentials_to_json(a.credentials),
            }
            for a in accounts
        ]
    )
    with db.transaction(workspace_id=claimed.workspace_id) as session:
        session.add(
            OAuthState(
                workspace_id=claimed.workspace_id,
                state_hash=_hash(token, purpose="choice"),
                network=network,
                base_url=claimed.base_url,
                user_id=claimed.user_id,
                verifier_ciphertext=vault.encrypt(payload),
                expires_at=utcnow() + STATE_TTL,
            )
        )
    return token


def _accounts_of(payload: str) -> list[_Account]:
    return [
        _Account(
            credentials=channels.credentials_from_json(item["credentials"]),
            base_url=item["base_url"],
            key=item["key"],
            label=item["label"],
            detail=item["detail"],
        )
        for item in json.loads(payload)
    ]


def pending_choice(
    db: Database, *, vault: Vault, token: str, workspace_id: uuid.UUID, actor: Actor
) -> tuple[str, list[Choice]]:
    """The network and the accounts waiting to be chosen (nothing is used up)."""
    claimed = _claim(
        db,
        vault=vault,
        purpose="choice",
        token=token,
        network=None,
        actor=actor,
        workspace_id=workspace_id,
        consume=False,
    )
    accounts = _accounts_of(claimed.secret)
    return claimed.network, [Choice(a.key, a.label, a.detail) for a in accounts]


def connect_chosen(
    db: Database,
    *,
    vault: Vault,
    network_runtime: NetworkRuntime,
    token: str,
    workspace_id: uuid.UUID,
    keys: Sequence[str],
    actor: Actor,
) -> ConnectOutcome:
    """Connect the accounts the person ticked; the choice is used up."""
    if not keys:
        raise ValidationError("tick at least one account to connect", field="accounts")
    claimed = _claim(
        db,
        vault=vault,
        purpose="choice",
        token=token,
        network=None,
        actor=actor,
        workspace_id=workspace_id,
    )
    wanted = set(keys)
    accounts = [a for a in _accounts_of(claimed.secret) if a.key in wanted]
    return _connect_all(
        db,
        vault=vault,
        network_runtime=network_runtime,
        flow=_flow(claimed.network),
        workspace_id=workspace_id,
        accounts=accounts,
        actor=actor,
    )


def cancel_choice(db: Database, *, token: str, workspace_id: uuid.UUID) -> None:
    with db.transaction(workspace_id=workspace_id) as session:
        session.execute(
            delete(OAuthState).where(OAuthState.state_hash == _hash(token, purpose="choice"))
        )


# -- networks without a consent page (Bluesky: an app password) ---------------------------


def connect_with_password(
    db: Database,
    *,
    vault: Vault,
    network_runtime: NetworkRuntime,
    workspace_id: uuid.UUID,
    network: str,
    handle: str,
    password: str,
    service_url: str,
    actor: Actor,
) -> Channel:
    """Connect with a handle and an app password, verified by signing in first."""
    cls = connector_class(network)
    if cls.capabilities.oauth:
        raise ValidationError(
            f"{cls.display_name} connects through its consent page", field="network"
        )
    handle = handle.strip().lstrip("@")
    if not handle:
        raise ValidationError("enter your handle, like ana.bsky.social", field="handle")
    if not password.strip():
        raise ValidationError("enter an app password", field="app_password")
    base_url = None
    if service_url.strip():
        parts = urlsplit(service_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                "enter the server's full address, like https://bsky.social", field="service_url"
            )
        base_url = service_url.strip().rstrip("/")
    try:
        return channels.connect_channel(
            db,
            vault=vault,
            http=network_runtime.http,
            run=network_runtime.run,
            workspace_id=workspace_id,
            network=network,
            base_url=base_url,
            credentials=Credentials(access_token=password.strip(), extra={"identifier": handle}),
            actor=actor,
        )
    except ConnectorError as exc:
        raise ValidationError(
            f"{cls.display_name} did not accept this handle and app password: {exc.message}",
            field="app_password",
        ) from exc


# -- what the Channels page shows ---------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def slots_summary(slots: Sequence[tuple[int, str]]) -> str:
    """Weekly posting times as people read them: ``Mon-Fri 09:30; Sat 11:00`` (en dash)."""
    by_time: dict[str, list[int]] = {}
    for weekday, local_time in sorted(slots, key=lambda s: (s[1], s[0])):
        by_time.setdefault(local_time, []).append(weekday)
    parts = []
    for local_time, days in by_time.items():
        runs: list[list[int]] = []
        for day in days:
            if runs and day == runs[-1][-1] + 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        text = ", ".join(
            f"{_DAYS[r[0]]}\u2013{_DAYS[r[-1]]}" if len(r) > 2 else ", ".join(_DAYS[d] for d in r)
            for r in runs
        )
        parts.append(f"{text} {local_time}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel: Channel
    network_name: str
    #: How to reconnect it: through the consent page, or with an app password.
    method: Method
    slots: int
    slots_text: str


_STATUS_ORDER = {channels.NEEDS_RECONNECT: 0, channels.ACTIVE: 1, channels.DISCONNECTED: 2}


def channel_rows(session: Session, *, workspace_id: uuid.UUID) -> list[ChannelRow]:
    """Every channel of the workspace with its health and queue, those needing care first."""
    found = list(
        session.scalars(
            select(Channel)
            .where(Channel.workspace_id == workspace_id)
            .order_by(Channel.network, Channel.handle)
        )
    )
    slots: dict[uuid.UUID, list[tuple[int, str]]] = {}
    for slot in session.scalars(select(QueueSlot).where(QueueSlot.workspace_id == workspace_id)):
        slots.setdefault(slot.channel_id, []).append((slot.weekday, slot.local_time))
    rows = []
    for channel in sorted(found, key=lambda c: _STATUS_ORDER.get(c.status, 3)):
        cls = connector_class(channel.network)
        mine = slots.get(channel.id, [])
        rows.append(
            ChannelRow(
                channel=channel,
                network_name=cls.display_name,
                method=method_of(channel.network),
                slots=len(mine),
                slots_text=slots_summary(mine),
            )
        )
    return rows


def reconnect_count(session: Session, *, workspace_id: uuid.UUID) -> int:
    """How many of the workspace's channels wait to be reconnected (one query)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Channel)
            .where(
                Channel.workspace_id == workspace_id,
                Channel.status == channels.NEEDS_RECONNECT,
            )
        )
        or 0
    )


__all__ = [
    "CALLBACK_PATH",
    "OAUTH_NETWORKS",
    "STATE_TTL",
    "TOOK_TOO_LONG",
    "AppCredentials",
    "ChannelRow",
    "Choice",
    "ConnectOption",
    "ConnectOutcome",
    "app_credentials",
    "callback_url",
    "cancel_choice",
    "channel_rows",
    "connect_chosen",
    "connect_options",
    "connect_with_password",
    "connector_options",
    "finish_connect",
    "instance_url",
    "method_of",
    "missing_settings",
    "pending_choice",
    "reconnect_count",
    "settings_to_set",
    "slots_summary",
    "start_connect",
    "state_workspace",
]
