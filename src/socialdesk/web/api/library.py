# SPDX-License-Identifier: AGPL-3.0-or-later
"""The content library over REST: media search, tags and usage; content templates with
{variables} (and rendering them); hashtag groups. Permissions are checked in the domain."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.accounts.workspaces import Access
from socialdesk.media import library
from socialdesk.publishing import library_queries as lq
from socialdesk.publishing import templates
from socialdesk.publishing.library_queries import LibraryFilter
from socialdesk.storage.tables import ContentTemplate, HashtagGroup, MediaAsset
from socialdesk.web.api.publishing_schemas import MediaPublic
from socialdesk.web.deps import PrincipalDep, SessionDep, SettingsDep, requires

router = APIRouter(prefix="/workspaces/{workspace_id}", tags=["library"])

ReaderDep = Annotated[Access, Depends(requires(Permission.POSTS_READ))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- media -------------------------------------------------------------------------------


class LibraryMedia(MediaPublic):
    tags: list[str]
    #: How many posts use the file.
    uses: int

    @classmethod
    def with_usage(cls, asset: MediaAsset, uses: int) -> LibraryMedia:
        return cls(**MediaPublic.of(asset).model_dump(), tags=list(asset.tags or []), uses=uses)


class LibraryMediaPage(BaseModel):
    items: list[LibraryMedia]
    total: int


class MediaUpdate(_Body):
    alt_text: Annotated[str | None, Field(max_length=library.MAX_ALT_TEXT)] = None
    tags: Annotated[list[str] | None, Field(max_length=lq.MAX_TAGS)] = None


class TagCount(BaseModel):
    tag: str
    count: int


@router.get("/library/media")
def search_media(
    session: SessionDep,
    access: ReaderDep,
    q: Annotated[
        str, Query(max_length=200, description="Words in the name, alt text or tags")
    ] = "",
    type_: Annotated[str | None, Query(alias="type", description="image, gif or video")] = None,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LibraryMediaPage:
    """Files, newest first, each with its tags and how many posts use it."""
    found = lq.search_assets(
        session,
        workspace_id=access.workspace.id,
        filters=LibraryFilter(query=q, kind=type_, tag=tag),
        limit=limit,
        offset=offset,
    )
    return LibraryMediaPage(
        items=[LibraryMedia.with_usage(i.asset, i.uses) for i in found.items], total=found.total
    )


@router.get("/library/tags")
def list_tags(session: SessionDep, access: ReaderDep) -> list[TagCount]:
    return [
        TagCount(tag=tag, count=count)
        for tag, count in lq.tag_counts(session, workspace_id=access.workspace.id)
    ]


def _asset(session: Session, access: Access, asset_id: uuid.UUID) -> MediaAsset:
    return lq.get_library_asset(session, workspace_id=access.workspace.id, asset_id=asset_id)


@router.patch("/library/media/{asset_id}")
def update_media(
    asset_id: uuid.UUID,
    body: MediaUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> LibraryMedia:
    """Change a file's alt text and tags (posts already written keep their own alt text)."""
    asset = _asset(session, access, asset_id)
    lq.update_asset(
        session,
        access=access,
        actor=principal.actor(request),
        asset=asset,
        alt_text=body.alt_text,
        tags=body.tags,
    )
    uses = len(lq.usage_of(session, workspace_id=access.workspace.id, asset_id=asset.id))
    return LibraryMedia.with_usage(asset, uses)


