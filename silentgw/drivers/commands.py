"""Commands down to devices: shelf display text and price, lock and unlock, reader start, stop and power."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["Command", "DisplayText", "Lock", "SetPower", "StartReading", "StopReading", "Unlock"]


@dataclass(frozen=True, slots=True)
class DisplayText:
    """Show a text (and optionally a price) on a shelf display."""

    text: str
    price: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class Lock:
    """Lock a door, a cabinet or a gate."""


@dataclass(frozen=True, slots=True)
class Unlock:
    """Unlock it, for ``seconds`` when given (then it locks again by itself)."""

    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class StartReading:
    """Start a reader's inventory."""


@dataclass(frozen=True, slots=True)
class StopReading:
    """Stop a reader's inventory."""


@dataclass(frozen=True, slots=True)
class SetPower:
    """Set a reader's transmit power in dBm."""

    dbm: float


Command = DisplayText | Lock | Unlock | StartReading | StopReading | SetPower
