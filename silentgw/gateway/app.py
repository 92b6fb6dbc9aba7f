"""The composition root: ``async with build_gateway(settings, engine) as gw`` builds, wires, runs and stops the gateway.

What it builds, each handed its collaborators when it is made (nothing is patched in afterwards):

- the **drivers** of the settings' devices, built through the driver registry (their options validated by each
  driver's own model, refused at start with the key named), each under its own supervisor (:class:`Gateway`); an
  MQTT driver with no user name of its own on ``[mqtt]``'s broker connects with ``[mqtt]``'s account, and each broker
  reached anonymously is warned about at start (:mod:`silentgw.gateway.broker`);
- the **read pipeline** (presence, checkout, the stock ledger), restored from where the database last placed each
  item; it is the intake's consumer, and tells the outbox when it committed;
- the **outbox** :class:`Dispatcher` and its sinks: MQTT (when ``mqtt.events``), the webhooks' (one per active
  subscription, kept in step by the :class:`WebhookManager`) and **actions**, which runs the rules (restock, orders,
  members, shelf displays, event commands) and sends their commands down through the drivers;
- the **sensor recorder** (history in SQL, the time-series server's feed) and the sensor rules, fed each
  micro-batch's readings; presence ticks, the member rules' daily look and the time-series counters as tasks.

There is no cycle to break: the dispatcher is made first with no sinks, the pipeline is told its ``notify``, the
drivers' :class:`Gateway` its ``handle``, and actions the gateway's ``send``; the sinks then join the dispatcher
through :meth:`Dispatcher.add`, its own way to take a sink while it runs (the webhooks use the same).

Everything the drivers emit goes through one bounded intake queue to a single consumer (the pipeline's ``handle``).
When the intake is full, the supervisors' ``emit`` waits: back-pressure reaches the serial drivers, which simply read
later (the port buffers), and the MQTT drivers, whose own bounded buffer then states what it drops. Nothing is
dropped silently here.

Stopping is graceful and in this order: the drivers stop, what they had handed in is drained from the intake into
the pipeline, the pipeline processes and writes what it holds, the recorder writes its last buckets, the dispatcher
delivers what was written (for up to five seconds; the rest goes out after the next start), and the sinks close.
``run_gateway`` runs the drivers alone, for callers that bring their own consumer (tests, the lock-step simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from silentgw.drivers.base import CommandRefused, Driver, TakesCommands
from silentgw.drivers.commands import Command
from silentgw.drivers.observations import DeviceStatus, Handed, Receipt, SensorReading, TagRead
from silentgw.drivers.registry import Registry
from silentgw.drivers.supervisor import Backoff, Clock, DeviceHealth, Supervisor, utcnow
from silentgw.gateway.actions import Actions, Rule
from silentgw.gateway.broker import driver_options, warn_anonymous
from silentgw.gateway.config import ConfigError, Settings
from silentgw.gateway.egress import Egress
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.publisher import MqttSink
from silentgw.gateway.rules import DisplayRule, EventCommandRule, MemberRules, SensorRules
from silentgw.gateway.store import outbox
from silentgw.gateway.store.orders import OrdersRule
from silentgw.gateway.store.restock import RestockRule
from silentgw.gateway.store.sales import SqlSales
from silentgw.gateway.timeseries import SensorRecorder, build_recorder, report_counters
from silentgw.gateway.webhooks import WebhookManager

__all__ = ["Assembly", "Gateway", "Handler", "Tally", "UnknownDevice", "build_gateway", "run_gateway"]

logger = logging.getLogger(__name__)

Handler = Callable[[Sequence[Handed]], Awaitable[None]]
"""The consumer of the intake: one batch at a time, in the order the drivers emitted them."""

INTAKE_BATCHES = 1024
"""How many batches (a serial chunk, an MQTT message) may wait for the consumer before the drivers are held back."""


@dataclass(slots=True)
class Tally:
    """What has come in, by kind and by device: ``run_gateway``'s consumer when it is given none."""

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


class UnknownDevice(LookupError):
    """A device this gateway does not run."""


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
        """What the supervisor of ``device`` knows (:class:`UnknownDevice` for a device this gateway does not run)."""
        supervisor = self.supervisors.get(device)
        if supervisor is None:
            raise UnknownDevice(f"device {device!r} is not run by this gateway")
        return supervisor.health

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
    options = [(d.id, d.driver.kind, driver_options(settings, d, registry)) for d in settings.devices]
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
    warn_anonymous(settings, drivers, sink=False)
    gateway = Gateway(settings, drivers, handle=handle or Tally(), backoff_cap=backoff_cap, clock=clock)
    async with _running(gateway):
        yield gateway


