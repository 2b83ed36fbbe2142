# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ``socialdesk`` command."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from socialdesk import __version__
from socialdesk.accounts import members, tokens, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import parse_role
from socialdesk.config import Settings, load_settings
from socialdesk.errors import SocialdeskError, ValidationError
from socialdesk.storage.session import Database
from socialdesk.storage.types import utcnow

app = typer.Typer(
    name="socialdesk",
    help="socialdesk: social media management for the manager and the marketer, self-hosted.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="People who can sign in.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Workspaces (a brand, or a client).", no_args_is_help=True)
members_app = typer.Typer(help="Who belongs to a workspace, with which role.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of the credential vault.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(members_app, name="members")
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")

out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
WorkspaceOption = Annotated[str, typer.Option("--workspace", "-w", help="Workspace id or name.")]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn socialdesk errors into one red line and a non-zero exit code."""
    try:
        yield
    except ValidationError as exc:
        _fail(exc.message, code=2)
    except SocialdeskError as exc:
        _fail(exc.message)


def _settings() -> Settings:
    with _friendly_errors():
        settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every context it opens (the health check opens one per call).
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


@contextmanager
def _database(
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
            _fail("the database schema is not current; run: socialdesk db upgrade")
        yield db
    finally:
        db.dispose()


def _print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    out.print(table)


def _read_password_stdin() -> str:
    if sys.stdin.isatty():
        err.print("Password (input hidden is not available with --password-stdin): ", end="")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _fail('no password on standard input; pipe it in, e.g. printf %s "$PW" | …', code=2)
    return password


def version_callback(value: bool) -> None:
    if value:
        out.print(f"socialdesk {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=version_callback, is_eager=True, help="Show the version."
        ),
    ] = None,
) -> None:
    """socialdesk: social media management for the manager and the marketer, self-hosted."""


# -- serve and worker -------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run one worker inside this process.")
    ] = True,
) -> None:
    """Apply migrations, then serve the web app (with an embedded worker by default)."""
    import uvicorn

    from socialdesk.web.app import create_app
    from socialdesk.web.security import setup_token

    settings = _settings()
    if "base_url" not in settings.model_fields_set:
        # Links we print and put in invitations must point where we actually listen.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings.base_url = f"http://{shown_host}:{port}"
    with _friendly_errors(), _database(settings, migrate=True) as db:
        with db.transaction() as session:
            has_users = users.count_users(session) > 0
        application = create_app(settings, db=db, embedded_worker=worker)
        base = settings.base_url.rstrip("/")
        if not has_users:
            link = f"{base}/setup?token={setup_token(settings.resolved_secret_key())}"
            out.print(
                "\n[bold]Welcome to socialdesk.[/] No one can sign in yet. "
                "Create the first admin:\n"
                f"  • open [link={link}]{link}[/link]\n"
                "  • or run: socialdesk users create --admin --email you@example.com "
                "--password-stdin\n",
                highlight=False,
            )
        out.print(
            f"socialdesk {__version__} on http://{host}:{port} · data in {settings.data_dir}"
            f" · {'with' if worker else 'without'} embedded worker",
            highlight=False,
        )
        uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower())


@app.command("worker")
def worker_command(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Jobs run at once.")] = 4,
    once: Annotated[bool, typer.Option(help="Run what is due now, then exit.")] = False,
) -> None:
    """Run a worker: claims due jobs under leases. Run any number, on any number of machines."""
    from socialdesk.worker import default_handlers, run_worker_process

    settings = _settings()
    # Each running job holds a connection; the claim loop and the heartbeat one each.
    with _friendly_errors(), _database(settings, connections=concurrency + 2) as db:
        ran = run_worker_process(
            db,
            default_handlers(),
            concurrency=concurrency,
            once=once,
            lease_seconds=settings.job_lease_seconds,
            poll_seconds=settings.worker_poll_seconds,
        )
    if once:
        out.print(f"ran {ran} job(s)")


# -- db ---------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run from many processes)."""
    from socialdesk.storage.migrate import current_revision

    settings = _settings()
    with _friendly_errors(), _database(settings, migrate=True) as db:
        revision = current_revision(db.engine)
    out.print(f"database at revision {revision}")


# -- users ------------------------------------------------------------------------------


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="E-mail address to sign in with.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Make an instance administrator.")] = False,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a user who can sign in."""
    if not password_stdin:
        _fail(
            "pass --password-stdin and pipe the password in (it never goes on the command line)", 2
        )
    password = _read_password_stdin()
    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        user = users.create_user(
            session,
            email=email,
            password=password,
            name=name,
            is_admin=admin,
            actor=Actor.cli(),
        )
    if as_json:
        _print_json({"id": user.id, "email": user.email, "admin": user.is_admin})
    else:
        out.print(f"created {'admin ' if admin else ''}user {user.email} ({user.id})")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """List every user of this instance."""
    from sqlalchemy import select

    from socialdesk.storage.tables import User

    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        rows = list(session.scalars(select(User).order_by(User.email)))
    if as_json:
        _print_json(
            [{"id": u.id, "email": u.email, "name": u.name, "admin": u.is_admin} for u in rows]
        )
    else:
        _table(
            "Users",
            ["e-mail", "name", "admin", "id"],
            [(u.email, u.name, u.is_admin, u.id) for u in rows],
        )


# -- workspaces -------------------------------------------------------------------------


@workspaces_app.command("create")
def workspaces_create(
    name: Annotated[str, typer.Argument(help="The brand or client name.")],
    owner: Annotated[
        str | None,
        typer.Option(help="Owner's e-mail; default: the only instance administrator."),
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    as_json: JsonOption = False,
) -> None:
    """Create a workspace."""
    from sqlalchemy import select

    from socialdesk.storage.tables import User

    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        if owner is not None:
            owner_user = users.find_by_email(session, owner)
            if owner_user is None:
                _fail(f"no user with the e-mail {owner}; create one first")
        else:
            query = select(User).where(User.is_admin.is_(True)).limit(2)
            admins = list(session.scalars(query))
            if len(admins) != 1:
                _fail("say who owns the workspace with --owner EMAIL", code=2)
            owner_user = admins[0]
        workspace = workspaces.create_workspace(
            session, name=name, owner=owner_user, timezone=timezone, actor=Actor.cli()
        )
    if as_json:
        _print_json({"id": workspace.id, "name": workspace.name, "owner": owner_user.email})
    else:
        out.print(f"created workspace {workspace.name} ({workspace.id}), owner {owner_user.email}")


@workspaces_app.command("list")
def workspaces_list(as_json: JsonOption = False) -> None:
    """List every workspace of this instance."""
    from sqlalchemy import func, select

    from socialdesk.storage.tables import Membership, Workspace

    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        rows = session.execute(
            select(Workspace, func.count(Membership.id))
            .outerjoin(Membership, Membership.workspace_id == Workspace.id)
            .group_by(Workspace.id)
            .order_by(Workspace.name)
        ).all()
    data = [{"id": w.id, "name": w.name, "timezone": w.timezone, "members": n} for w, n in rows]
    if as_json:
        _print_json(data)
    else:
        _table(
            "Workspaces",
            ["name", "time zone", "members", "id"],
            [(d["name"], d["timezone"], d["members"], d["id"]) for d in data],
        )


# -- members ----------------------------------------------------------------------------


@members_app.command("add")
def members_add(
    workspace: WorkspaceOption,
    email: Annotated[str, typer.Option(help="E-mail of an existing user.")],
    role: Annotated[
        str, typer.Option(help="owner, admin, manager, marketer, analyst or approver.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Add an existing user to a workspace with a role."""
    settings = _settings()
    with _friendly_errors():
        parsed_role = parse_role(role)
        with _database(settings) as db, db.transaction() as session:
            target = workspaces.find_workspace(session, workspace)
            user = users.find_by_email(session, email)
            if user is None:
                _fail(f"no user with the e-mail {email}; create one first")
            membership = members.add_user(
                session, workspace_id=target.id, user=user, role=parsed_role, actor=Actor.cli()
            )
    if as_json:
        _print_json(
            {"id": membership.id, "workspace": target.id, "email": user.email, "role": parsed_role}
        )
    else:
        out.print(f"{user.email} is now {parsed_role.value} of {target.name}")


