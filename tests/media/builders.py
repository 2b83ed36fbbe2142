# SPDX-License-Identifier: AGPL-3.0-or-later
"""Media files built byte by byte or with Pillow, so tests need no binary fixtures.

The MP4 and WebM builders write exactly the boxes / elements the probe reads, in the
layouts ISO/IEC 14496-12 and the Matroska specification give, with switches for the
variants real files use (64-bit sizes, version-1 boxes, moov after mdat, rotation).
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

from PIL import Image

IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
#: A 90° rotation, as phones write it for upright recordings.
ROTATE_90 = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def box(kind: bytes, payload: bytes, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def mvhd(timescale: int, duration: int, *, version: int = 0) -> bytes:
    times = (
        struct.pack(">QQIQ", 0, 0, timescale, duration)
        if version
        else struct.pack(">IIII", 0, 0, timescale, duration)
    )
    rest = struct.pack(">IH10x", 0x10000, 0x100) + struct.pack(">9i", *IDENTITY) + bytes(24)
    return full_box(b"mvhd", version, times + rest + struct.pack(">I", 2))


def tkhd(width: int, height: int, *, version: int = 0, matrix: tuple[int, ...] = IDENTITY) -> bytes:
    ids = struct.pack(">QQIIQ", 0, 0, 1, 0, 0) if version else struct.pack(">IIIII", 0, 0, 1, 0, 0)
    middle = bytes(8) + struct.pack(">hhhH", 0, 0, 0, 0) + struct.pack(">9i", *matrix)
    return full_box(b"tkhd", version, ids + middle + struct.pack(">II", width << 16, height << 16))


def mdhd(timescale: int, duration: int, *, version: int = 0) -> bytes:
    times = (
        struct.pack(">QQIQ", 0, 0, timescale, duration)
        if version
        else struct.pack(">IIII", 0, 0, timescale, duration)
    )
    return full_box(b"mdhd", version, times + struct.pack(">HH", 0x55C4, 0))


def hdlr(handler: bytes) -> bytes:
    return full_box(b"hdlr", 0, bytes(4) + handler + bytes(12) + b"Handler\x00")


def trak(
    handler: bytes,
    width: int,
    height: int,
    seconds: float,
    *,
    version: int = 0,
    matrix: tuple[int, ...] = IDENTITY,
) -> bytes:
    return box(
        b"trak",
        tkhd(width, height, version=version, matrix=matrix)
        + box(
            b"mdia",
            mdhd(90_000, round(seconds * 90_000), version=version)
            + hdlr(handler)
            + box(b"minf", box(b"stbl", b"")),
        ),
    )


def mp4(
    *,
    width: int = 1920,
    height: int = 1080,
    seconds: float = 12.5,
    brand: bytes = b"isom",
    compatible: tuple[bytes, ...] = (b"isom", b"iso2", b"avc1", b"mp41"),
    moov_last: bool = False,
    large_mdat: bool = False,
    version: int = 0,
    rotate: bool = False,
    movie_duration: bool = True,
    audio_only: bool = False,
    mdat_bytes: int = 4096,
    include_mdat: bool = True,
) -> bytes:
    """A structurally valid MP4/MOV: ftyp, moov (mvhd, audio and video traks), mdat."""
    ftyp = box(b"ftyp", brand + struct.pack(">I", 0x200) + b"".join(compatible))
    tracks = trak(b"soun", 0, 0, seconds, version=version)
    if not audio_only:
        matrix = ROTATE_90 if rotate else IDENTITY
        tracks += trak(b"vide", width, height, seconds, version=version, matrix=matrix)
    duration = round(seconds * 1000) if movie_duration else 0
    moov = box(b"moov", mvhd(1000, duration, version=version) + tracks)
    mdat = box(b"mdat", random.Random(1).randbytes(mdat_bytes), large=large_mdat)
    if not include_mdat:
        mdat = b""
    return ftyp + (mdat + moov if moov_last else moov + mdat)


def heif(major: bytes = b"heic", compatible: tuple[bytes, ...] = (b"mif1", b"heic")) -> bytes:
    ftyp = box(b"ftyp", major + bytes(4) + b"".join(compatible))
    return ftyp + full_box(b"meta", 0, hdlr(b"pict")) + box(b"mdat", bytes(64))


def _vint_size(n: int) -> bytes:
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return (n | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError(n)


def ebml(element_id: int, payload: bytes, *, unknown_size: bool = False) -> bytes:
    ident = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else _vint_size(len(payload))
    return ident + size + payload


def uint(element_id: int, value: int) -> bytes:
    return ebml(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def webm(
    *,
    width: int = 640,
    height: int = 360,
    seconds: float | None = 5.0,
    doctype: bytes = b"webm",
    live: bool = False,
) -> bytes:
    """EBML header, then a Segment with Info, Tracks (audio, video) and one Cluster."""
    header = ebml(0x1A45DFA3, uint(0x4286, 1) + ebml(0x4282, doctype) + uint(0x4287, 4))
    info = uint(0x2AD7B1, 1_000_000)
    if seconds is not None:
        info += ebml(0x4489, struct.pack(">d", seconds * 1000))
    audio = ebml(0xAE, uint(0xD7, 1) + uint(0x83, 2))
    video = ebml(
        0xAE, uint(0xD7, 2) + uint(0x83, 1) + ebml(0xE0, uint(0xB0, width) + uint(0xBA, height))
    )
    cluster = ebml(0x1F43B675, uint(0xE7, 0) + ebml(0xA3, bytes(200)))
    body = ebml(0x1549A966, info) + ebml(0x1654AE6B, audio + video) + cluster
    return header + ebml(0x18538067, body, unknown_size=live)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` (a decompression bomb's calling card)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def noise(width: int, height: int, mode: str = "RGB", seed: int = 7) -> Image.Image:
    """Random pixels: they compress badly, which makes files as large as we need."""
    bands = len(mode)
    return Image.frombytes(
        mode, (width, height), random.Random(seed).randbytes(width * height * bands)
    )


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path
