"""Plays a simulated stream to the simulated devices, in real time, N times faster, as fast as it can, or in
lockstep with a gateway on a simulated clock.

Each observation of the stream goes to the device that would have made it (a tag read to its reader, a reading to
its sensor), which turns it into that device's wire format. Time is kept against the event loop's clock, so a slow
moment is caught up rather than drifting. Devices that do something as time passes (a Zebra reader's heartbeat) are
told the stream's time as it is played (``tick``), so they keep the simulation's pace at any speed; a reader
``outage`` switches that device off for its window (``power``), so it falls silent as the hardware does and the
gateway has to notice by itself.

In lockstep (:class:`Lockstep`) the gateway reads the simulation's time: a :class:`SimClock` that shows each
observation's time as it is played, handed to ``run_gateway`` and the pipeline as their clock. Before the clock moves
on by more than a step, the player waits until the gateway has taken everything played so far, so what a driver
stamps on a read is the read's own simulated time, give or take the step, however fast the machine plays. A day of
twelve hours then runs through the real drivers in a few minutes, and the same day gives the same result.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from silentgw.drivers.observations import SensorReading, TagRead

__all__ = ["Lockstep", "Player", "Progress", "ScaledClock", "SimClock", "SimDevice"]

logger = logging.getLogger(__name__)


class SimDevice(Protocol):
    """A simulated device: it says what it is handed, in its own wire format."""

    def report(self, observation: TagRead | SensorReading, /) -> None:
        """Put ``observation`` on the wire."""
        ...


class SimClock:
    """A simulation's time, called like the wall clock (``clock() -> aware datetime``); the player moves it on."""

    __slots__ = ("now",)

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall clock from ``start``: the clock of a gateway
    that a player at the same speed plays to, so its presence rules see the day's own pace."""

    __slots__ = ("_started", "speed", "start")

    def __init__(self, start: dt.datetime, speed: float) -> None:
        self.start = start
        self.speed = speed
        self._started = time.monotonic()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(time.monotonic() - self._started) * self.speed)


@dataclass(frozen=True, slots=True)
class Lockstep:
    """Play against a gateway reading ``clock``: ``settle(played)`` returns once it has taken ``played`` observations.

    The clock is not moved more than ``step`` seconds past the time of what the gateway has not yet taken.
    """

    clock: SimClock
    settle: Callable[[int], Awaitable[None]]
    step: float = 1.0


@dataclass(slots=True)
class Progress:
    """How far the play has got."""

    played: int = 0
    unrouted: int = 0
    """Observations of a device the simulation has no voice for (not in the settings, or of another transport)."""


class Player:
    """Hands each observation of a stream to its device, keeping the stream's pace times ``speed``."""

    def __init__(
        self,
        devices: Mapping[str, SimDevice],
        *,
        speed: float | None = 1.0,
        lockstep: Lockstep | None = None,
        outage: tuple[str, dt.datetime, dt.datetime] | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None: as fast as possible)")
        if lockstep is not None and speed is not None:
            raise ValueError("a lockstep play keeps the gateway's pace: its speed must be None")
        self.devices = devices
        self.speed = speed
        self.lockstep = lockstep
        self.outage = outage
        """A device switched off from the first instant to the second (its reads the stream leaves out itself)."""
        self.progress = Progress()
        self._ticks: list[Callable[[dt.datetime], None]] = [
            tick for d in devices.values() if (tick := getattr(d, "tick", None)) is not None
        ]
        self._off = False

    def _advance(self, now: dt.datetime) -> None:
        """The stream's time is ``now``: switch the outage's device off or on, and let devices keep their time."""
        if self.outage is not None:
            reader, down, up = self.outage
            off = down <= now < up
            power = getattr(self.devices.get(reader), "power", None)
            if off != self._off and power is not None:
                self._off = off
                power(not off)
        for tick in self._ticks:
            tick(now)

    async def play(
        self, stream: Iterable[TagRead | SensorReading], *, each: Callable[[Progress], None] | None = None
    ) -> Progress:
        """Play ``stream`` to the end; ``each`` is called every thousand observations."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        first = None
        lockstep = self.lockstep
        step_ends: dt.datetime | None = None
        for n, observation in enumerate(stream):
            if first is None:
                first = observation.time
            if lockstep is not None:
                if step_ends is None or observation.time >= step_ends:
                    await lockstep.settle(self.progress.played)
                    step_ends = observation.time + dt.timedelta(seconds=lockstep.step)
                lockstep.clock.now = max(lockstep.clock.now, observation.time)
            else:
                ahead = 0.0 if self.speed is None else (
                    (observation.time - first).total_seconds() / self.speed - (loop.time() - started)
                )  # fmt: skip
                if ahead > 0.001:
                    await asyncio.sleep(ahead)
                elif n % 256 == 0:
                    # as fast as possible (or catching up, behind time on a busy box), but let the gateway read and
                    # its API answer: a player behind time that never yielded starved the demo's event loop
                    await asyncio.sleep(0)
            self._advance(observation.time)
            source = observation.reader if isinstance(observation, TagRead) else observation.sensor
            device = self.devices.get(source)
            if device is None:
                self.progress.unrouted += 1
            else:
                device.report(observation)
                self.progress.played += 1
            if each is not None and n % 1000 == 0:
                each(self.progress)
        if lockstep is not None:
            await lockstep.settle(self.progress.played)
        return self.progress
