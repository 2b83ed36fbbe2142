# SPDX-License-Identifier: AGPL-3.0-or-later
"""What a media file really is, and whether a network will take it.

:func:`probe` sniffs the type from the file's first bytes, never from its name: people
rename files, phones save HEIC photos as ``.jpg`` and a browser's ``Content-Type`` is a
guess. A file socialdesk cannot read is refused *here*, with a message that says what is
wrong and what to do, instead of failing later on a network at publishing time.

Images are decoded completely with Pillow (``verify()`` then a full ``load()``), because a
truncated upload often has an intact header. Videos are read with two small parsers, one
for ISO base media files (MP4, MOV) and one for EBML (WebM), which look only at the
metadata boxes: no ffmpeg is needed and a 2 GB video costs a few reads.

:func:`check_against` and :func:`check_items` compare probed files with a network's
:class:`~socialdesk.connectors.base.MediaRules` and return problems as sentences for the
person who has to fix them; they do not raise, so a form can show every problem at once.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import ExifTags, Image

from socialdesk.connectors.base import MediaItem, MediaRules
from socialdesk.errors import ValidationError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MediaInfo",
    "MediaKind",
    "check_against",
    "check_items",
    "probe",
]

#: The most pixels an image may have. 48-61 MP phone and camera photos pass; beyond that
#: a file is either a "decompression bomb" (a few KB that decode to gigabytes) or far
#: larger than any network shows. Kept below Pillow's own limit (89.5 MP) so Pillow's
#: ``DecompressionBombWarning`` never fires before our clear error does.
DEFAULT_MAX_PIXELS = 64_000_000

#: An animated GIF is decoded frame by frame to find damage; bound that work.
MAX_GIF_FRAMES = 5_000
MAX_GIF_DECODED_PIXELS = 2_000_000_000

#: The metadata of a video (moov / Info / Tracks) is small; a larger one is hostile.
MAX_VIDEO_METADATA_BYTES = 64 * 1024 * 1024

SUPPORTED = "a JPEG, PNG, GIF, WebP, MP4, MOV or WebM file"


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    #: An animated GIF: networks treat it apart from images (X, Mastodon turn it into video).
    GIF = "gif"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What :func:`probe` learnt from a file's content (also rebuilt from a library row).

    ``width`` and ``height`` are the *displayed* size: a portrait phone photo stored
    sideways with an EXIF orientation, or a video with a rotation matrix, reports its
    upright size, because that is what aspect-ratio rules are about. They are None only
    when rebuilt from a row that lacks them; :func:`probe` always sets them.
    """

    mime_type: str
    #: A :class:`MediaKind` (a plain string such as a database value is converted).
    kind: str
    size_bytes: int
    width: int | None
    height: int | None
    #: Video length, or the total frame delay of an animated GIF; None if unknown.
    duration_seconds: float | None
    #: GIFs only (1 for a still GIF).
    frame_count: int | None
    sha256: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", MediaKind(self.kind))

    @property
    def aspect_ratio(self) -> float | None:
        if not self.width or not self.height:
            return None
        return self.width / self.height

    def as_media_item(self, path: Path, *, alt_text: str = "") -> MediaItem:
        """The connector-facing description of this file, stored at ``path``."""
        return MediaItem(
            path=path,
            mime_type=self.mime_type,
            size_bytes=self.size_bytes,
            alt_text=alt_text,
            width=self.width,
            height=self.height,
            duration_seconds=self.duration_seconds,
        )


