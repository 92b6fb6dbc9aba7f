"""The simulator's MQTT readers through the real Mosquitto to the real drivers: what they publish is what is read."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence

import pytest

from silentgw.drivers.base import Driver
from silentgw.drivers.mqtt.impinj_iot import ImpinjIotReader
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.drivers.observations import Handed, Rejected, TagRead
from silentgw.drivers.supervisor import Supervisor
from silentgw.simulator.mqtt_devices import MqttVoice, SimImpinjReader, SimZebraReader
from silentgw.simulator.player import SimDevice
from tests.integration.simulator.test_serial_devices import until

pytestmark = [pytest.mark.anyio, pytest.mark.mqtt]

T0 = dt.datetime(2026, 11, 24, 9, 0, 0, 123000, tzinfo=dt.UTC)
READS = [
    TagRead("3074257BF7194E4000001A85", "sim", 1, -52.0, T0),
    TagRead("30340242201D8840009EFDF4", "sim", 3, -61.0, T0 + dt.timedelta(milliseconds=250)),
]


@pytest.mark.parametrize("dialect", ["zebra-iotc", "impinj-iot"])
async def test_simulated_reads_arrive_as_published(dialect: str) -> None:
    topic = f"silentgw-test/{uuid.uuid4().hex}"
    driver: Driver
    sim: SimDevice
    if dialect == "zebra-iotc":
        zebra = ZebraIotcReader.Settings(data_topic=topic)
        driver, voice = ZebraIotcReader("reader-1", zebra), MqttVoice(zebra, name="zebra")
        sim = SimZebraReader(voice, data_topic=topic)
    else:
        impinj = ImpinjIotReader.Settings(event_topic=topic)
        driver, voice = ImpinjIotReader("reader-1", impinj), MqttVoice(impinj, name="impinj")
        sim = SimImpinjReader(voice, event_topic=topic, hostname="impinj-sim")
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    supervisor = Supervisor(driver, sink)
    task = asyncio.create_task(supervisor.run())
    voice.open()
    try:
        await until(lambda: supervisor.health.state == "up")
        for read in READS:
            sim.report(read)
        await until(lambda: sum(isinstance(o, TagRead) for o in received) == len(READS))
    finally:
        voice.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    reads = [o for o in received if isinstance(o, TagRead)]
    assert [(r.epc, r.reader, r.antenna, r.rssi, r.time) for r in reads] == [
        (r.epc, "reader-1", r.antenna, r.rssi, r.time) for r in READS
    ]
    assert not [o for o in received if isinstance(o, Rejected)]
