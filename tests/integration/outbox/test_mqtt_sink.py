"""Events out over MQTT through the real Mosquitto: every event as a CloudEvent at QoS 1, retained state, the status
topic with its last will, and a broker stopped in the middle of a burst and started again: nothing lost; a broker
gone silent is dropped without the event loop waiting for paho."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from silentgw.gateway import events
from silentgw.gateway.config import MqttSettings
from silentgw.gateway.events import Event, StoredEvent
from silentgw.gateway.outbox import Dispatcher, SinkError
from silentgw.gateway.publisher import MqttSink
from silentgw.gateway.store import outbox
from tests.mqtt_broker import HOST, PrivateBroker, broker_up

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


class Subscriber:
    """A persistent-session QoS 1 subscriber that reconnects on its own and keeps every message it gets."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv311,
            clean_session=False,
        )  # fmt: skip
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._message
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(HOST, port)
        self.client.loop_start()

    def _message(self, c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((m.topic, bytes(m.payload), bool(m.retain)))

    def ids(self) -> list[str]:
        with self.lock:
            return [orjson.loads(p)["id"] for t, p, _ in self.messages if "/events/" in t]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def site() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def stock(n: int, start: int = 0) -> list[Event]:
    """Stock level events of ``n - start`` product/location pairs (one state topic each)."""
    return [
        events.stock_changed(f"m{i}", gtin=f"0061414100{i:04d}", location="aisle-1", quantity=i, time=T0)
        for i in range(start, n)
    ]


async def until(check: object, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not (callable(check) and check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def dispatching(engine: Engine, site: str) -> AsyncIterator[tuple[Dispatcher, MqttSink]]:
    sink = MqttSink(MqttSettings(host=HOST, port=1883), site, source=f"urn:silentgw:{site}")
    dispatcher = Dispatcher(engine, [sink], poll=0.05, backoff_cap=0.2)
    runner = asyncio.create_task(dispatcher.run())
    yield dispatcher, sink
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    await sink.close()


@pytest.fixture
def subscriber(site: str) -> Iterator[Subscriber]:
    if not broker_up(1883):
        pytest.skip("no Mosquitto on 127.0.0.1:1883")
    sub = Subscriber(1883, f"silentgw/{site}/#")
    time.sleep(0.2)
    yield sub
    sub.close()


async def test_every_event_arrives_as_a_cloudevent_with_retained_state_and_status(
    engine: Engine, site: str, subscriber: Subscriber, dispatching: tuple[Dispatcher, MqttSink]
) -> None:
    dispatcher, sink = dispatching
    down = events.device_status("reader-1", "down", T0, "port lost")
    with engine.begin() as conn:
        outbox.append(conn, [*stock(20), down])
    dispatcher.notify()
    written = [e.id for e in [*stock(20), down]]
    await until(lambda: subscriber.ids() == written, "every event in order")
    body = orjson.loads(next(p for t, p, _ in subscriber.messages if t.endswith("silentgw.device.down")))
    assert body["specversion"] == "1.0"
    assert body["type"] == "silentgw.device.down"
    assert body["subject"] == "reader-1"
    assert body["source"] == f"urn:silentgw:{site}"
    assert body["time"] == "2026-11-24T09:00:00.000Z"
    assert body["data"]["detail"] == "port lost"

    # A subscriber that comes later gets the current state (retained) and the status at once.
    late = Subscriber(1883, f"silentgw/{site}/state/#")
    status = Subscriber(1883, f"silentgw/{site}/status")
    try:
        await until(lambda: len(late.messages) == 21 and status.messages, "the retained state")
        assert all(retained for _, _, retained in late.messages)
        levels = {t: orjson.loads(p)["quantity"] for t, p, _ in late.messages if "/stock/" in t}
        assert levels[f"silentgw/{site}/state/stock/00614141000007/aisle-1"] == 7
        assert orjson.loads(status.messages[-1][1])["state"] == "online"
        await sink.close()  # a clean stop says offline
        await until(lambda: orjson.loads(status.messages[-1][1])["state"] == "offline", "offline")
    finally:
        late.close()
        status.close()


@pytest.mark.mqtt
async def test_a_broker_stopped_mid_burst_and_started_again_loses_no_event(engine: Engine, tmp_path: Path) -> None:
    broker = PrivateBroker(tmp_path, persistence=True)
    broker.start()
    site = "burst"
    subscriber = Subscriber(broker.port, f"silentgw/{site}/events/#")
    sink = MqttSink(MqttSettings(host=HOST, port=broker.port, in_flight=200), site, source="urn:silentgw:burst")
    dispatcher = Dispatcher(engine, [sink], batch=200, poll=0.05, backoff_cap=0.2)
    runner = asyncio.create_task(dispatcher.run())
    written: list[str] = []
    try:
        await asyncio.sleep(0.2)
        for n in range(40):  # 40 commits of 50 events, the broker stopped after the 15th and back after the 25th
            burst = [events.unpaid_exit(f"EPC{n:03d}{i:03d}", "exit", T0 + dt.timedelta(seconds=n)) for i in range(50)]
            with engine.begin() as conn:
                outbox.append(conn, burst)
            written += [e.id for e in burst]
            dispatcher.notify()
            if n == 15:
                broker.stop()
            if n == 25:
                broker.start()
            await asyncio.sleep(0.02)
        await until(lambda: set(subscriber.ids()) >= set(written), "every event after the outage", 60)
        assert dispatcher.health["mqtt"].failures > 0  # the outage was felt
        got = subscriber.ids()
        assert len(set(got)) == len(written) == 2000  # de-duplicated: exactly the events written
        assert [i for i in dict.fromkeys(got)] == written  # first arrivals in order
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await sink.close()
        subscriber.close()
        broker.kill()


async def test_the_loop_goes_on_while_the_sink_drops_a_broker_that_is_gone(tmp_path: Path) -> None:
    # Gone without a word, as a broker whose host lost power or whose cable was pulled: nothing answers, nothing
    # resets the connection (SIGSTOP: a killed process would have its kernel reset it at once). paho then holds a
    # burst it cannot write, the goodbye waits behind it, and its thread ends only when the keep-alive runs out.
    broker = PrivateBroker(tmp_path)
    broker.start()
    sink = MqttSink(MqttSettings(host=HOST, port=broker.port), "gone", source="urn:silentgw:gone", ack_timeout=0.5)
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(tick())
    try:
        burst = [StoredEvent(i, f"e{i}", "silentgw.alarm.test", "s", T0, {"pad": "x" * 30_000}) for i in range(400)]
        await sink.deliver(burst[:1])
        assert broker.process is not None
        broker.process.send_signal(signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(SinkError, match="no acknowledgement"):
            await sink.deliver(burst)  # 12 MB: more than the sockets hold
        failed_after = time.monotonic() - started
        await asyncio.sleep(0.1)
    finally:
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        if broker.process is not None:
            broker.process.send_signal(signal.SIGCONT)
        broker.kill()
        await sink.close()
    longest = max(b - a for a, b in itertools.pairwise(ticks))
    assert longest < 0.5, f"the event loop stood still for {longest:.1f} s"
    assert failed_after < 5  # the batch fails at the acknowledgement timeout, not at paho's keep-alive
