"""Each dialect end to end: payloads published through Mosquitto come out of the driver, under a real Supervisor."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal

import orjson
import pytest

from silentgw.drivers.commands import DisplayText, StartReading, Unlock
from silentgw.drivers.mqtt.generic_json import GenericJsonDevice
from silentgw.drivers.mqtt.impinj_iot import ImpinjIotReader
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.drivers.observations import DeviceStatus, Handed, Rejected, SensorReading, TagRead
from tests.integration.drivers.mqtt.conftest import Publisher, states, supervised, until
from tests.mqtt_broker import PrivateBroker
from tests.unit.drivers.mqtt.test_impinj_iot import EPC, LAST_SEEN, TAG, TAG_HEX
from tests.unit.drivers.mqtt.test_zebra_iotc import EVENT, EVENT_2, HEARTBEAT, T1, T2

pytestmark = [pytest.mark.mqtt, pytest.mark.anyio]

PROTOCOLS = pytest.mark.parametrize("protocol", ["5", "3.1.1"])


def reads(received: Sequence[object]) -> list[TagRead]:
    return [o for o in received if isinstance(o, TagRead)]


@PROTOCOLS
async def test_zebra_tag_events_and_heartbeats(protocol: str, topic: str, publisher: Publisher) -> None:
    settings = ZebraIotcReader.Settings(
        protocol=protocol,
        data_topic=f"{topic}/data",
        events_topic=f"{topic}/mevents",
    )
    async with supervised(ZebraIotcReader("fx9600-1", settings)) as received:
        publisher.publish(f"{topic}/data", EVENT + EVENT_2)  # glued, no delimiter
        publisher.publish(f"{topic}/data", b"[" + EVENT_2 + b"]")
        publisher.publish(f"{topic}/mevents", HEARTBEAT)
        await until(lambda: len(reads(received)) == 3 and "heartbeat" in states(received), "3 reads and a heartbeat")
    assert [(r.epc, r.antenna, r.rssi, r.time) for r in reads(received)] == [
        ("E2000020880F0219154015C1", 1, -48, T1),
        ("3074257BF7194E4000001A85", 3, -61, T2),
        ("3074257BF7194E4000001A85", 3, -61, T2),
    ]


async def test_zebra_start_reading_is_a_control_command(topic: str, publisher: Publisher) -> None:
    publisher.subscribe(f"{topic}/control")
    reader = ZebraIotcReader("fx9600-1", ZebraIotcReader.Settings(data_topic=f"{topic}/data",
                             control_topic=f"{topic}/control", control_response_topic=f"{topic}/cresp"))  # fmt: skip
    async with supervised(reader) as received:
        await reader.send(StartReading())
        await until(lambda: bool(publisher.received), "the command on the control topic")
        [(where, payload)] = publisher.received
        command = orjson.loads(payload)
        assert where == f"{topic}/control"
        assert command == {"command": "start", "command_id": command["command_id"], "payload": {}}
        answer = {**command, "response": "success"}
        publisher.publish(f"{topic}/cresp", orjson.dumps(answer))
        await until(lambda: any("succeeded" in getattr(o, "detail", "") for o in received), "the response")


@PROTOCOLS
async def test_impinj_event_lines(protocol: str, topic: str, publisher: Publisher) -> None:
    settings = ImpinjIotReader.Settings(protocol=protocol, event_topic=f"{topic}/events")
    antenna = b'{"timestamp":"2021-07-09T23:36:00Z","antennaDisconnectedEvent":{"antennaPort":2}}'
    async with supervised(ImpinjIotReader("r700-1", settings)) as received:
        publisher.publish(f"{topic}/events", TAG + b"\n" + TAG_HEX + b"\n" + antenna + b"\n")
        await until(lambda: len(reads(received)) == 2 and len(states(received)) == 2, "2 reads and the antenna")
    assert [(r.epc, r.rssi) for r in reads(received)] == [(EPC, -26.5), (EPC, -26.5)]
    assert reads(received)[0].time == LAST_SEEN
    assert any(isinstance(o, DeviceStatus) and o.detail == "antenna 2 disconnected" for o in received)


@PROTOCOLS
async def test_generic_json_readings_and_commands(protocol: str, topic: str, publisher: Publisher) -> None:
    publisher.subscribe(f"{topic}/cmd/#")
    settings = GenericJsonDevice.Settings.model_validate(
        {"protocol": protocol, "topics": [f"{topic}/state/+"], "command_topic": f"{topic}/cmd/{{device}}",
         "fields": {"kind": "sensor", "fixed_quantity": "temperature", "value": "t", "fixed_unit": "Cel",
                    "time": "ts", "time_format": "epoch_ms"}}
    )  # fmt: skip
    device = GenericJsonDevice("fridge-3", settings)
    async with supervised(device) as received:
        publisher.publish(f"{topic}/state/fridge-3", b'[{"t":4.5,"ts":1795510798500},{"t":"4.75"}]')
        await until(lambda: sum(type(o).__name__ == "SensorReading" for o in received) == 2, "2 readings")
        await device.send(DisplayText("Milk 1 l", Decimal("1.29"), "EUR"))
        await device.send(Unlock(5))
        await until(lambda: len(publisher.received) == 2, "2 commands")
    assert [(t, orjson.loads(p)) for t, p in publisher.received] == [
        (f"{topic}/cmd/fridge-3", {"command": "display", "text": "Milk 1 l", "price": "1.29", "currency": "EUR"}),
        (f"{topic}/cmd/fridge-3", {"command": "unlock", "seconds": 5}),
    ]
    readings = [o for o in received if isinstance(o, SensorReading)]
    assert [r.value for r in readings] == [4.5, 4.75]
    assert readings[0].time == dt.datetime(2026, 11, 24, 8, 59, 58, 500000, tzinfo=dt.UTC)


async def test_a_full_buffer_drops_new_messages_and_says_how_many(topic: str, publisher: Publisher) -> None:
    device = GenericJsonDevice("d", GenericJsonDevice.Settings(topics=[f"{topic}/t"], max_buffered=5))
    received: list[Handed] = []
    gate = asyncio.Event()

    async def emit(batch: Sequence[Handed]) -> None:
        received.extend(batch)
        if any(isinstance(o, TagRead) for o in batch):
            await gate.wait()  # the core is slow: the driver sits in its first emit while the broker delivers

    def dropped() -> int:
        found = (re.match(r"(\d+) messages dropped", o.reason) for o in received if isinstance(o, Rejected))
        return sum(int(m.group(1)) for m in found if m)

    total = 60
    task = asyncio.create_task(device.run(emit))
    try:
        await until(lambda: "up" in states(received), "the driver to come up")
        for i in range(total):
            publisher.publish(f"{topic}/t", b'{"epc":"%04X","antenna":1}' % i)
        await until(lambda: device.connection is not None and device.connection.dropped > 0, "a drop")
        gate.set()
        await until(lambda: len(reads(received)) + dropped() == total, "every message read or counted as dropped")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert dropped() > 0
    kept = [int(r.epc, 16) for r in reads(received)]
    assert kept == sorted(kept)  # what is kept keeps its order: the newest are the ones dropped


async def test_the_driver_comes_back_by_itself_after_a_broker_restart(
    private_broker: PrivateBroker, topic: str
) -> None:
    settings = ZebraIotcReader.Settings(port=private_broker.port, data_topic=f"{topic}/data", keepalive=5)
    async with supervised(ZebraIotcReader("fx9600-1", settings)) as received:
        private_broker.kill()
        await until(lambda: states(received)[-1:] == ["down"], "the device reported down")
        private_broker.start()
        await until(lambda: states(received).count("up") == 2, "the device back up")
        publisher = Publisher(private_broker.port)
        try:
            publisher.publish(f"{topic}/data", EVENT)  # only a resubscribed driver sees this
            await until(lambda: len(reads(received)) == 1, "a read after the restart")
        finally:
            publisher.close()
    assert states(received)[:3] == ["up", "down", "up"]
    down = next(o for o in received if isinstance(o, DeviceStatus) and o.state == "down")
    assert "lost the MQTT broker" in down.detail
