# SPDX-License-Identifier: AGPL-3.0-or-later
"""Channels and posts from the command line."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Role
from socialdesk.accounts.vault import Vault
from socialdesk.accounts.workspaces import Access, find_workspace
from socialdesk.cli.common import (
    JsonOption,
    WorkspaceOption,
    database,
    fail,
    friendly_errors,
    load,
    out,
    print_json,
    read_secret_stdin,
    table,
)
from socialdesk.config import Settings
from socialdesk.connectors.base import Credentials
from socialdesk.connectors.registry import CONNECTORS
from socialdesk.media.library import store_file
from socialdesk.media.probe import probe
from socialdesk.publishing import posts as posts_domain
from socialdesk.publishing.channels import connect_channel, find_channel, list_channels
from socialdesk.publishing.imports import ImportRejected, import_posts
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft, When
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.publishing.scheduling import parse_instant
from socialdesk.publishing.validation import MediaCheck, validate_delivery
from socialdesk.storage.session import Database, scope_to_workspace
from socialdesk.storage.tables import Delivery, Membership, Post

channels_app = typer.Typer(help="Connected accounts (channels).", no_args_is_help=True)
connect_app = typer.Typer(help="Connect an account.", no_args_is_help=True)
channels_app.add_typer(connect_app, name="connect")
posts_app = typer.Typer(help="Write, schedule and follow posts.", no_args_is_help=True)

CLI = Actor.cli()


@contextmanager
def _workspace_session(
    settings: Settings, workspace: str
) -> Iterator[tuple[Database, Session, Access]]:
    """A transaction scoped to the workspace, acting as its first owner (the CLI is root)."""
    with database(settings) as db, db.transaction() as session:
        target = find_workspace(session, workspace)
        owner = session.scalars(
            select(Membership)
            .where(Membership.workspace_id == target.id, Membership.role == Role.OWNER.value)
            .order_by(Membership.created_at)
        ).first()
        if owner is None:
            fail(f"the workspace {target.name} has no owner")
        scope_to_workspace(session, target.id)
        yield db, session, Access(workspace=target, user=owner.user, role=Role.OWNER)


def _connect(
    settings: Settings,
    *,
    workspace: str,
    network: str,
    base_url: str | None,
    credentials: Credentials,
) -> None:
    with database(settings) as db:
        with db.transaction() as session:
            workspace_id = find_workspace(session, workspace).id
        runtime = NetworkRuntime()
        try:
            channel = connect_channel(
                db,
                vault=Vault(settings),
                http=runtime.http,
                run=runtime.run,
                workspace_id=workspace_id,
                network=network,
                base_url=base_url,
                credentials=credentials,
                actor=CLI,
            )
        finally:
            runtime.close()
    out.print(f"connected {network} account [bold]{channel.handle}[/] ({channel.id})")


@connect_app.command("bluesky")
def connect_bluesky(
    workspace: WorkspaceOption,
    handle: Annotated[str, typer.Option(help="Your handle, e.g. ana.bsky.social.")],
    app_password_stdin: Annotated[
        bool, typer.Option("--app-password-stdin", help="Read an app password from stdin.")
    ] = False,
    service: Annotated[
        str, typer.Option(help="Your PDS, if not bsky.social.")
    ] = "https://bsky.social",
) -> None:
    """Connect a Bluesky account with an app password (Settings > App passwords)."""
    if not app_password_stdin:
        fail("pass --app-password-stdin and pipe the app password in", code=2)
    password = read_secret_stdin("app password")
    settings = load()
    with friendly_errors():
        _connect(
            settings,
            workspace=workspace,
            network="bluesky",
            base_url=service,
            credentials=Credentials(access_token=password, extra={"identifier": handle}),
        )


@connect_app.command("mastodon")
def connect_mastodon(
    workspace: WorkspaceOption,
    instance: Annotated[str, typer.Option(help="Your instance, e.g. https://mastodon.social.")],
    access_token_stdin: Annotated[
        bool,
        typer.Option(
            "--access-token-stdin",
            help="Read an access token (Preferences > Development) from stdin.",
        ),
    ] = False,
) -> None:
    """Connect a Mastodon account with an access token (or use the web app for OAuth)."""
    if not access_token_stdin:
        fail("pass --access-token-stdin and pipe the token in", code=2)
    token = read_secret_stdin("access token")
    settings = load()
    with friendly_errors():
        _connect(
            settings,
            workspace=workspace,
            network="mastodon",
            base_url=instance,
            credentials=Credentials(access_token=token),
        )


@channels_app.command("list")
def channels_list(workspace: WorkspaceOption, as_json: JsonOption = False) -> None:
    """The workspace's channels and their health."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, access):
        rows = [
            {
                "id": c.id,
                "network": c.network,
                "handle": c.handle,
                "status": c.status,
                "reason": c.status_reason,
                "timezone": c.timezone,
            }
            for c in list_channels(session, workspace_id=access.workspace.id)
        ]
    if as_json:
        print_json(rows)
        return
    table(
        "Channels",
        ["network", "handle", "status", "id"],
        [(r["network"], r["handle"], r["status"], r["id"]) for r in rows],
    )