@router.delete(
    "/library/media/{asset_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={409: {"description": "A post uses the file"}},
)
def delete_media(
    asset_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    access: ReaderDep,
) -> Response:
    """Delete a file no post uses (409 while one does)."""
    lq.delete_asset(
        session,
        settings=settings,
        access=access,
        actor=principal.actor(request),
        asset=_asset(session, access, asset_id),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- templates ---------------------------------------------------------------------------


class TemplatePublic(BaseModel):
    id: uuid.UUID
    name: str
    text: str
    variables: list[str]
    created_at: dt.datetime

    @classmethod
    def of(cls, template: ContentTemplate) -> TemplatePublic:
        return cls(
            id=template.id,
            name=template.name,
            text=template.text,
            variables=templates.variables_of(template.text),
            created_at=template.created_at,
        )


class TemplateCreate(_Body):
    name: Annotated[str, Field(max_length=templates.MAX_NAME * 2)]
    #: Post text with {variables}; {{ and }} for literal braces.
    text: Annotated[str, Field(max_length=templates.MAX_TEMPLATE_TEXT * 2)]


class TemplateUpdate(_Body):
    name: Annotated[str | None, Field(max_length=templates.MAX_NAME * 2)] = None
    text: Annotated[str | None, Field(max_length=templates.MAX_TEMPLATE_TEXT * 2)] = None


class RenderBody(_Body):
    values: dict[str, str] = Field(default_factory=dict)


class PreviewBody(_Body):
    text: Annotated[str, Field(max_length=templates.MAX_TEMPLATE_TEXT * 2)]
    values: dict[str, str] = Field(default_factory=dict)


class Rendered(BaseModel):
    text: str


class PreviewResult(BaseModel):
    variables: list[str]
    #: None while a variable has no value.
    text: str | None
    missing: list[str]


@router.get("/templates")
def list_templates(session: SessionDep, access: ReaderDep) -> list[TemplatePublic]:
    return [
        TemplatePublic.of(t)
        for t in templates.list_templates(session, workspace_id=access.workspace.id)
    ]


@router.post("/templates", status_code=status.HTTP_201_CREATED)
def create_template(
    body: TemplateCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> TemplatePublic:
    template = templates.create_template(
        session, access=access, actor=principal.actor(request), name=body.name, text=body.text
    )
    return TemplatePublic.of(template)


@router.post("/templates/preview")
def preview_template(body: PreviewBody, access: ReaderDep) -> PreviewResult:
    """Render unsaved text with sample values (422 if its braces are wrong)."""
    del access
    result = templates.preview(body.text, body.values)
    return PreviewResult(variables=result.variables, text=result.text, missing=result.missing)


@router.get("/templates/{template_id}")
def get_template(template_id: uuid.UUID, session: SessionDep, access: ReaderDep) -> TemplatePublic:
    return TemplatePublic.of(
        templates.get_template(session, workspace_id=access.workspace.id, template_id=template_id)
    )


@router.patch("/templates/{template_id}")
def update_template(
    template_id: uuid.UUID,
    body: TemplateUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> TemplatePublic:
    template = templates.get_template(
        session, workspace_id=access.workspace.id, template_id=template_id
    )
    templates.update_template(
        session,
        access=access,
        actor=principal.actor(request),
        template=template,
        name=body.name,
        text=body.text,
    )
    return TemplatePublic.of(template)


@router.delete("/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(
    template_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> Response:
    template = templates.get_template(
        session, workspace_id=access.workspace.id, template_id=template_id
    )
    templates.delete_template(
        session, access=access, actor=principal.actor(request), template=template
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/templates/{template_id}/render")
def render_template(
    template_id: uuid.UUID, body: RenderBody, session: SessionDep, access: ReaderDep
) -> Rendered:
    """The template's text with every variable filled in (422 names what is missing)."""
    template = templates.get_template(
        session, workspace_id=access.workspace.id, template_id=template_id
    )
    return Rendered(text=templates.render(template.text, body.values))


# -- hashtag groups ----------------------------------------------------------------------


class HashtagGroupPublic(BaseModel):
    id: uuid.UUID
    name: str
    hashtags: list[str]
    created_at: dt.datetime

    @classmethod
    def of(cls, group: HashtagGroup) -> HashtagGroupPublic:
        return cls(
            id=group.id, name=group.name, hashtags=list(group.hashtags), created_at=group.created_at
        )


class HashtagGroupCreate(_Body):
    name: Annotated[str, Field(max_length=templates.MAX_NAME * 2)]
    hashtags: Annotated[list[str], Field(max_length=templates.MAX_HASHTAGS * 2)]


class HashtagGroupUpdate(_Body):
    name: Annotated[str | None, Field(max_length=templates.MAX_NAME * 2)] = None
    hashtags: Annotated[list[str] | None, Field(max_length=templates.MAX_HASHTAGS * 2)] = None


@router.get("/hashtag-groups")
def list_hashtag_groups(session: SessionDep, access: ReaderDep) -> list[HashtagGroupPublic]:
    return [
        HashtagGroupPublic.of(g)
        for g in templates.list_hashtag_groups(session, workspace_id=access.workspace.id)
    ]


@router.post("/hashtag-groups", status_code=status.HTTP_201_CREATED)
def create_hashtag_group(
    body: HashtagGroupCreate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> HashtagGroupPublic:
    group = templates.create_hashtag_group(
        session,
        access=access,
        actor=principal.actor(request),
        name=body.name,
        hashtags=body.hashtags,
    )
    return HashtagGroupPublic.of(group)


@router.get("/hashtag-groups/{group_id}")
def get_hashtag_group(
    group_id: uuid.UUID, session: SessionDep, access: ReaderDep
) -> HashtagGroupPublic:
    return HashtagGroupPublic.of(
        templates.get_hashtag_group(session, workspace_id=access.workspace.id, group_id=group_id)
    )


@router.patch("/hashtag-groups/{group_id}")
def update_hashtag_group(
    group_id: uuid.UUID,
    body: HashtagGroupUpdate,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> HashtagGroupPublic:
    group = templates.get_hashtag_group(
        session, workspace_id=access.workspace.id, group_id=group_id
    )
    templates.update_hashtag_group(
        session,
        access=access,
        actor=principal.actor(request),
        group=group,
        name=body.name,
        hashtags=body.hashtags,
    )
    return HashtagGroupPublic.of(group)


@router.delete("/hashtag-groups/{group_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_hashtag_group(
    group_id: uuid.UUID,
    request: Request,
    principal: PrincipalDep,
    session: SessionDep,
    access: ReaderDep,
) -> Response:
    group = templates.get_hashtag_group(
        session, workspace_id=access.workspace.id, group_id=group_id
    )
    templates.delete_hashtag_group(
        session, access=access, actor=principal.actor(request), group=group
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
