# SPDX-License-Identifier: AGPL-3.0-or-later
"""How long a post is, counted the way each network counts it.

Networks disagree on what "one character" is, and a post that is one character too long
is refused at publish time, when nobody is watching. So each network's rule is a small
function here, checked in ``tests/text`` against the networks' own libraries:

- **graphemes** (Bluesky): user-perceived characters, Unicode extended grapheme clusters.
  ``regex``'s ``\\X`` follows the current Unicode rules (Indic conjuncts included) and agrees
  with ``@atproto/api``'s ``graphemeLength``; the ``grapheme`` package stopped at Unicode 13.
- **x_weighted** (X): twitter-text v3's weighted length. Most Latin, Greek, Cyrillic,
  Hebrew, Arabic, Indic... characters weigh 1, everything else 2 (CJK, emoji); every link
  weighs 23 whatever its length; an emoji sequence weighs 2 however many code points it has.
- **mastodon**: grapheme clusters of the text after each link is replaced by 23 characters
  and each ``@user@server`` mention by ``@user``, as Mastodon's ``StatusLengthValidator``.
- **code_points** (Threads, LinkedIn, Meta) and **utf16** (what JavaScript's ``length``
  says, which some APIs enforce).
"""

from __future__ import annotations

import unicodedata
from typing import Final

import regex

from socialdesk.connectors.base import TextCounting, TextRules
from socialdesk.text._twitter_data import EMOJI, EMOJI_UNLESS_TEXT_STYLE, TLDS
from socialdesk.text.entities import X_INVALID_CHARACTERS, extract_urls

__all__ = [
    "MASTODON_URL_LENGTH",
    "X_MAX_WEIGHTED_LENGTH",
    "X_URL_LENGTH",
    "code_points",
    "graphemes",
    "mastodon",
    "mastodon_url_spans",
    "measure",
    "utf8_bytes",
    "utf16",
    "x_is_valid",
    "x_weighted",
]


def measure(text: str, rules: TextRules) -> int:
    """The length of ``text`` as the network that ``rules`` describe counts it."""
    match rules.counting:
        case TextCounting.GRAPHEMES:
            return graphemes(text)
        case TextCounting.X_WEIGHTED:
            return x_weighted(text)
        case TextCounting.MASTODON:
            return mastodon(text)
        case TextCounting.CODE_POINTS:
            return code_points(text)
        case TextCounting.UTF16:
            return utf16(text)
    raise ValueError(f"unknown text counting {rules.counting!r}")  # pragma: no cover


# ------------------------------------------------------------------ plain counts

