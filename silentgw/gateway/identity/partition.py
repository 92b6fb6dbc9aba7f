"""Partition tables of the GCP-partitioned EPC binary schemes (TDS 2.x section 14.6).

The 3-bit partition value says how many bits and digits the GS1 Company Prefix takes and how many are left for
the next field (item reference, serial reference, location reference, asset type or asset reference). Value 7 is
unassigned in every table. Sources: Tables 14-16 (SGTIN), 14-7 (SSCC), 14-10 (SGLN), 14-19 (GRAI), 14-23 (GIAI-96)
and the GIAI-202 table of section 14.6.5.2.
"""

from __future__ import annotations

from typing import NamedTuple

from silentgw.gateway.identity.errors import InvalidEpc

__all__ = ["GIAI96", "GIAI202", "GRAI", "SGLN", "SGTIN", "SSCC", "Partition", "PartitionTable"]


class Partition(NamedTuple):
    """One row: prefix bits/digits, then the other field's bits and digits (max characters for strings)."""

    value: int
    prefix_bits: int
    prefix_digits: int
    other_bits: int
    other_digits: int


class PartitionTable:
    """A partition table, looked up by partition value (decoding) or by prefix length (encoding)."""

    __slots__ = ("_by_digits", "name", "rows")

    def __init__(self, name: str, rows: list[tuple[int, int, int, int]]) -> None:
        self.name = name
        self.rows = tuple(Partition(value, *row) for value, row in enumerate(rows))
        self._by_digits = {row.prefix_digits: row for row in self.rows}

    def by_value(self, value: int) -> Partition:
        """The row for a decoded partition value; 7 (and anything else) is refused."""
        if 0 <= value < len(self.rows):
            return self.rows[value]
        raise InvalidEpc(f"partition value {value} is not assigned in the {self.name} partition table")

    def by_prefix_length(self, digits: int) -> Partition:
        """The row for a GS1 Company Prefix of `digits` digits (6 to 12)."""
        try:
            return self._by_digits[digits]
        except KeyError:
            raise InvalidEpc(f"a {digits}-digit GS1 Company Prefix cannot be encoded (6 to 12 digits)") from None


#                    (prefix bits, prefix digits, other bits, other digits), for partition values 0..6
SGTIN = PartitionTable(
    "SGTIN",
    [(40, 12, 4, 1), (37, 11, 7, 2), (34, 10, 10, 3), (30, 9, 14, 4), (27, 8, 17, 5), (24, 7, 20, 6), (20, 6, 24, 7)],
)
SSCC = PartitionTable(
    "SSCC",
    [
        (40, 12, 18, 5),
        (37, 11, 21, 6),
        (34, 10, 24, 7),
        (30, 9, 28, 8),
        (27, 8, 31, 9),
        (24, 7, 34, 10),
        (20, 6, 38, 11),
    ],
)
SGLN = PartitionTable(
    "SGLN",
    [(40, 12, 1, 0), (37, 11, 4, 1), (34, 10, 7, 2), (30, 9, 11, 3), (27, 8, 14, 4), (24, 7, 17, 5), (20, 6, 21, 6)],
)
GRAI = PartitionTable(
    "GRAI",
    [(40, 12, 4, 0), (37, 11, 7, 1), (34, 10, 10, 2), (30, 9, 14, 3), (27, 8, 17, 4), (24, 7, 20, 5), (20, 6, 24, 6)],
)
# GIAI-96: other_digits is the maximum digit count of the (unpadded) asset reference.
GIAI96 = PartitionTable(
    "GIAI-96",
    [
        (40, 12, 42, 13),
        (37, 11, 45, 14),
        (34, 10, 48, 15),
        (30, 9, 52, 16),
        (27, 8, 55, 17),
        (24, 7, 58, 18),
        (20, 6, 62, 19),
    ],
)
# GIAI-202: other_digits is the maximum number of characters of the asset reference.
GIAI202 = PartitionTable(
    "GIAI-202",
    [
        (40, 12, 148, 18),
        (37, 11, 151, 19),
        (34, 10, 154, 20),
        (30, 9, 158, 21),
        (27, 8, 161, 22),
        (24, 7, 164, 23),
        (20, 6, 168, 24),
    ],
)
