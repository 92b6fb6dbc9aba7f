"""The supervisor: restarts with growing, jittered delays; reports up and down, silences too; counts and keeps rejects
(bounded in bytes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
from collections.abc import Sequence

import pytest

from silentgw.drivers.base import DeviceUnavailable, Emit
from silentgw.drivers.observations import DeviceStatus, Handed, Observation, Rejected, TagRead
from silentgw.drivers.serial.em4100 import Em4100Reader, Em4100Settings
from silentgw.drivers.supervisor import KEPT_RAW, KEPT_REJECTS, Backoff, Silence, Supervisor

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
                            sleep=sleep)  # fmt: skip
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


class Scripted:
    """A device that comes up, then says what the test hands it, when it hands it (and nothing otherwise)."""

    def __init__(self, device: str = "reader-1") -> None:
        self.device = device
        self.says: asyncio.Queue[list[Observation | Rejected]] = asyncio.Queue()

    async def run(self, emit: Emit) -> None:
        await emit([DeviceStatus(self.device, "up", T0)])
        while True:
            await emit(await self.says.get())


class Watched:
    """A supervisor on a fake clock that each ``sleep`` moves on: its silence watch runs through simulated minutes."""

    def __init__(self, driver: Scripted | Em4100Reader, *, silence: float | str | None = "driver") -> None:
        self.clock = FakeClock()
        self.received: list[Handed] = []

        async def sink(batch: Sequence[Handed]) -> None:
            self.received.extend(batch)

        async def sleep(seconds: float) -> None:
            self.clock.now += dt.timedelta(seconds=seconds)
            await asyncio.sleep(0)

        kwargs = {} if silence == "driver" else {"silence": silence}
        self.supervisor = Supervisor(driver, sink, clock=self.clock, sleep=sleep, **kwargs)  # type: ignore[arg-type]

    def state(self) -> str:
        return self.supervisor.health.state

    def statuses(self) -> list[DeviceStatus]:
        return [o for o in self.received if isinstance(o, DeviceStatus)]

    async def until(self, seconds: float) -> None:
        """Let the supervisor run until its clock shows ``seconds`` past T0."""
        while self.clock.now < T0 + dt.timedelta(seconds=seconds):
            await asyncio.sleep(0)


async def test_a_device_silent_past_its_bound_is_down_once_and_up_when_heard_again() -> None:
    reader = Scripted()
    watched = Watched(reader, silence=90)
    task = asyncio.create_task(watched.supervisor.run())
    await watched.until(10)
    reader.says.put_nowait([TagRead("3074257BF7194E4000001A85", "reader-1", 1, -52.0, watched.clock.now)])
    while not watched.supervisor.health.observations:
        await asyncio.sleep(0)
    last = watched.supervisor.health.last_heard
    await watched.until(60)
    assert [s.state for s in watched.statuses()] == ["up"]  # quiet for less than its bound: still up
    await watched.until(400)
    downs = [s for s in watched.statuses() if s.state == "down"]
    assert len(downs) == 1  # one down per silence, however long it lasts
    assert downs[0].time == last  # dated from its last sign of life: presence stops its zones' clocks from then
    assert re.fullmatch(r"silent for 9\d s \(bound 90 s\)", downs[0].detail)
    assert watched.state() == "down"

    back = TagRead("3074257BF7194E4000001A85", "reader-1", 1, -50.0, watched.clock.now)
    reader.says.put_nowait([back])
    while back not in watched.received:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    tail = watched.received[watched.received.index(downs[0]) + 1 :]
    assert isinstance(tail[0], DeviceStatus)
    assert tail[0].state == "up"  # said before the read that ended the silence
    assert tail[1] == back
    assert watched.state() == "up"


async def test_a_device_heartbeat_keeps_it_up_and_the_supervisor_invents_none() -> None:
    reader = Scripted()
    watched = Watched(reader, silence=90)
    task = asyncio.create_task(watched.supervisor.run())
    for minute in range(1, 6):
        await watched.until(60 * minute)
        reader.says.put_nowait([DeviceStatus("reader-1", "heartbeat", watched.clock.now)])
    await watched.until(330)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    states = [s.state for s in watched.statuses()]
    assert "down" not in states
    assert states.count("heartbeat") == 5  # the device's own, and no more: the supervisor asserts none


async def test_a_card_reader_silent_all_day_is_never_down(tmp_path: object) -> None:
    # an EM4100 reader sends nothing while no card is on it: its default bound is none
    reader = Em4100Reader("card-reader-1", Em4100Settings(url="loop://"))
    assert Watched(Scripted()).supervisor.silence is None  # no settings, no bound
    watched = Watched(reader)
    assert watched.supervisor.silence is None
    task = asyncio.create_task(watched.supervisor.run())
    for _ in range(12 * 60):  # twelve hours with no card, a minute at a time
        watched.clock.now += dt.timedelta(minutes=1)
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [s.state for s in watched.statuses()] == ["up"]


def test_silence_decides_on_the_times_given() -> None:
    silence = Silence("r", 90)
    assert silence.check(T0 + dt.timedelta(days=1)) is None  # never heard: nothing to be silent after
    assert silence.heard(T0) is None
    assert silence.check(T0 + dt.timedelta(seconds=90)) is None
    down = silence.check(T0 + dt.timedelta(seconds=91))
    assert down == DeviceStatus("r", "down", T0, "silent for 91 s (bound 90 s)")
    assert silence.check(T0 + dt.timedelta(seconds=500)) is None
    up = silence.heard(T0 + dt.timedelta(seconds=600))
    assert up is not None
    assert (up.state, up.time) == ("up", T0 + dt.timedelta(seconds=600))
    assert silence.heard(T0 + dt.timedelta(seconds=601)) is None
    with pytest.raises(ValueError, match="positive"):
        Silence("r", 0)


async def test_rejected_input_is_kept_bounded_in_bytes() -> None:
    reader = Scripted()
    watched = Watched(reader, silence=None)
    task = asyncio.create_task(watched.supervisor.run())
    junk = b"\xbb" * 10_000_000
    for n in range(KEPT_REJECTS + 20):
        reader.says.put_nowait([Rejected("reader-1", junk, f"junk {n} " + "x" * 5000, T0)])
    while watched.supervisor.health.frames_bad < KEPT_REJECTS + 20:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = watched.supervisor.health.recent_rejects
    assert len(kept) == KEPT_REJECTS
    assert all(k.raw == junk[:KEPT_RAW] and k.size == len(junk) for k in kept)
    assert kept[-1].reason.startswith(f"junk {KEPT_REJECTS + 19} ")
    assert sum(len(k.raw) + len(k.reason) for k in kept) < 80_000


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

    supervisor = Supervisor(Portal(), sink)
    task = asyncio.create_task(supervisor.run())
    while len(received) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.health.state == "up"
    assert received[1] == DeviceStatus("portal-1/antenna-2", "down", T0, "antenna disconnected")  # passed on
