# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV import in the browser: documented columns, a template that imports as it is, and
all-or-nothing uploads with a per-row table of what to fix."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from socialdesk.publishing.imports import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from socialdesk.storage import Database
from socialdesk.storage.tables import AuditEvent, Delivery, Post, Workspace
from socialdesk.storage.types import utcnow
from tests.web.ui.helpers import make_user, make_workspace, session_csrf, sign_in, text_of
from tests.web.ui.test_library import assert_csp_clean, make_channel

HEADER = "channel,text,at,tz,labels\n"


@pytest.fixture
def workspace(db: Database, client: TestClient) -> Workspace:
    ana = make_user(db, "ana@example.com")
    workspace = make_workspace(db, ana)
    make_channel(db, workspace, "acme@mastodon.example")
    make_channel(db, workspace, "news@mastodon.example")
    sign_in(client, "ana@example.com")
    return workspace


def send(
    client: TestClient, workspace: Workspace, body: str | bytes, name: str = "posts.csv"
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    return client.post(
        f"/w/{workspace.id}/import",
        data={"csrf_token": session_csrf(client)},
        files={"file": (name, data, "text/csv")},
    )


def future(days: int = 3, hour: int = 9) -> str:
    return (utcnow() + dt.timedelta(days=days)).strftime(f"%Y-%m-%dT{hour:02d}:00")


def post_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Post)) or 0)


def problem_rows(response: Response) -> list[tuple[str, str, str]]:
    """(row, column, message) from the problems table."""
    table = response.text.split('class="table table-stack import-problems"')[1].split("</table>")[0]
    found = re.findall(
        r'<span class="row-number">(\d+)</span>.*?<code class="action">([^<]+)</code>.*?'
        r'<td class="cell-wide">([^<]+)</td>',
        table,
        re.S,
    )
    return [(row, column, " ".join(html.unescape(text).split())) for row, column, text in found]


def test_the_page_documents_every_column_and_the_channels(
    client: TestClient, workspace: Workspace
) -> None:
    response = client.get(f"/w/{workspace.id}/import")
    assert response.status_code == 200
    text = text_of(response)
    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS):
        assert f'<code class="action">{column}</code>' in response.text, column
    assert "every row goes in, or none does" in text
    assert "acme@mastodon.example" in text
    assert f'href="/w/{workspace.id}/import/template.csv"' in response.text
    assert_csp_clean(response)


def test_the_template_imports_as_it_is(
    client: TestClient, workspace: Workspace, db: Database
) -> None:
    template = client.get(f"/w/{workspace.id}/import/template.csv")
    assert template.status_code == 200
    assert template.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in template.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(template.content.decode("utf-8-sig"))))
    assert [r["channel"] for r in rows] == [
        "acme@mastodon.example",
        "acme@mastodon.example|news@mastodon.example",
    ]
    assert all(r["tz"] == "UTC" and r["at"] > utcnow().strftime("%Y-%m-%d") for r in rows)

    done = send(client, workspace, template.content, "template.csv")
    assert done.status_code == 200, text_of(done)
    assert "Imported 2 posts from template.csv" in text_of(done)
    with db.transaction() as session:
        imported = session.scalars(select(Post).order_by(Post.scheduled_at)).all()
        assert [p.status for p in imported] == ["scheduled", "scheduled"]
        assert imported[1].labels == ["events", "tasting"]
        assert imported[1].text.startswith("Tasting tomorrow at 5 pm:\nthree single origins")
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3
        links = [f'href="/w/{workspace.id}/calendar/posts/{p.id}"' for p in imported]
    assert all(link in done.text for link in links)


