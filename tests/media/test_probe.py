# SPDX-License-Identifier: AGPL-3.0-or-later
"""probe(): the type comes from the content, and every unusable file gets a clear error."""

from __future__ import annotations

import contextlib
import hashlib
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from socialdesk.errors import ValidationError
from socialdesk.media import MediaInfo, MediaKind, probe

from . import builders as b


def _jpeg_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return b.encode(Image.new("RGB", (400, 300), "red"), "JPEG", exif=exif.tobytes())


def _gif(frames: int, durations: list[int]) -> bytes:
    images = [Image.new("RGB", (60, 40), (i * 60, 255 - i * 60, 0)) for i in range(frames)]
    return b.encode(
        images[0], "GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("name", "data", "mime", "kind", "size", "frames", "duration"),
    [
        (
            "photo.jpg",
            b.encode(Image.new("RGB", (640, 480), "red"), "JPEG"),
            "image/jpeg",
            MediaKind.IMAGE,
            (640, 480),
            None,
            None,
        ),
        (
            "logo.png",
            b.encode(Image.new("RGBA", (300, 200), (0, 0, 0, 0)), "PNG"),
            "image/png",
            MediaKind.IMAGE,
            (300, 200),
            None,
            None,
        ),
        (
            "pic.webp",
            b.encode(Image.new("RGB", (120, 90), "blue"), "WEBP"),
            "image/webp",
            MediaKind.IMAGE,
            (120, 90),
            None,
            None,
        ),
        ("still.gif", _gif(1, [100]), "image/gif", MediaKind.IMAGE, (60, 40), 1, None),
        ("anim.gif", _gif(3, [100, 200, 300]), "image/gif", MediaKind.GIF, (60, 40), 3, 0.6),
        # Delays of 0-10 ms are played at 100 ms by browsers.
        ("fast.gif", _gif(2, [0, 0]), "image/gif", MediaKind.GIF, (60, 40), 2, 0.2),
        # Stored 400x300 sideways; displayed upright as 300x400.
        (
            "portrait.jpg",
            _jpeg_with_orientation(6),
            "image/jpeg",
            MediaKind.IMAGE,
            (300, 400),
            None,
            None,
        ),
        (
            "upside.jpg",
            _jpeg_with_orientation(3),
            "image/jpeg",
            MediaKind.IMAGE,
            (400, 300),
            None,
            None,
        ),
    ],
)
def test_images_are_described_from_their_content(
    tmp_path: Path,
    name: str,
    data: bytes,
    mime: str,
    kind: MediaKind,
    size: tuple[int, int],
    frames: int | None,
    duration: float | None,
) -> None:
    info = probe(b.write(tmp_path, name, data))
    assert info == MediaInfo(
        mime_type=mime,
        kind=kind,
        size_bytes=len(data),
        width=size[0],
        height=size[1],
        duration_seconds=pytest.approx(duration) if duration else None,  # type: ignore[arg-type]
        frame_count=frames,
        sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.mark.parametrize(
    ("name", "image_format", "mime"),
    [
        ("photo.jpg", "PNG", "image/png"),
        ("photo.png", "JPEG", "image/jpeg"),
        ("clip.mp4", "GIF", "image/gif"),
        ("noextension", "WEBP", "image/webp"),
    ],
)
def test_the_file_name_is_never_trusted(
    tmp_path: Path, name: str, image_format: str, mime: str
) -> None:
    data = b.encode(Image.new("RGB", (20, 20), "green"), image_format)
    assert probe(b.write(tmp_path, name, data)).mime_type == mime


@pytest.mark.parametrize(
    ("image_format", "keep"),
    [("JPEG", 0.6), ("JPEG", 0.95), ("PNG", 0.5), ("PNG", 0.99), ("GIF", 0.5), ("WEBP", 0.5)],
)
def test_truncated_images_are_refused(tmp_path: Path, image_format: str, keep: float) -> None:
    mode = "P" if image_format == "GIF" else "RGB"
    image = b.noise(300, 200, "RGB").convert(mode)
    data = b.encode(image, image_format)
    path = b.write(tmp_path, "photo.jpg", data[: int(len(data) * keep)])
    with pytest.raises(ValidationError, match=r"photo\.jpg is truncated or corrupt") as err:
        probe(path)
    assert err.value.field == "file"


def test_a_png_with_a_damaged_checksum_is_refused(tmp_path: Path) -> None:
    data = bytearray(b.encode(b.noise(50, 50), "PNG"))
    data[40] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    with pytest.raises(ValidationError, match="truncated or corrupt"):
        probe(b.write(tmp_path, "x.png", bytes(data)))


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    path = b.write(tmp_path, "bomb.png", b.png_header_only(100_000, 100_000))
    with pytest.raises(ValidationError, match=r"bomb\.png is too large to open") as err:
        probe(path)
    assert "megapixels" in err.value.message


def test_the_pixel_limit_is_ours_to_set(tmp_path: Path) -> None:
    path = b.write(tmp_path, "big.png", b.encode(Image.new("L", (100, 100)), "PNG"))
    assert probe(path, max_pixels=10_000).width == 100
    with pytest.raises(ValidationError, match=r"\(100x100 pixels\)"):
        probe(path, max_pixels=9_999)


def test_messages_use_the_name_people_know(tmp_path: Path) -> None:
    path = b.write(tmp_path, "3f9a0c.bin", b"")
    with pytest.raises(ValidationError, match=r"^holiday\.jpg is empty"):
        probe(path, name="holiday.jpg")


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^photo\.jpg is empty \(0 bytes\); upload it again$"),
        (
            bytes(range(200, 256)),
            r"^photo\.jpg is not a JPEG, PNG, GIF, WebP, MP4, MOV or WebM file "
            r"\(it starts with c8 c9 ca cb cc cd ce cf '\.\.\.\.\.\.\.\.'\)",
        ),
        (b"hello world, not a photo", r"it starts with 68 65 6c 6c 6f 20 77 6f 'hello wo'"),
        (b"%PDF-1.7\n...", r"^photo\.jpg is a PDF document, not a JPEG"),
        (b"II*\x00" + bytes(60), "is a TIFF image"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "is an AVI video"),
        (b.heif(), r"HEIC/HEIF photo .* convert it to JPEG"),
        (b.heif(b"mif1", (b"mif1", b"heic")), "HEIC/HEIF photo"),
        (b.heif(b"avif", (b"avif", b"mif1")), "is an AVIF image"),
        (b.heif(b"mif1", (b"mif1", b"avif")), "is an AVIF image"),
        (b.mp4(brand=b"M4A ", audio_only=True), "is an audio file"),
        (b.mp4(audio_only=True), "has no video track"),
        (b.webm(doctype=b"matroska"), r"Matroska \(MKV\) video; convert it to MP4"),
    ],
)
def test_unusable_files_say_what_they_are(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        probe(b.write(tmp_path, "photo.jpg", data))
    assert err.value.field == "file"


def test_a_missing_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot be read"):
        probe(tmp_path / "gone.jpg")


# --------------------------------------------------------------------------- MP4 / MOV

_MOOV_LAST = b.mp4(moov_last=True)


@pytest.mark.parametrize(
    ("options", "mime", "size", "seconds"),
    [
        ({}, "video/mp4", (1920, 1080), 12.5),
        ({"moov_last": True}, "video/mp4", (1920, 1080), 12.5),
        ({"large_mdat": True, "moov_last": True}, "video/mp4", (1920, 1080), 12.5),
        ({"version": 1}, "video/mp4", (1920, 1080), 12.5),
        ({"brand": b"qt  ", "compatible": (b"qt  ",)}, "video/quicktime", (1920, 1080), 12.5),
        ({"rotate": True}, "video/mp4", (1080, 1920), 12.5),
        ({"movie_duration": False, "seconds": 3.0}, "video/mp4", (1920, 1080), 3.0),
        ({"width": 720, "height": 1280, "seconds": 59.94}, "video/mp4", (720, 1280), 59.94),
    ],
)
def test_mp4_and_mov_metadata_is_read_from_the_boxes(
    tmp_path: Path,
    options: dict[str, object],
    mime: str,
    size: tuple[int, int],
    seconds: float,
) -> None:
    data = b.mp4(**options)  # type: ignore[arg-type]
    info = probe(b.write(tmp_path, "clip.bin", data))
    assert (info.mime_type, info.kind, (info.width, info.height)) == (mime, MediaKind.VIDEO, size)
    assert info.duration_seconds == pytest.approx(seconds)
    assert (info.size_bytes, info.frame_count) == (len(data), None)


def test_a_video_is_read_without_loading_its_media_data(tmp_path: Path) -> None:
    # 64 MB of mdat before the moov: only the box headers are read to find it.
    data = b.mp4(moov_last=True, mdat_bytes=64 * 1024 * 1024)
    assert probe(b.write(tmp_path, "big.mp4", data)).duration_seconds == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b.mp4()[:-100], "truncated or corrupt"),  # mdat cut short
        (b.mp4(moov_last=True)[:-50], "truncated or corrupt"),  # moov cut short
        (_MOOV_LAST[: _MOOV_LAST.index(b"moov") - 4], "no movie header"),  # never arrived
        (b.mp4(include_mdat=False), "contains no video data"),
        (b.box(b"ftyp", b"isom" + bytes(4)) + b"\x00\x00\x00\x04moov", "truncated or corrupt"),
        (b.box(b"ftyp", b"is"), "truncated or corrupt"),
    ],
)
def test_damaged_videos_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        probe(b.write(tmp_path, "clip.mp4", data))


