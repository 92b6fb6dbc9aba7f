"""Each MQTT dialect fed payloads shaped like its device's, with mutated values, plus raw bytes: nothing escapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.mqtt.generic_json import FieldMap, GenericJsonParser
from silentgw.drivers.mqtt.impinj_iot import ImpinjIotParser
from silentgw.drivers.mqtt.zebra_iotc import ZebraIotcParser
from tests.fuzz.documents import epc_base64, epc_hex, field, json_text, numbers, timestamps, wild
from tests.fuzz.harness import check_output, fuzzed

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def _maybe(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with each of ``fields`` present or not."""
    return st.fixed_dictionaries({}, optional=fields)


def _payload(events: st.SearchStrategy[Any], *, lines: bool = False) -> st.SearchStrategy[bytes]:
    """One event, an array, several glued (or, for ``lines``, one a line), sometimes with junk at the end; or bytes."""
    texts = st.lists(events.map(json_text), min_size=1, max_size=4)
    separators = st.sampled_from(["\n", "\r\n"] if lines else ["", " ", "\n"])
    documents = st.one_of(
        st.tuples(separators, texts).map(lambda p: p[0].join(p[1])), texts.map(lambda ts: "[" + ",".join(ts) + "]")
    )
    junk = st.sampled_from(["", "", "", "}", '{"a":', "\x00", "\udcff"])
    return st.one_of(
        st.tuples(documents, junk).map(lambda p: (p[0] + p[1]).encode("utf-8", "surrogatepass")),
        st.binary(max_size=400),
    )


_zebra_tag = st.fixed_dictionaries(
    {"data": st.one_of(
        _maybe(idHex=field(epc_hex), antenna=field(st.integers(1, 8)), peakRssi=field(st.integers(-90, -20)),
               reads=field(st.integers(1, 20)), eventNum=field(numbers), format=field(st.just("epc"))),
        wild(1))},
    optional={"timestamp": field(timestamps), "type": field(st.sampled_from(["SIMPLE", "heartbeat", "HEARTBEAT"]))},
)  # fmt: skip
_zebra_heartbeat = _maybe(type=field(st.just("heartbeat")), timestamp=field(timestamps), data=wild(2))
_zebra_response = _maybe(
    command=field(st.sampled_from(["start", "stop"])), command_id=field(st.text(max_size=12)),
    payload=field(_maybe(message=wild(1), description=wild(1))),
    response=field(st.sampled_from(["success", "failure"])), timestamp=field(timestamps),
)  # fmt: skip
zebra_payloads = _payload(st.one_of(_zebra_tag, _zebra_tag, _zebra_heartbeat, _zebra_response, wild(2)))


@fuzzed
@given(payloads=st.lists(zebra_payloads, min_size=1, max_size=3), bound=st.sampled_from([1024, 256 * 1024]))
def test_zebra_iotc(payloads: list[bytes], bound: int) -> None:
    parser = ZebraIotcParser("fx9600-1", max_payload=bound)
    for payload in payloads:  # one parser across messages: the timestamp it remembers must not leak between them
        check_output("zebra-iotc", parser.feed(payload, NOW))


_impinj_tag = _maybe(
    epc=field(epc_base64), epcHex=field(epc_hex), antennaPort=field(st.integers(1, 4)),
    peakRssiCdbm=field(st.integers(-9000, -2000)), lastSeenTime=field(timestamps), frequency=field(numbers),
)  # fmt: skip
_impinj_event = st.one_of(
    _maybe(timestamp=field(timestamps), eventType=field(st.just("tagInventory")), tagInventoryEvent=_impinj_tag),
    _maybe(timestamp=field(timestamps), antennaConnectedEvent=_maybe(antennaPort=field(st.integers(1, 4)))),
    _maybe(timestamp=field(timestamps), antennaDisconnectedEvent=_maybe(antennaPort=field(st.integers(1, 4)))),
    _maybe(timestamp=field(timestamps), inventoryStatusEvent=_maybe(status=field(st.just("running")))),
    _maybe(timestamp=field(timestamps), inventoryTerminatedEvent=wild(1), overflowEvent=wild(1)),
    wild(2),
)
impinj_payloads = _payload(_impinj_event, lines=True)


@fuzzed
@given(payloads=st.lists(impinj_payloads, min_size=1, max_size=3), bound=st.sampled_from([1024, 256 * 1024]))
def test_impinj_iot(payloads: list[bytes], bound: int) -> None:
    parser = ImpinjIotParser("r700-1", max_payload=bound)
    for payload in payloads:
        check_output("impinj-iot", parser.feed(payload, NOW))


_paths = st.sampled_from(["epc", "data.epc", "reads.0.epc", "a.²", "0", "x.y.z"])
field_maps = st.builds(
    FieldMap,
    kind=st.sampled_from(["tag", "sensor"]),
    items=st.sampled_from([None, "items", "data.reads", "items.0"]),
    epc=_paths,
    epc_encoding=st.sampled_from(["hex", "base64"]),
    antenna=st.sampled_from([None, "antenna", "data.antenna"]),
    default_antenna=st.sampled_from([1, 0, 65535]),
    rssi=st.sampled_from([None, "rssi"]),
    rssi_scale=st.sampled_from([1.0, 0.01, 0.1, -1.0, 1e308]),
    time=st.sampled_from([None, "time", "ts.0"]),
    time_format=st.sampled_from(["iso", "epoch_s", "epoch_ms", "%Y-%m-%d %H:%M:%S", "%Y%z", "%s", "%d/%m/%Y %H:%M"]),
    quantity=st.sampled_from(["quantity", "q"]),
    fixed_quantity=st.sampled_from([None, "temperature"]),
    value=st.sampled_from(["value", "v.0"]),
    unit=st.sampled_from(["unit", "u"]),
    fixed_unit=st.sampled_from([None, "°C"]),
)
_reading = _maybe(
    epc=field(st.one_of(epc_hex, epc_base64)), antenna=field(st.integers(0, 4)), rssi=field(numbers),
    time=field(st.one_of(timestamps, numbers, st.sampled_from(["2021-04-12 20:20:48", "12/04/2021 20:20", "+2359"]))),
    quantity=field(st.sampled_from(["temperature", "humidity"])), value=field(st.one_of(numbers, st.text(max_size=8))),
    unit=field(st.sampled_from(["°C", "%"])), q=wild(1), u=wild(1), v=wild(1), data=wild(2), ts=wild(1),
)  # fmt: skip
generic_payloads = _payload(st.one_of(_reading, _maybe(items=st.lists(_reading, max_size=3), data=wild(2)), wild(2)))


@fuzzed
@given(fields=field_maps, payloads=st.lists(generic_payloads, min_size=1, max_size=3),
       bound=st.sampled_from([1024, 64 * 1024]))  # fmt: skip
def test_generic_json(fields: FieldMap, payloads: list[bytes], bound: int) -> None:
    parser = GenericJsonParser("dev-1", fields, max_payload=bound)
    for payload in payloads:
        check_output("generic-json", parser.feed(payload, NOW))
