"""The shared payload helpers: glued JSON, timestamps to UTC, EPC encodings, dotted paths."""

from __future__ import annotations

import datetime as dt

import pytest

from silentgw.drivers.mqtt.payloads import IsoTimes, base64_epc, hex_epc, json_values, lookup, to_utc


@pytest.mark.parametrize(
    ("data", "values", "error"),
    [
        (b'{"a":1}', [{"a": 1}], None),
        (b'[{"a":1},{"b":2}]', [{"a": 1}, {"b": 2}], None),
        (b'{"a":1}{"b":2}', [{"a": 1}, {"b": 2}], None),
        (b'{"a":"}{"} \n {"b":2}', [{"a": "}{"}, {"b": 2}], None),
        (b'{"a":1}[{"b":2}]', [{"a": 1}, {"b": 2}], None),
        (b'{"a":1}{"b"', [{"a": 1}], "bad JSON"),
        (b"   ", [], "empty payload"),
    ],
)
def test_json_values(data: bytes, values: list[object], error: str | None) -> None:
    got, why = json_values(data)
    assert got == values
    assert (why is None) if error is None else (why is not None and why.startswith(error))


def test_iso_times_are_utc_and_the_last_one_is_remembered() -> None:
    times = IsoTimes()
    first = times.parse("2020-08-11T16:31:57.871+0000")
    assert first == dt.datetime(2020, 8, 11, 16, 31, 57, 871000, tzinfo=dt.UTC)
    assert times.parse("2020-08-11T16:31:57.871+0000") is first
    assert times.parse("2020-08-11T18:31:57+02:00").tzinfo is dt.UTC
    assert to_utc(dt.datetime(2020, 1, 1)) == dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="not a string"):
        times.parse(1597163517)


def test_epc_encodings() -> None:
    assert hex_epc("e200") == "E200"
    assert base64_epc("4gA=") == "E200"
    for bad in ("", "E2 00", None, 7):
        with pytest.raises(ValueError, match="not hex"):
            hex_epc(bad)
    with pytest.raises(ValueError, match="not base64"):
        base64_epc("4g@=")


def test_lookup_walks_objects_and_array_indexes() -> None:
    assert lookup({"a": {"b": [10, {"c": 3}]}}, ("a", "b", "1", "c")) == 3
    with pytest.raises(KeyError, match=r"a\.x"):
        lookup({"a": {}}, ("a", "x"))
