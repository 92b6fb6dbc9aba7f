"""The device end of a pseudo-terminal: a simulated serial device the gateway opens as if it were /dev/ttyUSB0.

The slave side gets a stable path (a symlink, replaced atomically) so a settings file can name it like a real port.
The simulator keeps the slave open itself, so the terminal outlives the gateway closing and reopening it. Bytes
written faster than the gateway reads wait in the device's own output buffer (``backlog`` bytes, like a UART's
transmit FIFO) and go out as the terminal takes them; when that buffer is full, a whole new frame is dropped
(counted), never part of one, rather than stalling the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import struct
import termios
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["PtyDevice"]

logger = logging.getLogger(__name__)


class PtyDevice:
    """A pseudo-terminal whose slave the gateway opens; ``write`` sends bytes to it, ``on_receive`` hears it."""

    def __init__(self, link: Path | None = None, *, backlog: int = 256 * 1024) -> None:
        self.link = link
        self.backlog = backlog
        self.dropped = 0
        self._pending = bytearray()
        self._waiting = False
        self._master = -1
        self._slave = -1
        self.path = ""

    def open(self, on_receive: Callable[[bytes], None] | None = None) -> None:
        """Create the terminal and its symlink; ``on_receive`` hears, on the event loop, what the gateway writes."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as they are, like a real serial line
        tty.setraw(self._master)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            fresh = self.link.with_name(self.link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                fresh.unlink()
            fresh.symlink_to(self.path)
            fresh.replace(self.link)
        if on_receive is not None:
            asyncio.get_running_loop().add_reader(self._master, self._readable, on_receive)

    def _readable(self, on_receive: Callable[[bytes], None]) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:
            return  # EIO while no one has the slave open: nothing was said
        if data:
            on_receive(data)

    def write(self, data: bytes) -> None:
        """Send ``data`` (one frame or line) down the line, or drop all of it if the output buffer is full."""
        if len(self._pending) + len(data) > self.backlog:
            self.dropped += len(data)
            logger.debug("pty %s: output buffer full, %d bytes dropped", self.path, len(data))
            return
        self._pending += data
        self._flush()

    def unread(self) -> int:
        """Bytes said that the gateway has not read yet: waiting in our buffer, or in the terminal's input queue."""
        if self._slave < 0:
            return len(self._pending)
        queued: int = struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        return len(self._pending) + queued

    def _flush(self) -> None:
        try:
            sent = os.write(self._master, self._pending)
        except BlockingIOError:
            sent = 0
        del self._pending[:sent]
        loop = asyncio.get_running_loop()
        if self._pending and not self._waiting:
            loop.add_writer(self._master, self._flush)
            self._waiting = True
        elif not self._pending and self._waiting:
            loop.remove_writer(self._master)
            self._waiting = False

    def close(self) -> None:
        """Close both ends and remove the symlink."""
        if self._master >= 0:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self._master)
                asyncio.get_running_loop().remove_writer(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink() and os.readlink(self.link) == self.path:
                    self.link.unlink()

    def __enter__(self) -> PtyDevice:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
