# SPDX-License-Identifier: AGPL-3.0-or-later
"""The content library: media (search, tags, usage, upload, edit, delete), templates with
{variables}, and hashtag groups.

Files are served to members only, from ``/w/{ws}/library/media/{id}/file`` (the original)
and ``…/thumb`` (a small WebP for the grid). Both are immutable for a given asset id (the
file is stored by content hash), so browsers may keep them; ``private`` keeps shared
caches out. Uploads come one file per request from ``static/js/library.js`` (a progress
bar each) or all at once from the plain form when JavaScript is off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.orm import Session

from socialdesk.accounts.roles import Permission
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.exports import csv_text
from socialdesk.media import library, thumbnails
from socialdesk.media.probe import MediaKind
from socialdesk.publishing import library_queries as lq
from socialdesk.publishing import templates
from socialdesk.publishing.calendar import POST_STATUSES, post_title
from socialdesk.publishing.library_queries import LibraryFilter
from socialdesk.storage.tables import MediaAsset
from socialdesk.storage.types import utcnow
from socialdesk.web.deps import SessionDep, SettingsDep
from socialdesk.web.templating import render
from socialdesk.web.ui.calendar import csv_response, file_slug, post_path, wants_json
from socialdesk.web.ui.common import (
    WorkspaceView,
    all_or_nothing,
    field_errors,
    flash,
    page,
    redirect,
    workspace_view,
)

router = APIRouter()

ReadView = Annotated[WorkspaceView, Depends(workspace_view(Permission.POSTS_READ))]
WriteView = Annotated[WorkspaceView, Depends(workspace_view(Permission.CAMPAIGN_POSTS_WRITE))]

PAGE_SIZE = 48
EXPORT_LIMIT = 10_000
#: The file never changes for an id (stored by hash): a year, in this browser only.
FILE_CACHE = "private, max-age=31536000, immutable"
KIND_LABELS = {MediaKind.IMAGE: "Images", MediaKind.GIF: "GIFs", MediaKind.VIDEO: "Videos"}


# -- how files are shown -----------------------------------------------------------------


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def file_url(workspace_id: uuid.UUID, asset_id: uuid.UUID, what: str = "file") -> str:
    return f"/w/{workspace_id}/library/media/{asset_id}/{what}"


def compose_with_media(workspace_id: uuid.UUID, asset_id: uuid.UUID) -> str:
    return f"/w/{workspace_id}/compose?{urlencode({'media': str(asset_id)})}"


@dataclass(frozen=True, slots=True)
class AssetCard:
    """One file as the grid and its page show it."""

    asset: MediaAsset
    uses: int
    href: str
    thumb_url: str | None
    file_url: str
    reuse_url: str
    kind_label: str
    dimensions: str
    size: str
    duration: str

    @property
    def name(self) -> str:
        return self.asset.original_filename or f"media {self.asset.id}"

    @property
    def usage(self) -> str:
        if not self.uses:
            return "Not used yet"
        return f"Used in {self.uses} post{'s' if self.uses != 1 else ''}"


def asset_card(workspace_id: uuid.UUID, asset: MediaAsset, uses: int) -> AssetCard:
    kind = MediaKind(asset.kind)
    return AssetCard(
        asset=asset,
        uses=uses,
        href=f"/w/{workspace_id}/library/media/{asset.id}",
        thumb_url=file_url(workspace_id, asset.id, "thumb")
        if thumbnails.has_thumbnail(asset)
        else None,
        file_url=file_url(workspace_id, asset.id),
        reuse_url=compose_with_media(workspace_id, asset.id),
        kind_label={"image": "Image", "gif": "GIF", "video": "Video"}[kind.value],
        dimensions=f"{asset.width} \N{MULTIPLICATION SIGN} {asset.height}"
        if asset.width and asset.height
        else "",
        size=human_size(asset.size_bytes),
        duration=human_duration(asset.duration_seconds),
    )


def _filters(q: str, type_: str, tag: str) -> LibraryFilter:
    return LibraryFilter(query=q.strip()[:200], kind=type_ or None, tag=tag.strip() or None)


def _query_string(filters: LibraryFilter, **extra: object) -> str:
    params: dict[str, object] = {
        "q": filters.query,
        "type": filters.kind or "",
        "tag": filters.tag or "",
        **extra,
    }
    kept = {k: v for k, v in params.items() if v not in ("", None, 1)}
    return "?" + urlencode(kept) if kept else ""


def _get_asset(session: Session, view: WorkspaceView, asset_id: uuid.UUID) -> MediaAsset:
    return lq.get_library_asset(session, workspace_id=view.workspace.id, asset_id=asset_id)


# -- the media grid ----------------------------------------------------------------------


@router.get("/w/{workspace_id}/library")
def library_page(
    request: Request,
    view: ReadView,
    session: SessionDep,
    q: str = "",
    type_: Annotated[str, Query(alias="type")] = "",
    tag: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    workspace_id = view.workspace.id
    filters = _filters(q, type_, tag)
    found = lq.search_assets(
        session,
        workspace_id=workspace_id,
        filters=filters,
        limit=PAGE_SIZE,
        offset=(page_number - 1) * PAGE_SIZE,
    )
    kinds = lq.kind_counts(session, workspace_id=workspace_id)
    last_page = max(1, -(-found.total // PAGE_SIZE))
    return page(
        request,
        "library.html",
        shell=view.shell,
        view=view,
        section="media",
        cards=[asset_card(workspace_id, item.asset, item.uses) for item in found.items],
        total=found.total,
        library_size=sum(kinds.values()),
        filters=filters,
        kinds=[
            (kind.value, label, kinds.get(kind.value, 0)) for kind, label in KIND_LABELS.items()
        ],
        tags=lq.tag_counts(session, workspace_id=workspace_id)[:24],
        page_number=page_number,
        first_shown=(page_number - 1) * PAGE_SIZE + 1,
        last_shown=(page_number - 1) * PAGE_SIZE + len(found.items),
        previous_url=(_query_string(filters, page=page_number - 1) or "?")
        if page_number > 1
        else None,
        next_url=_query_string(filters, page=page_number + 1) if page_number < last_page else None,
        export_url=f"/w/{workspace_id}/library/export.csv{_query_string(filters)}",
        query_for=lambda **changes: (
            _query_string(
                LibraryFilter(
                    query=str(changes.get("q", filters.query)),
                    kind=str(changes.get("type", filters.kind or "")) or None,
                    tag=str(changes.get("tag", filters.tag or "")) or None,
                )
            )
            or "?"
        ),
        can_write=view.can(Permission.CAMPAIGN_POSTS_WRITE),
        max_upload_mb=library.MAX_UPLOAD_BYTES // 1024 // 1024,
    )


@router.get("/w/{workspace_id}/library/export.csv")
def export_library(
    view: ReadView,
    session: SessionDep,
    q: str = "",
    type_: Annotated[str, Query(alias="type")] = "",
    tag: str = "",
) -> Response:
    found = lq.search_assets(
        session,
        workspace_id=view.workspace.id,
        filters=_filters(q, type_, tag),
        limit=EXPORT_LIMIT,
    )
    header = [
        "id",
        "file name",
        "type",
        "mime type",
        "width",
        "height",
        "duration seconds",
        "bytes",
        "alt text",
        "tags",
        "used in posts",
        "uploaded (UTC)",
    ]
    rows = (
        (
            a.id,
            a.original_filename,
            a.kind,
            a.mime_type,
            a.width or "",
            a.height or "",
            "" if a.duration_seconds is None else f"{a.duration_seconds:.3f}",
            a.size_bytes,
            a.alt_text,
            "|".join(a.tags or []),
            item.uses,
            a.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for item in found.items
        for a in (item.asset,)
    )
    today = utcnow().date().isoformat()
    return csv_response(
        csv_text(header, rows), f"socialdesk-{file_slug(view.workspace.name)}-library-{today}.csv"
    )


@router.post("/w/{workspace_id}/library/upload")
def upload(
    request: Request,
    view: WriteView,
    session: SessionDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], Form()],
) -> Response:
    """Add files; each goes in on its own, so one bad file does not hold back the others."""
    actor = view.principal.actor(request)
    added: list[dict[str, Any]] = []
    refused: list[str] = []
    for file in files:
        if not file.filename:
            continue  # the form was sent without a file chosen
        name = file.filename
        try:
            with all_or_nothing(session):
                asset, new = library.store_upload(
                    session,
                    settings=settings,
                    workspace_id=view.workspace.id,
                    stream=file.file,
                    filename=name,
                    actor=actor,
                )
        except ValidationError as exc:
            if wants_json(request) and len(files) == 1:
                raise
            refused.append(exc.message)
            continue
        card = asset_card(view.workspace.id, asset, 0)
        added.append({"asset": asset, "new": new, "card": card})
    if wants_json(request):
        return JSONResponse(
            {
                "items": [
                    {
                        "id": str(item["asset"].id),
                        "name": item["card"].name,
                        "new": item["new"],
                        "href": item["card"].href,
                        "html": bytes(
                            render(
                                request,
                                "library_card.html",
                                {"card": item["card"], "view": view, "can_write": True},
                            ).body
                        ).decode(),
                    }
                    for item in added
                ],
                "refused": refused,
            }
        )
    new_count = sum(1 for item in added if item["new"])
    if new_count:
        flash(request, f"Added {new_count} file{'s' if new_count != 1 else ''} to the library.")
    if len(added) > new_count:
        flash(request, f"{len(added) - new_count} already in the library (kept once).", "info")
    for message in refused:
        flash(request, message, "error")
    if not files or not (added or refused):
        flash(request, "Choose one or more files to upload.", "error")
    return redirect(f"/w/{view.workspace.id}/library")


# -- one file ----------------------------------------------------------------------------


def _asset_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    asset: MediaAsset,
    *,
    status_code: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    workspace_id = view.workspace.id
    used_by = lq.usage_of(session, workspace_id=workspace_id, asset_id=asset.id)
    return page(
        request,
        "library_asset.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        card=asset_card(workspace_id, asset, len(used_by)),
        used_by=[
            {
                "title": post_title(post.text),
                "status": POST_STATUSES.get(post.status, post.status),
                "status_key": post.status,
                "when": post.scheduled_at or post.created_at,
                "href": post_path(workspace_id, post.id),
            }
            for post in used_by
        ],
        values=values or {"alt_text": asset.alt_text, "tags": ", ".join(asset.tags or [])},
        errors=errors or {},
        can_write=view.can(Permission.CAMPAIGN_POSTS_WRITE),
        max_alt=library.MAX_ALT_TEXT,
    )


@router.get("/w/{workspace_id}/library/media/{asset_id}")
def asset_page(
    request: Request, asset_id: uuid.UUID, view: ReadView, session: SessionDep
) -> Response:
    return _asset_page(request, session, view, _get_asset(session, view, asset_id))


@router.post("/w/{workspace_id}/library/media/{asset_id}")
def update_asset(
    request: Request,
    asset_id: uuid.UUID,
    view: WriteView,
    session: SessionDep,
    alt_text: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> Response:
    asset = _get_asset(session, view, asset_id)
    try:
        with all_or_nothing(session):
            lq.update_asset(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                asset=asset,
                alt_text=alt_text,
                tags=tags,
            )
    except ValidationError as exc:
        session.refresh(asset)
        return _asset_page(
            request,
            session,
            view,
            asset,
            status_code=422,
            values={"alt_text": alt_text, "tags": tags},
            errors=field_errors(exc),
        )
    flash(request, "Saved the alt text and tags.")
    return redirect(f"/w/{view.workspace.id}/library/media/{asset.id}")


@router.post("/w/{workspace_id}/library/media/{asset_id}/delete")
def delete_asset(
    request: Request,
    asset_id: uuid.UUID,
    view: WriteView,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    asset = _get_asset(session, view, asset_id)
    name = asset.original_filename or "The file"
    try:
        lq.delete_asset(
            session,
            settings=settings,
            access=view.access,
            actor=view.principal.actor(request),
            asset=asset,
        )
    except Conflict as exc:
        flash(request, exc.message, "error")
        return redirect(f"/w/{view.workspace.id}/library/media/{asset.id}")
    flash(request, f"{name} was deleted from the library.")
    return redirect(f"/w/{view.workspace.id}/library")


@router.get("/w/{workspace_id}/library/media/{asset_id}/file")
def asset_file(
    asset_id: uuid.UUID, view: ReadView, session: SessionDep, settings: SettingsDep
) -> Response:
    asset = _get_asset(session, view, asset_id)
    path = library.asset_path(settings, asset)
    if not path.is_file():
        raise NotFound("the file is missing from the media directory")
    return FileResponse(
        path,
        media_type=asset.mime_type,
        content_disposition_type="inline",
        filename=asset.original_filename or path.name,
        headers={"Cache-Control": FILE_CACHE, "ETag": f'"{asset.sha256}"'},
    )


@router.get("/w/{workspace_id}/library/media/{asset_id}/thumb")
def asset_thumbnail(
    asset_id: uuid.UUID, view: ReadView, session: SessionDep, settings: SettingsDep
) -> Response:
    asset = _get_asset(session, view, asset_id)
    if not thumbnails.has_thumbnail(asset):
        raise NotFound("videos have no thumbnail")
    source = library.asset_path(settings, asset)
    if not source.is_file():
        raise NotFound("the file is missing from the media directory")
    return FileResponse(
        thumbnails.thumbnail(settings, asset, source),
        media_type=thumbnails.MIME_TYPE,
        headers={"Cache-Control": FILE_CACHE, "ETag": f'"{asset.sha256}-thumb"'},
    )


# -- templates and hashtag groups ---------------------------------------------------------


def _templates_page(
    request: Request,
    session: Session,
    view: WorkspaceView,
    *,
    status_code: int = 200,
    form: str | None = None,
    form_id: uuid.UUID | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    samples: dict[str, str] | None = None,
) -> Response:
    workspace_id = view.workspace.id
    items = templates.list_templates(session, workspace_id=workspace_id)
    preview = None
    if form == "template" and values is not None:
        preview = _safe_preview(values.get("text", ""), samples or {})
    return page(
        request,
        "library_templates.html",
        shell=view.shell,
        status_code=status_code,
        view=view,
        section="templates",
        templates=[(t, *_shown(t.text)) for t in items],
        preview_of=_safe_preview,
        groups=templates.list_hashtag_groups(session, workspace_id=workspace_id),
        can_write=view.can(Permission.CAMPAIGN_POSTS_WRITE),
        form=form,
        form_id=form_id,
        values=values or {},
        errors=errors or {},
        samples=samples or {},
        preview=preview,
        max_hashtags=templates.MAX_HASHTAGS,
    )


def _shown(text: str) -> tuple[list[str], list[tuple[bool, str]]]:
    """A saved template's variables, and its text as (is_variable, piece) for highlighting."""
    try:
        parts = templates.parse(text)
    except ValidationError:  # saved before a rule changed: show it as it is
        return [], [(False, text)]
    pieces = [(False, p) if isinstance(p, str) else (True, p.name) for p in parts]
    return list(dict.fromkeys(name for is_var, name in pieces if is_var)), pieces


