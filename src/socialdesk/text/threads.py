# SPDX-License-Identifier: AGPL-3.0-or-later
"""Split a long text into a thread of posts that each fit a network's limit.

People write one piece and publish it as a thread on X, Bluesky, Mastodon and Threads.
Each part is measured exactly as the network counts it (``measure``), counters included,
so a part we produce is never refused for its length. Where to cut follows what a careful
writer would do: at the end of a paragraph, else of a sentence, else between words, and
only inside a word that is longer than a whole post. Links and grapheme clusters (emoji,
letters with accents, Indic conjuncts) are never cut.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

import regex

from socialdesk.connectors.base import TextRules
from socialdesk.errors import ValidationError
from socialdesk.text.counting import mastodon_url_spans, measure
from socialdesk.text.entities import extract_urls

__all__ = ["split_into_thread"]

#: Whether the part from the current start to this position fits (counter included).
_Fits: TypeAlias = Callable[[int], bool]


class _Level(enum.IntEnum):
    """How good a place to cut is; higher is better."""

    WORD = 1
    SENTENCE = 2
    PARAGRAPH = 3


@dataclass(frozen=True, slots=True)
class _Cut:
    """A place to cut: the part before ends at ``end``, the next part starts at ``resume``.

    The characters between (the whitespace at the cut) belong to neither part.
    """

    end: int
    resume: int
    level: _Level


_GRAPHEME: Final = regex.compile(r"\X")
_WHITESPACE: Final = regex.compile(r"\s+")
_SENTENCE_END: Final = regex.compile(r"[.!?\u2026\u203c\u2049][\"'\)\]\u00bb\u201d\u2019]*\Z")
# Chinese and Japanese put no space after a full stop: cut right after it.
_CJK_SENTENCE_END: Final = regex.compile(r"[\u3002\uff01\uff1f][\u300d\u300f\uff09]*(?=\S)")
#: How far back from a space a sentence end (with its closing quotes) is looked for.
_LOOKBACK: Final = 16
#: A better cut is only taken while the part is at least this full (else many tiny posts).
_MIN_FILL: Final = 0.5


def split_into_thread(text: str, rules: TextRules, *, numbering: bool = False) -> list[str]:
    """Parts of ``text`` that each measure at most ``rules.max_length``.

    Text that fits comes back unchanged as the only part. Otherwise the parts are
    stripped of the whitespace where they were cut; with ``numbering`` each ends with a
    `` 1/3`` style counter, counted in its length. Raises ``ValidationError`` for empty
    text, or when one link (or one grapheme) alone is longer than the limit.
    """
    if not text.strip():
        raise ValidationError("There is no text to split into a thread.", field="text")
    if measure(text, rules) <= rules.max_length:
        return [text]
    body = text.strip()
    if measure(body, rules) <= rules.max_length:
        return [body]  # only the whitespace around it was too much
    if not numbering:
        return _split(body, rules, total=None)
    # A counter's length depends on how many digits the total has; grow until it settles.
    digits = 1
    while True:
        parts = _split(body, rules, total=10**digits - 1)
        if len(str(len(parts))) <= digits:
            total = len(parts)
            return [f"{part} {index}/{total}" for index, part in enumerate(parts, start=1)]
        digits += 1


def _split(body: str, rules: TextRules, *, total: int | None) -> list[str]:
    boundaries = {match.start() for match in _GRAPHEME.finditer(body)} | {len(body)}
    protected = _protected_spans(body)
    cuts = _cuts(body, boundaries)
    limit = rules.max_length

    parts: list[str] = []
    start = 0
    while start < len(body):
        suffix = "" if total is None else f" {len(parts) + 1}/{total}"

        def length(end: int, start: int = start, suffix: str = suffix) -> int:
            return measure(body[start:end] + suffix, rules)

        def fits(end: int) -> bool:
            return length(end) <= limit

        if fits(len(body)):
            parts.append(body[start:])
            break
        ahead = [cut for cut in cuts if cut.end > start]
        fitting = _longest_fitting(ahead, fits)
        if fitting:
            cut = _preferred(fitting, length, limit)
            parts.append(body[start : cut.end])
            start = cut.resume
            continue
        # Not even the first word fits: cut it at the last grapheme boundary that does.
        word_end = ahead[0].end if ahead else len(body)
        end = _hard_cut(start, word_end, boundaries, protected, fits)
        if end is None:
            raise ValidationError(
                f"'{_preview(body, start, word_end)}' is longer than one post "
                f"({limit} characters) and cannot be cut there.",
                field="text",
            )
        parts.append(body[start:end])
        start = end
    return parts


def _protected_spans(body: str) -> list[tuple[int, int]]:
    """Links, as X and as Mastodon find them: a cut inside one would break it."""
    spans = [(url.start, url.end) for url in extract_urls(body)]
    spans.extend(mastodon_url_spans(body))
    return spans


def _cuts(body: str, boundaries: set[int]) -> list[_Cut]:
    cuts: list[_Cut] = []
    for match in _WHITESPACE.finditer(body):
        end, resume = match.start(), match.end()
        if end == 0 or resume == len(body):
            continue
        # A combining mark after a space belongs to the space's cluster: keep it whole.
        while resume < len(body) and resume not in boundaries:
            resume += 1
        if end not in boundaries:
            continue
        gap = match[0]
        if gap.count("\n") >= 2:
            level = _Level.PARAGRAPH
        elif "\n" in gap or _SENTENCE_END.search(body, max(0, end - _LOOKBACK), end):
            level = _Level.SENTENCE
        else:
            level = _Level.WORD
        cuts.append(_Cut(end, resume, level))
    for match in _CJK_SENTENCE_END.finditer(body):
        if match.end() in boundaries:
            cuts.append(_Cut(match.end(), match.end(), _Level.SENTENCE))
    cuts.sort(key=lambda cut: cut.end)
    return cuts


def _longest_fitting(ahead: list[_Cut], fits: _Fits) -> list[_Cut]:
    """The cuts that leave a fitting part, in order (binary search: longer never fits less).

    Between whole words, adding text never makes a post shorter on any network, so the
    cuts that fit form a prefix of ``ahead``.
    """
    low, high = 0, len(ahead)
    while low < high:
        middle = (low + high) // 2
        if fits(ahead[middle].end):
            low = middle + 1
        else:
            high = middle
    return ahead[:low]


def _preferred(fitting: list[_Cut], length: Callable[[int], int], limit: int) -> _Cut:
    """The best cut among those that fit: the last at the best level that leaves the part
    at least half full, else the last one."""
    for level in (_Level.PARAGRAPH, _Level.SENTENCE):
        for cut in reversed(fitting):
            if cut.level >= level:
                if length(cut.end) >= limit * _MIN_FILL:
                    return cut
                break
    return fitting[-1]


def _hard_cut(
    start: int,
    word_end: int,
    boundaries: set[int],
    protected: list[tuple[int, int]],
    fits: _Fits,
) -> int | None:
    best: int | None = None
    for end in sorted(b for b in boundaries if start < b < word_end):
        if any(low < end < high for low, high in protected):
            continue
        if not fits(end):
            break
        best = end
    return best


def _preview(body: str, start: int, end: int) -> str:
    piece = body[start:end]
    return piece if len(piece) <= 40 else piece[:37] + "..."
