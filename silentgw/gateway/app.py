"""The composition root: ``async with run_gateway(settings) as gateway`` owns the drivers, their supervisors and
the intake that carries what they read to the core.

Drivers are built from the settings through the driver registry (their options validated by each driver's own
model, refused at start with the key named), each run under its own supervisor. Everything they emit goes through
one bounded intake queue to a single consumer, ``handle``: the read pipeline (presence, ledger, rules) in the issues
to come; a tally of what arrived until then. When the intake is full, the supervisors' ``emit`` waits: back-pressure
reaches the serial drivers, which simply read later (the port buffers), and the MQTT drivers, whose own bounded
buffer then states what it drops. Nothing is dropped silently here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from silentgw.drivers.base import CommandRefused, Driver, TakesCommands
from silentgw.drivers.commands import Command
from silentgw.drivers.observations import DeviceStatus, Handed, Receipt, SensorReading, TagRead
from silentgw.drivers.registry import Registry
from silentgw.drivers.supervisor import Backoff, Clock, DeviceHealth, Supervisor, utcnow
from silentgw.gateway.config import ConfigError, Settings

__all__ = ["Gateway", "Handler", "Tally", "run_gateway"]

logger = logging.getLogger(__name__)

Handler = Callable[[Sequence[Handed]], Awaitable[None]]
"""The consumer of the intake: one batch at a time, in the order the drivers emitted them."""

INTAKE_BATCHES = 1024
"""How many batches (a serial chunk, an MQTT message) may wait for the consumer before the drivers are held back."""


@dataclass(slots=True)
class Tally:
    """What has come in, by kind and by device: the consumer until the read pipeline takes its place."""

    kinds: Counter[str] = field(default_factory=Counter)
    devices: Counter[str] = field(default_factory=Counter)

    async def __call__(self, batch: Sequence[Handed]) -> None:
        """Count a batch."""
        for item in batch:
            if isinstance(item, TagRead):
                self.kinds[f"read:{item.protocol}"] += 1
                self.devices[item.reader] += 1
            elif isinstance(item, SensorReading):
                self.kinds["reading"] += 1
                self.devices[item.sensor] += 1
            elif isinstance(item, DeviceStatus):
                self.kinds[f"status:{item.state}"] += 1
            elif isinstance(item, Receipt):
                item.confirm()  # nothing to write here: taken is done
            else:
                self.kinds["rejected"] += 1


class Gateway:
    """The running gateway: its drivers under supervision, their health, and commands down to them."""

    def __init__(self, settings: Settings, drivers: dict[str, Driver], *, handle: Handler, backoff_cap: float,
                 clock: Clock = utcnow) -> None:  # fmt: skip
        self.settings = settings
        self.drivers = drivers
        self.handle = handle
        self.intake: asyncio.Queue[Sequence[Handed]] = asyncio.Queue(maxsize=INTAKE_BATCHES)
        self.supervisors = {
            device: Supervisor(driver, self.intake.put, backoff=Backoff(initial=0.5, cap=backoff_cap), clock=clock)
            for device, driver in drivers.items()
        }

    def health(self, device: str) -> DeviceHealth:
        """What the supervisor of ``device`` knows (KeyError for a device this gateway does not run)."""
        return self.supervisors[device].health

    async def send(self, device: str, command: Command) -> None:
        """Send ``command`` through the driver that owns ``device``."""
        driver = self.drivers.get(device)
        if driver is None:
            raise CommandRefused(f"device {device!r} is not run by this gateway")
        if not isinstance(driver, TakesCommands):
            raise CommandRefused(f"device {device!r} takes no commands")
        await driver.send(command)

    async def _consume(self) -> None:
        while True:
            batch = await self.intake.get()
            try:
                await self.handle(batch)
            except Exception:  # one bad batch must not stop the intake; it is logged where it is handled
                logger.exception("handling a batch of %d observations failed", len(batch))
            finally:
                self.intake.task_done()


def build_drivers(settings: Settings, registry: Registry, *, clock: Clock = utcnow) -> dict[str, Driver]:
    """A driver for every device of the settings, options validated; :class:`ConfigError` names every bad key."""
    options = [(d.id, d.driver.kind, d.driver.model_dump(exclude={"kind"})) for d in settings.devices]
    problems = registry.problems(options)
    if problems:
        raise ConfigError("invalid driver settings:\n" + "\n".join(f"  {p}" for p in problems))
    return {device: registry.build(device, kind, opts, clock=clock) for device, kind, opts in options}


@contextlib.asynccontextmanager
async def run_gateway(
    settings: Settings,
    *,
    registry: Registry | None = None,
    handle: Handler | None = None,
    backoff_cap: float = 30.0,
    clock: Clock = utcnow,
) -> AsyncIterator[Gateway]:
    """Start every device's driver under supervision; on exit, stop them and drain what they already handed in.

    ``clock`` is the gateway's time, stamped on what the drivers receive and on device health: the wall clock, or a
    simulation's (:class:`silentgw.simulator.player.SimClock`) when a simulated day drives the real drivers.
    """
    drivers = build_drivers(settings, registry or Registry.installed(), clock=clock)
    gateway = Gateway(settings, drivers, handle=handle or Tally(), backoff_cap=backoff_cap, clock=clock)
    consumer = asyncio.create_task(gateway._consume(), name="intake")
    tasks = [asyncio.create_task(s.run(), name=f"device {d}") for d, s in gateway.supervisors.items()]
    logger.info("gateway of site %s running %d devices", settings.site.id, len(tasks))
    try:
        yield gateway
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gateway.intake.join()  # what the drivers handed in before stopping is still handled
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
