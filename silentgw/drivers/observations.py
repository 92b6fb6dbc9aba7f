"""What a driver hands the core: tag reads, sensor readings, device status, and input set aside.

These are NamedTuples rather than frozen dataclasses (see docs/STYLE.md, point 7): a warehouse portal reports
thousands of reads a second, a batched MQTT payload fifty at a time, and a NamedTuple is as immutable and slotted
while costing a tenth as much to build. Times are always timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal, NamedTuple

__all__ = [
    "DeviceState", "DeviceStatus", "Handed", "Observation", "Receipt", "Rejected", "SensorReading", "TagProtocol",
    "TagRead",
]  # fmt: skip

TagProtocol = Literal["epc", "em4100"]
"""`epc`: a UHF EPC Gen2 tag (``epc`` is the EPC bank as hex); `em4100`: a 125 kHz card (its 10-hex-digit id)."""

DeviceState = Literal["up", "down", "heartbeat"]


class TagRead(NamedTuple):
    """A tag seen by a reader's antenna."""

    epc: str
    """Upper-case hex: the EPC bank (PC word excluded) for UHF tags, the 10-digit card id for EM4100."""
    reader: str
    antenna: int
    rssi: float | None
    """Peak signal strength in dBm, where the reader reports it."""
    time: dt.datetime
    reads: int = 1
    """How many raw reads this observation stands for (readers that aggregate report more than one)."""
    protocol: TagProtocol = "epc"


class SensorReading(NamedTuple):
    """A measurement from a sensor."""

    sensor: str
    quantity: str
    """What is measured: `temperature`, `humidity`, `weight`, `door`, ... (the line's or payload's key)."""
    value: float
    unit: str
    time: dt.datetime


class DeviceStatus(NamedTuple):
    """A device came up, went down, or is still alive (heartbeat)."""

    device: str
    state: DeviceState
    time: dt.datetime
    detail: str = ""


class Rejected(NamedTuple):
    """Input a driver could not turn into an observation, kept with its reason (never a crash, never lost)."""

    device: str
    raw: bytes
    reason: str
    time: dt.datetime


class Receipt(NamedTuple):
    """Not an observation: a driver's mark, in the stream, that what it emitted before is to be confirmed to the
    device once the gateway has written it (``confirm``: acknowledge the MQTT messages it came in). The read
    pipeline calls ``confirm`` once every micro-batch up to the mark is in the database, so a gateway killed before
    that gets the messages again from the broker's persistent session. Always emitted alone, as a batch of one."""

    device: str
    confirm: Callable[[], None]


Observation = TagRead | SensorReading | DeviceStatus
Handed = Observation | Rejected | Receipt
"""What a driver hands over: observations, input set aside, and receipts."""
