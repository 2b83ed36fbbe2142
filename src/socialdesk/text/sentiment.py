# SPDX-License-Identifier: AGPL-3.0-or-later
"""Sentiment of what people say to us, behind an interface so a better model can plug in.

The default is VADER (``vaderSentiment``): a lexicon and rules tuned for social media
(emoji, "!!!", CAPS, "but"), shipped inside its wheel, so it runs offline and loads in
well under a second. Its compound score is in [-1, 1]; the usual thresholds of its
authors (±0.05) make the label.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Literal, Protocol

Label = Literal["negative", "neutral", "positive"]

#: VADER's authors' thresholds on the compound score.
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
#: Followers at which reach counts fully in the priority (a million).
FULL_REACH_FOLLOWERS = 1_000_000


@dataclass(frozen=True, slots=True)
class Sentiment:
    #: From -1 (most negative) to 1 (most positive).
    score: float
    label: Label


class SentimentAnalyzer(Protocol):
    """Anything that scores a text from -1 to 1; socialdesk never asks which model it is."""

    def sentiment(self, text: str) -> Sentiment: ...


def label_for(score: float) -> Label:
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


class VaderAnalyzer:
    """VADER, loaded once per process on first use (its lexicon takes ~0.2 s to read)."""

    _lock = threading.Lock()
    _shared: object | None = None

    def _analyzer(self) -> object:
        with self._lock:
            if VaderAnalyzer._shared is None:
                from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
                    SentimentIntensityAnalyzer,
                )

                VaderAnalyzer._shared = SentimentIntensityAnalyzer()
            return VaderAnalyzer._shared

    def sentiment(self, text: str) -> Sentiment:
        if not text.strip():
            return Sentiment(score=0.0, label="neutral")
        scores = self._analyzer().polarity_scores(text)  # type: ignore[attr-defined]
        score = float(scores["compound"])
        return Sentiment(score=score, label=label_for(score))


def priority(*, score: float | None, followers: int | None) -> int:
    """How urgently an item needs a person, from 0 to 100: negativity times reach.

    ``negativity`` is how far below zero the sentiment is (0 for neutral or positive
    items, 1 for the most negative). ``reach`` grows with the logarithm of the author's
    followers and is 1 from :data:`FULL_REACH_FOLLOWERS` up; an author whose followers the
    network does not tell counts as no reach. An unhappy person with no audience still
    matters, so reach weighs half: ``priority = 100 * negativity * (0.5 + 0.5 * reach)``.
    A very negative message from an account with a million followers scores 100; the same
    message from a new account scores 50; anything neutral or positive scores 0.
    """
    if score is None or score >= 0:
        return 0
    negativity = min(1.0, -score)
    reach = 0.0
    if followers:
        reach = min(1.0, math.log10(1 + followers) / math.log10(1 + FULL_REACH_FOLLOWERS))
    return round(100 * negativity * (0.5 + 0.5 * reach))
