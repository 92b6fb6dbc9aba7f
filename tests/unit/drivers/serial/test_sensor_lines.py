"""Sensor lines: key=value and JSON lines, the key mapping and its defaults, and every way a line is set aside."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.observations import Rejected, SensorReading
from silentgw.drivers.serial.sensor_lines import (
    DEFAULT_KEYS,
    KeyMapping,
    LineError,
    SensorLinesDevice,
    SensorLinesParser,
    parse_line,
)

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def reading(quantity: str, value: float, unit: str) -> SensorReading:
    return SensorReading("fridge-1", quantity, value, unit, T0)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("temp=4.2 hum=61.0", [("temperature", 4.2, "°C"), ("humidity", 61.0, "%")]),
        ("t=4.2,h=61", [("temperature", 4.2, "°C"), ("humidity", 61.0, "%")]),
        ("T=-18.5; RH=40", [("temperature", -18.5, "°C"), ("humidity", 40.0, "%")]),
        ("weight=1250", [("weight", 1250.0, "g")]),
        ("weight=1.25kg", [("weight", 1.25, "kg")]),
        ("weight_kg=1.25", [("weight", 1.25, "kg")]),
        ("door=open", [("door", 1.0, "")]),
        ("door=CLOSED", [("door", 0.0, "")]),
        ("temp=39.2F", [("temperature", 39.2, "°F")]),
        ("pressure=1013.2 id=7", [("pressure", 1013.2, "")]),  # unknown numbers by their own name, ids passed over
        ("co2=415ppm label=kitchen", [("co2", 415.0, "ppm")]),
        ("  temp=4  ", [("temperature", 4.0, "°C")]),
    ],
)
def test_key_value_lines(line: str, expected: list[tuple[str, float, str]]) -> None:
    assert parse_line(line, format="key=value", keys=DEFAULT_KEYS) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"temperature": 4.2, "unit": "C"}', [("temperature", 4.2, "°C")]),
        ('{"temp": 4.2, "hum": 55}', [("temperature", 4.2, "°C"), ("humidity", 55.0, "%")]),
        ('{"door": "open", "sensor": "cold-room"}', [("door", 1.0, "")]),
        ('{"door": false}', [("door", 0.0, "")]),
        ('{"weight": "2.5kg", "ts": 1732438800}', [("weight", 2.5, "kg")]),
        ('{"lux": 300, "tags": [1, 2]}', [("lux", 300.0, "")]),
    ],
)
def test_json_lines(line: str, expected: list[tuple[str, float, str]]) -> None:
    assert parse_line(line, format="json", keys=DEFAULT_KEYS) == expected


@pytest.mark.parametrize(
    ("line", "format", "reason"),
    [
        ("hello world", "key=value", "'hello' is not key=value"),
        ("temp=", "key=value", "not key=value"),
        ("temp=warm", "key=value", "'temp': 'warm' is not a number"),
        ("temp=nan", "key=value", "not a finite number"),
        ("label=kitchen", "key=value", "no readings"),
        ("{temp: 4}", "json", "not JSON"),
        ("[4.2]", "json", "not a JSON object"),
        ('{"temp": null}', "json", "'temp': None is not a number"),
        ('{"temp": 1e999}', "json", "not a finite number"),
        ("{}", "json", "no readings"),
    ],
)
def test_lines_without_readings_say_why(line: str, format: str, reason: str) -> None:
    with pytest.raises(LineError, match=reason):
        parse_line(line, format=format, keys=DEFAULT_KEYS)  # type: ignore[arg-type]


def test_a_mapping_with_scale_and_states() -> None:
    keys = {
        "raw": KeyMapping(quantity="weight", unit="g", scale=0.5),
        "lid": KeyMapping(quantity="door", states={"up": 1, "down": 0}),
    }
    assert parse_line("raw=2000 lid=up", format="key=value", keys=keys) == [("weight", 1000.0, "g"), ("door", 1.0, "")]


def test_settings_add_keys_to_the_defaults_or_replace_them() -> None:
    settings = SensorLinesDevice.Settings.model_validate(
        {"url": "loop://", "keys": {"t": {"quantity": "temperature", "unit": "°F"}, "lux": {"quantity": "light"}}}
    )
    parser = SensorLinesDevice.parser("fridge-1", settings)
    assert parser.feed(b"t=40 hum=50 lux=3\n", T0) == [
        reading("temperature", 40, "°F"),
        reading("humidity", 50, "%"),
        reading("light", 3, ""),
    ]
    bare = SensorLinesDevice.Settings(url="loop://", default_keys=False, keys={"lux": KeyMapping(quantity="light")})
    assert SensorLinesDevice.parser("fridge-1", bare).feed(b"hum=50\n", T0) == [reading("hum", 50, "")]
    with pytest.raises(ValueError, match="extra"):
        SensorLinesDevice.Settings.model_validate({"url": "loop://", "keys": {"t": {"quantity": "t", "colour": 1}}})


def test_lines_end_in_lf_or_crlf_and_may_come_in_pieces() -> None:
    parser = SensorLinesParser("fridge-1")
    assert parser.feed(b"temp=4.", T0) == []
    assert parser.feed(b"2\r\nhum=6", T0) == [reading("temperature", 4.2, "°C")]
    assert parser.feed(b"1\n\r\n\n", T0) == [reading("humidity", 61, "%")]


def test_bad_lines_are_rejected_with_their_bytes() -> None:
    parser = SensorLinesParser("fridge-1")
    out = parser.feed(b"temp=\xff\xfe\r\nhello\ntemp=5\n", T0)
    assert out[0] == Rejected("fridge-1", b"temp=\xff\xfe", "not UTF-8: invalid start byte at byte 5", T0)
    assert out[1] == Rejected("fridge-1", b"hello", "'hello' is not key=value", T0)
    assert out[2] == reading("temperature", 5, "°C")


def test_a_line_too_long_is_rejected_once_and_the_next_line_is_read() -> None:
    parser = SensorLinesParser("fridge-1", max_line=32)
    out = parser.feed(b"x" * 40, T0)
    assert out == [Rejected("fridge-1", b"x" * 32, "line longer than 32 bytes", T0)]
    assert parser.feed(b"y" * 100, T0) == []  # the same line going on
    assert parser.feed(b"yyy\ntemp=3\n", T0) == [reading("temperature", 3, "°C")]
    long_whole = parser.feed(b"temp=" + b"1" * 40 + b"\n", T0)
    assert [r.reason for r in long_whole if isinstance(r, Rejected)] == ["line longer than 32 bytes"]


def test_flush_rejects_a_line_without_its_newline() -> None:
    parser = SensorLinesParser("fridge-1")
    parser.feed(b"temp=4", T0)
    assert parser.flush(T0) == [Rejected("fridge-1", b"temp=4", "incomplete line at the end of input", T0)]


@pytest.mark.parametrize("format", ["key=value", "json"])
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_any_bytes_in_any_chunking_never_raise(format: str, data: bytes, cuts: list[int]) -> None:
    parser = SensorLinesParser("fridge-1", format=format, max_line=64)  # type: ignore[arg-type]
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        for item in parser.feed(data[a:b], T0):
            assert isinstance(item, SensorReading | Rejected)
    parser.flush(T0)


@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=20),
    cuts=st.lists(st.integers(0, 800), max_size=10),
)
def test_every_line_in_any_chunking_is_read(values: list[float], cuts: list[int]) -> None:
    stream = b"".join(f"temp={v!r}\r\n".encode() for v in values)
    parser = SensorLinesParser("fridge-1")
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    out = [o for a, b in itertools.pairwise(bounds) for o in parser.feed(stream[a:b], T0)]
    assert [o.value for o in out if isinstance(o, SensorReading)] == values


@pytest.mark.parametrize(
    ("line", "form", "reason"),
    [
        # a 400-digit integer: float() raised OverflowError out of feed
        ('{"temp": ' + "9" * 400 + "}", "json", "integer of 1329 bits is not a finite number"),
        # arrays nested past the interpreter's recursion limit: RecursionError out of feed
        ('{"temp": ' + "[" * 5000 + "]" * 5000 + "}", "json", "nested too deep"),
        # a scale that takes a reading past a float: inf went on to the core
        ("co2=1e300", "key=value", "inf is not a finite number"),
        # names a sensor table cannot hold: a control character, 80 characters, nothing at all
        ('{"\\f": 1}', "json", "is not printable text"),
        ("k" * 80 + "=1", "key=value", "is not printable text of up to 64"),
        ('{"": 1}', "json", "a value without a key"),
    ],
)
def test_values_and_names_the_core_cannot_hold_are_rejected(line: str, form: str, reason: str) -> None:
    keys = {**DEFAULT_KEYS, "co2": KeyMapping(quantity="co2", unit="ppm", scale=1e10)}
    parser = SensorLinesParser("th-1", format=form, keys=keys, max_line=65536)  # type: ignore[arg-type]
    [rejected] = parser.feed(line.encode() + b"\n", T0)
    assert isinstance(rejected, Rejected)
    assert reason in rejected.reason
    assert len(rejected.reason) < 200
    good = b'{"temp": 4.5}\n' if form == "json" else b"temp=4.5\n"
    assert parser.feed(good, T0) == [SensorReading("th-1", "temperature", 4.5, "°C", T0)]
