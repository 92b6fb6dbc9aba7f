"""Presence under random reads, statuses and ticks: it never raises, and its transitions tell one consistent story."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from hypothesis import event, given, settings
from hypothesis import strategies as st

from silentgw.drivers.observations import DeviceState, DeviceStatus, Observation, TagRead
from silentgw.gateway.presence import Arrived, Departed, Moved, Passed, PresenceState, locations, step, tick
from silentgw.gateway.zones import Zone, ZoneMap, ZoneRule
from tests.unit.gateway.test_presence import ANTENNAS, KINDS, T0

EPCS = ["E1", "E2"]
READERS = sorted({reader for reader, _port in ANTENNAS})


@st.composite
def rules(draw: st.DrawFn) -> ZoneRule:
    window = draw(st.floats(0, 30))
    return ZoneRule(
        arrival_reads=draw(st.integers(1, 3)),
        arrival_window=window,
        min_rssi=draw(st.none() | st.floats(-80, -50)),
        move_margin=draw(st.just(0.0) | st.floats(0, 10)),
        move_hold=draw(st.just(0.0) | st.floats(0, 10)),
        absence_timeout=window + draw(st.floats(1, 120)),
    )


class ReadSpec(NamedTuple):
    epc: str
    antenna: tuple[str, int]
    jitter: float
    rssi: float | None
    reads: int


class StatusSpec(NamedTuple):
    reader: str
    state: DeviceState


reads = st.builds(
    ReadSpec,
    st.sampled_from(EPCS),
    st.sampled_from(sorted(ANTENNAS)),
    st.floats(-5, 5),
    st.none() | st.floats(-95, -25),
    st.integers(1, 3),
)
statuses = st.builds(StatusSpec, st.sampled_from(READERS), st.sampled_from(["up", "down", "heartbeat"]))
batches = st.lists(
    st.tuples(st.floats(0, 5) | st.floats(0, 200), st.lists(reads | reads | statuses, max_size=20), st.booleans()),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(zone_rules=st.lists(rules(), min_size=len(KINDS), max_size=len(KINDS)), script=batches,
       sweep=st.sampled_from([0.0, 5.0, 1e9]))  # fmt: skip
def test_random_reads_tell_a_consistent_story(
    zone_rules: list[ZoneRule], script: list[tuple[float, list[ReadSpec | StatusSpec], bool]], sweep: float
) -> None:
    zones = ZoneMap({z: Zone(z, kind, rule) for (z, kind), rule in zip(KINDS.items(), zone_rules, strict=True)},
                    ANTENNAS)  # fmt: skip
    portals = {z for z, zone in zones.zones.items() if zone.portal}
    state = PresenceState(zones, sweep_every=sweep)
    held: dict[str, str] = {}  # the story the transitions tell
    clock = 0.0
    for advance, events, ticking in script:
        clock += advance
        batch: list[Observation] = []
        for item in events:
            if isinstance(item, ReadSpec):
                when = T0 + dt.timedelta(seconds=clock + item.jitter)
                batch.append(TagRead(item.epc, *item.antenna, item.rssi, when, item.reads))
            else:
                batch.append(DeviceStatus(item.reader, item.state, T0 + dt.timedelta(seconds=clock)))
        now = T0 + dt.timedelta(seconds=clock)
        _, out = tick(state, now) if ticking else step(state, batch, now)
        for t in out:
            event(type(t).__name__)  # --hypothesis-show-statistics: how often each kind comes up
            assert t.time <= now
            match t:
                case Arrived(epc, zone):
                    assert epc not in held
                    assert zone not in portals
                    held[epc] = zone
                case Moved(epc, from_zone, to_zone):
                    assert held.get(epc) == from_zone != to_zone
                    assert to_zone not in portals
                    held[epc] = to_zone
                case Departed(epc, zone):
                    assert held.pop(epc, None) == zone
                case Passed(_, portal, direction):
                    assert portal in portals
                    assert direction in ("in", "out")
        assert locations(state) == held  # so every tag is in at most one zone, the one the story says
    assert len(state) <= len(EPCS)
