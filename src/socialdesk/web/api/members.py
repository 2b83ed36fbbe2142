# SPDX-License-Identifier: AGPL-3.0-or-later
import uuid

from fastapi import APIRouter, Depends, Request, Response, status

from socialdesk.accounts import members
from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.web.api.schemas import MemberCreate, MemberPublic, MemberUpdate
from socialdesk.web.deps import PrincipalDep, SessionDep, WorkspaceAccessDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}/members", tags=["members"])


@router.get("")
def list_members(
    session: SessionDep, access: Access = Depends(requires(Permission.MEMBERS_READ))
) -> list[MemberPublic]:
    return [
        MemberPublic.of(m) for m in members.list_members(session, workspace_id=access.workspace.id)
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
def add_member(
    body: MemberCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> MemberPublic:
    """Add someone who already has an account; invite everyone else."""
    membership = members.add_member(
        session, access=access, actor=principal.actor(request), email=body.email, role=body.role
    )
    return MemberPublic.of(membership)


@router.patch("/{membership_id}")
def change_role(
    membership_id: uuid.UUID,
    body: MemberUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> MemberPublic:
    membership = members.get_member(
        session, workspace_id=access.workspace.id, membership_id=membership_id
    )
    members.change_role(
        session,
        access=access,
        actor=principal.actor(request),
        membership=membership,
        role=body.role,
    )
    return MemberPublic.of(membership)


@router.delete("/{membership_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    membership_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> Response:
    membership = members.get_member(
        session, workspace_id=access.workspace.id, membership_id=membership_id
    )
    members.remove_member(
        session, access=access, actor=principal.actor(request), membership=membership
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
