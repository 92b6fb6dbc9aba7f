"""Presence over a simulated store day: where it says each item is matches where the simulator put it."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from silentgw.drivers.observations import TagRead
from silentgw.gateway.config import load_settings
from silentgw.gateway.layout import zone_map
from silentgw.gateway.presence import BYTES_PER_TAG, Departed, Passed, PresenceState, Transition, locations, step
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
COVERED = ("shelf", "backroom", "receiving")


@pytest.fixture(scope="module", params=[1, 2])
def played(request: pytest.FixtureRequest) -> tuple[StoreDay, PresenceState, list[Transition]]:
    """Three hours of the store day fed to presence in one-second micro-batches."""
    settings = load_settings(EXAMPLE, {})
    day = StoreDay(settings, StoreDayPlan(hours=3, read_interval=10), seed=request.param)
    state = PresenceState(zone_map(settings))
    transitions: list[Transition] = []
    for batch, now in micro_batches(day, day.end):
        transitions += step(state, batch, now)[1]
    return day, state, transitions


def test_every_item_in_a_covered_zone_is_where_presence_says(
    played: tuple[StoreDay, PresenceState, list[Transition]],
) -> None:
    day, state, _ = played
    kinds = {z.id: z.kind for z in load_settings(EXAMPLE, {}).zones}
    truth = {epc: zone for epc, zone in day.truth.location.items() if zone is not None and kinds[zone] in COVERED}
    seen = locations(state)
    wrong = {epc: (zone, seen.get(epc)) for epc, zone in truth.items() if seen.get(epc) != zone}
    assert len(truth) > 300
    assert wrong == {}


def test_presence_places_nothing_that_is_not_there(played: tuple[StoreDay, PresenceState, list[Transition]]) -> None:
    day, state, _ = played
    # An item a shopper picked up is in no zone, but its shelf only lets it go after the absence timeout.
    picked_late = {h.subject for h in day.truth.happenings
                   if h.what == "picked" and h.time > day.end - dt.timedelta(minutes=6)}  # fmt: skip
    phantom = {epc: zone for epc, zone in locations(state).items()
               if day.truth.location.get(epc) != zone and epc not in picked_late}  # fmt: skip
    assert phantom == {}


def test_every_pass_is_seen_in_its_direction(played: tuple[StoreDay, PresenceState, list[Transition]]) -> None:
    day, _, transitions = played
    passes = Counter((t.portal, t.direction) for t in transitions if isinstance(t, Passed))
    left = day.truth.count("left") + day.truth.count("unpaid_exit")
    assert passes == {("dock-door", "in"): day.truth.count("arrived"), ("exit", "out"): left}


def test_no_item_departs_a_covered_zone_while_it_is_still_there(
    played: tuple[StoreDay, PresenceState, list[Transition]],
) -> None:
    day, _, transitions = played
    kinds = {z.id: z.kind for z in load_settings(EXAMPLE, {}).zones}
    for t in transitions:
        if isinstance(t, Departed) and kinds[t.zone] in COVERED:
            # Only picked items leave shelves (and put-away or fill moves items out of receiving and the backroom).
            assert any(h.subject == t.epc and h.what == "picked" for h in day.truth.happenings), t


def test_the_memory_per_tracked_tag_is_within_the_stated_bound() -> None:
    zones = zone_map(load_settings(EXAMPLE, {}))
    start = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
    tags = 20_000
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = PresenceState(zones)
        for n in range(3):  # three reads each: every tag arrives on shelf-1a
            when = start + dt.timedelta(seconds=n)
            batch = [TagRead(f"{i:024X}", "reader-floor", 1, -55.0, when) for i in range(tags)]
            step(state, batch, when)
            del batch
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(locations(state)) == tags
    assert used / tags < BYTES_PER_TAG
