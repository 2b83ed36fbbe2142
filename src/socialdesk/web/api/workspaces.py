# SPDX-License-Identifier: AGPL-3.0-or-later
from fastapi import APIRouter, Depends, Request, status

from socialdesk.accounts import workspaces
from socialdesk.accounts.roles import Permission, Role
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import PermissionDenied
from socialdesk.web.api.schemas import WorkspaceCreate, WorkspacePublic, WorkspaceUpdate
from socialdesk.web.deps import PrincipalDep, SessionDep, WorkspaceAccessDep, requires

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


@router.get("")
def list_workspaces(principal: PrincipalDep, session: SessionDep) -> list[WorkspacePublic]:
    if principal.token_access is not None:
        access = principal.token_access
        return [WorkspacePublic.of(access.workspace, access.role)]
    return [
        WorkspacePublic.of(w, r) for w, r in workspaces.workspaces_of(session, user=principal.user)
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_workspace(
    body: WorkspaceCreate, request: Request, principal: PrincipalDep, session: SessionDep
) -> WorkspacePublic:
    """Create a workspace; you become its owner. Needs a signed-in user, not a token."""
    if principal.token is not None:
        raise PermissionDenied("an API token acts in one workspace; create workspaces signed in")
    workspace = workspaces.create_workspace(
        session,
        name=body.name,
        timezone=body.timezone,
        owner=principal.user,
        actor=principal.actor(request),
    )
    return WorkspacePublic.of(workspace, Role.OWNER)


@router.get("/{workspace_id}")
def get_workspace(access: WorkspaceAccessDep) -> WorkspacePublic:
    return WorkspacePublic.of(access.workspace, access.role)


@router.patch("/{workspace_id}")
def update_workspace(
    body: WorkspaceUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: Access = Depends(requires(Permission.WORKSPACE_MANAGE)),
) -> WorkspacePublic:
    workspace = workspaces.update_workspace(
        session,
        access=access,
        actor=principal.actor(request),
        name=body.name,
        timezone=body.timezone,
    )
    return WorkspacePublic.of(workspace, access.role)
