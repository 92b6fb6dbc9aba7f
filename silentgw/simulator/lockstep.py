"""A simulated day through the gateway's real drivers, on the simulation's clock, as fast as the machine allows.

The store's serial devices are played on pseudo-terminals (:func:`silentgw.simulator.rig.serial_rig`); the gateway
runs its real drivers on them (``run_gateway``) with a :class:`~silentgw.simulator.player.SimClock` as its clock, so
every read is stamped with simulated time, and the player keeps lockstep with what the gateway has taken
(:class:`Intake`). Scenario tests and ``bench/accuracy.py --drivers`` use it to check the whole path, bytes to
ledger, against the simulator's truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence

from silentgw.drivers.observations import Handed, Rejected, SensorReading, TagRead
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import Gateway, Handler, run_gateway
from silentgw.gateway.config import Settings
from silentgw.simulator.player import Lockstep, Player, Progress, SimClock, SimDevice
from silentgw.simulator.rig import serial_rig
from silentgw.simulator.serial_devices import SimEm4100, SimM100, SimSensorLines

__all__ = ["Intake", "LockstepStalled", "play_through_drivers"]


class LockstepStalled(RuntimeError):
    """The gateway did not take what was played in time: a frame was lost on the way, or a driver is down."""


class Intake:
    """The gateway's consumer in a lockstep play: counts the reads and readings it takes, then hands them on.

    ``unread`` says how much the simulated devices have said that the gateway has not taken yet (bytes unread,
    batches queued in its intake). A driver may
    rightly make fewer observations than were played (an EM4100 reader repeats a card held on it; the driver makes
    one presentation of the repeats), so ``settle`` also returns once every byte has been read and nothing more has
    come in for ``quiet`` seconds; ``merged`` counts the observations that did not come through one for one.
    """

    def __init__(self, handle: Handler, unread: Callable[[], int], *, timeout: float = 10.0,
                 quiet: float = 0.02) -> None:  # fmt: skip
        self.handle = handle
        self.unread = unread
        self.timeout = timeout
        """Seconds ``settle`` waits for the gateway before giving up."""
        self.quiet = quiet
        self.taken = 0
        self.merged = 0
        self.rejected = 0
        self._changed = asyncio.Event()

    async def __call__(self, batch: Sequence[Handed]) -> None:
        for item in batch:
            kind = type(item)
            if kind is TagRead or kind is SensorReading:
                self.taken += 1
            elif kind is Rejected:
                self.rejected += 1
        self._changed.set()
        await self.handle(batch)

    async def settle(self, played: int) -> None:
        """Return once what was ``played`` has been taken; :class:`LockstepStalled` after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while self.taken + self.merged < played:
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise LockstepStalled(
                    f"the gateway took {self.taken} of {played - self.merged} observations played "
                    f"({self.rejected} frames rejected, {self.unread()} bytes or batches not taken)"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, self.quiet))
            except TimeoutError:
                if self.unread() == 0:  # all read, and quiet since: the rest were merged by a driver
                    self.merged = played - self.taken


async def _ready(gateway: Gateway, voices: Mapping[str, SimDevice], timeout: float) -> None:
    """Wait until every simulated device's driver is up and every M100 has been told to poll."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        waiting = [d for d in voices if gateway.health(d).state != "up"]
        waiting += [d for d, v in voices.items() if isinstance(v, SimM100) and not v.polling]
        if not waiting:
            return
        if loop.time() > deadline:
            raise LockstepStalled(f"devices not ready after {timeout:g} s: {', '.join(sorted(waiting))}")
        await asyncio.sleep(0.01)


async def play_through_drivers(
    settings: Settings,
    stream: Iterable[TagRead | SensorReading],
    *,
    handle: Handler,
    clock: SimClock,
    registry: Registry | None = None,
    timeout: float = 10.0,
) -> Progress:
    """Play ``stream`` on the store's simulated serial devices to a gateway reading them with its real drivers.

    Everything the gateway takes goes to ``handle`` (the pipeline's), stamped by ``clock``, which the player moves
    along the stream's time. Returns when the gateway has taken all that was played; the caller then flushes.
    """
    with serial_rig(settings) as voices:
        ports = [v.port for v in voices.values() if isinstance(v, SimM100 | SimEm4100 | SimSensorLines)]
        intake = Intake(handle, lambda: sum(port.unread() for port in ports), timeout=timeout)
        async with run_gateway(settings, registry=registry, handle=intake, clock=clock) as gateway:
            intake.unread = lambda: sum(port.unread() for port in ports) + gateway.intake.qsize()
            await _ready(gateway, voices, timeout)
            player = Player(voices, speed=None, lockstep=Lockstep(clock, intake.settle))
            return await player.play(stream)
