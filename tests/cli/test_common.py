# SPDX-License-Identifier: AGPL-3.0-or-later
"""What every command does first: settings and logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from socialdesk.cli.common import load


def test_http_clients_never_log_request_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Graph API URL carries its access token: request lines must not reach the log."""
    monkeypatch.setenv("SOCIALDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SOCIALDESK_LOG_LEVEL", "DEBUG")
    before = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    try:
        load()
        for name in ("httpx", "httpcore"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
