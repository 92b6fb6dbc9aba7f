"""What the byte-framed serial protocols share: finding frames between their start byte and their end, and the noise.

A protocol says how long the frame starting at an offset is (:data:`Measure`); :func:`scan` does the rest: the
search for the start byte, noise between frames kept in order as :class:`Noise`, a partial frame at the end kept for
the next chunk. Pure: bytes in, values out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

__all__ = ["FrameError", "Measure", "Noise", "scan"]


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
