"""The store day end to end: simulated readers speak their wire formats on pseudo-terminals, the gateway reads them
with its real drivers on the simulation's clock, and the pipeline writes SQLite or PostgreSQL. The records must
match the simulator's truth: the exact stock, each member's sales and points, the one unpaid-exit alarm."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import Engine, select

from silentgw.drivers.observations import Observation, Rejected, TagRead
from silentgw.gateway.checkout import UnpaidExit
from silentgw.gateway.config import Settings
from silentgw.gateway.pipeline import Pipeline, Processed
from silentgw.gateway.store.models import Item, ItemState
from silentgw.simulator.demo_layout import demo_layout
from silentgw.simulator.lockstep import play_through_drivers
from silentgw.simulator.player import SimClock
from silentgw.simulator.store_day import StoreDay, StoreDayPlan
from tests.integration.pipeline.checks import expected_stock, recorded, true_sales

PLAN = StoreDayPlan(hours=3, shoppers=12, delivery_items=10, items_per_product=2)


class Recording(Pipeline):
    """The pipeline, keeping what each micro-batch gave and every observation the drivers handed in."""

    processed: list[Processed]
    seen: list[Observation | Rejected]

    def process(self, batch: Sequence[Observation | Rejected], now: dt.datetime, *,
                received_at: Sequence[dt.datetime] | None = None) -> Processed:  # fmt: skip
        self.seen = getattr(self, "seen", [])
        self.processed = getattr(self, "processed", [])
        self.seen.extend(batch)
        done = super().process(batch, now, received_at=received_at)
        self.processed.append(done)
        return done


def times(observations: Iterable[object]) -> dict[tuple[str, str], list[dt.datetime]]:
    """The times of the EPC reads, by tag and reader, in order."""
    found: defaultdict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    for o in observations:
        if isinstance(o, TagRead) and o.protocol == "epc":
            found[(o.epc, o.reader)].append(o.time)
    return {k: sorted(v) for k, v in found.items()}


def test_a_store_day_through_the_real_drivers_ends_with_the_true_records(
    settings: Settings, store: Engine, tmp_path: Path
) -> None:
    simulated = demo_layout(settings, tmp_path / "devices")  # the example's readers, one M100 per antenna, on ptys
    assert {d.driver.kind for d in simulated.devices} == {"uhf-m100", "em4100", "sensor-lines"}
    day = StoreDay(simulated, PLAN, seed=3)
    stream = list(day)  # the day is made as it is iterated: once
    clock = SimClock(PLAN.start)
    pipeline = Recording(simulated, store, clock=clock)

    async def run() -> int:
        progress = await play_through_drivers(simulated, stream, handle=pipeline.handle, clock=clock)
        clock.now = day.end
        await pipeline.tick()  # closing time: what has been gone long enough departs
        return progress.played

    played = asyncio.run(run())

    # Everything the simulator said came through the bytes: every tag read, stamped with its simulated time.
    assert played > 100_000
    assert not [o for o in pipeline.seen if isinstance(o, Rejected)]
    stamped, said = times(pipeline.seen), times(stream)
    assert stamped.keys() == said.keys()
    for tag, when in said.items():
        late = [(s - t).total_seconds() for s, t in zip(stamped[tag], when, strict=True)]
        assert min(late) >= 0
        assert max(late) <= 1.0  # within the lockstep's step

    assert pipeline.ledger.levels() == expected_stock(day, simulated, store)
    assert pipeline.ledger.levels() == pipeline.ledger.recount()

    truth, earned = true_sales(day)
    sales, on_record = recorded(store)
    assert sum(1 for s in day.truth.sales if s.member is not None) > 0
    assert sales == truth
    assert on_record == {number: earned[number] for number in on_record}

    alarms = [e for p in pipeline.processed for e in p.events if isinstance(e, UnpaidExit)]
    walked_out = [h.subject for h in day.truth.happenings if h.what == "unpaid_exit"]
    assert [a.epc for a in alarms] == walked_out
    assert len(alarms) == 1
    keys = {epc: item.key for epc, item in day.truth.items.items()}
    with store.connect() as conn:
        states = {key: state for key, state in conn.execute(select(Item.key, Item.state))}
    sold = Counter(states[keys[epc]] for s in day.truth.sales for epc in s.items)
    assert sold == {ItemState.SOLD: sum(len(s.items) for s in day.truth.sales)}
