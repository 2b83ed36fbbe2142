# SPDX-License-Identifier: AGPL-3.0-or-later
"""People and access: users, workspaces, members, API tokens, vault keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from socialdesk.accounts import members, tokens, users, workspaces
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import parse_role
from socialdesk.cli.common import (
    JsonOption,
    WorkspaceOption,
    database,
    err,
    fail,
    friendly_errors,
    load,
    out,
    print_json,
    read_secret_stdin,
    table,
)
from socialdesk.storage.types import utcnow

users_app = typer.Typer(help="People who can sign in.", no_args_is_help=True)
workspaces_app = typer.Typer(help="Workspaces (a brand, or a client).", no_args_is_help=True)
members_app = typer.Typer(help="Who belongs to a workspace, with which role.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
keys_app = typer.Typer(help="Encryption keys of the credential vault.", no_args_is_help=True)


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
        fail(
            "pass --password-stdin and pipe the password in (it never goes on the command line)", 2
        )
    password = read_secret_stdin()
    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        user = users.create_user(
            session,
            email=email,
            password=password,
            name=name,
            is_admin=admin,
            actor=Actor.cli(),
        )
    if as_json:
        print_json({"id": user.id, "email": user.email, "admin": user.is_admin})
    else:
        out.print(f"created {'admin ' if admin else ''}user {user.email} ({user.id})")


@users_app.command("list")
def users_list(as_json: JsonOption = False) -> None:
    """List every user of this instance."""
    from sqlalchemy import select

    from socialdesk.storage.tables import User

    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        rows = list(session.scalars(select(User).order_by(User.email)))
    if as_json:
        print_json(
            [{"id": u.id, "email": u.email, "name": u.name, "admin": u.is_admin} for u in rows]
        )
    else:
        table(
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

    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        if owner is not None:
            owner_user = users.find_by_email(session, owner)
            if owner_user is None:
                fail(f"no user with the e-mail {owner}; create one first")
        else:
            query = select(User).where(User.is_admin.is_(True)).limit(2)
            admins = list(session.scalars(query))
            if len(admins) != 1:
                fail("say who owns the workspace with --owner EMAIL", code=2)
            owner_user = admins[0]
        workspace = workspaces.create_workspace(
            session, name=name, owner=owner_user, timezone=timezone, actor=Actor.cli()
        )
    if as_json:
        print_json({"id": workspace.id, "name": workspace.name, "owner": owner_user.email})
    else:
        out.print(f"created workspace {workspace.name} ({workspace.id}), owner {owner_user.email}")


@workspaces_app.command("list")
def workspaces_list(as_json: JsonOption = False) -> None:
    """List every workspace of this instance."""
    from sqlalchemy import func, select

    from socialdesk.storage.tables import Membership, Workspace

    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        rows = session.execute(
            select(Workspace, func.count(Membership.id))
            .outerjoin(Membership, Membership.workspace_id == Workspace.id)
            .group_by(Workspace.id)
            .order_by(Workspace.name)
        ).all()
    data = [{"id": w.id, "name": w.name, "timezone": w.timezone, "members": n} for w, n in rows]
    if as_json:
        print_json(data)
    else:
        table(
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
    settings = load()
    with friendly_errors():
        parsed_role = parse_role(role)
        with database(settings) as db, db.transaction() as session:
            target = workspaces.find_workspace(session, workspace)
            user = users.find_by_email(session, email)
            if user is None:
                fail(f"no user with the e-mail {email}; create one first")
            membership = members.add_user(
                session, workspace_id=target.id, user=user, role=parsed_role, actor=Actor.cli()
            )
    if as_json:
        print_json(
            {"id": membership.id, "workspace": target.id, "email": user.email, "role": parsed_role}
        )
    else:
        out.print(f"{user.email} is now {parsed_role.value} of {target.name}")


@members_app.command("list")
def members_list(workspace: WorkspaceOption, as_json: JsonOption = False) -> None:
    """List a workspace's members."""
    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        target = workspaces.find_workspace(session, workspace)
        rows = [
            (m.user.email, m.user.name, m.role, m.created_at)
            for m in members.list_members(session, workspace_id=target.id)
        ]
    if as_json:
        print_json([{"email": e, "name": n, "role": r, "joined_at": j} for e, n, r, j in rows])
    else:
        table(f"Members of {target.name}", ["e-mail", "name", "role", "joined"], rows)


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
    settings = load()
    with friendly_errors(), database(settings) as db, db.transaction() as session:
        target = workspaces.find_workspace(session, workspace)
        user = users.find_by_email(session, email)
        if user is None:
            fail(f"no user with the e-mail {email}")
        access = workspaces.access_for(session, user=user, workspace_id=target.id)
        expires_at = None
        if expires_in_days:
            expires_at = utcnow() + dt.timedelta(days=expires_in_days)
        token, secret = tokens.create_token(
            session, access=access, actor=Actor.cli(), name=name, expires_at=expires_at
        )
    if as_json:
        print_json(
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

    settings = load()
    with (
        friendly_errors(),
        database(settings) as db,
        err.status("Re-encrypting stored secrets…"),
    ):
        report = rotate_keys(db=db, settings=settings, actor=Actor.cli())
    if as_json:
        print_json(
            {"secrets": report.secrets, "keys_from_environment": report.keys_from_environment}
        )
        return
    out.print(f"re-encrypted {report.secrets} secret(s) under the new key")
    if report.keys_from_environment:
        out.print("keys come from SOCIALDESK_ENCRYPTION_KEYS: remove the old keys from it now")
