# SPDX-License-Identifier: AGPL-3.0-or-later
"""Shared fixtures: every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``SOCIALDESK_TEST_POSTGRES_URL`` (default: the local server with
trust auth). Where it cannot be reached the PostgreSQL half skips with the reason, except
in CI (``CI=true``), where it is mandatory and its absence fails the run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from socialdesk.storage import Database, create_engine_for_url, normalize_database_url
from socialdesk.storage.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "SOCIALDESK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(reason: str) -> None:
    """Skip with ``reason`` on a developer's machine; fail in CI, where nothing may skip."""
    if IN_CI:
        pytest.fail(f"mandatory in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session (dropped at the end)."""
    admin_url = normalize_database_url(POSTGRES_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        require(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    name = f"socialdesk_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine_for_url(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_engine_for_url(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _empty_postgres(url: str) -> None:
    engine = create_engine_for_url(url)
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database: once SQLite, once PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "socialdesk.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("postgres_server_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database.from_url(database_url)
    try:
        yield database
    finally:
        database.dispose()
