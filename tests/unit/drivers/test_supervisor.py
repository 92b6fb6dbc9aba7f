"""The supervisor: restarts with growing, jittered delays; reports up, down and heartbeats; counts and keeps rejects."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Sequence

import pytest

from silentgw.drivers.base import DeviceUnavailable, Emit
from silentgw.drivers.observations import DeviceStatus, Handed, Rejected, TagRead
from silentgw.drivers.supervisor import Backoff, Supervisor

pytestmark = pytest.mark.anyio  # async tests run on asyncio through anyio's pytest plugin

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


class FlakyReader:
    """Comes up, reads, then loses its device; ``script`` says how each run goes."""

    def __init__(self, script: list[list[Handed] | Exception]) -> None:
        self.device = "reader-1"
        self.script = script
        self.runs = 0

    async def run(self, emit: Emit) -> None:
        step = self.script[min(self.runs, len(self.script) - 1)]
        self.runs += 1
        if isinstance(step, Exception):
            raise step
        await emit([DeviceStatus(self.device, "up", T0)])
        await emit(step)
        raise DeviceUnavailable("port vanished")


def read(epc: str = "3074257BF7194E4000001A85") -> TagRead:
    return TagRead(epc, "reader-1", 1, -52.0, T0)


async def _run_until(supervisor: Supervisor, reader: FlakyReader, runs: int) -> None:
    task = asyncio.create_task(supervisor.run())
    while reader.runs < runs:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_backoff_grows_to_its_cap_with_full_jitter() -> None:
    backoff = Backoff(initial=1.0, cap=8.0, rng=random.Random(1))
    delays = [backoff.next() for _ in range(200)]
    ceilings = [min(8.0, 2.0**n) for n in range(200)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[3:]) > 4.0  # it does reach past the early ceilings
    assert len({round(d, 6) for d in delays}) > 150  # jittered, not in step
    backoff.reset()
    assert backoff.next() <= 1.0


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(initial=0, cap=1)


async def test_a_lost_device_is_reported_down_and_brought_back() -> None:
    received: list[Handed] = []
    slept: list[float] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    reader = FlakyReader(
        [[read()], OSError("usb reset"), [read(), Rejected("reader-1", b"\xbb\x02", "bad checksum", T0)]]
    )
    supervisor = Supervisor(reader, sink, backoff=Backoff(initial=1, cap=4, rng=random.Random(3)), clock=FakeClock(),
                            sleep=sleep, heartbeat=3600)  # fmt: skip
    await _run_until(supervisor, reader, 3)
    states = [o.state for o in received if isinstance(o, DeviceStatus)]
    assert states[:3] == ["up", "down", "up"]  # the unexpected OSError is a restart too, not a second "down"
    health = supervisor.health
    assert health.reconnects >= 2
    assert health.frames_ok == 2
    assert health.observations == 2
    assert health.frames_bad == 1
    assert health.recent_rejects[0].reason == "bad checksum"
    assert health.last_error is not None
    assert len([s for s in slept if s <= 4]) >= 2


async def test_heartbeats_only_while_up() -> None:
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    class Steady:
        device = "sensor-1"

        async def run(self, emit: Emit) -> None:
            await emit([DeviceStatus(self.device, "up", T0)])
            await asyncio.Event().wait()

    supervisor = Supervisor(Steady(), sink, heartbeat=0.01)
    task = asyncio.create_task(supervisor.run())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    beats = [o for o in received if isinstance(o, DeviceStatus) and o.state == "heartbeat"]
    assert len(beats) >= 2
    assert all(b.device == "sensor-1" for b in beats)


async def test_status_of_another_device_does_not_change_this_ones_state() -> None:
    received: list[Handed] = []

    async def sink(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    class Portal:
        device = "portal-1"

        async def run(self, emit: Emit) -> None:
            await emit([DeviceStatus(self.device, "up", T0)])
            await emit([DeviceStatus("portal-1/antenna-2", "down", T0, "antenna disconnected")])
            await asyncio.Event().wait()

    supervisor = Supervisor(Portal(), sink, heartbeat=3600)
    task = asyncio.create_task(supervisor.run())
    while len(received) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.health.state == "up"
    assert received[1] == DeviceStatus("portal-1/antenna-2", "down", T0, "antenna disconnected")  # passed on
