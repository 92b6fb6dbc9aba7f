"""The serial port every serial driver reads through: opened by URL, read off the event loop, errors translated once.

Ports are pyserial URLs (``/dev/ttyUSB0``, ``socket://host:4001``, ``rfc2217://host:2217``, ``loop://``), so no driver
hard-wires a device path and the tests run against pseudo-terminals and ``loop://``. Reads block in the port's own
reader thread with a short timeout, so the event loop never waits on the device and a cancelled driver stops within
one timeout. Each port has a thread of its own because a blocked read holds its thread for up to the timeout: on the
event loop's shared pool (five workers on a two-core box) a store's sixteen ports would queue behind each other's
timeouts, and every read would be late by tens of milliseconds.
``serial.SerialException`` and ``OSError`` become :class:`~silentgw.drivers.base.DeviceUnavailable` here and nowhere
else; the supervisor then brings the device back with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, Literal

import serial
from pydantic import BaseModel, ConfigDict, Field, field_validator

from silentgw.drivers.base import DeviceUnavailable, Emit
from silentgw.drivers.dialect import Parser
from silentgw.drivers.observations import DeviceStatus
from silentgw.drivers.supervisor import Clock

__all__ = ["SerialPort", "SerialSettings", "stream"]

logger = logging.getLogger(__name__)

READ_SIZE_CAP = 4096
"""The most one read takes: a burst of inventory notices is parsed in slices this size rather than all at once."""


class SerialSettings(BaseModel):
    """Where and how to open a serial port; each driver's settings extend this with its own defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1)
    """A device path or pyserial URL: ``/dev/ttyUSB0``, ``socket://10.0.0.7:4001``, ``rfc2217://...``, ``loop://``."""
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1
    """1, 1.5 or 2."""
    read_timeout: float = Field(default=0.05, gt=0, le=5)
    """Seconds one blocking read waits: bounds how long a cancelled driver takes to let go of its port."""
    write_timeout: float = Field(default=1.0, gt=0, le=30)
    silence_s: float | None = Field(default=None, ge=0)
    """Seconds the device may send nothing at all before it is reported down; None or 0: never. Each driver sets its
    default from what the real device sends when it has nothing to report."""

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("stopbits must be 1, 1.5 or 2")
        return value


class SerialPort:
    """One open serial port: an async context manager with ``read`` and ``write``; reusable, not re-entrant."""

    def __init__(self, settings: SerialSettings) -> None:
        self.settings = settings
        self._serial: Any = None  # serial.Serial or a URL handler's subclass; pyserial ships no type hints
        self._reading: asyncio.Future[bytes] | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._write_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._serial is not None

    async def __aenter__(self) -> SerialPort:
        if self._serial is not None:
            raise RuntimeError("the port is already open")
        s = self.settings
        # opening a socket:// or rfc2217:// URL connects over the network: off the event loop too
        self._serial = await self._call(
            serial.serial_for_url,
            s.url,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
            timeout=s.read_timeout,
            write_timeout=s.write_timeout,
        )
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serial {s.url}")
        logger.debug("opened serial port %s at %d baud", s.url, s.baudrate)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def read(self) -> bytes:
        """What arrived: at least one byte, or ``b""`` when nothing came within the read timeout."""
        port = self._require_open()
        loop = asyncio.get_running_loop()
        self._reading = loop.run_in_executor(self._reader, _read_available, port)
        try:
            # shielded: a cancelled driver must not leave a thread reading a port that close() is about to shut
            return await asyncio.shield(self._reading)
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnavailable(f"{self.settings.url}: {exc}") from exc

    async def write(self, data: bytes) -> None:
        """Send ``data`` whole (writes from the driver and from ``send`` never interleave)."""
        port = self._require_open()
        async with self._write_lock:
            await self._call(_write_all, port, data)

    async def close(self) -> None:
        """Close the port, waiting for a read in flight to return first; closing twice is harmless."""
        port, self._serial = self._serial, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.shutdown(wait=False)  # its thread ends once the read in flight (waited for below) returns
        if port is None:
            return
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            cancel_read = getattr(port, "cancel_read", None)
            if cancel_read is not None:
                cancel_read()  # wakes the worker thread now rather than at the end of its timeout
            await asyncio.wait([reading])
        if reading is not None and reading.done() and not reading.cancelled():
            reading.exception()  # retrieved, so a read that failed while we were cancelled is not logged as lost
        try:
            port.close()
        except (serial.SerialException, OSError) as exc:
            logger.debug("closing %s: %s", self.settings.url, exc)  # the device is gone already: nothing to undo

    def _require_open(self) -> Any:
        if self._serial is None:
            raise DeviceUnavailable(f"{self.settings.url}: the port is not open")
        return self._serial

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (serial.SerialException, OSError) as exc:
            raise DeviceUnavailable(f"{self.settings.url}: {exc}") from exc


def _read_available(port: Any) -> bytes:
    # read(1) returns as soon as a byte is there (or at the timeout); then take whatever else has arrived with it
    data: bytes = port.read(1)
    if data and port.is_open:
        waiting = min(port.in_waiting, READ_SIZE_CAP)
        if waiting:
            data += port.read(waiting)
    return data


def _write_all(port: Any, data: bytes) -> None:
    port.write(data)
    port.flush()


async def stream(
    port: SerialPort,
    parser: Parser,
    emit: Emit,
    *,
    device: str,
    clock: Clock,
) -> None:
    """A serial driver's loop: announce the device up, then read, parse and emit until cancelled or the port is lost."""
    await emit([DeviceStatus(device, "up", clock(), port.settings.url)])
    while True:
        chunk = await port.read()
        if not chunk:
            continue
        batch = parser.feed(chunk, clock())
        if batch:
            await emit(batch)
