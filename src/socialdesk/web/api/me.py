# SPDX-License-Identifier: AGPL-3.0-or-later
from fastapi import APIRouter

from socialdesk.accounts.workspaces import workspaces_of
from socialdesk.web.api.schemas import MeResponse, UserPublic, WorkspacePublic
from socialdesk.web.deps import PrincipalDep, SessionDep

router = APIRouter(tags=["me"])


@router.get("/me")
def get_me(principal: PrincipalDep, session: SessionDep) -> MeResponse:
    """Who you are, and the workspaces you can act in with these credentials."""
    if principal.token_access is not None:
        access = principal.token_access
        listed = [WorkspacePublic.of(access.workspace, access.role)]
        token_workspace = access.workspace.id
    else:
        listed = [WorkspacePublic.of(w, r) for w, r in workspaces_of(session, user=principal.user)]
        token_workspace = None
    return MeResponse(
        user=UserPublic.of(principal.user), workspaces=listed, token_workspace_id=token_workspace
    )
