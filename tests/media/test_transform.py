# SPDX-License-Identifier: AGPL-3.0-or-later
"""fit_image(): oversize images come out fitting, upright, without metadata."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageCms, ImageDraw

from socialdesk.connectors.base import MediaRules
from socialdesk.errors import ValidationError
from socialdesk.media import MIN_LONG_SIDE, fit_image, probe

from . import builders as b

BLUESKY_LIKE = MediaRules(
    max_items=4,
    image_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
    max_image_bytes=300_000,
    max_image_side=1000,
)
JPEG_ONLY = replace(BLUESKY_LIKE, image_types=frozenset({"image/jpeg"}))
PNG_ONLY = replace(BLUESKY_LIKE, image_types=frozenset({"image/png"}))

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _photo_with_metadata(orientation: int = 1) -> bytes:
    """A 2400x1200 noisy photo, red on the left half, with GPS and camera EXIF."""
    image = b.noise(2400, 1200)
    ImageDraw.Draw(image).rectangle((0, 0, 1199, 1199), fill=(255, 0, 0))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"  # Make
    exif[GPS_IFD] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    return b.encode(image, "JPEG", quality=95, exif=exif.tobytes(), comment=b"secret note")


def _sticker(size: int = 2000) -> Image.Image:
    """Transparent background, an opaque noisy disc: PNG with real alpha, hard to compress."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    disc = b.noise(size, size).convert("RGBA")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((size // 4, size // 4, 3 * size // 4, 3 * size // 4), fill=255)
    image.paste(disc, mask=mask)
    return image


def _fits(path: Path, rules: MediaRules) -> None:
    info = probe(path)
    assert info.mime_type in rules.image_types
    assert rules.max_image_bytes is None or info.size_bytes <= rules.max_image_bytes
    assert rules.max_image_side is None or max(info.width or 0, info.height or 0) <= (
        rules.max_image_side
    )


def test_an_image_that_fits_is_returned_as_it_is(tmp_path: Path) -> None:
    source = b.write(tmp_path, "small.jpg", b.encode(Image.new("RGB", (800, 600)), "JPEG"))
    out = tmp_path / "out"
    assert fit_image(source, BLUESKY_LIKE, dest_dir=out) == source
    assert not out.exists()


def test_an_oversize_photo_is_shrunk_until_it_fits(tmp_path: Path) -> None:
    source = b.write(tmp_path, "big.jpg", _photo_with_metadata())
    assert probe(source).size_bytes > 1_000_000
    result = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "out")
    assert result != source
    assert result.parent == tmp_path / "out"
    assert result.suffix == ".jpg"
    _fits(result, BLUESKY_LIKE)
    with Image.open(result) as im:
        assert im.size == (1000, 500)  # quality gave way before resolution did


def test_resolution_gives_way_when_quality_alone_is_not_enough(tmp_path: Path) -> None:
    source = b.write(tmp_path, "big.jpg", _photo_with_metadata())
    rules = replace(BLUESKY_LIKE, max_image_bytes=25_000)
    result = fit_image(source, rules, dest_dir=tmp_path / "out")
    _fits(result, rules)
    with Image.open(result) as im:
        assert MIN_LONG_SIDE <= max(im.size) < 1000
        assert im.size[0] == pytest.approx(2 * im.size[1], abs=1)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Orientation 6: the stored image is turned a quarter turn clockwise to display, so
    # the red left half of the stored pixels ends up on top.
    source = b.write(tmp_path, "sideways.jpg", _photo_with_metadata(orientation=6))
    result = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "out")
    with Image.open(result) as im:
        assert im.size == (500, 1000)
        assert ORIENTATION not in im.getexif()
        top, bottom = im.convert("RGB").getpixel((250, 100)), im.convert("RGB").getpixel((250, 900))
    assert isinstance(top, tuple)
    assert isinstance(bottom, tuple)
    assert top[0] > 200
    assert top[1] < 60
    assert top[2] < 60
    assert not (bottom[0] > 200 and bottom[1] < 60 and bottom[2] < 60)


def test_gps_and_every_other_piece_of_metadata_are_stripped(tmp_path: Path) -> None:
    source = b.write(tmp_path, "home.jpg", _photo_with_metadata())
    with Image.open(source) as im:
        assert im.getexif().get_ifd(GPS_IFD)  # the fixture really carries a position
    result = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "out")
    data = result.read_bytes()
    assert b"Exif\x00\x00" not in data
    assert b"PhoneMaker" not in data
    assert b"secret note" not in data
    with Image.open(result) as im:
        assert not im.getexif()
        assert "exif" not in im.info
        assert "comment" not in im.info


def test_the_colour_profile_is_kept(tmp_path: Path) -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = b.encode(b.noise(1500, 1500), "JPEG", quality=95, icc_profile=profile)
    result = fit_image(b.write(tmp_path, "p.jpg", data), BLUESKY_LIKE, dest_dir=tmp_path / "o")
    with Image.open(result) as im:
        assert im.info.get("icc_profile") == profile


