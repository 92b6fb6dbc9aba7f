"""A stocked store for the staff page's tests, built through the real code paths: the example layout and the demo
catalog, a reorder rule set by the API's own route function, stock from tag transitions through the ledger, and the
restock rule run on the events that wrote, which raises one proposed request."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from silentgw.api.routes import restock
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings
from silentgw.gateway.store import outbox
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.restock import RestockRule
from silentgw.gateway.transitions import Arrived, Departed
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.integration.pipeline.conftest import example_store
from tests.tags import at, tag

__all__ = ["MILK", "TEE_M", "TEE_S", "stocked_store"]

MILK, TEE_S, TEE_M = DEMO_PRODUCTS[0], DEMO_PRODUCTS[14], DEMO_PRODUCTS[15]


def stocked_store(engine: Engine, database_url: str) -> Settings:
    """Milk at aisle-1 (3, at its minimum: one proposed request for 7), tees S (aisle-2: 3) and M (aisle-2: 1,
    backroom: 5); the example store's settings on ``database_url``."""
    settings = example_store(engine, database_url)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        restock.put_rule(MILK.gtin, "aisle-1", restock.RuleIn(minimum=3, maximum=10), catalog)
    ledger = SqlStockLedger(engine)
    zones = ledger.zones()
    ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(5)], zones)
    ledger.apply([Departed(tag(MILK, 0), "shelf-1a", at(10)), Departed(tag(MILK, 1), "shelf-1a", at(11))], zones)
    ledger.apply([Arrived(tag(TEE_S, n), "shelf-2a", at(n)) for n in range(3)], zones)
    ledger.apply([Arrived(tag(TEE_M, 100), "shelf-2a", at(20))], zones)
    ledger.apply([Arrived(tag(TEE_M, n), "stockroom", at(n)) for n in range(5)], zones)
    rule = RestockRule()  # run on what the ledger wrote, in one transaction, as the rules' outbox sink runs it
    with engine.begin() as conn:
        written = outbox.read(conn, 0, limit=10_000)
        outbox.append(conn, [e for event in written if rule.wants(event) for e in rule.handle(conn, event).events])
    return settings