def probe(
    path: Path, *, name: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> MediaInfo:
    """Read ``path`` and say what it is; raise ``ValidationError`` if it is not usable.

    ``name`` is the file name to use in messages (defaults to ``path.name``). HEIC/HEIF
    and AVIF photos are recognised and refused with advice to convert them, since most
    networks do not accept them.
    """
    path = Path(path)
    shown = name or path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ValidationError(f"{shown} cannot be read: {exc.strerror}", field="file") from exc
    if size == 0:
        raise ValidationError(f"{shown} is empty (0 bytes); upload it again", field="file")

    image_format = _sniff_image(head)
    if image_format is not None:
        width, height, frames, duration = _probe_image(path, image_format, shown, max_pixels)
        mime = f"image/{image_format.lower()}"
        if image_format == "GIF":
            kind = MediaKind.GIF if frames > 1 else MediaKind.IMAGE
            frame_count: int | None = frames
        else:
            kind, frame_count, duration = MediaKind.IMAGE, None, None
    elif _is_bmff(head):
        mime, width, height, duration = _probe_bmff(path, size, shown)
        kind, frame_count = MediaKind.VIDEO, None
    elif head.startswith(_EBML_MAGIC):
        mime, width, height, duration = _probe_webm(path, size, shown)
        kind, frame_count = MediaKind.VIDEO, None
    else:
        raise ValidationError(_unknown_message(shown, head), field="file")

    return MediaInfo(
        mime_type=mime,
        kind=kind,
        size_bytes=size,
        width=width,
        height=height,
        duration_seconds=duration,
        frame_count=frame_count,
        sha256=_sha256(path),
    )


# --------------------------------------------------------------------------- sniffing

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"

#: Formats people upload by mistake, named in the error so they know what they sent.
_OTHER_FORMATS: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF", 0, "a PDF document"),
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"BM", 0, "a BMP image"),
    (b"PK\x03\x04", 0, "a ZIP archive (or an Office document)"),
    (b"AVI ", 8, "an AVI video"),
    (b"WAVE", 8, "a WAV audio file"),
    (b"ID3", 0, "an MP3 audio file"),
    (b"OggS", 0, "an Ogg audio or video file"),
    (b"fLaC", 0, "a FLAC audio file"),
    (b"8BPS", 0, "a Photoshop document"),
    (b"<svg", 0, "an SVG drawing"),
    (b"<?xml", 0, "an XML (perhaps SVG) file"),
    (b"\x00\x00\x00\x0cjXL ", 0, "a JPEG XL image"),
    (b"\xff\x0a", 0, "a JPEG XL image"),
)


