"""One event a sink cannot take must not stop it: the rules sink sets that event aside as a dead letter and acts on
the events after it; the letter is listed with its reason and, once the cause is fixed, replayed."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from silentgw.gateway.actions import Actions
from silentgw.gateway.deadletters import DeadLetters
from silentgw.gateway.events import stock_changed
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.store import deadletters, outbox
from silentgw.gateway.store.models import Product, ReorderRule, RestockRequest
from silentgw.gateway.store.restock import RestockRule
from silentgw.simulator.demo_store import DEMO_PRODUCTS

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
MILK, BREAD = DEMO_PRODUCTS[0], DEMO_PRODUCTS[1]


def _requests(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(RestockRequest.product_id, RestockRequest.quantity)).all())


async def _until(check, what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


async def test_an_event_the_rules_cannot_take_is_set_aside_and_the_rest_flow_on(store: Engine) -> None:
    with store.begin() as conn:
        ids = dict(conn.execute(select(Product.gtin, Product.id)).all())
        conn.execute(delete(ReorderRule))
        # A lead time of two billion days: the due date cannot be computed, whatever the database (it was accepted).
        conn.execute(insert(ReorderRule), [
            {"product_id": ids[MILK.gtin], "location_id": "aisle-1", "minimum": 5, "maximum": 10, "multiple": 1,
             "lead_time_days": 2_000_000_000, "auto_approve": False},
            {"product_id": ids[BREAD.gtin], "location_id": "aisle-1", "minimum": 5, "maximum": 10, "multiple": 1,
             "lead_time_days": 1, "auto_approve": False},
        ])  # fmt: skip
        outbox.append(conn, [
            stock_changed("m1", gtin=MILK.gtin, location="aisle-1", quantity=4, change=-1, time=T0),
            stock_changed("b1", gtin=BREAD.gtin, location="aisle-1", quantity=3, change=-2, time=T0),
        ])  # fmt: skip
    dispatcher = Dispatcher(store, poll=0.05, backoff_cap=0.2)
    dispatcher.add(Actions(store, [RestockRule()], notify=dispatcher.notify))
    running = asyncio.create_task(dispatcher.run())
    try:
        await _until(lambda: ids[BREAD.gtin] in _requests(store), "bread's request was held back by milk's event")
        with store.connect() as conn:
            letters = deadletters.page(conn, state="open")
        assert [(letter.source, letter.kind) for letter in letters] == [("actions", "event")]
        assert "OverflowError" in letters[0].reason
        assert dispatcher.health["actions"].dead_letters == 1
        assert ids[MILK.gtin] not in _requests(store)

        # The rule is put right; the replay raises milk's request.
        with store.begin() as conn:
            conn.execute(update(ReorderRule).where(ReorderRule.product_id == ids[MILK.gtin]).values(lead_time_days=2))
        replayed = await DeadLetters(store, dispatcher=dispatcher).replay(letters[0].id)
        assert replayed.state == "replayed"
        assert _requests(store) == {ids[BREAD.gtin]: 7, ids[MILK.gtin]: 6}
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