@contextlib.asynccontextmanager
async def _running(gateway: Gateway) -> AsyncIterator[None]:
    """The drivers of ``gateway`` and its intake's consumer running; on exit the drivers stop first, then what they
    handed in is handled."""
    consumer = asyncio.create_task(gateway._consume(), name="intake")
    tasks = [asyncio.create_task(s.run(), name=f"device {d}") for d, s in gateway.supervisors.items()]
    logger.info("gateway of site %s running %d devices", gateway.settings.site.id, len(tasks))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await gateway.intake.join()  # what the drivers handed in before stopping is still handled
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class Assembly:
    """The gateway as :func:`build_gateway` wired it: the parts the API and the command line reach for."""

    settings: Settings
    engine: Engine
    gateway: Gateway
    """The drivers under supervision: device health, commands down to the devices."""
    pipeline: Pipeline
    dispatcher: Dispatcher
    """The outbox's: every sink delivers through it, each from its own cursor."""
    actions: Actions
    """The sink that runs the rules and sends their commands through :attr:`gateway`."""
    members: MemberRules
    """The member rules (one of actions' rules), also looked at daily."""
    recorder: SensorRecorder
    webhooks: WebhookManager
    mqtt: MqttSink | None
    """The MQTT sink, when ``mqtt.events`` is on."""


def _assemble(settings: Settings, engine: Engine, *, registry: Registry, clock: Clock, backoff_cap: float) -> Assembly:
    """Every part built and wired; nothing started. A bad driver setting fails here, before the database is asked."""
    drivers = build_drivers(settings, registry, clock=clock)
    warn_anonymous(settings, drivers, sink=settings.mqtt.events)
    source = f"urn:silentgw:{settings.site.id}"
    dispatcher = Dispatcher(engine)
    sales = SqlSales(engine, timezone=settings.site.timezone)
    sensors = SensorRules(settings, engine)
    recorder = build_recorder(settings, engine)  # the downsampled history in SQL, and the time-series server's feed

    def readings(batch: Sequence[SensorReading]) -> None:
        recorder(batch)
        sensors(batch)

    pipeline = Pipeline.restore(
        settings, engine, now=clock(), clock=clock, notify=dispatcher.notify, readings=readings, sales=sales
    )
    gateway = Gateway(settings, drivers, handle=pipeline.handle, backoff_cap=backoff_cap, clock=clock)
    members = MemberRules(settings, sales)
    rules: list[Rule] = [RestockRule(), OrdersRule(), members, DisplayRule(settings), EventCommandRule(settings)]
    actions = Actions(engine, rules, send=gateway.send, notify=dispatcher.notify)
    mqtt = MqttSink(settings.mqtt, settings.site.id, source=source) if settings.mqtt.events else None
    for sink in (mqtt, actions):
        if sink is not None:
            dispatcher.add(sink)
    egress = Egress(allow=settings.webhooks.allow_networks)  # where webhooks may go
    webhooks = WebhookManager(engine, dispatcher, source=source, egress=egress)
    return Assembly(settings=settings, engine=engine, gateway=gateway, pipeline=pipeline, dispatcher=dispatcher,
                    actions=actions, members=members, recorder=recorder, webhooks=webhooks, mqtt=mqtt)  # fmt: skip


@contextlib.asynccontextmanager
async def build_gateway(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock = utcnow,
    registry: Registry | None = None,
    tick: float = 1.0,
    backoff_cap: float = 30.0,
) -> AsyncIterator[Assembly]:
    """Build the gateway of ``settings`` on ``engine`` (migrated, its layout applied), run it, and stop it gracefully
    on exit (the order is the module's).

    ``clock`` is the gateway's time (a demo's runs faster than the wall's); presence ticks every ``tick`` seconds;
    ``registry`` is where driver kinds are found (the installed drivers by default).
    """
    parts = _assemble(settings, engine, registry=registry or Registry.installed(), clock=clock, backoff_cap=backoff_cap)
    delivering = asyncio.create_task(parts.dispatcher.run(), name="outbox")
    try:
        async with parts.webhooks:
            await parts.webhooks.load()
            async with _running(parts.gateway):
                tasks = _background(parts, tick=tick, clock=clock)
                try:
                    yield parts
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            await parts.pipeline.close()  # the drivers have stopped: what they handed in is written
            await asyncio.to_thread(parts.recorder.close)  # after the last batch (waits up to 10 s for its server)
            await parts.dispatcher.drain(timeout=5.0)  # and delivered (and acted on), if the sinks can take it now
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        if parts.mqtt is not None:
            await parts.mqtt.close()


def _background(parts: Assembly, *, tick: float, clock: Clock) -> list[asyncio.Task[None]]:
    """The gateway's own periodic work: presence ticks, the member rules' daily look, the time-series counters."""
    tasks = [
        asyncio.create_task(parts.pipeline.ticking(tick), name="presence ticks"),
        asyncio.create_task(_daily(parts, clock), name="member rules, daily"),
    ]
    writer = parts.recorder.writer
    if writer is not None:
        devices = parts.gateway.supervisors.values()
        counting = report_counters(writer, parts.pipeline.counters, lambda: [s.health for s in devices],
                                   every=parts.settings.timeseries.counters_interval, clock=clock)  # fmt: skip
        tasks.append(asyncio.create_task(counting, name="time-series counters"))
    return tasks


async def _daily(parts: Assembly, clock: Clock) -> None:
    """The member rules' daily look (birthdays, segments), hourly: it acts once a day however often it looks."""
    while True:
        try:
            await asyncio.to_thread(_look, parts, clock())
            parts.dispatcher.notify()
        except Exception:
            logger.exception("the member rules' daily look failed; trying again in an hour")
        await asyncio.sleep(3600)


def _look(parts: Assembly, now: dt.datetime) -> None:
    with parts.engine.begin() as conn:
        outbox.append(conn, parts.members.daily(conn, now))
