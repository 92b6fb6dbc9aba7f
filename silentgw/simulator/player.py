"""Plays a simulated stream to the simulated devices, in real time, N times faster, or as fast as it can.

Each observation of the stream goes to the device that would have made it (a tag read to its reader, a reading to
its sensor), which turns it into that device's wire format. Time is kept against the event loop's clock, so a slow
moment is caught up rather than drifting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from silentgw.drivers.observations import SensorReading, TagRead

__all__ = ["Player", "Progress", "SimDevice"]

logger = logging.getLogger(__name__)


class SimDevice(Protocol):
    """A simulated device: it says what it is handed, in its own wire format."""

    def report(self, observation: TagRead | SensorReading, /) -> None:
        """Put ``observation`` on the wire."""
        ...


@dataclass(slots=True)
class Progress:
    """How far the play has got."""

    played: int = 0
    unrouted: int = 0
    """Observations of a device the simulation has no voice for (not in the settings, or of another transport)."""


class Player:
    """Hands each observation of a stream to its device, keeping the stream's pace times ``speed``."""

    def __init__(self, devices: Mapping[str, SimDevice], *, speed: float | None = 1.0) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None: as fast as possible)")
        self.devices = devices
        self.speed = speed
        self.progress = Progress()

    async def play(
        self, stream: Iterable[TagRead | SensorReading], *, each: Callable[[Progress], None] | None = None
    ) -> Progress:
        """Play ``stream`` to the end; ``each`` is called every thousand observations."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = None
        for n, observation in enumerate(stream):
            if first is None:
                first = observation.time
            if self.speed is not None:
                due = (observation.time - first).total_seconds() / self.speed
                late = due - (loop.time() - started)
                if late > 0.001:
                    await asyncio.sleep(late)
            elif n % 256 == 0:
                await asyncio.sleep(0)  # as fast as possible, but let the gateway read
            source = observation.reader if isinstance(observation, TagRead) else observation.sensor
            device = self.devices.get(source)
            if device is None:
                self.progress.unrouted += 1
            else:
                device.report(observation)
                self.progress.played += 1
            if each is not None and n % 1000 == 0:
                each(self.progress)
        return self.progress
