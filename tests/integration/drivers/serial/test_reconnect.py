"""A reader unplugged and plugged back in: under a real Supervisor it goes down, comes back by itself, and reads on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from silentgw.drivers.observations import DeviceStatus, TagRead
from silentgw.drivers.serial.em4100 import Em4100Reader
from silentgw.drivers.serial.em4100 import encode_frame as em4100_frame
from silentgw.drivers.serial.uhf_m100 import UhfM100Reader, crc16, encode_frame
from silentgw.drivers.supervisor import Backoff, Supervisor
from tests.integration.drivers.serial.harness import Pty, Sink, running

pytestmark = pytest.mark.anyio

START = bytes.fromhex("BB 00 27 00 03 22 FF FF 4A 7E")


def notice(epc: str) -> bytes:
    body = ((len(epc) // 4) << 11).to_bytes(2, "big") + bytes.fromhex(epc)
    return encode_frame(0x02, 0x22, b"\xc4" + body + crc16(body).to_bytes(2, "big"))


def point(link: Path, pty: Pty) -> None:
    """Make ``link`` lead to ``pty`` in one step, as udev re-creates /dev/serial/by-id/... on a replug."""
    fresh = link.with_suffix(".new")
    fresh.symlink_to(pty.path)
    fresh.replace(link)


async def test_the_uhf_reader_comes_back_after_the_port_vanishes(tmp_path: Path, sink: Sink) -> None:
    link = tmp_path / "ttyRFID"
    first, second = Pty(), None
    point(link, first)
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url=str(link)))
    supervisor = Supervisor(reader, sink, backoff=Backoff(initial=0.01, cap=0.05))
    try:
        async with running(supervisor.run()):
            await sink.wait_for(lambda: sink.states() == ["up"], "up")
            await first.read_until(START)
            first.write(notice("E2801160600002054C1A3B4F"))
            await sink.wait_for(lambda: len(sink.of(TagRead)) == 1, "the first read")

            first.close()  # unplugged: the read fails with EIO
            await sink.wait_for(lambda: sink.states() == ["up", "down"], "down")
            assert supervisor.health.state == "down"

            second = Pty()  # plugged back in, under another pts number (or the same one, reused)
            point(link, second)
            await sink.wait_for(lambda: sink.states() == ["up", "down", "up"], "up again")
            await second.read_until(START)  # inventory started again on the new port, unasked
            second.write(notice("300833B2DDD9014000000001"))
            await sink.wait_for(lambda: len(sink.of(TagRead)) == 2, "a read after the reconnect")
    finally:
        first.close()
        if second is not None:
            second.close()
    assert [r.epc for r in sink.of(TagRead)] == ["E2801160600002054C1A3B4F", "300833B2DDD9014000000001"]
    assert supervisor.health.reconnects >= 1
    assert supervisor.health.frames_ok == 2
    down = next(s for s in sink.of(DeviceStatus) if s.state == "down")
    assert str(link) in down.detail


async def test_the_em4100_reader_comes_back_too(tmp_path: Path, sink: Sink) -> None:
    link = tmp_path / "ttyCARD"
    ptys = [Pty()]
    point(link, ptys[0])
    reader = Em4100Reader("door-1", Em4100Reader.Settings(url=str(link)))
    supervisor = Supervisor(reader, sink, backoff=Backoff(initial=0.01, cap=0.05))
    try:
        async with running(supervisor.run()):
            await sink.wait_for(lambda: sink.states() == ["up"], "up")
            ptys[0].close()
            await sink.wait_for(lambda: sink.states() == ["up", "down"], "down")
            ptys.append(Pty())
            point(link, ptys[1])
            await sink.wait_for(lambda: sink.states() == ["up", "down", "up"], "up again")
            ptys[1].write(em4100_frame("62E3086CED"))
            await sink.wait_for(lambda: len(sink.of(TagRead)) == 1, "a card")
    finally:
        for p in ptys:
            p.close()
    assert os.path.islink(link)
