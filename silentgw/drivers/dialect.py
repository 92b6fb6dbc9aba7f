"""Dialects: the pure half of a driver, turning what a device says into observations, with no I/O at all.

Every driver splits in two: a :class:`Parser` (bytes in, observations and rejects out; tested with bytes alone and
fuzzed) and the I/O around it (a serial port, an MQTT subscription). ``silentgw drivers parse DIALECT`` feeds
captured input straight to the parser, so a user can check a new device's format before wiring it up.

A serial parser is fed chunks as they arrive (a frame may be split across chunks, or several may come in one); an
MQTT parser is fed one message payload at a time. Either way ``feed`` never raises on bad input: it returns
:class:`~silentgw.drivers.observations.Rejected` records with their reasons instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from silentgw.drivers.observations import Observation, Rejected

__all__ = ["Parser"]


class Parser(Protocol):
    """Turns one device's input into observations; keeps a partial frame between calls."""

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """Everything complete in ``data`` (plus what was kept from before); ``now`` stamps readings without a time."""
        ...

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """At the end of input: a partial frame left over is rejected as incomplete."""
        ...
