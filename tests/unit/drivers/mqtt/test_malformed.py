"""One malformed message is set aside with its reason, and the reads in the same burst still come through.

Each case here raised out of ``feed`` before (and so ended the driver's run and lost the messages buffered behind it):
a timestamp whose UTC is past the ends of the date range, JSON nested deeper than the interpreter recurses, epoch
seconds past what the platform's ``time_t`` holds, integers of more digits than ``int()`` converts.
"""

from __future__ import annotations

import datetime as dt

import pytest

from silentgw.drivers.dialect import Parser
from silentgw.drivers.mqtt.generic_json import FieldMap, GenericJsonDevice, GenericJsonParser
from silentgw.drivers.mqtt.impinj_iot import ImpinjIotParser, ImpinjIotReader
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcParser, ZebraIotcReader
from silentgw.drivers.observations import Rejected, TagRead

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
DEEP = b"[" * 30_000 + b"]" * 30_000
HUGE = b"9" * 5000

ZEBRA_GOOD = b'{"data":{"idHex":"3074257bf7194e4000001a85","antenna":1},"timestamp":"2021-04-12T20:20:48.366+0000"}'
IMPINJ_GOOD = b'{"tagInventoryEvent":{"epcHex":"3074257BF7194E4000001A85","antennaPort":1}}'
GENERIC_GOOD = b'{"epc":"3074257bf7194e4000001a85","time":"2021-04-12T20:20:48.366Z"}'


def zebra() -> Parser:
    return ZebraIotcParser("fx9600-1")


def impinj() -> Parser:
    return ImpinjIotParser("r700-1")


def generic(time_format: str = "iso") -> Parser:
    return GenericJsonParser("dev-1", FieldMap(time_format=time_format))


@pytest.mark.parametrize(
    ("make", "bad", "good", "reason"),
    [
        # timestamps whose UTC falls outside the years 1-9999: OverflowError in payloads.to_utc
        (zebra, b'{"data":{"idHex":"30","antenna":1},"timestamp":"9999-12-31T23:59:59-01:00"}', ZEBRA_GOOD,
         "outside the years 1-9999"),
        (zebra, b'{"type":"heartbeat","timestamp":"0001-01-01T00:00:00+01:00"}', ZEBRA_GOOD, "bad timestamp"),
        (impinj, b'{"tagInventoryEvent":{"epcHex":"30","antennaPort":1},"timestamp":"9999-12-31T23:00:00-02:00"}',
         IMPINJ_GOOD, "outside the years 1-9999"),
        (generic, b'{"epc":"30","time":"9999-12-31T23:59:59.999-00:01"}', GENERIC_GOOD, "outside the years 1-9999"),
        # JSON nested past the interpreter's recursion limit: RecursionError in the glued-values scanner
        (zebra, DEEP, ZEBRA_GOOD, "nested too deep"),
        (generic, DEEP, GENERIC_GOOD, "nested too deep"),
        (zebra, b"{}" + DEEP, ZEBRA_GOOD, "nested too deep"),
        # an integer of more digits than int() converts: ValueError outside the JSON error the scanner caught
        (zebra, b'{}{"data":{"idHex":"30","antenna":' + HUGE + b"}}", ZEBRA_GOOD, "more than 4300 digits"),
        (generic, b'{}{"epc":"30","antenna":' + HUGE + b"}", GENERIC_GOOD, "more than 4300 digits"),
    ],
)  # fmt: skip
def test_a_malformed_message_is_rejected_and_the_next_one_still_read(
    make: type[Parser], bad: bytes, good: bytes, reason: str
) -> None:
    parser = make()
    rejected = parser.feed(bad, NOW)
    assert rejected
    assert isinstance(rejected[-1], Rejected)
    assert reason in rejected[-1].reason
    [read] = parser.feed(good, NOW)
    assert isinstance(read, TagRead)


@pytest.mark.parametrize("seconds", [b"1e18", b"-1e18", b"253402300800", b'"1e18"', b"9" * 400])
def test_epoch_seconds_past_the_date_range_are_rejected(seconds: bytes) -> None:
    """``1e18`` raised OSError (the platform's time_t), a 400-digit integer OverflowError (float conversion)."""
    parser = generic("epoch_s")
    payload = b"{}" if len(seconds) > 300 else b""  # glued: the stdlib scanner reads integers orjson refuses
    out = parser.feed(payload + b'{"epc":"30","time":' + seconds + b"}", NOW)
    assert isinstance(out[-1], Rejected)
    assert "time" in out[-1].reason
    [read] = parser.feed(b'{"epc":"3074257bf7194e4000001a85","time":1618258848}', NOW)
    assert read == TagRead(
        "3074257BF7194E4000001A85", "dev-1", 1, None, dt.datetime(2021, 4, 12, 20, 20, 48, tzinfo=dt.UTC)
    )


