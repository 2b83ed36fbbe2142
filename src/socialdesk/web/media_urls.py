# SPDX-License-Identifier: AGPL-3.0-or-later
"""The public, signed media route that Instagram and Threads download from.

No sign-in: Meta's servers fetch these URLs. A URL works only with a valid signature and
until its expiry (see :mod:`socialdesk.media.public_urls`). A wrong signature and a file
that does not exist look the same (404); a right signature past its expiry is 410 Gone.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException

from socialdesk.media import public_urls
from socialdesk.media.public_urls import Verdict
from socialdesk.web.deps import SettingsDep

router = APIRouter(include_in_schema=False)


@router.api_route(
    public_urls.PREFIX + "/{expires}/{signature}/{path:path}", methods=["GET", "HEAD"]
)
def public_media(expires: str, signature: str, path: str, settings: SettingsDep) -> Response:
    verdict = public_urls.check(settings, relative=path, expires=expires, sig=signature)
    if verdict is Verdict.EXPIRED:
        raise HTTPException(410, "this media link has expired")
    target = public_urls.file_for(settings, path) if verdict is Verdict.VALID else None
    if target is None:
        raise HTTPException(404)
    remaining = max(0, int(expires) - int(time.time()))
    return FileResponse(
        target,
        # Shared caches must not keep it past the expiry; Meta fetches it once.
        headers={"Cache-Control": f"private, max-age={remaining}"},
    )
