# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ``socialdesk`` command. Each area's commands live in a module of this package."""

from __future__ import annotations

from typing import Annotated

import typer

from socialdesk import __version__
from socialdesk.cli import accounts, publishing, server
from socialdesk.cli.common import out

app = typer.Typer(
    name="socialdesk",
    help="socialdesk: social media management for the manager and the marketer, self-hosted.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
app.command("serve")(server.serve)
app.command("worker")(server.worker_command)
app.add_typer(server.db_app, name="db")
app.add_typer(accounts.users_app, name="users")
app.add_typer(accounts.workspaces_app, name="workspaces")
app.add_typer(accounts.members_app, name="members")
app.add_typer(accounts.tokens_app, name="tokens")
app.add_typer(accounts.keys_app, name="keys")
app.add_typer(publishing.channels_app, name="channels")
app.add_typer(publishing.posts_app, name="posts")


def _version(value: bool) -> None:
    if value:
        out.print(f"socialdesk {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """socialdesk: social media management for the manager and the marketer, self-hosted."""


def main() -> None:
    app()
