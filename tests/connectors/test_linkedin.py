# SPDX-License-Identifier: AGPL-3.0-or-later
"""The LinkedIn connector against the local fake of LinkedIn (tests/fakes/linkedin.py)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialdesk.connectors.base import (
    Credentials,
    Idempotency,
    MediaItem,
    Network,
    OutboundPost,
    TextCounting,
)
from socialdesk.connectors.linkedin import (
    ACCESS_DENIED,
    DUPLICATE_POST,
    NOT_FOUND,
    SCOPES_MEMBER,
    LinkedInConnector,
    LinkedInErrorMapper,
    OAuthClient,
    escape_little,
    unescape_little,
)
from socialdesk.connectors.x import pkce_pair
from socialdesk.errors import (
    AuthExpired,
    ConfigurationError,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    UncertainOutcome,
)
from tests.fakes.linkedin import LinkedInFake, Member, Organization, render_little

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "linkedin"
BASE = "https://api.linkedin.com"
REDIRECT = "https://desk.example/oauth/linkedin/callback"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
MEMBER_SCOPES = frozenset({"openid", "profile", "w_member_social"})
PAGE_SCOPES = MEMBER_SCOPES | {"w_organization_social", "r_organization_social"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> LinkedInFake:
    fake = LinkedInFake(base_url=BASE)
    fake.add_app("desk", "desk-secret", REDIRECT, refresh_tokens=True)
    fake.add_app("desk-basic", "basic-secret", REDIRECT)
    fake.add_app("desk-native", "native-secret", REDIRECT, pkce=True)
    member = fake.add_member("Dana Smith")
    fake.add_organization("Acme Brand", admins=(member,))
    return fake


@pytest.fixture
def member(fake: LinkedInFake) -> Member:
    return next(iter(fake.members.values()))


@pytest.fixture
def org(fake: LinkedInFake) -> Organization:
    return next(iter(fake.organizations.values()))


@pytest.fixture
async def http(fake: LinkedInFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client(timeout=1.0) as client:
        yield client


async def _no_sleep(_: float) -> None:
    return None


def connector(
    http: httpx.AsyncClient,
    fake: LinkedInFake,
    member: Member,
    *,
    author: str | None = None,
    scopes: frozenset[str] = MEMBER_SCOPES,
) -> LinkedInConnector:
    extra = {"author_urn": author} if author else {}
    credentials = Credentials(
        access_token=fake.issue_token(member, scopes=scopes),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=60),
        extra=extra,
    )
    return LinkedInConnector(http=http, credentials=credentials, base_url=BASE, sleep=_no_sleep)


def page_connector(
    http: httpx.AsyncClient, fake: LinkedInFake, member: Member, org: Organization
) -> LinkedInConnector:
    return connector(http, fake, member, author=org.urn, scopes=PAGE_SCOPES)


def post(text: str, **kwargs: Any) -> OutboundPost:
    return OutboundPost(text=text, idempotency_key="delivery-1", **kwargs)


def since_now() -> dict[str, Any]:
    return {"attempted_at": dt.datetime.now(dt.UTC)}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    """Keys and value types, lists merged into one element: what "looks the same" means."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            item_shape = shape(item)
            if isinstance(merged, dict) and isinstance(item_shape, dict):
                merged = merged | item_shape
            else:
                merged = item_shape
        return [merged]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def image(tmp_path: Path, name: str, alt: str = "") -> MediaItem:
    path = tmp_path / name
    path.write_bytes(JPEG + name.encode())
    return MediaItem(
        path=path, mime_type="image/jpeg", size_bytes=path.stat().st_size, alt_text=alt
    )


# -- rules as data ------------------------------------------------------------------------


def test_rules_are_data_with_their_sources() -> None:
    assert LinkedInConnector.network is Network.LINKEDIN
    assert LinkedInConnector.text_rules.max_length == 3000
    assert LinkedInConnector.text_rules.counting is TextCounting.CODE_POINTS
    assert LinkedInConnector.media_rules.max_items == 20
    assert LinkedInConnector.media_rules.video_types == frozenset()
    caps = LinkedInConnector.capabilities
    assert caps.idempotency is Idempotency.LOOKUP
    assert (caps.threads, caps.first_comment, caps.link_card, caps.delete) == (
        False,
        True,
        True,
        True,
    )
    assert "PUBLIC" in caps.visibilities
    assert LinkedInConnector.text_rules.source.startswith("https://learn.microsoft.com/linkedin/")
    assert (
        LinkedInConnector.text_rules.checked == LinkedInConnector.media_rules.checked == "2026-11"
    )
    assert LinkedInConnector.rate_limit is not None


