"""Generic JSON: a mapping of dotted paths to tag reads or sensor readings; display, lock and unlock commands."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from silentgw.drivers.base import CommandRefused, DeviceUnavailable
from silentgw.drivers.commands import DisplayText, StartReading
from silentgw.drivers.mqtt.generic_json import FieldMap, GenericJsonDevice, GenericJsonParser
from silentgw.drivers.observations import Rejected, SensorReading, TagRead
from tests.unit.drivers.mqtt import strategies

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
T = dt.datetime(2026, 11, 24, 8, 59, 58, 500000, tzinfo=dt.UTC)


def feed(payload: bytes, **fields: Any) -> list[object]:
    return list(GenericJsonParser("dev-1", FieldMap(**fields)).feed(payload, NOW))


def test_a_flat_tag_read_with_the_default_paths() -> None:
    out = feed(b'{"epc":"e2000020880f0219154015c1","antenna":2,"rssi":-55.5,"time":"2026-11-24T08:59:58.5Z"}')
    assert out == [TagRead("E2000020880F0219154015C1", "dev-1", 2, -55.5, T)]


def test_nested_paths_base64_epc_scaled_rssi_and_epoch_milliseconds() -> None:
    payload = b'{"reader":"x","reads":[{"tag":{"id":"4oARkKUCH4AFWBfK"},"ant":4,"rssi_cdbm":-6120,"ts":1795510798500}]}'
    out = feed(payload, items="reads", epc="tag.id", epc_encoding="base64", antenna="ant", rssi="rssi_cdbm",
               rssi_scale=0.01, time="ts", time_format="epoch_ms")  # fmt: skip
    assert out == [TagRead("E2801190A5021F80055817CA", "dev-1", 4, -61.2, T)]  # -6120 * 0.01 is exactly -61.2


def test_an_array_of_readings_epoch_seconds_and_the_default_antenna() -> None:
    out = feed(b'[{"epc":"AA","time":1795510798.5},{"epc":"BB"}]', antenna=None, default_antenna=7,
               time_format="epoch_s")  # fmt: skip
    assert out == [TagRead("AA", "dev-1", 7, None, T), TagRead("BB", "dev-1", 7, None, NOW)]


def test_a_strptime_format_is_read_as_utc() -> None:
    [read] = feed(b'{"epc":"AA","antenna":1,"time":"24/11/2026 08:59:58.500000"}', time_format="%d/%m/%Y %H:%M:%S.%f")
    assert isinstance(read, TagRead)
    assert read.time == T


def test_a_sensor_with_quantity_and_unit_from_the_payload() -> None:
    out = feed(b'{"m":{"q":"temperature","v":"4.5","u":"Cel"},"time":"2026-11-24T08:59:58.5+00:00"}',
               kind="sensor", quantity="m.q", value="m.v", unit="m.u")  # fmt: skip
    assert out == [SensorReading("dev-1", "temperature", 4.5, "Cel", T)]


def test_a_sensor_with_a_fixed_quantity_and_unit() -> None:
    out = feed(b'{"weight":12.25}', kind="sensor", fixed_quantity="weight", value="weight", fixed_unit="kg")
    assert out == [SensorReading("dev-1", "weight", 12.25, "kg", NOW)]


@pytest.mark.parametrize(
    ("payload", "fields", "reason"),
    [
        (b"{bad", {}, "bad JSON"),
        (b'{"antenna":1}', {}, "no epc in the reading"),
        (b'{"epc":"zz","antenna":1}', {}, "EPC is not hex"),
        (b'{"epc":"AA","antenna":1.5}', {}, "antenna is not an integer"),
        (b'{"epc":"AA","rssi":"strong"}', {}, "rssi is not a number"),
        (b'{"epc":"AA","time":"noon"}', {}, "not an ISO 8601 time"),
        (b'{"epc":"AA","time":"x"}', {"time_format": "epoch_ms"}, "time is not a number"),
        (b'{"epc":"AA","time":1e300}', {"time_format": "epoch_s"}, "out of range"),
        (b'{"other":[]}', {"items": "reads"}, "no reads in the payload"),
        (b'{"value":1}', {"kind": "sensor"}, "no quantity in the reading"),
        (b'{"value":1,"quantity":"t","unit":3}', {"kind": "sensor"}, "unit is not a printable string"),
    ],
)
def test_what_does_not_fit_the_mapping_is_rejected_with_why(
    payload: bytes, fields: dict[str, Any], reason: str
) -> None:
    out = feed(payload, **fields)
    assert out
    assert isinstance(out[0], Rejected)
    assert reason in out[0].reason


def test_mappings_that_cannot_work_are_refused_when_validated() -> None:
    with pytest.raises(ValidationError, match="quantity or fixed_quantity"):
        FieldMap(kind="sensor", quantity=None)
    with pytest.raises(ValidationError, match="time_format"):
        FieldMap(time_format="unix")


@given(st.binary(max_size=300))
def test_any_bytes_in_never_raise(data: bytes) -> None:
    GenericJsonParser("d", FieldMap()).feed(data, NOW)


@given(strategies.payloads, st.sampled_from([FieldMap(), FieldMap(kind="sensor"), FieldMap(items="items",
       epc_encoding="base64", time_format="epoch_ms"), FieldMap(time_format="%Y")]))  # fmt: skip
def test_any_json_in_never_raises(payload: bytes, fields: FieldMap) -> None:
    GenericJsonParser("d", fields).feed(payload, NOW)


@pytest.mark.parametrize(
    ("options", "topic"),
    [
        ({}, "silentgw/cmd/shelf-7"),
        ({"site": "store-12"}, "silentgw/store-12/cmd/shelf-7"),
        ({"command_topic": "displays/{device}/set"}, "displays/shelf-7/set"),
    ],
)
def test_the_command_topic_is_a_setting(options: dict[str, Any], topic: str) -> None:
    settings = GenericJsonDevice.Settings.model_validate({"topics": ["shelf/+/state"], **options})
    assert GenericJsonDevice("shelf-7", settings).command_topic() == topic


@pytest.mark.anyio
async def test_commands_are_refused_or_need_a_connection() -> None:
    device = GenericJsonDevice("shelf-7", GenericJsonDevice.Settings(topics=["t"]))
    with pytest.raises(CommandRefused):
        await device.send(StartReading())
    with pytest.raises(DeviceUnavailable):
        await device.send(DisplayText("Milk 1 l"))
