# SPDX-License-Identifier: AGPL-3.0-or-later
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from socialdesk.accounts import audit
from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.web.api.schemas import AuditEventPublic, AuditPage
from socialdesk.web.deps import SessionDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}/audit", tags=["audit"])


@router.get("")
def list_audit_events(
    session: SessionDep,
    access: Access = Depends(requires(Permission.AUDIT_READ)),
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    before_id: Annotated[int | None, Query(ge=1)] = None,
    action: Annotated[
        str | None, Query(max_length=80, description="action prefix, e.g. member.")
    ] = None,
) -> AuditPage:
    """The workspace's audit log, newest first."""
    events = audit.list_events(
        session,
        workspace_id=access.workspace.id,
        limit=limit,
        before_id=before_id,
        action_prefix=action,
    )
    next_before = events[-1].id if len(events) == limit else None
    return AuditPage(events=[AuditEventPublic.of(e) for e in events], next_before_id=next_before)
