# SPDX-License-Identifier: AGPL-3.0-or-later
"""Properties every count must have, whatever the text (hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from socialdesk.connectors.base import TextCounting, TextRules
from socialdesk.text import (
    code_points,
    graphemes,
    mastodon,
    measure,
    utf8_bytes,
    utf16,
    x_weighted,
)

# Every code point but surrogates (a Python str may hold them; no post can).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=200)
PIECES = st.sampled_from(
    [
        "a",
        "Z",
        " ",
        "\n",
        "\r",
        "\u0301",
        "\u094d",
        "\u0915",
        "\u0937",
        "\u200d",
        "\ufe0f",
        "\ufe0e",
        "\U0001f468",
        "\U0001f469",
        "\U0001f3fd",
        "\U0001f1eb",
        "\U0001f1f7",
        "\u263a",
        "\u00a9",
        "1",
        "#",
        "\u20e3",
        "\u1100",
        "\u1161",
        "\u11a8",
        "日",
        "\u0627",
        "\ufeff",
    ]
)
# Text built to hit joins: ZWJ, modifiers, regional indicators, viramas, jamo.
TRICKY_TEXT = st.lists(PIECES, max_size=60).map("".join)
TEXT = st.one_of(ANY_TEXT, TRICKY_TEXT)
# Without "." no link can be found, without ":" or "@" Mastodon has nothing to replace.
PLAIN_TEXT = TEXT.filter(lambda t: not {".", ":", "@", "\uff20", "\u3002"} & set(t))


@settings(max_examples=300)
@given(a=TEXT, b=TEXT)
def test_code_units_add_up(a: str, b: str) -> None:
    assert code_points(a + b) == code_points(a) + code_points(b)
    assert utf16(a + b) == utf16(a) + utf16(b)
    assert utf8_bytes(a + b) == utf8_bytes(a) + utf8_bytes(b)


@settings(max_examples=300)
@given(text=TEXT)
def test_counts_are_ordered(text: str) -> None:
    assert graphemes(text) <= code_points(text) <= utf16(text) <= utf8_bytes(text)
    assert (graphemes(text) == 0) == (text == "")


@settings(max_examples=300)
@given(a=TEXT, b=TEXT)
def test_a_control_character_keeps_grapheme_counts_apart(a: str, b: str) -> None:
    # Grapheme clusters never reach across a control character (U+0000 here).
    assert graphemes(f"{a}\x00{b}") == graphemes(a) + 1 + graphemes(b)


@settings(max_examples=300)
@given(a=PLAIN_TEXT, b=PLAIN_TEXT)
def test_x_weights_add_up_across_a_space(a: str, b: str) -> None:
    # No emoji sequence, link or NFC composition reaches across a space... unless the text
    # after it starts with a combining mark, which a space can carry.
    if b and unicodedata.combining(unicodedata.normalize("NFC", b)[0]):
        return
    assert x_weighted(f"{a} {b}") == x_weighted(a) + 1 + x_weighted(b)


@settings(max_examples=300)
@given(text=PLAIN_TEXT)
def test_x_weight_bounds_without_links(text: str) -> None:
    normalized = unicodedata.normalize("NFC", text)
    assert x_weighted(text) <= 2 * code_points(normalized)
    assert x_weighted(text) >= (1 if text else 0)
    assert x_weighted(text) == x_weighted(normalized)


@settings(max_examples=300)
@given(text=PLAIN_TEXT)
def test_mastodon_without_links_or_mentions_is_at_least_graphemes(text: str) -> None:
    # Ruby's older rules may split a conjunct again, never below one code point each.
    assert graphemes(text) <= mastodon(text) <= code_points(text)


@settings(max_examples=100)
@given(text=TEXT, counting=st.sampled_from(list(TextCounting)))
def test_measure_is_the_chosen_count(text: str, counting: TextCounting) -> None:
    rules = TextRules(max_length=1, counting=counting, source="test", checked="2026-11-23")
    chosen = {
        TextCounting.GRAPHEMES: graphemes,
        TextCounting.X_WEIGHTED: x_weighted,
        TextCounting.MASTODON: mastodon,
        TextCounting.CODE_POINTS: code_points,
        TextCounting.UTF16: utf16,
    }[counting]
    assert measure(text, rules) == chosen(text)
