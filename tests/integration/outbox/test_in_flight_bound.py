"""paho-mqtt gives up once 65,535 QoS 1 messages wait in it unacknowledged: measured here against a broker that
accepts the connection and never acknowledges. The MQTT sink therefore hands paho at most ``in_flight`` messages."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from silentgw.gateway import events
from silentgw.gateway.config import MqttSettings
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.outbox import SinkError
from silentgw.gateway.publisher import MqttSink

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


class SilentBroker:
    """Accepts one MQTT 3.1.1 connection, says CONNACK, then counts the PUBLISH packets and never acknowledges."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port: int = self.server.getsockname()[1]
        self.publishes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        buffer = b""
        connected = False
        while data := conn.recv(1 << 16):
            buffer += data
            while True:
                packet = _packet(buffer)
                if packet is None:
                    break
                kind, size = packet
                buffer = buffer[size:]
                if kind == 1 and not connected:  # CONNECT
                    conn.sendall(b"\x20\x02\x00\x00")
                    connected = True
                elif kind == 3:
                    self.publishes += 1
        conn.close()

    def close(self) -> None:
        self.server.close()


def _packet(buffer: bytes) -> tuple[int, int] | None:
    """(packet type, whole length) of the first complete MQTT packet in ``buffer``, or None."""
    length, shift, i = 0, 0, 1
    while True:
        if i >= len(buffer):
            return None
        byte = buffer[i]
        length |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if not byte & 0x80:
            break
    if len(buffer) < i + length:
        return None
    return buffer[0] >> 4, i + length


@pytest.fixture
def silent() -> Iterator[SilentBroker]:
    broker = SilentBroker()
    yield broker
    broker.close()


@pytest.mark.slow
def test_paho_refuses_every_publish_past_65535_unacknowledged(silent: SilentBroker) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.max_inflight_messages_set(0)  # as many in flight as paho allows
    client.connect("127.0.0.1", silent.port)
    client.loop_start()
    try:
        codes = [client.publish("t", b"x", qos=1).rc for _ in range(65_600)]
        assert codes[:65_535] == [MQTTErrorCode.MQTT_ERR_SUCCESS] * 65_535
        assert set(codes[65_535:]) == {MQTTErrorCode.MQTT_ERR_QUEUE_SIZE}
        deadline = time.monotonic() + 10
        while silent.publishes < 65_535 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert silent.publishes == 65_535  # what was refused never went out
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.anyio
async def test_the_sink_never_hands_paho_more_than_in_flight(silent: SilentBroker) -> None:
    settings = MqttSettings(host="127.0.0.1", port=silent.port, protocol="3.1.1", in_flight=100)
    sink = MqttSink(settings, "s1", source="urn:silentgw:s1", ack_timeout=1.0)
    batch = [
        StoredEvent(n, e.id, e.type, e.subject, e.time, e.data)
        for n, e in enumerate((events.unpaid_exit(f"E{i}", "exit", T0) for i in range(500)), start=1)
    ]
    with pytest.raises(SinkError, match="no acknowledgement in time"):
        await sink.deliver(batch)
    assert silent.publishes == 100 + 1  # the window, and the retained "online" status
    await sink.close()
