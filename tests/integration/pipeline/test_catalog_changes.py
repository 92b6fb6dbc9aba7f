"""Members and cards issued while the gateway runs (through the API, or another process) count at the next
checkout: the pipeline reloads what it copies within a second of the catalog's change, with no restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.models import Member
from silentgw.simulator.demo_store import seed_catalog
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.checks import recorded, true_sales

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=2, shoppers=10, delivery_items=5, items_per_product=2)


def test_members_registered_while_the_gateway_runs_get_their_sales(settings: Settings, store: Engine) -> None:
    with store.begin() as conn:
        conn.execute(delete(Member))  # the store opens before its members are registered
    day = StoreDay(load_settings(EXAMPLE, {}), PLAN, seed=3)
    pipeline = Pipeline(settings, store)
    batches = list(micro_batches(day, day.end))  # played in full first: the truth is known before the gateway runs
    first_sale = min(s.time for s in day.truth.sales)
    registered = False
    for batch, now in batches:
        if not registered and now >= first_sale - dt.timedelta(minutes=5):
            # Registered at the till, as the API does it: through the catalog service, in its own transaction.
            with Session(store) as session, session.begin():
                seed_catalog(Catalog(session, site_id=settings.site.id), today=dt.date(2026, 11, 24))
            registered = True
            pipeline._look_at = 0  # the next micro-batch is the first more than a second later
        pipeline.process(batch, now)
    assert registered
    assert pipeline.counters.refreshes == 1
    truth, earned = true_sales(day)
    sales, on_record = recorded(store)
    assert sum(1 for s in day.truth.sales if s.member is not None) > 0
    assert sales == truth
    assert on_record == {number: earned[number] for number in on_record}