# -- error mapping ------------------------------------------------------------------------


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("POST", f"{BASE}/rest/posts")
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "expected", "reason"),
    [
        (401, fixture("error_401.json"), AuthExpired, None),
        (403, fixture("error_403.json"), Rejected, ACCESS_DENIED),
        (
            422,
            fixture("error_422_duplicate.json"),
            Rejected,
            f"{DUPLICATE_POST}: urn:li:share:7141138937766391808",
        ),
        (422, fixture("error_422_validation.json"), Rejected, "ERROR :: /commentary"),
        (426, fixture("error_426_version.json"), Rejected, "Requested version"),
        (404, {"status": 404, "code": "NOT_FOUND", "message": "Not Found"}, Rejected, NOT_FOUND),
        (400, fixture("access_token_error.json"), Rejected, "Unable to retrieve access token"),
        (429, fixture("error_429.json"), RateLimited, None),
        (500, {"status": 500, "message": "Internal Server Error"}, TransientError, None),
        (503, None, TransientError, None),
    ],
)
def test_error_mapping(
    status: int, body: Any, expected: type[ConnectorError], reason: str | None
) -> None:
    error = LinkedInErrorMapper().classify(_response(status, body))
    assert type(error) is expected
    if reason is not None:
        assert isinstance(error, Rejected)
        assert error.reason.startswith(reason)


def test_a_daily_limit_waits_until_midnight_utc() -> None:
    error = LinkedInErrorMapper().classify(_response(429, fixture("error_429.json")))
    assert isinstance(error, RateLimited)
    now = dt.datetime.now(dt.UTC)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    assert error.retry_after == pytest.approx((midnight - now).total_seconds(), abs=5)
    other = LinkedInErrorMapper().classify(_response(429, {"status": 429}, {"Retry-After": "7"}))
    assert isinstance(other, RateLimited)
    assert other.retry_after == 7


def test_java_exception_names_do_not_reach_the_reason() -> None:
    error = LinkedInErrorMapper().classify(_response(422, fixture("error_422_duplicate.json")))
    assert isinstance(error, Rejected)
    assert "BadRequestResponseException" not in error.message
    assert "Content is a duplicate of urn:li:share:7141138937766391808" in error.message


# -- the little format --------------------------------------------------------------------

LITTLE_CASES = [
    ("Plain text.", "Plain text."),
    ("Price (incl. VAT) [EU]", "Price \\(incl. VAT\\) \\[EU\\]"),
    ("a_b*c~d|e{f}g<h>i@j\\k", "a\\_b\\*c\\~d\\|e\\{f\\}g\\<h\\>i\\@j\\\\k"),
    ("We ship #launch #2026", "We ship #launch #2026"),
    ("C# and # alone", "C\\# and \\# alone"),
    (
        "see https://en.wikipedia.org/wiki/Foo_(bar) now",
        "see https://en.wikipedia.org/wiki/Foo_(bar) now",
    ),
    ("(see https://example.com/a_b)", "\\(see https://example.com/a_b\\)"),
    ("email me @dana", "email me \\@dana"),
]


@pytest.mark.parametrize(("text", "escaped"), LITTLE_CASES)
def test_escape_little(text: str, escaped: str) -> None:
    assert escape_little(text) == escaped
    assert unescape_little(escaped) == text


@pytest.mark.parametrize(("text", "escaped"), LITTLE_CASES)
def test_linkedin_shows_escaped_text_exactly_as_written(text: str, escaped: str) -> None:
    assert render_little(escape_little(text)) == text


def test_unescaped_reserved_characters_cut_the_post_short() -> None:
    # What the escaping protects against: LinkedIn drops everything after "(".
    assert render_little("Price (incl. VAT)") == "Price "


