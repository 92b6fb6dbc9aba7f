"""EM4100 framing: the datasheet's example, checksums, resync, and one read per card presented."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.drivers.observations import Rejected, TagRead
from silentgw.drivers.serial.em4100 import (
    Debounce,
    Em4100Parser,
    Em4100Reader,
    FrameError,
    Noise,
    decode_frame,
    encode_frame,
    split_frames,
)

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
# the RDM6300 datasheet's example: card 62E3086CED, checksum 62^E3^08^6C^ED = 08
CARD = bytes.fromhex("02 36 32 45 33 30 38 36 43 45 44 30 38 03")
# a reader's bytes quoted on the Arduino forum: 010063E9AE, checksum 25
FORUM = bytes([2, 48, 49, 48, 48, 54, 51, 69, 57, 65, 69, 50, 53, 3])


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def read(card: str, seconds: float = 0) -> TagRead:
    return TagRead(card, "door-1", 1, None, at(seconds), protocol="em4100")


def test_the_datasheet_example_decodes_and_encodes() -> None:
    assert decode_frame(CARD) == "62E3086CED"
    assert encode_frame("62E3086CED") == CARD
    assert decode_frame(FORUM) == "010063E9AE"
    assert decode_frame(CARD.lower()) == "62E3086CED"  # lower-case hex digits are still hex


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (CARD[:-3] + b"09\x03", "bad checksum 09"),
        (CARD[:5] + b"G" + CARD[6:], "not hex"),
        (CARD[:5] + b" " + CARD[6:], "not hex"),
        (CARD[:-1], "not a frame"),
    ],
)
def test_bad_frames_say_why(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_frame(frame)


def test_split_resyncs_on_the_next_stx() -> None:
    cut = CARD[:6]
    items, rest = split_frames(b"\xff" + cut + CARD + b"\r\n" + CARD[:4])
    assert items == [Noise(b"\xff" + cut), CARD, Noise(b"\r\n")]
    assert rest == CARD[:4]


def test_a_frame_without_its_etx_is_noise() -> None:
    items, rest = split_frames(CARD[:-1] + b"\x00" + CARD)
    assert items == [Noise(CARD[:-1] + b"\x00"), CARD]
    assert rest == b""


@pytest.mark.parametrize("cut", range(1, len(CARD)))
def test_a_frame_split_at_any_position_is_read(cut: int) -> None:
    parser = Em4100Parser("door-1")
    assert parser.feed(CARD[:cut], T0) == []
    assert parser.feed(CARD[cut:], T0) == [read("62E3086CED")]


def test_garbage_is_rejected_but_line_endings_are_not() -> None:
    parser = Em4100Parser("door-1")
    out = parser.feed(b"zz" + CARD + b"\r\n" + CARD[:-3] + b"00\x03", T0)
    assert out == [
        Rejected("door-1", b"zz", "bytes outside any frame", T0),
        read("62E3086CED"),
        Rejected("door-1", CARD[:-3] + b"00\x03", "bad checksum 00 (the id bytes XOR to 08)", T0),
    ]


def test_a_card_held_on_the_reader_is_one_presentation() -> None:
    parser = Em4100Parser("door-1", hold_off=dt.timedelta(seconds=1))
    out = [o for i in range(40) for o in parser.feed(CARD, at(i * 0.05))]  # two seconds of repeats, 50 ms apart
    assert out == [read("62E3086CED", 0)]


def test_a_card_is_presented_again_after_the_hold_off() -> None:
    parser = Em4100Parser("door-1", hold_off=dt.timedelta(seconds=1))
    assert parser.feed(CARD, at(0)) == [read("62E3086CED", 0)]
    assert parser.feed(CARD, at(0.9)) == []  # still there (or back too soon)
    assert parser.feed(CARD, at(1.8)) == []  # absent 0.9 s only: the hold-off counts from the last sighting
    assert parser.feed(CARD, at(2.8)) == [read("62E3086CED", 2.8)]  # away a whole second: a new presentation


def test_two_cards_are_debounced_apart() -> None:
    other = encode_frame("010063E9AE")
    parser = Em4100Parser("door-1")
    out = parser.feed(CARD + other + CARD + other, at(0))
    assert out == [read("62E3086CED"), read("010063E9AE")]


def test_debounce_forgets_cards_long_gone() -> None:
    debounce = Debounce(dt.timedelta(seconds=1))
    for n in range(200):
        assert debounce.presented(f"{n:010X}", at(n))
    assert len(debounce._last) <= 65
    assert not debounce.presented("00000000C7", at(199.5))


def test_the_hold_off_comes_from_the_settings() -> None:
    parser = Em4100Reader.parser("door-1", Em4100Reader.Settings(url="loop://", hold_off=0.2))
    assert parser.feed(CARD, at(0)) == [read("62E3086CED", 0)]
    assert parser.feed(CARD, at(0.3)) == [read("62E3086CED", 0.3)]


def test_flush_rejects_a_partial_frame() -> None:
    parser = Em4100Parser("door-1")
    parser.feed(CARD[:5], T0)
    assert parser.flush(T0) == [Rejected("door-1", CARD[:5], "incomplete frame at the end of input", T0)]


@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_any_bytes_in_any_chunking_never_raise(data: bytes, cuts: list[int]) -> None:
    parser = Em4100Parser("door-1")
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        for item in parser.feed(data[a:b], T0):
            assert isinstance(item, TagRead | Rejected)
    parser.flush(T0)


cards = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())
junk = st.binary(max_size=20).map(lambda b: b.replace(b"\x02", b""))


@given(parts=st.lists(st.tuples(junk, cards), min_size=1, max_size=6), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_valid_frames_in_garbage_are_all_found(parts: list[tuple[bytes, str]], cuts: list[int]) -> None:
    stream = b"".join(j + encode_frame(card) for j, card in parts)
    parser = Em4100Parser("door-1", hold_off=dt.timedelta(0))  # no debounce: every frame counts
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    out = [o for a, b in itertools.pairwise(bounds) for o in parser.feed(stream[a:b], T0)]
    assert [o.epc for o in out if isinstance(o, TagRead)] == [card for _, card in parts]
