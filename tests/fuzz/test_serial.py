"""The serial decoders fed frames with valid headers and bad lengths, checksums and contents, noise, and raw bytes.

Splitters must lose no byte (frames, noise and the rest put back together are the input), decoders raise only
``FrameError``, and parsers fed the stream in arbitrary chunks return observations or reasoned rejects.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.serial import em4100, uhf_m100
from silentgw.drivers.serial.framing import FrameError, Noise
from silentgw.drivers.serial.sensor_lines import DEFAULT_KEYS, KeyMapping, LineError, SensorLinesParser, parse_line
from tests.fuzz.documents import json_text, numbers, wild
from tests.fuzz.harness import COUNTS, check_output, fuzzed

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def _m100_notice(rssi: int, words: int, epc: bytes, good_crc: bool) -> bytes:
    pc = (words << 11).to_bytes(2, "big")
    crc = uhf_m100.crc16(pc + epc) ^ (0 if good_crc else 1)
    return bytes([rssi]) + pc + epc + crc.to_bytes(2, "big")


_m100_parameters = st.one_of(
    st.builds(_m100_notice, st.integers(0, 255), st.integers(0, 31), st.binary(max_size=64), st.booleans()),
    st.binary(max_size=8),
)


def _m100_frame(kind: int, command: int, parameters: bytes, damage: int, where: int) -> bytes:
    frame = bytearray(uhf_m100.encode_frame(kind, command, parameters))
    if damage:  # a length, checksum or end byte (or any other) changed on the wire
        frame[where % len(frame)] ^= damage
    return bytes(frame)


m100_frames = st.builds(
    _m100_frame,
    st.sampled_from([0x00, 0x01, 0x02, 0x03]),
    st.sampled_from([0x22, 0x27, 0x28, 0xB6, 0xFF, 0x00]),
    _m100_parameters,
    st.sampled_from([0, 0, 0, 1, 0x80, 0xFF]),
    st.sampled_from([3, 4, -2, -1, 1, 2, 5, 6]),
)
m100_streams = st.lists(st.one_of(m100_frames, m100_frames, st.binary(max_size=12)), max_size=8).map(b"".join)
_cuts = st.lists(st.integers(0, 600), max_size=6)


def _chunks(stream: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(stream)) for c in cuts})
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


@fuzzed
@given(stream=st.one_of(m100_streams, st.binary(max_size=400)), cuts=_cuts)
def test_m100_parser(stream: bytes, cuts: list[int]) -> None:
    parser = uhf_m100.M100Parser("m100-1")
    out = [o for chunk in _chunks(stream, cuts) for o in parser.feed(chunk, NOW)]
    check_output("uhf-m100 parser", out + parser.flush(NOW))


def _em4100_frame(card: bytes, checksum: int | None, damage: int, where: int) -> bytes:
    text = card.hex().upper() + f"{reduce(xor, card) if checksum is None else checksum:02X}"
    frame = bytearray(bytes([em4100.STX]) + text.encode() + bytes([em4100.ETX]))
    if damage:
        frame[where % len(frame)] ^= damage
    return bytes(frame)


em4100_frames = st.builds(
    _em4100_frame,
    st.binary(min_size=5, max_size=5),
    st.one_of(st.none(), st.none(), st.integers(0, 255)),
    st.sampled_from([0, 0, 0, 1, 0x20, 0x7F]),
    st.integers(0, 13),
)
em4100_streams = st.lists(
    st.one_of(em4100_frames, em4100_frames, st.sampled_from([b"\r\n", b"\x02", b"\x03"]), st.binary(max_size=6)),
    max_size=8,
).map(b"".join)


@fuzzed
@given(stream=st.one_of(em4100_streams, st.binary(max_size=300)), cuts=_cuts, hold=st.sampled_from([0, 1, 3600]))
def test_em4100_parser(stream: bytes, cuts: list[int], hold: int) -> None:
    parser = em4100.Em4100Parser("rdm6300-1", hold_off=dt.timedelta(seconds=hold))
    out = [o for chunk in _chunks(stream, cuts) for o in parser.feed(chunk, NOW)]
    check_output("em4100 parser", out + parser.flush(NOW))


_PROTOCOLS = {
    "uhf-m100": (uhf_m100, m100_streams, m100_frames, 80),
    "em4100": (em4100, em4100_streams, em4100_frames, 20),
}


@pytest.mark.parametrize("protocol", _PROTOCOLS)
@fuzzed
@given(data=st.data())
def test_split_frames(protocol: str, data: st.DataObject) -> None:
    """Frames, noise and the partial frame left put back together are the input: no byte is lost."""
    module, streams, _, _ = _PROTOCOLS[protocol]
    stream = data.draw(st.one_of(streams, st.binary(max_size=400)))
    COUNTS[f"{protocol} split_frames"] += 1
    items, rest = module.split_frames(stream)
    assert b"".join(i.data if isinstance(i, Noise) else i for i in items) + rest == stream


@pytest.mark.parametrize("protocol", _PROTOCOLS)
@fuzzed
@given(data=st.data())
def test_decode_frame(protocol: str, data: st.DataObject) -> None:
    """A decoder says what a frame means or raises FrameError with the reason, nothing else."""
    module, _, frames, size = _PROTOCOLS[protocol]
    frame = data.draw(st.one_of(frames, st.binary(max_size=size)))
    COUNTS[f"{protocol} decode_frame"] += 1
    try:
        reason = str(module.decode_frame(frame))
    except FrameError as exc:
        reason = str(exc)
    assert reason


_keys = st.one_of(st.sampled_from([*DEFAULT_KEYS, "id", "ts", "unit", "T", "co2"]), st.text(max_size=40))
_values = st.one_of(
    numbers.map(str),
    st.sampled_from(["open", "CLOSED", "on", "true", "nan", "inf", "-inf", "1e400", "4.2C", "1.25kg", "61%", "3e5°F"]),
    st.text(max_size=12),
)
_key_value_lines = st.lists(st.tuples(_keys, _values), min_size=1, max_size=5).flatmap(
    lambda pairs: st.sampled_from([" ", ",", ";", ", "]).map(lambda sep: sep.join(f"{k}={v}" for k, v in pairs))
)
_json_lines = st.dictionaries(_keys, st.one_of(numbers, _values, wild(1)), max_size=5).map(json_text)
_lines = st.one_of(_key_value_lines, _json_lines, st.text(max_size=60))
sensor_streams = st.one_of(
    st.lists(st.tuples(_lines, st.sampled_from(["\n", "\r\n", "\r", ""])), max_size=6).map(
        lambda ls: "".join(line + end for line, end in ls).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=400),
)
_mappings = st.sampled_from([{}, {"co2": KeyMapping(quantity="co2", unit="ppm", scale=1e300)},
                             {"t": KeyMapping(quantity="temperature", unit="°C", scale=-0.5)}])  # fmt: skip


@fuzzed
@given(
    stream=sensor_streams, cuts=_cuts, form=st.sampled_from(["key=value", "json"]), extra=_mappings,
    max_line=st.sampled_from([16, 512, 65536]), line=_lines,
)  # fmt: skip
def test_sensor_lines(stream: bytes, cuts: list[int], form: str, extra: dict[str, KeyMapping], max_line: int,
                      line: str) -> None:  # fmt: skip
    parser = SensorLinesParser("th-1", format=form, keys={**DEFAULT_KEYS, **extra}, max_line=max_line)  # type: ignore[arg-type]
    out = [o for chunk in _chunks(stream, cuts) for o in parser.feed(chunk, NOW)]
    check_output("sensor-lines", out + parser.flush(NOW))
    try:
        reason = str(parse_line(line, format=form, keys={**DEFAULT_KEYS, **extra}))  # type: ignore[arg-type]
    except LineError as exc:
        reason = str(exc)
    assert reason
