"""The cycle counts under way in the gateway: started and closed from the API's threads, fed reads from the
pipeline's, so every step takes a lock (the decisions are :mod:`silentgw.gateway.counts`'s)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from silentgw.gateway.counts import CountExists, OpenCount, collect
from silentgw.gateway.zones import AntennaZone

__all__ = ["OpenCounts"]


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
