"""The one place that keeps drivers alive: restart with backoff and jitter, device status, counters, set-aside input.

Each device's driver runs under a :class:`Supervisor`. When the driver raises :class:`DeviceUnavailable` (or fails
in a way it did not foresee: a driver bug must not take the gateway down), the supervisor reports the device down,
waits a randomised, exponentially growing delay (full jitter, so a hundred readers behind one switch do not reconnect
in step) and runs it again. While the device is up it sends a heartbeat. It counts frames and keeps the most recent
rejected input with its reason, for the API's device health.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from silentgw.drivers.base import DeviceUnavailable, Driver, Emit
from silentgw.drivers.observations import DeviceState, DeviceStatus, Handed, Receipt, Rejected

__all__ = ["Backoff", "Clock", "DeviceHealth", "Supervisor", "utcnow"]

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Backoff:
    """Exponential backoff with full jitter: attempt n waits a uniform random time in [0, min(cap, initial * 2**n)]."""

    def __init__(self, *, initial: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        if not 0 < initial <= cap:
            raise ValueError("backoff needs 0 < initial <= cap")
        self.initial = initial
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets

    def next(self) -> float:
        """The delay before the next attempt; each call doubles the ceiling up to ``cap``."""
        ceiling = min(self.cap, self.initial * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return self._rng.uniform(0, ceiling)

    def reset(self) -> None:
        """Start again from ``initial`` (the device stayed up long enough)."""
        self.attempt = 0


@dataclass(slots=True)
class DeviceHealth:
    """What the supervisor knows of one device."""

    device: str
    state: DeviceState = "down"
    frames_ok: int = 0
    """Frames (serial frames, MQTT messages) that yielded at least one observation."""
    frames_bad: int = 0
    """Inputs set aside as :class:`Rejected`."""
    observations: int = 0
    reconnects: int = 0
    last_seen: dt.datetime | None = None
    up_since: dt.datetime | None = None
    last_error: str | None = None
    recent_rejects: deque[Rejected] = field(default_factory=lambda: deque(maxlen=100))


class Supervisor:
    """Runs one driver for good: restarts it with backoff, reports its status, counts what it says."""

    def __init__(
        self,
        driver: Driver,
        sink: Emit,
        *,
        backoff: Backoff | None = None,
        heartbeat: float = 30.0,
        stable_after: float = 60.0,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.driver = driver
        self.sink = sink
        self.backoff = backoff or Backoff()
        self.heartbeat = heartbeat
        self.stable_after = stable_after
        self.clock = clock
        self.sleep = sleep
        self.health = DeviceHealth(device=driver.device)

    async def run(self) -> None:
        """Run the driver until cancelled, bringing it back whenever its device is lost."""
        beat = asyncio.create_task(self._heartbeat(), name=f"heartbeat {self.driver.device}")
        try:
            while True:
                try:
                    await self.driver.run(self._emit)
                    reason = "the driver stopped by itself"
                except DeviceUnavailable as exc:
                    reason = str(exc) or type(exc).__name__
                except Exception as exc:  # a driver bug must not take the gateway down: log it, restart it
                    logger.exception("driver of device %s failed", self.driver.device)
                    reason = f"driver error: {exc!r}"
                await self._down(reason)
                delay = self.backoff.next()
                logger.info("device %s: %s; retrying in %.1f s", self.driver.device, reason, delay)
                await self.sleep(delay)
                self.health.reconnects += 1
        finally:
            beat.cancel()

    async def _down(self, reason: str) -> None:
        health = self.health
        health.last_error = reason
        now = self.clock()
        if health.up_since is not None and (now - health.up_since).total_seconds() >= self.stable_after:
            self.backoff.reset()  # it had been up a while: this is a new outage, not the same one continuing
        if health.state != "down":
            health.state = "down"
            health.up_since = None
            await self.sink([DeviceStatus(self.driver.device, "down", now, reason)])

    async def _emit(self, batch: Sequence[Handed]) -> None:
        health = self.health
        seen = 0
        for item in batch:
            if type(item) is Receipt:
                continue  # a mark in the stream for the pipeline, not something the device said
            if type(item) is Rejected:
                health.frames_bad += 1
                health.recent_rejects.append(item)
                logger.debug("device %s: set aside %r: %s", item.device, item.raw[:64], item.reason)
            elif type(item) is DeviceStatus:
                if item.device != health.device:
                    pass  # about a part of the device (an antenna) or another device: passed on, not our state
                elif item.state == "up" and health.state != "up":
                    health.state = "up"
                    health.up_since = item.time
                elif item.state == "down":
                    health.state = "down"
                    health.up_since = None
            else:
                seen += 1
        if seen:
            health.frames_ok += 1
            health.observations += seen
            health.last_seen = self.clock()
        await self.sink(batch)

    async def _heartbeat(self) -> None:
        while True:
            await self.sleep(self.heartbeat)
            if self.health.state == "up":
                await self.sink([DeviceStatus(self.driver.device, "heartbeat", self.clock())])
