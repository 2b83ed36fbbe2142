# SPDX-License-Identifier: AGPL-3.0-or-later
"""Engines for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from socialdesk.errors import ConfigurationError

logger = logging.getLogger(__name__)

#: How long a SQLite writer waits for another one before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The most connections one process keeps to PostgreSQL, and opens beyond those at busy
#: moments. Callers used to size the pool by jobs in flight (``concurrency + 2``), so two
#: workers at ``--concurrency 50`` overran a default PostgreSQL (max_connections = 100).
#: A worker's publishes share two database threads and its claim loop and heartbeat one
#: connection each, so a handful is plenty; a thread that finds none free waits for one
#: (``pool_timeout``) instead of failing.
MAX_POOL_SIZE = 10
MAX_POOL_OVERFLOW = 5


def normalize_database_url(url: str) -> str:
    """Pick our drivers: psycopg 3 for PostgreSQL, the standard library for SQLite."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in it
        raise ConfigurationError(
            "SOCIALDESK_DATABASE_URL is not a database URL; expected e.g. "
            "sqlite:///path/to/socialdesk.db or postgresql://user@host/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigurationError(
            f"socialdesk runs on SQLite or PostgreSQL, not {backend!r}: "
            "set SOCIALDESK_DATABASE_URL to a sqlite:/// or postgresql:// URL"
        )
    return parsed.render_as_string(hide_password=False)


def create_engine_for_url(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings socialdesk relies on.

    SQLite: WAL (readers do not block the writer), a long busy timeout, foreign keys on,
    and ``BEGIN IMMEDIATE`` for every transaction so that two writers queue up instead of
    failing with "database is locked" when a read transaction turns into a write.
    """
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:  # another pool class may take no size at all
        kwargs["pool_size"] = min(kwargs.get("pool_size", MAX_POOL_SIZE), MAX_POOL_SIZE)
        kwargs["max_overflow"] = min(
            kwargs.get("max_overflow", MAX_POOL_OVERFLOW), MAX_POOL_OVERFLOW
        )
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
