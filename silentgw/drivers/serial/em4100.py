"""125 kHz EM4100/EM4102 card readers with a serial output (RDM6300 and its kin), 9600 baud 8N1.

Source: the RDM6300 datasheet (Seeed Studio "125Khz RFID module - UART", product 113020002), output data format:
``0x02``, ten ASCII hex characters (the version or customer byte, then the 32-bit card number), two ASCII hex
characters of checksum (the XOR of the five data bytes), ``0x03``. Its example: card ``62E3086CED``, checksum
``62 ^ E3 ^ 08 ^ 6C ^ ED = 08``, so the reader sends ``02 36 32 45 33 30 38 36 43 45 44 30 38 03``; the number
printed on the card is the last four bytes in decimal (``E3086CED`` = 3808980205).

While a card lies on the reader it sends the frame again every 50 ms or so: that is one card presented, not twenty
reads a second. :class:`Debounce` makes it one :class:`~silentgw.drivers.observations.TagRead`, and a new one only
once the card has been away for the hold-off.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import xor
from typing import ClassVar, Literal

from pydantic import Field

from silentgw.drivers.base import Emit
from silentgw.drivers.observations import Observation, Rejected, TagRead
from silentgw.drivers.serial.framing import FrameError, FrameParser, Noise, scan
from silentgw.drivers.serial.port import SerialPort, SerialSettings, stream
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = [
    "Debounce",
    "Em4100Parser",
    "Em4100Reader",
    "Em4100Settings",
    "FrameError",
    "Noise",
    "decode_frame",
    "encode_frame",
    "split_frames",
]

STX = 0x02
ETX = 0x03
FRAME_SIZE = 14  # STX, ten id characters, two checksum characters, ETX
_HEX = frozenset(b"0123456789ABCDEFabcdef")


def encode_frame(card: str) -> bytes:
    """The frame a reader sends for ``card`` (ten hex digits): what the simulator and the tests send."""
    data = bytes.fromhex(card)
    if len(data) != 5:
        raise ValueError("an EM4100 id is ten hex digits")
    text = card.upper() + f"{reduce(xor, data):02X}"
    return bytes([STX]) + text.encode("ascii") + bytes([ETX])


def split_frames(buffer: bytes) -> tuple[list[bytes | Noise], bytes]:
    """The frames and the noise in ``buffer``, in order, and the partial frame left at its end.

    A frame is 14 bytes from an STX to an ETX; an STX followed by another STX before that is a frame cut short, and
    becomes noise up to the second one (the id characters are ASCII hex, so an STX inside a frame never occurs).
    """
    return scan(buffer, STX, _measure)


def _measure(buffer: bytes, start: int) -> tuple[int, bool] | None:
    inner = buffer.find(STX, start + 1, start + FRAME_SIZE)
    if inner >= 0:
        return inner, False
    if len(buffer) - start < FRAME_SIZE:
        return None
    end = start + FRAME_SIZE
    return (end, True) if buffer[end - 1] == ETX else (start + 1, False)


def decode_frame(frame: bytes) -> str:
    """The card id (ten upper-case hex digits) of one whole frame; :class:`FrameError` names what is wrong."""
    if len(frame) != FRAME_SIZE or frame[0] != STX or frame[-1] != ETX:
        raise FrameError("not a frame: it needs STX, twelve hex characters and ETX")
    text = frame[1:-1]
    if not _HEX.issuperset(text):
        raise FrameError("a frame with characters that are not hex digits")
    data = bytes.fromhex(text[:10].decode("ascii"))
    sent = int(text[10:], 16)
    expected = reduce(xor, data)
    if sent != expected:
        raise FrameError(f"bad checksum {sent:02X} (the id bytes XOR to {expected:02X})")
    return data.hex().upper()


class Debounce:
    """One presentation per card: an id counts again only once it has been absent for ``hold_off``."""

    def __init__(self, hold_off: dt.timedelta) -> None:
        self.hold_off = hold_off
        self._last: dict[str, dt.datetime] = {}

    def presented(self, card: str, now: dt.datetime) -> bool:
        """Whether seeing ``card`` at ``now`` is a new presentation (and remember that it was seen)."""
        last = self._last.get(card)
        self._last[card] = now
        if len(self._last) > 64:  # forget cards long gone, so a day of badges does not pile up
            self._last = {c: t for c, t in self._last.items() if now - t < self.hold_off or c == card}
        return last is None or now - last >= self.hold_off


class Em4100Parser(FrameParser):
    """Card presentations out of an EM4100 reader's byte stream; repeats of a card still present are dropped."""

    def __init__(self, device: str, *, hold_off: dt.timedelta = dt.timedelta(seconds=1)) -> None:
        super().__init__(device, start_byte=STX, measure=_measure)
        self.debounce = Debounce(hold_off)

    def is_noise(self, data: bytes) -> bool:
        """Bytes between frames, unless they are only the CR LF some readers end each frame with."""
        return bool(data.strip())

    def frame(self, frame: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """One read of the card, if it is a new presentation."""
        card = decode_frame(frame)
        if not self.debounce.presented(card, now):
            return []
        return [TagRead(card, self.device, 1, None, now, protocol="em4100")]


class Em4100Settings(SerialSettings):
    """Options of an EM4100 card reader."""

    baudrate: int = Field(default=9600, gt=0)
    hold_off: float = Field(default=1.0, ge=0, le=3600)
    """Seconds a card must be away before it counts as presented again."""
    # An RDM6300-style reader sends a frame only while a card is on it and nothing at all otherwise, and has no
    # command to ask it for a sign of life (its datasheet's only output is the card frame): silence is its normal
    # state, so it is never reported down for it.
    silence_s: float | None = Field(default=None, ge=0)


class Em4100Reader:
    """Driver of an RDM6300-style EM4100 card reader: one tag read per card presented."""

    kind: ClassVar[str] = "em4100"
    transport: ClassVar[Literal["serial", "mqtt"]] = "serial"
    Settings: ClassVar[type[Em4100Settings]] = Em4100Settings

    def __init__(self, device: str, settings: Em4100Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock

    @classmethod
    def parser(cls, device: str, settings: Em4100Settings) -> Em4100Parser:
        """The pure parser of the STX/ETX frames, with the hold-off of ``settings``."""
        return Em4100Parser(device, hold_off=dt.timedelta(seconds=settings.hold_off))

    async def run(self, emit: Emit) -> None:
        """Open the port and emit card presentations until cancelled or the port is lost."""
        async with SerialPort(self.settings) as port:
            await stream(port, self.parser(self.device, self.settings), emit, device=self.device, clock=self.clock)
