# SPDX-License-Identifier: AGPL-3.0-or-later
"""Memberships: who is in a workspace, with which role.

Only owners make or unmake owners, and a workspace always keeps at least one owner.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.roles import Permission, Role, can, require
from socialdesk.accounts.users import find_by_email
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import Conflict, NotFound, PermissionDenied
from socialdesk.storage.tables import Membership, User


def list_members(session: Session, *, workspace_id: uuid.UUID) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(User.email)
        )
    )


def get_member(
    session: Session, *, workspace_id: uuid.UUID, membership_id: uuid.UUID
) -> Membership:
    membership = session.scalars(
        select(Membership).where(
            Membership.id == membership_id, Membership.workspace_id == workspace_id
        )
    ).first()
    if membership is None:
        raise NotFound("no such member in this workspace")
    return membership


def _owner_count(session: Session, workspace_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value)
        )
        or 0
    )


def _check_may_assign(access: Access, role: Role) -> None:
    require(access.role, Permission.MEMBERS_MANAGE)
    if role is Role.OWNER:
        require(access.role, Permission.OWNERS_MANAGE)


def add_member(
    session: Session, *, access: Access, actor: Actor, email: str, role: Role
) -> Membership:
    """Add an existing user to the workspace (people without an account get an invitation)."""
    _check_may_assign(access, role)
    user = find_by_email(session, email)
    if user is None:
        raise NotFound(f"no user with the e-mail {email}; send an invitation instead")
    return add_user(session, workspace_id=access.workspace.id, user=user, role=role, actor=actor)


def add_user(
    session: Session, *, workspace_id: uuid.UUID, user: User, role: Role, actor: Actor
) -> Membership:
    """Add ``user`` with ``role``; the caller has checked that the actor may."""
    existing = session.scalars(
        select(Membership).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user.id
        )
    ).first()
    if existing is not None:
        raise Conflict(f"{user.email} is already a member (as {existing.role})")
    membership = Membership(workspace_id=workspace_id, user_id=user.id, role=role.value)
    session.add(membership)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="member.add",
        workspace_id=workspace_id,
        target_type="user",
        target_id=user.id,
        details={"email": user.email, "role": role.value},
    )
    return membership


def change_role(
    session: Session, *, access: Access, actor: Actor, membership: Membership, role: Role
) -> Membership:
    _check_may_assign(access, role)
    old = Role(membership.role)
    if old is role:
        return membership
    if old is Role.OWNER:
        require(access.role, Permission.OWNERS_MANAGE)
        if _owner_count(session, membership.workspace_id) <= 1:
            raise Conflict("a workspace needs at least one owner; make someone else owner first")
    membership.role = role.value
    audit.record(
        session,
        actor=actor,
        action="member.role_change",
        workspace_id=membership.workspace_id,
        target_type="user",
        target_id=membership.user_id,
        details={"email": membership.user.email, "from": old.value, "to": role.value},
    )
    return membership


def remove_member(
    session: Session, *, access: Access, actor: Actor, membership: Membership
) -> None:
    """Remove a member; anyone may leave, managing others needs the members permission."""
    leaving = membership.user_id == access.user.id
    if not leaving:
        require(access.role, Permission.MEMBERS_MANAGE)
    if membership.role == Role.OWNER.value:
        if not leaving and not can(access.role, Permission.OWNERS_MANAGE):
            raise PermissionDenied("only an owner may remove an owner")
        if _owner_count(session, membership.workspace_id) <= 1:
            raise Conflict("a workspace needs at least one owner; make someone else owner first")
    audit.record(
        session,
        actor=actor,
        action="member.remove",
        workspace_id=membership.workspace_id,
        target_type="user",
        target_id=membership.user_id,
        details={"email": membership.user.email, "role": membership.role},
    )
    session.delete(membership)
