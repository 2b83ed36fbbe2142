# SPDX-License-Identifier: AGPL-3.0-or-later
"""Links, hashtags and mentions, case by case (the corpus checks links and hashtags in bulk)."""

from __future__ import annotations

import pytest

from socialdesk.text import EntityKind, extract_hashtags, extract_mentions, extract_urls


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("no links here", []),
        ("https://example.com", ["https://example.com"]),
        ("go to example.com/path now", ["example.com/path"]),
        ("Visit example.com.", ["example.com"]),
        ("Visit example.com/path.", ["example.com/path"]),
        ("(see https://example.com/x)", ["https://example.com/x"]),
        (
            "(see https://en.wikipedia.org/wiki/Foo_(bar))",
            ["https://en.wikipedia.org/wiki/Foo_(bar)"],
        ),
        ("https://example.com/?q=1.", ["https://example.com/?q=1"]),
        ("https://a.co and http://b.org", ["https://a.co", "http://b.org"]),
        ("example.com?q=1", ["example.com"]),  # without a scheme, no query (twitter-text)
        ("file.txt v1.2.3 e.g. node.js", []),  # not TLDs
        ("README.md", ["README.md"]),  # .md is Moldova: X links it too
        ("foo.bar", ["foo.bar"]),  # .bar is one
        ("mail bob@example.com", []),  # part of an address
        ("-example.com _example.com /example.com", []),
        ("例えexample.com", ["example.com"]),  # only the ASCII host without a scheme
        ("https://例え.jp/パス", ["https://例え.jp/"]),
        ("https://t.co/abc123/extra", ["https://t.co/abc123"]),
        ("https://" + "a" * 70 + ".com", []),  # a DNS label is at most 63 characters
    ],
)
def test_extract_urls(text: str, urls: list[str]) -> None:
    found = extract_urls(text)
    assert [url.value for url in found] == urls
    for url in found:
        assert url.kind is EntityKind.URL
        assert text[url.start : url.end] == url.text


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("#launch day", ["launch"]),
        ("#日本語 #한국어 #हिन्दी", ["日本語", "한국어", "हिन्दी"]),
        ("#2026", []),  # digits only
        ("#2026goals", ["2026goals"]),
        ("x#notatag", []),
        ("&#39;", []),
        ("#tag1#tag2", []),  # glued to the next sign
        ("#\ufe0f\u20e3", []),  # the keycap emoji
        ("https://example.com/#anchor", []),  # inside a link
        ("\uff03fullwidth", ["fullwidth"]),
        ("#a_b #c-d", ["a_b", "c"]),
    ],
)
def test_extract_hashtags(text: str, tags: list[str]) -> None:
    found = extract_hashtags(text)
    assert [tag.value for tag in found] == tags
    for tag in found:
        assert text[tag.start : tag.end] == tag.text
        assert tag.text[1:] == tag.value


def test_instagram_style_hashtag_limit_can_be_checked() -> None:
    text = " ".join(f"#tag{n}" for n in range(31))
    assert len(extract_hashtags(text)) == 31


@pytest.mark.parametrize(
    ("text", "handles"),
    [
        ("hi @alice", ["alice"]),
        ("@alice@mastodon.social and @bob", ["alice@mastodon.social", "bob"]),
        ("@carol@sub.example.co.uk!", ["carol@sub.example.co.uk"]),
        ("mail bob@example.com", []),
        ("https://example.com/@bob", []),
        ("RT @rt_user: hello", ["rt_user"]),
        ("@alice.", ["alice"]),
        ("@", []),
        ("@\u00fcber", []),  # followed by a Latin accent: not a handle
        ("\uff20fullwidth", ["fullwidth"]),
    ],
)
def test_extract_mentions(text: str, handles: list[str]) -> None:
    found = extract_mentions(text)
    assert [mention.value for mention in found] == handles
    for mention in found:
        assert text[mention.start : mention.end] == mention.text
