# SPDX-License-Identifier: AGPL-3.0-or-later
"""Hand-picked cases for each way of counting, with why each one is interesting.

The X and Bluesky values were read from npm ``twitter-text`` 3.1.0 and ``@atproto/api``
(the same libraries the corpus comes from); the Mastodon values follow its
``StatusLengthValidator``.
"""

from __future__ import annotations

import pytest

from socialdesk.connectors.base import TextCounting, TextRules
from socialdesk.text import (
    code_points,
    graphemes,
    mastodon,
    measure,
    utf8_bytes,
    utf16,
    x_is_valid,
    x_weighted,
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
TECHNOLOGIST = "\U0001f9d1\u200d\U0001f4bb"  # Emoji 12.1: newer than twitter-text's parser


@pytest.mark.parametrize(
    ("text", "x", "bluesky"),
    [
        ("hello", 5, 5),
        ("日本語", 6, 3),  # CJK weighs 2 on X
        ("\u00e9", 1, 1),
        ("e\u0301", 1, 1),  # X normalises to NFC first
        ("\U0001f600", 2, 1),
        ("\U0001f44d\U0001f3fd", 2, 1),  # skin tone
        (FAMILY, 2, 1),  # ZWJ sequence of 7 code points
        ("\U0001f1eb\U0001f1f7", 2, 1),  # flag
        ("1\ufe0f\u20e3", 2, 1),  # keycap
        ("\u00a9", 1, 1),  # © alone is not an emoji to twitter-text (and weighs 1)...
        ("\u00a9\ufe0f", 2, 1),  # ...with VS16 it is
        ("\u263a", 2, 1),  # ☺ is an emoji...
        ("\u263a\ufe0e", 4, 1),  # ...unless text style follows; then ☺ and U+FE0E weigh 2 each
        ("\u267e\ufe0f", 4, 1),  # twitter-text's parser knows ♾ but not ♾️: 2 + 2
        (TECHNOLOGIST, 5, 1),  # newer than the parser: 2 + ZWJ 1 + 2
        ("\u2764\ufe0f\u200d\U0001f525", 5, 1),  # heart on fire, likewise
        ("https://example.com/a/very/long/path/indeed", 23, 43),
        ("example.com", 23, 11),  # a link without a scheme
        ("see example.com.", 28, 16),  # the final period is not part of it
        ("(https://en.wikipedia.org/wiki/Foo_(bar))", 25, 41),  # balanced parens stay
        ("foo.bar", 23, 7),  # .bar is a TLD
        ("file.txt", 8, 8),  # .txt is not
        ("\u0915\u094d\u0937\u093f", 4, 1),  # क्षि: one grapheme since Unicode 15.1
        ("\u0928\u092e\u0938\u094d\u0924\u0947", 6, 3),  # नमस्ते
        ("\u0b95\u0bcd\u0bb7", 3, 2),  # க்ஷ: Tamil does not join conjuncts
        ("\u1100\u1161\u11a8", 2, 1),  # Hangul jamo compose to 각 under NFC
        ("\r\n", 2, 1),
        ("\u2010\u2032", 2, 2),  # in X's light ranges
        ("\u0fff\u1000\u1100", 4, 3),  # U+1100 is the first heavy code point
        ("\u2126", 1, 1),  # OHM SIGN normalises to Ω
        ("@alice@mastodon.social", 22, 22),
    ],
)
def test_x_and_bluesky(text: str, x: int, bluesky: int) -> None:
    assert x_weighted(text) == x
    assert graphemes(text) == bluesky


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("", False),
        (" ", True),
        ("x" * 280, True),
        ("x" * 281, False),
        ("日" * 140, True),
        ("日" * 141, False),
        ("\ufeffhi", False),  # a byte-order mark is refused
        ("a\ufffeb", False),
        ("x" * 256 + " https://example.com/" + "y" * 100, True),  # 256 + 1 + 23 = 280
    ],
)
def test_x_validity(text: str, valid: bool) -> None:
    assert x_is_valid(text) is valid


def test_a_link_counts_23_wherever_it_pushes_the_total() -> None:
    assert x_weighted("x" * 256 + " https://example.com") == 280
    assert x_weighted("x" * 257 + " https://example.com") == 281


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("https://example.com/a/very/long/path/that/goes/on?and=on", 23),
        ("see https://example.com/パス/日本.", 28),  # Mastodon takes any letter in a path
        ("example.com/no/scheme", 21),  # only links with a scheme are shortened
        ("gemini://example.com/page", 23),
        ("@alice@mastodon.social", 6),  # counted as @alice
        ("@alice", 6),
        ("mail bob@example.com", 20),  # an address is not a mention
        ("https://example.com/@bob", 23),  # a mention inside a link stays in the link
        (FAMILY, 1),  # grapheme clusters, not code points
        ("e\u0301", 1),
        # Ruby (Unicode 15.0) splits Indic conjuncts; we count them that way, never lower.
        ("\u0915\u094d\u0937\u093f", 2),
    ],
)
def test_mastodon(text: str, expected: int) -> None:
    assert mastodon(text) == expected


def test_mastodon_counts_the_content_warning_too() -> None:
    assert mastodon("body", spoiler_text="CW: spoilers") == 16


@pytest.mark.parametrize(
    ("text", "points", "units", "octets"),
    [
        ("", 0, 0, 0),
        ("abc", 3, 3, 3),
        ("\u00e9", 1, 1, 2),
        ("日本", 2, 2, 6),
        ("\U0001f600", 1, 2, 4),
        (FAMILY, 7, 11, 25),
    ],
)
def test_plain_counts(text: str, points: int, units: int, octets: int) -> None:
    assert code_points(text) == points
    assert utf16(text) == units
    assert utf8_bytes(text) == octets


@pytest.mark.parametrize(
    ("counting", "expected"),
    [
        (TextCounting.GRAPHEMES, 1 + 1 + 1 + 1 + 31),
        (TextCounting.X_WEIGHTED, 2 + 1 + 2 + 1 + 23),
        (TextCounting.MASTODON, 1 + 1 + 1 + 1 + 23),
        (TextCounting.CODE_POINTS, 7 + 1 + 1 + 1 + 31),
        (TextCounting.UTF16, 11 + 1 + 2 + 1 + 31),
    ],
)
def test_measure_dispatches_on_the_rules(counting: TextCounting, expected: int) -> None:
    text = f"{FAMILY} \U0001f600 https://example.com/launch-2026"
    rules = TextRules(max_length=500, counting=counting, source="test", checked="2026-11-23")
    assert measure(text, rules) == expected
