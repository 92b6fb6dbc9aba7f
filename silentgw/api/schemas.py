"""Shared request and response shapes: pages, slugs, and the GS1 numbers people type."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from silentgw.gateway.identity import gs1

__all__ = ["Gtin", "Out", "PageOut", "Slug"]

T = TypeVar("T")

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
