"""The database goes away in the middle of a store day and comes back: the pipeline keeps deciding in memory, writes
what it decided once the database answers, and ends the day with the true records, nothing lost or doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Engine

from silentgw.gateway.checkout import UnpaidExit
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.checks import expected_stock, recorded, true_sales
from tests.tcp_proxy import TcpProxy

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=3, shoppers=12, delivery_items=10, items_per_product=2)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_outage_delays_the_records_and_loses_nothing(
    database_url: str, settings: Settings, store: Engine
) -> None:
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    batches = list(micro_batches(day, day.end))
    # The outage covers the shoppers' busiest stretch: sales, an unpaid exit, arrivals and departures.
    down, up = len(batches) // 3, 2 * len(batches) // 3
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        engine = connect(database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
        try:
            pipeline = Pipeline(settings, engine)
            alarms = []
            for n, (batch, now) in enumerate(batches):
                if n == down:
                    proxy.cut()
                if n == up:
                    assert len(pipeline.backlog) > 10
                    assert pipeline.counters.write_failures > 0
                    proxy.restore()
                processed = pipeline.process(batch, now)
                alarms += [e for e in processed.events if isinstance(e, UnpaidExit)]
            assert not pipeline.backlog
        finally:
            engine.dispose()

    ledger = SqlStockLedger(store)
    assert ledger.levels() == expected_stock(day, settings, store)
    assert ledger.levels() == ledger.recount()
    truth, earned = true_sales(day)
    sales, on_record = recorded(store)
    assert sales == truth
    assert on_record == {number: earned[number] for number in on_record}
    assert pipeline.counters.sales == len(day.truth.sales)
    assert [a.epc for a in alarms] == [h.subject for h in day.truth.happenings if h.what == "unpaid_exit"]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_long_outage_holds_the_drivers_back_once_the_backlog_is_full(
    database_url: str, settings: Settings, store: Engine
) -> None:
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    batches = [(batch, now) for batch, now in micro_batches(day, day.end)]
    clock = [batches[0][1]]

    async def hand(batch: list, now) -> None:  # type: ignore[type-arg]
        clock[0] = now
        await pipeline.handle(batch)

    async def scenario(proxy: TcpProxy) -> None:
        proxy.cut()
        taken = 0
        for batch, now in batches:
            handing = asyncio.create_task(hand(batch, now))
            await asyncio.wait({handing}, timeout=1.0)
            if not handing.done():
                break  # held back: the intake, and the drivers behind it, wait
            taken += 1
        else:
            raise AssertionError("the pipeline took the whole day with the database away")
        assert len(pipeline.backlog) == pipeline.max_backlog == 5
        assert pipeline.counters.held_back == 1
        proxy.restore()
        await asyncio.wait_for(handing, timeout=10)  # taken once the database answers
        for batch, now in batches[taken + 1 :]:
            await hand(batch, now)
        await pipeline.close()
        assert not pipeline.backlog

    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        engine = connect(database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
        try:
            pipeline = Pipeline(settings, engine, max_reads=1, max_backlog=5, clock=lambda: clock[0])
            pipeline.retry_every = 0.0
            asyncio.run(scenario(proxy))
        finally:
            engine.dispose()
    ledger = SqlStockLedger(store)
    assert ledger.levels() == expected_stock(day, settings, store)