@pytest.mark.parametrize(
    ("make", "payload", "reason"),
    [
        # values the core and the store cannot hold: a 70-bit antenna, NaN or 1e306 dBm, a 400-bit read count
        (zebra, b'{}{"data":{"idHex":"30","antenna":' + b"9" * 21 + b"}}", "antenna is not an integer 0-65535"),
        (zebra, b'{}{"data":{"idHex":"30","antenna":1,"peakRssi":NaN}}', "peakRssi"),
        (zebra, b'{"data":{"idHex":"30","antenna":1,"reads":' + b"9" * 19 + b"}}", "reads is not a positive"),
        (zebra, b'{"data":{"idHex":"' + b"3" * 126 + b'","antenna":1}}', "at most 124"),
        (impinj, b'{"tagInventoryEvent":{"epcHex":"30","antennaPort":1,"peakRssiCdbm":1e308}}', "peakRssiCdbm"),
        (impinj, b'{"antennaConnectedEvent":{"antennaPort":-1}}', "antennaPort is not an integer 0-65535"),
        (generic, b'{"epc":"30","rssi":"-Infinity"}', "rssi is not a number"),
    ],
)
def test_values_past_their_bounds_are_rejected_with_the_field(make: type[Parser], payload: bytes, reason: str) -> None:
    out = make().feed(payload, NOW)
    assert isinstance(out[-1], Rejected)
    assert reason in out[-1].reason
    assert len(out[-1].reason) < 200


def test_a_reason_quotes_a_value_briefly() -> None:
    """A reject's reason names the bad value, never whole: not a 100 KB string nor a deep array written out."""
    out = zebra().feed(b'{"data":{"idHex":"' + b"x" * 100_000 + b'","antenna":1}}', NOW)
    assert isinstance(out[0], Rejected)
    assert out[0].reason.startswith("tag event: EPC is not hex: 'xxx")
    assert len(out[0].reason) < 100
    [status] = impinj().feed(b'{"inventoryStatusEvent":{"status":' + b"[" * 1000 + b"]" * 1000 + b"}}", NOW)
    assert status.detail == "inventory an array"  # type: ignore[union-attr]  # a DeviceStatus


@pytest.mark.parametrize(
    ("make", "settings", "bound"),
    [
        (ZebraIotcReader.parser, ZebraIotcReader.Settings(data_topic="z/d"), 256 * 1024),
        (ImpinjIotReader.parser, ImpinjIotReader.Settings(event_topic="i/e"), 256 * 1024),
        (GenericJsonDevice.parser, GenericJsonDevice.Settings(topics=["g/#"]), 64 * 1024),
    ],
)
def test_a_payload_over_the_dialects_bound_is_rejected_unread(make: object, settings: object, bound: int) -> None:
    """Ten megabytes of junk cost a comparison, and the reject keeps a kilobyte of them, not all ten."""
    parser = make("dev", settings)  # type: ignore[operator]
    junk = b"[" + b"1," * 5_000_000 + b"1]"
    [rejected] = parser.feed(junk, NOW)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == f"payload of {len(junk)} bytes is over the bound of {bound}"
    assert rejected.raw == junk[:1024]
    near = b" " * (bound - len(ZEBRA_GOOD)) + ZEBRA_GOOD  # JSON allows the padding; at the bound it is read
    assert not any(isinstance(o, Rejected) and "bound" in o.reason for o in parser.feed(near, NOW))
    assert "bound" in parser.feed(near + b" ", NOW)[0].reason


def test_the_bound_is_a_setting() -> None:
    settings = ZebraIotcReader.Settings(data_topic="z/d", max_payload=4096)
    parser = ZebraIotcReader.parser("fx", settings)
    assert isinstance(parser.feed(b" " * 4097, NOW)[0], Rejected)
    with pytest.raises(ValueError, match="max_payload"):
        ZebraIotcReader.Settings(data_topic="z/d", max_payload=10)


def test_a_status_detail_is_printable_utf8() -> None:
    """A lone surrogate (stdlib JSON reads ``\\udc80``) in a command name would not encode: it is quoted instead."""
    [status] = zebra().feed(b'{}{"command":"st\\udc80rt","response":"success"}', NOW)[1:]
    assert status.detail.encode()  # type: ignore[union-attr]  # a DeviceStatus
    assert "\\udc80" in status.detail  # type: ignore[union-attr]
