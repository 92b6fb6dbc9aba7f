"""The simulator's serial devices against the real drivers, over real pseudo-terminals: the drivers cannot tell."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from silentgw.drivers.base import Driver
from silentgw.drivers.observations import Handed, Rejected, SensorReading, TagRead
from silentgw.drivers.serial.em4100 import Em4100Reader, Em4100Settings
from silentgw.drivers.serial.sensor_lines import SensorLinesDevice, SensorLinesSettings
from silentgw.drivers.serial.uhf_m100 import UhfM100Reader, UhfM100Settings
from silentgw.drivers.supervisor import Backoff, Supervisor
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import SimEm4100, SimM100, SimSensorLines, m100_notice

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
EPC = "3074257BF7194E4000001A85"


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_the_notice_is_the_manuals_example() -> None:
    # M100 manual example notice: RSSI 0xC9 (-55 dBm), PC 3400 (6 words, UMI set), EPC 30751FEB705C5904E3D50D70,
    # CRC 3A76.
    frame = m100_notice("30751FEB705C5904E3D50D70", -55, user_memory=True)
    assert frame.hex(" ").upper() == "BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E"


async def test_a_simulated_m100_reports_only_once_the_driver_starts_polling(tmp_path: Path) -> None:
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    sim = SimM100(PtyDevice(tmp_path / "reader"))
    sim.open()
    try:
        sim.report(TagRead(EPC, "x", 1, -50.0, T0))  # before the driver polls: the module stays quiet
        driver = UhfM100Reader("reader-1", UhfM100Settings(url=str(tmp_path / "reader"), baudrate=115200, power_dbm=20))
        task = asyncio.create_task(Supervisor(driver, sink, backoff=Backoff(initial=0.05, cap=0.2)).run())
        await until(lambda: sim.polling)
        assert sim.power_centi_dbm == 2000
        sim.report(TagRead(EPC, "x", 1, -47.0, T0))
        await until(lambda: any(isinstance(o, TagRead) for o in received))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        sim.port.close()
    reads = [o for o in received if isinstance(o, TagRead)]
    assert [(r.epc, r.rssi, r.reader) for r in reads] == [(EPC, -47.0, "reader-1")]
    assert not [o for o in received if isinstance(o, Rejected)]


async def test_a_simulated_card_reader_and_sensor_reach_their_drivers(tmp_path: Path) -> None:
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    card, board = SimEm4100(PtyDevice(tmp_path / "card")), SimSensorLines(PtyDevice(tmp_path / "fridge"))
    card.open()
    board.open()
    try:
        drivers: list[Driver] = [
            Em4100Reader("card-1", Em4100Settings(url=str(tmp_path / "card"))),
            SensorLinesDevice("fridge-1", SensorLinesSettings(url=str(tmp_path / "fridge"))),
        ]
        tasks = [asyncio.create_task(Supervisor(d, sink).run()) for d in drivers]
        await until(lambda: sum(1 for o in received if getattr(o, "state", "") == "up") == 2)
        for _ in range(4):  # a card held on the reader repeats its id
            card.report(TagRead("0A00B1C2D3", "x", 1, None, T0, protocol="em4100"))
        board.report(SensorReading("x", "temperature", 4.25, "°C", T0))
        await until(lambda: any(isinstance(o, SensorReading) for o in received))
        await until(lambda: any(isinstance(o, TagRead) for o in received))
        await asyncio.sleep(0.1)  # the repeats have arrived by now
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        card.port.close()
        board.port.close()
    cards = [o for o in received if isinstance(o, TagRead)]
    assert [(c.epc, c.protocol) for c in cards] == [("0A00B1C2D3", "em4100")]  # one presentation
    (reading,) = [o for o in received if isinstance(o, SensorReading)]
    assert (reading.sensor, reading.quantity, reading.value, reading.unit) == ("fridge-1", "temperature", 4.25, "°C")