@given(st.text())
def test_escaping_round_trips(text: str) -> None:
    assert unescape_little(escape_little(text)) == text


@given(st.text(alphabet=st.sampled_from(list("ab #_()[]{}<>@*~|\\:/.h ttps"))))
def test_escaped_text_is_shown_in_full(text: str) -> None:
    assert render_little(escape_little(text)) == text


# -- the fake answers as the documentation shows ----------------------------------------


async def test_fake_answers_have_the_documented_shapes(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization, tmp_path: Path
) -> None:
    token = fake.issue_token(member, scopes=PAGE_SCOPES)
    rest = {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": "202610",
        "X-Restli-Protocol-Version": "2.0.0",
    }
    info = await http.get("/v2/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert shape(info.json()) == shape(fixture("userinfo.json"))
    page = await http.get(f"/rest/organizations/{org.id}", headers=rest)
    assert shape(page.json()) == shape(fixture("organization.json"))

    started = await http.post(
        "/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": org.urn}},
        headers=rest,
    )
    assert shape(started.json()) == shape(fixture("images_initialize_upload.json"))
    value = started.json()["value"]
    put = await http.put(
        value["uploadUrl"], content=JPEG, headers={"Authorization": f"Bearer {token}"}
    )
    assert put.status_code == 201
    await http.get(f"/rest/images/{value['image']}", headers=rest)  # still processing
    available = await http.get(f"/rest/images/{value['image']}", headers=rest)
    assert shape(available.json()) == shape(fixture("image.json"))

    body = {
        "author": org.urn,
        "commentary": "Sample post \\(with escaped parentheses\\) #hashtag",
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "content": {
            "article": {
                "source": "https://lnkd.in/eabXpqi",
                "title": "Our announcement",
                "description": "What we shipped",
            }
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    created = await http.post("/rest/posts", json=body, headers=rest)
    assert created.status_code == 201
    assert re.fullmatch(r"urn:li:share:\d+", created.headers["x-restli-id"])
    assert created.content == b""
    await http.post("/rest/posts", json=body | {"commentary": "second"}, headers=rest)
    listing = await http.get(
        f"/rest/posts?author={org.urn.replace(':', '%3A')}&q=author&count=1", headers=rest
    )
    assert shape(listing.json()) == shape(fixture("posts_by_author.json"))

    urn = created.headers["x-restli-id"]
    comment = await http.post(
        f"/rest/socialActions/{urn}/comments",
        json={"actor": org.urn, "object": urn, "message": {"text": "Congratulations!"}},
        headers=rest,
    )
    assert comment.status_code == 201
    assert shape(comment.json()) == shape(fixture("comment.json"))
    comments = await http.get(f"/rest/socialActions/{urn}/comments", headers=rest)
    assert shape(comments.json()) == shape(fixture("comments.json"))

    duplicate = await http.post("/rest/posts", json=body, headers=rest)
    assert duplicate.status_code == 422
    assert shape(duplicate.json()) == shape(fixture("error_422_duplicate.json"))
    assert urn in duplicate.json()["message"]
    long = await http.post("/rest/posts", json=body | {"commentary": "x" * 3001}, headers=rest)
    assert shape(long.json()) == shape(fixture("error_422_validation.json"))

    member_token = fake.issue_token(member)
    denied = await http.get(
        f"/rest/posts?author=urn%3Ali%3Aperson%3A{member.sub}&q=author",
        headers=rest | {"Authorization": f"Bearer {member_token}"},
    )
    assert denied.status_code == 403
    assert shape(denied.json()) == shape(fixture("error_403.json"))
    unauthorized = await http.get("/v2/userinfo", headers={"Authorization": "Bearer nope"})
    assert unauthorized.json() == fixture("error_401.json")
    old_version = await http.get(
        f"/rest/organizations/{org.id}", headers=rest | {"LinkedIn-Version": "202001"}
    )
    assert old_version.status_code == 426
    assert shape(old_version.json()) == shape(fixture("error_426_version.json"))
    fake.daily_post_limit = 0
    limited = await http.post("/rest/posts", json=body | {"commentary": "third"}, headers=rest)
    assert limited.status_code == 429
    assert shape(limited.json()) == shape(fixture("error_429.json"))
    assert (await http.delete(f"/rest/posts/{urn}", headers=rest)).status_code == 204


async def test_fake_token_answers_have_the_documented_shapes(http: httpx.AsyncClient) -> None:
    client = OAuthClient("desk", REDIRECT, client_secret="desk-secret")
    code = await _authorize(
        http, LinkedInConnector.authorization_url(client, state="st", oauth_base_url=BASE)
    )
    answer = await http.post(
        "/oauth/v2/accessToken",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "desk",
            "client_secret": "desk-secret",
        },
    )
    assert shape(answer.json()) == shape(fixture("access_token_refreshable.json"))
    basic = OAuthClient("desk-basic", REDIRECT, client_secret="basic-secret")
    code = await _authorize(
        http, LinkedInConnector.authorization_url(basic, state="st", oauth_base_url=BASE)
    )
    answer = await http.post(
        "/oauth/v2/accessToken",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "desk-basic",
            "client_secret": "basic-secret",
        },
    )
    assert shape(answer.json()) == shape(fixture("access_token.json"))
    refused = await http.post(
        "/oauth/v2/accessToken",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "desk-basic",
            "client_secret": "basic-secret",
        },
    )
    assert refused.json() == fixture("access_token_error.json")


