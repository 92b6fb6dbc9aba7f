"""The composition root, ``build_gateway``, on each database: a rule's command reaches its device through the drivers
the root wired the rules to, and stopping writes every read a real reader (an M100 on a pseudo-terminal) handed in
while the gateway was stopping."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from silentgw.drivers.registry import Registry
from silentgw.gateway import events
from silentgw.gateway.app import build_gateway
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Item
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice
from tests.integration.ops.gateway_process import eventually, store_settings, tag
from tests.unit.gateway.test_app import CountingReader  # a fake that shows the text it is sent

pytestmark = pytest.mark.anyio

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


async def test_a_rules_command_reaches_its_device_through_the_drivers_the_root_wired(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    display = {"id": "display-1", "name": "Exit display", "kind": "display", "location": "aisle-1",
               "driver": {"kind": CountingReader.kind, "reads": 0}}  # fmt: skip
    warn = {"device": "display-1", "action": "display", "text": "Please pay at the till"}
    on_exit = {"on": "silentgw.alarm.unpaid_exit", "command": warn}
    settings = store_settings(tmp_path, engine, database_url, devices=[display], event_commands=[on_exit])

    async with build_gateway(settings, engine, registry=Registry({CountingReader.kind: CountingReader})) as gw:
        with engine.begin() as conn:
            outbox.append(conn, [events.unpaid_exit(tag(9), "shelf-1a", NOW)])
        gw.dispatcher.notify()
        shown = gw.gateway.drivers["display-1"].shown  # type: ignore[attr-defined]
        await eventually(lambda: bool(shown), "the display told what to show")

    assert shown == ["Please pay at the till"]


async def test_stopping_writes_every_read_the_reader_handed_in_while_it_stopped(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    settings = store_settings(tmp_path, engine, database_url)
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())
    stopped = asyncio.Event()

    async def shelf() -> None:
        """Each tag read three times (a shelf's arrival), one read every 5 ms, until the gateway has stopped."""
        n = 0
        while not stopped.is_set():
            reader.write(m100_notice(tag(n // 3), -50.0))
            n += 1
            await asyncio.sleep(0.005)

    try:
        async with build_gateway(settings, engine) as gw:
            await asyncio.wait_for(polled.wait(), 15)
            reading = asyncio.create_task(shelf())
            await eventually(lambda: gw.pipeline.counters.reads >= 60, "reads processed while running")
        handed, processed = gw.gateway.health("reader-1").observations, gw.pipeline.counters.reads
        stopped.set()
        await reading
    finally:
        reader.close()

    assert processed == handed  # nothing the drivers handed in was left behind
    assert not gw.pipeline.backlog
    with engine.connect() as conn:
        in_stock = conn.execute(select(func.count()).select_from(Item)).scalar_one()
    assert in_stock == processed // 3  # and what it decided is written: every tag read three times is in stock