def _safe_preview(text: str, samples: dict[str, str]) -> templates.Preview | None:
    try:
        return templates.preview(text, samples)
    except ValidationError:
        return None


def _samples(form: dict[str, str]) -> dict[str, str]:
    return {
        key.removeprefix("sample."): value
        for key, value in form.items()
        if key.startswith("sample.")
    }


async def _text_fields(request: Request) -> dict[str, str]:
    """The form's text fields (``sample.<variable>`` fields have names only known here)."""
    return {k: v for k, v in (await request.form()).multi_items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(_text_fields)]


@router.get("/w/{workspace_id}/library/templates")
def templates_page(request: Request, view: ReadView, session: SessionDep) -> Response:
    return _templates_page(request, session, view)


@router.post("/w/{workspace_id}/library/templates/preview")
def template_preview(view: ReadView, form: FormDep) -> Response:
    """The editor's live preview: the variables and the text with the sample values."""
    del view  # only members may ask
    text = form.get("text", "")
    try:
        result = templates.preview(text, _samples(form))
    except ValidationError as exc:
        return JSONResponse({"variables": [], "text": None, "missing": [], "error": exc.message})
    return JSONResponse(
        {
            "variables": result.variables,
            "text": result.text,
            "missing": result.missing,
            "error": None,
        }
    )


