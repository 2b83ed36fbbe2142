# SPDX-License-Identifier: AGPL-3.0-or-later
"""Make an image fit a network's limits, the way a careful person would by hand.

Networks refuse images over a byte or pixel limit (Bluesky: 1 MB) instead of shrinking
them, so the publisher shrinks them first. :func:`fit_image` keeps the picture upright
(EXIF orientation is applied, since the tag is dropped), removes every piece of metadata
but the colour profile (a phone photo's EXIF carries the GPS position of the person's
home), keeps transparency where the network takes PNG, and lowers quality before it
lowers resolution. The output name is derived from the source's hash and the limits, so
re-running a job finds the file it already made instead of making another.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from pathlib import Path

from PIL import Image, ImageOps

from socialdesk.connectors.base import MediaRules
from socialdesk.errors import ValidationError
from socialdesk.media.probe import MediaInfo, MediaKind, probe

__all__ = ["MIN_LONG_SIDE", "fit_image"]

#: Bump when the output for the same input and rules changes, so old files are not reused.
ALGORITHM_VERSION = 1

#: Below this many pixels on the longest side a photo stops being worth posting.
MIN_LONG_SIDE = 320

#: JPEG qualities tried at each size before the size is reduced; below 60 artefacts show.
JPEG_QUALITIES = (90, 85, 80, 75, 70, 60)

_JPEG = "image/jpeg"
_PNG = "image/png"


def fit_image(path: Path, rules: MediaRules, *, dest_dir: Path, name: str | None = None) -> Path:
    """``path`` if the network takes it as it is, else a new JPEG or PNG in ``dest_dir``.

    An image fits when its type is one of ``rules.image_types`` and it is within
    ``max_image_bytes`` and ``max_image_side``. Otherwise it is re-encoded: a PNG that
    really uses transparency stays PNG while it can fit at half the target resolution or
    more, everything else becomes JPEG (on white where it was transparent). Quality is
    lowered first, then the size, down to :data:`MIN_LONG_SIDE` pixels.

    Raises ``ValidationError`` for videos, animated GIFs that do not fit (shrinking them
    would lose the animation), networks that take neither JPEG nor PNG, and images that
    cannot fit at all.
    """
    path = Path(path)
    shown = name or path.name
    info = probe(path, name=shown)
    if info.kind == MediaKind.VIDEO:
        raise ValidationError(f"{shown} is a video; only images can be resized", field="file")
    if _fits(info, rules):
        return path
    if info.kind == MediaKind.GIF:
        raise ValidationError(
            f"{shown} is an animated GIF too large for this network, and shrinking it "
            "would lose the animation; convert it to an MP4 video",
            field="file",
        )
    can_jpeg, can_png = _JPEG in rules.image_types, _PNG in rules.image_types
    if not (can_jpeg or can_png):
        raise ValidationError(
            f"{shown} cannot be converted: this network accepts neither JPEG nor PNG",
            field="file",
        )

    dest_dir = Path(dest_dir)
    stem = _output_stem(info, rules)
    for suffix in (".jpg", ".png"):
        # Written atomically, so an existing file is a complete earlier result.
        if (done := dest_dir / f"{stem}{suffix}").is_file():
            return done

    start_long = _long_side(info)
    if rules.max_image_side is not None:
        start_long = min(start_long, rules.max_image_side)
    image, icc = _load_upright(path, start_long, shown)

    encoded: tuple[bytes, str] | None = None
    if _uses_alpha(image) and can_png:
        floor = max(MIN_LONG_SIDE, start_long // 2) if can_jpeg else MIN_LONG_SIDE
        encoded = _shrink(image, rules, "PNG", icc, floor_long=min(floor, start_long))
    if encoded is None:
        if can_jpeg:
            encoded = _shrink(_flatten(image), rules, "JPEG", icc, floor_long=_floor(start_long))
        else:
            encoded = _shrink(image, rules, "PNG", icc, floor_long=_floor(start_long))
    if encoded is None:
        raise ValidationError(
            f"{shown} cannot be made small enough for this network without shrinking "
            f"it below {MIN_LONG_SIDE} pixels; crop it or simplify it and upload it again",
            field="file",
        )
    data, suffix = encoded
    target = dest_dir / f"{stem}{suffix}"
    _write_atomically(target, data)
    return target


def _fits(info: MediaInfo, rules: MediaRules) -> bool:
    return (
        info.mime_type in rules.image_types
        and (rules.max_image_bytes is None or info.size_bytes <= rules.max_image_bytes)
        and (rules.max_image_side is None or _long_side(info) <= rules.max_image_side)
    )


def _long_side(info: MediaInfo) -> int:
    return max(info.width or 0, info.height or 0)


def _floor(start_long: int) -> int:
    return min(MIN_LONG_SIDE, start_long)


def _output_stem(info: MediaInfo, rules: MediaRules) -> str:
    """The source's hash plus only the rules that change the output."""
    relevant = ";".join(
        [
            f"v{ALGORITHM_VERSION}",
            str(rules.max_image_bytes),
            str(rules.max_image_side),
            ",".join(sorted(rules.image_types & {_JPEG, _PNG})),
        ]
    )
    return f"{info.sha256[:32]}-{hashlib.sha256(relevant.encode()).hexdigest()[:12]}"


