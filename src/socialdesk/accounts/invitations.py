# SPDX-License-Identifier: AGPL-3.0-or-later
"""Invitations by link: an admin invites an e-mail with a role; that person joins."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.members import add_user
from socialdesk.accounts.opaque import hash_opaque_token, new_opaque_token
from socialdesk.accounts.roles import Permission, Role, require
from socialdesk.accounts.users import normalize_email
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import NotFound, PermissionDenied, ValidationError
from socialdesk.storage.tables import Invitation, Membership, User
from socialdesk.storage.types import utcnow

INVITATION_LIFETIME = dt.timedelta(days=7)


def invitation_path(token: str) -> str:
    return f"/invite/{token}"


def create_invitation(
    session: Session, *, access: Access, actor: Actor, email: str, role: Role
) -> tuple[Invitation, str]:
    """A new invitation and its token (shown once; only its hash is stored)."""
    require(access.role, Permission.MEMBERS_MANAGE)
    if role is Role.OWNER:
        require(access.role, Permission.OWNERS_MANAGE)
    email = normalize_email(email)
    already = session.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == access.workspace.id, User.email == email)
    ).first()
    if already is not None:
        raise ValidationError(f"{email} is already a member of this workspace", field="email")
    raw, token_hash = new_opaque_token("inv")
    invitation = Invitation(
        workspace_id=access.workspace.id,
        email=email,
        role=role.value,
        token_hash=token_hash,
        invited_by_id=access.user.id,
        expires_at=utcnow() + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="invitation.create",
        workspace_id=access.workspace.id,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": role.value},
    )
    return invitation, raw


def pending_invitations(session: Session, *, workspace_id: uuid.UUID) -> list[Invitation]:
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.workspace_id == workspace_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def revoke_invitation(
    session: Session, *, access: Access, actor: Actor, invitation_id: uuid.UUID
) -> Invitation:
    require(access.role, Permission.MEMBERS_MANAGE)
    invitation = session.scalars(
        select(Invitation).where(
            Invitation.id == invitation_id, Invitation.workspace_id == access.workspace.id
        )
    ).first()
    if invitation is None or invitation.accepted_at is not None:
        raise NotFound("no such pending invitation")
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        audit.record(
            session,
            actor=actor,
            action="invitation.revoke",
            workspace_id=access.workspace.id,
            target_type="invitation",
            target_id=invitation.id,
            details={"email": invitation.email},
        )
    return invitation


def find_open_invitation(session: Session, *, token: str) -> Invitation:
    """The invitation behind a link, if it can still be used."""
    invitation = session.scalars(
        select(Invitation).where(Invitation.token_hash == hash_opaque_token(token))
    ).first()
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound("this invitation link is not valid; ask for a new one")
    if invitation.accepted_at is not None:
        raise NotFound("this invitation has already been used; sign in instead")
    if invitation.expires_at <= utcnow():
        raise NotFound("this invitation has expired; ask for a new one")
    return invitation


def accept_invitation(session: Session, *, token: str, user: User, actor: Actor) -> Membership:
    """Join the workspace as the invited role; the link works only for the invited e-mail."""
    invitation = find_open_invitation(session, token=token)
    if user.email != invitation.email:
        raise PermissionDenied(
            f"this invitation is for {invitation.email}; sign in with that address"
        )
    membership = add_user(
        session,
        workspace_id=invitation.workspace_id,
        user=user,
        role=Role(invitation.role),
        actor=actor,
    )
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    return membership