@router.post("/w/{workspace_id}/library/templates")
def create_template(
    request: Request, view: WriteView, session: SessionDep, form: FormDep
) -> Response:
    values = {"name": form.get("name", ""), "text": form.get("text", "")}
    samples = _samples(form)
    if form.get("action") == "preview":
        return _templates_page(
            request, session, view, form="template", values=values, samples=samples
        )
    try:
        with all_or_nothing(session):
            template = templates.create_template(
                session, access=view.access, actor=view.principal.actor(request), **values
            )
    except ValidationError as exc:
        return _templates_page(
            request,
            session,
            view,
            status_code=422,
            form="template",
            values=values,
            samples=samples,
            errors=field_errors(exc),
        )
    flash(request, f"Saved the template “{template.name}”.")
    return redirect(f"/w/{view.workspace.id}/library/templates#template-{template.id}")


@router.post("/w/{workspace_id}/library/templates/{template_id}")
def update_template(
    request: Request, template_id: uuid.UUID, view: WriteView, session: SessionDep, form: FormDep
) -> Response:
    template = templates.get_template(
        session, workspace_id=view.workspace.id, template_id=template_id
    )
    values = {"name": form.get("name", ""), "text": form.get("text", "")}
    try:
        with all_or_nothing(session):
            templates.update_template(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                template=template,
                **values,
            )
    except ValidationError as exc:
        session.refresh(template)
        return _templates_page(
            request,
            session,
            view,
            status_code=422,
            form="template-edit",
            form_id=template.id,
            values=values,
            samples=_samples(form),
            errors=field_errors(exc),
        )
    flash(request, f"Saved the template “{template.name}”.")
    return redirect(f"/w/{view.workspace.id}/library/templates#template-{template.id}")


