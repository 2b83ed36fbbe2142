# SPDX-License-Identifier: AGPL-3.0-or-later
"""The app shell: health, metrics, error bodies, security headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from socialdesk import jobs
from socialdesk.config import load_settings
from socialdesk.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    Rejected,
    SocialdeskError,
    TooManyAttempts,
    ValidationError,
    VaultError,
)
from socialdesk.storage import Database
from socialdesk.web.app import create_app, status_for


@pytest.fixture
def client(db: Database, tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = load_settings(data_dir=tmp_path, database_url=database_url, secret_key="s" * 48)
    app = create_app(settings, db=db)

    @app.get("/api/v1/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "current"}


def test_healthz_reports_pending_migrations(client: TestClient, db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "pending"


def test_metrics_in_prometheus_text_format(client: TestClient, db: Database) -> None:
    with db.transaction() as session:
        jobs.enqueue(session, kind="jobs.prune")
    client.get("/api/v1/workspaces/00000000-0000-0000-0000-000000000000/members")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    body = response.text
    assert 'socialdesk_jobs{state="queued"} 1.0' in body
    assert (
        'socialdesk_http_requests_total{method="GET",'
        'route="/api/v1/workspaces/{workspace_id}/members",status="401"} 1.0'
    ) in body
    assert "00000000-0000" not in body


def test_unexpected_errors_hide_their_details(client: TestClient) -> None:
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert "incident" in error["message"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text


def test_unknown_api_path_is_json_404(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "http_404"


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/healthz").headers
    assert headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_openapi_is_served(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    assert "/api/v1/workspaces/{workspace_id}/members" in schema["paths"]
    assert client.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationError("bad"), 422),
        (NotFound("gone"), 404),
        (PermissionDenied("no"), 403),
        (AuthenticationFailed("who"), 401),
        (Conflict("dup"), 409),
        (TooManyAttempts("slow", retry_after=3), 429),
        (Rejected("too long", reason="text too long"), 502),
        (RateLimited("later", retry_after=3), 502),
        (VaultError("keys"), 500),
    ],
)
def test_status_mapping(error: SocialdeskError, status: int) -> None:
    assert status_for(error) == status