@members_app.command("list")
def members_list(workspace: WorkspaceOption, as_json: JsonOption = False) -> None:
    """List a workspace's members."""
    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        target = workspaces.find_workspace(session, workspace)
        rows = [
            (m.user.email, m.user.name, m.role, m.created_at)
            for m in members.list_members(session, workspace_id=target.id)
        ]
    if as_json:
        _print_json([{"email": e, "name": n, "role": r, "joined_at": j} for e, n, r, j in rows])
    else:
        _table(f"Members of {target.name}", ["e-mail", "name", "role", "joined"], rows)


# -- tokens -----------------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    workspace: WorkspaceOption,
    email: Annotated[str, typer.Option(help="The member the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'zapier'.")],
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, max=3650, help="Expire after this many days.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token. The secret is shown once; store it now."""
    settings = _settings()
    with _friendly_errors(), _database(settings) as db, db.transaction() as session:
        target = workspaces.find_workspace(session, workspace)
        user = users.find_by_email(session, email)
        if user is None:
            _fail(f"no user with the e-mail {email}")
        access = workspaces.access_for(session, user=user, workspace_id=target.id)
        expires_at = None
        if expires_in_days:
            expires_at = utcnow() + dt.timedelta(days=expires_in_days)
        token, secret = tokens.create_token(
            session, access=access, actor=Actor.cli(), name=name, expires_at=expires_at
        )
    if as_json:
        _print_json(
            {"id": token.id, "name": token.name, "token": secret, "expires_at": token.expires_at}
        )
    else:
        out.print(f"token [bold]{token.name}[/] for {user.email} in {target.name} (shown once):")
        out.print(secret, highlight=False, soft_wrap=True)


# -- keys -------------------------------------------------------------------------------


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOption = False) -> None:
    """Re-encrypt every stored secret under a new key; old keys are dropped when done."""
    from socialdesk.accounts.vault import rotate_keys

    settings = _settings()
    with (
        _friendly_errors(),
        _database(settings) as db,
        err.status("Re-encrypting stored secrets…"),
    ):
        report = rotate_keys(db=db, settings=settings, actor=Actor.cli())
    if as_json:
        _print_json(
            {"secrets": report.secrets, "keys_from_environment": report.keys_from_environment}
        )
        return
    out.print(f"re-encrypted {report.secrets} secret(s) under the new key")
    if report.keys_from_environment:
        out.print("keys come from SOCIALDESK_ENCRYPTION_KEYS: remove the old keys from it now")


def main() -> None:
    app()
