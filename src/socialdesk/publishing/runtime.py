# SPDX-License-Identifier: AGPL-3.0-or-later
"""Running async connector calls from the worker's threads.

Each worker thread keeps one event loop and one ``httpx.AsyncClient`` for its whole life,
so connections to a network are reused across jobs instead of re-opened for each post.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

#: Connect fast (a dead host is a transient error); allow a network time to answer.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class NetworkRuntime:
    """Per-thread event loop and HTTP client; ``transport`` lets tests route to fakes."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        max_connections: int = 100,
    ) -> None:
        self._timeout = timeout
        self._transport_factory = transport_factory
        self._limits = httpx.Limits(max_connections=max_connections)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = []

    def _state(self) -> tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]:
        state: tuple[asyncio.AbstractEventLoop, httpx.AsyncClient] | None = getattr(
            self._local, "state", None
        )
        if state is None:
            loop = asyncio.new_event_loop()
            transport = self._transport_factory() if self._transport_factory else None
            client = httpx.AsyncClient(
                timeout=self._timeout, limits=self._limits, transport=transport
            )
            state = (loop, client)
            self._local.state = state
            with self._lock:
                self._all.append(state)
        return state

    @property
    def http(self) -> httpx.AsyncClient:
        return self._state()[1]

    def run(self, awaitable: Awaitable[T]) -> T:
        loop, _client = self._state()

        async def _await() -> T:
            return await awaitable

        return loop.run_until_complete(_await())

    def close(self) -> None:
        """Close every thread's client and loop (call when the worker stops)."""
        with self._lock:
            states, self._all = self._all, []
        for loop, client in states:
            if not loop.is_closed():
                loop.run_until_complete(client.aclose())
                loop.close()

    def call(self, function: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        return self.run(function(self.http))
