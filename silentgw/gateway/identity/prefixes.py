"""Known GS1 Company Prefixes, to find where the prefix ends inside a GS1 key (TDS 2.x section 7.1).

The "+" schemes of TDS 2.0 carry GS1 keys without the prefix length, so a pure identity URN can only be written
when the length is known from outside, e.g. from the catalog's list of suppliers' prefixes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["CompanyPrefixes"]

# EPC URNs can carry GS1 Company Prefixes of 6 to 12 digits (the partition tables of section 14.6).
_LENGTHS = range(12, 5, -1)


@dataclass(frozen=True, slots=True)
class CompanyPrefixes:
    """A set of known GS1 Company Prefixes that answers the prefix length for a key's digits."""

    prefixes: frozenset[str]

    @classmethod
    def of(cls, prefixes: Iterable[str]) -> CompanyPrefixes:
        """Build from prefixes as digit strings; anything not 6-12 digits is refused."""
        known = frozenset(prefixes)
        for prefix in known:
            if not (prefix.isdigit() and prefix.isascii() and 6 <= len(prefix) <= 12):
                raise ValueError(f"GS1 Company Prefix {prefix!r} must be 6 to 12 digits")
        return cls(known)

    def length_for(self, digits: str) -> int | None:
        """The length of the known prefix that `digits` starts with (the longest), or None."""
        for length in _LENGTHS:
            if digits[:length] in self.prefixes and len(digits) >= length:
                return length
        return None
