"""Presence: the smoothed truth about where each tag is, decided from micro-batches of reads.

A tag *arrives* in a zone when the zone's arrival rule holds (enough reads within its window, each strong enough);
it *moves* when another zone takes the lead (its RSSI, averaged over recent reads, beats the holding zone's by a
margin, or the holding zone has gone quiet) and keeps it for the hold-off; it *departs* when no reader of its zone
has seen it for the absence timeout. Portals (dock doors, exits) hold no tag: the side that saw it first gives the
direction of a *pass*, and a pass out of the store departs the tag from wherever it was held.

Time comes in as an argument. Each zone keeps an absence clock that stops while every reader of the zone is down, so
an outage never makes a tag depart. Reads are judged by the reader's clock, never later than ``now``: one stamped
more than ``clock_skew`` off the gateway's receive time takes the receive time, except that a read of a reader that
stamps with its own clock (MQTT readers: ``clocked``) received late (held by the broker while the gateway restarted,
or in the reader's own buffer) keeps its time for up to ``late_limit`` seconds, so a checkout, an exit pass and a
portal's two sides still happen in the order they did; older than that, it counts as ``late_limit`` old (the
absence clocks are not run down by a backlog).

:func:`step` has the shape of the house's pure functions, ``step(state, observations, now) -> (state,
transitions)``, but it updates ``state`` in place and returns the same object: copying a hundred thousand tags per
micro-batch would cost more than the batch. Per tag the state is one four-slot object, two floats and the dict
entry; measured with ``tracemalloc`` (``bench/pipeline.py`` and ``tests/unit/gateway/test_presence_store_day.py``)
it is under :data:`BYTES_PER_TAG` bytes per tracked tag, key string included.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from itertools import repeat

from silentgw.drivers.observations import DeviceStatus, Observation, TagRead
from silentgw.gateway.transitions import Arrived, Departed, Direction, Moved, Passed, Transition
from silentgw.gateway.zones import Role, Zone, ZoneMap

__all__ = [
    "BYTES_PER_TAG",
    "Arrived",
    "Departed",
    "Direction",
    "Moved",
    "Passed",
    "PresenceState",
    "Transition",
    "locations",
    "seed",
    "step",
    "tick",
    "where",
]

BYTES_PER_TAG = 320
"""The stated bound on memory per tracked tag, EPC key included (measured: about 225 for a settled tag, 270 over the
benchmark's store where one tag in ten has a neighbouring zone bidding for it)."""

_ALPHA = 0.3  # weight of the newest read in the RSSI average: about the last five reads count
_INF = math.inf
_NAN = math.nan  # an average not known yet (a seeded tag, a reader without RSSI): it never wins a comparison


class _Live:
    """A zone's rule, flattened for the hot loop, and its absence clock (stopped while its readers are all down)."""

    __slots__ = ("down_at", "hold", "id", "limit", "margin", "min_rssi", "offset", "portal", "readers", "reads",
                 "timeout", "window")  # fmt: skip

    def __init__(self, zone: Zone, readers: frozenset[str]) -> None:
        rule = zone.rule
        self.id = zone.id
        self.portal = zone.portal
        self.reads = rule.arrival_reads
        self.window = rule.arrival_window
        self.min_rssi = -_INF if rule.min_rssi is None else rule.min_rssi
        self.margin = rule.move_margin
        self.hold = rule.move_hold
        self.timeout = rule.absence_timeout
        self.readers = readers
        self.offset = 0.0  # seconds the clock has stood still so far
        self.down_at = _INF  # when the clock stopped, while it stands
        self.limit = -_INF  # a tag seen before this (zone clock) has timed out; set by each sweep


def _clock(z: _Live, t: float) -> float:
    """The zone's absence clock at wall time ``t``."""
    return (t if t < z.down_at else z.down_at) - z.offset


class _Cand:
    """A zone bidding for a tag: arriving there, or taking it from the zone that holds it."""

    __slots__ = ("rssi", "seen", "since", "times", "zone")

    def __init__(self, zone: _Live, seen: float, rssi: float) -> None:
        self.zone = zone
        self.seen = seen  # the bidding zone's clock at its latest read
        self.rssi = rssi
        self.since: float | None = None  # when it took the lead
        self.times: tuple[float, ...] = ()  # recent qualifying reads, for the arrival rule


class _Tag:
    """One tag: the zone holding it (None while it is only bid for), when it was seen there, how strongly."""

    __slots__ = ("cand", "rssi", "seen", "zone")

    def __init__(self, zone: _Live | None, seen: float, rssi: float) -> None:
        self.zone = zone
        self.seen = seen  # the holding zone's clock at its latest read
        self.rssi = rssi
        self.cand: _Cand | None = None


class _Pass:
    """A tag going through a portal: when each side first saw it."""

    __slots__ = ("done", "inner", "last", "outer", "zone")

    def __init__(self, zone: _Live, t: float) -> None:
        self.zone = zone
        self.inner = _INF
        self.outer = _INF
        self.last = t
        self.done = False


class PresenceState:
    """Every tag's presence, the zones' absence clocks and which readers are down; owned by one caller."""

    __slots__ = ("_antennas", "_late", "_passes", "_reader_zones", "_tags", "_zones", "clock_skew", "down",
                 "next_sweep", "sweep_every")  # fmt: skip

    def __init__(self, zones: ZoneMap, *, clock_skew: float = 2.0, late_limit: float = 30.0,
                 clocked: Iterable[str] = (), sweep_every: float = 5.0) -> None:  # fmt: skip
        self._zones = {z.id: _Live(z, zones.readers(z.id)) for z in zones.zones.values()}
        self._antennas: dict[str, dict[int, tuple[_Live, Role | None]]] = {}
        self._reader_zones: dict[str, list[_Live]] = {}
        for (reader, port), antenna in zones.antennas.items():
            live = self._zones[antenna.zone]
            self._antennas.setdefault(reader, {})[port] = (live, antenna.role)
            if live not in self._reader_zones.setdefault(reader, []):
                self._reader_zones[reader].append(live)
        self._tags: dict[str, _Tag] = {}
        self._passes: dict[str, _Pass] = {}
        self.clock_skew = clock_skew
        """Seconds a read may be stamped after the gateway received it before the receive time is used instead."""
        self._late = dict.fromkeys(clocked, late_limit)
        """Readers that stamp reads with their own clock -> seconds a late read of theirs keeps its time (older ones
        count as this old): longer than a gateway's restart, shorter than the quickest absence timeout of a zone that
        holds tags (a checkout's 60 s). The other readers' stamps are the gateway's own, taken when their bytes came
        in: lateness there is the intake's, and the receive time keeps the order things were decided in."""
        self.sweep_every = sweep_every
        """Seconds between scans for timed-out tags in :func:`step` (:func:`tick` always scans)."""
        self.next_sweep = -_INF
        self.down: set[str] = set()
        """The readers reported down."""

    def __len__(self) -> int:
        """How many tags are tracked (held in a zone or bid for)."""
        return len(self._tags)


def _time(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def step(
    state: PresenceState,
    observations: Iterable[Observation],
    now: dt.datetime,
    *,
    received_at: Sequence[dt.datetime] | None = None,
) -> tuple[PresenceState, list[Transition]]:
    """Apply a micro-batch of reads and device statuses (in order) at ``now``; the state and what changed.

    ``received_at``, when given, holds the gateway's receive time of each observation, in the same order.
    Sensor readings and member-card reads are ignored, as are reads from antennas not in the zone map.
    """
    out: list[Transition] = []
    nowf = now.timestamp()
    antennas = state._antennas
    tags = state._tags
    skew = state.clock_skew
    late = state._late
    passing: list[tuple[str, _Pass]] = []
    pairs = zip(observations, received_at, strict=True) if received_at is not None else zip(observations, repeat(None))
    for obs, rx in pairs:
        if type(obs) is not TagRead:
            if type(obs) is DeviceStatus:
                _status(state, obs, nowf)
            continue
        epc, reader, port, rssi, when, n, protocol = obs  # one unpack costs less than six attribute reads
        ports = antennas.get(reader)
        if ports is None or protocol != "epc":
            continue
        hit = ports.get(port)
        if hit is None:
            continue
        z = hit[0]
        t = when.timestamp()
        if rx is not None:
            r = rx.timestamp()
            if t - r > skew:
                t = r
            elif r - t > skew:
                limit = late.get(reader)
                if limit is None:
                    t = r
                elif r - t > limit:
                    t = r - limit
        if t > nowf:
            t = nowf
        if z.portal:
            _portal(state, epc, z, hit[1], t, passing)
            continue
        tag = tags.get(epc)
        if tag is not None and tag.zone is z:
            seen = t - z.offset
            if seen > tag.seen:
                if seen - tag.seen > z.timeout:
                    _gap(state, tag, epc, z, t, rssi, n, out)  # it was gone: depart, then bid afresh
                    continue
                tag.seen = seen
            if rssi is not None:
                r0 = tag.rssi
                tag.rssi = rssi if r0 != r0 else r0 + _ALPHA * (rssi - r0)
            if tag.cand is not None:
                _defend(tag, t)
            continue
        _bid(state, tag, epc, z, t, rssi, n, out)
    for epc, p in passing:
        _passed(state, epc, p, out)
    if nowf >= state.next_sweep:
        _sweep(state, nowf, out)
    return state, out


def tick(state: PresenceState, now: dt.datetime) -> tuple[PresenceState, list[Transition]]:
    """Depart every tag whose absence timeout has run out by ``now`` (and forget stale bids and passes)."""
    state.next_sweep = -_INF
    return step(state, (), now)


def _status(state: PresenceState, status: DeviceStatus, nowf: float) -> None:
    """Stop the absence clock of zones whose readers are all down; restart it when one comes back."""
    zones = state._reader_zones.get(status.device)
    if zones is None:
        return
    t = min(status.time.timestamp(), nowf)
    if status.state == "down":
        state.down.add(status.device)
        for z in zones:
            if z.down_at == _INF and z.readers <= state.down:
                z.down_at = t
    elif status.device in state.down:  # up, or a heartbeat: either way it is alive
        state.down.discard(status.device)
        for z in zones:
            if z.down_at != _INF:
                z.offset += max(0.0, t - z.down_at)
                z.down_at = _INF


def _defend(tag: _Tag, t: float) -> None:
    """The holding zone read the tag again: a bidder that no longer leads loses its lead, a stale one goes."""
    c = tag.cand
    assert c is not None
    if _clock(c.zone, t) - c.seen > c.zone.window:
        tag.cand = None
    elif c.since is not None and not c.rssi > tag.rssi + c.zone.margin:
        c.since = None


def _leads(tag: _Tag, c: _Cand, t: float) -> bool:
    """Whether the bidder beats the holding zone now: stronger by its margin, or the holder has gone quiet, or the
    holder's strength is not known (a tag restored after a restart, not read since) and the bidder's is."""
    held = tag.zone
    if held is None or _clock(held, t) - tag.seen > held.window:
        return True
    if tag.rssi != tag.rssi:
        return c.rssi == c.rssi
    return c.rssi > tag.rssi + c.zone.margin


def _bid(state: PresenceState, tag: _Tag | None, epc: str, z: _Live, t: float, rssi: float | None, n: int,
         out: list[Transition]) -> None:  # fmt: skip
    """A read by a zone that does not hold the tag: it bids for it, and may win it (arrived or moved)."""
    if rssi is not None and rssi < z.min_rssi:
        return  # too weak to count towards this zone
    if tag is None:
        tag = state._tags[epc] = _Tag(None, 0.0, _NAN)
    seen = _clock(z, t)
    value = _NAN if rssi is None else rssi
    c = tag.cand
    if c is None or c.zone is not z:
        # One bidder at a time keeps the state small: a new zone replaces a fresh bidder only by beating it clearly.
        if c is not None and not _clock(c.zone, t) - c.seen > c.zone.window and not value > c.rssi + z.margin:
            return
        c = tag.cand = _Cand(z, seen, value)
    else:
        if seen - c.seen > z.window:  # the old bid went quiet: start over
            c.times, c.since = (), None
            c.rssi = value
        elif rssi is not None:
            c.rssi = rssi if c.rssi != c.rssi else c.rssi + _ALPHA * (rssi - c.rssi)
        if seen > c.seen:
            c.seen = seen
    if c.since is None:
        start = t - z.window
        times = tuple(x for x in c.times if x > start)
        if len(times) + n < z.reads:
            c.times = (*times, *(t,) * n)
            return
        c.times = ()
        held = tag.zone
        if held is None:
            tag.zone, tag.seen, tag.rssi, tag.cand = z, seen, c.rssi, None
            out.append(Arrived(epc, z.id, _time(t)))
            return
        if not _leads(tag, c, t):
            # Keep counting, for it may lead on a later read; the newest reads - 1 are all a later read can need.
            keep = z.reads - 1
            c.times = (*times, *(t,) * min(n, keep))[-keep:] if keep else ()
            return
        c.since = t
    elif not _leads(tag, c, t):
        c.since = None
        return
    held = tag.zone
    if held is not None and t - c.since >= z.hold:
        tag.zone, tag.seen, tag.rssi, tag.cand = z, seen, c.rssi, None
        out.append(Moved(epc, held.id, z.id, _time(t)))


def _gap(state: PresenceState, tag: _Tag, epc: str, z: _Live, t: float, rssi: float | None, n: int,
         out: list[Transition]) -> None:  # fmt: skip
    """A read after the tag's timeout ran out unnoticed (between sweeps): it departed, and this read bids afresh."""
    out.append(Departed(epc, z.id, _time(tag.seen + z.timeout + z.offset)))
    del state._tags[epc]
    _bid(state, None, epc, z, t, rssi, n, out)


def _portal(state: PresenceState, epc: str, z: _Live, role: Role | None, t: float,
            passing: list[tuple[str, _Pass]]) -> None:  # fmt: skip
    """A read at a portal: note when each side first saw the tag in this pass."""
    if role is None:
        return  # an antenna facing neither side cannot tell a direction
    p = state._passes.get(epc)
    if p is None or p.zone is not z or t - p.last > z.timeout:
        p = state._passes[epc] = _Pass(z, t)
    if role == "inner":
        if t < p.inner:
            p.inner = t
    elif t < p.outer:
        p.outer = t
    if t > p.last:
        p.last = t
    if not p.done:
        passing.append((epc, p))


def _passed(state: PresenceState, epc: str, p: _Pass, out: list[Transition]) -> None:
    """Once both sides have seen the tag, the pass is decided: by which side saw it first, whatever the batch order."""
    if p.done or p.inner == _INF or p.outer == _INF:
        return
    p.done = True
    when = p.inner if p.inner > p.outer else p.outer
    direction: Direction = "in" if p.outer < p.inner else "out"
    out.append(Passed(epc, p.zone.id, direction, _time(when)))
    if direction == "out":
        tag = state._tags.pop(epc, None)
        if tag is not None and tag.zone is not None:
            out.append(Departed(epc, tag.zone.id, _time(when)))


def _sweep(state: PresenceState, nowf: float, out: list[Transition]) -> None:
    """Depart tags unseen for their zone's timeout (on the zone's clock); forget stale bids and passes."""
    for live in state._zones.values():
        live.limit = _clock(live, nowf) - live.timeout
    gone: list[str] = []
    for epc, tag in state._tags.items():
        z = tag.zone
        c = tag.cand
        if z is not None and tag.seen < z.limit:
            gone.append(epc)
            out.append(Departed(epc, z.id, _time(min(tag.seen + z.timeout + z.offset, nowf))))
        elif c is not None and _clock(c.zone, nowf) - c.seen > c.zone.window:
            if z is None:
                gone.append(epc)
            else:
                tag.cand = None
    for epc in gone:
        del state._tags[epc]
    stale = [epc for epc, p in state._passes.items() if nowf - p.last > p.zone.timeout]
    for epc in stale:
        del state._passes[epc]
    state.next_sweep = nowf + state.sweep_every


def where(state: PresenceState, epc: str) -> str | None:
    """The zone holding the tag, or None."""
    tag = state._tags.get(epc)
    return None if tag is None or tag.zone is None else tag.zone.id


def locations(state: PresenceState) -> dict[str, str]:
    """Every held tag's zone, by EPC."""
    return {epc: tag.zone.id for epc, tag in state._tags.items() if tag.zone is not None}


def seed(
    zones: ZoneMap,
    held: Iterable[tuple[str, str, dt.datetime]],
    *,
    now: dt.datetime,
    stopped_at: dt.datetime | None = None,
    clock_skew: float = 2.0,
    sweep_every: float = 5.0,
    clocked: Iterable[str] = (),
) -> PresenceState:
    """A state holding each ``(epc, zone, last_seen)``, as stored before a restart at ``now``.

    The time the gateway was not running (from ``stopped_at``, by default the latest ``last_seen``, to ``now``) is
    an outage of every reader: it does not count towards absence. Locations in zones no longer configured, or in
    portals, are left out; those tags arrive afresh when next read. The RSSI averages start unknown.
    """
    state = PresenceState(zones, clock_skew=clock_skew, sweep_every=sweep_every, clocked=clocked)
    rows = [(epc, state._zones.get(zone), last.timestamp()) for epc, zone, last in held]
    stopped = stopped_at.timestamp() if stopped_at is not None else max((r[2] for r in rows), default=now.timestamp())
    paused = max(0.0, now.timestamp() - stopped)
    for z in state._zones.values():
        z.offset = paused
    for epc, where_, last in rows:
        if where_ is not None and not where_.portal:
            state._tags[epc] = _Tag(where_, last, _NAN)
    return state
