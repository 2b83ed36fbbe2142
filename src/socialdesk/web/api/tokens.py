# SPDX-License-Identifier: AGPL-3.0-or-later
import uuid

from fastapi import APIRouter, Request, Response, status

from socialdesk.accounts import tokens
from socialdesk.web.api.schemas import TokenCreate, TokenCreated, TokenPublic
from socialdesk.web.deps import PrincipalDep, SessionDep, WorkspaceAccessDep

router = APIRouter(prefix="/workspaces/{workspace_id}/tokens", tags=["tokens"])


@router.get("")
def list_tokens(session: SessionDep, access: WorkspaceAccessDep) -> list[TokenPublic]:
    """Your tokens in this workspace (owners and admins see everyone's)."""
    return [TokenPublic.of(t) for t in tokens.list_tokens(session, access=access)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create_token(
    body: TokenCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> TokenCreated:
    """Create a token that acts as you in this workspace. The secret is shown only here."""
    token, secret = tokens.create_token(
        session,
        access=access,
        actor=principal.actor(request),
        name=body.name,
        expires_at=body.expires_at,
    )
    return TokenCreated(**TokenPublic.of(token).model_dump(), token=secret)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> Response:
    tokens.revoke_token(session, access=access, actor=principal.actor(request), token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
