# SPDX-License-Identifier: AGPL-3.0-or-later
"""Sentiment: VADER offline, labels at its thresholds, priority from negativity and reach."""

from __future__ import annotations

import pytest

from socialdesk.text.sentiment import Sentiment, VaderAnalyzer, label_for, priority


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("I love this, thank you so much!", "positive"),
        ("This is the worst service ever. Never again.", "negative"),
        ("The store opens at 9.", "neutral"),
        ("", "neutral"),
        ("not bad at all :)", "positive"),
        ("Awful, the app crashes every time. I am so angry.", "negative"),
    ],
)
def test_vader_labels(text: str, label: str) -> None:
    found = VaderAnalyzer().sentiment(text)
    assert found.label == label
    assert -1.0 <= found.score <= 1.0


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.05, "positive"), (0.049, "neutral"), (-0.049, "neutral"), (-0.05, "negative")],
)
def test_label_thresholds(score: float, label: str) -> None:
    assert label_for(score) == label


@pytest.mark.parametrize(
    ("score", "followers", "expected"),
    [
        (None, 10_000, 0),
        (0.8, 1_000_000, 0),
        (0.0, 1_000_000, 0),
        (-1.0, None, 50),
        (-1.0, 0, 50),
        (-1.0, 1_000_000, 100),
        (-1.0, 50_000_000, 100),
        (-0.5, 1_000_000, 50),
        (-1.0, 1000, 75),
    ],
)
def test_priority_weighs_negativity_by_reach(
    score: float | None, followers: int | None, expected: int
) -> None:
    assert priority(score=score, followers=followers) == expected


def test_priority_grows_with_reach_and_negativity() -> None:
    assert priority(score=-0.9, followers=100) < priority(score=-0.9, followers=100_000)
    assert priority(score=-0.3, followers=5000) < priority(score=-0.9, followers=5000)


def test_a_plugged_in_model_is_used() -> None:
    from socialdesk.text.analyzer import DefaultAnalyzer

    class Always:
        def sentiment(self, text: str) -> Sentiment:
            return Sentiment(score=-0.7, label="negative")

    assert DefaultAnalyzer(sentiments=Always()).sentiment("lovely").score == -0.7
