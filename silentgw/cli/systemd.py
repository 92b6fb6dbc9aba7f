"""Telling systemd how the gateway is doing: the sd_notify protocol, and the task that speaks it for ``serve()``.

The protocol (sd_notify(3)) is one datagram per message to the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a name
starting with ``@`` is in Linux's abstract namespace: the ``@`` stands for a leading NUL byte), carrying
newline-separated ``KEY=value`` lines: ``READY=1`` once the service is up, ``STOPPING=1`` as it begins to stop,
``STATUS=...`` free text for ``systemctl status``, and ``WATCHDOG=1`` as the keep-alive ping of ``WatchdogSec=``.
systemd reads the sender's credentials off the socket, so nothing more is sent; with ``NotifyAccess=main`` only the
main process is heard, which ``silentgw run`` is. Without ``$NOTIFY_SOCKET`` (not under systemd, or a unit of
another type) every call does nothing, so the same code runs under systemd, in a terminal and in tests.

The watchdog: systemd passes ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``, the process meant) and kills the service
if no ping comes within that time. :func:`notify_systemd` pings from a task on the gateway's event loop, at half
the interval as sd_watchdog_enabled(3) advises, so a loop that hangs (a blocking call, a deadlock) stops the pings
and systemd restarts the gateway; a ``healthy`` check can withhold them for other reasons.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["Notifier", "Serving", "notify_systemd", "watchdog_interval"]

logger = logging.getLogger(__name__)


class Notifier:
    """A client of the service manager's notification socket; every method is a no-op without one."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None
        """The socket as ``$NOTIFY_SOCKET`` names it (a path, or ``@name`` in the abstract namespace)."""
        self._socket: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier ``environ`` asks for (``$NOTIFY_SOCKET``); a disabled one when it names none."""
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens (``$NOTIFY_SOCKET`` was set)."""
        return self.address is not None

    def _target(self) -> str:
        assert self.address is not None
        return "\0" + self.address[1:] if self.address.startswith("@") else self.address

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` (``KEY=value`` each) as one message; whether it went. A failure is logged once, not raised:
        the gateway must not stop because its manager cannot be told something."""
        if self.address is None:
            return False
        if not self.address.startswith(("/", "@")):
            self._warn(f"unsupported notification socket address {self.address!r}")
            return False
        message = "\n".join(lines).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self._target())
        except OSError as exc:
            self._warn(f"cannot notify the service manager at {self.address}: {exc}")
            return False
        return True

    def _warn(self, text: str) -> None:
        if not self._warned:
            logger.warning("%s", text)
            self._warned = True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete (``Type=notify`` units count as started from here)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def stopping(self, status: str | None = None) -> bool:
        """Shutting down has begun."""
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A line for ``systemctl status`` (one line: line breaks would end the field)."""
        return self.notify(f"STATUS={' '.join(text.splitlines())}")

    def watchdog(self) -> bool:
        """The keep-alive ping."""
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        """Close the socket (a later message opens it again)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between keep-alive pings (half ``$WATCHDOG_USEC``), or None when no watchdog expects them: none is
    set, the value is not a positive number, or ``$WATCHDOG_PID`` names another process (``pid``: this one)."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    meant = environ.get("WATCHDOG_PID", "")
    if meant and meant != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


class Serving(Protocol):
    """What :func:`notify_systemd` watches of the server: uvicorn's ``Server`` has both flags."""

    started: bool
    """True once the server listens and its startup (the app's lifespan) is done."""
    should_exit: bool
    """True once it has been told to stop (SIGTERM, Ctrl+C)."""


async def notify_systemd(
    server: Serving,
    *,
    notifier: Notifier | None = None,
    environ: Mapping[str, str] | None = None,
    healthy: Callable[[], bool] | None = None,
    status: Callable[[], str] | None = None,
    every: float = 10.0,
    poll: float = 0.05,
    watch: float = 0.5,
) -> None:
    """Tell systemd the gateway is ready once ``server`` serves, ping its watchdog while the loop runs, and say
    ``STOPPING=1`` when the server is told to stop (or this task is cancelled); run it as a task beside the server.

    ``healthy`` may withhold a ping (systemd then restarts the gateway when the watchdog runs out); ``status``
    gives the ``systemctl status`` line, sent with every ping or every ``every`` seconds without a watchdog.
    ``environ`` defaults to the process's, ``notifier`` to the one it names. It looks whether the server has started
    every ``poll`` seconds, and then whether it is told to stop every ``watch`` seconds (at most: pings come between
    the looks). Without ``$NOTIFY_SOCKET`` it returns at once.
    """
    environ = environ if environ is not None else os.environ
    notifier = notifier if notifier is not None else Notifier.from_environ(environ)
    if not notifier.enabled:
        return
    interval = watchdog_interval(environ)
    stopped = False
    try:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(poll)
        notifier.ready(status() if status is not None else "serving")
        logger.info("told systemd the gateway is ready%s",
                    f"; watchdog pings every {interval:g} s" if interval else "")  # fmt: skip
        period = interval if interval is not None else every
        loop = asyncio.get_running_loop()
        due = loop.time()
        while not server.should_exit:
            if loop.time() >= due:
                lines = ["WATCHDOG=1"] if interval is not None and (healthy is None or healthy()) else []
                if status is not None:
                    lines.append(f"STATUS={' '.join(status().splitlines())}")
                if lines:
                    notifier.notify(*lines)
                due += period
                if due < loop.time():  # the loop was held up past a whole period: start the rhythm again from now
                    due = loop.time() + period
            await asyncio.sleep(min(watch, max(0.0, due - loop.time())))
        notifier.stopping("stopping: writing what was read")
        stopped = True
    finally:
        if not stopped:
            notifier.stopping()
        notifier.close()
