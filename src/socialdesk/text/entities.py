# SPDX-License-Identifier: AGPL-3.0-or-later
"""Links, hashtags and mentions found in post text.

Networks shorten links (X and Mastodon count every link as 23 characters), cap hashtags
(Instagram: 30) and mentions, and turn these into links when the post is shown. To warn a
person *before* publishing, we must find them the way the networks do. Links and hashtags
follow twitter-text (the library X publishes and Mastodon builds on): ``tests/text``
checks both against its output on thousands of strings. Mentions follow the union of
what X and Mastodon link: ``@user`` and ``@user@server.example``.

Offsets are in code points of the given string (Python's own indexing).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import regex

from socialdesk.text._twitter_data import TLDS

__all__ = [
    "Entity",
    "EntityKind",
    "extract_hashtags",
    "extract_mentions",
    "extract_urls",
]


class EntityKind(enum.StrEnum):
    URL = "url"
    HASHTAG = "hashtag"
    MENTION = "mention"


@dataclass(frozen=True, slots=True)
class Entity:
    """One link, hashtag or mention: where it stands and what it names.

    ``text`` is the slice of the input (``"#Launch"``, ``"@alice@example.social"``);
    ``value`` is what it names (``"Launch"``, ``"alice@example.social"``, the URL itself).
    """

    kind: EntityKind
    text: str
    start: int
    end: int
    value: str


# ------------------------------------------------------------------ character classes
#
# The building blocks below describe twitter-text's URL grammar. They are written out
# as class *contents* so they can be combined; every one is escaped for a [...] set.

_PUNCTUATION: Final = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$"
_SPACES: Final = r"\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Characters X refuses in a post (and never takes as part of a link).
X_INVALID_CHARACTERS: Final = frozenset("\ufffe\ufeff\uffff")
_INVALID: Final = r"\ufffe\ufeff\uffff"
_DIRECTIONAL: Final = r"\u202a-\u202e\u061c\u200e\u200f\u2066-\u2069"
_LATIN_ACCENTS: Final = (
    r"\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    r"\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC: Final = r"\u0400-\u04ff"

# Longest first, so that a TLD is never cut short by one of its own prefixes.
_TLD_ALTERNATION: Final = "|".join(
    regex.escape(tld) for tld in sorted(TLDS, key=lambda tld: (-len(tld), tld))
)
# A TLD must end the host: twitter-text looks for anything but an ASCII letter, digit,
# "@", "+" or "-" (or the end of the string) after it.
_TLD: Final = rf"(?:(?:{_TLD_ALTERNATION})(?=[^0-9a-zA-Z@+\-]|\Z)|xn--[\-0-9a-z]+)"

_DOMAIN_CHAR: Final = rf"[^{_PUNCTUATION}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_SUBDOMAIN: Final = rf"(?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN_NAME: Final = rf"(?:(?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)"
_DOMAIN: Final = rf"(?:{_SUBDOMAIN}*{_DOMAIN_NAME}{_TLD})"

_PATH_CHAR: Final = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
# Up to two levels of balanced parentheses stay in a link: /wiki/Foo_(bar).
_PARENS: Final = rf"\((?:{_PATH_CHAR}+|(?:{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*))\)"
# A path does not end on "." "," "!"..., so "see example.com/a." leaves the period out.
_PATH_END: Final = rf"(?:[+\-a-z{_CYRILLIC}0-9=_#/{_LATIN_ACCENTS}]|{_PARENS})"
_PATH: Final = rf"(?:(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END})|(?:@{_PATH_CHAR}+/))"
_QUERY_CHAR: Final = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END: Final = r"[a-z0-9\-_&=#/]"
_BEFORE_URL: Final = rf"(?:[^A-Za-z0-9@\uff20$#\uff03{_INVALID}]|[{_DIRECTIONAL}]|^)"

_URL: Final = regex.compile(
    rf"(?P<before>{_BEFORE_URL})"
    rf"(?P<url>(?P<scheme>https?://)?(?P<domain>{_DOMAIN})(?::(?P<port>[0-9]+))?"
    rf"(?P<path>/{_PATH}*)?(?P<query>\?{_QUERY_CHAR}*{_QUERY_END})?)",
    regex.IGNORECASE,
)
_ASCII_DOMAIN: Final = regex.compile(
    rf"(?:[\-a-z0-9{_LATIN_ACCENTS}]+\.)+{_TLD}",
    regex.IGNORECASE,
)
_TCO: Final = regex.compile(
    rf"https?://t\.co/(?P<slug>[a-z0-9]+)(?:\?{_QUERY_CHAR}*{_QUERY_END})?", regex.IGNORECASE
)
_MAX_URL_LENGTH: Final = 4096
_MAX_TCO_SLUG_LENGTH: Final = 40
_MAX_LABEL_LENGTH: Final = 63
_LABEL_SEPARATORS: Final = regex.compile(r"[.\u3002\uff0e\uff61]")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _label_ascii_length(label: str) -> int:
    """Length of a host label once IDNA-encoded (``xn--`` + punycode when not ASCII)."""
    length = 0
    for index, part in enumerate(_LABEL_SEPARATORS.split(label)):
        length += index  # the dot punycode puts between the parts
        if part.isascii():
            length += len(part)
        else:
            length += 4 + len(part.encode("punycode"))
    return length


def _valid_host(url: str, scheme: str, domain: str) -> bool:
    """twitter-text's sanity check: DNS-sized labels and a URL under 4096 characters."""
    if domain.startswith("xn--") and not _ASCII_DOMAIN.search(domain):
        return False
    for label in domain.split("."):
        if not 1 <= _label_ascii_length(label) <= _MAX_LABEL_LENGTH:
            return False
    return len(scheme) + _utf16_length(url) <= _MAX_URL_LENGTH


