"""The simulated store day: deterministic, time-ordered, and its observations agree with its ground truth."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from silentgw.drivers.observations import SensorReading, TagRead
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.identity import Epc, decode
from silentgw.simulator.store_day import StoreDay, StoreDayPlan

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PLAN = StoreDayPlan(hours=8, shoppers=12, delivery_items=10, items_per_product=2, read_interval=30)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(EXAMPLE, {})


@pytest.fixture(scope="module")
def day(settings: Settings) -> tuple[StoreDay, list[TagRead | SensorReading]]:
    simulation = StoreDay(settings, PLAN, seed=11)
    return simulation, list(simulation)


def test_the_same_seed_gives_the_same_day(
    settings: Settings, day: tuple[StoreDay, list[TagRead | SensorReading]]
) -> None:
    again = list(StoreDay(settings, PLAN, seed=11))
    assert again == day[1]
    assert list(StoreDay(settings, PLAN, seed=12)) != day[1]


def test_observations_come_in_time_order_within_the_day(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    _, stream = day
    times = [o.time for o in stream]
    assert times == sorted(times)
    assert PLAN.start <= times[0]
    assert times[-1] < PLAN.start + dt.timedelta(hours=PLAN.hours, seconds=5)


def test_every_tag_read_is_a_real_sgtin_of_the_catalog(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    simulation, stream = day
    epcs = {o.epc for o in stream if isinstance(o, TagRead) and o.protocol == "epc"}
    assert epcs <= set(simulation.truth.items)
    decoded = [decode(epc) for epc in sorted(epcs)[:50]]
    assert all(isinstance(d, Epc) and d.scheme == "sgtin-96" and d.filter == 1 for d in decoded)


def _portal_order(stream: list[TagRead | SensorReading], epc: str, reader: str) -> list[int]:
    return [o.antenna for o in stream if isinstance(o, TagRead) and o.epc == epc and o.reader == reader]


def test_deliveries_cross_the_dock_door_outer_side_first(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    simulation, stream = day
    arrived = [h.subject for h in simulation.truth.happenings if h.what == "arrived"]
    assert len(arrived) == PLAN.delivery_items
    for epc in arrived:
        ports = [p for p in _portal_order(stream, epc, "reader-back") if p in (3, 4)]
        assert ports[0] == 4  # outer
        assert ports[-1] == 3  # inner


def test_goods_leave_through_the_exit_inner_side_first(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    simulation, stream = day
    left = [h.subject for h in simulation.truth.happenings if h.what in ("left", "unpaid_exit")]
    assert left
    for epc in left:
        ports = [p for p in _portal_order(stream, epc, "reader-front") if p in (2, 3)]
        assert ports[0] == 2  # inner
        assert ports[-1] == 3  # outer
        assert simulation.truth.location[epc] is None


def test_one_shopper_walks_out_without_paying(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    simulation, _ = day
    assert simulation.truth.count("unpaid_exit") == 1
    sold = {epc for sale in simulation.truth.sales for epc in sale.items}
    unpaid = next(h.subject for h in simulation.truth.happenings if h.what == "unpaid_exit")
    assert unpaid not in sold


def test_a_card_held_on_the_reader_repeats_but_is_one_presentation(
    day: tuple[StoreDay, list[TagRead | SensorReading]],
) -> None:
    simulation, stream = day
    card_reads = [o for o in stream if isinstance(o, TagRead) and o.protocol == "em4100"]
    presentations = simulation.truth.count("card")
    assert presentations == sum(1 for s in simulation.truth.sales if s.member is not None)
    assert presentations > 0
    assert len(card_reads) > presentations  # repeated while held
    assert all(o.reader == "card-reader-1" and len(o.epc) == 10 for o in card_reads)


def test_sales_are_priced_from_the_catalog(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    simulation, _ = day
    for sale in simulation.truth.sales:
        assert sale.total == sum(simulation.truth.items[epc].price for epc in sale.items)


def test_the_fridge_warms_up_in_the_afternoon_only(day: tuple[StoreDay, list[TagRead | SensorReading]]) -> None:
    _, stream = day
    temps = [o for o in stream if isinstance(o, SensorReading) and o.quantity == "temperature"]
    warm = [o for o in temps if o.value > 5.0]
    assert warm
    hours = {int((o.time - PLAN.start).total_seconds() // 3600) for o in warm}
    assert hours <= {6}
    assert Counter(o.unit for o in temps) == Counter({"°C": len(temps)})


def test_items_on_the_shelves_are_read_where_the_truth_says_they_are(
    day: tuple[StoreDay, list[TagRead | SensorReading]],
) -> None:
    simulation, stream = day
    last_hour = PLAN.start + dt.timedelta(hours=PLAN.hours - 1)
    shelf_ports = {("reader-floor", 1): "shelf-1a", ("reader-floor-2", 2): "shelf-2a"}
    seen: dict[str, str] = {}
    for o in stream:
        if isinstance(o, TagRead) and o.time >= last_hour and (o.reader, o.antenna) in shelf_ports:
            seen[o.epc] = shelf_ports[(o.reader, o.antenna)]
    truth = {epc: zone for epc, zone in simulation.truth.location.items() if zone in ("shelf-1a", "shelf-2a")}
    assert seen == truth  # with 120 read cycles an hour at 85 %, every shelved item is seen, where it is
