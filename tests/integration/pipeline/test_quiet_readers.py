"""A reader that loses its power says nothing: the gateway must see it down by itself, so that its zones' absence
clocks stop and no item on its shelves departs. Played for real: a simulated Zebra reader on the real Mosquitto whose
client dies without a DISCONNECT, and an M100 module on a pseudo-terminal that stops answering; the gateway's real
drivers and supervisors on a simulated clock; the read pipeline writing the test's database."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Engine

from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.drivers.observations import DeviceStatus, Handed, TagRead
from silentgw.gateway.app import Gateway, run_gateway
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.pipeline import Pipeline
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from silentgw.simulator.mqtt_devices import MqttVoice, SimZebraReader
from silentgw.simulator.player import SimClock
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import SimM100
from tests.integration.pipeline.conftest import example_store
from tests.mqtt_broker import broker_up

T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
DEADLINE = 10.0
"""Real seconds a test waits for what normally takes milliseconds."""


def only(example: Settings, device: str, driver: Mapping[str, object]) -> Settings:
    """The example store with ``device`` its only device, served by ``driver``."""
    kept = [{**d.model_dump(), "driver": driver} for d in example.devices if d.id == device]
    return Settings.model_validate({**example.model_dump(), "devices": kept})


def items(n: int) -> list[str]:
    """``n`` demo items' EPCs (SGTIN-96, point-of-sale filter)."""
    products = DEMO_PRODUCTS[:n]
    return [encode_sgtin(gtin=p.gtin, serial=str(9000 + i), filter=1, company_prefix_length=len(p.company_prefix))
            for i, p in enumerate(products)]  # fmt: skip


