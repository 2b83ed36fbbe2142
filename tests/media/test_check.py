# SPDX-License-Identifier: AGPL-3.0-or-later
"""check_against() and check_items(): one rule per case, each problem in words."""

from __future__ import annotations

from dataclasses import replace

import pytest

from socialdesk.connectors.base import MediaRules
from socialdesk.media import MediaInfo, MediaKind, check_against, check_items

RULES = MediaRules(
    max_items=4,
    image_types=frozenset({"image/jpeg", "image/png", "image/gif"}),
    video_types=frozenset({"video/mp4"}),
    max_image_bytes=1_000_000,
    max_video_bytes=100_000_000,
    max_video_seconds=140,
    min_video_seconds=3,
    max_image_side=2000,
    min_aspect_ratio=0.8,
    max_aspect_ratio=1.91,
    max_alt_text=1000,
)

PHOTO = MediaInfo(
    mime_type="image/jpeg",
    kind=MediaKind.IMAGE,
    size_bytes=500_000,
    width=1080,
    height=1080,
    duration_seconds=None,
    frame_count=None,
    sha256="0" * 64,
)
VIDEO = replace(
    PHOTO,
    mime_type="video/mp4",
    kind=MediaKind.VIDEO,
    size_bytes=20_000_000,
    width=1920,
    height=1080,
    duration_seconds=30.0,
)
GIF = replace(PHOTO, mime_type="image/gif", kind=MediaKind.GIF, frame_count=12)


@pytest.mark.parametrize(
    ("info", "alt_text", "rules", "expected"),
    [
        pytest.param(PHOTO, "", RULES, [], id="photo-fits"),
        pytest.param(VIDEO, "", RULES, [], id="video-fits"),
        pytest.param(
            replace(PHOTO, mime_type="image/webp"),
            "",
            RULES,
            ["a WebP image cannot be posted here; this network accepts GIF, JPEG, MP4 and PNG"],
            id="type-not-allowed",
        ),
        pytest.param(
            replace(VIDEO, mime_type="video/quicktime"),
            "",
            RULES,
            ["an MOV video cannot be posted here; this network accepts GIF, JPEG, MP4 and PNG"],
            id="video-type-not-allowed",
        ),
        pytest.param(
            replace(PHOTO, size_bytes=2_400_000),
            "",
            RULES,
            [
                "the image is 2.4 MB; this network accepts at most 1.0 MB"
                " — compress it or scale it down"
            ],
            id="image-too-big",
        ),
        pytest.param(
            replace(PHOTO, size_bytes=1_000_001),
            "",
            RULES,
            [
                "the image is 1,000,001 bytes; this network accepts at most 1,000,000 bytes"
                " — compress it or scale it down"
            ],
            id="just-over-shows-bytes",
        ),
        pytest.param(
            replace(VIDEO, size_bytes=150_000_000),
            "",
            RULES,
            [
                "the video is 150.0 MB; this network accepts at most 100.0 MB"
                " — shorten or compress it"
            ],
            id="video-too-big",
        ),
        pytest.param(
            replace(PHOTO, size_bytes=2_000_000),
            "",
            replace(RULES, max_image_bytes=None),
            [],
            id="no-byte-limit",
        ),
        pytest.param(
            replace(PHOTO, width=4000, height=4000),
            "",
            RULES,
            [
                "the image is 4000x4000 pixels; this network accepts at most 2000 pixels on"
                " the longest side — scale it down"
            ],
            id="image-side",
        ),
        pytest.param(
            replace(VIDEO, duration_seconds=200.0),
            "",
            RULES,
            ["the video is 3 min 20 s long; this network accepts at most 2 min 20 s — trim it"],
            id="video-too-long",
        ),
        pytest.param(
            replace(VIDEO, duration_seconds=1.5),
            "",
            RULES,
            ["the video is 1.5 s long; this network needs at least 3 s"],
            id="video-too-short",
        ),
        pytest.param(
            replace(VIDEO, duration_seconds=None),
            "",
            RULES,
            ["the length of the video could not be read; export it again as a standard MP4"],
            id="video-length-unknown",
        ),
        pytest.param(
            replace(VIDEO, duration_seconds=None),
            "",
            replace(RULES, max_video_seconds=None, min_video_seconds=None),
            [],
            id="video-length-unknown-but-unlimited",
        ),
        pytest.param(
            replace(PHOTO, width=1080, height=2000),
            "",
            RULES,
            [
                "the image is 1080x2000 (1:1.85); this network accepts shapes from 4:5 to"
                " 1.91:1 — crop to 4:5 (1080x1350)"
            ],
            id="too-tall",
        ),
        pytest.param(
            replace(VIDEO, width=3000, height=1000),
            "",
            RULES,
            [
                "the video is 3000x1000 (3:1); this network accepts shapes from 4:5 to"
                " 1.91:1 — crop to 1.91:1 (1910x1000)"
            ],
            id="too-wide",
        ),
        pytest.param(
            replace(PHOTO, width=1080, height=1350), "", RULES, [], id="exactly-4:5-is-fine"
        ),
        pytest.param(
            replace(PHOTO, width=1080, height=1920),
            "",
            replace(RULES, max_aspect_ratio=None, min_aspect_ratio=1.0),
            [
                "the image is 1080x1920 (9:16); this network accepts shapes 1:1 or wider"
                " — crop to 1:1 (1080x1080)"
            ],
            id="only-a-minimum",
        ),
        pytest.param(
            replace(PHOTO, width=None, height=None), "", RULES, [], id="unknown-size-skipped"
        ),
        pytest.param(
            PHOTO,
            "x" * 1001,
            RULES,
            [
                "the description (alt text) is 1001 characters; this network accepts at most"
                " 1000 — shorten it"
            ],
            id="alt-text-too-long",
        ),
        pytest.param(PHOTO, "é" * 1000, RULES, [], id="alt-text-at-limit"),
        pytest.param(
            replace(GIF, size_bytes=3_000_000),
            "",
            RULES,
            [
                "the animated GIF is 3.0 MB; this network accepts at most 1.0 MB"
                " — compress it or scale it down"
            ],
            id="gif-uses-image-limits",
        ),
    ],
)
def test_check_against(
    info: MediaInfo, alt_text: str, rules: MediaRules, expected: list[str]
) -> None:
    assert check_against(info, rules, alt_text=alt_text) == expected


