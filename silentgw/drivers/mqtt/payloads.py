"""Pure helpers the JSON dialects share: JSON values glued together, timestamps, EPC encodings, dotted paths.

Nothing here raises on bad input except with :class:`ValueError` (or ``KeyError``/``TypeError`` from a lookup),
which each parser turns into a :class:`~silentgw.drivers.observations.Rejected` with its reason.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

import orjson

__all__ = ["IsoTimes", "base64_epc", "hex_epc", "json_values", "lookup", "to_utc"]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
_HEX = re.compile(r"[0-9A-Fa-f]+")


def json_values(data: bytes) -> tuple[list[Any], str | None]:
    """The JSON values in ``data``: one value, an array's items, or several values glued with no delimiter.

    Zebra's IoT Connector sometimes writes ``{...}{...}`` into one message. The common case (one document) costs one
    ``orjson.loads``; only a payload orjson refuses is scanned value by value. Returns the values read and, when the
    payload ends in something that is not JSON, why (the values before it are kept).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
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
        if type(value) is list:
            values.extend(value)
        else:
            values.append(value)
    if not values:
        return [], "empty payload"
    return values, None


def to_utc(time: dt.datetime) -> dt.datetime:
    """``time`` in UTC; a time without an offset is taken to be UTC already (what readers without a zone mean)."""
    if time.tzinfo is None:
        return time.replace(tzinfo=dt.UTC)
    if time.tzinfo is dt.UTC:
        return time
    return time.astimezone(dt.UTC)


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
            raise ValueError(f"timestamp is not a string: {text!r}")
        time = to_utc(dt.datetime.fromisoformat(text))  # 3.11 reads +0000, Z and nine fraction digits
        self._text, self._time = text, time
        return time


def hex_epc(value: object) -> str:
    """An EPC given as hex, upper-cased; ValueError unless it is a non-empty string of hex digits."""
    if type(value) is not str or not _HEX.fullmatch(value):
        raise ValueError(f"EPC is not hex: {value!r}")
    return value.upper()


def base64_epc(value: object) -> str:
    """An EPC given as base64 (the Impinj default), as upper-case hex."""
    if type(value) is not str or not value:
        raise ValueError(f"EPC is not base64: {value!r}")
    try:
        return base64.b64decode(value, validate=True).hex().upper()
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"EPC is not base64: {value!r}") from exc


def lookup(value: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path already split (``("data", "idHex")``); KeyError naming the path when absent."""
    for key in path:
        if type(value) is dict and key in value:
            value = value[key]
        elif type(value) is list and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise KeyError(".".join(path))
    return value
