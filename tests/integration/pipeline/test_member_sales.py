"""A short simulated store day through the pipeline puts each member's true sales, and their points, on their record."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.checks import recorded, true_sales

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=2, shoppers=10, delivery_items=5, items_per_product=2)


def play(pipeline: Pipeline, day: StoreDay) -> None:
    """The day through the pipeline in one-second micro-batches, the last one processed at closing time."""
    for batch, now in micro_batches(day, day.end):
        pipeline.process(batch, now)


def test_each_member_has_their_true_sales_and_points(settings: Settings, store: Engine) -> None:
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    pipeline = Pipeline(settings, store)
    play(pipeline, day)
    truth, earned = true_sales(day)
    sales, on_record = recorded(store)
    assert sum(1 for s in day.truth.sales if s.member is not None) > 0
    assert sales == truth
    assert on_record == {number: earned[number] for number in on_record}
    assert pipeline.counters.points == sum(earned.values()) > 0
    # Replaying the day from a fresh pipeline records no sale twice and awards no point twice.
    play(Pipeline(settings, store), StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3))
    assert recorded(store) == (sales, on_record)
