"""The serial tests' harness: real pseudo-terminals, and a sink that waits for what drivers emit (with deadlines)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from silentgw.drivers.base import Driver
from silentgw.drivers.observations import DeviceStatus, Handed

DEADLINE = 5.0
"""Seconds a test waits for something that normally takes milliseconds; only a failing test waits this long."""


class Pty:
    """A pseudo-terminal: the driver opens ``path`` (the slave), the test plays the device on the master side."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.received = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        """Send ``data`` as the device would."""
        os.write(self.master, data)

    async def read_until(self, expected: bytes, timeout: float = DEADLINE) -> bytes:
        """Everything the driver wrote, once it contains ``expected``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while expected not in self.received:
            try:
                self.received += os.read(self.master, 4096)
            except BlockingIOError:
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(
                        f"driver never wrote {expected.hex(' ')}; got {self.received.hex(' ')}"
                    ) from None
                await asyncio.sleep(0.005)
        return self.received

    def close(self) -> None:
        """Unplug: the driver's next read fails as a vanished USB adapter's does."""
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self._slave)


class Sink:
    """Collects what a driver emits; ``wait_for`` polls until a condition holds, or fails at the deadline."""

    def __init__(self) -> None:
        self.items: list[Handed] = []

    async def __call__(self, batch: Sequence[Handed]) -> None:
        self.items.extend(batch)

    def of(self, kind: type[Any]) -> list[Any]:
        """The items of one type, in order."""
        return [i for i in self.items if isinstance(i, kind)]

    def states(self) -> list[str]:
        """The device states reported, heartbeats left out."""
        return [s.state for s in self.of(DeviceStatus) if s.state != "heartbeat"]

    async def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        """Return once ``condition()`` holds; fail naming ``what`` after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.items!r}")
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running(coro: Awaitable[None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coro`` as a task for the block, then cancel it and wait until it has let go of its port."""
    task = asyncio.ensure_future(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def up(sink: Sink, driver: Driver) -> None:
    """Wait until ``driver`` says its device is up."""
    await sink.wait_for(lambda: "up" in sink.states(), f"{driver.device} up")
