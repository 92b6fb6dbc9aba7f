"""The read pipeline over a short simulated store day, on SQLite and PostgreSQL: stock, sales, the alarm, replays
and a restart."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from silentgw.drivers.observations import Observation, TagRead
from silentgw.gateway.checkout import Sale, UnpaidExit
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline, Processed
from silentgw.gateway.store.models import Item, ItemState, StockMovement
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.checks import expected_stock
from tests.tags import T0, tag

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=3, shoppers=12, delivery_items=10, items_per_product=2)

Batch = tuple[list[Observation], dt.datetime]


@dataclass(frozen=True)
class Day:
    """The store day cut into one-second micro-batches, and what really happened."""

    day: StoreDay
    batches: list[Batch]


@pytest.fixture(scope="module")
def played() -> Day:
    """The day's observations in one-second micro-batches (the last one processed at closing time)."""
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    return Day(day, list(micro_batches(day, day.end)))


def run(pipeline: Pipeline, batches: Sequence[Batch]) -> list[Processed]:
    """Every batch through ``process``."""
    return [pipeline.process(batch, now) for batch, now in batches]


def snapshot(engine: Engine) -> tuple[int, list[tuple[str, str, str | None]]]:
    """How many movements the ledger holds, and every item's key, state and zone."""
    with engine.connect() as conn:
        movements = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
        items = [
            (k, str(s), z) for k, s, z in conn.execute(select(Item.key, Item.state, Item.zone_id).order_by(Item.key))
        ]
    return movements, items


def test_a_store_day_ends_with_the_true_stock_sales_and_one_alarm(
    played: Day, settings: Settings, store: Engine
) -> None:
    pipeline = Pipeline(settings, store)
    events = [e for p in run(pipeline, played.batches) for e in p.events]
    day = played.day
    assert pipeline.ledger.levels() == expected_stock(day, settings, store)
    assert pipeline.ledger.levels() == pipeline.ledger.recount()
    sales = [e for e in events if isinstance(e, Sale)]
    assert Counter((s.member, frozenset(s.items)) for s in sales) == Counter(
        (s.member, frozenset(s.items)) for s in day.truth.sales
    )
    keys = {epc: item.key for epc, item in day.truth.items.items()}
    sold = {keys[epc] for s in day.truth.sales for epc in s.items}
    with store.connect() as conn:
        recorded = set(
            conn.execute(select(StockMovement.idempotency_key).where(StockMovement.reason == "sold")).scalars()
        )
        states = {key: state for key, state in conn.execute(select(Item.key, Item.state))}
    assert len(recorded) == len(sold) > 0
    assert {key for key in sold if states[key] == ItemState.SOLD} == sold
    assert [a.epc for a in events if isinstance(a, UnpaidExit)] == [
        h.subject for h in day.truth.happenings if h.what == "unpaid_exit"
    ]
    c = pipeline.counters
    assert c.alarms == 1
    assert c.sales == len(day.truth.sales)
    assert c.reads > 10_000
    assert c.transitions["arrived"] > 150
    assert c.movements == len(set(conn_keys(store)))


def conn_keys(engine: Engine) -> list[str]:
    """Every movement's idempotency key."""
    with engine.connect() as conn:
        return list(conn.execute(select(StockMovement.idempotency_key)).scalars())


def test_replaying_the_whole_day_changes_nothing(played: Day, settings: Settings, store: Engine) -> None:
    run(Pipeline(settings, store), played.batches)
    before = snapshot(store), Pipeline(settings, store).ledger.levels()
    again = Pipeline(settings, store)
    processed = run(again, played.batches)
    assert sum(len(p.movements) for p in processed) == 0
    assert (snapshot(store), again.ledger.levels()) == before


def test_a_restart_halfway_ends_with_the_same_stock(played: Day, settings: Settings, store: Engine) -> None:
    half = len(played.batches) // 2
    run(Pipeline(settings, store), played.batches[:half])
    restarted = Pipeline.restore(settings, store, now=played.batches[half][1])
    assert len(restarted.presence) > 100
    run(restarted, played.batches[half:])
    assert restarted.ledger.levels() == expected_stock(played.day, settings, store)
    assert restarted.ledger.levels() == restarted.ledger.recount()


def test_a_basket_walked_out_item_by_item_is_sold_and_nothing_goes_missing(settings: Settings, store: Engine) -> None:
    # A basket's items pass the exit a moment apart and the sale closes on the last one out: the first must leave
    # stock by the sale, not as missing (in the same micro-batch, and when the rest of the basket comes a batch later).
    a, b, c, d = (tag(DEMO_PRODUCTS[0], n) for n in (901, 902, 903, 904))

    def read(epc: str, port: int, seconds: float, reader: str = "reader-front", rssi: float = -40.0) -> TagRead:
        return TagRead(epc, reader, port, rssi, T0 + dt.timedelta(seconds=seconds))

    def out(epc: str, seconds: float) -> list[TagRead]:  # inner antenna, then outer
        return [read(epc, 2, seconds), read(epc, 3, seconds + 0.1)]

    shelf = [read(e, 1, s, "reader-floor", -60.0) for s in (0, 1, 2) for e in (a, b, c, d)]
    batches: list[Sequence[Observation]] = [
        shelf,
        [read(e, 1, 10) for e in (a, b)],  # laid on the checkout pad
        [*out(a, 20), *out(b, 20.001)],  # out a millisecond apart, in one batch
        [read(e, 1, 40) for e in (c, d)],
        out(c, 50),
        out(d, 50.3),  # the last item of the basket read in the next batch
    ]
    pipeline = Pipeline(settings, store)
    processed = [pipeline.process(batch, max(r.time for r in batch)) for batch in batches]
    sold = [set(e.items) for p in processed for e in p.events if isinstance(e, Sale)]
    assert sold == [{a, b}, {c, d}]
    with store.connect() as conn:
        reasons = Counter(conn.execute(select(StockMovement.reason)).scalars())
        states = Counter(conn.execute(select(Item.state)).scalars())
    assert reasons == {"commissioned": 4, "moved": 4, "sold": 4}
    assert states == {ItemState.SOLD: 4}
    assert pipeline.ledger.levels() == pipeline.ledger.recount() == {}
