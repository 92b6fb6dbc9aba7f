"""`silentgw simulate load` through the real Mosquitto: the reads it says it published are the reads that arrive."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from silentgw.cli import app

pytestmark = pytest.mark.mqtt


@pytest.mark.parametrize("batch", [False, True])
def test_load_publishes_the_promised_reads(batch: bool) -> None:
    prefix = f"silentgw-test/{uuid.uuid4().hex}"
    events: list[dict[str, Any]] = []
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(f"{prefix}/+/data", qos=0)
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        body = orjson.loads(message.payload)
        events.extend(body if isinstance(body, list) else [body])

    client.on_message = on_message
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        args = ["simulate", "load", "--rate", "2000", "--tags", "30", "--readers", "3", "--seconds", "0.5",
                "--prefix", prefix, "--batch" if batch else "--no-batch"]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "published 1,000 reads" in result.output
        deadline = time.monotonic() + 5
        while len(events) < 1000 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.loop_stop()
    assert len(events) == 1000
    assert len({e["data"]["idHex"] for e in events}) <= 30
