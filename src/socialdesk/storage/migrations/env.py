# SPDX-License-Identifier: AGPL-3.0-or-later
"""Alembic environment: batch mode so one migration set runs on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from socialdesk.storage.tables import Base

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through socialdesk.storage.migrate (socialdesk db upgrade)")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
