"""The hot reads (stock and items) on SQLite and PostgreSQL: with more requests at once than the pool has
connections every one is answered, and a database that does not answer is the store being unavailable."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import text

from silentgw.api import create_app
from silentgw.api.deps import Reader
from silentgw.gateway.config import Settings
from silentgw.gateway.store.database import StoreUnavailable, connect, upgrade
from tests.integration.api.test_stock import MILK, stocked
from tests.keys import bearer
from tests.tags import tag


@pytest.mark.anyio
async def test_more_requests_at_once_than_connections_are_all_answered(database_url: str) -> None:
    # One connection, waited for 5 s at most. A request that held it while waiting for a worker thread (as a `def`
    # route's session does until its response is validated) would leave the threads waiting for it, and the
    # requests after them would time out as 503s.
    engine = connect(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        upgrade(engine)
        stocked(engine)
        app = create_app(Settings(database_url=database_url), engine=engine)
        paths = [f"/api/v1/stock?gtin={MILK.gtin}", f"/api/v1/items/{tag(MILK, 0)}"] * 60
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=bearer(engine)) as client:
            answers = await asyncio.gather(*(client.get(path) for path in paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
        assert {a.json()["items"][0]["gtin"] for a in answers[::2]} == {MILK.gtin}
        assert {a.json()["epc"] for a in answers[1::2]} == {tag(MILK, 0)}
    finally:
        engine.dispose()


@pytest.mark.anyio
async def test_a_database_that_does_not_answer_is_the_store_unavailable() -> None:
    # nothing listens on port 1: the connection is refused at once
    reader = Reader(connect("postgresql://silentgw@127.0.0.1:1/silentgw"))
    with pytest.raises(StoreUnavailable):
        await reader(lambda conn: conn.execute(text("SELECT 1")).scalar())


@pytest.mark.anyio
async def test_more_requests_at_once_than_connections_on_session_routes_are_all_answered(database_url: str) -> None:
    # The same on the routes that hold a session until their response is validated (`def` routes): the API admits
    # no more requests at once than the pool has connections, so none waits for a thread while holding one.
    engine = connect(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        upgrade(engine)
        stocked(engine)
        app = create_app(Settings(database_url=database_url), engine=engine)
        paths = ["/api/v1/products?limit=5", "/api/v1/restock/requests", "/api/v1/zones?limit=3"] * 40
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=bearer(engine)) as client:
            answers = await asyncio.gather(*(client.get(path) for path in paths))
        assert [a.status_code for a in answers] == [200] * len(paths)
        assert {len(a.json()["items"]) for a in answers[::3]} == {5}
    finally:
        engine.dispose()
