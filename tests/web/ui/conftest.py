# SPDX-License-Identifier: AGPL-3.0-or-later
"""UI test fixtures: the real app on the parametrised database, driven like a browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialdesk.config import Settings, load_settings
from socialdesk.storage import Database
from socialdesk.web.app import create_app

BASE_URL = "http://testserver"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Extra settings for one test module (e.g. a low sign-in limit)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, settings_overrides: dict[str, object]) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        secret_key="x" * 40,
        database_url=database_url,
        base_url=BASE_URL,
        **settings_overrides,
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db=db)


@pytest.fixture
def new_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Make a browser with its own cookie jar (several people at once)."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(new_client: Callable[[], TestClient]) -> TestClient:
    return new_client()
