"""Each serial driver against a real pseudo-terminal: the exact bytes a device sends in, the exact commands out."""

from __future__ import annotations

import asyncio
import os

import pytest

from silentgw.drivers.base import DeviceUnavailable
from silentgw.drivers.commands import SetPower, StartReading, StopReading
from silentgw.drivers.observations import DeviceStatus, Rejected, SensorReading, TagRead
from silentgw.drivers.serial.em4100 import Em4100Reader, encode_frame
from silentgw.drivers.serial.sensor_lines import SensorLinesDevice
from silentgw.drivers.serial.uhf_m100 import UhfM100Reader
from tests.integration.drivers.serial.harness import Pty, Sink, running, up

pytestmark = pytest.mark.anyio

START = bytes.fromhex("BB 00 27 00 03 22 FF FF 4A 7E")  # multiple poll, 65535 rounds
START_10000 = bytes.fromhex("BB 00 27 00 03 22 27 10 83 7E")  # the manual's example
STOP = bytes.fromhex("BB 00 28 00 00 28 7E")
POWER_20 = bytes.fromhex("BB 00 B6 00 02 07 D0 8F 7E")
NOTICE = bytes.fromhex("BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E")
EPC = "30751FEB705C5904E3D50D70"


async def test_uhf_reader_starts_inventory_and_reads_tags(pty: Pty, sink: Sink) -> None:
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url=pty.path, polls=10000, power_dbm=20))
    async with running(reader.run(sink)):
        await up(sink, reader)
        assert await pty.read_until(POWER_20 + START_10000) == POWER_20 + START_10000
        # a notice split across writes, a "no tag" round, noise, a corrupted notice, then the notice again
        pty.write(NOTICE[:7])
        await asyncio.sleep(0.01)
        pty.write(NOTICE[7:] + bytes.fromhex("BB 01 FF 00 01 15 16 7E") + b"\x00\x00" + NOTICE[:-2] + b"\x00\x7e")
        pty.write(NOTICE)
        await sink.wait_for(lambda: len(sink.of(TagRead)) == 2, "two tag reads")
    reads = sink.of(TagRead)
    assert {(r.epc, r.reader, r.antenna, r.rssi, r.protocol) for r in reads} == {(EPC, "uhf-1", 1, -55.0, "epc")}
    reasons = [r.reason for r in sink.of(Rejected)]
    assert reasons[0] == "bytes outside any frame"
    assert reasons[1].startswith("bad checksum")
    assert len(reasons) == 2
    status = sink.of(DeviceStatus)[0]
    assert (status.device, status.state, status.detail) == ("uhf-1", "up", pty.path)
    assert status.time.tzinfo is not None


async def test_uhf_reader_takes_commands_and_stops_when_cancelled(pty: Pty, sink: Sink) -> None:
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url=pty.path))
    async with running(reader.run(sink)):
        await up(sink, reader)
        await pty.read_until(START)
        await reader.send(SetPower(20))
        await pty.read_until(START + POWER_20)
        await reader.send(StopReading())
        await pty.read_until(START + POWER_20 + STOP)
        await reader.send(StartReading())
        await pty.read_until(START + POWER_20 + STOP + START)
    # cancelled while reading: it told the module to stop polling before it let go of the port
    assert (await pty.read_until(START + POWER_20 + STOP + START + STOP)).endswith(STOP)


async def test_uhf_reader_reissues_inventory_so_it_never_runs_out(pty: Pty, sink: Sink) -> None:
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url=pty.path, reissue_every=0.05))
    async with running(reader.run(sink)):
        await pty.read_until(START * 3)


async def test_uhf_reader_with_inventory_off_sends_nothing(pty: Pty, sink: Sink) -> None:
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url=pty.path, inventory=False, reissue_every=0.02))
    async with running(reader.run(sink)):
        await up(sink, reader)
        await asyncio.sleep(0.1)  # five re-issue periods
    with pytest.raises(BlockingIOError):  # not started, so neither re-issued nor stopped
        os.read(pty.master, 100)


async def test_uhf_reader_over_loop_url_sets_aside_its_own_echoed_command(sink: Sink) -> None:
    # loop:// hands back what is written: the driver reads its own start command, a frame no module sends
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url="loop://"))
    async with running(reader.run(sink)):
        await sink.wait_for(lambda: bool(sink.of(Rejected)), "the echo set aside")
    echo = sink.of(Rejected)[0]
    assert echo.raw == START
    assert "command frame (0x27)" in echo.reason


async def test_em4100_reader_reports_one_read_per_card_presented(pty: Pty, sink: Sink) -> None:
    reader = Em4100Reader("door-1", Em4100Reader.Settings(url=pty.path, hold_off=60))
    card = bytes.fromhex("02 36 32 45 33 30 38 36 43 45 44 30 38 03")
    async with running(reader.run(sink)):
        await up(sink, reader)
        pty.write(card[:5])
        await asyncio.sleep(0.01)
        pty.write(card[5:] + card * 5 + b"\x02123" + encode_frame("010063E9AE"))
        await sink.wait_for(lambda: len(sink.of(TagRead)) == 2 and bool(sink.of(Rejected)), "two cards and a reject")
    assert [(r.epc, r.antenna, r.rssi, r.protocol) for r in sink.of(TagRead)] == [
        ("62E3086CED", 1, None, "em4100"),
        ("010063E9AE", 1, None, "em4100"),
    ]
    assert sink.of(Rejected)[0].raw == b"\x02123"


async def test_sensor_lines_device_reads_lines(pty: Pty, sink: Sink) -> None:
    device = SensorLinesDevice("fridge-1", SensorLinesDevice.Settings(url=pty.path, baudrate=115200))
    async with running(device.run(sink)):
        await up(sink, device)
        pty.write(b"temp=4.2 hum=6")
        await asyncio.sleep(0.01)
        pty.write(b"1.0\r\ngarbage\r\nt=3.9,h=60\n")
        await sink.wait_for(lambda: len(sink.of(SensorReading)) == 4, "four readings")
    assert [(r.quantity, r.value, r.unit) for r in sink.of(SensorReading)] == [
        ("temperature", 4.2, "°C"),
        ("humidity", 61.0, "%"),
        ("temperature", 3.9, "°C"),
        ("humidity", 60.0, "%"),
    ]
    assert [r.raw for r in sink.of(Rejected)] == [b"garbage"]


async def test_json_sensor_lines(pty: Pty, sink: Sink) -> None:
    device = SensorLinesDevice("fridge-1", SensorLinesDevice.Settings(url=pty.path, format="json"))
    async with running(device.run(sink)):
        await up(sink, device)
        pty.write(b'{"temperature": 4.2, "unit": "C"}\r\n{"door": "open"}\n')
        await sink.wait_for(lambda: len(sink.of(SensorReading)) == 2, "two readings")
    assert [(r.quantity, r.value, r.unit) for r in sink.of(SensorReading)] == [
        ("temperature", 4.2, "°C"),
        ("door", 1.0, ""),
    ]


@pytest.mark.parametrize("driver_class", [UhfM100Reader, Em4100Reader, SensorLinesDevice])
async def test_unplugging_ends_run_with_device_unavailable(pty: Pty, sink: Sink, driver_class) -> None:
    driver = driver_class("dev-1", driver_class.Settings(url=pty.path))
    task = asyncio.create_task(driver.run(sink))
    await up(sink, driver)
    pty.close()
    with pytest.raises(DeviceUnavailable):
        await asyncio.wait_for(task, 5)
