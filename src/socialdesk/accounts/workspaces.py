# SPDX-License-Identifier: AGPL-3.0-or-later
"""Workspaces (a brand, or one client of an agency) and who belongs to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, Role, require
from socialdesk.accounts.users import check_timezone
from socialdesk.errors import NotFound, ValidationError
from socialdesk.storage.tables import Membership, User, Workspace

MAX_NAME_LENGTH = 120


@dataclass(frozen=True, slots=True)
class Access:
    """A user's standing in one workspace, as every request inside it needs."""

    workspace: Workspace
    user: User
    role: Role


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError("the workspace needs a name", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"the workspace name is longer than {MAX_NAME_LENGTH} characters", field="name"
        )
    return name


def create_workspace(
    session: Session, *, name: str, owner: User, actor: Actor, timezone: str = "UTC"
) -> Workspace:
    """Create a workspace with ``owner`` as its first owner."""
    workspace = Workspace(name=_clean_name(name), timezone=check_timezone(timezone))
    session.add(workspace)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=owner.id, role=Role.OWNER.value))
    audit.record(
        session,
        actor=actor,
        action="workspace.create",
        workspace_id=workspace.id,
        target_type="workspace",
        target_id=workspace.id,
        details={"name": workspace.name, "owner": owner.email},
    )
    return workspace


def update_workspace(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    name: str | None = None,
    timezone: str | None = None,
) -> Workspace:
    """Rename the workspace or change its time zone (owners and admins)."""
    require(access.role, Permission.WORKSPACE_MANAGE)
    workspace = access.workspace
    changes: dict[str, str] = {}
    new_name = _clean_name(name) if name is not None else None
    new_timezone = check_timezone(timezone) if timezone is not None else None
    if new_name is not None and new_name != workspace.name:
        changes["name"] = new_name
        workspace.name = new_name
    if new_timezone is not None and new_timezone != workspace.timezone:
        changes["timezone"] = new_timezone
        workspace.timezone = new_timezone
    if changes:
        audit.record(
            session,
            actor=actor,
            action="workspace.update",
            workspace_id=workspace.id,
            target_type="workspace",
            target_id=workspace.id,
            details=changes,
        )
    return workspace


def workspaces_of(session: Session, *, user: User) -> list[tuple[Workspace, Role]]:
    """Every workspace the user belongs to, by name, with the user's role there."""
    rows = session.execute(
        select(Workspace, Membership.role)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(Workspace.name, Workspace.id)
    ).all()
    return [(workspace, Role(role)) for workspace, role in rows]


def find_workspace(session: Session, ref: str) -> Workspace:
    """A workspace by id, or by exact name when that name is unique (for the CLI)."""
    try:
        workspace = session.get(Workspace, uuid.UUID(ref))
    except ValueError:
        matches = list(session.scalars(select(Workspace).where(Workspace.name == ref)))
        if len(matches) > 1:
            raise ValidationError(
                f"{len(matches)} workspaces are named {ref!r}; give the id instead"
            ) from None
        workspace = matches[0] if matches else None
    if workspace is None:
        raise NotFound(f"no workspace {ref!r}")
    return workspace


def access_for(session: Session, *, user: User, workspace_id: uuid.UUID) -> Access:
    """The user's access to a workspace; NotFound if they are not a member.

    Not a member and no such workspace look the same, so ids of other tenants leak nothing.
    """
    membership = session.scalars(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user.id
        )
    ).first()
    if membership is None or user.disabled_at is not None:
        raise NotFound("no such workspace")
    return Access(workspace=membership.workspace, user=user, role=Role(membership.role))
