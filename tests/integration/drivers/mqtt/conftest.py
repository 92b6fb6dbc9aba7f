"""Fixtures for the MQTT drivers against a real Mosquitto: unique topics, a publisher, a private broker to kill."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from silentgw.drivers.base import Driver
from silentgw.drivers.observations import Handed
from silentgw.drivers.supervisor import Backoff, Supervisor
from tests.mqtt_broker import HOST, MOSQUITTO, PrivateBroker, broker_up

PORT = 1883


@pytest.fixture(autouse=True)
def _needs_the_broker() -> None:
    if not broker_up(PORT):
        pytest.skip("no Mosquitto on 127.0.0.1:1883")


@pytest.fixture
def topic() -> str:
    """A topic prefix no other test uses."""
    return f"silentgw-test/{uuid.uuid4().hex[:12]}"


class Publisher:
    """A paho client for the test's side of the broker: publishes at QoS 1 and waits, collects what it subscribes."""

    def __init__(self, port: int = PORT, *, username: str | None = None, password: str | None = None) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, bytes(m.payload)))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.connect(HOST, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish and wait for the broker's PUBACK."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def subscribe(self, topic: str) -> None:
        """Subscribe and wait for the SUBACK (by a round trip through the broker)."""
        done = []
        self.client.on_subscribe = lambda *a: done.append(1)
        self.client.subscribe(topic, qos=1)
        deadline = time.monotonic() + 5
        while not done and time.monotonic() < deadline:
            time.sleep(0.005)
        assert done, "no SUBACK"

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    """A connected publisher on the shared broker."""
    pub = Publisher()
    yield pub
    pub.close()


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it holds, failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def states(received: Sequence[Handed]) -> list[str]:
    """The device states reported, in order."""
    return [o.state for o in received if type(o).__name__ == "DeviceStatus"]  # type: ignore[union-attr]


@contextlib.asynccontextmanager
async def supervised(driver: Driver) -> AsyncIterator[list[Handed]]:
    """Run ``driver`` under a real Supervisor with a quick backoff; yield what it emits, once it is up."""
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    supervisor = Supervisor(driver, sink, backoff=Backoff(initial=0.05, cap=0.2))
    task = asyncio.create_task(supervisor.run())
    try:
        await until(lambda: "up" in states(received), "the driver to come up")
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A started private broker, killed at the end."""
    if not shutil.which(MOSQUITTO):
        pytest.skip("no mosquitto binary")
    broker = PrivateBroker(tmp_path)
    broker.start()
    yield broker
    broker.kill()
