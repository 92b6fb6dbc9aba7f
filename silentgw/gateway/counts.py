"""Cycle counts: compare the items expected in a zone or location with the items seen there in a window.

A count is closed from two sets of GS1 item keys:

- *expected*: the items the ledger counts as stock in the scope when the count closes (the store works this out);
- *seen*: the items with at least one read in one of the scope's zones within the window, ``start <= time < end``
  (:func:`seen_in`, from reads as ``(key, zone, time)``; raw reads rather than presence transitions, because an item
  sitting still on its shelf is read all day and makes no transition).

From these, :func:`result` gives the *missing* items (expected, not seen), the *unexpected* ones (seen, not
expected: misplaced, already missing, or not stock at all) and the *found* ones (expected and seen). Accuracy is
the share of expected items that were seen, in percent, rounded down to two decimals so that 100.00 means none is
missing; an empty expectation is 100% accurate. Unexpected items do not lower accuracy: they are reported apart.

A count started through the API is *open* until it closes (when an operator closes it, or when its duration is up):
:class:`OpenCounts` collects (with :func:`collect`) the EPCs read by the antennas of each open count's zones within
its window meanwhile, fed every micro-batch by the pipeline, and hands them over when the count closes. Open counts
live in the gateway's memory: a count open when the gateway stops is dropped (its reads so far would not say what
was on the shelf) and must be started again.

This module decides; ``store.counts`` is the store's side (what a scope expects, a close written once), as
``ledger`` and ``store.ledger`` are for stock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal, NamedTuple

from silentgw.drivers.observations import TagRead
from silentgw.gateway.zones import AntennaZone

__all__ = [
    "CountExists", "CountResult", "CycleCount", "OpenCount", "OpenCounts", "Scope", "ScopeKind", "Sighting", "accuracy",
    "collect", "result", "seen_in",
]  # fmt: skip

ScopeKind = Literal["zone", "location"]
_CENT = Decimal("0.01")
_ID_LIMIT = 64  # cycle_counts.id is VARCHAR(64); the ledger's movement keys embed it


@dataclass(frozen=True, slots=True)
class Scope:
    """What a count covers: one zone, or a location (its own zones and those of the locations under it)."""

    kind: ScopeKind
    id: str

    def __post_init__(self) -> None:
        if self.kind not in ("zone", "location"):
            raise ValueError(f"scope kind {self.kind!r}: expected 'zone' or 'location'")
        if not self.id:
            raise ValueError("scope id is empty")


@dataclass(frozen=True, slots=True)
class CycleCount:
    """One cycle count: its id (the idempotency key of closing it), its scope and its window ``[start, end)``."""

    id: str
    scope: Scope
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > _ID_LIMIT:
            raise ValueError(f"count id {self.id!r}: 1 to {_ID_LIMIT} characters")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("count window: naive datetime, expected timezone-aware times")
        if self.end < self.start:
            raise ValueError(f"count {self.id}: window ends ({self.end}) before it starts ({self.start})")


class Sighting(NamedTuple):
    """One read of an item: its GS1 key, the zone that read it, when (a tuple: counts take many of them)."""

    key: str
    zone: str
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class CountResult:
    """What a count found: the expected and seen items, missing, unexpected, found, and accuracy in percent."""

    expected: frozenset[str]
    seen: frozenset[str]
    missing: frozenset[str] = field(init=False)
    unexpected: frozenset[str] = field(init=False)
    found: frozenset[str] = field(init=False)
    accuracy_percent: Decimal = field(init=False)

    def __post_init__(self) -> None:
        # Derived here so that a result can never disagree with its own sets.
        object.__setattr__(self, "missing", self.expected - self.seen)
        object.__setattr__(self, "unexpected", self.seen - self.expected)
        object.__setattr__(self, "found", self.expected & self.seen)
        object.__setattr__(self, "accuracy_percent", accuracy(len(self.found), len(self.expected)))


def accuracy(found: int, expected: int) -> Decimal:
    """``found`` of ``expected`` in percent, rounded down to 0.01 (100.00 only if none is missing; 100 if none due)."""
    if not 0 <= found <= expected:
        raise ValueError(f"found {found} of {expected}: expected 0 <= found <= expected")
    if expected == 0:
        return Decimal("100.00")
    return (Decimal(100 * found) / Decimal(expected)).quantize(_CENT, rounding=ROUND_DOWN)


def result(expected: Iterable[str], seen: Iterable[str]) -> CountResult:
    """Compare the items expected in a count's scope with the items seen there."""
    return CountResult(frozenset(expected), frozenset(seen))