# -- OAuth ----------------------------------------------------------------------------------


async def _authorize(http: httpx.AsyncClient, url: str) -> str:
    parts = urlsplit(url)
    answer = await http.get(f"{parts.path}?{parts.query}")
    assert answer.status_code == 302
    location = parse_qs(urlsplit(answer.headers["location"]).query)
    assert location["state"] == ["st"]
    return location["code"][0]


def test_authorization_url() -> None:
    url = LinkedInConnector.authorization_url(OAuthClient("desk", REDIRECT, "secret"), state="st")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://www.linkedin.com/oauth/v2/authorization"
    )
    assert query["scope"] == [" ".join(SCOPES_MEMBER)]
    assert {"openid", "profile", "w_member_social"} <= set(query["scope"][0].split())
    assert "code_challenge" not in query
    assert "secret" not in url
    with_pkce = LinkedInConnector.authorization_url(
        OAuthClient("desk", REDIRECT), state="st", code_challenge="abc"
    )
    assert parse_qs(urlsplit(with_pkce).query)["code_challenge_method"] == ["S256"]


async def test_code_exchange_with_the_client_secret(
    http: httpx.AsyncClient, member: Member
) -> None:
    client = OAuthClient("desk-basic", REDIRECT, client_secret="basic-secret")
    code = await _authorize(
        http, LinkedInConnector.authorization_url(client, state="st", oauth_base_url=BASE)
    )
    credentials = await LinkedInConnector.exchange_code(
        http=http, client=client, code=code, oauth_base_url=BASE
    )
    assert credentials.refresh_token is None  # this app is not enabled for refresh tokens
    assert credentials.expires_at is not None
    assert credentials.expires_at - dt.datetime.now(dt.UTC) > dt.timedelta(days=59)
    linkedin = LinkedInConnector(
        http=http, credentials=credentials, base_url=BASE, oauth_base_url=BASE
    )
    assert (await linkedin.verify()).external_id == f"urn:li:person:{member.sub}"
    assert await linkedin.refresh_credentials() is None


async def test_pkce_with_a_wrong_verifier_is_refused(http: httpx.AsyncClient) -> None:
    client = OAuthClient("desk-native", REDIRECT)
    verifier, challenge = pkce_pair()
    url = LinkedInConnector.authorization_url(
        client, state="st", code_challenge=challenge, oauth_base_url=BASE
    )
    code = await _authorize(http, url)
    wrong, _ = pkce_pair()
    with pytest.raises(Rejected):
        await LinkedInConnector.exchange_code(
            http=http, client=client, code=code, code_verifier=wrong, oauth_base_url=BASE
        )
    code = await _authorize(http, url)
    credentials = await LinkedInConnector.exchange_code(
        http=http, client=client, code=code, code_verifier=verifier, oauth_base_url=BASE
    )
    assert credentials.access_token