def test_png_transparency_is_kept(tmp_path: Path) -> None:
    source = b.write(tmp_path, "sticker.png", b.encode(_sticker(), "PNG"))
    rules = replace(BLUESKY_LIKE, max_image_bytes=1_500_000)
    result = fit_image(source, rules, dest_dir=tmp_path / "out")
    assert result.suffix == ".png"
    _fits(result, rules)
    with Image.open(result) as im:
        assert im.mode == "RGBA"
        assert im.getpixel((0, 0))[3] == 0  # type: ignore[index]
        assert im.getpixel((500, 500))[3] == 255  # type: ignore[index]


def test_transparency_becomes_white_where_only_jpeg_is_accepted(tmp_path: Path) -> None:
    source = b.write(tmp_path, "sticker.png", b.encode(_sticker(), "PNG"))
    result = fit_image(source, JPEG_ONLY, dest_dir=tmp_path / "out")
    assert result.suffix == ".jpg"
    _fits(result, JPEG_ONLY)
    with Image.open(result) as im:
        assert min(im.getpixel((2, 2))) > 245  # type: ignore[arg-type]


def test_a_png_without_transparency_becomes_jpeg(tmp_path: Path) -> None:
    source = b.write(tmp_path, "screenshot.png", b.encode(b.noise(1600, 900, "RGBA"), "PNG"))
    with Image.open(source) as im:  # RGBA, but with noise alpha: make it fully opaque
        im.putalpha(255)
        source.write_bytes(b.encode(im, "PNG"))
    result = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "out")
    assert result.suffix == ".jpg"
    _fits(result, BLUESKY_LIKE)


def test_a_type_the_network_refuses_is_converted_even_when_small(tmp_path: Path) -> None:
    source = b.write(tmp_path, "p.webp", b.encode(Image.new("RGB", (200, 100), "blue"), "WEBP"))
    result = fit_image(source, JPEG_ONLY, dest_dir=tmp_path / "out")
    assert probe(result).mime_type == "image/jpeg"
    with Image.open(result) as im:
        assert im.size == (200, 100)


def test_a_png_only_network_gets_png(tmp_path: Path) -> None:
    source = b.write(tmp_path, "p.jpg", b.encode(b.noise(1200, 800), "JPEG"))
    rules = replace(PNG_ONLY, max_image_bytes=2_000_000)
    result = fit_image(source, rules, dest_dir=tmp_path / "out")
    assert result.suffix == ".png"
    _fits(result, rules)


def test_the_output_is_deterministic_and_reused(tmp_path: Path) -> None:
    source = b.write(tmp_path, "big.jpg", _photo_with_metadata())
    first = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "a")
    content = first.read_bytes()
    again = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "a")
    elsewhere = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "b")
    assert again == first
    assert elsewhere.name == first.name
    assert elsewhere.read_bytes() == content
    assert first.name.startswith(probe(source).sha256[:32])
    other_rules = fit_image(
        source, replace(BLUESKY_LIKE, max_image_side=900), dest_dir=tmp_path / "a"
    )
    assert other_rules != first
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [first.name, other_rules.name]
    )


def test_an_earlier_result_is_returned_without_work(tmp_path: Path) -> None:
    source = b.write(tmp_path, "big.jpg", _photo_with_metadata())
    first = fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "a")
    first.write_bytes(b"marker")  # if it were recomputed, this would be overwritten
    assert fit_image(source, BLUESKY_LIKE, dest_dir=tmp_path / "a").read_bytes() == b"marker"


@pytest.mark.parametrize(
    ("data", "rules", "message"),
    [
        (
            b.encode(b.noise(2000, 2000), "JPEG"),
            replace(BLUESKY_LIKE, max_image_bytes=500),
            r"cannot be made small enough for this network without shrinking it below 320",
        ),
        (
            b.mp4(),
            BLUESKY_LIKE,
            r"is a video; only images can be resized",
        ),
        (
            b"",
            BLUESKY_LIKE,
            r"is empty",
        ),
        (
            b.encode(b.noise(1000, 1000), "JPEG"),
            replace(BLUESKY_LIKE, image_types=frozenset({"image/webp"})),
            r"this network accepts neither JPEG nor PNG",
        ),
    ],
)
def test_what_cannot_fit_is_refused(
    tmp_path: Path, data: bytes, rules: MediaRules, message: str
) -> None:
    source = b.write(tmp_path, "input.jpg", data)
    with pytest.raises(ValidationError, match=message) as err:
        fit_image(source, rules, dest_dir=tmp_path / "out")
    assert err.value.field == "file"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_an_animated_gif_that_is_too_big_is_refused(tmp_path: Path) -> None:
    frames = [b.noise(400, 400, seed=i).convert("P") for i in range(4)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    source = b.write(tmp_path, "anim.gif", out.getvalue())
    rules = replace(BLUESKY_LIKE, image_types=frozenset({"image/gif", "image/jpeg"}))
    with pytest.raises(ValidationError, match="would lose the animation"):
        fit_image(source, rules, dest_dir=tmp_path / "out")


def test_an_animated_webp_is_not_flattened_to_its_first_frame(tmp_path: Path) -> None:
    frames = [b.noise(600, 600, seed=i) for i in range(3)]
    data = b.encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100)
    source = b.write(tmp_path, "anim.webp", data)
    with pytest.raises(ValidationError, match=r"anim\.webp is animated"):
        fit_image(source, JPEG_ONLY, dest_dir=tmp_path / "out")
