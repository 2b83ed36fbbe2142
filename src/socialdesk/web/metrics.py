# SPDX-License-Identifier: AGPL-3.0-or-later
"""Prometheus metrics: HTTP requests, and the job queue read from the database at scrape."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialdesk import jobs
from socialdesk.storage.session import Database

logger = logging.getLogger(__name__)


class _QueueCollector(Collector):
    def __init__(self, db: Database) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily(
            "socialdesk_jobs", "Jobs in the queue by state", labels=["state"]
        )
        lag = GaugeMetricFamily(
            "socialdesk_jobs_oldest_due_seconds", "How long the oldest due job has waited"
        )
        try:
            with self._db.transaction() as session:
                counts = jobs.counts_by_state(session)
                oldest = jobs.oldest_due_age_seconds(session)
        except Exception:  # a scrape must not fail because the database is down
            logger.warning("could not read the job queue for /metrics", exc_info=True)
            return
        for state in jobs.JobState:
            by_state.add_metric([state.value], counts.get(state.value, 0))
        lag.add_metric([], oldest or 0.0)
        yield by_state
        yield lag


class Metrics:
    """One registry per app, so tests and several apps in one process do not collide."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "socialdesk_http_requests",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "socialdesk_http_request_duration_seconds",
            "HTTP request duration by route template",
            ["method", "route"],
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(db))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times requests by route template (``/api/v1/workspaces/{workspace_id}``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The path with its parameters put back as ``{names}``: bounded label cardinality."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    by_value = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join("{" + by_value[s] + "}" if s in by_value else s for s in segments)
