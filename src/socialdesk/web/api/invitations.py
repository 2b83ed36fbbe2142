# SPDX-License-Identifier: AGPL-3.0-or-later
import uuid

from fastapi import APIRouter, Depends, Request, Response, status

from socialdesk.accounts import invitations
from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.web.api.schemas import InvitationCreate, InvitationCreated, InvitationPublic
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, WorkspaceAccessDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}/invitations", tags=["invitations"])


@router.get("")
def list_invitations(
    session: SessionDep, access: Access = Depends(requires(Permission.MEMBERS_MANAGE))
) -> list[InvitationPublic]:
    pending = invitations.pending_invitations(session, workspace_id=access.workspace.id)
    return [InvitationPublic.of(i) for i in pending]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_invitation(
    body: InvitationCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: WorkspaceAccessDep,
) -> InvitationCreated:
    """Create an invitation link for one e-mail address; send the returned ``url`` to them."""
    invitation, token = invitations.create_invitation(
        session, access=access, actor=principal.actor(request), email=body.email, role=body.role
    )
    url = settings.base_url.rstrip("/") + invitations.invitation_path(token)
    return InvitationCreated(**InvitationPublic.of(invitation).model_dump(), url=url)


@router.delete("/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_invitation(
    invitation_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> Response:
    invitations.revoke_invitation(
        session, access=access, actor=principal.actor(request), invitation_id=invitation_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
