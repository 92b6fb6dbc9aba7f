"""Errors of the EPC identity codecs (GS1 EPC Tag Data Standard 2.x).

```
EpcError (ValueError)      anything the identity package refuses
├── MalformedEpc           not an EPC at all: bad hex, wrong length, URI or element string syntax
└── InvalidEpc             well-formed, but breaks a rule of the standard: reserved header, partition 7,
                           a field out of range, a character outside the GS1 set, non-zero reserved bits
```

A header we do not decode is not an error: `decode` returns an `UnsupportedEpc` result.
"""

from __future__ import annotations

__all__ = ["EpcError", "InvalidEpc", "MalformedEpc"]


class EpcError(ValueError):
    """Root of the identity package's errors; `reason` says why in a few words."""

    def __init__(self, reason: str, *, hex: str | None = None) -> None:
        super().__init__(reason if hex is None else f"{reason} (EPC {hex})")
        self.reason = reason
        self.hex = hex


class MalformedEpc(EpcError):
    """The input is not an EPC: bad hex digits, a wrong length, or a URI that does not parse."""


class InvalidEpc(EpcError):
    """The input parses but violates the Tag Data Standard (reserved header, partition 7, bad field)."""
