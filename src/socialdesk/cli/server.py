# SPDX-License-Identifier: AGPL-3.0-or-later
"""Running socialdesk: the web app, workers, and the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from socialdesk import __version__
from socialdesk.accounts import users
from socialdesk.cli.common import database, friendly_errors, load, out

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


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

    settings = load()
    if "base_url" not in settings.model_fields_set:
        # Links we print and put in invitations must point where we actually listen.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings.base_url = f"http://{shown_host}:{port}"
    with friendly_errors(), database(settings, migrate=True) as db:
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


def worker_command(
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Jobs run at once.")] = 4,
    once: Annotated[bool, typer.Option(help="Run what is due now, then exit.")] = False,
) -> None:
    """Run a worker: claims due jobs under leases. Run any number, on any number of machines."""
    from socialdesk.accounts.vault import Vault
    from socialdesk.handlers import ALL_PERIODIC, build_handlers
    from socialdesk.publishing.runtime import NetworkRuntime
    from socialdesk.worker import run_worker_process

    settings = load()
    network = NetworkRuntime()
    # Each running job holds a connection; the claim loop and the heartbeat one each.
    with friendly_errors(), database(settings, connections=concurrency + 2) as db:
        try:
            ran = run_worker_process(
                db,
                build_handlers(db=db, settings=settings, vault=Vault(settings), network=network),
                concurrency=concurrency,
                once=once,
                lease_seconds=settings.job_lease_seconds,
                poll_seconds=settings.worker_poll_seconds,
                periodic=ALL_PERIODIC,
            )
        finally:
            network.close()
    if once:
        out.print(f"ran {ran} job(s)")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (safe to run from many processes)."""
    from socialdesk.storage.migrate import current_revision

    settings = load()
    with friendly_errors(), database(settings, migrate=True) as db:
        revision = current_revision(db.engine)
    out.print(f"database at revision {revision}")