def test_one_bad_row_imports_nothing_and_says_where(
    client: TestClient, workspace: Workspace, db: Database
) -> None:
    body = (
        HEADER
        + f"acme@mastodon.example,First,{future()},Europe/Paris,\n"
        + f"nobody@mastodon.example,Second,{future()},,\n"
        + f'acme@mastodon.example,"Third, with a comma",{future(4)},UTC,launch\n'
    )
    response = send(client, workspace, body)
    assert response.status_code == 422
    text = text_of(response)
    assert "Nothing was imported: 1 of 3 rows needs fixing" in text
    assert problem_rows(response) == [
        ("3", "channel", "No channel 'nobody@mastodon.example' in this workspace.")
    ]
    assert "nobody@mastodon.example" in response.text  # what they wrote, next to the problem
    assert post_count(db) == 0
    with db.transaction() as session:
        assert (
            session.scalars(select(AuditEvent).where(AuditEvent.action.like("post.%"))).all() == []
        )


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (",hello,{at},,", "channel", "No channel."),
        (
            "acme@mastodon.example,hello,next tuesday,,",
            "at",
            "'next tuesday' is not a date and time",
        ),
        ("acme@mastodon.example,hello,2026-03-29,,", "at", "has no time of day"),
        ("acme@mastodon.example,hello,2001-01-01T09:00,UTC,", "at", "in the past"),
        (
            "acme@mastodon.example,hello,{at},Mars/Olympus,",
            "tz",
            "'Mars/Olympus' is not a known time zone",
        ),
        ("acme@mastodon.example,hello,,Mars/Olympus,", "tz", "is not a known time zone"),
        (
            "acme@mastodon.example," + "x" * 501 + ",{at},,",
            "text",
            "501 characters long; Mastodon allows 500",
        ),
        ("acme@mastodon.example,,{at},,", "text", "the post is empty"),
        (
            "acme@mastodon.example,hello,{at},," + "|".join(f"l{i}" for i in range(21)),
            "labels",
            "at most 20 labels",
        ),
    ],
)
def test_each_problem_names_its_column(
    client: TestClient, workspace: Workspace, db: Database, row: str, column: str, message: str
) -> None:
    body = HEADER + f"acme@mastodon.example,Fine,{future()},,\n" + row.format(at=future()) + "\n"
    response = send(client, workspace, body)
    assert response.status_code == 422
    ((number, got_column, got_message),) = problem_rows(response)
    assert (number, got_column) == ("3", column)
    assert message.lower() in got_message.lower()
    assert post_count(db) == 0


def test_media_paths_are_for_the_command_line(client: TestClient, workspace: Workspace) -> None:
    body = "channel,text,at,tz,media\n" + f"acme@mastodon.example,hi,{future()},,beans.jpg\n"
    response = send(client, workspace, body)
    assert problem_rows(response)[0][1] == "media"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("channel,text\nacme,hi\n", "lacks the column(s) at, tz"),
        (HEADER, "has a header row but no posts"),
        (b"channel,text,at,tz\n" + "acme,caf\xe9,,\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_is_explained(
    client: TestClient, workspace: Workspace, db: Database, body: str | bytes, message: str
) -> None:
    response = send(client, workspace, body, "mine.csv")
    assert response.status_code == 422
    assert message in text_of(response)
    assert "mine.csv" in text_of(response)
    assert "Nothing was imported" in text_of(response)
    assert post_count(db) == 0


def test_no_file_chosen(client: TestClient, workspace: Workspace) -> None:
    response = client.post(
        f"/w/{workspace.id}/import",
        data={"csrf_token": session_csrf(client)},
        files={"file": ("", b"", "application/octet-stream")},
    )
    assert response.status_code == 422
    assert "Choose a CSV file to import." in text_of(response)


def test_a_good_file_schedules_every_row_in_its_time_zone(
    client: TestClient, workspace: Workspace, db: Database
) -> None:
    body = (
        HEADER
        + "acme@mastodon.example,Paris morning,2099-06-01T09:00,Europe/Paris,\n"
        + "news@mastodon.example|acme@mastodon.example,Offset given,2099-06-02T09:00+02:00,,a|b\n"
    )
    response = send(client, workspace, body)
    assert response.status_code == 200
    assert "Imported 2 posts" in text_of(response)
    with db.transaction() as session:
        imported = {p.text: p for p in session.scalars(select(Post))}
        assert imported["Paris morning"].scheduled_at == dt.datetime(2099, 6, 1, 7, tzinfo=dt.UTC)
        assert imported["Paris morning"].timezone == "Europe/Paris"
        assert imported["Offset given"].scheduled_at == dt.datetime(2099, 6, 2, 7, tzinfo=dt.UTC)
        assert len(imported["Offset given"].deliveries) == 2
        assert imported["Offset given"].labels == ["a", "b"]
