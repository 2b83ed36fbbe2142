# SPDX-License-Identifier: AGPL-3.0-or-later
"""One event loop and one HTTP client for every network call of a process.

A :class:`NetworkRuntime` runs an asyncio loop in a thread of its own and keeps one
``httpx.AsyncClient`` on it. Async code (the publisher) schedules coroutines on that loop
with :meth:`NetworkRuntime.submit`, so a worker keeps many publishes in flight on one
thread; sync code (web routes, the CLI, token refreshes) calls :meth:`NetworkRuntime.run`,
which blocks only the calling thread.

One client means one SSL context (building one loads the CA bundle: tens of milliseconds
of CPU) and kept-alive connections shared by every call. Its connections are spread over
a few pools (:class:`ShardedTransport`) so that a hundred requests in flight stay cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

#: Connect fast (a dead host is a transient error); allow a network time to answer.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Connections open at once from one process (opened as needed, 32 per pool): enough for
#: ``socialdesk worker --concurrency 256`` plus the web app's calls.
DEFAULT_MAX_CONNECTIONS = 512
#: Connection pools the connections are spread over (see :class:`ShardedTransport`).
DEFAULT_POOLS = 16


class ShardedTransport(httpx.AsyncBaseTransport):
    """Requests spread in turn over ``pools`` connection pools that share one SSL context.

    httpcore's pool checks every connection it holds (expired? idle? a syscall each) on
    every request and every response, so its cost grows with the connections it holds:
    with 50 requests in flight on one pool that was a third of a worker's CPU per publish.
    Several smaller pools keep each check short; kept-alive connections are reused within
    each pool.
    """

    def __init__(self, *, limits: httpx.Limits, pools: int = DEFAULT_POOLS) -> None:
        ssl_context = httpx.create_ssl_context()
        per_pool = httpx.Limits(
            max_connections=(
                None
                if limits.max_connections is None
                else math.ceil(limits.max_connections / pools)
            ),
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )
        self._pools = [
            httpx.AsyncHTTPTransport(verify=ssl_context, limits=per_pool) for _ in range(pools)
        ]
        self._turn = itertools.cycle(self._pools)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await next(self._turn).handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class NetworkRuntime:
    """The process's network loop and HTTP client; ``transport_factory`` routes tests to fakes.

    Both are created on first use, so building a runtime costs nothing; :meth:`close` stops
    them (call it when the process or the worker stops).
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self._timeout = timeout
        self._transport_factory = transport_factory
        self._limits = httpx.Limits(max_connections=max_connections)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None

    # -- the loop -------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running network loop, started on first use."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop, self._thread = self._start_loop()
            return self._loop

    @staticmethod
    def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
        loop = asyncio.new_event_loop()
        # A daemon thread: a process that exits without close() must not hang on it.
        thread = threading.Thread(target=loop.run_forever, name="socialdesk-network", daemon=True)
        thread.start()
        return loop, thread

    @property
    def http(self) -> httpx.AsyncClient:
        """The client every connector of this process uses; only awaited on :attr:`loop`."""
        with self._lock:
            if self._client is None:
                transport = (
                    self._transport_factory()
                    if self._transport_factory
                    else ShardedTransport(limits=self._limits)
                )
                self._client = httpx.AsyncClient(
                    timeout=self._timeout, limits=self._limits, transport=transport
                )
            return self._client

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the network loop; its result arrives in the future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the network loop and wait for its result (sync callers)."""
        if self._thread is threading.current_thread():
            # Waiting here would wait for this very thread: a deadlock. Await it instead.
            raise RuntimeError("NetworkRuntime.run() called from the network loop")

        async def _await() -> T:
            return await awaitable

        return self.submit(_await()).result()

    def call(self, function: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        return self.run(function(self.http))

    def close(self) -> None:
        """Close the client, stop the loop and its thread; the runtime may be used again."""
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None or thread is None:
            return
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        if not thread.is_alive():
            loop.close()