def extract_urls(text: str) -> list[Entity]:
    """Links as X finds them, with or without ``https://``, in order of appearance.

    ``example.com/path`` counts as a link without a scheme, but only its ASCII host part
    (``例えexample.com`` links ``example.com``), and a trailing ``.`` ``,`` ``)`` or ``?`` is
    left out unless it closes a balanced parenthesis or a query. Hosts must end in a TLD
    twitter-text knows. The rules, quirks included, are twitter-text's, because X shortens
    exactly those spans to 23 characters.
    """
    if "." not in text:
        return []
    found: list[Entity] = []
    for match in _URL.finditer(text):
        url = match["url"]
        scheme = match["scheme"]
        domain = match["domain"]
        start = match.start("url")
        if not _valid_host(url, scheme or "https://", domain):
            continue
        if not scheme:
            if match["before"] and match["before"] in "-_./":
                continue
            hosts = list(_ASCII_DOMAIN.finditer(domain))
            if not hosts:
                continue
            for host in hosts[:-1]:
                found.append(_url_entity(host[0], start + host.start()))
            last = hosts[-1]
            if match["path"]:
                # The path and query stay attached to the last ASCII host.
                found.append(_url_entity(last[0] + url[len(domain) :], start + last.start()))
            else:
                found.append(_url_entity(last[0], start + last.start()))
            continue
        tco = _TCO.match(url)
        if tco:
            if len(tco["slug"]) > _MAX_TCO_SLUG_LENGTH:
                continue
            url = tco[0]  # t.co links take no further path
        found.append(_url_entity(url, start))
    return found


def _url_entity(url: str, start: int) -> Entity:
    return Entity(EntityKind.URL, url, start, start + len(url), url)


# ------------------------------------------------------------------ hashtags

_HASHTAG_LETTER: Final = r"[\p{L}\p{M}]"
_HASHTAG_CHAR: Final = (
    r"[\p{L}\p{M}\p{Nd}_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0"
    r"\u30fb\u3003\u0f0b\u0f0c\xb7]"
)
_HASHTAG: Final = regex.compile(
    # What may stand before "#": the start, a variation selector, or anything that could
    # not be part of a tag (so "x#tag" and "&#39;" are not hashtags).
    rf"(?:^|[\ufe0e\ufe0f]|(?!{_HASHTAG_CHAR}|&).)"
    # "#" itself, but not the keycap emoji #️⃣.
    rf"(?P<sign>[#\uff03])(?![\ufe0f\u20e3])"
    # At least one letter or mark: "#2026" is not a hashtag, "#2026goals" is.
    rf"(?P<tag>{_HASHTAG_CHAR}*{_HASHTAG_LETTER}{_HASHTAG_CHAR}*)",
    regex.DOTALL,
)
_NOT_AFTER_HASHTAG: Final = regex.compile(r"[#\uff03]|://")


def extract_hashtags(text: str) -> list[Entity]:
    """Hashtags as X links them (and as Instagram counts them against its limit of 30).

    A tag is a run of letters, marks, digits and ``_`` after ``#`` with at least one
    letter; one directly followed by another ``#`` or by ``://`` is not a tag, and tags
    inside links (``example.com/#anchor``) do not count.
    """
    if "#" not in text and "\uff03" not in text:
        return []
    tags: list[Entity] = []
    for match in _HASHTAG.finditer(text):
        if _NOT_AFTER_HASHTAG.match(text, match.end()):
            continue
        start = match.start("sign")
        tags.append(
            Entity(EntityKind.HASHTAG, text[start : match.end()], start, match.end(), match["tag"])
        )
    if not tags:
        return tags
    return [
        tag
        for tag in _drop_overlapping([*tags, *extract_urls(text)])
        if tag.kind is EntityKind.HASHTAG
    ]


def _drop_overlapping(entities: list[Entity]) -> list[Entity]:
    """Keep the earliest of entities that overlap, as twitter-text does."""
    kept: list[Entity] = []
    for entity in sorted(entities, key=lambda e: e.start):
        if kept and kept[-1].end > entity.start:
            continue
        kept.append(entity)
    return kept


# ------------------------------------------------------------------ mentions

_MENTION: Final = regex.compile(
    # Not inside a word, an e-mail address or a path (bob@example.com, example.com/@bob).
    r"(?<![\p{L}\p{M}\p{Nd}\p{Pc}=/!#$%&*@\uff20])"
    r"[@\uff20]"
    r"(?P<user>[A-Za-z0-9_]+(?:[.\-]+[A-Za-z0-9_]+)*)"
    r"(?:@(?P<server>[\p{L}\p{M}\p{Nd}\p{Pc}]+(?:[.\-]+[\p{L}\p{M}\p{Nd}\p{Pc}]+)*))?"
)
# A would-be mention followed by these is something else (an address, a URL).
_NOT_AFTER_MENTION: Final = regex.compile(rf"[@\uff20{_LATIN_ACCENTS}]|://")


def extract_mentions(text: str) -> list[Entity]:
    """``@user`` and ``@user@server`` mentions, as X and Mastodon link them.

    ``value`` is the handle without the leading ``@`` (``alice`` or ``alice@example.social``).
    E-mail addresses and ``@`` inside links are not mentions.
    """
    if "@" not in text and "\uff20" not in text:
        return []
    found: list[Entity] = []
    for match in _MENTION.finditer(text):
        if _NOT_AFTER_MENTION.match(text, match.end()):
            continue
        found.append(Entity(EntityKind.MENTION, match[0], match.start(), match.end(), match[0][1:]))
    if not found:
        return found
    urls = extract_urls(text)
    return [m for m in _drop_overlapping([*urls, *found]) if m.kind is EntityKind.MENTION]
