"""The serial port through real ptys and ``loop://``: reads off the loop, writes, errors as DeviceUnavailable."""

from __future__ import annotations

import asyncio

import pytest

from silentgw.drivers.base import DeviceUnavailable
from silentgw.drivers.serial.port import SerialPort, SerialSettings
from tests.integration.drivers.serial.harness import DEADLINE, Pty

pytestmark = pytest.mark.anyio


async def read_until(port: SerialPort, size: int) -> bytes:
    data = b""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while len(data) < size and asyncio.get_running_loop().time() < deadline:
        data += await port.read()
    return data


async def test_loop_url_reads_back_what_is_written() -> None:
    async with SerialPort(SerialSettings(url="loop://", baudrate=115200)) as port:
        assert port.is_open
        await port.write(b"\xbb\x00\x22\x00\x00\x22\x7e")
        assert await read_until(port, 7) == b"\xbb\x00\x22\x00\x00\x22\x7e"
        assert await port.read() == b""  # nothing more: the read times out empty rather than blocking
    assert not port.is_open


async def test_a_pty_reads_and_writes_raw_bytes(pty: Pty) -> None:
    async with SerialPort(SerialSettings(url=pty.path, baudrate=115200)) as port:
        pty.write(b"\x02\x11\x13\r\n\x03")  # XON/XOFF and CR LF pass through untouched: the port is raw
        assert await read_until(port, 6) == b"\x02\x11\x13\r\n\x03"
        await port.write(b"\x00\x0a\x0d\x7e")
        assert await pty.read_until(b"\x00\x0a\x0d\x7e") == b"\x00\x0a\x0d\x7e"


async def test_a_port_that_does_not_exist_is_unavailable(tmp_path) -> None:
    with pytest.raises(DeviceUnavailable, match="ttyNOPE") as caught:
        async with SerialPort(SerialSettings(url=str(tmp_path / "ttyNOPE"))):
            pass
    assert caught.value.__cause__ is not None  # the pyserial error is kept as the cause


async def test_unplugging_the_device_makes_the_read_fail(pty: Pty) -> None:
    async with SerialPort(SerialSettings(url=pty.path)) as port:
        pty.close()
        with pytest.raises(DeviceUnavailable, match=pty.path):
            await read_until(port, 1)


async def test_writing_to_a_closed_port_is_unavailable() -> None:
    port = SerialPort(SerialSettings(url="loop://"))
    with pytest.raises(DeviceUnavailable, match="not open"):
        await port.write(b"x")


async def test_cancelling_a_read_lets_go_of_the_port_promptly(pty: Pty) -> None:
    port = SerialPort(SerialSettings(url=pty.path, read_timeout=2.0))

    async def reader() -> None:
        async with port:
            while True:
                await port.read()

    task = asyncio.create_task(reader())
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not port.is_open and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)  # let the read start blocking in its thread
    started = asyncio.get_running_loop().time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not port.is_open
    assert asyncio.get_running_loop().time() - started < 1.0  # cancel_read woke it: no waiting out the 2 s timeout


async def test_a_port_is_not_reentrant() -> None:
    async with SerialPort(SerialSettings(url="loop://")) as port:
        with pytest.raises(RuntimeError, match="already open"):
            await port.__aenter__()
