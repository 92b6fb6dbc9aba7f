"""silentgw: a silent-commerce inventory gateway (RFID readers and sensors in; stock, members and events out)."""

from __future__ import annotations

__version__ = "0.1.0"
