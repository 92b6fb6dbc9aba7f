"""A member's value through the API on SQLite and PostgreSQL: their purchases, RFM figures and scores, segment and
points, after real sales were recorded."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.gateway import checkout
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.sales import SqlSales
from silentgw.gateway.transitions import Arrived
from silentgw.simulator.demo_store import DEMO_MEMBERS, DEMO_PRODUCTS
from tests.integration.api.test_stock import stocked
from tests.tags import at, tag

TEE = DEMO_PRODUCTS[14]


def test_a_members_purchases_figures_scores_segment_and_points(client: TestClient, engine: Engine) -> None:
    settings = stocked(engine)
    ledger = SqlStockLedger(engine)
    ledger.apply([Arrived(tag(TEE, n), "shelf-2a", at(n)) for n in range(20, 23)], ledger.zones())
    sales = SqlSales(engine, timezone=settings.site.timezone)
    number = DEMO_MEMBERS[0][0]
    now = dt.datetime.now(dt.UTC)
    for i, serial in enumerate((20, 21)):
        closed = now - dt.timedelta(days=3 - i)
        decoded = decode(tag(TEE, serial))
        assert isinstance(decoded, Epc)
        sale = checkout.Sale(checkout.sale_id("checkout-1", closed), number, (tag(TEE, serial),), closed,
                             "checkout-1", closed - dt.timedelta(minutes=1))  # fmt: skip
        sales.record(sale, prices=sales.prices([decoded]))
    value = client.get(f"/api/v1/members/{number}/value").json()
    assert value["purchases"] == 2
    assert value["monetary"] == str(TEE.price * 2)
    assert value["largest"] == str(TEE.price)
    assert value["recency_days"] in (1, 2)  # the last purchase, counted in the site's days
    assert value["rfm"] == {"recency": 5, "frequency": 5, "monetary": 5}  # the only buyer among the members
    assert value["segment"] == "Champions"
    assert value["points"] == 2 * int(TEE.price)
    purchases = client.get(f"/api/v1/members/{number}/purchases").json()
    assert [p["items"] for p in purchases["items"]] == [[f"(01){TEE.gtin}(21)21"], [f"(01){TEE.gtin}(21)20"]]
    first = client.get(f"/api/v1/members/{number}/purchases", params={"limit": 1}).json()
    rest = client.get(f"/api/v1/members/{number}/purchases", params={"limit": 1, "cursor": first["next_cursor"]})
    assert first["items"] + rest.json()["items"] == purchases["items"]  # newest first, a page at a time
    assert rest.json()["next_cursor"] is None
    assert client.get("/api/v1/members/NOBODY/value").status_code == 404
