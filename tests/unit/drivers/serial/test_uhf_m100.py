"""M100/R200 framing: the manual's example frames byte for byte, resync, bad checksums and CRCs, error frames, fuzz."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.base import CommandRefused
from silentgw.drivers.commands import DisplayText, SetPower, StartReading
from silentgw.drivers.observations import Rejected, TagRead
from silentgw.drivers.serial.uhf_m100 import (
    ErrorNotice,
    FrameError,
    M100Parser,
    Noise,
    Response,
    TagNotice,
    UhfM100Reader,
    crc16,
    decode_frame,
    encode_frame,
    set_power,
    split_frames,
    start_inventory,
    stop_inventory,
)

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
# the manual's tag notice: RSSI 0xC9, PC 0x3400, EPC 30751FEB705C5904E3D50D70, CRC 3A76, checksum EF
NOTICE = bytes.fromhex("BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E")
EPC = "30751FEB705C5904E3D50D70"
NO_TAG = bytes.fromhex("BB 01 FF 00 01 15 16 7E")


def notice(epc: str, rssi: int = -60, *, command: int = 0x22) -> bytes:
    """A tag notice as the module builds it, for EPCs other than the manual's."""
    raw = bytes.fromhex(epc)
    pc = (len(raw) // 2) << 11
    body = pc.to_bytes(2, "big") + raw
    return encode_frame(0x02, command, bytes([rssi & 0xFF]) + body + crc16(body).to_bytes(2, "big"))


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (start_inventory(10000), "BB 00 27 00 03 22 27 10 83 7E"),
        (stop_inventory(), "BB 00 28 00 00 28 7E"),
        (set_power(20), "BB 00 B6 00 02 07 D0 8F 7E"),
        (set_power(18), "BB 00 B6 00 02 07 08 C7 7E"),
        (encode_frame(0x00, 0x22), "BB 00 22 00 00 22 7E"),
        (encode_frame(0x00, 0x07, b"\x01"), "BB 00 07 00 01 01 09 7E"),
        (encode_frame(0x00, 0x03, b"\x00"), "BB 00 03 00 01 00 04 7E"),
    ],
)
def test_commands_are_the_manuals_bytes(frame: bytes, expected: str) -> None:
    assert frame == bytes.fromhex(expected)


def test_the_tag_crc_of_the_manuals_notice() -> None:
    assert crc16(bytes.fromhex("3400" + EPC)) == 0x3A76
    assert crc16(b"") == 0x0000  # ones' complement of the preset: no data, no bits flipped


def test_the_manuals_tag_notice_decodes() -> None:
    assert decode_frame(NOTICE) == TagNotice(rssi=-55, pc=0x3400, epc=bytes.fromhex(EPC))


def test_the_manuals_responses_decode() -> None:
    assert decode_frame(NO_TAG) == ErrorNotice(0x15)
    assert decode_frame(bytes.fromhex("BB 01 28 00 01 00 2A 7E")) == Response(0x28, b"\x00")
    assert decode_frame(bytes.fromhex("BB 01 B6 00 01 00 B8 7E")) == Response(0xB6, b"\x00")


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        (0x15, "no tag answered"),
        (0x17, "could not parse the command"),
        (0x20, "no free channel"),
        (0x16, "access"),
        (0xA3, "read: memory overrun"),
        (0xB4, "write: memory locked"),
        (0xBB, "insufficient power"),
        (0x77, "unknown"),
    ],
)
def test_error_codes_are_named(code: int, meaning: str) -> None:
    assert meaning in ErrorNotice(code).meaning