def seen_in(
    count: CycleCount, sightings: Iterable[tuple[str, str, dt.datetime]], *, zones: Collection[str]
) -> frozenset[str]:
    """The keys of the items read in one of ``zones`` (the count's scope) within its window ``[start, end)``."""
    scope = frozenset(zones)
    start, end = count.start, count.end
    return frozenset(key for key, zone, time in sightings if zone in scope and start <= time < end)


class CountExists(ValueError):
    """A count with this id is already open."""


@dataclass(slots=True)
class OpenCount:
    """A count under way: its id and scope, the zones it covers, when it started, when it is due to close (None: when
    an operator closes it) and the EPCs (hex) read in its zones so far."""

    id: str
    scope: Scope
    zones: frozenset[str]
    start: dt.datetime
    due: dt.datetime | None = None
    seen: set[str] = field(default_factory=set)

    def closed(self, end: dt.datetime) -> CycleCount:
        """The count's window, ended at ``end`` (never before it started)."""
        return CycleCount(self.id, self.scope, self.start, max(end, self.start))


def collect(counts: Sequence[OpenCount], batch: Sequence[Any], zone_of: Mapping[tuple[str, int], str]) -> None:
    """Add the EPC reads of ``batch`` (observations of every kind) to the ``seen`` of each open count whose zones
    hold the read's antenna and whose window holds its time (from its start, and before it is due if it has a
    duration). ``zone_of`` maps (reader, antenna port) to a zone."""
    for obs in batch:
        if type(obs) is TagRead and obs.protocol == "epc":
            zone = zone_of.get((obs.reader, obs.antenna))
            if zone is not None:
                for count in counts:
                    if zone in count.zones and count.start <= obs.time and (count.due is None or obs.time < count.due):
                        count.seen.add(obs.epc)


class OpenCounts:
    """The counts under way, each collecting the EPCs its zones' antennas read.

    The pipeline feeds it from its worker thread while the API starts and closes counts from others, so every method
    takes a lock; :meth:`observe` costs nothing while no count is open.
    """

    def __init__(self, antennas: Mapping[tuple[str, int], AntennaZone]) -> None:
        self._zone_of = {where: a.zone for where, a in antennas.items()}
        self._open: dict[str, OpenCount] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open)

    def start(self, count: OpenCount) -> OpenCount:
        """Open ``count``; :class:`CountExists` if one with its id is open."""
        with self._lock:
            if count.id in self._open:
                raise CountExists(f"count {count.id!r} is already open")
            self._open[count.id] = count
            return count

    def observe(self, batch: Sequence[Any]) -> None:
        """Collect the EPC reads of ``batch`` (observations of every kind) into the open counts of their zones whose
        window holds the read's time (from the count's start, and before it is due if it has a duration)."""
        if not self._open:
            return
        with self._lock:
            collect(list(self._open.values()), batch, self._zone_of)

    def get(self, count_id: str) -> OpenCount | None:
        """The open count ``count_id`` (a snapshot of what it has seen), or None."""
        with self._lock:
            count = self._open.get(count_id)
            return None if count is None else replace(count, seen=set(count.seen))

    def all(self) -> list[OpenCount]:
        """Every open count, oldest first (snapshots)."""
        with self._lock:
            ids = sorted(self._open, key=lambda i: (self._open[i].start, i))
        return [c for i in ids if (c := self.get(i)) is not None]

    def take(self, count_id: str) -> OpenCount | None:
        """Remove the open count ``count_id`` and hand it over to be closed (None: no such open count)."""
        with self._lock:
            return self._open.pop(count_id, None)

    def put_back(self, count: OpenCount) -> None:
        """Reopen a count taken whose close could not be written (the database was away), with what it had seen."""
        with self._lock:
            current = self._open.setdefault(count.id, count)
            if current is not count:
                current.seen |= count.seen

    def due(self, now: dt.datetime) -> list[OpenCount]:
        """Take every count whose duration is up at ``now``."""
        with self._lock:
            ids = [i for i, c in self._open.items() if c.due is not None and c.due <= now]
            return [self._open.pop(i) for i in ids]
