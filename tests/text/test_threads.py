# SPDX-License-Identifier: AGPL-3.0-or-later
"""Splitting long text into a thread: chosen cases first, then properties over random text."""

from __future__ import annotations

import pytest
import regex
from hypothesis import event, given, settings
from hypothesis import strategies as st

from socialdesk.connectors.base import TextCounting, TextRules
from socialdesk.errors import ValidationError
from socialdesk.text import extract_urls, measure, split_into_thread


def rules(max_length: int, counting: TextCounting = TextCounting.CODE_POINTS) -> TextRules:
    return TextRules(max_length=max_length, counting=counting, source="test", checked="2026-11-23")


X = rules(280, TextCounting.X_WEIGHTED)
BLUESKY = rules(300, TextCounting.GRAPHEMES)
COUNTER = regex.compile(r" (\d+)/(\d+)\Z")


def test_text_that_fits_comes_back_unchanged() -> None:
    text = "  Launch day!\n"
    assert split_into_thread(text, X) == [text]
    assert split_into_thread(text, X, numbering=True) == [text]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t"])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        split_into_thread(text, X)
    assert raised.value.field == "text"


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    first = "First paragraph. " * 8
    second = "Second paragraph. " * 8
    parts = split_into_thread(f"{first}\n\n{second}", rules(200))
    assert parts == [first.strip(), second.strip()]


def test_sentences_before_words() -> None:
    text = "A sentence that fills half a post. " + "word " * 30
    parts = split_into_thread(text, rules(60))
    assert parts[0] == "A sentence that fills half a post."


def test_a_sentence_end_too_early_is_passed_over() -> None:
    # Cutting after "Hi." would leave a nearly empty post: fill the part with words instead.
    text = "Hi. " + "lots of words " * 20
    parts = split_into_thread(text, rules(100))
    assert parts[0].startswith("Hi. lots of words")
    assert len(parts[0]) > 50


def test_links_are_never_cut() -> None:
    url = "https://example.com/a/rather/long/path/to/a/page?with=query&and=more"
    text = ("word " * 50) + url + (" word" * 50)
    for counting in TextCounting:
        for part in split_into_thread(text, rules(90, counting)):
            assert url in part or "example.com" not in part


def test_a_long_word_is_cut_between_graphemes() -> None:
    word = "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 10 + "e\u0301" * 10
    parts = split_into_thread(word, rules(9, TextCounting.CODE_POINTS))
    assert "".join(parts) == word
    assert all(len(part) <= 9 for part in parts)
    assert parts[0] == "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points; 2 won't fit


def test_chinese_and_japanese_are_cut_after_a_full_stop() -> None:
    text = "日本語の文章です。" * 40
    parts = split_into_thread(text, X)
    assert all(part.endswith("。") for part in parts)
    assert "".join(parts) == text


def test_numbering_is_counted_in_the_length() -> None:
    text = "word " * 200
    parts = split_into_thread(text, rules(50), numbering=True)
    total = len(parts)
    assert total > 9  # two-digit counters
    for index, part in enumerate(parts, start=1):
        assert part.endswith(f" {index}/{total}")
        assert len(part) <= 50


def test_a_link_longer_than_a_post_is_refused() -> None:
    with pytest.raises(ValidationError, match="longer than one post"):
        split_into_thread("see https://example.com/" + "a" * 400, BLUESKY)


def test_a_limit_too_small_for_the_counter_is_refused() -> None:
    with pytest.raises(ValidationError):
        split_into_thread("abc def ghi", rules(4), numbering=True)


# ------------------------------------------------------------------ properties

WORDS = st.sampled_from(
    [
        "launch",
        "Spring",
        "sale!",
        "today.",
        "e\u0301te\u0301",
        "日本語",
        "文章です。",
        "안녕하세요",
        "\u0915\u094d\u0937\u093f",
        "नमस्ते",
        "مرحبا",
        "\U0001f680",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        "\U0001f1eb\U0001f1f7",
        "\U0001f44d\U0001f3fd",
        "#launch",
        "@alice",
        "@bob@example.social",
        "example.com",
        "https://x.co/a",
        "(https://a.io/b)",
        "averyveryverylongwordwithoutanyspaces",
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\r\n", "  ", "\t", ". ", ", "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    count = draw(st.integers(min_value=1, max_value=150))
    words = draw(st.lists(WORDS, min_size=count, max_size=count))
    separators = draw(st.lists(SEPARATORS, min_size=len(words), max_size=len(words)))
    return "".join(word + sep for word, sep in zip(words, separators, strict=True)).strip()


LIMITS = st.integers(min_value=40, max_value=200)
COUNTINGS = st.sampled_from(list(TextCounting))


def cut_positions(text: str, parts: list[str]) -> list[tuple[int, int]]:
    """Where each part lies in the original text."""
    spans = []
    cursor = 0
    for part in parts:
        start = text.index(part, cursor)
        spans.append((start, start + len(part)))
        cursor = start + len(part)
    return spans


def without_counter(part: str) -> str:
    return COUNTER.sub("", part)


@settings(max_examples=150, deadline=None)
@given(text=texts(), limit=LIMITS, counting=COUNTINGS, numbering=st.booleans())
def test_every_part_fits_and_nothing_is_lost(
    text: str, limit: int, counting: TextCounting, numbering: bool
) -> None:
    the_rules = rules(limit, counting)
    parts = split_into_thread(text, the_rules, numbering=numbering)
    event("one part" if len(parts) == 1 else "several parts")

    assert all(measure(part, the_rules) <= limit for part in parts)
    assert all(part and part == part.strip() for part in parts) or parts == [text]
    bodies = [without_counter(part) for part in parts] if len(parts) > 1 else parts
    assert "".join("".join(b.split()) for b in bodies) == "".join(text.split())

    if numbering and len(parts) > 1:
        counters = [COUNTER.search(part) for part in parts]
        assert [(int(c[1]), int(c[2])) for c in counters if c] == [
            (index, len(parts)) for index in range(1, len(parts) + 1)
        ]


@settings(max_examples=150, deadline=None)
@given(text=texts(), limit=LIMITS, counting=COUNTINGS)
def test_cuts_fall_between_graphemes_and_outside_links(
    text: str, limit: int, counting: TextCounting
) -> None:
    parts = split_into_thread(text, rules(limit, counting))
    boundaries = {match.start() for match in regex.finditer(r"\X", text)} | {len(text)}
    links = [(url.start, url.end) for url in extract_urls(text)]
    for start, end in cut_positions(text, parts):
        assert start in boundaries
        assert end in boundaries
        for low, high in links:
            assert not low < start < high
            assert not low < end < high
