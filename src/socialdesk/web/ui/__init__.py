# SPDX-License-Identifier: AGPL-3.0-or-later
"""The server-rendered UI: one module per area, all under one router.

Every unsafe request to a UI route must carry the session's CSRF token (the router's
dependency checks it, signed in or not: the sign-in and sign-up forms included).
"""

from fastapi import APIRouter, Depends

from socialdesk.web import media_urls
from socialdesk.web.security import check_csrf
from socialdesk.web.ui import (
    account,
    approvals,
    audit,
    auth,
    calendar,
    channels,
    composer,
    failures,
    ideas,
    imports,
    inbox,
    invitations,
    library,
    members,
    queue,
    settings,
    setup,
    tokens,
    workspaces,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
for module in (
    auth,
    setup,
    workspaces,
    channels,
    composer,
    calendar,
    queue,
    approvals,
    inbox,
    failures,
    library,
    ideas,
    imports,
    members,
    invitations,
    tokens,
    audit,
    settings,
    account,
):
    router.include_router(module.router)
# Public: Instagram and Threads download media from these signed URLs (no sign-in).
router.include_router(media_urls.router)

__all__ = ["router"]