def _load_upright(path: Path, target_long: int, name: str) -> tuple[Image.Image, bytes | None]:
    """The decoded image turned upright, in a mode we can encode, and its ICC profile.

    Large JPEGs are decoded at a reduced scale (``draft``): a 48 MP photo headed for
    2000 pixels never occupies 150 MB of memory.
    """
    with Image.open(path) as source:
        if getattr(source, "is_animated", False):  # animated WebP or PNG
            raise ValidationError(
                f"{name} is animated and too large for this network; shrinking it would "
                "lose the animation, so convert it to an MP4 video",
                field="file",
            )
        if source.format == "JPEG" and target_long < max(source.size):
            scale = target_long / max(source.size)
            source.draft(None, (math.ceil(source.width * scale), math.ceil(source.height * scale)))
        source.load()
        icc = source.info.get("icc_profile")
        upright = ImageOps.exif_transpose(source)
    if upright.mode == "CMYK":
        icc = None  # a CMYK profile would mis-colour the RGB we convert to
    image = _normalize_mode(upright)
    # Everything but pixels goes: EXIF (GPS, camera serial), XMP, comments, text chunks.
    image.info.clear()
    return image, icc if isinstance(icc, bytes) else None


def _normalize_mode(image: Image.Image) -> Image.Image:
    """RGB, RGBA, L or LA: the modes both JPEG (after flattening) and PNG can hold."""
    mode = image.mode
    if mode.startswith("I"):  # 16-bit greyscale: scale down rather than clip
        return image.convert("I").point(lambda v: v * (1 / 257)).convert("L")
    if mode in ("RGB", "L") and "transparency" not in image.info:
        return image
    if mode in ("RGBA", "LA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _uses_alpha(image: Image.Image) -> bool:
    """True when some pixel is not fully opaque (an alpha channel alone is not enough)."""
    if image.mode not in ("RGBA", "LA"):
        return False
    low, _high = image.getchannel("A").getextrema()
    return bool(low < 255)  # type: ignore[operator]


def _flatten(image: Image.Image) -> Image.Image:
    """Put a transparent image on white, as JPEG has no alpha (black would surprise)."""
    if image.mode not in ("RGBA", "LA"):
        return image
    base_mode = image.mode[:-1]
    background = Image.new(base_mode, image.size, "white")
    background.paste(image.convert(base_mode), mask=image.getchannel("A"))
    return background


def _shrink(
    image: Image.Image,
    rules: MediaRules,
    image_format: str,
    icc: bytes | None,
    *,
    floor_long: int,
) -> tuple[bytes, str] | None:
    """The first encoding that fits, trying lower quality before smaller sizes."""
    width, height = image.size
    long_side = max(width, height)
    scale = 1.0
    if rules.max_image_side is not None and long_side > rules.max_image_side:
        scale = rules.max_image_side / long_side
    suffix = ".jpg" if image_format == "JPEG" else ".png"
    while True:
        size = _scaled(width, height, scale, rules.max_image_side)
        frame = image if size == image.size else image.resize(size, Image.Resampling.LANCZOS)
        if image_format == "JPEG":
            for quality in JPEG_QUALITIES:
                data = _encode(frame, "JPEG", icc, quality=quality)
                if rules.max_image_bytes is None or len(data) <= rules.max_image_bytes:
                    return data, suffix
        else:
            data = _encode(frame, "PNG", icc)
            if rules.max_image_bytes is None or len(data) <= rules.max_image_bytes:
                return data, suffix
        assert rules.max_image_bytes is not None  # without a byte limit the first try fits
        # Bytes grow roughly with the pixel count, so aim at the square root of the excess,
        # within bounds that keep progress steady and never overshoot wildly.
        factor = min(0.9, max(0.5, math.sqrt(rules.max_image_bytes / len(data)) * 0.95))
        if max(size) * factor < floor_long:
            return None
        scale *= factor


def _scaled(width: int, height: int, scale: float, max_side: int | None) -> tuple[int, int]:
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if max_side is not None and max(new_w, new_h) > max_side:  # rounding up by a pixel
        new_w, new_h = min(new_w, max_side), min(new_h, max_side)
    return new_w, new_h


def _encode(image: Image.Image, image_format: str, icc: bytes | None, *, quality: int = 0) -> bytes:
    out = io.BytesIO()
    options: dict[str, object] = {"optimize": True}
    if icc is not None and image.mode in ("RGB", "RGBA", "L", "LA"):
        options["icc_profile"] = icc
    if image_format == "JPEG":
        options.update(quality=quality, progressive=True)
    image.save(out, image_format, **options)
    return out.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write to a temporary file beside ``target`` and rename: readers never see half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".fit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
