# SPDX-License-Identifier: AGPL-3.0-or-later
"""The server-rendered UI: one module per area, all under one router.

Every unsafe request to a UI route must carry the session's CSRF token (the router's
dependency checks it, signed in or not: the sign-in and sign-up forms included).
"""

from fastapi import APIRouter, Depends

from socialdesk.web.security import check_csrf
from socialdesk.web.ui import (
    account,
    audit,
    auth,
    invitations,
    members,
    settings,
    setup,
    tokens,
    workspaces,
)

router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
for module in (auth, setup, workspaces, members, invitations, tokens, audit, settings, account):
    router.include_router(module.router)

__all__ = ["router"]
