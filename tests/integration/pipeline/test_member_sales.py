"""A short simulated store day through the pipeline puts each member's true sales, and their points, on their record."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.members import points
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.models import Member, SaleLine
from silentgw.gateway.store.models import Sale as SaleRow
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=2, shoppers=10, delivery_items=5, items_per_product=2)

Basket = tuple[frozenset[str], Decimal]


def play(pipeline: Pipeline, day: StoreDay) -> None:
    """The day through the pipeline in one-second micro-batches, the last one processed at closing time."""
    for batch, now in micro_batches(day, day.end):
        pipeline.process(batch, now)


def recorded(engine: Engine) -> tuple[dict[str | None, Counter[Basket]], dict[str, int]]:
    """Each member's recorded sales as (item keys, total) (None: anonymous), and every member's points."""
    with Session(engine) as session:
        numbers = {mid: number for mid, number in session.execute(select(Member.id, Member.number))}
        lines: defaultdict[str, set[str]] = defaultdict(set)
        for sale, key in session.execute(select(SaleLine.sale_id, SaleLine.item_key)):
            lines[sale].add(key)
        sales: defaultdict[str | None, Counter[Basket]] = defaultdict(Counter)
        for sid, member, total in session.execute(select(SaleRow.id, SaleRow.member_id, SaleRow.total)):
            sales[None if member is None else numbers[member]][(frozenset(lines[sid]), total)] += 1
        return dict(sales), {number: p for number, p in session.execute(select(Member.number, Member.points))}


def test_each_member_has_their_true_sales_and_points(settings: Settings, store: Engine) -> None:
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    pipeline = Pipeline(settings, store)
    play(pipeline, day)
    keys = {epc: item.key for epc, item in day.truth.items.items()}
    truth: defaultdict[str | None, Counter[Basket]] = defaultdict(Counter)
    earned: Counter[str] = Counter()
    for s in day.truth.sales:
        truth[s.member][(frozenset(keys[epc] for epc in s.items), s.total)] += 1
        if s.member is not None:
            earned[s.member] += points(s.total)
    sales, on_record = recorded(store)
    assert sum(1 for s in day.truth.sales if s.member is not None) > 0
    assert sales == dict(truth)
    assert on_record == {number: earned[number] for number in on_record}
    assert pipeline.counters.points == sum(earned.values()) > 0
    # Replaying the day from a fresh pipeline records no sale twice and awards no point twice.
    play(Pipeline(settings, store), StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3))
    assert recorded(store) == (sales, on_record)
