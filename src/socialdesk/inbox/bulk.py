# SPDX-License-Identifier: AGPL-3.0-or-later
"""Many rows in one statement, skipping (or updating) the ones whose natural key exists.

PostgreSQL gets one ``INSERT … SELECT … FROM json_to_recordset(:rows)`` per call: every
row in one JSON parameter, so the statement text is the same whatever the number of rows
(parsed and planned once, no per-row bind parameters to convert). SQLite gets SQLAlchemy's
``executemany`` (its "insertmanyvalues" batches), which is fast there. Both end with
``ON CONFLICT (…) DO NOTHING`` or ``DO UPDATE``, so two writers racing on the same key
store it once instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Integer,
    String,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from socialdesk.storage.types import UTCDateTime

__all__ = ["insert_rows", "one_of", "plan_for_actual_values"]

#: The PostgreSQL type a column's values are read as from the JSON document.
_PG_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (Uuid, "uuid"),
    (UTCDateTime, "timestamptz"),
    (Boolean, "boolean"),
    (BigInteger, "bigint"),
    (Integer, "bigint"),
    (Float, "double precision"),
    (JSON, "json"),
    (Text, "text"),
    (String, "text"),
)


def one_of(
    session: Session, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(:array)``: one parameter, so the
    statement's text (and plan) is the same whatever the number of values."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def _pg_type(column_type: TypeEngine[Any]) -> str:
    for kind, name in _PG_TYPES:
        if isinstance(column_type, kind):
            return name
    raise TypeError(f"no PostgreSQL type for {column_type!r}")


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    update: Mapping[str, str] | None = None,
    returning: Sequence[str] = (),
    constants: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (same keys each); on a key in ``conflict``, skip or apply ``update``.

    ``constants`` are columns with the same value in every row (sent once, not per row).

    ``update`` maps a column to a SQL expression over ``excluded`` and the table's current
    row (``"coalesce(excluded.followers, inbox_contacts.followers)"``); constants only,
    never user input. Returns the ``returning`` columns of the rows written.
    """
    if not rows:
        return []
    constants = dict(constants or {})
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(session, table, rows, constants, conflict, update, returning)
    merged = [{**constants, **row} for row in rows]
    return _sqlite(session, table, merged, conflict, update, returning)


def _postgres(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    constants: Mapping[str, Any],
    conflict: Sequence[str],
    update: Mapping[str, str] | None,
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    varying = list(rows[0])
    params: dict[str, Any] = {}
    scalars = []
    for number, (name, value) in enumerate(constants.items()):
        pg_type = _pg_type(table.c[name].type)
        params[f"c{number}"] = json.dumps(value) if pg_type == "json" else value
        scalars.append(f"CAST(:c{number} AS {pg_type})")
    # All rows travel as one JSON document that the server unpacks with
    # json_to_recordset: one parameter, encoded by the json module's C code, where arrays
    # per column would be escaped element by element in Python.
    record = ", ".join(f"{name} {_pg_type(table.c[name].type)}" for name in varying)
    # UUIDs and datetimes as their str(): text PostgreSQL reads as uuid and timestamptz.
    params["rows"] = json.dumps(list(rows), default=str)
    columns = [*constants, *varying]
    picked = ", ".join([*scalars, *(f"r.{name}" for name in varying)])
    action = (
        "DO UPDATE SET " + ", ".join(f"{col} = {expr}" for col, expr in update.items())
        if update
        else "DO NOTHING"
    )
    statement = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - names from the schema
        f"SELECT {picked} FROM json_to_recordset(CAST(:rows AS json)) AS r({record}) "
        f"ON CONFLICT ({', '.join(conflict)}) {action}"
    )
    if returning:
        statement += f" RETURNING {', '.join(returning)}"
        return [tuple(row) for row in session.execute(text(statement), params)]
    session.execute(text(statement), params)
    return []


def _sqlite(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    update: Mapping[str, str] | None,
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    statement: Any = sqlite.insert(table)
    index = [table.c[name] for name in conflict]
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=index, set_={col: text(expr) for col, expr in update.items()}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=index)
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        return [tuple(row) for row in session.execute(statement, list(rows))]
    session.execute(statement, list(rows))
    return []


def plan_for_actual_values(session: Session) -> None:
    """PostgreSQL: plan this transaction's statements for their actual parameters.

    psycopg prepares a statement run five times on a connection, and PostgreSQL may then
    keep one generic plan for it. One made while the inbox tables were young (before
    autovacuum's first ANALYZE) scans them whole, and kept for the connection's life that
    turns every page into a scan of every item stored: quadratic. ``SET LOCAL`` ends with
    the transaction, so nothing leaks into the pooled connection.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
