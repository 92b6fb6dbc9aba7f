"""Dependencies the routes declare: the database session (or, for hot reads, a reader), the catalog, the settings,
and paging parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import Depends, Query, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings

__all__ = ["CatalogDep", "CursorDep", "LimitDep", "Reader", "ReaderDep", "SessionDep", "SettingsDep"]

T = TypeVar("T")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _session(request: Request) -> Iterator[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions.begin() as session:  # a database that does not answer raises StoreUnavailable (store.database)
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
# scope="function": the transaction commits before the response is sent, so a failed commit is an error response,
# never a 201 for a write that was lost (the default, "request", would commit after the client has its answer).
SessionDep = Annotated[Session, Depends(_session, scope="function")]


class Reader:
    """Runs a route's read-only queries: ``await reader(query)`` calls ``query(conn)`` in a worker thread on a
    connection of its own, returned to the pool before the thread is.

    For the hot read routes (stock, items): a route declared with ``async def`` that reads through this makes one
    thread hop per request, where a ``def`` route with :data:`SessionDep` makes four (the session, the route, the
    response's validation, the session's end). And no connection is held while waiting for a worker thread: a
    session is held until after the response is validated, which for a ``def`` route waits for a free thread, so
    with more requests in flight than the pool has connections, every thread could be waiting for a connection
    that requests waiting for a thread hold (until the pool's timeout).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, query: Callable[[Connection], T]) -> T:
        """``query(conn)``'s result; the database not answering is :class:`StoreUnavailable`."""
        return await anyio.to_thread.run_sync(self._run, query, limiter=_readers())

    def _run(self, query: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return query(conn)


READERS = 4
"""Worker threads the readers use at most, per event loop. Few: the queries are short and the threads share one
interpreter lock with the event loop, so more threads only take turns at it, unfairly (measured with bench/api.py:
4 threads answer as many requests per second as 40, at about half the p99 latency, on SQLite and PostgreSQL)."""

_limiter: RunVar[anyio.CapacityLimiter] = RunVar("silentgw_readers")


def _readers() -> anyio.CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(READERS)
        _limiter.set(limiter)
        return limiter


async def _reader(request: Request) -> Reader:
    # `async def`: a plain function dependency would be run in a worker thread, a hop of its own.
    return Reader(request.app.state.engine)


ReaderDep = Annotated[Reader, Depends(_reader)]


def _catalog(session: SessionDep, settings: SettingsDep) -> Catalog:
    return Catalog(session, site_id=settings.site.id)


CatalogDep = Annotated[Catalog, Depends(_catalog)]
CursorDep = Annotated[
    str | None, Query(description="The `next_cursor` of the previous page; omit for the first page.", max_length=200)
]
LimitDep = Annotated[int, Query(ge=1, le=500, description="How many items a page holds at most.")]
