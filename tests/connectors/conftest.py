# SPDX-License-Identifier: AGPL-3.0-or-later
"""Fixtures for connector tests: async tests on asyncio, the real Bluesky PDS."""

from __future__ import annotations

import pytest

from tests.support.pds import LocalPds, PdsAccount, pds

__all__ = ["pds"]  # the session fixture, re-exported for the tests below this folder


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pds_account(pds: LocalPds) -> PdsAccount:
    """A fresh account (``<random>.test``, with an app password) on the session's PDS."""
    return pds.create_account()
