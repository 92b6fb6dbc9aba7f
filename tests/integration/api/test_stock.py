"""Stock and items through the API on SQLite and PostgreSQL: levels by product and location, by zone, what is low,
where an item is (by EPC, or by GTIN and serial) and its history; pages and bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.gateway.config import Settings
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.transitions import Arrived, Moved, Passed
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.integration.pipeline.conftest import example_store
from tests.tags import at, tag

MILK, TEE = DEMO_PRODUCTS[0], DEMO_PRODUCTS[14]


def stocked(engine: Engine) -> Settings:
    settings = example_store(engine)
    ledger = SqlStockLedger(engine)
    zones = ledger.zones()
    ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(3)], zones)
    ledger.apply([Arrived(tag(MILK, n), "stockroom", at(n)) for n in range(10, 14)], zones)
    ledger.apply([Arrived(tag(TEE, n), "shelf-2a", at(n)) for n in range(2)], zones)
    ledger.apply([Moved(tag(MILK, 10), "stockroom", "shelf-1a", at(30))], zones)
    ledger.apply([Passed(tag(TEE, 1), "dock-door", "out", at(40))], zones)
    return settings


def test_levels_by_product_and_location_by_zone_and_what_is_low(client: TestClient, engine: Engine) -> None:
    stocked(engine)
    rows = client.get("/api/v1/stock", params={"gtin": MILK.gtin}).json()["items"]
    assert {(r["location"], r["quantity"]) for r in rows} == {("aisle-1", 4), ("backroom", 3)}
    assert all(r["name"] == MILK.name for r in rows)
    everything = client.get("/api/v1/stock").json()["items"]
    assert sorted((r["gtin"], r["location"], r["quantity"]) for r in everything) == sorted(
        [(MILK.gtin, "aisle-1", 4), (MILK.gtin, "backroom", 3), (TEE.gtin, "aisle-2", 1)]
    )
    first = client.get("/api/v1/stock", params={"limit": 2}).json()
    rest = client.get("/api/v1/stock", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) + len(rest["items"]) == 3
    assert rest["next_cursor"] is None
    assert [r["quantity"] for r in client.get("/api/v1/stock", params={"q": "milk"}).json()["items"]] == [4, 3]
    by_zone = client.get("/api/v1/stock", params={"zone": "shelf-1a"}).json()["items"]
    assert [(r["gtin"], r["zone"], r["quantity"]) for r in by_zone] == [(MILK.gtin, "shelf-1a", 4)]
    shipped_empty = client.get("/api/v1/stock", params={"gtin": TEE.gtin, "location": "aisle-2"}).json()["items"]
    assert [r["quantity"] for r in shipped_empty] == [1]

    rule = {"minimum": 4, "maximum": 12}
    assert client.put(f"/api/v1/restock/rules/{MILK.gtin}/aisle-1", json=rule).status_code == 200
    assert client.put(f"/api/v1/restock/rules/{TEE.gtin}/aisle-1", json=rule).status_code == 200
    low = client.get("/api/v1/stock/low").json()
    assert sorted((r["gtin"], r["quantity"], r["minimum"]) for r in low) == [(MILK.gtin, 4, 4), (TEE.gtin, 0, 4)]

    bad = client.get("/api/v1/stock", params={"cursor": "not-a-cursor"})
    assert (bad.status_code, bad.headers["content-type"]) == (422, "application/problem+json")


def test_an_item_is_found_by_epc_or_gtin_and_serial_with_its_history(client: TestClient, engine: Engine) -> None:
    stocked(engine)
    item = client.get(f"/api/v1/items/{tag(MILK, 10)}").json()
    assert (item["state"], item["location"], item["zone"], item["serial"]) == ("in_stock", "aisle-1", "shelf-1a", "10")
    same = client.get("/api/v1/items", params={"gtin": MILK.gtin, "serial": "10"}).json()
    assert same == item
    history = client.get(f"/api/v1/items/{tag(MILK, 10)}/history").json()
    assert [(m["reason"], m["from_location"], m["to_location"]) for m in history["movements"]] == [
        ("commissioned", None, "backroom"), ("moved", "backroom", "aisle-1"),
    ]  # fmt: skip
    assert [e["type"] for e in history["events"]] == ["silentgw.item.commissioned", "silentgw.item.moved"]
    gone = client.get(f"/api/v1/items/{tag(TEE, 1)}").json()
    assert (gone["state"], gone["location"]) == ("shipped", None)
    unknown = client.get(f"/api/v1/items/{tag(TEE, 99)}")
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/problem+json")
    garbage = client.get("/api/v1/items/XYZ")
    assert (garbage.status_code, garbage.headers["content-type"]) == (422, "application/problem+json")
    assert client.get("/api/v1/items", params={"gtin": "12"}).status_code == 422


def test_reorder_rules_are_listed_a_page_at_a_time(client: TestClient, engine: Engine) -> None:
    stocked(engine)
    rule = {"minimum": 2, "maximum": 8}
    for gtin, location in [(MILK.gtin, "aisle-1"), (MILK.gtin, "backroom"), (TEE.gtin, "aisle-2")]:
        assert client.put(f"/api/v1/restock/rules/{gtin}/{location}", json=rule).status_code == 200
    seen, cursor = [], None
    while True:
        page = client.get("/api/v1/restock/rules", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        seen += [(r["gtin"], r["location"]) for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([(MILK.gtin, "aisle-1"), (MILK.gtin, "backroom"), (TEE.gtin, "aisle-2")])
    one = client.get("/api/v1/restock/rules", params={"location": "backroom"}).json()["items"]
    assert [(r["gtin"], r["minimum"], r["maximum"]) for r in one] == [(MILK.gtin, 2, 8)]
