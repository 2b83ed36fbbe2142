# SPDX-License-Identifier: AGPL-3.0-or-later
"""The content library: media files stored once per workspace, by content hash.

Files live under ``<data_dir>/media/<workspace>/<hash[:2]>/<hash>.<ext>``; the database row
keeps what was read from the file (type, size, dimensions, duration), so checking a post
against a network's rules never re-reads the file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts.audit import Actor
from socialdesk.config import Settings
from socialdesk.connectors.base import MediaItem, MediaRules
from socialdesk.errors import NotFound, ValidationError
from socialdesk.media.probe import MediaInfo, probe
from socialdesk.media.transform import fit_image
from socialdesk.publishing.validation import MediaCheck
from socialdesk.storage.tables import MediaAsset

logger = logging.getLogger(__name__)

MAX_ALT_TEXT = 5000
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
}


def asset_path(settings: Settings, asset: MediaAsset) -> Path:
    return settings.media_dir / asset.storage_path


def get_asset(session: Session, *, asset_id: uuid.UUID) -> MediaAsset:
    asset = session.get(MediaAsset, asset_id)
    if asset is None:
        raise NotFound(f"no media {asset_id} in this workspace's library")
    return asset


def info_of(asset: MediaAsset) -> MediaInfo:
    return MediaInfo(
        mime_type=asset.mime_type,
        kind=asset.kind,
        size_bytes=asset.size_bytes,
        width=asset.width,
        height=asset.height,
        duration_seconds=asset.duration_seconds,
        frame_count=None,
        sha256=asset.sha256,
    )


def media_check(settings: Settings, asset: MediaAsset, *, alt_text: str | None) -> MediaCheck:
    """What validation needs to know of an asset as one delivery uses it."""
    del settings  # the row holds everything; kept for symmetry with asset_path
    return MediaCheck(
        info=info_of(asset),
        alt_text=asset.alt_text if alt_text is None else alt_text,
        name=asset.original_filename or f"media {asset.id}",
    )


def store_file(
    session: Session,
    *,
    settings: Settings,
    workspace_id: uuid.UUID,
    source: Path,
    filename: str,
    actor: Actor,
    alt_text: str = "",
) -> MediaAsset:
    """Add a file to the library (or return the same file already there).

    The file is checked (type from its content, dimensions, duration; corrupt files are
    refused) before anything is written.
    """
    if len(alt_text) > MAX_ALT_TEXT:
        raise ValidationError(
            f"alt text is longer than {MAX_ALT_TEXT} characters", field="alt_text"
        )
    info = probe(source, name=Path(filename).name)
    existing = session.scalars(
        select(MediaAsset).where(
            MediaAsset.workspace_id == workspace_id, MediaAsset.sha256 == info.sha256
        )
    ).first()
    if existing is not None:
        if alt_text and not existing.alt_text:
            existing.alt_text = alt_text
        return existing
    extension = _EXTENSIONS.get(info.mime_type, "bin")
    relative = Path(str(workspace_id)) / info.sha256[:2] / f"{info.sha256}.{extension}"
    target = settings.media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        # Copy next to the target, then rename: a crash never leaves half a file in place.
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
            with source.open("rb") as reader:
                shutil.copyfileobj(reader, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    asset = MediaAsset(
        workspace_id=workspace_id,
        kind=info.kind,
        mime_type=info.mime_type,
        size_bytes=info.size_bytes,
        width=info.width,
        height=info.height,
        duration_seconds=info.duration_seconds,
        sha256=info.sha256,
        storage_path=str(relative),
        original_filename=Path(filename).name[:300],
        alt_text=alt_text,
        created_by_id=actor.user_id,
    )
    session.add(asset)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="media.upload",
        workspace_id=workspace_id,
        target_type="media",
        target_id=asset.id,
        details={"name": asset.original_filename, "type": info.mime_type, "bytes": info.size_bytes},
    )
    return asset


def store_upload(
    session: Session,
    *,
    settings: Settings,
    workspace_id: uuid.UUID,
    stream: BinaryIO,
    filename: str,
    actor: Actor,
    alt_text: str = "",
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> tuple[MediaAsset, bool]:
    """Spool an uploaded stream to disk and store it; True when the file is new here."""
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=settings.media_dir, suffix=".upload") as spool:
        size = 0
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise ValidationError(
                    f"{Path(filename).name} is larger than {max_bytes // 1024 // 1024} MiB",
                    field="file",
                )
            digest.update(chunk)
            spool.write(chunk)
        spool.flush()
        existed = session.scalars(
            select(MediaAsset.id).where(
                MediaAsset.workspace_id == workspace_id, MediaAsset.sha256 == digest.hexdigest()
            )
        ).first()
        asset = store_file(
            session,
            settings=settings,
            workspace_id=workspace_id,
            source=Path(spool.name),
            filename=filename or "upload",
            actor=actor,
            alt_text=alt_text,
        )
    return asset, existed is None


def list_assets(session: Session, *, workspace_id: uuid.UUID, limit: int = 200) -> list[MediaAsset]:
    return list(
        session.scalars(
            select(MediaAsset)
            .where(MediaAsset.workspace_id == workspace_id)
            .order_by(MediaAsset.created_at.desc())
            .limit(limit)
        )
    )


def prepare_for_network(settings: Settings, item: MediaItem, rules: MediaRules) -> MediaItem:
    """The item as the network will take it: an image too large is resized first."""
    if not item.mime_type.startswith("image/") or item.mime_type == "image/gif":
        return item
    derived = settings.media_dir / "derived"
    derived.mkdir(parents=True, exist_ok=True)
    path = fit_image(item.path, rules, dest_dir=derived)
    if path == item.path:
        return item
    info = probe(path)
    return replace(
        item,
        path=path,
        mime_type=info.mime_type,
        size_bytes=info.size_bytes,
        width=info.width,
        height=info.height,
    )