def _sniff_image(head: bytes) -> str | None:
    """The Pillow format name for the image types we accept, from the magic bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


#: Box types that may open a QuickTime file written before ``ftyp`` existed.
_BMFF_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _is_bmff(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _BMFF_FIRST_BOXES


def _unknown_message(name: str, head: bytes) -> str:
    for magic, offset, what in _OTHER_FORMATS:
        if head[offset : offset + len(magic)] == magic:
            return f"{name} is {what}, not {SUPPORTED}"
    start = head[:8]
    printable = "".join(chr(b) if 32 <= b < 127 else "." for b in start)
    return (
        f"{name} is not {SUPPORTED} (it starts with {start.hex(' ')} {printable!r}); "
        "export it again as JPEG, PNG or MP4"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- images

#: What Pillow raises, across its plugins, on damaged files.
_PILLOW_DAMAGE = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)

#: EXIF orientations that turn the picture a quarter turn (width and height swap).
_QUARTER_TURNS = {5, 6, 7, 8}


def _probe_image(
    path: Path, image_format: str, name: str, max_pixels: int
) -> tuple[int, int, int, float | None]:
    """Width, height (upright), frame count and GIF duration, after a full decode."""
    kind = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "WEBP": "WebP"}[image_format]
    corrupt = ValidationError(
        f"{name} is truncated or corrupt (it looks like a {kind} image but cannot be "
        "decoded); export or upload it again",
        field="file",
    )
    try:
        # verify() checks what only it checks (PNG chunk CRCs); the file must be reopened
        # after it, and load() then decodes every pixel to find truncation.
        with Image.open(path, formats=[image_format]) as im:
            _check_pixels(im.size, name, max_pixels)
            im.verify()
        with Image.open(path, formats=[image_format]) as im:
            width, height = im.size
            _check_pixels(im.size, name, max_pixels)
            frames, duration = 1, None
            if image_format == "GIF":
                frames, duration = _decode_gif(im, name)
            else:
                im.load()
            if im.getexif().get(ExifTags.Base.Orientation) in _QUARTER_TURNS:
                width, height = height, width
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb(name, max_pixels) from exc
    except _PILLOW_DAMAGE as exc:
        raise corrupt from exc
    if width < 1 or height < 1:
        raise corrupt
    return width, height, frames, duration


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int) -> None:
    if size[0] * size[1] > max_pixels:
        raise _bomb(name, max_pixels, size)


def _bomb(name: str, max_pixels: int, size: tuple[int, int] | None = None) -> ValidationError:
    dims = f" ({size[0]}x{size[1]} pixels)" if size else ""
    return ValidationError(
        f"{name} is too large to open{dims}: images may have at most "
        f"{max_pixels / 1e6:g} megapixels; scale it down and upload it again",
        field="file",
    )


def _decode_gif(im: Image.Image, name: str) -> tuple[int, float | None]:
    """Decode every frame (damage hides in later ones) and add up the frame delays."""
    frames = int(getattr(im, "n_frames", 1))
    if frames > MAX_GIF_FRAMES or frames * im.size[0] * im.size[1] > MAX_GIF_DECODED_PIXELS:
        raise ValidationError(
            f"{name} has too many frames ({frames}) to be a usable animated GIF; "
            "convert it to an MP4 video",
            field="file",
        )
    total_ms = 0
    for index in range(frames):
        im.seek(index)
        im.load()
        delay = int(im.info.get("duration", 0) or 0)
        # Browsers play delays of 0-10 ms at 100 ms; count what people will see.
        total_ms += delay if delay > 10 else 100
    return frames, (total_ms / 1000 if frames > 1 else None)


# --------------------------------------------------------------------------- ISO BMFF

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_GENERIC_HEIF_BRANDS = {b"mif1", b"msf1"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
#: Boxes whose payload is just more boxes, on the way to the ones we read.
_CONTAINERS = {b"moov", b"trak", b"mdia", b"mvex"}


@dataclass(slots=True)
class _Track:
    handler: bytes = b""
    width: float = 0.0
    height: float = 0.0
    quarter_turn: bool = False
    timescale: int = 0
    duration: int = 0


def _probe_bmff(path: Path, size: int, name: str) -> tuple[str, int, int, float | None]:
    """MIME type, upright width and height, and duration of an MP4 / MOV file.

    Top-level boxes are walked with seeks (``moov`` may come after a huge ``mdat``);
    only ``ftyp`` and ``moov`` are read into memory.
    """
    corrupt = ValidationError(
        f"{name} is truncated or corrupt (it looks like an MP4/MOV video but its "
        "structure is broken); export or upload it again",
        field="file",
    )
    brands: list[bytes] = []
    moov: bytes | None = None
    has_media = False
    with path.open("rb") as fh:
        for box_type, start, end in _top_level_boxes(fh, size, corrupt):
            if box_type == b"ftyp":
                data = _read_at(fh, start, end, corrupt)
                if len(data) < 8:
                    raise corrupt
                brands = [data[0:4]] + [data[i : i + 4] for i in range(8, len(data) - 3, 4)]
                _refuse_still_images(brands, name)
            elif box_type == b"moov" and moov is None:
                if end - start > MAX_VIDEO_METADATA_BYTES:
                    raise corrupt
                moov = _read_at(fh, start, end, corrupt)
            elif box_type in (b"mdat", b"moof"):
                has_media = True
    if brands and brands[0] in _AUDIO_BRANDS:
        raise ValidationError(f"{name} is an audio file, not a video", field="file")
    if moov is None:
        raise ValidationError(
            f"{name} is truncated or incomplete: it has no movie header (moov box); "
            "export or upload it again",
            field="file",
        )
    if not has_media:
        raise ValidationError(f"{name} contains no video data; export it again", field="file")

    movie_timescale, movie_duration, tracks = _parse_moov(moov, corrupt)
    video = next((t for t in tracks if t.handler == b"vide" and t.width and t.height), None)
    if video is None:
        raise ValidationError(
            f"{name} has no video track (is it an audio file?); export it as an MP4 video",
            field="file",
        )
    width, height = round(video.width), round(video.height)
    if video.quarter_turn:
        width, height = height, width
    if width < 1 or height < 1:
        raise corrupt

    duration: float | None = None
    if movie_timescale and movie_duration:
        duration = movie_duration / movie_timescale
    elif video.timescale and video.duration:
        duration = video.duration / video.timescale
    mime = "video/quicktime" if not brands or brands[0] == b"qt  " else "video/mp4"
    return mime, width, height, duration


def _refuse_still_images(brands: Sequence[bytes], name: str) -> None:
    major, compatible = brands[0], set(brands[1:])
    if major in _AVIF_BRANDS or (major in _GENERIC_HEIF_BRANDS and compatible & _AVIF_BRANDS):
        raise ValidationError(
            f"{name} is an AVIF image, which most networks do not accept; "
            "convert it to JPEG or PNG",
            field="file",
        )
    if major in _HEIF_BRANDS or major in _GENERIC_HEIF_BRANDS:
        raise ValidationError(
            f"{name} is a HEIC/HEIF photo (the iPhone's default format), which most "
            "networks do not accept; convert it to JPEG (on an iPhone: Settings, Camera, "
            "Formats, Most Compatible)",
            field="file",
        )


def _top_level_boxes(
    fh: BinaryIO, size: int, corrupt: ValidationError
) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each top-level box, reading only headers."""
    offset = 0
    # Fewer than 8 bytes left cannot be a box: trailing padding some writers leave.
    while size - offset >= 8:
        fh.seek(offset)
        header = fh.read(16)
        box_type, payload_start, end = _box_bounds(header, offset, size, corrupt)
        yield box_type, payload_start, end
        offset = end


