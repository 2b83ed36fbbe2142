# SPDX-License-Identifier: AGPL-3.0-or-later
"""Apply Alembic migrations from inside the program (``socialdesk db upgrade``, ``serve``)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from socialdesk.storage.engine import is_postgresql

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Any number, the same in every process: serialises concurrent upgrades on PostgreSQL.
_PG_ADVISORY_LOCK_ID = 0x50C1A1DE5C


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; safe to call from many processes at once."""
    if is_postgresql(engine):
        with engine.connect() as lock_connection:
            lock_connection.execute(
                text("SELECT pg_advisory_lock(:id)"), {"id": _PG_ADVISORY_LOCK_ID}
            )
            try:
                command.upgrade(alembic_config(engine), revision)
            finally:
                lock_connection.execute(
                    text("SELECT pg_advisory_unlock(:id)"), {"id": _PG_ADVISORY_LOCK_ID}
                )
                lock_connection.commit()
    else:
        command.upgrade(alembic_config(engine), revision)
    logger.info("database at revision %s", current_revision(engine))


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
