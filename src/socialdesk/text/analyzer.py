# SPDX-License-Identifier: AGPL-3.0-or-later
"""What the inbox asks of a text model: sentiment and language, one interface.

:class:`Analyzer` is what :mod:`socialdesk.inbox.analysis` calls. :class:`DefaultAnalyzer`
combines the offline defaults (VADER, fastText's bundled lite model); a better model
plugs in by passing any object with these two methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from socialdesk.text.language import FastTextDetector, LanguageDetector
from socialdesk.text.sentiment import Sentiment, SentimentAnalyzer, VaderAnalyzer


class Analyzer(Protocol):
    def sentiment(self, text: str) -> Sentiment: ...

    def language(self, text: str) -> str | None: ...


@dataclass(frozen=True)
class DefaultAnalyzer:
    sentiments: SentimentAnalyzer = field(default_factory=VaderAnalyzer)
    languages: LanguageDetector = field(default_factory=FastTextDetector)

    def sentiment(self, text: str) -> Sentiment:
        return self.sentiments.sentiment(text)

    def language(self, text: str) -> str | None:
        return self.languages.language(text)