class Intake:
    """The pipeline's handle, counting the tag reads and keeping the statuses handed in."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.reads = 0
        self.statuses: list[DeviceStatus] = []

    async def __call__(self, batch: Sequence[Handed]) -> None:
        self.reads += sum(1 for o in batch if type(o) is TagRead)
        self.statuses += [o for o in batch if type(o) is DeviceStatus]
        await self.pipeline.handle(batch)

    async def taken(self, reads: int) -> None:
        """Wait until ``reads`` tag reads in all have come through the driver."""
        await until(lambda: self.reads >= reads, f"{reads} reads to come through the driver")


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (real time) until ``condition()`` holds; fail naming ``what``."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def outage(
    gateway: Gateway,
    pipeline: Pipeline,
    clock: SimClock,
    *,
    reader: str,
    play: Callable[[int], Awaitable[None]],
    power: Callable[[bool], None],
    dark: float,
) -> dict[tuple[int, str], int]:
    """Stock the reader's zones, switch it off for ``dark`` seconds of the gateway's time (ticking the pipeline all
    the while), switch it on again and let it read; return the stock levels the outage must not have changed."""
    await play(12)  # a minute of reads every five seconds: the items arrive
    await pipeline.tick()
    before = pipeline.ledger.levels()
    assert sum(before.values()) == 4

    power(False)
    silent_from = clock.now
    bound = gateway.supervisors[reader].silence
    assert bound is not None
    while clock.now < silent_from + dt.timedelta(seconds=dark):
        clock.now += dt.timedelta(seconds=10)
        if gateway.health(reader).state == "up" and clock.now > silent_from + dt.timedelta(seconds=bound.bound + 10):
            # the supervisor looks once a (real) second: wait for it rather than outrun it on the simulated clock
            await until(lambda: gateway.health(reader).state == "down", f"{reader} reported down")
        await pipeline.tick()
    assert gateway.health(reader).state == "down"

    power(True)
    await play(12)
    await until(lambda: gateway.health(reader).state == "up", f"{reader} up again")
    await pipeline.tick()
    return before


def assert_nothing_departed(intake: Intake, pipeline: Pipeline, before: dict[tuple[int, str], int],
                            reader: str) -> None:  # fmt: skip
    statuses = [(s.state, s.detail) for s in intake.statuses if s.device == reader and s.state != "heartbeat"]
    downs = [detail for state, detail in statuses if state == "down"]
    assert len(downs) == 1
    assert downs[0].startswith("silent for ")
    assert statuses[-1][0] == "up"
    assert pipeline.counters.transitions["departed"] == 0
    assert pipeline.ledger.levels() == before


def test_a_zebra_reader_powered_off_longer_than_its_zones_timeouts_departs_nothing(
    engine: Engine, database_url: str
) -> None:
    if not broker_up(1883):
        pytest.skip("no Mosquitto on 127.0.0.1:1883")
    example = example_store(engine, database_url)
    base = f"test/{uuid.uuid4().hex[:8]}/fx9600"
    device = next(d for d in example.devices if d.id == "reader-back")  # stockroom (900 s), receiving (300 s)
    options = {"kind": "zebra-iotc", "data_topic": f"{base}/data", "events_topic": f"{base}/events"}
    settings = only(example, device.id, options)
    zebra = ZebraIotcReader.Settings.model_validate({k: v for k, v in options.items() if k != "kind"})
    clock = SimClock(T0)
    pipeline = Pipeline(settings, engine, clock=clock)
    intake = Intake(pipeline)
    sim = SimZebraReader(MqttVoice(zebra, name="reader-back"), data_topic=zebra.data_topic,
                         events_topic=zebra.events_topic)  # fmt: skip
    epcs = items(4)

    async def play(rounds: int) -> None:
        for _ in range(rounds):
            clock.now += dt.timedelta(seconds=5)
            sim.tick(clock.now)  # a heartbeat each simulated minute
            wanted = intake.reads + len(epcs)
            for n, epc in enumerate(epcs):
                sim.report(TagRead(epc, "reader-back", 1 + n % 2, -55.0, clock.now))
            await intake.taken(wanted)
            await pipeline.flush()

    async def run() -> dict[tuple[int, str], int]:
        sim.voice.open()
        try:
            async with run_gateway(settings, handle=intake, clock=clock) as gateway:
                await until(lambda: gateway.health("reader-back").state == "up", "the driver subscribed")
                return await outage(gateway, pipeline, clock, reader="reader-back", play=play, power=sim.power,
                                    dark=1000)  # fmt: skip
        finally:
            if sim.powered:
                sim.voice.close()

    before = asyncio.run(run())
    assert_nothing_departed(intake, pipeline, before, "reader-back")
    assert any(s.state == "heartbeat" for s in intake.statuses)  # the reader's own, at its interval


def test_an_m100_module_powered_off_longer_than_its_shelf_timeout_departs_nothing(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    example = example_store(engine, database_url)
    device = next(d for d in example.devices if d.id == "reader-floor")  # shelf-1a (300 s)
    options = {"kind": "uhf-m100", "url": str(tmp_path / "m100"), "ping_every": 0.2}
    settings = only(example, device.id, options)
    clock = SimClock(T0)
    pipeline = Pipeline(settings, engine, clock=clock)
    intake = Intake(pipeline)
    module = SimM100(PtyDevice(tmp_path / "m100"))
    epcs = items(4)

    async def play(rounds: int) -> None:
        await until(lambda: module.polling, "the module told to poll")
        for _ in range(rounds):
            clock.now += dt.timedelta(seconds=5)
            wanted = intake.reads + len(epcs)
            for epc in epcs:
                module.report(TagRead(epc, "reader-floor", 1, -55.0, clock.now))
            await intake.taken(wanted)
            await pipeline.flush()

    async def run() -> dict[tuple[int, str], int]:
        module.open()
        try:
            async with run_gateway(settings, handle=intake, clock=clock) as gateway:
                await until(lambda: gateway.health("reader-floor").state == "up", "the port open")
                return await outage(gateway, pipeline, clock, reader="reader-floor", play=play, power=module.power,
                                    dark=600)  # fmt: skip
        finally:
            module.port.close()

    before = asyncio.run(run())
    assert_nothing_departed(intake, pipeline, before, "reader-floor")
    assert any(s.state == "heartbeat" and "M100" in s.detail for s in intake.statuses)  # its answers to the query
