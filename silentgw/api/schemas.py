"""Shared request and response shapes: pages, slugs, the GS1 numbers people type, and the bounds a number or a time
must keep to fit the column it is stored in or compared with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from silentgw.gateway.identity import gs1

__all__ = ["INT32_MAX", "INT64_MAX", "AwareInstant", "Gtin", "Instant", "Out", "PageOut", "Price", "Seq", "Slug"]

T = TypeVar("T")

INT32_MAX = 2**31 - 1
"""The largest value of an ``Integer`` column (32-bit signed on PostgreSQL)."""
INT64_MAX = 2**63 - 1
"""The largest value of a ``BigInteger`` column, and of any integer SQLite takes."""

Seq = Annotated[int, Field(ge=0, le=INT64_MAX, description="An event's sequence number (its SSE id).")]
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, examples=["19.99"])]
"""A price as the catalog stores it (``Numeric(12, 2)``)."""


def _utc(value: dt.datetime) -> dt.datetime:
    # A time at the ends of the calendar in an offset may not exist in UTC, which is how every time is stored.
    if value.tzinfo is None:
        return value  # the route decides (most refuse a time without a zone)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("a time that is within the years 1 to 9999 in UTC") from None


Instant = Annotated[dt.datetime, AfterValidator(_utc)]
"""A time, in UTC if it has a zone."""
AwareInstant = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A time with a zone, in UTC."""

Slug = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
    Field(description="Lower-case letters, digits, dot, dash and underscore; at most 64.", examples=["backroom"]),
]


def _gtin14(value: str) -> str:
    # isascii too: str.isdigit() is also true of other scripts' digits and of superscripts
    if not (value.isascii() and value.isdigit()) or len(value) not in (8, 12, 13, 14):
        raise ValueError("a GTIN has 8, 12, 13 or 14 digits")
    gtin = value.zfill(14)
    expected = gs1.check_digit(gtin[:13])
    if gtin[13] != expected:
        raise ValueError(f"GTIN check digit should be {expected}")
    return gtin


Gtin = Annotated[
    str,
    AfterValidator(_gtin14),
    Field(
        description="A GTIN-8, -12, -13 or -14 with a valid check digit; stored as GTIN-14.",
        examples=["00614141812345"],
    ),
]


class Out(BaseModel):
    """Base of response bodies built from database rows."""

    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
