"""Cycle counts as pure values: missing, unexpected, found, accuracy, and which reads a count's window takes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from silentgw.drivers.observations import SensorReading, TagRead
from silentgw.gateway.counts import (
    CountExists,
    CycleCount,
    OpenCount,
    OpenCounts,
    Scope,
    Sighting,
    accuracy,
    result,
    seen_in,
)
from silentgw.gateway.zones import AntennaZone

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
COUNT = CycleCount("count-1", Scope("zone", "shelf-a"), T0, T0 + dt.timedelta(minutes=10))


@pytest.mark.parametrize(
    ("expected", "seen", "missing", "unexpected", "found", "percent"),
    [
        ("", "", "", "", "", "100.00"),  # nothing due: nothing can be missing
        ("", "x", "", "x", "", "100.00"),  # unexpected items are reported apart, not held against accuracy
        ("abcd", "abcd", "", "", "abcd", "100.00"),
        ("abcd", "abc", "d", "", "abc", "75.00"),
        ("abcd", "abcx", "d", "x", "abc", "75.00"),
        ("abcd", "", "abcd", "", "", "0.00"),
        ("abc", "ab", "c", "", "ab", "66.66"),  # rounded down
        ("abc", "a", "bc", "", "a", "33.33"),
        ("ab", "xy", "ab", "xy", "", "0.00"),
    ],
)
def test_result(expected: str, seen: str, missing: str, unexpected: str, found: str, percent: str) -> None:
    r = result(set(expected), set(seen))
    assert (r.expected, r.seen) == (frozenset(expected), frozenset(seen))
    assert (r.missing, r.unexpected, r.found) == (frozenset(missing), frozenset(unexpected), frozenset(found))
    assert r.accuracy_percent == Decimal(percent)


@pytest.mark.parametrize(
    ("found", "expected", "percent"),
    [(0, 0, "100.00"), (1, 1, "100.00"), (9999, 10000, "99.99"), (99999, 100000, "99.99"), (1, 3, "33.33"),
     (2, 3, "66.66"), (0, 7, "0.00")],
)  # fmt: skip
def test_accuracy_is_100_only_when_nothing_is_missing(found: int, expected: int, percent: str) -> None:
    assert accuracy(found, expected) == Decimal(percent)


@pytest.mark.parametrize(("found", "expected"), [(-1, 3), (4, 3), (1, 0)])
def test_accuracy_refuses_impossible_figures(found: int, expected: int) -> None:
    with pytest.raises(ValueError, match="found"):
        accuracy(found, expected)


@pytest.mark.parametrize(
    ("zone", "minutes", "taken"),
    [
        ("shelf-a", 0, True),  # the window includes its start
        ("shelf-a", 9.99, True),
        ("shelf-a", 10, False),  # and excludes its end
        ("shelf-a", -0.01, False),
        ("shelf-b", 5, False),  # another zone: not in the scope
    ],
)
def test_seen_in_takes_reads_in_the_scope_within_the_window(zone: str, minutes: float, taken: bool) -> None:
    read = Sighting("item", zone, T0 + dt.timedelta(minutes=minutes))
    assert seen_in(COUNT, [read], zones={"shelf-a"}) == (frozenset({"item"}) if taken else frozenset())


def test_seen_in_counts_an_item_once_and_takes_plain_tuples() -> None:
    reads = [("a", "shelf-a", T0), ("a", "shelf-b", T0), ("a", "shelf-a", T0 + dt.timedelta(minutes=1)),
             ("b", "shelf-b", T0), ("c", "shelf-a", T0 + dt.timedelta(hours=1))]  # fmt: skip
    assert seen_in(COUNT, reads, zones={"shelf-a"}) == {"a"}
    assert seen_in(COUNT, reads, zones={"shelf-a", "shelf-b"}) == {"a", "b"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CycleCount("", COUNT.scope, T0, T0), "count id"),
        (lambda: CycleCount("x" * 65, COUNT.scope, T0, T0), "count id"),
        (lambda: CycleCount("c", COUNT.scope, T0, T0 - dt.timedelta(seconds=1)), "before it starts"),
        (lambda: CycleCount("c", COUNT.scope, T0.replace(tzinfo=None), T0), "naive"),
        (lambda: Scope("shelf", "a"), "scope kind"),  # type: ignore[arg-type]
        (lambda: Scope("zone", ""), "scope id"),
    ],
)
def test_a_count_validates_itself(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def _read(epc: str, reader: str = "r1", antenna: int = 1, protocol: str = "epc", at: dt.datetime = T0) -> TagRead:
    return TagRead(epc, reader, antenna, -50.0, at, protocol=protocol)  # type: ignore[arg-type]


ANTENNAS = {("r1", 1): AntennaZone("shelf-a"), ("r1", 2): AntennaZone("shelf-b"), ("r2", 1): AntennaZone("back")}


def test_open_counts_collect_the_reads_of_their_own_zones_only() -> None:
    book = OpenCounts(ANTENNAS)
    book.observe([_read("A0")])  # nothing open: nothing kept
    book.start(OpenCount("shelf", Scope("zone", "shelf-a"), frozenset({"shelf-a"}), T0))
    book.start(OpenCount("floor", Scope("location", "floor"), frozenset({"shelf-a", "shelf-b"}), T0))
    book.observe([
        _read("A1"), _read("B1", antenna=2), _read("C1", reader="r2"), _read("A1"),
        _read("X1", reader="r9"),  # an antenna no zone knows
        _read("0001234567", protocol="em4100"),  # a member card, not an item
        SensorReading("fridge", "temperature", 4.0, "Cel", T0),
    ])  # fmt: skip
    shelf, floor = book.get("shelf"), book.get("floor")
    assert shelf is not None
    assert floor is not None
    assert (shelf.seen, floor.seen) == ({"A1"}, {"A1", "B1"})
    assert [c.id for c in book.all()] == ["floor", "shelf"]  # oldest first, then by id
    shelf.seen.add("Z9")  # a snapshot: changing it changes nothing kept
    assert book.get("shelf").seen == {"A1"}  # type: ignore[union-attr]


def test_an_open_count_id_is_taken_once_and_a_taken_count_can_be_put_back() -> None:
    book = OpenCounts(ANTENNAS)
    count = book.start(OpenCount("c", Scope("zone", "shelf-a"), frozenset({"shelf-a"}), T0))
    with pytest.raises(CountExists):
        book.start(OpenCount("c", Scope("zone", "back"), frozenset({"back"}), T0))
    book.observe([_read("A1")])
    taken = book.take("c")
    assert taken is count
    assert book.take("c") is None
    assert len(book) == 0
    book.observe([_read("A2")])  # while it is being closed: not collected...
    book.put_back(taken)  # ...and a failed close reopens it with what it had
    assert book.get("c").seen == {"A1"}  # type: ignore[union-attr]


def test_counts_with_a_duration_fall_due_and_end_no_earlier_than_they_started() -> None:
    book = OpenCounts(ANTENNAS)
    zone = frozenset({"shelf-a"})
    book.start(OpenCount("short", Scope("zone", "shelf-a"), zone, T0, due=T0 + dt.timedelta(seconds=30)))
    book.start(OpenCount("open-ended", Scope("zone", "shelf-a"), zone, T0))
    assert book.due(T0 + dt.timedelta(seconds=29)) == []
    (due,) = book.due(T0 + dt.timedelta(seconds=30))
    assert due.id == "short"
    assert [c.id for c in book.all()] == ["open-ended"]
    assert due.closed(T0 - dt.timedelta(seconds=5)).end == T0  # a clock stepping back never inverts the window
    assert due.closed(T0 + dt.timedelta(seconds=30)) == CycleCount("short", Scope("zone", "shelf-a"), T0,
                                                                    T0 + dt.timedelta(seconds=30))  # fmt: skip


def test_an_open_count_takes_the_reads_within_its_window_only() -> None:
    book = OpenCounts(ANTENNAS)
    zone, later = frozenset({"shelf-a"}), T0 + dt.timedelta(seconds=30)
    book.start(OpenCount("c", Scope("zone", "shelf-a"), zone, T0, due=later))
    book.observe([
        _read("EARLY", at=T0 - dt.timedelta(seconds=1)), _read("START", at=T0),
        _read("LAST", at=later - dt.timedelta(milliseconds=1)), _read("LATE", at=later),
    ])  # fmt: skip
    assert book.get("c").seen == {"START", "LAST"}  # type: ignore[union-attr]
