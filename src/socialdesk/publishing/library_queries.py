# SPDX-License-Identifier: AGPL-3.0-or-later
"""The content library as people browse it: search, tags, and where each file is used.

Usage ("used in 3 posts") is counted for a whole page of files in the same query that
reads the page: a grouped subquery over ``delivery_media`` joined to the assets, never a
query per file. Tags live in a JSON list on the asset; matching them uses the database's
own JSON functions (SQLite's ``json_each``, PostgreSQL's ``json_array_elements_text``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, distinct, event, exists, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload
from sqlalchemy.sql.selectable import TableValuedAlias

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.accounts.workspaces import Access
from socialdesk.config import Settings
from socialdesk.errors import Conflict, NotFound, ValidationError
from socialdesk.media.library import MAX_ALT_TEXT, asset_path
from socialdesk.media.probe import MediaKind
from socialdesk.media.thumbnails import thumbnail_files
from socialdesk.publishing.posts import require_write
from socialdesk.storage.tables import Delivery, DeliveryMedia, MediaAsset, Post

logger = logging.getLogger(__name__)

MAX_TAGS = 20
MAX_TAG_LENGTH = 40
KINDS = tuple(kind.value for kind in MediaKind)


# -- JSON lists in SQL -------------------------------------------------------------------


def json_elements(session: Session, column: Any) -> TableValuedAlias:
    """The elements of a JSON list column as a table with one ``value`` column."""
    if session.get_bind().dialect.name == "postgresql":
        return func.json_array_elements_text(column).table_valued("value")
    return func.json_each(column).table_valued("value")


def json_list_contains(session: Session, column: Any, value: str) -> ColumnElement[bool]:
    """True where the JSON list in ``column`` holds exactly ``value``."""
    elements = json_elements(session, column)
    return exists(select(1).select_from(elements).where(elements.c.value == value))


def json_list_mentions(session: Session, column: Any, word: str) -> ColumnElement[bool]:
    """True where an element of the JSON list in ``column`` contains ``word`` (any case)."""
    elements = json_elements(session, column)
    return exists(
        select(1)
        .select_from(elements)
        .where(func.lower(elements.c.value).contains(word.lower(), autoescape=True))
    )


def label_counts(
    session: Session,
    *,
    table: Any,
    column: InstrumentedAttribute[list[str]],
    where: Sequence[ColumnElement[bool]],
) -> list[tuple[str, int]]:
    """Every value of a JSON list column with how many rows carry it, most used first."""
    elements = json_elements(session, column)
    count = func.count().label("n")
    rows = session.execute(
        select(elements.c.value, count)
        .select_from(table)
        .join(elements, true())
        .where(*where)
        .group_by(elements.c.value)
        .order_by(count.desc(), elements.c.value)
    )
    return [(str(value), int(n)) for value, n in rows]


# -- tags --------------------------------------------------------------------------------


def clean_tags(raw: str | Sequence[str]) -> list[str]:
    """Tags as typed (``"Summer, product shots"``) as stored: trimmed, lower case, unique."""
    items = raw.split(",") if isinstance(raw, str) else [str(item) for item in raw]
    tags: list[str] = []
    for item in items:
        tag = " ".join(item.split()).lstrip("#").strip().lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(
                f"the tag “{tag[:20]}…” is longer than {MAX_TAG_LENGTH} characters", field="tags"
            )
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags per file", field="tags")
    return tags


# -- browsing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibraryFilter:
    """What the library page asks for; every part is optional."""

    #: Words that must each appear in the file name, the alt text or a tag.
    query: str = ""
    #: image | gif | video
    kind: str | None = None
    tag: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.query.strip() or self.kind or self.tag)


@dataclass(frozen=True, slots=True)
class LibraryItem:
    asset: MediaAsset
    #: How many posts use the file (in any channel's copy).
    uses: int


@dataclass(frozen=True, slots=True)
class LibraryPage:
    items: list[LibraryItem]
    #: How many files match the filter in all.
    total: int


def _usage_counts(workspace_id: uuid.UUID) -> Any:
    return (
        select(
            DeliveryMedia.asset_id.label("asset_id"),
            func.count(distinct(Delivery.post_id)).label("uses"),
        )
        .join(Delivery, Delivery.id == DeliveryMedia.delivery_id)
        .where(DeliveryMedia.workspace_id == workspace_id)
        .group_by(DeliveryMedia.asset_id)
        .subquery("usage")
    )


def _filtered(
    session: Session, query: Select[Any], *, workspace_id: uuid.UUID, filters: LibraryFilter
) -> Select[Any]:
    query = query.where(MediaAsset.workspace_id == workspace_id)
    if filters.kind:
        if filters.kind not in KINDS:
            raise ValidationError(
                f"unknown type {filters.kind!r}; choose one of {', '.join(KINDS)}", field="type"
            )
        query = query.where(MediaAsset.kind == filters.kind)
    if filters.tag:
        query = query.where(json_list_contains(session, MediaAsset.tags, filters.tag.lower()))
    for word in filters.query.split()[:10]:
        query = query.where(
            or_(
                func.lower(MediaAsset.original_filename).contains(word.lower(), autoescape=True),
                func.lower(MediaAsset.alt_text).contains(word.lower(), autoescape=True),
                json_list_mentions(session, MediaAsset.tags, word),
            )
        )
    return query


def search_assets(
    session: Session,
    *,
    workspace_id: uuid.UUID,
    filters: LibraryFilter | None = None,
    limit: int = 48,
    offset: int = 0,
) -> LibraryPage:
    """A page of files, newest first, each with its usage count (two queries in all)."""
    filters = filters or LibraryFilter()
    usage = _usage_counts(workspace_id)
    rows = session.execute(
        _filtered(
            session,
            select(MediaAsset, func.coalesce(usage.c.uses, 0)).outerjoin(
                usage, usage.c.asset_id == MediaAsset.id
            ),
            workspace_id=workspace_id,
            filters=filters,
        )
        .order_by(MediaAsset.created_at.desc(), MediaAsset.id)
        .limit(limit)
        .offset(offset)
    ).all()
    total = session.scalar(
        _filtered(
            session,
            select(func.count()).select_from(MediaAsset),
            workspace_id=workspace_id,
            filters=filters,
        )
    )
    return LibraryPage(
        items=[LibraryItem(asset=asset, uses=int(uses)) for asset, uses in rows],
        total=int(total or 0),
    )


def get_library_asset(
    session: Session, *, workspace_id: uuid.UUID, asset_id: uuid.UUID
) -> MediaAsset:
    asset = session.scalars(
        select(MediaAsset).where(MediaAsset.workspace_id == workspace_id, MediaAsset.id == asset_id)
    ).first()
    if asset is None:
        raise NotFound("no such file in this workspace's library")
    return asset


def usage_of(session: Session, *, workspace_id: uuid.UUID, asset_id: uuid.UUID) -> list[Post]:
    """The posts that use a file, newest first."""
    using = (
        select(Delivery.post_id)
        .join(DeliveryMedia, DeliveryMedia.delivery_id == Delivery.id)
        .where(DeliveryMedia.asset_id == asset_id, Delivery.workspace_id == workspace_id)
    )
    return list(
        session.scalars(
            select(Post)
            .where(Post.workspace_id == workspace_id, Post.id.in_(using))
            .order_by(Post.created_at.desc())
        )
    )


def posts_by_ids(
    session: Session, *, workspace_id: uuid.UUID, post_ids: Sequence[uuid.UUID]
) -> list[Post]:
    """Posts with their deliveries and channels (an import's summary), in three queries."""
    if not post_ids:
        return []
    return list(
        session.scalars(
            select(Post)
            .where(Post.workspace_id == workspace_id, Post.id.in_(list(post_ids)))
            .options(selectinload(Post.deliveries))
        )
    )


def tag_counts(session: Session, *, workspace_id: uuid.UUID) -> list[tuple[str, int]]:
    """Every tag in the library with how many files carry it, most used first."""
    return label_counts(
        session,
        table=MediaAsset,
        column=MediaAsset.tags,
        where=[MediaAsset.workspace_id == workspace_id],
    )


def kind_counts(session: Session, *, workspace_id: uuid.UUID) -> dict[str, int]:
    rows = session.execute(
        select(MediaAsset.kind, func.count())
        .where(MediaAsset.workspace_id == workspace_id)
        .group_by(MediaAsset.kind)
    )
    return {str(kind): int(n) for kind, n in rows}


# -- changes -----------------------------------------------------------------------------


def update_asset(
    session: Session,
    *,
    access: Access,
    actor: Actor,
    asset: MediaAsset,
    alt_text: str | None = None,
    tags: str | Sequence[str] | None = None,
) -> MediaAsset:
    """Change a file's alt text and tags (posts already written keep their own alt text)."""
    require_write(access)
    new_alt = asset.alt_text if alt_text is None else alt_text.strip()
    if len(new_alt) > MAX_ALT_TEXT:
        raise ValidationError(
            f"the alt text is longer than {MAX_ALT_TEXT} characters", field="alt_text"
        )
    new_tags = list(asset.tags or []) if tags is None else clean_tags(tags)
    changed = [
        what
        for what, old, new in (
            ("alt_text", asset.alt_text, new_alt),
            ("tags", list(asset.tags or []), new_tags),
        )
        if old != new
    ]
    if not changed:
        return asset
    asset.alt_text, asset.tags = new_alt, new_tags
    audit.record(
        session,
        actor=actor,
        action="media.update",
        workspace_id=asset.workspace_id,
        target_type="media",
        target_id=asset.id,
        details={"changed": changed, "tags": new_tags},
    )
    return asset


def delete_asset(
    session: Session, *, settings: Settings, access: Access, actor: Actor, asset: MediaAsset
) -> None:
    """Remove a file no post uses; its bytes go once the transaction has committed."""
    require_write(access)
    uses = session.scalar(
        select(func.count(distinct(Delivery.post_id)))
        .select_from(DeliveryMedia)
        .join(Delivery, Delivery.id == DeliveryMedia.delivery_id)
        .where(DeliveryMedia.asset_id == asset.id)
    )
    if uses:
        raise Conflict(
            f"{asset.original_filename or 'this file'} is used in {uses}"
            f" post{'s' if uses != 1 else ''}; it can be deleted once no post uses it"
        )
    audit.record(
        session,
        actor=actor,
        action="media.delete",
        workspace_id=asset.workspace_id,
        target_type="media",
        target_id=asset.id,
        details={"name": asset.original_filename, "type": asset.mime_type},
    )
    _unlink_after_commit(session, [asset_path(settings, asset), *thumbnail_files(settings, asset)])
    session.delete(asset)
    session.flush()


_PENDING_UNLINKS = "socialdesk.unlink_after_commit"


def _unlink_after_commit(session: Session, paths: Sequence[Path]) -> None:
    """Delete ``paths`` when the transaction commits; never when it rolls back."""
    if _PENDING_UNLINKS not in session.info:
        session.info[_PENDING_UNLINKS] = []
        # Listeners stay for the session's life (one request); each pops its own list.
        event.listen(session, "after_commit", _unlink_pending)
        event.listen(session, "after_rollback", _forget_pending)
    session.info[_PENDING_UNLINKS].extend(paths)


def _unlink_pending(session: Session) -> None:
    pending: list[Path] = session.info.get(_PENDING_UNLINKS, [])
    session.info[_PENDING_UNLINKS] = []
    for target in pending:
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not delete media file %s: %s", target, exc)


def _forget_pending(session: Session) -> None:
    session.info[_PENDING_UNLINKS] = []
