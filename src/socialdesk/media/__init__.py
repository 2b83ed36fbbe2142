# SPDX-License-Identifier: AGPL-3.0-or-later
"""Media files: what they really are (:mod:`.probe`) and making them fit (:mod:`.transform`).

Both are pure functions over files, with no database, so the web process can check an
upload at once and the publisher can prepare it just before sending.
"""

from socialdesk.media.probe import (
    DEFAULT_MAX_PIXELS,
    MediaInfo,
    MediaKind,
    check_against,
    check_items,
    probe,
)
from socialdesk.media.transform import MIN_LONG_SIDE, fit_image

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MIN_LONG_SIDE",
    "MediaInfo",
    "MediaKind",
    "check_against",
    "check_items",
    "fit_image",
    "probe",
]
