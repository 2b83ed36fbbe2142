# SPDX-License-Identifier: AGPL-3.0-or-later
"""Library thumbnails: small, upright, made once, for images only."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from socialdesk.config import load_settings
from socialdesk.media import thumbnails
from socialdesk.media.probe import probe
from socialdesk.storage.tables import MediaAsset
from tests.media.builders import encode, mp4, noise, write


def _asset(path: Path) -> MediaAsset:
    info = probe(path)
    return MediaAsset(kind=info.kind, sha256=info.sha256, mime_type=info.mime_type)


@pytest.mark.parametrize(
    ("name", "data", "size", "mode"),
    [
        ("wide.jpg", encode(noise(1200, 600), "JPEG"), (480, 240), "RGB"),
        ("small.png", encode(noise(100, 80), "PNG"), (100, 80), "RGB"),
        ("clear.png", encode(noise(900, 900, "RGBA"), "PNG"), (480, 480), "RGBA"),
        # Stored sideways with "rotate 90°" (orientation 6): shown upright, so tall.
        (
            "phone.jpg",
            encode(
                noise(800, 600),
                "JPEG",
                exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08"
                b"\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
            ),
            (360, 480),
            "RGB",
        ),
        ("anim.gif", encode(noise(300, 200, "P"), "GIF"), (300, 200), "RGB"),
    ],
)
def test_thumbnails(
    tmp_path: Path, name: str, data: bytes, size: tuple[int, int], mode: str
) -> None:
    settings = load_settings(data_dir=tmp_path / "data", secret_key="s" * 48)
    source = write(tmp_path, name, data)
    asset = _asset(source)
    made = thumbnails.thumbnail(settings, asset, source)
    with Image.open(made) as image:
        assert (image.format, image.size, image.mode) == ("WEBP", size, mode)
    assert made in thumbnails.thumbnail_files(settings, asset)
    stamp = made.stat().st_mtime_ns
    assert thumbnails.thumbnail(settings, asset, source).stat().st_mtime_ns == stamp


def test_videos_have_none(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", secret_key="s" * 48)
    source = write(tmp_path, "clip.mp4", mp4())
    asset = _asset(source)
    assert not thumbnails.has_thumbnail(asset)
    with pytest.raises(ValueError, match="only images"):
        thumbnails.thumbnail(settings, asset, source)