def test_a_notice_with_command_0x27_is_a_tag_too() -> None:
    frame = notice(EPC, -55, command=0x27)
    assert decode_frame(frame) == TagNotice(-55, 0x3000, bytes.fromhex(EPC))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (NOTICE[:-2] + b"\x00\x7e", "bad checksum"),
        (bytes.fromhex("BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 71 3A 76 F0 7E"), "tag CRC"),
        (
            encode_frame(0x02, 0x22, bytes.fromhex("C9 38 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76")),
            "PC 0x3800 says 7",
        ),
        (encode_frame(0x02, 0x22, b"\xc9\x00"), "too short"),
        (encode_frame(0x00, 0x27, b"\x22\x27\x10"), "command frame"),
        (encode_frame(0x05, 0x22), "unknown frame type"),
        (encode_frame(0x01, 0xFF), "without an error code"),
        (bytes.fromhex("BB 01 FF 00 02 15 16 7E"), "length field"),
        (b"\xbb\x7e", "not a frame"),
    ],
)
def test_bad_frames_say_why(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_frame(frame)


def test_split_finds_frames_noise_and_the_partial_rest() -> None:
    buffer = b"\x00\x11" + NOTICE + NO_TAG + b"\xbb\x7e\x01" + NOTICE[:9]
    items, rest = split_frames(buffer)
    assert items == [Noise(b"\x00\x11"), NOTICE, NO_TAG, Noise(b"\xbb\x7e\x01")]
    assert rest == NOTICE[:9]


def test_a_false_header_claiming_too_much_is_skipped() -> None:
    items, rest = split_frames(b"\xbb\x00\x22\xff\xff" + NOTICE)
    assert items == [Noise(b"\xbb\x00\x22\xff\xff"), NOTICE]
    assert rest == b""


def test_a_false_header_without_its_end_byte_is_skipped() -> None:
    items, _ = split_frames(b"\xbb\x00\x22\x00\x01\x99\x99\x99" + NOTICE)
    assert items[-1] == NOTICE


def test_the_parser_reports_reads_with_rssi_and_sets_aside_the_rest() -> None:
    parser = M100Parser("uhf-1", antenna=2)
    out = parser.feed(
        b"\x00" + NOTICE + NO_TAG + NOTICE[:-2] + b"\x00\x7e" + bytes.fromhex("BB 01 FF 00 01 17 18 7E"), T0
    )
    assert out[0] == Rejected("uhf-1", b"\x00", "bytes outside any frame", T0)
    assert out[1] == TagRead(EPC, "uhf-1", 2, -55.0, T0)
    # the "no tag" answer of every empty polling round is not a fault, and not reported at all
    assert isinstance(out[2], Rejected)
    assert "bad checksum" in out[2].reason
    assert isinstance(out[3], Rejected)
    assert out[3].reason.startswith("module error 0x17")
    assert len(out) == 4


@pytest.mark.parametrize("cut", range(1, len(NOTICE)))
def test_a_frame_split_at_any_position_is_read_once(cut: int) -> None:
    parser = M100Parser("uhf-1")
    first = parser.feed(NOTICE[:cut], T0)
    second = parser.feed(NOTICE[cut:] + NOTICE, T0)
    assert first == []
    assert second == [TagRead(EPC, "uhf-1", 1, -55.0, T0)] * 2


def test_a_byte_at_a_time_reads_the_same() -> None:
    parser = M100Parser("uhf-1")
    stream = notice("E2801160600002054C1A3B4F", -70) + NO_TAG + notice("AABB", 10)
    out = [o for byte in stream for o in parser.feed(bytes([byte]), T0)]
    assert out == [TagRead("E2801160600002054C1A3B4F", "uhf-1", 1, -70.0, T0), TagRead("AABB", "uhf-1", 1, 10.0, T0)]


def test_flush_rejects_a_partial_frame() -> None:
    parser = M100Parser("uhf-1")
    assert parser.feed(NOTICE[:10], T0) == []
    assert parser.flush(T0) == [Rejected("uhf-1", NOTICE[:10], "incomplete frame at the end of input", T0)]
    assert parser.flush(T0) == []


async def test_commands_the_reader_does_not_take_are_refused() -> None:
    reader = UhfM100Reader("uhf-1", UhfM100Reader.Settings(url="loop://", max_power_dbm=26))
    with pytest.raises(CommandRefused, match="DisplayText"):
        await reader.send(DisplayText("hello"))
    with pytest.raises(CommandRefused, match="27"):
        await reader.send(SetPower(27))
    await reader.send(SetPower(20))  # not connected: remembered, applied when the port opens
    await reader.send(StartReading())
    assert reader.power_dbm == 20
    assert reader.inventory


def test_settings_refuse_power_above_the_maximum_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="max_power_dbm"):
        UhfM100Reader.Settings(url="loop://", power_dbm=31)
    with pytest.raises(ValueError, match="extra"):
        UhfM100Reader.Settings.model_validate({"url": "loop://", "baud": 9600})


epcs = st.binary(min_size=2, max_size=31).filter(lambda b: len(b) % 2 == 0).map(lambda b: b.hex().upper())
noise = st.binary(max_size=40).map(lambda b: b.replace(b"\xbb", b""))


@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=8))
def test_any_bytes_in_any_chunking_never_raise(data: bytes, cuts: list[int]) -> None:
    parser = M100Parser("uhf-1")
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        for item in parser.feed(data[a:b], T0):
            assert isinstance(item, TagRead | Rejected)
    parser.flush(T0)


@given(
    parts=st.lists(st.tuples(noise, epcs, st.integers(-128, 127)), min_size=1, max_size=6),
    cuts=st.lists(st.integers(0, 2000), max_size=10),
)
def test_valid_frames_in_garbage_are_all_found(parts: list[tuple[bytes, str, int]], cuts: list[int]) -> None:
    stream = b"".join(junk + notice(epc, rssi) for junk, epc, rssi in parts)
    parser = M100Parser("uhf-1")
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    out = [o for a, b in itertools.pairwise(bounds) for o in parser.feed(stream[a:b], T0)]
    reads = [o for o in out if isinstance(o, TagRead)]
    assert reads == [TagRead(epc, "uhf-1", 1, float(rssi), T0) for _, epc, rssi in parts]
    assert b"".join(o.raw for o in out if isinstance(o, Rejected)) == b"".join(junk for junk, _, _ in parts)


def test_a_tag_notice_without_epc_words_is_rejected() -> None:
    """PC 0x0000 says no EPC: a read with an empty EPC went on to the core, which keys items by it."""
    frame = encode_frame(0x02, 0x22, bytes([0xC9, 0x00, 0x00]) + crc16(b"\x00\x00").to_bytes(2, "big"))
    [rejected] = M100Parser("uhf-1").feed(frame, T0)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "tag notice without an EPC (PC 0x0000)"
