# SPDX-License-Identifier: AGPL-3.0-or-later
"""Small previews of library images, made once and kept next to the other derived files.

A library page shows dozens of files; sending each original (a 12-megapixel photo) would
make it slow on a phone. A thumbnail is a WebP at most :data:`THUMBNAIL_SIDE` pixels on
its longer side, upright (EXIF orientation applied) and without metadata. Its name comes
from the file's hash, so it never goes stale and the same picture is shrunk once.
Videos get none: the page shows an icon and their duration instead.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from PIL import Image, ImageOps

from socialdesk.config import Settings
from socialdesk.media.probe import MediaKind
from socialdesk.storage.tables import MediaAsset

#: Twice the width of a library card, for sharp previews on high-density screens.
THUMBNAIL_SIDE = 480
MIME_TYPE = "image/webp"


def _thumbnail_dir(settings: Settings) -> Path:
    return settings.media_dir / "derived" / "thumbnails"


def thumbnail_files(settings: Settings, asset: MediaAsset) -> list[Path]:
    """Every thumbnail that may exist for ``asset`` (to delete along with it)."""
    return [_thumbnail_dir(settings) / f"{asset.sha256}-{THUMBNAIL_SIDE}.webp"]


def has_thumbnail(asset: MediaAsset) -> bool:
    return asset.kind in (MediaKind.IMAGE, MediaKind.GIF)


def thumbnail(settings: Settings, asset: MediaAsset, source: Path) -> Path:
    """The thumbnail of an image asset whose file is ``source``, made on first use."""
    if not has_thumbnail(asset):
        raise ValueError("only images have thumbnails")
    target = thumbnail_files(settings, asset)[0]
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The file passed the probe's pixel limit on upload; Pillow's lower default
        # would only warn (and tests run with warnings as errors).
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(source) as opened:
            opened.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG: decode smaller
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
            if image.mode not in ("RGB", "RGBA"):
                has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
                image = image.convert("RGBA" if has_alpha else "RGB")
            with tempfile.NamedTemporaryFile(
                dir=target.parent, suffix=".webp", delete=False
            ) as handle:
                image.save(handle, format="WEBP", quality=80, method=4)
    # Rename into place: two requests making the same thumbnail never see half a file.
    os.replace(handle.name, target)
    return target
