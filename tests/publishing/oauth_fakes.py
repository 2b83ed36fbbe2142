# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every network's fake behind one transport, and a person's "Allow" on each consent page.

The OAuth tests (domain, UI and API) connect channels against these fakes exactly as a
browser would: socialdesk answers an authorize URL, the fake's consent page redirects to
our callback with ``code`` and ``state`` (or ``error``), and the callback finishes.
Meta's fakes have no consent page: :meth:`Networks.meta_consent` issues the code the
dialog would have sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.fakes import meta_graph
from tests.fakes.linkedin import LinkedInFake
from tests.fakes.mastodon import MastodonFake
from tests.fakes.meta_graph import FacebookFake, GraphFake, InstagramFake, Page, ThreadsFake
from tests.fakes.x import FakeTransport, XFake

X_HOST = "http://x.test"
LINKEDIN_HOST = "http://linkedin.test"
X_CLIENT = ("x-client-id", "x-client-secret")
LINKEDIN_CLIENT = ("li-client-id", "li-client-secret")


class Hosts(httpx.AsyncBaseTransport):
    """Route each request to the fake serving its host."""

    def __init__(self, routes: dict[str, httpx.AsyncBaseTransport]) -> None:
        self.routes = routes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError(f"no fake serves {request.url.host}", request=request)
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self.routes.values():
            await transport.aclose()


@dataclass
class Networks:
    base_url: str
    mastodon: MastodonFake = field(default_factory=MastodonFake)
    x: XFake = field(default_factory=lambda: XFake(base_url=X_HOST))
    linkedin: LinkedInFake = field(default_factory=lambda: LinkedInFake(base_url=LINKEDIN_HOST))
    facebook: FacebookFake = field(default_factory=FacebookFake)
    instagram: InstagramFake = field(default_factory=InstagramFake)
    threads: ThreadsFake = field(default_factory=ThreadsFake)

    def __post_init__(self) -> None:
        callback = self.base_url.rstrip("/") + "/oauth/callback/"
        self.x.add_app(X_CLIENT[0], callback + "x", X_CLIENT[1])
        self.x.add_user("ana", "Ana Lima")
        self.linkedin.add_app(
            LINKEDIN_CLIENT[0], LINKEDIN_CLIENT[1], callback + "linkedin", refresh_tokens=True
        )
        self.linkedin.add_member("Ana Lima")
        self.mastodon.create_account("alice", display_name="Alice")
        # The Page's linked Instagram account is the one the Instagram fake serves, and
        # the Page token opens it (Instagram API with Facebook Login).
        self.instagram.user_id = self.facebook.page.instagram_id or ""
        self.instagram.tokens[self.facebook.page.token] = self.facebook.tokens[
            self.facebook.page.token
        ]

    def settings(self, *, linkedin_pkce: bool = False) -> dict[str, Any]:
        """Settings overrides: every app configured, every network pointed at its fake."""
        return {
            "x_client_id": X_CLIENT[0],
            "x_client_secret": X_CLIENT[1],
            "linkedin_client_id": LINKEDIN_CLIENT[0],
            "linkedin_client_secret": LINKEDIN_CLIENT[1],
            "linkedin_pkce": linkedin_pkce,
            "meta_app_id": meta_graph.APP_ID,
            "meta_app_secret": meta_graph.APP_SECRET,
            "threads_app_id": meta_graph.APP_ID,
            "threads_app_secret": meta_graph.APP_SECRET,
            "network_urls": {
                "x.api": X_HOST,
                "x.authorize": X_HOST + "/i/oauth2/authorize",
                "linkedin.api": LINKEDIN_HOST,
                "linkedin.oauth": LINKEDIN_HOST,
                "facebook.api": self.facebook.base_url,
                "facebook.authorize": self.facebook.origin + "/dialog/oauth",
                "instagram.api": self.instagram.base_url,
                "threads.api": self.threads.base_url,
                "threads.authorize": self.threads.origin + "/oauth/authorize",
            },
        }

    def transport(self) -> Hosts:
        return Hosts(
            {
                "mastodon.example": self.mastodon.transport(),
                "x.test": FakeTransport(self.x),
                "linkedin.test": FakeTransport(self.linkedin),
                "graph.facebook.test": self.facebook.transport(),
                "graph.instagram.test": self.instagram.transport(),
                "graph.threads.test": self.threads.transport(),
            }
        )

    def add_page(self, name: str) -> Page:
        page_id = self.facebook.new_id()
        page = Page(
            id=page_id,
            name=name,
            username=name.lower().replace(" ", ""),
            token=self.facebook.issue_token("page", page_id, lifetime=None),
        )
        self.facebook.pages[page_id] = page
        return page

    def consent(self, authorize_url: str) -> dict[str, str]:
        """Open the consent page (approved or declined by the fake) and read where it
        sends the browser back: ``{"code", "state"}`` or ``{"error", "state"}``."""

        async def visit() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport()) as client:
                return await client.get(authorize_url)

        response = asyncio.run(visit())
        assert response.status_code == 302, (response.status_code, response.text[:300])
        location = response.headers["location"]
        assert location.startswith(self.base_url), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def meta_consent(self, authorize_url: str, fake: GraphFake, subject: str) -> dict[str, str]:
        """What Facebook's or Threads' dialog sends back once the person allowed."""
        query = parse_qs(urlsplit(authorize_url).query)
        assert query["redirect_uri"][0].startswith(self.base_url)
        return {"code": fake.issue_code(subject), "state": query["state"][0]}


def past(minutes: int = 1) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