def _box_bounds(
    header: bytes, offset: int, limit: int, corrupt: ValidationError
) -> tuple[bytes, int, int]:
    """Decode a box header at ``offset``; sizes of 1 (64-bit) and 0 (to the end) included."""
    if len(header) < 8:
        raise corrupt
    box_size, box_type = struct.unpack(">I4s", header[:8])
    header_len = 8
    if box_size == 1:
        if len(header) < 16:
            raise corrupt
        (box_size,) = struct.unpack(">Q", header[8:16])
        header_len = 16
    elif box_size == 0:
        box_size = limit - offset
    if box_size < header_len or offset + box_size > limit:
        raise corrupt
    return box_type, offset + header_len, offset + box_size


def _read_at(fh: BinaryIO, start: int, end: int, corrupt: ValidationError) -> bytes:
    fh.seek(start)
    data = fh.read(end - start)
    if len(data) != end - start:
        raise corrupt
    return data


def _children(
    data: bytes, start: int, end: int, corrupt: ValidationError
) -> Iterator[tuple[bytes, int, int]]:
    offset = start
    while offset < end:
        box_type, payload_start, box_end = _box_bounds(
            data[offset : offset + 16], offset, end, corrupt
        )
        yield box_type, payload_start, box_end
        offset = box_end


def _parse_moov(moov: bytes, corrupt: ValidationError) -> tuple[int, int, list[_Track]]:
    """Movie timescale and duration (mvhd, else mehd) and every track's facts."""
    timescale = duration = fragment_duration = 0
    tracks: list[_Track] = []
    track: _Track | None = None

    def walk(start: int, end: int) -> None:
        nonlocal timescale, duration, fragment_duration, track
        for box_type, payload, box_end in _children(moov, start, end, corrupt):
            body = moov[payload:box_end]
            if box_type == b"trak":
                track = _Track()
                tracks.append(track)
                walk(payload, box_end)
                track = None
            elif box_type in _CONTAINERS:
                walk(payload, box_end)
            elif box_type == b"mvhd":
                timescale, duration = _timescale_duration(body, corrupt)
            elif box_type == b"mehd":
                fragment_duration = _mehd(body, corrupt)
            elif track is not None and box_type == b"tkhd":
                _tkhd(body, track, corrupt)
            elif track is not None and box_type == b"mdhd":
                track.timescale, track.duration = _timescale_duration(body, corrupt)
            elif track is not None and box_type == b"hdlr":
                if len(body) < 12:
                    raise corrupt
                track.handler = body[8:12]

    walk(0, len(moov))
    if not duration and fragment_duration:
        duration = fragment_duration
    return timescale, duration, tracks


