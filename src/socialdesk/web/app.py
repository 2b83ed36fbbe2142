# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ASGI application: ``create_app(settings)`` builds it; nothing happens at import."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialdesk import __version__
from socialdesk.accounts.vault import Vault
from socialdesk.config import Settings
from socialdesk.errors import (
    AuthenticationFailed,
    Conflict,
    ConnectorError,
    NotFound,
    PermissionDenied,
    SocialdeskError,
    TooManyAttempts,
    ValidationError,
)
from socialdesk.publishing.runtime import NetworkRuntime
from socialdesk.storage.migrate import is_up_to_date
from socialdesk.storage.session import Database
from socialdesk.web import api, ui
from socialdesk.web.metrics import Metrics, MetricsMiddleware
from socialdesk.web.security import SESSION_COOKIE, LoginThrottle
from socialdesk.web.templating import STATIC_DIR, render_error

logger = logging.getLogger(__name__)

#: The one place where the error tree meets HTTP.
STATUS_BY_ERROR: list[tuple[type[SocialdeskError], int]] = [
    (ValidationError, 422),
    (NotFound, 404),
    (PermissionDenied, 403),
    (AuthenticationFailed, 401),
    (Conflict, 409),
    (TooManyAttempts, 429),
    (ConnectorError, 502),
]

_TITLES = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    422: "Please check what you entered",
    429: "Slow down",
    500: "Something went wrong",
    502: "A network did not answer as expected",
}


def status_for(error: SocialdeskError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def _wants_json(request: Request) -> bool:
    return (
        request.url.path.startswith("/api/")
        or "application/json" in request.headers.get("accept", "").split(",")[0]
    )


def _error_response(
    request: Request,
    *,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
) -> Response:
    if _wants_json(request):
        body: dict[str, object] = {"code": code, "message": message}
        if field:
            body["field"] = field
        if details:
            body["details"] = details
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    if status == 401:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    response = render_error(
        request, status_code=status, title=_TITLES.get(status, "Error"), message=message
    )
    if headers:
        response.headers.update(headers)
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SocialdeskError)
    async def _socialdesk_error(request: Request, exc: SocialdeskError) -> Response:
        status = status_for(exc)
        if status == 500:
            logger.error("unhandled %s: %s", type(exc).__name__, exc.message)
        headers = (
            {"Retry-After": str(int(exc.retry_after))} if isinstance(exc, TooManyAttempts) else None
        )
        return _error_response(
            request,
            status=status,
            code=exc.code,
            message=exc.message,
            field=getattr(exc, "field", None),
            headers=headers,
            details=exc.details,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error_response(
            request, status=422, code="validation_error", message="; ".join(problems)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            message = "there is nothing at this address"
        return _error_response(
            request, status=exc.status_code, code=f"http_{exc.status_code}", message=message
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        logger.exception("unexpected error (incident %s)", incident, exc_info=exc)
        return _error_response(
            request,
            status=500,
            code="internal_error",
            message=f"an unexpected error happened; it was logged as incident {incident}",
        )


class SecurityHeaders:
    """Headers every response carries; scripts only from our own origin."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (
            b"content-security-policy",
            # Alpine.js evaluates its attribute expressions, hence 'unsafe-eval'.
            b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; "
            b"img-src 'self' data: blob:; frame-ancestors 'none'; form-action 'self'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def create_app(
    settings: Settings, *, db: Database | None = None, embedded_worker: bool = False
) -> FastAPI:
    """Build the app. With ``embedded_worker`` a worker thread runs inside (``serve``)."""
    database = db or Database.from_url(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if embedded_worker:
            from socialdesk.handlers import ALL_PERIODIC, build_handlers
            from socialdesk.worker import Worker, ensure_periodic_jobs

            ensure_periodic_jobs(database, ALL_PERIODIC)
            worker = Worker(
                database,
                build_handlers(
                    db=database, settings=settings, vault=app.state.vault, network=network
                ),
                concurrency=4,
                lease_seconds=settings.job_lease_seconds,
                poll_seconds=settings.worker_poll_seconds,
            )
            worker.start_in_thread()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop(timeout=30)
            network.close()

    app = FastAPI(
        title="socialdesk",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.vault = Vault(settings)
    network = NetworkRuntime()
    app.state.network = network
    app.state.login_throttle = LoginThrottle(
        limit=settings.login_rate_limit, redis_url=settings.redis_url
    )
    metrics = Metrics(database)
    app.state.metrics = metrics

    _install_error_handlers(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(ui.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with database.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            migrations = "current" if is_up_to_date(database.engine) else "pending"
        except Exception as exc:
            logger.warning("health check: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        status = 200 if migrations == "current" else 503
        body = {"status": "ok" if status == 200 else "error", "database": "ok"}
        body["migrations"] = migrations
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> PlainTextResponse:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    return app