_GRAPHEME: Final = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """Extended grapheme clusters: 👨‍👩‍👧 is 1, ``e`` + U+0301 is 1, क्षि is 1, CRLF is 1."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


def code_points(text: str) -> int:
    """Unicode code points (Python's ``len``)."""
    return len(text)


def utf16(text: str) -> int:
    """UTF-16 code units: what JavaScript's ``String.length`` reports (😀 is 2)."""
    return len(text.encode("utf-16-le")) // 2


def utf8_bytes(text: str) -> int:
    """UTF-8 bytes (Bluesky also caps a post at 3000 bytes besides 300 graphemes)."""
    return len(text.encode("utf-8"))


# ------------------------------------------------------------------ X

X_MAX_WEIGHTED_LENGTH: Final = 280
X_URL_LENGTH: Final = 23
#: twitter-text v3: code points in these ranges weigh 1, all others 2.
_X_LIGHT_RANGES: Final = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_X_EMOJI_FIRST: Final = frozenset(s[0] for s in EMOJI | EMOJI_UNLESS_TEXT_STYLE)
_X_EMOJI_LONGEST: Final = max(len(s) for s in EMOJI)
_TEXT_STYLE: Final = "\ufe0e"


def _x_weight(char: str) -> int:
    point = ord(char)
    for low, high in _X_LIGHT_RANGES:
        if low <= point <= high:
            return 1
    return 2


def _x_emoji_at(text: str, index: int) -> int:
    """Length of the emoji twitter-text's parser sees at ``index`` (0 if none).

    Its parser takes the longest known sequence; a bare symbol such as ☺ counts as an
    emoji unless U+FE0E (text presentation) follows it.
    """
    if text[index] not in _X_EMOJI_FIRST:
        return 0
    for size in range(min(_X_EMOJI_LONGEST, len(text) - index), 0, -1):
        candidate = text[index : index + size]
        if candidate in EMOJI:
            return size
        if (
            candidate in EMOJI_UNLESS_TEXT_STYLE
            and text[index + size : index + size + 1] != _TEXT_STYLE
        ):
            return size
    return 0


def _x_emoji_spans(text: str) -> dict[int, int]:
    """Start → length of every emoji, scanning left to right without overlaps."""
    spans: dict[int, int] = {}
    index = 0
    while index < len(text):
        size = _x_emoji_at(text, index)
        if size:
            spans[index] = size
            index += size
        else:
            index += 1
    return spans


def x_weighted(text: str) -> int:
    """X's weighted length (twitter-text v3 ``parseTweet(text).weightedLength``); max 280.

    The text is NFC-normalised first, as X does, so ``e`` + U+0301 weighs the same as ``é``.
    Links (with or without a scheme) weigh 23. Emoji sequences weigh 2, but only those the
    emoji parser inside twitter-text 3.1 knows (Emoji 11, 2018): a newer sequence such as
    🧑‍💻 is weighed part by part (2 + 1 + 2). That can only over-count compared with a
    newer parser, so a post we accept is never refused for its length.
    """
    normalized = unicodedata.normalize("NFC", text)
    urls = {url.start: len(url.text) for url in extract_urls(normalized)}
    emoji = _x_emoji_spans(normalized)
    total = 0
    index = 0
    while index < len(normalized):
        if index in urls:
            total += X_URL_LENGTH
            index += urls[index]
        elif index in emoji:
            total += 2
            index += emoji[index]
        else:
            total += _x_weight(normalized[index])
            index += 1
    return total


def x_is_valid(text: str) -> bool:
    """Whether X accepts the text: 1..280 weighted, and no U+FFFE, U+FEFF or U+FFFF."""
    normalized = unicodedata.normalize("NFC", text)
    if any(char in X_INVALID_CHARACTERS for char in normalized):
        return False
    return 0 < x_weighted(normalized) <= X_MAX_WEIGHTED_LENGTH


# ------------------------------------------------------------------ Mastodon
#
# Mastodon finds links with twitter-text's grammar, widened in its
# config/initializers/twitter_regex.rb: more schemes, and almost any character in a path
# or query. It only shortens links that have a scheme.

MASTODON_URL_LENGTH: Final = 23
_M_SPACES: Final = r"\p{White_Space}"
_M_PUNCTUATION: Final = r"!\"#$%&'()*+,\\\-./:;<=>?@\[\]^_{|}~"
_M_INVALID: Final = r"\ufffe\ufeff\uffff"
_M_DIRECTIONAL: Final = r"\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_M_DOMAIN_CHAR: Final = rf"[^{_M_PUNCTUATION}{_M_SPACES}{_M_INVALID}{_M_DIRECTIONAL}]"
_M_TLD_ALTERNATION: Final = "|".join(
    regex.escape(tld) for tld in sorted(TLDS, key=lambda tld: (-len(tld), tld))
)
_M_TLD: Final = rf"(?:(?:{_M_TLD_ALTERNATION})(?=[^0-9a-z@+\-]|\Z)|xn--[\-0-9a-z]+)"
_M_DOMAIN: Final = (
    rf"(?:(?:(?:{_M_DOMAIN_CHAR}(?:[_\-]|{_M_DOMAIN_CHAR})*)?{_M_DOMAIN_CHAR}\.)*"
    rf"(?:(?:{_M_DOMAIN_CHAR}(?:-|{_M_DOMAIN_CHAR})*)?{_M_DOMAIN_CHAR}\.){_M_TLD})"
)
_M_PATH_CHAR: Final = rf"[^{_M_SPACES}<>()?]"
_M_PARENS: Final = rf"\((?:{_M_PATH_CHAR}+|(?:{_M_PATH_CHAR}*\({_M_PATH_CHAR}+\){_M_PATH_CHAR}*))\)"
# Mastodon redefines the ending characters before it redefines the parentheses, so a
# path may end on parentheses only as twitter-text's narrower path grammar allows.
_TT_PATH_CHAR: Final = (
    r"[a-z\u0400-\u04ff0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&\xc0-\xd6\xd8-\xf6\xf8-\xff"
    r"\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289"
    r"\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]"
)
_TT_PARENS: Final = (
    rf"\((?:{_TT_PATH_CHAR}+|(?:{_TT_PATH_CHAR}*\({_TT_PATH_CHAR}+\){_TT_PATH_CHAR}*))\)"
)
_M_PATH_END: Final = rf"(?:[^{_M_SPACES}()?!*\"'\u300c\u300d<>;:=,.$%\[\]~&|@]|{_TT_PARENS})"
_M_PATH: Final = (
    rf"(?:(?:{_M_PATH_CHAR}*(?:{_M_PARENS}{_M_PATH_CHAR}*)*{_M_PATH_END})|(?:{_M_PATH_CHAR}+/))"
)
_M_UCHARS: Final = (
    r"\xa0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
    r"\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    r"\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
    r"\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    r"\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_M_QUERY_CHAR: Final = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@^{_M_UCHARS}]"
_M_QUERY_END: Final = rf"[a-z0-9_&=#/\-{_M_UCHARS}]"
_M_BEFORE: Final = rf"(?:[^A-Z0-9@\uff20$#\uff03{_M_INVALID}]|[{_M_DIRECTIONAL}]|^)"
_M_URL: Final = regex.compile(
    rf"(?P<before>{_M_BEFORE})"
    rf"(?P<url>(?P<scheme>(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"
    rf"(?P<domain>{_M_DOMAIN})(?::[0-9]+)?(?:/{_M_PATH}*)?(?:\?{_M_QUERY_CHAR}*{_M_QUERY_END})?)",
    regex.IGNORECASE | regex.MULTILINE,
)
_M_TCO: Final = regex.compile(
    rf"https?://t\.co/(?P<slug>[a-z0-9]+)(?:\?{_M_QUERY_CHAR}*{_M_QUERY_END})?", regex.IGNORECASE
)
_WORD: Final = r"[\p{L}\p{M}\p{Nd}\p{Pc}]"
_M_MENTION: Final = regex.compile(
    rf"(?<![=/]|{_WORD})@(?P<name>(?P<user>[a-z0-9_]+(?:[.\-]+[a-z0-9_]+)*)"
    rf"(?:@{_WORD}+(?:[.\-]+{_WORD}+)*)?)",
    regex.IGNORECASE,
)
_M_NOT_AFTER_MENTION: Final = regex.compile(
    r"[@\uff20\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b"
    r"\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff]|://",
    regex.IGNORECASE,
)
# Ruby's grapheme clusters (Mastodon runs on Ruby 3.x, Unicode 15.0) do not yet join Indic
# conjuncts (rule GB9c, Unicode 15.1): each consonant joined by a virama counts again.
_JOINED_CONSONANT: Final = regex.compile(
    r"(?<=\p{InCB=Consonant}[\p{InCB=Extend}\p{InCB=Linker}]*\p{InCB=Linker}"
    r"[\p{InCB=Extend}\p{InCB=Linker}]*)\p{InCB=Consonant}"
)


def _idna_ok(domain: str) -> bool:
    try:
        domain.encode("idna")
    except UnicodeError:
        return False
    return True


def mastodon_url_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each link Mastodon shortens: those with a scheme, in order."""
    if ":" not in text:
        return []
    spans: list[tuple[int, int]] = []
    for match in _M_URL.finditer(text):
        if not match["scheme"]:
            continue
        url = match["url"]
        tco = _M_TCO.match(url)
        if tco:
            if len(tco["slug"]) > 40:
                continue
            url = tco[0]
        if not _idna_ok(match["domain"]) or len(url) > 4096:
            continue
        spans.append((match.start("url"), match.start("url") + len(url)))
    return spans


def _mastodon_countable(text: str) -> str:
    """The text with links as 23 characters and ``@user@server`` as ``@user``."""
    entities: list[tuple[int, int, str]] = [
        (start, end, "x" * MASTODON_URL_LENGTH) for start, end in mastodon_url_spans(text)
    ]
    if "@" in text:
        for match in _M_MENTION.finditer(text):
            if _M_NOT_AFTER_MENTION.match(text, match.end()):
                continue
            entities.append((match.start(), match.end(), "@" + match["user"]))
    entities.sort(key=lambda entity: entity[0])
    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in entities:
        if start < cursor:
            continue  # overlaps the entity before it: the first one wins
        pieces.append(text[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)


def mastodon(text: str, *, spoiler_text: str = "") -> int:
    """Mastodon's length (default limit 500; instances may raise it).

    Counts grapheme clusters of the content warning plus the text, after each link with a
    scheme becomes 23 characters and each ``@user@server`` becomes ``@user``
    (``StatusLengthValidator``). Links without a scheme count in full, as Mastodon does not
    shorten them. Indic conjuncts count as Ruby's older grapheme rules split them, so the
    count is never lower than Mastodon's.
    """
    countable = spoiler_text + _mastodon_countable(text)
    return graphemes(countable) + sum(1 for _ in _JOINED_CONSONANT.finditer(countable))