def _timescale_duration(body: bytes, corrupt: ValidationError) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd box; an all-ones duration means unknown."""
    try:
        if body[0] == 1:
            timescale, duration = struct.unpack_from(">IQ", body, 20)
            unknown = 2**64 - 1
        else:
            timescale, duration = struct.unpack_from(">II", body, 12)
            unknown = 2**32 - 1
    except (IndexError, struct.error) as exc:
        raise corrupt from exc
    return int(timescale), 0 if duration == unknown else int(duration)


def _mehd(body: bytes, corrupt: ValidationError) -> int:
    try:
        fmt = ">Q" if body[0] == 1 else ">I"
        return int(struct.unpack_from(fmt, body, 4)[0])
    except (IndexError, struct.error) as exc:
        raise corrupt from exc


def _tkhd(body: bytes, track: _Track, corrupt: ValidationError) -> None:
    # version/flags 4, then times and ids (20 bytes in v0, 32 in v1), reserved 8, layer,
    # group, volume, reserved 2 each, the 3x3 matrix (36), width and height (16.16 fixed).
    try:
        base = 4 + (32 if body[0] == 1 else 20) + 16
        a, b, _u, c, d = struct.unpack_from(">iiiii", body, base)
        width, height = struct.unpack_from(">II", body, base + 36)
    except (IndexError, struct.error) as exc:
        raise corrupt from exc
    track.width, track.height = width / 65536, height / 65536
    # A 90° or 270° rotation (phones recording upright) zeroes the diagonal.
    track.quarter_turn = a == 0 and d == 0 and b != 0 and c != 0


# --------------------------------------------------------------------------- WebM

_EBML_DOCTYPE = 0x4282
_SEGMENT = 0x18538067
_INFO = 0x1549A966
_TRACKS = 0x1654AE6B
_CLUSTER = 0x1F43B675
_TIMECODE_SCALE = 0x2AD7B1
_DURATION = 0x4489
_TRACK_ENTRY = 0xAE
_TRACK_TYPE = 0x83
_VIDEO = 0xE0
_PIXEL_WIDTH = 0xB0
_PIXEL_HEIGHT = 0xBA
_UNKNOWN_SIZE = -1


def _probe_webm(path: Path, size: int, name: str) -> tuple[str, int, int, float | None]:
    """MIME type, width, height and duration of a WebM file, from its Info and Tracks."""
    corrupt = ValidationError(
        f"{name} is truncated or corrupt (it looks like a WebM video but its structure "
        "is broken); export or upload it again",
        field="file",
    )
    with path.open("rb") as fh:
        header_id, header_start, header_end = _ebml_element(fh, 0, size, corrupt)
        if header_id != 0x1A45DFA3 or header_end == _UNKNOWN_SIZE:
            raise corrupt
        header = _read_at(fh, header_start, header_end, corrupt)
        doctype = b""
        for element_id, start, end in _ebml_children(header, corrupt):
            if element_id == _EBML_DOCTYPE:
                doctype = header[start:end].rstrip(b"\x00")
        if doctype == b"matroska":
            raise ValidationError(
                f"{name} is a Matroska (MKV) video; convert it to MP4", field="file"
            )
        if doctype != b"webm":
            raise corrupt

        segment_id, offset, segment_end = _ebml_element(fh, header_end, size, corrupt)
        if segment_id != _SEGMENT:
            raise corrupt
        if segment_end == _UNKNOWN_SIZE:  # a live recording: the segment runs to the end
            segment_end = size
        info = tracks = None
        while offset < segment_end and (info is None or tracks is None):
            element_id, start, end = _ebml_element(fh, offset, segment_end, corrupt)
            if element_id == _CLUSTER:
                break  # media data begins; Info and Tracks come before it in WebM
            if end == _UNKNOWN_SIZE:
                raise corrupt
            if element_id in (_INFO, _TRACKS):
                if end - start > MAX_VIDEO_METADATA_BYTES:
                    raise corrupt
                data = _read_at(fh, start, end, corrupt)
                if element_id == _INFO:
                    info = data
                else:
                    tracks = data
            offset = end
    if tracks is None:
        raise ValidationError(
            f"{name} is truncated or incomplete: it has no track list; export it again",
            field="file",
        )
    width = height = 0
    for element_id, start, end in _ebml_children(tracks, corrupt):
        if element_id != _TRACK_ENTRY or width:
            continue
        entry = tracks[start:end]
        facts = {eid: entry[s:e] for eid, s, e in _ebml_children(entry, corrupt)}
        if _uint(facts.get(_TRACK_TYPE, b"")) != 1 or _VIDEO not in facts:
            continue
        video = facts[_VIDEO]
        dims = {eid: _uint(video[s:e]) for eid, s, e in _ebml_children(video, corrupt)}
        width, height = dims.get(_PIXEL_WIDTH, 0), dims.get(_PIXEL_HEIGHT, 0)
    if not width or not height:
        raise ValidationError(
            f"{name} has no video track (is it an audio file?); export it as a video",
            field="file",
        )
    duration: float | None = None
    if info is not None:
        facts = {eid: info[s:e] for eid, s, e in _ebml_children(info, corrupt)}
        scale = _uint(facts[_TIMECODE_SCALE]) if _TIMECODE_SCALE in facts else 1_000_000
        raw = facts.get(_DURATION, b"")
        if len(raw) in (4, 8):
            ticks = struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0]
            if math.isfinite(ticks) and ticks > 0:
                duration = ticks * scale / 1e9
    return "video/webm", width, height, duration


def _vint(data: bytes, offset: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer: (value, length). Unknown sizes give -1."""
    first = data[offset]
    length = 8 - first.bit_length() + 1
    if first == 0 or length > 8 or offset + length > len(data):
        raise ValueError("bad EBML integer")
    value = int.from_bytes(data[offset : offset + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    if value == (1 << (7 * length)) - 1:
        return _UNKNOWN_SIZE, length
    return value, length


def _element_header(data: bytes, offset: int) -> tuple[int, int, int]:
    element_id, id_len = _vint(data, offset, keep_marker=True)
    if id_len > 4:
        raise ValueError("bad EBML id")
    length, size_len = _vint(data, offset + id_len, keep_marker=False)
    return element_id, offset + id_len + size_len, length


def _ebml_element(
    fh: BinaryIO, offset: int, limit: int, corrupt: ValidationError
) -> tuple[int, int, int]:
    """(id, payload start, payload end or -1 when unknown) of the element at ``offset``."""
    fh.seek(offset)
    head = fh.read(12)
    try:
        element_id, start, length = _element_header(head, 0)
    except (ValueError, IndexError) as exc:
        raise corrupt from exc
    start += offset
    if length == _UNKNOWN_SIZE:
        return element_id, start, _UNKNOWN_SIZE
    if start + length > limit:
        raise corrupt
    return element_id, start, start + length


def _ebml_children(data: bytes, corrupt: ValidationError) -> Iterator[tuple[int, int, int]]:
    offset = 0
    while offset < len(data):
        try:
            element_id, start, length = _element_header(data, offset)
        except (ValueError, IndexError) as exc:
            raise corrupt from exc
        if length == _UNKNOWN_SIZE or start + length > len(data):
            raise corrupt
        yield element_id, start, start + length
        offset = start + length


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if raw else 0


# --------------------------------------------------------------------------- rules

#: Ratios people know by name, for crop hints ("crop to 4:5").
_NAMED_RATIOS = {
    (1, 1),
    (4, 5),
    (5, 4),
    (3, 4),
    (4, 3),
    (2, 3),
    (3, 2),
    (9, 16),
    (16, 9),
    (1, 2),
    (2, 1),
    (1, 3),
    (3, 1),
}


def check_against(info: MediaInfo, rules: MediaRules, *, alt_text: str) -> list[str]:
    """Every reason this one file cannot go to a network with ``rules`` (empty: it can).

    Sizes are compared with the network's byte limits, videos with its length bounds, the
    displayed width/height with its aspect-ratio range (with a crop that would fit), and
    the alt text with its length limit, counted in code points. Sentences do not name the
    file, so callers can prefix the name people know it by.
    """
    problems: list[str] = []
    is_video = info.kind == MediaKind.VIDEO
    noun = _noun(info)
    allowed = rules.video_types if is_video else rules.image_types
    if info.mime_type not in allowed:
        accepted = _type_list(rules.image_types | rules.video_types)
        problems.append(
            f"{_describe_type(info)} cannot be posted here; this network accepts {accepted}"
        )

    max_bytes = rules.max_video_bytes if is_video else rules.max_image_bytes
    if max_bytes is not None and info.size_bytes > max_bytes:
        have, limit = _size(info.size_bytes), _size(max_bytes)
        if have == limit:
            have, limit = f"{info.size_bytes:,} bytes", f"{max_bytes:,} bytes"
        advice = "shorten or compress it" if is_video else "compress it or scale it down"
        problems.append(f"the {noun} is {have}; this network accepts at most {limit} — {advice}")

    if (
        not is_video
        and rules.max_image_side is not None
        and info.width is not None
        and info.height is not None
        and max(info.width, info.height) > rules.max_image_side
    ):
        problems.append(
            f"the {noun} is {info.width}x{info.height} pixels; this network accepts at most "
            f"{rules.max_image_side} pixels on the longest side — scale it down"
        )

    if is_video:
        problems.extend(_duration_problems(info, rules))

    problems.extend(_aspect_problems(info, rules))

    if rules.max_alt_text is not None and len(alt_text) > rules.max_alt_text:
        problems.append(
            f"the description (alt text) is {len(alt_text)} characters; this network "
            f"accepts at most {rules.max_alt_text} — shorten it"
        )
    return problems


def check_items(infos: Iterable[MediaInfo], rules: MediaRules) -> list[str]:
    """Problems with the set of files attached to one post: how many, and which mix.

    An animated GIF counts as a video here: X, Mastodon and Bluesky all turn it into
    one, and none of them lets it share a post with images. Whether media is required
    (``rules.media_required``) depends on the post as a whole, so the post validator
    checks it, not this function.
    """
    items = list(infos)
    problems: list[str] = []
    if len(items) > rules.max_items:
        problems.append(
            f"the post has {len(items)} files; this network accepts at most "
            f"{rules.max_items} — remove {len(items) - rules.max_items}"
        )
    videos = sum(1 for i in items if i.kind in (MediaKind.VIDEO, MediaKind.GIF))
    images = len(items) - videos
    if videos > rules.max_videos:
        problems.append(
            f"the post has {videos} videos or animated GIFs; this network accepts at most "
            f"{rules.max_videos} per post"
        )
    if videos and images and not rules.mix_images_and_video:
        problems.append(
            "this network does not accept images together with a video or animated GIF "
            "in one post — split them into separate posts"
        )
    return problems


def _duration_problems(info: MediaInfo, rules: MediaRules) -> list[str]:
    if rules.max_video_seconds is None and rules.min_video_seconds is None:
        return []
    seconds = info.duration_seconds
    if seconds is None:
        return ["the length of the video could not be read; export it again as a standard MP4"]
    if rules.max_video_seconds is not None and seconds > rules.max_video_seconds:
        return [
            f"the video is {_duration(seconds)} long; this network accepts at most "
            f"{_duration(rules.max_video_seconds)} — trim it"
        ]
    if rules.min_video_seconds is not None and seconds < rules.min_video_seconds:
        return [
            f"the video is {_duration(seconds)} long; this network needs at least "
            f"{_duration(rules.min_video_seconds)}"
        ]
    return []


def _aspect_problems(info: MediaInfo, rules: MediaRules) -> list[str]:
    ratio = info.aspect_ratio
    if ratio is None or info.width is None or info.height is None:
        return []
    low, high = rules.min_aspect_ratio, rules.max_aspect_ratio
    # A hair of tolerance: 1080x1350 is 4:5 even if the limit is written 0.8 in floats.
    if low is not None and ratio < low - 1e-9:
        target = low
        crop_w, crop_h = info.width, min(info.height, math.floor(info.width / target))
    elif high is not None and ratio > high + 1e-9:
        target = high
        crop_w, crop_h = min(info.width, math.floor(info.height * target)), info.height
    else:
        return []
    if low is not None and high is not None:
        accepted = f"from {_ratio(low)} to {_ratio(high)}"
    elif low is not None:
        accepted = f"{_ratio(low)} or wider"
    else:
        accepted = f"{_ratio(high)} or narrower"
    return [
        f"the {_noun(info)} is {info.width}x{info.height} ({_ratio(ratio)}); this network "
        f"accepts shapes {accepted} — crop to {_ratio(target)} ({crop_w}x{crop_h})"
    ]


def _ratio(value: float | None) -> str:
    """A width/height ratio as people write it: 4:5, 16:9, 1.91:1."""
    assert value is not None
    for w, h in sorted(_NAMED_RATIOS):
        if abs(value - w / h) < 0.005:
            return f"{w}:{h}"
    if value >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".") + ":1"
    return "1:" + f"{1 / value:.2f}".rstrip("0").rstrip(".")


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.0f} KB"
    return f"{n} bytes"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}".rstrip("0").rstrip(".") + " s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def _noun(info: MediaInfo) -> str:
    return {MediaKind.VIDEO: "video", MediaKind.GIF: "animated GIF"}.get(
        MediaKind(info.kind), "image"
    )


def _describe_type(info: MediaInfo) -> str:
    """'a WebP image', 'an MOV video': what the file is, as people say it."""
    if info.kind == MediaKind.GIF:
        return "an animated GIF"
    label = _TYPE_LABELS.get(info.mime_type, info.mime_type)
    article = "an" if label[0] in "AEIOUM" else "a"
    return f"{article} {label} {_noun(info)}"


_TYPE_LABELS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "video/mp4": "MP4",
    "video/quicktime": "MOV",
    "video/webm": "WebM",
}


def _type_list(types: Iterable[str]) -> str:
    labels = sorted({_TYPE_LABELS.get(t, t) for t in types})
    if not labels:
        return "no files"
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " and " + labels[-1]
