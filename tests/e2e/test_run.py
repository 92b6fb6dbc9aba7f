"""`silentgw run` as an operator meets it: a settings file naming one M100 reader, the process started, a product
added through the API, tags read on the reader's serial line, the items found in stock on the reader's shelf, and
their events on the live stream and on MQTT. SIGTERM stops it gracefully with what it read written; SIGKILL in the
middle of a burst loses no event and doubles no stock movement once it is started again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text

from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice
from tests.integration.ops.gateway_process import GTIN, free_port, settings_file, tag
from tests.mqtt_broker import broker_up

pytestmark = pytest.mark.anyio

PRODUCT = {"gtin": GTIN, "sku": "W-1", "name": "Widget", "price": "2.50", "currency": "EUR"}


class Events:
    """A QoS 1 MQTT subscriber to the site's events, keeping every event id it gets (duplicates included)."""

    def __init__(self, site: str) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"silentgw/{site}/events/#", qos=1)
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()

    def _message(self, c: paho.Client, u: object, m: paho.MQTTMessage) -> None:
        with self.lock:
            self.ids.append(orjson.loads(m.payload)["id"])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Run:
    """`silentgw run` in its own process, on a settings file in ``tmp_path``."""

    def __init__(self, tmp_path: Path, site: str) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.config = settings_file(tmp_path, self.port, site=site, events=True)
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.log = b""
        self.headers: dict[str, str] = {}

    async def start(self) -> None:
        if not self.headers:  # an operator's first step: an admin key (`silentgw keys create` prints it last)
            made = subprocess.run(
                [sys.executable, "-m", "silentgw", "--config", str(self.config), "keys", "create", "--role", "admin"],
                capture_output=True, text=True, check=True, cwd=self.tmp_path,
            )  # fmt: skip
            self.headers["Authorization"] = f"Bearer {made.stdout.strip().splitlines()[-1]}"
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "silentgw", "--config", str(self.config), "run",
            cwd=self.tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.proc.returncode is None, "silentgw run exited"
                await asyncio.sleep(0.1)
        raise AssertionError("silentgw run did not come up")

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        out, _ = await asyncio.wait_for(self.proc.communicate(), 30)
        self.log += out
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@asynccontextmanager
async def reader_line(tmp_path: Path) -> AsyncIterator[tuple[PtyDevice, asyncio.Event]]:
    """The reader's serial line, and an event set each time the driver starts the M100's multi-poll."""
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())
    try:
        yield reader, polled
    finally:
        reader.close()


def rows(tmp_path: Path, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(text(query))]
    engine.dispose()
    return found


async def read_stream(client: httpx.AsyncClient, want: int, got: list[dict[str, object]]) -> None:
    async with client.stream("GET", "/api/v1/events/stream", params={"type": "silentgw.item.*"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                got.append(orjson.loads(line[6:]))
                if len(got) >= want:
                    return


async def test_run_reads_a_reader_into_stock_serves_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    site = f"e2e-{uuid.uuid4().hex[:6]}"
    run = Run(tmp_path, site)
    mqtt = Events(site) if broker_up(1883) else None
    async with reader_line(tmp_path) as (reader, polled):
        try:
            await run.start()
            async with httpx.AsyncClient(base_url=run.base, timeout=5, headers=run.headers) as client:
                assert (await client.post("/api/v1/products", json=PRODUCT)).status_code == 201
                await asyncio.wait_for(polled.wait(), 10)
                live: list[dict[str, object]] = []
                streaming = asyncio.create_task(read_stream(client, 3, live))
                await asyncio.sleep(0.3)
                for _ in range(5):  # a shelf rule wants a couple of reads in its window
                    for n in (1, 2, 3):
                        reader.write(m100_notice(tag(n), -50.0))
                    await asyncio.sleep(0.3)
                await asyncio.wait_for(streaming, 10)
                health = (await client.get("/api/v1/devices/reader-1/health")).json()
                assert health["state"] == "up"
                assert health["frames_bad"] == 0
                assert health["observations"] == 15
                queried = (await client.get("/api/v1/events", params={"type": "silentgw.item.commissioned"})).json()
            assert await run.stop() == 0
        finally:
            await run.kill_if_running()
            if mqtt is not None:
                mqtt.close()
    assert "pipeline: 15 reads" in run.log.decode(), run.log.decode()
    items = rows(tmp_path, "SELECT key, state, zone_id FROM items ORDER BY key")
    assert items == [(f"(01){GTIN}(21){n}", "in_stock", "shelf-1a") for n in (1, 2, 3)]
    keys = {f"(01){GTIN}(21){n}" for n in (1, 2, 3)}
    assert {e["subject"] for e in live} == keys
    assert {e["type"] for e in live} == {"silentgw.item.commissioned"}
    assert {e["subject"] for e in queried["items"]} == keys
    stored = {r[0] for r in rows(tmp_path, "SELECT id FROM events")}
    if mqtt is not None:  # every event was published before the process stopped
        assert set(mqtt.ids) == stored


async def test_a_gateway_killed_mid_burst_loses_no_event_and_doubles_no_movement(tmp_path: Path) -> None:
    if not broker_up(1883):
        pytest.skip("no Mosquitto on 127.0.0.1:1883")
    site = f"e2e-{uuid.uuid4().hex[:6]}"
    run = Run(tmp_path, site)
    mqtt = Events(site)
    tags = 300
    async with reader_line(tmp_path) as (reader, polled):
        try:
            await run.start()
            async with httpx.AsyncClient(base_url=run.base, timeout=5, headers=run.headers) as client:
                assert (await client.post("/api/v1/products", json=PRODUCT)).status_code == 201
            await asyncio.wait_for(polled.wait(), 10)
            # A burst: every tag read six times. The gateway is killed in the third round, while the first half of
            # the tags (read three times, as a shelf wants) are arriving; three more rounds follow its restart.
            for round_ in range(6):
                for n in range(tags):
                    reader.write(m100_notice(tag(n), -50.0))
                    if round_ == 2 and n == tags // 2:
                        assert await run.stop(signal.SIGKILL) == -signal.SIGKILL
                        polled.clear()
                        await run.start()
                        await asyncio.wait_for(polled.wait(), 10)
                    if n % 50 == 0:
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.3)
            async with httpx.AsyncClient(base_url=run.base, timeout=5, headers=run.headers) as client:
                for _ in range(100):
                    page = (await client.get("/api/v1/events", params={"limit": 500})).json()
                    stored = {e["id"] for e in page["items"]}
                    if len(rows(tmp_path, "SELECT key FROM items")) == tags and stored <= set(mqtt.ids):
                        break
                    await asyncio.sleep(0.2)
            assert await run.stop() == 0
        finally:
            await run.kill_if_running()
            mqtt.close()
    movements = rows(tmp_path, "SELECT reason, count(*), count(DISTINCT item_id) FROM stock_movements GROUP BY reason")
    assert movements == [("commissioned", tags, tags)]  # each tag commissioned once: none lost, none doubled
    assert rows(tmp_path, "SELECT quantity FROM stock_levels") == [(tags,)]
    stored = {r[0] for r in rows(tmp_path, "SELECT id FROM events")}
    items = rows(tmp_path, "SELECT count(*) FROM events WHERE type = 'silentgw.item.commissioned'")
    assert items == [(tags,)]
    assert set(mqtt.ids) == stored  # every event arrived at least once, and nothing else did
    assert len(mqtt.ids) >= len(stored)
