"""What presence decides: a tag arrived in a zone, moved between zones, departed, or passed through a portal."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

__all__ = ["Arrived", "Departed", "Direction", "Moved", "Passed", "Transition"]

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Arrived:
    """A tag arrived in a zone."""

    epc: str
    zone: str
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class Moved:
    """A tag moved from one zone to another."""

    epc: str
    from_zone: str
    to_zone: str
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class Departed:
    """A tag left its zone: unseen for the zone's absence timeout, or passed out of the store."""

    epc: str
    zone: str
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class Passed:
    """A tag passed through a portal, in (outer antenna first) or out (inner first)."""

    epc: str
    portal: str
    direction: Direction
    time: dt.datetime


Transition = Arrived | Moved | Departed | Passed