@router.post("/w/{workspace_id}/library/templates/{template_id}/delete")
def delete_template(
    request: Request, template_id: uuid.UUID, view: WriteView, session: SessionDep
) -> Response:
    template = templates.get_template(
        session, workspace_id=view.workspace.id, template_id=template_id
    )
    templates.delete_template(
        session, access=view.access, actor=view.principal.actor(request), template=template
    )
    flash(request, f"Deleted the template “{template.name}”.")
    return redirect(f"/w/{view.workspace.id}/library/templates")


@router.post("/w/{workspace_id}/library/hashtags")
def create_hashtag_group(
    request: Request,
    view: WriteView,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    hashtags: Annotated[str, Form()] = "",
) -> Response:
    try:
        with all_or_nothing(session):
            group = templates.create_hashtag_group(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                name=name,
                hashtags=hashtags,
            )
    except ValidationError as exc:
        return _templates_page(
            request,
            session,
            view,
            status_code=422,
            form="hashtags",
            values={"name": name, "hashtags": hashtags},
            errors=field_errors(exc),
        )
    flash(request, f"Saved the hashtag group “{group.name}” ({len(group.hashtags)} hashtags).")
    return redirect(f"/w/{view.workspace.id}/library/templates#group-{group.id}")


@router.post("/w/{workspace_id}/library/hashtags/{group_id}")
def update_hashtag_group(
    request: Request,
    group_id: uuid.UUID,
    view: WriteView,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    hashtags: Annotated[str, Form()] = "",
) -> Response:
    group = templates.get_hashtag_group(session, workspace_id=view.workspace.id, group_id=group_id)
    try:
        with all_or_nothing(session):
            templates.update_hashtag_group(
                session,
                access=view.access,
                actor=view.principal.actor(request),
                group=group,
                name=name,
                hashtags=hashtags,
            )
    except ValidationError as exc:
        session.refresh(group)
        return _templates_page(
            request,
            session,
            view,
            status_code=422,
            form="hashtags-edit",
            form_id=group.id,
            values={"name": name, "hashtags": hashtags},
            errors=field_errors(exc),
        )
    flash(request, f"Saved the hashtag group “{group.name}”.")
    return redirect(f"/w/{view.workspace.id}/library/templates#group-{group.id}")


@router.post("/w/{workspace_id}/library/hashtags/{group_id}/delete")
def delete_hashtag_group(
    request: Request, group_id: uuid.UUID, view: WriteView, session: SessionDep
) -> Response:
    group = templates.get_hashtag_group(session, workspace_id=view.workspace.id, group_id=group_id)
    templates.delete_hashtag_group(
        session, access=view.access, actor=view.principal.actor(request), group=group
    )
    flash(request, f"Deleted the hashtag group “{group.name}”.")
    return redirect(f"/w/{view.workspace.id}/library/templates")
