# SPDX-License-Identifier: AGPL-3.0-or-later
"""API test fixtures: an app on the parametrised database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from socialdesk.config import Settings, load_settings
from socialdesk.storage import Database
from socialdesk.web.app import create_app


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url, secret_key="s" * 48)


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=db), base_url="http://127.0.0.1:8000") as test_client:
        yield test_client
