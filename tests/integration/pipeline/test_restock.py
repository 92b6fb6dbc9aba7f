"""Restock end to end on SQLite and PostgreSQL: a shelf sells down to its minimum, the rules raise one request for
the shortfall, staff approve it through the API, and the delivery read arriving through receiving fills it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select

from silentgw.api import create_app
from silentgw.gateway.actions import Actions
from silentgw.gateway.config import Settings
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.store import outbox
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Event, Product, ReorderRule, RestockRequest
from silentgw.gateway.store.restock import RestockRule
from silentgw.gateway.transitions import Arrived, Departed, Transition
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.keys import bearer

pytestmark = pytest.mark.anyio

MILK = DEMO_PRODUCTS[0]
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def milk(serial: int) -> str:
    return encode_sgtin(gtin=MILK.gtin, serial=str(serial), company_prefix_length=len(MILK.company_prefix))


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def types(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(Event.type).order_by(Event.seq)).scalars())


async def settled(dispatcher: Dispatcher, check: Callable[[], bool]) -> None:
    dispatcher.notify()
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the rules did not act: {dispatcher.health}")


async def test_a_shortfall_raises_one_request_that_staff_approve_and_a_delivery_fills(
    settings: Settings, store: Engine, database_url: str
) -> None:
    ledger = SqlStockLedger(store)
    zones = ledger.zones()

    def apply(*transitions: Transition) -> None:
        ledger.apply(list(transitions), zones)

    actions = Actions(store, [RestockRule()])
    dispatcher = Dispatcher(store, [actions], poll=0.05)
    runner = asyncio.create_task(dispatcher.run())
    api = TestClient(create_app(settings.model_copy(update={"database_url": database_url}), engine=store),
                     headers=bearer(store))  # fmt: skip
    try:
        with api:
            rule = {"minimum": 2, "maximum": 10, "multiple": 6, "lead_time_days": 2}
            assert api.put(f"/api/v1/restock/rules/{MILK.gtin}/aisle-1", json=rule).status_code == 200
            bad = api.put(f"/api/v1/restock/rules/{MILK.gtin}/aisle-1", json={"minimum": 5, "maximum": 5})
            assert bad.status_code == 422
            assert bad.headers["content-type"] == "application/problem+json"

            apply(*(Arrived(milk(n), "shelf-1a", at(n)) for n in range(5)))  # five on the shelf
            apply(Departed(milk(0), "shelf-1a", at(10)), Departed(milk(1), "shelf-1a", at(11)))  # three left
            await settled(dispatcher, lambda: dispatcher.health["actions"].cursor == len(types(store)))
            assert api.get("/api/v1/restock/requests").json()["items"] == []

            apply(Departed(milk(2), "shelf-1a", at(12)))  # two left: at the minimum
            await settled(dispatcher, lambda: "silentgw.restock.requested" in types(store))
            apply(Departed(milk(3), "shelf-1a", at(13)))  # one left: the same shortfall, no second request
            await settled(dispatcher, lambda: types(store).count("silentgw.stock.low") == 2)
            requests = api.get("/api/v1/restock/requests", params={"state": "open"}).json()["items"]
            assert len(requests) == 1
            request = requests[0]
            # Two left raised it: 8 short of the maximum, rounded up to the multiple of 6.
            assert (request["gtin"], request["location"], request["quantity"], request["level"]) == (
                MILK.gtin, "aisle-1", 12, 2,
            )  # fmt: skip
            assert request["state"] == "proposed"
            assert dt.datetime.fromisoformat(request["due_at"]) == at(12) + dt.timedelta(days=2)

            received = api.post(f"/api/v1/restock/requests/{request['id']}/cancel")  # wrong button: check 409 later
            assert received.status_code == 200
            again = api.post(f"/api/v1/restock/requests/{request['id']}/approve")
            assert again.status_code == 409
            assert again.json()["detail"] == "a request that is cancelled cannot be approved"
            assert api.post("/api/v1/restock/requests/nope/approve").status_code == 404

            apply(Departed(milk(4), "shelf-1a", at(14)))  # empty: the cancelled request no longer covers it
            await settled(dispatcher, lambda: types(store).count("silentgw.restock.requested") == 2)
            (request,) = api.get("/api/v1/restock/requests", params={"state": "open"}).json()["items"]
            assert (request["quantity"], request["level"]) == (12, 0)
            approved = api.post(f"/api/v1/restock/requests/{request['id']}/approve").json()
            assert approved["state"] == "approved"

            # The delivery: eight arrive through receiving, then four more.
            apply(*(Arrived(milk(100 + n), "receiving", at(60 + n)) for n in range(8)))
            await settled(dispatcher, lambda: types(store).count("silentgw.restock.received") == 8)
            assert api.get(f"/api/v1/restock/requests/{request['id']}").json()["state"] == "partially_received"
            apply(*(Arrived(milk(200 + n), "receiving", at(90 + n)) for n in range(4)))
            await settled(dispatcher, lambda: types(store).count("silentgw.restock.received") == 12)
            done = api.get(f"/api/v1/restock/requests/{request['id']}").json()
            assert (done["state"], done["received"]) == ("received", 12)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    kinds = types(store)
    assert kinds.count("silentgw.restock.approved") == 1
    assert kinds.count("silentgw.restock.cancelled") == 1


async def test_a_shelf_being_filled_below_its_minimum_raises_nothing_until_it_falls(
    settings: Settings, store: Engine, database_url: str
) -> None:
    ledger = SqlStockLedger(store)
    zones = ledger.zones()
    actions = Actions(store, [RestockRule()])
    dispatcher = Dispatcher(store, [actions], poll=0.05)
    runner = asyncio.create_task(dispatcher.run())
    api = TestClient(create_app(settings.model_copy(update={"database_url": database_url}), engine=store),
                     headers=bearer(store))  # fmt: skip
    try:
        with api:
            rule = {"minimum": 5, "maximum": 10}
            assert api.put(f"/api/v1/restock/rules/{MILK.gtin}/aisle-1", json=rule).status_code == 200
            for n in range(4):  # the shelf is stocked one carton at a time: 1, 2, 3, 4, all below the minimum
                ledger.apply([Arrived(milk(n), "shelf-1a", at(n))], zones)
            await settled(dispatcher, lambda: dispatcher.health["actions"].cursor == len(types(store)))
            assert api.get("/api/v1/restock/requests").json()["items"] == []
            ledger.apply([Departed(milk(0), "shelf-1a", at(10))], zones)  # a sale: 3 left, and falling
            await settled(dispatcher, lambda: len(api.get("/api/v1/restock/requests").json()["items"]) == 1)
            (request,) = api.get("/api/v1/restock/requests").json()["items"]
            assert (request["level"], request["quantity"], request["state"]) == (3, 7, "proposed")
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_an_item_received_again_after_a_crash_is_not_counted_towards_another_request(store: Engine) -> None:
    ledger = SqlStockLedger(store)
    zones = ledger.zones()
    actions = Actions(store, [RestockRule()])
    with store.begin() as conn:
        product = conn.execute(select(Product.id).where(Product.gtin == MILK.gtin)).scalar_one()
        conn.execute(insert(ReorderRule), [
            {"product_id": product, "location_id": location, "minimum": 2, "maximum": 3, "auto_approve": True}
            for location in ("aisle-1", "aisle-2")
        ])  # fmt: skip
    seen = 0

    async def act() -> list[StoredEvent]:
        """The Actions sink takes the events written since it last did; the events it took."""
        nonlocal seen
        with store.connect() as conn:
            new = outbox.read(conn, seen, limit=10_000)
        seen = new[-1].seq if new else seen
        await actions.deliver([e for e in new if actions.wants(e)])
        return new

    # Three on each aisle's shelf, one sold from each: two left, a request for one at each, approved at once.
    ledger.apply([Arrived(milk(n), "shelf-1a" if n < 3 else "shelf-2a", at(n)) for n in range(6)], zones)
    ledger.apply([Departed(milk(0), "shelf-1a", at(10)), Departed(milk(3), "shelf-2a", at(11))], zones)
    await act()
    with store.connect() as conn:
        requests = conn.execute(select(RestockRequest.location_id, RestockRequest.id).order_by(
            RestockRequest.created_at)).all()  # fmt: skip
    assert [location for location, _ in requests] == ["aisle-1", "aisle-2"]
    # One arrives through receiving: aisle-1's request (the oldest) is filled by it.
    ledger.apply([Arrived(milk(100), "receiving", at(60))], zones)
    (arrival,) = [e for e in await act() if e.type == "silentgw.item.received"]
    # The gateway crashed before the sink's cursor moved: the same event is handed over again, aisle-2's request
    # being the open one now. The item was counted once; it must not be counted again.
    await actions.deliver([arrival])
    with store.connect() as conn:
        got = dict(conn.execute(select(RestockRequest.location_id, RestockRequest.received)).all())
    assert got == {"aisle-1": 1, "aisle-2": 0}
    assert types(store).count("silentgw.restock.received") == 1
