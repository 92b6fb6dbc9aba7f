"""What the byte-framed serial protocols share: finding frames between their start byte and their end, and the noise.

A protocol says how long the frame starting at an offset is (:data:`Measure`); :func:`scan` does the rest: the
search for the start byte, noise between frames kept in order as :class:`Noise`, a partial frame at the end kept for
the next chunk. :class:`FrameParser` is the :class:`~silentgw.drivers.dialect.Parser` around it: a protocol's parser
says only what one frame means. Pure: bytes in, values out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from silentgw.drivers.observations import Observation, Rejected

__all__ = ["FrameError", "FrameParser", "Measure", "Noise", "scan"]


class FrameError(ValueError):
    """A frame that cannot be decoded; its message is the reason the input is set aside."""


class Noise(NamedTuple):
    """Bytes outside any frame: line noise, a frame cut off when the port opened, a wrong baud rate."""

    data: bytes


Measure = Callable[[bytes, int], tuple[int, bool] | None]
"""``measure(buffer, start)`` for a start byte at ``start``: ``(end, True)`` for a frame ``buffer[start:end]``;
``(resume, False)`` when no frame starts there (search again from ``resume``, past ``start``); None when the frame has
not all arrived yet."""


def scan(buffer: bytes, start_byte: int, measure: Measure) -> tuple[list[bytes | Noise], bytes]:
    """The frames and the noise in ``buffer``, in order, and the partial frame left at its end."""
    items: list[bytes | Noise] = []
    i = noise_from = 0
    while True:
        start = buffer.find(start_byte, i)
        if start < 0:
            if noise_from < len(buffer):
                items.append(Noise(buffer[noise_from:]))
            return items, b""
        found = measure(buffer, start)
        if found is None:
            break
        end, is_frame = found
        if not is_frame:
            i = end
            continue
        if start > noise_from:
            items.append(Noise(buffer[noise_from:start]))
        items.append(buffer[start:end])
        i = noise_from = end
    if start > noise_from:
        items.append(Noise(buffer[noise_from:start]))
    return items, buffer[start:]


class FrameParser:
    """A parser of one start-byte protocol: keeps the partial frame between chunks and sets noise aside."""

    def __init__(self, device: str, *, start_byte: int, measure: Measure) -> None:
        self.device = device
        self._start_byte = start_byte
        self._measure = measure
        self._rest = b""

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """Everything complete in what was kept plus ``data``."""
        items, self._rest = scan(self._rest + data, self._start_byte, self._measure)
        out: list[Observation | Rejected] = []
        for item in items:
            if isinstance(item, Noise):
                if self.is_noise(item.data):
                    out.append(Rejected(self.device, item.data, "bytes outside any frame", now))
                continue
            try:
                out.extend(self.frame(item, now))
            except FrameError as exc:
                out.append(Rejected(self.device, item, str(exc), now))
        return out

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """A partial frame left over is rejected as incomplete."""
        rest, self._rest = self._rest, b""
        return [Rejected(self.device, rest, "incomplete frame at the end of input", now)] if rest else []

    def is_noise(self, data: bytes) -> bool:
        """Whether bytes between frames are worth setting aside (all of them, unless a protocol says otherwise)."""
        return True

    def frame(self, frame: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """What one whole frame says; :class:`FrameError` sets it aside with the reason."""
        raise NotImplementedError
