# SPDX-License-Identifier: AGPL-3.0-or-later
"""API tokens: Bearer secrets that act as their user, with that user's role, in one workspace."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.opaque import hash_opaque_token, new_opaque_token
from socialdesk.accounts.roles import Permission, Role, require
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import AuthenticationFailed, NotFound, ValidationError
from socialdesk.storage.tables import ApiToken, Membership
from socialdesk.storage.types import utcnow

TOKEN_PREFIX = "sdk"  # noqa: S105 - a label, not a secret
MAX_NAME_LENGTH = 100
#: last_used_at is written at most this often, so reads do not turn into writes.
_LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def create_token(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    name: str,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the acting user in this workspace, and its secret (shown once)."""
    require(access.role, Permission.TOKENS_OWN)
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"give the token a name of 1 to {MAX_NAME_LENGTH} characters", field="name"
        )
    if expires_at is not None and expires_at.utcoffset() is None:
        raise ValidationError(
            "give the expiry with a UTC offset, e.g. 2027-01-31T00:00:00Z", field="expires_at"
        )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationError("the expiry must be in the future", field="expires_at")
    raw, token_hash = new_opaque_token(TOKEN_PREFIX)
    token = ApiToken(
        workspace_id=access.workspace.id,
        user_id=access.user.id,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 5],
        token_hash=token_hash,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="token.create",
        workspace_id=access.workspace.id,
        target_type="token",
        target_id=token.id,
        details={"name": name},
    )
    return token, raw


def list_tokens(session: Session, *, access: Access) -> list[ApiToken]:
    """The user's own tokens; admins see everyone's in the workspace."""
    query = select(ApiToken).where(
        ApiToken.workspace_id == access.workspace.id, ApiToken.revoked_at.is_(None)
    )
    if access.role not in (Role.OWNER, Role.ADMIN):
        query = query.where(ApiToken.user_id == access.user.id)
    return list(session.scalars(query.order_by(ApiToken.created_at.desc())))


def revoke_token(
    session: Session, *, access: Access, actor: Actor, token_id: uuid.UUID
) -> ApiToken:
    token = session.scalars(
        select(ApiToken).where(
            ApiToken.id == token_id,
            ApiToken.workspace_id == access.workspace.id,
            ApiToken.revoked_at.is_(None),
        )
    ).first()
    if token is None:
        raise NotFound("no such token")
    if token.user_id != access.user.id:
        require(access.role, Permission.MEMBERS_MANAGE)
    token.revoked_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="token.revoke",
        workspace_id=access.workspace.id,
        target_type="token",
        target_id=token.id,
        details={"name": token.name},
    )
    return token


def authenticate_token(session: Session, *, raw: str) -> tuple[ApiToken, Access]:
    """The token and the access it grants; one error for every way a token can be bad."""
    failure = AuthenticationFailed("the API token is not valid (revoked, expired or mistyped)")
    if not raw.startswith(f"{TOKEN_PREFIX}_"):
        raise failure
    token = session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_opaque_token(raw))
    ).first()
    now = utcnow()
    if token is None or token.revoked_at is not None:
        raise failure
    if token.expires_at is not None and token.expires_at <= now:
        raise failure
    membership = session.scalars(
        select(Membership).where(
            Membership.workspace_id == token.workspace_id, Membership.user_id == token.user_id
        )
    ).first()
    # A member who left (or was removed) takes their tokens' power with them.
    if membership is None or token.user.disabled_at is not None:
        raise failure
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token, Access(
        workspace=membership.workspace, user=token.user, role=Role(membership.role)
    )
