"""Impinj IoT device interface events: base64 EPCs, centi-dBm, lastSeenTime fallbacks, antenna and inventory events."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.mqtt.impinj_iot import ImpinjIotParser
from silentgw.drivers.observations import DeviceStatus, Rejected, TagRead
from tests.unit.drivers.mqtt import strategies

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)

# A tagInventory event as the R700 writes it with its default preset: base64 EPC, no epcHex (Impinj IoT interface).
TAG = (
    b'{"timestamp":"2021-07-09T23:35:59.278427551Z","hostname":"impinj-13-f8-f5","eventType":"tagInventory",'
    b'"tagInventoryEvent":{"epc":"4oARkKUCH4AFWBfK","antennaPort":1,"antennaName":"Antenna 1",'
    b'"peakRssiCdbm":-2650,"frequency":915250,"transmitPowerCdbm":3000,'
    b'"lastSeenTime":"2021-07-09T23:35:59.270000Z"}}'
)
# The same read with epcHex turned on, as in Impinj's Protected Mode example (HTTP stream output).
TAG_HEX = (
    b'{"timestamp":"2021-07-09T23:35:59.278427551Z","hostname":"impinj-13-f8-f5",'
    b'"tagInventoryEvent":{"epcHex":"E2801190A5021F80055817CA","antennaPort":1,"peakRssiCdbm":-2650,'
    b'"transmitPowerCdbm":3000}}'
)
EPC = "E2801190A5021F80055817CA"
LAST_SEEN = dt.datetime(2021, 7, 9, 23, 35, 59, 270000, tzinfo=dt.UTC)
STAMP = dt.datetime(2021, 7, 9, 23, 35, 59, 278427, tzinfo=dt.UTC)


def feed(payload: bytes) -> list[object]:
    return list(ImpinjIotParser("r700-1").feed(payload, NOW))


def test_the_base64_epc_is_decoded_and_centi_dbm_become_dbm() -> None:
    assert base64.b64decode("4oARkKUCH4AFWBfK").hex().upper() == EPC
    assert feed(TAG) == [TagRead(EPC, "r700-1", 1, -26.5, LAST_SEEN)]


def test_epc_hex_is_used_when_present_and_the_timestamp_stands_in_for_last_seen_time() -> None:
    assert feed(TAG_HEX) == [TagRead(EPC, "r700-1", 1, -26.5, STAMP)]


def test_without_any_time_the_read_is_stamped_now() -> None:
    [read] = feed(b'{"tagInventoryEvent":{"epc":"4oARkKUCH4AFWBfK","antennaPort":2}}')
    assert read == TagRead(EPC, "r700-1", 2, None, NOW)


def test_several_lines_in_one_message_are_each_read() -> None:
    out = feed(TAG + b"\n" + TAG_HEX + b"\r\n\n" + TAG + b"\n")
    assert [o.time for o in out if isinstance(o, TagRead)] == [LAST_SEEN, STAMP, LAST_SEEN]


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        (b'{"timestamp":"2021-07-09T23:36:00Z","eventType":"antennaConnected","antennaConnectedEvent":'
         b'{"antennaPort":2}}', "antenna 2 connected"),
        (b'{"timestamp":"2021-07-09T23:36:00Z","eventType":"antennaDisconnected","antennaDisconnectedEvent":'
         b'{"antennaPort":3}}', "antenna 3 disconnected"),
        (b'{"timestamp":"2021-07-09T23:36:00Z","eventType":"inventoryStatus","inventoryStatusEvent":'
         b'{"status":"running"}}', "inventory running"),
        (b'{"timestamp":"2021-07-09T23:36:00Z","eventType":"inventoryTerminated","inventoryTerminatedEvent":{}}',
         "inventory terminated"),
    ],
)  # fmt: skip
def test_antenna_and_inventory_events_are_heartbeats_naming_what_changed(payload: bytes, detail: str) -> None:
    assert feed(payload) == [
        DeviceStatus("r700-1", "heartbeat", dt.datetime(2021, 7, 9, 23, 36, tzinfo=dt.UTC), detail)
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{oops", "bad JSON"),
        (b"[1]", "not a JSON object"),
        (b'{"tagInventoryEvent":{"antennaPort":1}}', "without epc"),
        (b'{"tagInventoryEvent":{"epc":"!!notbase64","antennaPort":1}}', "EPC is not base64"),
        (b'{"tagInventoryEvent":{"epcHex":"E28G","antennaPort":1}}', "EPC is not hex"),
        (b'{"tagInventoryEvent":{"epc":"4oAR","antennaPort":"1"}}', "antennaPort is not an integer"),
        (b'{"tagInventoryEvent":{"epc":"4oAR","antennaPort":1,"peakRssiCdbm":"-26"}}', "peakRssiCdbm is not"),
        (b'{"tagInventoryEvent":{"epc":"4oAR","antennaPort":1,"lastSeenTime":12}}', "timestamp is not a string"),
        (b'{"antennaConnectedEvent":{}}', "without antennaPort"),
        (b'{"eventType":"overflow","overflowEvent":{}}', "overflow"),
        (b'{"eventType":"diagnostic","diagnosticEvent":{}}', "unsupported event type 'diagnostic'"),
        (b'{"hello":1}', "not an Impinj reader event"),
    ],
)
def test_bad_input_is_rejected_with_its_reason(payload: bytes, reason: str) -> None:
    [out] = feed(payload)
    assert isinstance(out, Rejected)
    assert reason in out.reason


def test_a_bad_line_does_not_lose_the_good_ones() -> None:
    out = feed(TAG + b"\n{broken\n" + TAG_HEX)
    assert [type(o).__name__ for o in out] == ["TagRead", "Rejected", "TagRead"]
    assert isinstance(out[1], Rejected)
    assert out[1].raw == b"{broken"


@given(st.binary(max_size=300))
def test_any_bytes_in_never_raise(data: bytes) -> None:
    ImpinjIotParser("r700").feed(data, NOW)


@given(strategies.payloads)
def test_any_json_in_never_raises(payload: bytes) -> None:
    ImpinjIotParser("r700").feed(payload, NOW)