async def test_refresh_keeps_the_same_refresh_token_counting_down(
    fake: LinkedInFake, http: httpx.AsyncClient
) -> None:
    client = OAuthClient("desk", REDIRECT, client_secret="desk-secret")
    code = await _authorize(
        http, LinkedInConnector.authorization_url(client, state="st", oauth_base_url=BASE)
    )
    credentials = await LinkedInConnector.exchange_code(
        http=http, client=client, code=code, oauth_base_url=BASE
    )
    assert credentials.refresh_token
    first_expiry = dt.datetime.fromisoformat(credentials.extra["refresh_token_expires_at"])
    linkedin = LinkedInConnector(
        http=http, credentials=credentials, base_url=BASE, oauth_client=client, oauth_base_url=BASE
    )
    fake.advance(30 * 86400)
    fresh = await linkedin.refresh_credentials()
    assert fresh is not None
    assert fresh.access_token != credentials.access_token
    assert fresh.refresh_token == credentials.refresh_token
    second_expiry = dt.datetime.fromisoformat(fresh.extra["refresh_token_expires_at"])
    # LinkedIn's clock moved on 30 days: the lifetime it reports has shrunk by as much
    # (refreshing does not restart it), and ours reads it as such.
    shrunk = first_expiry - second_expiry
    assert abs(shrunk.total_seconds() - 30 * 86400) < 60
    assert linkedin.credentials is fresh
    with pytest.raises(ConfigurationError):
        await LinkedInConnector(
            http=http, credentials=fresh, oauth_base_url=BASE
        ).refresh_credentials()
    fake.refresh_tokens.clear()
    with pytest.raises(AuthExpired):
        await linkedin.refresh_credentials()


# -- verify and publish -------------------------------------------------------------------


async def test_verify_a_member(fake: LinkedInFake, http: httpx.AsyncClient, member: Member) -> None:
    linkedin = connector(http, fake, member)
    account = await linkedin.verify()
    assert account.external_id == f"urn:li:person:{member.sub}"
    assert linkedin.channel_extra == {"author_urn": account.external_id}
    assert account.display_name == "Dana Smith"
    assert account.avatar_url
    assert account.avatar_url.startswith("https://")


async def test_verify_an_organization(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization
) -> None:
    linkedin = page_connector(http, fake, member, org)
    account = await linkedin.verify()
    assert account.external_id == org.urn
    assert linkedin.channel_extra == {"author_urn": org.urn}
    assert (account.handle, account.display_name) == ("acme-brand", "Acme Brand")
    assert account.url == "https://www.linkedin.com/company/acme-brand/"


async def test_the_pages_a_member_administers(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization
) -> None:
    fake.add_organization("Not Theirs")
    scopes = MEMBER_SCOPES | {"rw_organization_admin"}
    linkedin = connector(http, fake, member, scopes=scopes)
    assert await linkedin.administered_organizations() == [org.urn]
    token = fake.issue_token(member, scopes=scopes)
    answer = await http.get(
        "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
        headers={
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": "202610",
            "X-Restli-Protocol-Version": "2.0.0",
        },
    )
    assert shape(answer.json()) == shape(fixture("organization_acls.json"))
    with pytest.raises(Rejected) as caught:
        await connector(http, fake, member).administered_organizations()
    assert caught.value.reason.startswith(ACCESS_DENIED)


async def test_an_invalid_token_asks_to_reconnect(http: httpx.AsyncClient) -> None:
    linkedin = LinkedInConnector(
        http=http, credentials=Credentials(access_token="revoked"), base_url=BASE
    )
    with pytest.raises(AuthExpired):
        await linkedin.verify()


