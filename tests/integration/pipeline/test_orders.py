"""Fulfilment end to end on SQLite and PostgreSQL: an order through the API is allocated to items in stock (or when
goods arrive), picked from its pick list, checked at the pack station (a wrong item and a missing one are errors,
not silent passes), and shipped when its items are read leaving through the dock door."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from silentgw.api import create_app
from silentgw.gateway import events
from silentgw.gateway.actions import Actions
from silentgw.gateway.config import Settings
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.store import outbox
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Event
from silentgw.gateway.store.orders import OrdersRule
from silentgw.gateway.transitions import Arrived, Passed
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.keys import bearer
from tests.tags import at, tag

pytestmark = pytest.mark.anyio

MILK, SWEATER = DEMO_PRODUCTS[0], DEMO_PRODUCTS[12]
SHIP_TO = {"name": "Ada Shop", "street": "1 Main St", "city": "Utrecht", "postal_code": "3511", "country": "NL"}


def order_events(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Event.type, Event.data).where(Event.type.startswith("silentgw.order.")))
        return [(t, d) for t, d in rows]


async def test_an_order_is_allocated_picked_checked_at_packing_and_shipped(
    settings: Settings, store: Engine, database_url: str
) -> None:
    ledger = SqlStockLedger(store)
    zones = ledger.zones()
    ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(3)], zones)
    ledger.apply([Arrived(tag(SWEATER, n), "shelf-2a", at(n)) for n in range(1)], zones)
    actions = Actions(store, [OrdersRule()])
    dispatcher = Dispatcher(store, [actions], poll=0.05)
    runner = asyncio.create_task(dispatcher.run())

    async def until(check: Callable[[], bool]) -> None:
        dispatcher.notify()
        for _ in range(500):
            if check():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"fulfilment did not act: {dispatcher.health}")

    def kinds() -> list[str]:
        return [t.removeprefix("silentgw.order.") for t, _ in order_events(store)]

    api = TestClient(create_app(settings.model_copy(update={"database_url": database_url}), engine=store),
                     headers=bearer(store))  # fmt: skip
    try:
        with api:
            body = {"reference": "PO-1", "ship_to": SHIP_TO,
                    "lines": [{"gtin": MILK.gtin, "quantity": 2}, {"sku": SWEATER.sku, "quantity": 2}]}  # fmt: skip
            created = api.post("/api/v1/orders", json=body)
            assert created.status_code == 201
            order = created.json()
            assert order["state"] == "open"  # one sweater in stock, two ordered
            assert [(ln["quantity"], ln["allocated"]) for ln in order["lines"]] == [(2, 2), (2, 1)]
            again = api.post("/api/v1/orders", json=body)
            assert (again.status_code, again.json()["id"]) == (200, order["id"])  # the same reference: the same order
            bad = api.post(
                "/api/v1/orders", json={**body, "reference": "PO-2", "lines": [{"sku": "NOPE", "quantity": 1}]}
            )
            assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "body.lines.0")
            assert api.post("/api/v1/orders", json={**body, "lines": [{"quantity": 1}]}).status_code == 422

            # A second sweater is delivered through receiving: the order is allocated in full.
            ledger.apply([Arrived(tag(SWEATER, 50), "receiving", at(30))], zones)
            await until(lambda: "allocated" in kinds())
            tracked = api.get(f"/api/v1/orders/{order['id']}").json()
            assert tracked["state"] == "allocated"
            picks = api.get(f"/api/v1/orders/{order['id']}/pick-list").json()
            assert sorted((p["gtin"], p["zone"]) for p in picks) == [
                (MILK.gtin, "shelf-1a"), (MILK.gtin, "shelf-1a"),
                (SWEATER.gtin, "receiving"), (SWEATER.gtin, "shelf-2a"),
            ]  # fmt: skip
            allocated = next(d for t, d in order_events(store) if t == "silentgw.order.allocated")
            assert len(allocated["pick_list"]) == 4

            # Packing: three of the four are read at the pack station, and a tag that is no part of any order.
            packed = [p["epc"] for p in picks][:3]
            stray = tag(MILK, 2) if tag(MILK, 2) not in {p["epc"] for p in picks} else tag(MILK, 0)
            with store.begin() as conn:
                outbox.append(
                    conn, [events.tag_arrived(e, "pack-1", at(40 + i)) for i, e in enumerate([*packed, stray])]
                )
            await until(lambda: "pack_error" in kinds())
            wrong = next(d for t, d in order_events(store) if t == "silentgw.order.pack_error")
            assert (wrong["reason"], wrong["epc"]) == ("wrong_item", stray)
            check = api.post(f"/api/v1/orders/{order['id']}/verify", params={"station": "pack-1"}).json()
            assert check["complete"] is False
            assert check["missing"] == [next(p["item"] for p in picks if p["epc"] not in packed)]
            assert [d["reason"] for t, d in order_events(store) if t == "silentgw.order.pack_error"] == [
                "wrong_item", "missing",
            ]  # fmt: skip
            assert api.get(f"/api/v1/orders/{order['id']}").json()["state"] == "allocated"
            with store.begin() as conn:
                outbox.append(conn, [events.tag_arrived(picks[3]["epc"], "pack-1", at(50))])
            await until(lambda: "packed" in kinds())
            assert api.post(f"/api/v1/orders/{order['id']}/verify").json() == {
                "order": order["id"], "missing": [], "complete": True,
            }  # fmt: skip

            # Out through the dock door: shipped.
            ledger.apply([Passed(p["epc"], "dock-door", "out", at(60)) for p in picks], zones)
            await until(lambda: "shipped" in kinds())
            assert api.get(f"/api/v1/orders/{order['id']}").json()["state"] == "shipped"
            refused = api.post(f"/api/v1/orders/{order['id']}/cancel")
            assert (refused.status_code, refused.json()["detail"]) == (
                409,
                "an order that is shipped cannot be cancelled",
            )
            assert api.get("/api/v1/orders", params={"state": "shipped"}).json()["items"][0]["id"] == order["id"]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert kinds() == ["created", "allocated", "pack_error", "pack_error", "packed", "shipped"]
