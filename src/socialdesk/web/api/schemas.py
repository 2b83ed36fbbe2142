# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request and response bodies of the REST API, split Create / Update / Public per resource."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.accounts.roles import Role
from socialdesk.storage.tables import (
    ApiToken,
    AuditEvent,
    Invitation,
    Membership,
    User,
    Workspace,
)

Name = Annotated[str, Field(min_length=1, max_length=120)]
Timezone = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Paris"])]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserPublic(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    timezone: str
    is_admin: bool

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            timezone=user.timezone,
            is_admin=user.is_admin,
        )


class WorkspacePublic(BaseModel):
    id: uuid.UUID
    name: str
    timezone: str
    created_at: dt.datetime
    role: Role

    @classmethod
    def of(cls, workspace: Workspace, role: Role) -> WorkspacePublic:
        return cls(
            id=workspace.id,
            name=workspace.name,
            timezone=workspace.timezone,
            created_at=workspace.created_at,
            role=role,
        )


class WorkspaceCreate(_Body):
    name: Name
    timezone: Timezone = "UTC"


class WorkspaceUpdate(_Body):
    name: Name | None = None
    timezone: Timezone | None = None


class MeResponse(BaseModel):
    user: UserPublic
    workspaces: list[WorkspacePublic]
    #: Set when the caller authenticated with an API token (which opens one workspace).
    token_workspace_id: uuid.UUID | None = None


class MemberPublic(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    joined_at: dt.datetime

    @classmethod
    def of(cls, membership: Membership) -> MemberPublic:
        return cls(
            id=membership.id,
            user_id=membership.user_id,
            email=membership.user.email,
            name=membership.user.name,
            role=Role(membership.role),
            joined_at=membership.created_at,
        )


class MemberCreate(_Body):
    email: Annotated[str, Field(max_length=320)]
    role: Role


class MemberUpdate(_Body):
    role: Role


class InvitationPublic(BaseModel):
    id: uuid.UUID
    email: str
    role: Role
    created_at: dt.datetime
    expires_at: dt.datetime

    @classmethod
    def of(cls, invitation: Invitation) -> InvitationPublic:
        return cls(
            id=invitation.id,
            email=invitation.email,
            role=Role(invitation.role),
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
        )


class InvitationCreate(_Body):
    email: Annotated[str, Field(max_length=320)]
    role: Role


class InvitationCreated(InvitationPublic):
    #: The link to send to the invitee. Shown once; only a hash of it is stored.
    url: str


class TokenPublic(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    user_email: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenPublic:
        return cls(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            user_email=token.user.email,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
        )


class TokenCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_at: dt.datetime | None = None


class TokenCreated(TokenPublic):
    #: The secret. Shown once; only a hash of it is stored.
    token: str


class AuditEventPublic(BaseModel):
    id: int
    created_at: dt.datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventPublic:
        return cls(
            id=event.id,
            created_at=event.created_at,
            actor=event.actor_label,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            details=event.details,
            ip=event.ip,
        )


class AuditPage(BaseModel):
    events: list[AuditEventPublic]
    #: Pass as ``before_id`` to get the next (older) page; null on the last page.
    next_before_id: int | None


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
