"""The store day's read noise: missed reads at the planned rate, weaker cross-reads from neighbouring zones only, a
reader outage that only silences the reader (the supervisors' silence watch reports it), all deterministic under the
seed."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from statistics import mean

import pytest

from silentgw.drivers.observations import DeviceStatus, Observation, TagRead
from silentgw.gateway.config import Settings, load_settings
from silentgw.simulator.store_day import StoreDay, StoreDayPlan
from silentgw.simulator.supervised import silence_bounds, supervised

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
QUIET = StoreDayPlan(hours=4.0, shoppers=0, delivery_items=10, items_per_product=2)
"""No shoppers: after the morning's shelf fill (90 minutes in) no item moves, so the truth at closing holds all day."""
SETTLED = dt.timedelta(hours=2)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(EXAMPLE, {})


def _antenna_zones(settings: Settings) -> dict[tuple[str, int], str]:
    return {(d.id, a.port): a.zone for d in settings.devices if d.driver.kind != "em4100" for a in d.antennas}


def _settled_reads(day: StoreDay, stream: list[Observation]) -> list[TagRead]:
    since = day.plan.start + SETTLED
    return [o for o in stream if isinstance(o, TagRead) and o.protocol == "epc" and o.time >= since]


@pytest.mark.parametrize("rate", [0.7, 0.85])
def test_reads_are_missed_at_the_planned_rate(settings: Settings, rate: float) -> None:
    day = StoreDay(settings, replace(QUIET, read_rate=rate), seed=5)
    reads = _settled_reads(day, list(day.observations()))
    zones = _antenna_zones(settings)
    shelves = {"shelf-1a", "shelf-2a", "stockroom"}
    items = sum(1 for zone in day.truth.location.values() if zone in shelves)
    cycles = (day.end - day.plan.start - SETTLED) / dt.timedelta(seconds=day.plan.read_interval)
    made = sum(1 for o in reads if zones[(o.reader, o.antenna)] in shelves)
    assert items > 100
    assert made / (items * cycles) == pytest.approx(rate, abs=0.01)


def test_cross_reads_come_only_from_neighbouring_zones_and_weaker(settings: Settings) -> None:
    day = StoreDay(settings, replace(QUIET, cross_read_rate=0.3), seed=5)
    reads = _settled_reads(day, list(day.observations()))
    zones = _antenna_zones(settings)
    direct = [o for o in reads if zones[(o.reader, o.antenna)] == day.truth.location[o.epc]]
    cross = [o for o in reads if zones[(o.reader, o.antenna)] != day.truth.location[o.epc]]
    pairs = {(day.truth.location[o.epc], zones[(o.reader, o.antenna)]) for o in cross}
    # In the example store only the backroom's racks and receiving bay are neighbours (one location, one reader);
    # the shelves are in different aisles on different readers, and portals are never cross-read into.
    assert pairs == {("stockroom", "receiving")}  # the receiving bay is empty once the delivery is put away
    gap = mean(o.rssi or 0.0 for o in direct) - mean(o.rssi or 0.0 for o in cross)
    assert 10.0 <= gap <= 15.0
    racks = [o for o in direct if zones[(o.reader, o.antenna)] == "stockroom"]
    assert len(cross) / len(racks) == pytest.approx(0.3 / day.plan.read_rate, rel=0.05)


def test_without_noise_options_the_day_is_the_day_it_always_was(settings: Settings) -> None:
    plain = list(StoreDay(settings, StoreDayPlan(hours=2, items_per_product=2), seed=3))
    explicit = list(
        StoreDay(settings, StoreDayPlan(hours=2, items_per_product=2, cross_read_rate=0.0, outage=None), seed=3)
    )
    statuses = [
        o
        for o in StoreDay(settings, StoreDayPlan(hours=2, items_per_product=2), seed=3).observations()
        if isinstance(o, DeviceStatus)
    ]
    assert plain == explicit
    assert statuses == []


def test_a_reader_outage_silences_it_and_its_silence_is_reported_down_then_up(settings: Settings) -> None:
    plan = StoreDayPlan(hours=3, items_per_product=2, shoppers=8, outage=("reader-floor", 1.75, 10.0))
    day = StoreDay(settings, plan, seed=2)
    stream = list(day.observations())
    down, up = plan.start + dt.timedelta(hours=1.75), plan.start + dt.timedelta(hours=1.75, minutes=10)
    floor = [o.time for o in stream if isinstance(o, TagRead) and o.reader == "reader-floor"]
    assert not [t for t in floor if down <= t < up]
    assert [t for t in floor if down - dt.timedelta(minutes=1) <= t < down]
    assert [t for t in floor if up <= t < up + dt.timedelta(minutes=1)]
    others = [o for o in stream if isinstance(o, TagRead) and o.reader == "reader-floor-2" and down <= o.time < up]
    assert others  # only that reader goes dark
    assert not [o for o in stream if isinstance(o, DeviceStatus)]  # a reader losing power announces nothing
    assert [o.time for o in stream] == sorted(o.time for o in stream)
    assert list(StoreDay(settings, plan, seed=2)) == stream

    # the gateway's supervisors notice: down from the last read before the outage, up with the first after it
    bounds = silence_bounds(settings)
    assert bounds["reader-floor"] == 90.0  # an M100's bound
    statuses = [o for o in supervised(stream, bounds) if isinstance(o, DeviceStatus) and o.device == "reader-floor"]
    assert [(s.state, s.time) for s in statuses] == [
        ("down", max(t for t in floor if t < down)),
        ("up", min(t for t in floor if t >= up)),
    ]


def test_the_noisy_day_is_the_same_under_the_same_seed(settings: Settings) -> None:
    plan = StoreDayPlan(
        hours=2, items_per_product=2, read_rate=0.7, cross_read_rate=0.25, outage=("reader-back", 1.0, 10.0)
    )
    first = list(StoreDay(settings, plan, seed=9).observations())
    assert list(StoreDay(settings, plan, seed=9).observations()) == first
    assert list(StoreDay(settings, plan, seed=10).observations()) != first


@pytest.mark.parametrize(
    "changes",
    [
        {"read_rate": 1.5},
        {"cross_read_rate": -0.1},
        {"outage": ("reader-floor", -1.0, 10.0)},
        {"outage": ("reader-floor", 1.0, 0.0)},
    ],
)
def test_a_plan_refuses_impossible_noise(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|outage"):
        StoreDayPlan(**changes)  # type: ignore[arg-type]
