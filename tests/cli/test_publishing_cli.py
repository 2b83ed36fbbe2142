# SPDX-License-Identifier: AGPL-3.0-or-later
"""``socialdesk channels`` and ``socialdesk posts`` as a person runs them.

The commands run as typer's ``CliRunner`` invokes them (settings from environment
variables, on SQLite and on PostgreSQL) against the fake Mastodon started as a real
server process, so every network call crosses a real socket.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from socialdesk.cli import app
from socialdesk.publishing.scheduling import to_utc
from tests.fakes.mastodon import FakeServer, run_server

#: These run the fake Mastodon as a server process and the CLI end to end.
pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery\n"
PARIS = "Europe/Paris"
WORKSPACE = "Acme Coffee"


@pytest.fixture(scope="module")
def mastodon() -> Iterator[FakeServer]:
    with run_server("--no-rate-limits") as server:
        yield server


@dataclass
class Cli:
    env: dict[str, str]
    mastodon: FakeServer
    account_id: str = ""
    handle: str = ""
    channel_id: str = ""

    def run(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=self.env, input=stdin)
        assert "Traceback" not in result.output, result.output
        return result.exit_code, result.output

    def ok(self, *args: str, stdin: str | None = None) -> str:
        code, output = self.run(*args, stdin=stdin)
        assert code == 0, output
        return output

    def json(self, *args: str, stdin: str | None = None, code: int = 0) -> Any:
        exit_code, output = self.run(*args, "--json", stdin=stdin)
        assert exit_code == code, output
        return json.loads(output)

    def statuses(self) -> list[dict[str, Any]]:
        found = self.mastodon.admin("GET", f"statuses?account_id={self.account_id}")
        return [s for s in found["statuses"] if not s["deleted"]]

    def post(self, *args: str) -> dict[str, Any]:
        created: dict[str, Any] = self.json(
            "posts", "create", "-w", WORKSPACE, "--channel", self.handle, *args
        )
        return created

    def show(self, post_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = self.json("posts", "show", "-w", WORKSPACE, post_id)
        return shown

    def worker(self) -> None:
        assert "ran" in self.ok("worker", "--once")


@pytest.fixture
def cli(database_url: str, tmp_path: Path, mastodon: FakeServer) -> Cli:
    """A migrated database, one owner, a workspace in Paris and its Mastodon channel."""
    runner = Cli(
        env={
            "SOCIALDESK_DATABASE_URL": database_url,
            "SOCIALDESK_DATA_DIR": str(tmp_path / "data"),
            "SOCIALDESK_LOG_LEVEL": "ERROR",
        },
        mastodon=mastodon,
    )
    runner.ok("db", "upgrade")
    runner.ok(
        "users",
        "create",
        "--email",
        "ana@example.com",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD,
    )
    runner.ok("workspaces", "create", WORKSPACE, "--timezone", PARIS)
    account = mastodon.admin("POST", "accounts", {"username": f"acme{uuid.uuid4().hex[:8]}"})
    runner.account_id = str(account["id"])
    output = runner.ok(
        "channels",
        "connect",
        "mastodon",
        "-w",
        WORKSPACE,
        "--instance",
        mastodon.base_url,
        "--access-token-stdin",
        stdin=account["access_token"] + "\n",
    )
    assert "connected mastodon account" in output
    assert account["access_token"] not in output
    [channel] = runner.json("channels", "list", "-w", WORKSPACE)
    runner.handle, runner.channel_id = channel["handle"], channel["id"]
    return runner


def _local(days: int, hour: int = 9) -> tuple[str, dt.datetime]:
    """ISO text of a wall-clock time in Paris some days ahead, and its UTC instant."""
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).astimezone(ZoneInfo(PARIS)).date()
    local = dt.datetime.combine(day, dt.time(hour, 0))
    return local.isoformat(timespec="minutes"), to_utc(local, PARIS)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["channel", "text", "at", "tz"])
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- channels


def test_channels_list_shows_the_connected_account(cli: Cli) -> None:
    [channel] = cli.json("channels", "list", "-w", WORKSPACE)
    assert channel["network"] == "mastodon"
    assert channel["status"] == "active"
    assert channel["reason"] is None
    assert channel["timezone"] == PARIS
    uuid.UUID(channel["id"])
    assert channel["handle"].startswith("acme")
    assert "token" not in json.dumps(channel)


def test_connecting_with_a_bad_token_saves_nothing(cli: Cli) -> None:
    code, output = cli.run(
        "channels",
        "connect",
        "mastodon",
        "-w",
        WORKSPACE,
        "--instance",
        cli.mastodon.base_url,
        "--access-token-stdin",
        stdin="not-a-token\n",
    )
    assert code != 0
    assert "not-a-token" not in output
    assert len(cli.json("channels", "list", "-w", WORKSPACE)) == 1


# --------------------------------------------------------------------------- posts


def test_a_post_is_scheduled_published_once_and_followed(cli: Cli) -> None:
    typed, instant = _local(3)
    later = cli.post("--text", "Coffee tasting on Friday", "--at", typed, "--tz", PARIS)
    assert later["status"] == "scheduled"
    assert _instant(later["scheduled_at"]) == instant
    assert later["timezone"] == PARIS
    [delivery] = later["deliveries"]
    assert (delivery["channel"], delivery["state"]) == (cli.handle, "pending")
    assert _instant(delivery["due_at"]) == instant

    now = cli.post("--text", "We are open!", "--label", "news")
    assert now["status"] == "scheduled"
    assert now["labels"] == ["news"]

    listed = cli.json("posts", "list", "-w", WORKSPACE)
    assert [p["id"] for p in listed] == [now["id"], later["id"]]  # soonest first
    assert cli.statuses() == []

    cli.worker()
    statuses = cli.statuses()
    assert [s["text"] for s in statuses] == ["We are open!"]
    shown = cli.show(now["id"])
    assert shown["status"] == "published"
    [delivery] = shown["deliveries"]
    assert delivery["state"] == "published"
    assert delivery["external_id"] == statuses[0]["id"]
    assert delivery["url"].endswith(f"/{statuses[0]['id']}")
    assert cli.show(later["id"])["status"] == "scheduled"

    cli.worker()  # nothing more is due
    assert len(cli.statuses()) == 1
    human = cli.ok("posts", "show", "-w", WORKSPACE, now["id"])
    assert "published" in human
    assert "We are open!" in human
    assert "published" in cli.ok("posts", "list", "-w", WORKSPACE, "--status", "published")


def test_a_time_without_tz_is_read_in_the_workspace_zone(cli: Cli) -> None:
    typed, instant = _local(4, hour=18)
    created = cli.post("--text", "Evening event", "--at", typed)
    assert _instant(created["scheduled_at"]) == instant
    assert created["timezone"] == PARIS


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "2020-01-01T09:00"], "in the past"),
        (["--at", "tomorrow"], "not a date and time"),
        (["--at", "2030-01-01T09:00", "--tz", "Mars/Olympus"], "not a known time zone"),
        (["--at", "2030-01-01T09:00", "--now"], "choose one of"),
        (["--rrule", "FREQ=HOURLY"], "at most daily"),
    ],
)
def test_bad_input_says_what_to_fix_and_saves_nothing(
    cli: Cli, args: list[str], message: str
) -> None:
    code, output = cli.run(
        "posts", "create", "-w", WORKSPACE, "--channel", cli.handle, "--text", "Hi", *args
    )
    assert code == 2, output
    assert message in output
    assert cli.json("posts", "list", "-w", WORKSPACE) == []


def test_a_text_too_long_for_mastodon_is_refused(cli: Cli) -> None:
    code, output = cli.run(
        "posts", "create", "-w", WORKSPACE, "--channel", cli.channel_id, "--text", "x" * 501
    )
    assert code == 2
    assert "Mastodon allows 500" in output
    assert cli.json("posts", "list", "-w", WORKSPACE) == []


def test_a_recurring_post_plans_its_occurrences(cli: Cli) -> None:
    typed, instant = _local(2)
    parent = cli.post(
        "--text", "Weekly menu", "--at", typed, "--tz", PARIS, "--rrule", "FREQ=WEEKLY"
    )
    assert parent["recurrence"] == "FREQ=WEEKLY"
    assert parent["recurrence_parent_id"] is None
    listed = cli.json("posts", "list", "-w", WORKSPACE)
    occurrences = [p for p in listed if p["recurrence_parent_id"] == parent["id"]]
    assert 3 <= len(occurrences) <= 5
    local_times = {
        _instant(p["scheduled_at"]).astimezone(ZoneInfo(PARIS)).time() for p in occurrences
    }
    assert local_times == {dt.time(9, 0)}
    assert {p["text"] for p in occurrences} == {"Weekly menu"}
    assert all(p["recurrence"] is None for p in occurrences)
    # Cancelling the first post ends the series.
    assert "cancelled" in cli.ok("posts", "cancel", "-w", WORKSPACE, parent["id"])
    remaining = cli.json("posts", "list", "-w", WORKSPACE)
    assert [p["id"] for p in remaining] == [parent["id"]]
    assert instant == _instant(remaining[0]["scheduled_at"])


def test_a_failed_delivery_is_retried_from_the_command_line(cli: Cli) -> None:
    cli.mastodon.admin(
        "POST",
        "faults",
        {"kind": "fail", "status": 422, "method": "POST", "path": "/api/v1/statuses"},
    )
    post = cli.post("--text", "Third time lucky")
    cli.worker()
    shown = cli.show(post["id"])
    assert shown["status"] == "failed"
    [delivery] = shown["deliveries"]
    assert delivery["state"] == "failed"
    assert delivery["error"]
    assert cli.statuses() == []

    assert "retrying 1" in cli.ok("posts", "retry", "-w", WORKSPACE, post["id"])
    cli.worker()
    assert cli.show(post["id"])["status"] == "published"
    assert [s["text"] for s in cli.statuses()] == ["Third time lucky"]

    code, output = cli.run("posts", "retry", "-w", WORKSPACE, post["id"])
    assert code == 1
    assert "no failed delivery" in output
    assert len(cli.statuses()) == 1


def test_a_cancelled_post_never_goes_out(cli: Cli) -> None:
    typed, _ = _local(1)
    post = cli.post("--text", "Changed our mind", "--at", typed)
    assert "cancelled" in cli.ok("posts", "cancel", "-w", WORKSPACE, post["id"])
    shown = cli.show(post["id"])
    assert shown["status"] == "cancelled"
    assert [d["state"] for d in shown["deliveries"]] == ["cancelled"]
    code, output = cli.run("posts", "cancel", "-w", WORKSPACE, post["id"])
    assert code == 1
    assert "already cancelled" in output
    cli.worker()
    assert cli.statuses() == []


def test_show_and_cancel_refuse_what_is_not_a_post(cli: Cli) -> None:
    for command in ("show", "cancel", "retry"):
        code, output = cli.run("posts", command, "-w", WORKSPACE, "not-an-id")
        assert code == 2
        assert "not a post id" in output
        code, output = cli.run("posts", command, "-w", WORKSPACE, str(uuid.uuid4()))
        assert code == 1
        assert "no such post" in output


# --------------------------------------------------------------------------- import


def test_an_import_with_a_bad_row_imports_nothing_then_a_good_one_goes_in(
    cli: Cli, tmp_path: Path
) -> None:
    typed, instant = _local(5)
    good_rows = [
        {"channel": cli.handle, "text": "From the spreadsheet", "at": typed, "tz": PARIS},
        {"channel": cli.channel_id, "text": "Another one", "at": "", "tz": ""},
    ]
    bad = _csv(
        tmp_path / "bad.csv",
        [
            *good_rows,
            {"channel": "@nobody", "text": "Who?", "at": typed, "tz": PARIS},
            {"channel": cli.handle, "text": "Too late", "at": "2020-01-01T09:00", "tz": PARIS},
            {"channel": cli.handle, "text": "x" * 501, "at": typed, "tz": PARIS},
        ],
    )
    report = cli.json("posts", "import", str(bad), "-w", WORKSPACE, code=2)
    assert report["imported"] == 0
    rows = {row["row"]: row for row in report["rows"]}
    assert sorted(rows) == [2, 3, 4, 5, 6]
    assert [rows[n]["ok"] for n in (2, 3, 4, 5, 6)] == [True, True, False, False, False]
    assert all(row["post_id"] is None for row in rows.values())
    assert "nobody" in rows[4]["errors"][0]
    assert "in the past" in rows[5]["errors"][0]
    assert "500" in " ".join(rows[6]["errors"])
    code, output = cli.run("posts", "import", str(bad), "-w", WORKSPACE)
    assert code == 2
    assert "nothing was imported" in output
    assert cli.json("posts", "list", "-w", WORKSPACE) == []

    good = _csv(tmp_path / "good.csv", good_rows)
    report = cli.json("posts", "import", str(good), "-w", WORKSPACE)
    assert report["imported"] == 2
    assert [row["ok"] for row in report["rows"]] == [True, True]
    listed = {p["id"]: p for p in cli.json("posts", "list", "-w", WORKSPACE)}
    assert set(listed) == {row["post_id"] for row in report["rows"]}
    first = listed[report["rows"][0]["post_id"]]
    assert first["text"] == "From the spreadsheet"
    assert _instant(first["scheduled_at"]) == instant

    cli.worker()
    assert [s["text"] for s in cli.statuses()] == ["Another one"]


def test_import_of_a_missing_file_or_a_wrong_header(cli: Cli, tmp_path: Path) -> None:
    code, output = cli.run("posts", "import", str(tmp_path / "nope.csv"), "-w", WORKSPACE)
    assert code == 2
    assert "no file" in output
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("who,what\n@a,b\n", encoding="utf-8")
    code, output = cli.run("posts", "import", str(wrong), "-w", WORKSPACE)
    assert code == 2
    assert "lacks the column" in output


# --------------------------------------------------------------------------- validate


VALIDATE_KEYS = {"network", "length", "limit", "ok", "errors", "warnings"}


@pytest.mark.parametrize(
    ("network", "text", "length", "limit", "ok"),
    [
        ("x", "Hello", 5, 280, True),
        ("x", "Read https://example.com/" + "a" * 200 + " now", 32, 280, True),
        ("x", "é" * 140, 140, 280, True),
        ("x", "日本" * 71, 284, 280, False),
        ("mastodon", "x" * 501, 501, 500, False),
        ("bluesky", "👩‍👩‍👧" * 300, 300, 300, True),
    ],
    ids=["short", "link-counts-23", "latin-weighs-1", "cjk-weighs-2", "mastodon-over", "emoji"],
)
def test_validate_prints_the_count_and_the_verdict(
    tmp_path: Path, network: str, text: str, length: int, limit: int, ok: bool
) -> None:
    """No database needed: the composer's check, from the command line."""
    env = {"SOCIALDESK_DATA_DIR": str(tmp_path), "SOCIALDESK_LOG_LEVEL": "ERROR"}
    result = CliRunner().invoke(
        app, ["posts", "validate", "--network", network, "--text", text, "--json"], env=env
    )
    assert result.exit_code == (0 if ok else 1), result.output
    report = json.loads(result.output)
    assert set(report) == VALIDATE_KEYS
    assert (report["network"], report["length"], report["limit"], report["ok"]) == (
        network,
        length,
        limit,
        ok,
    )
    assert (report["errors"] == []) is ok


def test_validate_refuses_an_unknown_network(tmp_path: Path) -> None:
    env = {"SOCIALDESK_DATA_DIR": str(tmp_path), "SOCIALDESK_LOG_LEVEL": "ERROR"}
    result = CliRunner().invoke(
        app, ["posts", "validate", "--network", "myspace", "--text", "hi"], env=env
    )
    assert result.exit_code == 2
    assert "unknown network 'myspace'" in result.output
