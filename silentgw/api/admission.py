"""Admission: no more API requests at once than the database pool can serve, so that none can wait for a worker
thread while it holds a connection.

A ``def`` route's session holds its connection until the response is validated, which for such a route is done in
a worker thread. With more requests in flight than the pool has connections, every worker thread could be inside a
route waiting for a connection that requests waiting for a thread hold: the process stalls until the pool's timeout
and answers 503s. Requests past the limit wait here, on the event loop, holding nothing, and go in first come first
served. Live streams are not counted: they hold no connection between their short reads and last for hours.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["Admission", "admitted_at_once"]

RESERVED = 3
"""Connections left to the gateway's own work (the pipeline, the outbox, the rules) when the pool is big enough."""


def admitted_at_once(engine: Engine) -> int:
    """How many requests may be served at once on ``engine``: its pool's connections, less :data:`RESERVED`."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    if not callable(size):
        return 64  # a pool without a bound (SQLite in memory, NullPool): nothing to run out of
    capacity = int(size()) + max(0, int(getattr(pool, "_max_overflow", 0)))
    return max(1, capacity - RESERVED) if capacity > RESERVED else capacity


class Admission:
    """ASGI middleware letting at most ``limit()`` HTTP requests (streams aside) be served at once (``limit`` is asked
    once, at the first request, when the app's database is attached)."""

    def __init__(self, app: ASGIApp, *, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit
        self._slots: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).endswith("/stream"):
            await self.app(scope, receive, send)
            return
        if self._slots is None:  # made on first use, inside the event loop that serves
            self._slots = anyio.Semaphore(self.limit())
        async with self._slots:
            await self.app(scope, receive, send)
