"""Zebra IoT Connector payloads: tag data events (single, glued, arrays), heartbeats, control responses, junk."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.base import CommandRefused
from silentgw.drivers.commands import Lock, SetPower
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcParser, ZebraIotcReader
from silentgw.drivers.observations import DeviceStatus, Rejected, TagRead
from tests.unit.drivers.mqtt import strategies

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)

# A SIMPLE tag data event as the IoT Connector writes it (field names from Zebra's ZIOTC documentation).
EVENT = (
    b'{"data":{"eventNum":1,"format":"epc","idHex":"e2000020880f0219154015c1","antenna":1,"peakRssi":-48,'
    b'"reads":1,"channel":917.25},"timestamp":"2021-04-12T20:20:48.366+0000","type":"SIMPLE"}'
)
EVENT_2 = (
    b'{"data":{"eventNum":2,"format":"epc","idHex":"3074257bf7194e4000001a85","antenna":3,"peakRssi":-61,'
    b'"reads":4},"timestamp":"2021-04-12T20:20:48.402+0000","type":"SIMPLE"}'
)
HEARTBEAT = (
    b'{"type":"heartbeat","timestamp":"2021-04-12T20:21:00.000+0000",'
    b'"data":{"radioConnection":"connected","system":{"cpu":{"system":8,"user":5}}}}'
)
T1 = dt.datetime(2021, 4, 12, 20, 20, 48, 366000, tzinfo=dt.UTC)
T2 = dt.datetime(2021, 4, 12, 20, 20, 48, 402000, tzinfo=dt.UTC)


def feed(payload: bytes) -> list[object]:
    return list(ZebraIotcParser("fx9600-1").feed(payload, NOW))


def test_a_tag_data_event_is_a_tag_read() -> None:
    assert feed(EVENT) == [TagRead("E2000020880F0219154015C1", "fx9600-1", 1, -48, T1, 1)]


def test_the_utc_offset_written_plus_0000_and_others_end_up_utc() -> None:
    [read] = feed(EVENT.replace(b"+0000", b"+0100"))
    assert isinstance(read, TagRead)
    assert read.time == T1 - dt.timedelta(hours=1)
    assert read.time.tzinfo is dt.UTC


def test_glued_events_with_no_delimiter_are_each_read() -> None:
    reads = feed(EVENT + EVENT_2 + b"\n" + EVENT)
    assert [(r.epc, r.antenna, r.time, r.reads) for r in reads if isinstance(r, TagRead)] == [
        ("E2000020880F0219154015C1", 1, T1, 1),
        ("3074257BF7194E4000001A85", 3, T2, 4),
        ("E2000020880F0219154015C1", 1, T1, 1),
    ]


def test_an_array_of_events_is_read() -> None:
    reads = feed(b"[" + EVENT + b"," + EVENT_2 + b"]")
    assert [r.epc for r in reads if isinstance(r, TagRead)] == ["E2000020880F0219154015C1", "3074257BF7194E4000001A85"]


def test_glued_events_ending_in_junk_keep_what_came_before() -> None:
    out = feed(EVENT + EVENT_2[:40])
    assert isinstance(out[0], TagRead)
    assert isinstance(out[1], Rejected)
    assert out[1].reason.startswith("bad JSON")


def test_a_heartbeat_is_a_device_status() -> None:
    assert feed(HEARTBEAT) == [DeviceStatus("fx9600-1", "heartbeat", dt.datetime(2021, 4, 12, 20, 21, tzinfo=dt.UTC))]


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        (b'{"command":"start","command_id":"a1b2","payload":{},"response":"success"}', "start (a1b2) succeeded"),
        (
            b'{"command":"stop","command_id":"c3","payload":{"message":"radio busy"},"response":"failure"}',
            "stop (c3) failed: radio busy",
        ),
    ],
)
def test_control_responses_say_how_the_command_went(response: bytes, detail: str) -> None:
    [status] = feed(response)
    assert isinstance(status, DeviceStatus)
    assert status.state == "heartbeat"
    assert status.detail.endswith(detail)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad JSON"),
        (b"", "empty payload"),
        (b"\xff\xfe", "not UTF-8"),
        (b"42", "not a JSON object"),
        (b'{"data":{"idHex":"e200"},"type":"SIMPLE"}', "tag event without antenna"),
        (b'{"data":{"idHex":"xyz","antenna":1},"type":"SIMPLE"}', "EPC is not hex"),
        (b'{"data":{"idHex":"e200","antenna":"1"},"type":"SIMPLE"}', "antenna is not an integer"),
        (b'{"data":{"idHex":"e200","antenna":1,"peakRssi":"loud"}}', "peakRssi is not a number"),
        (b'{"data":{"idHex":"e200","antenna":1,"reads":0}}', "reads is not a positive integer"),
        (b'{"data":{"idHex":"e200","antenna":1},"timestamp":"yesterday"}', "not an ISO 8601 time"),
        (b'{"type":"gpi","timestamp":"2021-04-12T20:21:00.000+0000","data":{"pin":1}}', "unsupported event type"),
        (b'{"hello":"world"}', "neither a tag event"),
    ],
)
def test_bad_input_is_rejected_with_its_reason(payload: bytes, reason: str) -> None:
    out = feed(payload)
    assert out, payload
    assert all(isinstance(r, Rejected) for r in out)
    assert isinstance(out[0], Rejected)
    assert reason in out[0].reason


def test_a_bad_event_in_an_array_does_not_lose_the_good_ones() -> None:
    out = feed(b"[" + EVENT + b',{"data":{"idHex":"e2"}},' + EVENT_2 + b"]")
    assert [type(o).__name__ for o in out] == ["TagRead", "Rejected", "TagRead"]
    assert isinstance(out[1], Rejected)
    assert orjson.loads(out[1].raw) == {"data": {"idHex": "e2"}}


def test_a_missing_timestamp_is_now_and_a_missing_rssi_is_none() -> None:
    [read] = feed(b'{"data":{"idHex":"e200","antenna":2},"type":"SIMPLE"}')
    assert read == TagRead("E200", "fx9600-1", 2, None, NOW)


@given(st.binary(max_size=300))
def test_any_bytes_in_never_raise(data: bytes) -> None:
    ZebraIotcParser("fx").feed(data, NOW)


@given(strategies.payloads)
def test_any_json_in_never_raises(payload: bytes) -> None:
    ZebraIotcParser("fx").feed(payload, NOW)


def test_settings_forbid_unknown_options_and_need_a_data_topic() -> None:
    with pytest.raises(ValueError, match="data_topic"):
        ZebraIotcReader.Settings.model_validate({})
    with pytest.raises(ValueError, match="colour"):
        ZebraIotcReader.Settings.model_validate({"data_topic": "z/d", "colour": "red"})


@pytest.mark.anyio
@pytest.mark.parametrize("command", [Lock(), SetPower(27.0)])
async def test_commands_a_zebra_reader_does_not_take_are_refused(command: Lock | SetPower) -> None:
    reader = ZebraIotcReader("fx", ZebraIotcReader.Settings(data_topic="z/d", control_topic="z/c"))
    with pytest.raises(CommandRefused):
        await reader.send(command)
