# SPDX-License-Identifier: AGPL-3.0-or-later
"""Text rules: how long a post is on each network, what it links, how to split a thread.

Network rules are data (``TextRules`` on each connector); this package is the code that
reads them. Import from here rather than from the modules below.
"""

from __future__ import annotations

from socialdesk.text.counting import (
    code_points,
    graphemes,
    mastodon,
    measure,
    utf8_bytes,
    utf16,
    x_is_valid,
    x_weighted,
)
from socialdesk.text.entities import (
    Entity,
    EntityKind,
    extract_hashtags,
    extract_mentions,
    extract_urls,
)
from socialdesk.text.threads import split_into_thread

__all__ = [
    "Entity",
    "EntityKind",
    "code_points",
    "extract_hashtags",
    "extract_mentions",
    "extract_urls",
    "graphemes",
    "mastodon",
    "measure",
    "split_into_thread",
    "utf8_bytes",
    "utf16",
    "x_is_valid",
    "x_weighted",
]
