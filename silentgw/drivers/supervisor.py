"""The one place that keeps drivers alive: restart with backoff and jitter, device status, silence, counters,
set-aside input.

Each device's driver runs under a :class:`Supervisor`. When the driver raises :class:`DeviceUnavailable` (or fails
in a way it did not foresee: a driver bug must not take the gateway down), the supervisor reports the device down,
waits a randomised, exponentially growing delay (full jitter, so a hundred readers behind one switch do not reconnect
in step) and runs it again.

A device can also die without the driver noticing: a Zebra or Impinj reader publishes to the broker the gateway is
subscribed to, so when it loses power the gateway's own connection stays up and simply hears nothing more. So the
supervisor watches for :class:`Silence`: a device that says nothing at all (no read, no heartbeat or status of its
own, not even a rejected frame) for longer than its bound (``silence_s`` in its driver's settings, defaults by dialect,
see :func:`~silentgw.drivers.base.silence_bound`) is reported down, dated from when it was last heard, and up again
the moment anything arrives from it. The supervisor never asserts a heartbeat of its own: a heartbeat is only ever
what the device sent.

It counts frames and keeps the most recent rejected input with its reason, for the API's device health, bounded in
bytes (:class:`SetAside`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from silentgw.drivers.base import DeviceUnavailable, Driver, Emit, silence_bound
from silentgw.drivers.observations import DeviceState, DeviceStatus, Handed, Receipt, Rejected

__all__ = ["Backoff", "Clock", "DeviceHealth", "SetAside", "Silence", "Supervisor", "utcnow"]

logger = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]

KEPT_REJECTS = 100
"""Rejected inputs kept per device for its health."""
KEPT_RAW = 256
"""Bytes kept of each rejected input (its whole length is kept too)."""
KEPT_REASON = 512
"""Characters kept of each reason (a parser's reason may quote the input)."""


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


class Silence:
    """Whether a device has said nothing for longer than ``bound`` seconds: a pure decision on the times given.

    ``heard(now)`` when anything arrives from the device, ``check(now)`` from time to time. ``check`` gives one
    "down" per silence, dated when the device was last heard (its last sign of life: presence stops the absence
    clocks of its zones from then on); ``heard`` gives the "up" that ends it. The supervisor uses it on the gateway's
    clock, and a simulated day played straight into the pipeline (:mod:`silentgw.simulator.supervised`) on the day's.
    """

    __slots__ = ("bound", "device", "last", "silent")

    def __init__(self, device: str, bound: float, *, since: dt.datetime | None = None) -> None:
        if bound <= 0:
            raise ValueError("a silence bound is a positive number of seconds")
        self.device = device
        self.bound = bound
        self.last = since
        """When the device was last heard (or its connection opened); None: not yet, so not silent either."""
        self.silent = False

    def heard(self, now: dt.datetime) -> DeviceStatus | None:
        """The device said something at ``now``: the "up" that ends a silence, if it was silent."""
        if self.last is None or now > self.last:
            self.last = now
        if not self.silent:
            return None
        self.silent = False
        return DeviceStatus(self.device, "up", now, "heard again after a silence")

    def check(self, now: dt.datetime) -> DeviceStatus | None:
        """The "down" of a device silent past its bound at ``now`` (once per silence), else None."""
        if self.silent or self.last is None:
            return None
        quiet = (now - self.last).total_seconds()
        if quiet <= self.bound:
            return None
        self.silent = True
        return DeviceStatus(self.device, "down", self.last, f"silent for {quiet:.0f} s (bound {self.bound:g} s)")


class SetAside(NamedTuple):
    """A rejected input as the device's health keeps it: the first :data:`KEPT_RAW` bytes and the whole length."""

    device: str
    raw: bytes
    """At most :data:`KEPT_RAW` bytes: the start of what was rejected."""
    size: int
    """How many bytes the rejected input had."""
    reason: str
    time: dt.datetime

    @classmethod
    def of(cls, rejected: Rejected) -> SetAside:
        """The bounded copy of ``rejected``."""
        reason = rejected.reason
        if len(reason) > KEPT_REASON:
            reason = reason[: KEPT_REASON - 1] + "…"
        return cls(rejected.device, bytes(rejected.raw[:KEPT_RAW]), len(rejected.raw), reason, rejected.time)


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
    """When the device last reported a read or reading."""
    last_heard: dt.datetime | None = None
    """When anything last came from the device (a read, a heartbeat, a rejected frame) or its connection opened."""
    up_since: dt.datetime | None = None
    last_error: str | None = None
    recent_rejects: deque[SetAside] = field(default_factory=lambda: deque(maxlen=KEPT_REJECTS))
    """The last :data:`KEPT_REJECTS` inputs set aside, each cut to :data:`KEPT_RAW` bytes and its reason to
    :data:`KEPT_REASON` characters: at most about 77 KB per device however large the junk (sixty 10 MB messages
    once took 600 MB here)."""


class Supervisor:
    """Runs one driver for good: restarts it with backoff, reports its status and its silences, counts what it says."""

    def __init__(
        self,
        driver: Driver,
        sink: Emit,
        *,
        backoff: Backoff | None = None,
        silence: float | Literal["driver"] | None = "driver",
        watch_every: float = 1.0,
        stable_after: float = 60.0,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.driver = driver
        self.sink = sink
        self.backoff = backoff or Backoff()
        bound = silence_bound(getattr(driver, "settings", None)) if silence == "driver" else silence
        self.silence = Silence(driver.device, bound) if bound else None
        """The device's silence bound, from its driver's settings unless given; None: silence is normal for it."""
        self.watch_every = watch_every
        """Seconds (of ``sleep``) between looks at the silence: at most this late, and never later than a quarter of
        the bound."""
        self.stable_after = stable_after
        self.clock = clock
        self.sleep = sleep
        self.health = DeviceHealth(device=driver.device)

    async def run(self) -> None:
        """Run the driver until cancelled, bringing it back whenever its device is lost."""
        watch = None
        if self.silence is not None:
            watch = asyncio.create_task(self._watch(self.silence), name=f"silence of {self.driver.device}")
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
            if watch is not None:
                watch.cancel()

    async def _down(self, reason: str) -> None:
        health = self.health
        health.last_error = reason
        now = self.clock()
        if health.up_since is not None and (now - health.up_since).total_seconds() >= self.stable_after:
            self.backoff.reset()  # it had been up a while: this is a new outage, not the same one continuing
        if self.silence is not None:
            self.silence.last = None  # not connected: its silence starts again when the driver is back up
        if health.state != "down":
            health.state = "down"
            health.up_since = None
            await self.sink([DeviceStatus(self.driver.device, "down", now, reason)])

    async def _emit(self, batch: Sequence[Handed]) -> None:
        health = self.health
        device = health.device
        seen = 0
        heard = False
        came_up = False
        for item in batch:
            if type(item) is Receipt:
                continue  # a mark in the stream for the pipeline, not something the device said
            if type(item) is Rejected:
                heard = True
                health.frames_bad += 1
                health.recent_rejects.append(SetAside.of(item))
                logger.debug("device %s: set aside %r: %s", item.device, item.raw[:64], item.reason)
            elif type(item) is DeviceStatus:
                if item.device != device:
                    heard = True  # about a part of the device (an antenna): the device said it, so it is alive
                elif item.state == "down":
                    health.state = "down"
                    health.up_since = None
                else:
                    heard = True
                    if item.state == "up" and health.state != "up":
                        came_up = True
                        health.state = "up"
                        health.up_since = item.time
            else:
                seen += 1
        now = self.clock()
        if seen:
            heard = True
            health.frames_ok += 1
            health.observations += seen
            health.last_seen = now
        if heard:
            health.last_heard = now
            back = self.silence.heard(now) if self.silence is not None else None
            if health.state != "up":
                # heard from again after a silence (or a driver that never said "up"): it is up, and says so first
                health.state = "up"
                health.up_since = now
                back = back or DeviceStatus(device, "up", now, "heard again")
            if back is not None and not came_up:
                await self.sink([back])
        await self.sink(batch)

    async def _watch(self, silence: Silence) -> None:
        every = min(self.watch_every, silence.bound / 4)
        while True:
            await self.sleep(every)
            if self.health.state != "up":
                continue
            down = silence.check(self.clock())
            if down is not None:
                health = self.health
                health.state = "down"
                health.up_since = None
                health.last_error = down.detail
                logger.warning("device %s: %s: reported down", down.device, down.detail)
                await self.sink([down])
