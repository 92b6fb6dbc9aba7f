"""Reads that name another reader, or none, are set aside when the settings say which reader sends on the topic."""

from __future__ import annotations

import datetime as dt

import pytest

from silentgw.drivers.mqtt.impinj_iot import ImpinjIotReader
from silentgw.drivers.mqtt.topics import TopicFilter
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcReader
from silentgw.drivers.observations import Rejected, TagRead

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def zebra(data: str) -> bytes:
    """A SIMPLE tag data event whose ``data`` has the fields ``data`` adds (the reader's name, say)."""
    return (
        b'{"data":{"eventNum":1,"format":"epc","idHex":"e2000020880f0219154015c1","antenna":1,"peakRssi":-48,'
        b'"reads":1%s},"timestamp":"2021-04-12T20:20:48.366+0000","type":"SIMPLE"}' % data.encode()
    )


def zebra_feed(payload: bytes, **expect: str) -> list[object]:
    settings = ZebraIotcReader.Settings(data_topic="zebra/back/data", **expect)
    return list(ZebraIotcReader.parser("reader-back", settings).feed(payload, NOW))


OWN = ',"hostName":"FX9600EE4662","MAC":"84:24:8D:EE:46:62"'


@pytest.mark.parametrize(
    ("expect", "data", "reason"),
    [
        ({"expect_hostname": "FX9600EE4662"}, ',"hostName":"FX9600AAAAAA"',
         "tag event names reader host name 'FX9600AAAAAA', not 'FX9600EE4662': not this reader's"),
        ({"expect_hostname": "FX9600EE4662"}, "",
         "tag event names no reader host name (expected 'FX9600EE4662'): not this reader's"),
        ({"expect_mac": "84:24:8d:ee:46:62"}, ',"MAC":"84:24:8D:00:00:01"',
         "tag event names reader MAC '84:24:8D:00:00:01', not 84:24:8d:ee:46:62: not this reader's"),
        ({"expect_mac": "84248DEE4662"}, ',"hostName":"FX9600EE4662"',
         "tag event names no reader MAC (expected 84248DEE4662): not this reader's"),
        ({"expect_hostname": "FX9600EE4662"}, ',"hostName":42',
         "tag event names reader host name 42, not 'FX9600EE4662': not this reader's"),
    ],
)  # fmt: skip
def test_a_zebra_tag_event_naming_another_reader_is_set_aside_with_why(
    expect: dict[str, str], data: str, reason: str
) -> None:
    [out] = zebra_feed(zebra(data), **expect)
    assert isinstance(out, Rejected)
    assert out.reason == reason
    assert b"e2000020880f0219154015c1" in out.raw


@pytest.mark.parametrize(
    "expect",
    [{}, {"expect_hostname": "fx9600ee4662"}, {"expect_mac": "84-24-8d-ee-46-62"},
     {"expect_hostname": "FX9600EE4662", "expect_mac": "84248DEE4662"}],
)  # fmt: skip
def test_a_zebra_tag_event_naming_its_own_reader_is_read(expect: dict[str, str]) -> None:
    [out] = zebra_feed(zebra(OWN), **expect)
    assert isinstance(out, TagRead)
    assert out.epc == "E2000020880F0219154015C1"


def test_a_batch_is_checked_event_by_event() -> None:
    batch = b"[" + zebra(OWN) + b"," + zebra(',"hostName":"FX9600AAAAAA"') + b"]"
    out = zebra_feed(batch, expect_hostname="FX9600EE4662")
    assert [type(o) for o in out] == [TagRead, Rejected]


def test_a_mac_that_is_not_one_is_refused_in_the_settings() -> None:
    with pytest.raises(ValueError, match="expect_mac"):
        ZebraIotcReader.Settings(data_topic="t", expect_mac="84:24:8D:EE:46")


IMPINJ = (
    b'{"timestamp":"2021-07-09T23:35:59.278427551Z","hostname":"%s","eventType":"tagInventory",'
    b'"tagInventoryEvent":{"epc":"4oARkKUCH4AFWBfK","antennaPort":1,"peakRssiCdbm":-2650}}'
)


def impinj_feed(payload: bytes) -> list[object]:
    settings = ImpinjIotReader.Settings(event_topic="impinj/front", expect_hostname="impinj-13-f8-f5")
    return list(ImpinjIotReader.parser("reader-front", settings).feed(payload, NOW))


def test_an_impinj_event_must_name_the_expected_reader() -> None:
    assert [type(o) for o in impinj_feed(IMPINJ % b"impinj-13-f8-f5")] == [TagRead]
    [out] = impinj_feed(IMPINJ % b"impinj-66-66-66")
    assert isinstance(out, Rejected)
    assert out.reason == "event names reader host name 'impinj-66-66-66', not 'impinj-13-f8-f5': not this reader's"


def test_a_driver_takes_messages_only_on_its_own_subscriptions() -> None:
    accepts = TopicFilter(["zebra/back/data", "sensors/+/temp", "displays/#"])
    assert accepts("zebra/back/data")
    assert accepts("sensors/fridge-1/temp")
    assert accepts("displays/shelf-1a/status")
    assert not accepts("zebra/front/data")
    assert not accepts("sensors/fridge-1/humidity")
