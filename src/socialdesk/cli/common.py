# SPDX-License-Identifier: AGPL-3.0-or-later
"""What every command shares: consoles, options, settings, the database, error display."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from socialdesk.config import Settings, load_settings
from socialdesk.errors import SocialdeskError, ValidationError
from socialdesk.storage.session import Database

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id or name.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn socialdesk errors into one red line and a non-zero exit code."""
    try:
        yield
    except ValidationError as exc:
        fail(exc.message, code=2)
    except SocialdeskError as exc:
        fail(exc.message)


def load() -> Settings:
    with friendly_errors():
        settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every context it opens (the health check opens one per call).
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    # httpx logs every request with its full URL at INFO: a line per publish, and some
    # networks (the Graph API) take the access token in the query string (invariant 5).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


@contextmanager
def database(
    settings: Settings, *, migrate: bool = False, connections: int = 5
) -> Iterator[Database]:
    """The database, migrated or checked to be current; its connections closed after."""
    from socialdesk.storage.migrate import is_up_to_date, upgrade

    settings.ensure_data_dir()
    url = settings.resolved_database_url
    pool = {} if url.startswith("sqlite") else {"pool_size": connections, "max_overflow": 5}
    db = Database.from_url(url, **pool)
    try:
        if migrate:
            with err.status("Applying database migrations…"):
                upgrade(db.engine)
        elif not is_up_to_date(db.engine):
            fail("the database schema is not current; run: socialdesk db upgrade")
        yield db
    finally:
        db.dispose()


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def read_secret_stdin(what: str = "password") -> str:
    """One line from standard input: secrets never go on the command line (or in history)."""
    if sys.stdin.isatty():
        err.print(f"{what.capitalize()} (then Enter): ", end="")
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(f'no {what} on standard input; pipe it in, e.g. printf %s "$SECRET" | …', code=2)
    return value
