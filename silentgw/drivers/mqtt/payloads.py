"""Pure helpers the JSON dialects share: JSON values glued together, timestamps, EPC encodings, dotted paths, bounds.

Nothing here raises on bad input except with :class:`ValueError` (or ``KeyError`` from a lookup), which each parser
turns into a :class:`~silentgw.drivers.observations.Rejected` with its reason. The bounds keep what a parser hands
the core inside what the core and the store can hold: a value past one is a corrupt field, set aside with its reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
import sys
from typing import Any

import orjson

from silentgw.drivers.observations import Rejected

__all__ = [
    "MAX_ANTENNA",
    "MAX_EPC_DIGITS",
    "MAX_READS",
    "RAW_PREFIX",
    "IsoTimes",
    "base64_epc",
    "count",
    "epoch_time",
    "hex_epc",
    "json_values",
    "label",
    "lookup",
    "oversized",
    "port",
    "raw_json",
    "rssi_dbm",
    "shown",
    "to_utc",
]

MAX_ANTENNA = 0xFFFF
"""Antenna ports are 16-bit on every reader protocol (LLRP's AntennaID is an unsigned short)."""
MAX_READS = 2**31 - 1
"""A read count past a 32-bit integer is a corrupt field, not a busy tag."""
MAX_EPC_DIGITS = 124
"""An EPC is at most 31 words (496 bits): the length field of the Gen2 PC word has five bits."""
_RSSI_BOUND = 200.0
"""dBm either side of zero no radio receives at; past it (NaN and the infinities included) a field is corrupt."""
RAW_PREFIX = 1024
"""Bytes of an oversized payload a reject keeps: enough to see what it was, never the whole 10 MB."""

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
_HEX = re.compile(r"[0-9A-Fa-f]+")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_FIRST = (dt.datetime.min.replace(tzinfo=dt.UTC) - _EPOCH).total_seconds()
_LAST = (dt.datetime.max.replace(tzinfo=dt.UTC) - _EPOCH).total_seconds()


def json_values(data: bytes) -> tuple[list[Any], str | None]:
    """The JSON values in ``data``: one value, an array's items, or several values glued with no delimiter.

    Zebra's IoT Connector sometimes writes ``{...}{...}`` into one message. The common case (one document) costs one
    ``orjson.loads``; only a payload orjson refuses is scanned value by value. Returns the values read and, when the
    payload ends in something that is not JSON, why (the values before it are kept).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):  # orjson's limit: stdlib json would recurse to the interpreter's, and beyond
            return [], f"bad JSON: nested too deep ({exc})"
    else:
        return (value if type(value) is list else [value]), None
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        return [], f"not UTF-8: {exc.reason} at byte {exc.start}"
    values: list[Any] = []
    i, end = 0, len(text)
    while True:
        while i < end and text[i] in _WHITESPACE:
            i += 1
        if i == end:
            break
        try:
            value, i = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            return values, f"bad JSON: {exc.msg} at character {exc.pos}"
        except ValueError:  # an integer of more digits than int() converts (sys.get_int_max_str_digits)
            return values, f"bad JSON: a number of more than {sys.get_int_max_str_digits()} digits"
        except RecursionError:
            return values, "bad JSON: nested too deep"
        if type(value) is list:
            values.extend(value)
        else:
            values.append(value)
    if not values:
        return [], "empty payload"
    return values, None


def oversized(device: str, data: bytes, bound: int, now: dt.datetime) -> Rejected | None:
    """A reject for a payload longer than ``bound`` bytes (keeping only its first bytes), else None."""
    if len(data) <= bound:
        return None
    return Rejected(device, data[:RAW_PREFIX], f"payload of {len(data)} bytes is over the bound of {bound}", now)


def to_utc(time: dt.datetime) -> dt.datetime:
    """``time`` in UTC; a time without an offset is taken to be UTC already (what readers without a zone mean).

    ValueError when UTC is outside the years 1-9999 (``9999-12-31T23:00:00-02:00``).
    """
    if time.tzinfo is None:
        return time.replace(tzinfo=dt.UTC)
    if time.tzinfo is dt.UTC:
        return time
    try:
        return time.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{time.isoformat()} is outside the years 1-9999 in UTC") from None


def epoch_time(seconds: float) -> dt.datetime:
    """The UTC time ``seconds`` after 1970; ValueError when it is not a finite time within the years 1-9999."""
    if not _FIRST <= seconds <= _LAST:  # NaN fails this too
        raise ValueError(f"time {seconds!r} s since 1970 is out of range (years 1-9999)")
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:  # rounded to the microsecond past 9999-12-31T23:59:59.999999
        raise ValueError(f"time {seconds!r} s since 1970 is out of range (years 1-9999)") from None


class IsoTimes:
    """Parses ISO 8601 timestamps to UTC, remembering the last one: a batch of fifty reads repeats it."""

    __slots__ = ("_text", "_time")

    def __init__(self) -> None:
        self._text = ""
        self._time = dt.datetime.min.replace(tzinfo=dt.UTC)

    def parse(self, text: object) -> dt.datetime:
        """The UTC time ``text`` names (``2020-08-11T16:31:57.871+0000``, nanoseconds allowed); ValueError if none."""
        if text == self._text:
            return self._time
        if type(text) is not str:
            raise ValueError(f"timestamp is not a string: {shown(text)}")
        try:
            parsed = dt.datetime.fromisoformat(text)  # 3.11 reads +0000, Z and nine fraction digits
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {shown(text)}") from None
        time = to_utc(parsed)
        self._text, self._time = text, time
        return time


def hex_epc(value: object) -> str:
    """An EPC given as hex, upper-cased; ValueError unless it is a string of 1-124 hex digits."""
    if type(value) is not str or not _HEX.fullmatch(value):
        raise ValueError(f"EPC is not hex: {shown(value)}")
    if len(value) > MAX_EPC_DIGITS:
        raise ValueError(f"EPC of {len(value)} hex digits: an EPC has at most {MAX_EPC_DIGITS}")
    return value.upper()


def base64_epc(value: object) -> str:
    """An EPC given as base64 (the Impinj default), as upper-case hex."""
    if type(value) is not str or not value:
        raise ValueError(f"EPC is not base64: {shown(value)}")
    try:
        return hex_epc(base64.b64decode(value, validate=True).hex())
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"EPC is not base64 of 1-62 bytes: {shown(value)}") from exc


def port(value: object, name: str = "antenna") -> int:
    """``value`` as an antenna port; ValueError unless it is an integer 0-65535."""
    if type(value) is not int or not 0 <= value <= MAX_ANTENNA:
        raise ValueError(f"{name} is not an integer 0-{MAX_ANTENNA}: {shown(value)}")
    return value


def count(value: object, name: str = "reads") -> int:
    """``value`` as a read count; ValueError unless it is an integer 1-2,147,483,647."""
    if type(value) is not int or not 1 <= value <= MAX_READS:
        raise ValueError(f"{name} is not a positive integer up to {MAX_READS}: {shown(value)}")
    return value


def rssi_dbm(value: object, name: str = "rssi", *, per_dbm: int = 1) -> float:
    """``value`` as a signal strength in dBm (``per_dbm`` 100: given in centi-dBm); ValueError unless within ±200."""
    if type(value) is not int and type(value) is not float:
        raise ValueError(f"{name} is not a number: {shown(value)}")
    try:
        dbm = value / per_dbm
    except OverflowError:  # an integer past a float's range
        dbm = math.inf
    if not -_RSSI_BOUND <= dbm <= _RSSI_BOUND:  # NaN fails this too
        raise ValueError(f"{name} {shown(value)} is not a signal strength (±{_RSSI_BOUND:.0f} dBm)")
    return dbm


def lookup(value: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path already split (``("data", "idHex")``); KeyError naming the path when absent."""
    for key in path:
        if type(value) is dict and key in value:
            value = value[key]
        elif type(value) is list and key.isdecimal() and key.isascii() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise KeyError(".".join(path))
    return value


def shown(value: object) -> str:
    """``value`` as a reason quotes it: short whatever it is (a huge number or a deep array is not a reason)."""
    if type(value) is dict:
        return "an object"
    if type(value) is list:
        return "an array"
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def label(value: object) -> str:
    """A name or message from a device for a status detail: a short string as it is, anything else as shown."""
    return value if type(value) is str and len(value) <= 200 and value.isprintable() else shown(value)


def raw_json(value: Any) -> bytes:
    """``value`` written back as JSON, for a reject's ``raw`` (stdlib json for what orjson will not write)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, or nested deeper than orjson writes
        pass
    try:
        return json.dumps(value).encode()
    except (ValueError, RecursionError):
        return f"(a JSON {type(value).__name__} too deep or too large to write back)".encode()
