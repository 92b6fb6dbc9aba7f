"""Generated documents shaped like what devices send, with values mutated where parsers break.

A document is a tree of dicts, lists and scalars; :class:`Raw` leaves are written as they are, so a document can hold
what no encoder writes: ``1e400``, ``NaN``, a 5,000-digit integer, arrays nested 2,000 deep, a TOML date.
:func:`json_text` and :func:`toml_text` write a tree out. :func:`field` gives mostly the right kind of value and
sometimes a wild one, so most documents get past the first check and reach the code behind it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

__all__ = ["Raw", "epc_base64", "epc_hex", "field", "json_text", "numbers", "timestamps", "toml_text", "wild"]


class Raw(str):
    """A token written into the document as it is."""

    __slots__ = ()


def _nest(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


numbers = st.one_of(
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, 65535, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["1e400", "-1e400", "1E+99999", "1e-400", "NaN", "Infinity", "-Infinity", "-0", "1e18", "1e308"]
    ).map(Raw),
    st.integers(300, 6000).map(lambda n: Raw("9" * n)),
)
"""Numbers where arithmetic and conversions break: past 64 bits, past a float, non-finite, 4300+ digits."""

_offsets = st.integers(-1439, 1439).map(lambda m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}{abs(m) % 60:02d}")


def _iso(time: dt.datetime, offset: str, style: int) -> str:
    text = time.isoformat()
    return [text + offset, text + "Z", text, text + offset[:3] + ":" + offset[3:], text + "123Z"][style]


timestamps = st.one_of(
    st.builds(_iso, st.datetimes(), _offsets, st.integers(0, 4)),
    st.builds(_iso, st.sampled_from([dt.datetime.min, dt.datetime.max, dt.datetime(1970, 1, 1)]), _offsets,
              st.integers(0, 4)),
    st.sampled_from(["2021-04-12T20:20:48.366+0000", "2021-07-09T23:35:59.278427551Z", "9999-12-31T23:59:59-23:59",
                     "0001-01-01T00:00:00+23:59", "2021-02-30T00:00:00Z", "", "yesterday", "2021-04-12T25:00:00Z"]),
    st.text(max_size=30),
)  # fmt: skip
"""ISO 8601 times across the whole range, with offsets that push them past its ends, and strings that are none."""

epc_hex = st.one_of(
    st.text("0123456789ABCDEFabcdef", min_size=0, max_size=140),
    st.sampled_from(["3074257BF7194E4000001A85", "E2000020880F0219154015C1", "30", ""]),
)
epc_base64 = st.one_of(
    st.binary(max_size=70).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=20),
)


def wild(depth: int = 2) -> st.SearchStrategy[Any]:
    """Any value at all, a deep one sometimes."""
    scalars = st.one_of(st.none(), st.booleans(), numbers, timestamps, st.text(max_size=20))
    if depth == 0:
        return scalars
    inner = wild(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
        st.integers(1, 2500).map(_nest),
    )


def field(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes anything."""
    return st.one_of(good, good, good, wild(1))


def json_text(value: Any) -> str:
    """``value`` as JSON text (NaN, the infinities and huge integers as Python's json writes them)."""
    return _write(value, ":", ",", json.dumps)


def toml_text(table: dict[str, Any]) -> str:
    """A TOML document of ``table``: its keys as ``key = value`` lines, nested tables inline."""
    return "".join(f"{json.dumps(str(key))} = {_write(value, ' = ', ', ', _toml)}\n" for key, value in table.items())


def _write(value: Any, assign: str, comma: str, scalar: Callable[[Any], str]) -> str:
    if type(value) is Raw:
        return str(value)
    if isinstance(value, dict):
        pairs = (f"{json.dumps(str(k))}{assign}{_write(v, assign, comma, scalar)}" for k, v in value.items())
        return "{" + comma.join(pairs) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_write(v, assign, comma, scalar) for v in value) + "]"
    return scalar(value)


def _toml(value: Any) -> str:
    if value is None:
        return '""'  # TOML has no null
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is float and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return json.dumps(value)
