# SPDX-License-Identifier: AGPL-3.0-or-later
import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, UploadFile, status

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.errors import ValidationError
from socialdesk.media.library import get_asset, media_check
from socialdesk.publishing import posts
from socialdesk.publishing.channels import get_channel
from socialdesk.publishing.imports import import_posts
from socialdesk.publishing.posts import ChannelContent, MediaRef, PostDraft
from socialdesk.publishing.scheduling import to_utc
from socialdesk.publishing.validation import validate_delivery
from socialdesk.web.api.publishing_schemas import (
    DeliveryPublic,
    ImportResult,
    ImportRow,
    MediaRefBody,
    PostCreate,
    PostPublic,
    Reschedule,
    ValidateBody,
    ValidationResult,
)
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, WorkspaceAccessDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["posts"])
#: Reading posts is for the team; approvers reach what was sent to them via approvals.
ReadAccess = Annotated[Access, Depends(requires(Permission.POSTS_READ))]


def _instant(at: dt.datetime, timezone: str) -> dt.datetime:
    """An instant with an offset as it is; a local time read in ``timezone``."""
    if at.utcoffset() is not None:
        return at.astimezone(dt.UTC)
    return to_utc(at, timezone)


def _refs(items: list[MediaRefBody] | None) -> list[MediaRef] | None:
    if items is None:
        return None
    return [MediaRef(asset_id=i.asset_id, alt_text=i.alt_text) for i in items]


@router.post("/posts", status_code=status.HTTP_201_CREATED)
def create_post(
    body: PostCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: WorkspaceAccessDep,
) -> PostPublic:
    """Create a post for one or more channels: a draft, now, at a time, or next in queue.

    Every channel's copy is checked against its network's rules first; if any would be
    refused, nothing is saved and the answer lists every problem.
    """
    draft = PostDraft(
        text=body.text,
        channels=[
            ChannelContent(
                channel_id=c.channel_id, text=c.text, media=_refs(c.media), options=c.options
            )
            for c in body.channels
        ],
        media=_refs(body.media) or [],
        when=body.when,
        at=_instant(body.at, body.timezone) if body.at else None,
        timezone=body.timezone,
        labels=body.labels,
        options=body.options,
        recurrence=body.recurrence,
    )
    post = posts.create_post(
        session, settings=settings, access=access, actor=principal.actor(request), draft=draft
    )
    session.flush()
    session.refresh(post)
    return PostPublic.of(post)


@router.get("/posts")
def list_posts(
    session: SessionDep,
    access: ReadAccess,
    post_status: Annotated[list[str] | None, Query(alias="status")] = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[PostPublic]:
    found = posts.list_posts(
        session,
        workspace_id=access.workspace.id,
        statuses=post_status or [],
        start=start,
        end=end,
        limit=limit,
    )
    return [PostPublic.of(p) for p in found]


@router.get("/posts/{post_id}")
def get_post(post_id: uuid.UUID, session: SessionDep, _access: ReadAccess) -> PostPublic:
    return PostPublic.of(posts.get_post(session, post_id=post_id))


@router.post("/posts/{post_id}/reschedule")
def reschedule_post(
    post_id: uuid.UUID,
    body: Reschedule,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> PostPublic:
    post = posts.get_post(session, post_id=post_id)
    posts.reschedule_post(
        session,
        access=access,
        actor=principal.actor(request),
        post=post,
        at=_instant(body.at, body.timezone),
        timezone=body.timezone,
    )
    return PostPublic.of(post)


@router.post("/posts/{post_id}/cancel")
def cancel_post(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> PostPublic:
    post = posts.get_post(session, post_id=post_id)
    posts.cancel_post(session, access=access, actor=principal.actor(request), post=post)
    return PostPublic.of(post)


@router.post("/posts/{post_id}/duplicate", status_code=status.HTTP_201_CREATED)
def duplicate_post(
    post_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> PostPublic:
    post = posts.get_post(session, post_id=post_id)
    copy = posts.duplicate_post(session, access=access, actor=principal.actor(request), post=post)
    session.flush()
    session.refresh(copy)
    return PostPublic.of(copy)


@router.post("/deliveries/{delivery_id}/retry")
def retry_delivery(
    delivery_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: WorkspaceAccessDep,
) -> DeliveryPublic:
    """Try one failed channel again; the post's other channels are left alone."""
    delivery = posts.get_delivery(session, delivery_id=delivery_id)
    posts.retry_delivery(session, access=access, actor=principal.actor(request), delivery=delivery)
    return DeliveryPublic.of(delivery)


@router.post("/posts/import")
def import_csv(
    file: UploadFile,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: Access = Depends(requires(Permission.POSTS_PUBLISH)),
) -> ImportResult:
    """Import posts from CSV (channel, text, at, tz): all rows go in, or none.

    On any bad row the answer is 422 with every row's problems and nothing is saved.
    """
    data = file.file.read(10 * 1024 * 1024 + 1)
    if len(data) > 10 * 1024 * 1024:
        raise ValidationError("the CSV file is larger than 10 MB; split it", field="file")
    reports = import_posts(
        session, settings=settings, access=access, actor=principal.actor(request), data=data
    )
    return ImportResult(imported=len(reports), rows=[ImportRow(**r.as_dict()) for r in reports])


@router.post("/posts/validate")
def validate(
    body: ValidateBody, session: SessionDep, settings: SettingsDep, _access: ReadAccess
) -> ValidationResult:
    """Check text and media against a network's rules (the composer's live counter)."""
    extra = get_channel(session, channel_id=body.channel_id).extra if body.channel_id else None
    checks = [
        media_check(settings, get_asset(session, asset_id=m.asset_id), alt_text=m.alt_text)
        for m in body.media
    ]
    report = validate_delivery(
        network=body.network,
        text=body.text,
        media=checks,
        thread=body.thread,
        options=body.options,
        extra=extra,
    )
    return ValidationResult(**report.as_dict())