def test_every_problem_is_reported_at_once() -> None:
    bad = replace(PHOTO, mime_type="image/webp", size_bytes=5_000_000, width=6000, height=1000)
    problems = check_against(bad, RULES, alt_text="y" * 2000)
    assert len(problems) == 5


def test_a_plain_string_kind_from_the_database_is_understood() -> None:
    row = replace(VIDEO, kind="video", duration_seconds=500.0)
    assert row.kind is MediaKind.VIDEO
    assert check_against(row, RULES, alt_text="")[0].startswith("the video is 8 min 20 s")
    with pytest.raises(ValueError, match="'movie' is not a valid MediaKind"):
        replace(VIDEO, kind="movie")


@pytest.mark.parametrize(
    ("items", "rules", "expected"),
    [
        pytest.param([PHOTO] * 4, RULES, [], id="four-photos"),
        pytest.param([], RULES, [], id="none"),
        pytest.param(
            [PHOTO] * 5,
            RULES,
            ["the post has 5 files; this network accepts at most 4 — remove 1"],
            id="too-many",
        ),
        pytest.param(
            [VIDEO, VIDEO],
            RULES,
            ["the post has 2 videos or animated GIFs; this network accepts at most 1 per post"],
            id="two-videos",
        ),
        pytest.param(
            [VIDEO, GIF],
            replace(RULES, mix_images_and_video=True),
            ["the post has 2 videos or animated GIFs; this network accepts at most 1 per post"],
            id="gif-counts-as-video",
        ),
        pytest.param(
            [PHOTO, VIDEO],
            RULES,
            [
                "this network does not accept images together with a video or animated GIF"
                " in one post — split them into separate posts"
            ],
            id="no-mix",
        ),
        pytest.param(
            [PHOTO, VIDEO], replace(RULES, mix_images_and_video=True), [], id="mix-allowed"
        ),
        pytest.param(
            [PHOTO, GIF],
            RULES,
            [
                "this network does not accept images together with a video or animated GIF"
                " in one post — split them into separate posts"
            ],
            id="gif-with-images",
        ),
        pytest.param(
            [VIDEO] * 3, replace(RULES, max_videos=4, mix_images_and_video=True), [], id="videos"
        ),
    ],
)
def test_check_items(items: list[MediaInfo], rules: MediaRules, expected: list[str]) -> None:
    assert check_items(items, rules) == expected
