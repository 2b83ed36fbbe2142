# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ``socialdesk`` command, run as a user would (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from socialdesk.accounts.tokens import authenticate_token
from socialdesk.cli import app
from socialdesk.storage import Database
from socialdesk.storage.migrate import head_revision

PASSWORD = "correct horse battery\n"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "SOCIALDESK_DATABASE_URL": database_url,
        "SOCIALDESK_DATA_DIR": str(tmp_path / "data"),
        "SOCIALDESK_LOG_LEVEL": "WARNING",
    }


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.output


def run_json(env: dict[str, str], *args: str, stdin: str | None = None) -> object:
    code, output = run(env, *args, "--json", stdin=stdin)
    assert code == 0, output
    return json.loads(output)


def test_the_whole_admin_flow(env: dict[str, str], database_url: str) -> None:
    code, output = run(env, "db", "upgrade")
    assert code == 0, output
    assert head_revision() in output

    user = run_json(
        env,
        "users",
        "create",
        "--email",
        "ana@example.com",
        "--admin",
        "--password-stdin",
        stdin=PASSWORD,
    )
    assert user["admin"] is True  # type: ignore[index]
    run_json(
        env, "users", "create", "--email", "bob@example.com", "--password-stdin", stdin=PASSWORD
    )

    workspace = run_json(env, "workspaces", "create", "Acme Coffee", "--timezone", "Europe/Paris")
    assert workspace["owner"] == "ana@example.com"  # type: ignore[index]
    member = run_json(
        env,
        "members",
        "add",
        "-w",
        "Acme Coffee",
        "--email",
        "bob@example.com",
        "--role",
        "Marketer",
    )
    assert member["role"] == "marketer"  # type: ignore[index]
    listed = run_json(env, "members", "list", "-w", str(workspace["id"]))  # type: ignore[index]
    assert {(m["email"], m["role"]) for m in listed} == {  # type: ignore[union-attr]
        ("ana@example.com", "owner"),
        ("bob@example.com", "marketer"),
    }

    token = run_json(
        env,
        "tokens",
        "create",
        "-w",
        "Acme Coffee",
        "--email",
        "bob@example.com",
        "--name",
        "ci",
        "--expires-in-days",
        "30",
    )
    db = Database.from_url(database_url)
    with db.transaction() as session:
        _, access = authenticate_token(session, raw=token["token"])  # type: ignore[index]
        assert access.role.value == "marketer"
    db.dispose()

    rotated = run_json(env, "keys", "rotate")
    assert rotated == {"secrets": 0, "keys_from_environment": False}
    workspaces = run_json(env, "workspaces", "list")
    assert [w["members"] for w in workspaces] == [2]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "create", "--email", "a@example.com"], None, "--password-stdin"),
        (["users", "create", "--email", "nope", "--password-stdin"], PASSWORD, "not an e-mail"),
        (
            ["users", "create", "--email", "a@example.com", "--password-stdin"],
            "short\n",
            "at least 10",
        ),
        (
            ["members", "add", "-w", "Nowhere", "--email", "a@example.com", "--role", "boss"],
            None,
            "unknown role",
        ),
        (["members", "list", "-w", "Nowhere"], None, "no workspace 'Nowhere'"),
        (["workspaces", "create", "Acme"], None, "--owner"),
    ],
)
def test_bad_input_says_what_to_fix(
    env: dict[str, str], args: list[str], stdin: str | None, message: str
) -> None:
    assert run(env, "db", "upgrade")[0] == 0
    code, output = run(env, *args, stdin=stdin)
    assert code != 0
    assert message in output
    assert "Traceback" not in output


def test_commands_refuse_an_old_schema(tmp_path: Path) -> None:
    env = {"SOCIALDESK_DATA_DIR": str(tmp_path), "SOCIALDESK_LOG_LEVEL": "WARNING"}
    code, output = run(env, "users", "list")
    assert code == 1
    assert "socialdesk db upgrade" in output


def test_production_refuses_a_default_secret(tmp_path: Path) -> None:
    env = {
        "SOCIALDESK_DATA_DIR": str(tmp_path),
        "SOCIALDESK_ENV": "production",
        "SOCIALDESK_SECRET_KEY": "changeme",
    }
    code, output = run(env, "db", "upgrade")
    assert code == 1
    assert "SOCIALDESK_SECRET_KEY" in output
    assert not (tmp_path / "socialdesk.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_serve_on_an_empty_machine_prints_the_setup_link(tmp_path: Path) -> None:
    """The README's first command: nothing configured, SQLite in the data dir."""
    port = _free_port()
    data_dir = tmp_path / "fresh"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
    environment["SOCIALDESK_DATA_DIR"] = str(data_dir)
    process = subprocess.Popen(
        [sys.executable, "-m", "socialdesk", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = (
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
                )
            except httpx.TransportError:
                time.sleep(0.2)
        assert healthy, "socialdesk serve did not answer /healthz within 60 s"
        setup = httpx.get(f"http://127.0.0.1:{port}/setup", timeout=5)
        assert setup.status_code in (200, 403)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert re.search(rf"http://127\.0\.0\.1:{port}/setup\?token=[0-9a-f]{{32}}", output), output
    assert process.returncode == 0, output
    for name in ("socialdesk.db", "secret.key", "encryption.keys"):
        path = data_dir / name
        assert path.exists(), name
        if name != "socialdesk.db":
            assert path.stat().st_mode & 0o777 == 0o600, name