def _parse_when(
    *, at: str | None, tz: str, now: bool, queue: bool, draft: bool
) -> tuple[When, dt.datetime | None]:
    chosen = [
        name
        for name, flag in (("--at", at), ("--now", now), ("--queue", queue), ("--draft", draft))
        if flag
    ]
    if len(chosen) > 1:
        fail(f"choose one of {', '.join(chosen)}", code=2)
    if draft:
        return "draft", None
    if queue:
        return "queue", None
    if at:
        return "at", parse_instant(at, tz)
    return "now", None


def _post_dict(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "status": post.status,
        "text": post.text,
        "scheduled_at": post.scheduled_at,
        "timezone": post.timezone,
        "labels": post.labels,
        "recurrence": post.recurrence_rule,
        "recurrence_parent_id": post.recurrence_parent_id,
        "deliveries": [_delivery_dict(d) for d in post.deliveries],
    }


def _delivery_dict(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "channel": delivery.channel.handle,
        "network": delivery.channel.network,
        "state": delivery.state,
        "due_at": delivery.due_at,
        "attempts": delivery.attempts,
        "error": delivery.last_error,
        "external_id": delivery.external_id,
        "url": delivery.external_url,
    }


@posts_app.command("create")
def posts_create(
    workspace: WorkspaceOption,
    channel: Annotated[list[str], typer.Option(help="Channel id or handle; repeat for more.")],
    text: Annotated[str, typer.Option(help="The post's text.")],
    media: Annotated[list[Path] | None, typer.Option(help="A file to attach; repeatable.")] = None,
    alt: Annotated[list[str] | None, typer.Option(help="Alt text for each --media.")] = None,
    thread: Annotated[
        list[str] | None, typer.Option(help="A further thread part; repeatable.")
    ] = None,
    at: Annotated[str | None, typer.Option(help="When, ISO 8601 (2026-12-01T09:00).")] = None,
    tz: Annotated[str | None, typer.Option(help="Time zone of --at, e.g. Europe/Paris.")] = None,
    now: Annotated[bool, typer.Option("--now", help="Publish right away.")] = False,
    queue: Annotated[bool, typer.Option("--queue", help="Next free queue slot.")] = False,
    draft: Annotated[bool, typer.Option("--draft", help="Save without scheduling.")] = False,
    label: Annotated[list[str] | None, typer.Option(help="A label; repeatable.")] = None,
    rrule: Annotated[
        str | None,
        typer.Option(
            help="Repeat it: an RFC 5545 rule such as FREQ=WEEKLY;BYDAY=MO, in --tz.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a post for one or more channels: now (default), --at a time, --queue or --draft."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, access):
        zone = tz or access.workspace.timezone
        when, instant = _parse_when(at=at, tz=zone, now=now, queue=queue, draft=draft)
        alts = list(alt or [])
        refs = []
        for index, path in enumerate(media or []):
            if not path.is_file():
                fail(f"no file {path}", code=2)
            asset = store_file(
                session,
                settings=settings,
                workspace_id=access.workspace.id,
                source=path,
                filename=path.name,
                actor=CLI,
                alt_text=alts[index] if index < len(alts) else "",
            )
            refs.append(MediaRef(asset_id=asset.id))
        contents = [
            ChannelContent(
                channel_id=find_channel(session, workspace_id=access.workspace.id, ref=ref).id
            )
            for ref in channel
        ]
        post = posts_domain.create_post(
            session,
            settings=settings,
            access=access,
            actor=CLI,
            draft=PostDraft(
                text=text,
                channels=contents,
                media=refs,
                when=when,
                at=instant,
                timezone=zone,
                labels=list(label or []),
                options={"thread": list(thread)} if thread else {},
                recurrence=rrule,
            ),
        )
        session.flush()
        session.refresh(post)
        result = _post_dict(post)
    if as_json:
        print_json(result)
    else:
        out.print(f"post {result['id']} is {result['status']}")


@posts_app.command("list")
def posts_list(
    workspace: WorkspaceOption,
    status: Annotated[list[str] | None, typer.Option(help="Only this status; repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The workspace's posts, soonest first."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, access):
        found = posts_domain.list_posts(
            session, workspace_id=access.workspace.id, statuses=list(status or [])
        )
        rows = [_post_dict(p) for p in found]
    if as_json:
        print_json(rows)
        return
    table(
        "Posts",
        ["when (UTC)", "status", "channels", "text", "id"],
        [
            (
                r["scheduled_at"] and r["scheduled_at"].strftime("%Y-%m-%d %H:%M"),
                r["status"],
                ", ".join(f"{d['channel']}:{d['state']}" for d in r["deliveries"]),
                r["text"][:40],
                r["id"],
            )
            for r in rows
        ],
    )


def _post_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        fail(f"{value!r} is not a post id", code=2)


@posts_app.command("show")
def posts_show(
    workspace: WorkspaceOption,
    post_id: Annotated[str, typer.Argument(help="The post's id.")],
    as_json: JsonOption = False,
) -> None:
    """One post and each channel's delivery: state, attempts, error, link."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, _access):
        result = _post_dict(posts_domain.get_post(session, post_id=_post_id(post_id)))
    if as_json:
        print_json(result)
        return
    out.print(f"[bold]{result['status']}[/] · {result['scheduled_at']} · {result['text']}")
    table(
        "Deliveries",
        ["channel", "state", "attempts", "error / link"],
        [
            (f"{d['network']} {d['channel']}", d["state"], d["attempts"], d["error"] or d["url"])
            for d in result["deliveries"]
        ],
    )


@posts_app.command("cancel")
def posts_cancel(
    workspace: WorkspaceOption, post_id: Annotated[str, typer.Argument(help="The post's id.")]
) -> None:
    """Cancel what has not been published yet."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, access):
        post = posts_domain.get_post(session, post_id=_post_id(post_id))
        posts_domain.cancel_post(session, access=access, actor=CLI, post=post)
        status = post.status
    out.print(f"post {post_id} is {status}")


@posts_app.command("retry")
def posts_retry(
    workspace: WorkspaceOption, post_id: Annotated[str, typer.Argument(help="The post's id.")]
) -> None:
    """Try the post's failed deliveries again (the published ones are left alone)."""
    settings = load()
    with friendly_errors(), _workspace_session(settings, workspace) as (_db, session, access):
        post = posts_domain.get_post(session, post_id=_post_id(post_id))
        failed = [d for d in post.deliveries if d.state in ("failed", "held")]
        if not failed:
            fail("no failed delivery to retry", code=1)
        for delivery in failed:
            posts_domain.retry_delivery(session, access=access, actor=CLI, delivery=delivery)
    out.print(f"retrying {len(failed)} delivery(ies)")


@posts_app.command("import")
def posts_import(
    file: Annotated[Path, typer.Argument(help="A CSV file: channel,text,at,tz[,media,alt,labels]")],
    workspace: WorkspaceOption,
    as_json: JsonOption = False,
) -> None:
    """Import posts from CSV. Every row is checked first: all go in, or none."""
    if not file.is_file():
        fail(f"no file {file}", code=2)
    settings = load()
    with friendly_errors():
        try:
            with _workspace_session(settings, workspace) as (_db, session, access):
                reports = import_posts(
                    session,
                    settings=settings,
                    access=access,
                    actor=CLI,
                    data=file.read_bytes(),
                    base_dir=file.parent,
                )
        except ImportRejected as exc:
            if as_json:
                print_json({"imported": 0, "rows": [r.as_dict() for r in exc.rows]})
                raise typer.Exit(2) from None
            raise
    if as_json:
        print_json({"imported": len(reports), "rows": [r.as_dict() for r in reports]})
    else:
        out.print(f"imported {len(reports)} post(s)")


@posts_app.command("validate")
def posts_validate(
    network: Annotated[str, typer.Option(help=f"One of: {', '.join(sorted(CONNECTORS))}.")],
    text: Annotated[str, typer.Option(help="The text to check.")],
    media: Annotated[list[Path] | None, typer.Option(help="A file to check; repeatable.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check text and media against a network's rules, as the composer does."""
    if network not in CONNECTORS:
        fail(f"unknown network {network!r}; choose one of: {', '.join(sorted(CONNECTORS))}", 2)
    with friendly_errors():
        checks = [MediaCheck(info=probe(path), name=path.name) for path in media or []]
        report = validate_delivery(network=network, text=text, media=checks)
    result = report.as_dict()
    if as_json:
        print_json(
            {k: result[k] for k in ("network", "length", "limit", "ok", "errors", "warnings")}
        )
    else:
        mark = "[green]ok[/]" if report.ok else "[red]not ok[/]"
        out.print(f"{network}: {report.length}/{report.limit} {mark}")
        for error in report.errors:
            out.print(f"  [red]✗[/] {error}")
        for warning in report.warnings:
            out.print(f"  [yellow]![/] {warning}")
    if not report.ok:
        raise typer.Exit(1)
