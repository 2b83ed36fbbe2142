# SPDX-License-Identifier: AGPL-3.0-or-later
"""The audit log of a workspace, newest first, filtered by kind of action."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from socialdesk.accounts import audit
from socialdesk.accounts.roles import Permission
from socialdesk.web.deps import SessionDep
from socialdesk.web.ui.common import WorkspaceView, page, workspace_view

router = APIRouter()

AuditView = Annotated[WorkspaceView, Depends(workspace_view(Permission.AUDIT_READ))]
PAGE_SIZE = 50

#: The filter's choices: action prefix and how people call that kind of change.
ACTION_FILTERS: tuple[tuple[str, str], ...] = (
    ("", "All changes"),
    ("member.", "Members"),
    ("invitation.", "Invitations"),
    ("token.", "API tokens"),
    ("workspace.", "Workspace"),
)


@router.get("/w/{workspace_id}/audit")
def audit_page(
    request: Request,
    view: AuditView,
    session: SessionDep,
    action: Annotated[str, Query(max_length=80)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    action = action.strip()
    # One more than a page tells whether there is an older page.
    events = audit.list_events(
        session,
        workspace_id=view.workspace.id,
        limit=PAGE_SIZE + 1,
        before_id=before,
        action_prefix=action or None,
    )
    older = events[PAGE_SIZE - 1].id if len(events) > PAGE_SIZE else None
    filters = list(ACTION_FILTERS)
    if action and action not in dict(filters):
        filters.append((action, action))
    return page(
        request,
        "audit.html",
        shell=view.shell,
        view=view,
        events=events[:PAGE_SIZE],
        action=action,
        filters=filters,
        older=older,
        paged=before is not None,
        viewer_timezone=view.access.user.timezone,
    )
