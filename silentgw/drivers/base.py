"""The driver contract: what a driver implements, and the errors it may raise.

A driver is one coroutine, ``run(emit)``: it opens its device, reads until it is cancelled, and hands what it reads
to ``emit`` in batches (one await per frame or MQTT message, not per read: a batched payload carries fifty reads).
It raises :class:`DeviceUnavailable` when the device is lost; restarting, backoff, health and counters live once, in
:class:`~silentgw.drivers.supervisor.Supervisor`, not in each driver. A driver whose device takes commands also
implements :class:`TakesCommands`.

A driver's ``settings`` may carry ``silence_s``: how long its device may say nothing at all before the supervisor
reports it down (:func:`silence_bound`). Each driver's settings model gives its dialect's default, with the reason
(what the real device sends when it has nothing to report); a device entry may set its own.

DriverError
 ├── DeviceUnavailable   the device is gone or cannot be opened (the supervisor retries with backoff)
 ├── CommandRefused      the device does not take this command, or said no (no retry)
 └── UnknownDriver       no installed driver has this kind (refused when the settings are validated)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from silentgw.drivers.commands import Command
from silentgw.drivers.observations import Handed

__all__ = [
    "CommandRefused",
    "DeviceUnavailable",
    "Driver",
    "DriverError",
    "Emit",
    "TakesCommands",
    "UnknownDriver",
    "silence_bound",
]

Emit = Callable[[Sequence[Handed]], Awaitable[None]]
"""Where a driver puts what it read: observations, and input set aside as :class:`Rejected`."""


class DriverError(Exception):
    """Root of the drivers' errors."""


class DeviceUnavailable(DriverError):
    """The device is gone or cannot be opened; the supervisor brings it back with backoff."""


class CommandRefused(DriverError):
    """The device does not take this command, or refused it."""


class UnknownDriver(DriverError):
    """No installed driver has this kind."""


def silence_bound(settings: object) -> float | None:
    """Seconds a device may say nothing before it is down: ``settings.silence_s``; None (or 0, or no such setting)
    when silence is normal for it (a card reader with no card on it sends nothing at all)."""
    bound = getattr(settings, "silence_s", None)
    return float(bound) if bound else None


@runtime_checkable
class Driver(Protocol):
    """One device's driver."""

    device: str
    """The device id from the settings; every observation carries it."""

    async def run(self, emit: Emit) -> None:
        """Open the device, emit what it says until cancelled; raise :class:`DeviceUnavailable` when it is lost."""
        ...


@runtime_checkable
class TakesCommands(Protocol):
    """A driver whose device takes commands (displays, locks, readers that start and stop)."""

    async def send(self, command: Command) -> None:
        """Send ``command`` to the device; :class:`CommandRefused` if it does not take it."""
        ...
