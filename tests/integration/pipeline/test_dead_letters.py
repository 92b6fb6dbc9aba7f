"""A write the database refuses for what it holds sets aside that step alone: the store's day flows on, the step
waits as a dead letter with its reason, and once the cause is fixed a replay writes it."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, select, update

from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.deadletters import DeadLetters, StillFailing
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store import deadletters
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Product
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.checks import expected_stock, recorded, true_sales

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=3, shoppers=12, delivery_items=10, items_per_product=2)


def _reprice(engine: Engine, currency: str, gtins: set[str]) -> None:
    with engine.begin() as conn:
        conn.execute(update(Product).where(Product.gtin.in_(gtins)).values(currency=currency))


def test_a_sale_the_database_refuses_waits_as_a_dead_letter_and_the_day_flows_on(
    settings: Settings, store: Engine
) -> None:
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    with store.connect() as conn:
        gtins = sorted(conn.execute(select(Product.gtin)).scalars())
    # Half the catalog priced in dollars by mistake: a basket mixing both cannot be priced (SqlSales refuses it).
    dollars = set(gtins[::2])
    _reprice(store, "USD", dollars)
    pipeline = Pipeline(settings, store)
    for batch, now in micro_batches(day, day.end):
        pipeline.process(batch, now)

    assert not pipeline.backlog  # nothing stuck at the head: every later batch was written
    with store.connect() as conn:
        letters = deadletters.page(conn, state="open")
    assert letters, "the day should have had a mixed basket"
    assert pipeline.counters.dead_letters == len(letters)
    assert {letter.kind for letter in letters} == {"sale"}
    assert all("more than one currency" in letter.reason and "Traceback" in letter.trace for letter in letters)
    # The stock is the truth's: the refused sales' items were sold in the ledger before the record was refused.
    ledger = SqlStockLedger(store)
    assert ledger.levels() == expected_stock(day, settings, store)
    truth, _ = true_sales(day)
    sales, _ = recorded(store)
    unrecorded = sum(truth.values(), Counter()) - sum(sales.values(), Counter())
    assert sum(unrecorded.values()) == len(letters)

    service = DeadLetters(store, pipeline=pipeline)
    # Replayed before the cause is fixed: refused again, kept open with one more attempt.
    try:
        asyncio.run(service.replay(letters[0].id))
        raise AssertionError("the replay should have been refused")
    except StillFailing:
        pass
    assert service.get(letters[0].id).attempts == 2
    _reprice(store, "EUR", dollars)
    for letter in letters:
        assert asyncio.run(service.replay(letter.id)).state == "replayed"
    sales, _ = recorded(store)
    assert sales == truth
    assert ledger.levels() == expected_stock(day, settings, store)