# --------------------------------------------------------------------------- WebM


@pytest.mark.parametrize(
    ("options", "size", "seconds"),
    [
        ({}, (640, 360), 5.0),
        ({"live": True, "seconds": None}, (640, 360), None),  # MediaRecorder output
        ({"width": 1080, "height": 1920, "seconds": 30.25}, (1080, 1920), 30.25),
    ],
)
def test_webm_metadata_is_read_from_info_and_tracks(
    tmp_path: Path, options: dict[str, object], size: tuple[int, int], seconds: float | None
) -> None:
    info = probe(b.write(tmp_path, "clip.webm", b.webm(**options)))  # type: ignore[arg-type]
    assert (info.mime_type, info.kind, (info.width, info.height)) == (
        "video/webm",
        MediaKind.VIDEO,
        size,
    )
    assert info.duration_seconds == (pytest.approx(seconds) if seconds else None)


def test_a_truncated_webm_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="WebM video but its structure is broken"):
        probe(b.write(tmp_path, "clip.webm", b.webm()[:-30]))


# --------------------------------------------------------------------------- fuzzing

_VALID = {
    "jpeg": b.encode(b.noise(40, 30), "JPEG"),
    "png": b.encode(b.noise(40, 30), "PNG"),
    "gif": _gif(3, [50, 50, 50]),
    "webp": b.encode(b.noise(40, 30), "WEBP"),
    "mp4": b.mp4(mdat_bytes=64),
    "mov": b.mp4(mdat_bytes=64, moov_last=True, large_mdat=True, version=1),
    "webm": b.webm(),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(_VALID)),
    seed=st.integers(0, 2**32),
    flips=st.integers(1, 8),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_damaged_files_only_ever_raise_validation_error(
    kind: str, seed: int, flips: int, cut: float | None
) -> None:
    """Whatever the damage, the caller gets MediaInfo or ValidationError, nothing else."""
    rng = random.Random(seed)
    data = bytearray(_VALID[kind])
    for _ in range(flips):
        data[rng.randrange(len(data))] = rng.randrange(256)
    if cut is not None:
        del data[int(len(data) * cut) :]
    with tempfile.TemporaryDirectory() as directory:
        path = b.write(Path(directory), "fuzz.bin", bytes(data))
        info: MediaInfo | ValidationError
        try:
            info = probe(path)
        except ValidationError as exc:
            info = exc
    if isinstance(info, ValidationError):
        assert info.message.startswith("fuzz.bin ")
        assert info.field == "file"
    else:
        assert info.size_bytes == len(data)
        assert (info.width or 0) > 0
        assert (info.height or 0) > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_only_ever_raise_validation_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = b.write(Path(directory), "x", data)
        with contextlib.suppress(ValidationError):
            probe(path)