async def test_publish_text_as_a_member(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    text = "Hiring (remote) — apply via #careers @ our page_now"
    result = await connector(http, fake, member).publish(post(text))
    stored = fake.posts[result.external_id]
    assert stored.author == f"urn:li:person:{member.sub}"
    assert render_little(stored.commentary) == text  # the round trip through LinkedIn
    assert stored.visibility == "PUBLIC"
    assert stored.content is None
    assert result.url == f"https://www.linkedin.com/feed/update/{result.external_id}/"
    assert any(method == "POST" and path == "/rest/posts" for method, path in fake.requests)


async def test_publish_an_image_with_alt_text(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, tmp_path: Path
) -> None:
    item = image(tmp_path, "team.jpg", "The team at the launch")
    result = await connector(http, fake, member).publish(post("Launch", media=(item,)))
    content = fake.posts[result.external_id].content
    assert content is not None
    assert content["media"]["altText"] == "The team at the launch"
    uploaded = fake.images[content["media"]["id"]]
    assert uploaded.data == item.path.read_bytes()


async def test_publish_several_images(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, tmp_path: Path
) -> None:
    items = (image(tmp_path, "a.jpg", "first"), image(tmp_path, "b.jpg", "second"))
    result = await connector(http, fake, member).publish(
        post("Gallery", media=items, link="https://example.com/gallery")
    )
    stored = fake.posts[result.external_id]
    assert stored.content is not None
    images = stored.content["multiImage"]["images"]
    assert [i["altText"] for i in images] == ["first", "second"]
    assert render_little(stored.commentary) == "Gallery\n\nhttps://example.com/gallery"


async def test_publish_an_article_link(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    result = await connector(http, fake, member).publish(
        post(
            "Read our report",
            link="https://example.com/report",
            options={"link_title": "The 2026 report", "link_description": "Numbers"},
        )
    )
    stored = fake.posts[result.external_id]
    assert stored.content == {
        "article": {
            "source": "https://example.com/report",
            "title": "The 2026 report",
            "description": "Numbers",
        }
    }
    assert stored.commentary == "Read our report"


async def test_publish_as_an_organization_with_a_first_comment(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization
) -> None:
    result = await page_connector(http, fake, member, org).publish(
        post(
            "From the page",
            first_comment="Details in the comments (link)",
            options={"visibility": "LOGGED_IN"},
        )
    )
    stored = fake.posts[result.external_id]
    assert stored.author == org.urn
    assert stored.visibility == "LOGGED_IN"
    [comment] = fake.comments
    assert (comment.actor, comment.text, comment.post) == (
        org.urn,
        "Details in the comments (link)",
        result.external_id,
    )
    assert result.part_ids == (comment.urn,)


async def test_posting_for_a_page_one_does_not_administer_is_refused(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    stranger = fake.add_organization("Someone Else")
    linkedin = connector(http, fake, member, author=stranger.urn, scopes=PAGE_SCOPES)
    with pytest.raises(Rejected) as caught:
        await linkedin.publish(post("Not ours"))
    assert caught.value.reason.startswith(ACCESS_DENIED)


# -- exactly once -------------------------------------------------------------------------


async def test_an_uncertain_page_post_is_found_by_listing(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization
) -> None:
    linkedin = page_connector(http, fake, member, org)
    content = post(
        "Quarterly results (Q3)", first_comment="Full report inside", options=since_now()
    )
    fake.inject("apply_then_stall", method="POST", path="/rest/posts", seconds=5)
    with pytest.raises(UncertainOutcome):
        await linkedin.publish(content)
    [landed] = fake.posts_of(org.urn)
    assert fake.comments == []

    found = await linkedin.find_published(content)
    assert found is not None
    assert found.external_id == landed.urn
    # the comment the interrupted attempt never reached is added, once
    [comment] = fake.comments
    assert found.part_ids == (comment.urn,)
    again = await linkedin.find_published(content)
    assert again is not None
    assert again.part_ids == (comment.urn,)
    assert len(fake.comments) == 1


async def test_an_uncertain_member_post_is_adopted_from_the_duplicate_answer(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    linkedin = connector(http, fake, member)
    content = post("My news [big]", options=since_now())
    fake.inject("apply_then_drop", method="POST", path="/rest/posts")
    with pytest.raises(UncertainOutcome):
        await linkedin.publish(content)
    # Members' posts cannot be listed without r_member_social: the lookup cannot tell...
    assert await linkedin.find_published(content) is None
    # ...and the retry is safe: LinkedIn refuses the same content and names the first post.
    result = await linkedin.publish(content)
    [landed] = fake.posts_of(f"urn:li:person:{member.sub}")
    assert result.external_id == landed.urn


async def test_an_adopted_member_post_does_not_risk_a_second_comment(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    linkedin = connector(http, fake, member)
    content = post("With a comment", first_comment="first!", options=since_now())
    await linkedin.publish(content)
    assert len(fake.comments) == 1
    caplog.set_level(logging.WARNING)
    result = await linkedin.publish(content)  # a retry after an uncertain outcome
    assert result.part_ids == ()
    assert len(fake.comments) == 1
    assert "first comment is not posted again" in caplog.text


async def test_the_same_content_on_a_first_attempt_is_a_rejection(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    linkedin = connector(http, fake, member)
    await linkedin.publish(post("Same words"))
    with pytest.raises(Rejected) as caught:
        await linkedin.publish(post("Same words"))
    assert caught.value.reason.startswith(DUPLICATE_POST)
    assert len(fake.posts) == 1


@pytest.mark.parametrize("as_page", [False, True])
async def test_an_older_post_with_the_same_content_is_not_adopted(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization, as_page: bool
) -> None:
    linkedin = page_connector(http, fake, member, org) if as_page else connector(http, fake, member)
    await linkedin.publish(post("Monday motivation"))
    fake.advance(3600)
    started = dt.datetime.fromtimestamp(fake.now(), dt.UTC)
    with pytest.raises(Rejected, match="earlier post") as caught:
        await linkedin.publish(post("Monday motivation", options={"attempted_at": started}))
    assert caught.value.reason.startswith(DUPLICATE_POST)
    assert len(fake.posts) == 1


async def test_nothing_found_when_nothing_landed(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, org: Organization
) -> None:
    linkedin = page_connector(http, fake, member, org)
    fake.inject("fail", method="POST", path="/rest/posts", status=503)
    with pytest.raises(TransientError) as caught:
        await linkedin.publish(post("Later", options=since_now()))
    assert not isinstance(caught.value, UncertainOutcome)
    assert await linkedin.find_published(post("Later", options=since_now())) is None


async def test_an_interrupted_image_upload_posts_nothing(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, tmp_path: Path
) -> None:
    fake.inject("apply_then_stall", method="PUT", path="/dms-uploads/", seconds=5)
    with pytest.raises(TransientError) as caught:
        await connector(http, fake, member).publish(post("Pic", media=(image(tmp_path, "p.jpg"),)))
    assert not isinstance(caught.value, UncertainOutcome)
    assert fake.posts == {}


# -- delete, versions, limits, secrets ------------------------------------------------------


async def test_delete(fake: LinkedInFake, http: httpx.AsyncClient, member: Member) -> None:
    linkedin = connector(http, fake, member)
    result = await linkedin.publish(post("Short-lived"))
    await linkedin.delete(result.external_id)
    assert fake.posts[result.external_id].deleted
    await linkedin.delete(result.external_id)  # already gone is done


async def test_every_rest_call_names_the_api_version(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member
) -> None:
    linkedin = connector(http, fake, member)
    linkedin.api_version = "202001"
    with pytest.raises(Rejected, match="not active"):
        await linkedin.publish(post("Old"))


async def test_the_daily_cap(fake: LinkedInFake, http: httpx.AsyncClient, member: Member) -> None:
    fake.daily_post_limit = 1
    linkedin = connector(http, fake, member)
    await linkedin.publish(post("one"))
    with pytest.raises(RateLimited) as caught:
        await linkedin.publish(post("two"))
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 86400


async def test_no_token_reaches_a_log_line_or_an_error(
    fake: LinkedInFake, http: httpx.AsyncClient, member: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    linkedin = connector(http, fake, member)
    token = linkedin.credentials.access_token
    fake.tokens.clear()
    errors: list[Exception] = []
    for call in (linkedin.verify, lambda: linkedin.publish(post("hi"))):
        try:
            await call()
        except ConnectorError as exc:
            errors.append(exc)
    assert len(errors) == 2
    text = caplog.text + " ".join(f"{e} {e!r} {getattr(e, 'reason', '')}" for e in errors)
    assert token not in text + repr(linkedin.credentials)


# -- the fake as a server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_fake_runs_standalone() -> None:
    port = _free_port()
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.linkedin", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline() + process.stdout.readline()
        token = re.search(r"access token (\S+)", banner)
        assert token, banner
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v2/userinfo",
                    headers={"Authorization": f"Bearer {token.group(1)}"},
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["name"] == "Dana Demo"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
