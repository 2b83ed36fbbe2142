# SPDX-License-Identifier: AGPL-3.0-or-later
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile, status

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import ValidationError
from socialdesk.media import library
from socialdesk.web.api.publishing_schemas import MediaPublic
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}/media", tags=["media"])

MAX_UPLOAD_BYTES = 1024 * 1024 * 1024


@router.get("")
def list_media(
    session: SessionDep, access: Access = Depends(requires(Permission.POSTS_READ))
) -> list[MediaPublic]:
    return [
        MediaPublic.of(a) for a in library.list_assets(session, workspace_id=access.workspace.id)
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
def upload_media(
    file: UploadFile,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    alt_text: Annotated[str, Form(max_length=5000)] = "",
    access: Access = Depends(requires(Permission.CAMPAIGN_POSTS_WRITE)),
) -> MediaPublic:
    """Add a file to the library. Its type is read from its content, not its name."""
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=settings.media_dir, suffix=".upload") as spool:
        size = 0
        while chunk := file.file.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise ValidationError("the file is larger than 1 GiB", field="file")
            spool.write(chunk)
        spool.flush()
        asset = library.store_file(
            session,
            settings=settings,
            workspace_id=access.workspace.id,
            source=Path(spool.name),
            filename=file.filename or "upload",
            actor=principal.actor(request),
            alt_text=alt_text,
        )
    return MediaPublic.of(asset)
