# SPDX-License-Identifier: AGPL-3.0-or-later
"""Opaque bearer secrets (API tokens, invitation links): shown once, stored as a hash."""

from __future__ import annotations

import hashlib
import secrets


def new_opaque_token(prefix: str) -> tuple[str, str]:
    """A fresh token ``<prefix>_<random>`` and the hash to store instead of it."""
    raw = f"{prefix}_{secrets.token_urlsafe(30)}"
    return raw, hash_opaque_token(raw)


def hash_opaque_token(raw: str) -> str:
    # The token carries 240 random bits, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(raw.encode()).hexdigest()
