# SPDX-License-Identifier: AGPL-3.0-or-later
"""The REST API under /api/v1. One module per resource; routes stay thin."""

from fastapi import APIRouter

from socialdesk.web.api import (
    approvals,
    audit,
    channels,
    inbox,
    invitations,
    library,
    me,
    media,
    members,
    notifications,
    oauth,
    posts,
    tokens,
    webhooks,
    workspaces,
)
from socialdesk.web.api.schemas import ErrorResponse

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in [
        (401, "Not signed in, or the token is not valid"),
        (403, "The role does not allow it"),
        (404, "No such thing in this workspace"),
        (422, "Bad input; nothing was changed"),
    ]
}

router = APIRouter(prefix="/api/v1", responses=_ERRORS)
for module in (me, workspaces, members, invitations, tokens, audit, channels, media, posts):
    router.include_router(module.router)
router.include_router(oauth.router)
router.include_router(approvals.router)
router.include_router(notifications.router)
router.include_router(library.router)
router.include_router(inbox.router)
router.include_router(webhooks.router)

__all__ = ["router"]
