"""Member value: figures, mid-rank quintile scores, the segment rules in their order, and points."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.members import (
    Erasure,
    MemberFigures,
    Purchase,
    Ranking,
    Rfm,
    Segment,
    figures,
    points,
    scores,
    segment,
)

TODAY = dt.date(2026, 11, 24)


def ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


def member(number: str, frequency: int = 1, monetary: str = "10", last: int = 5, first: int = 300) -> MemberFigures:
    """A member with ``frequency`` purchases, the last ``last`` days ago."""
    total = Decimal(monetary)
    return MemberFigures(number, frequency, total, total, ago(max(first, last)), ago(last))


def test_figures_from_purchases() -> None:
    bought = [Purchase(ago(40), Decimal("12.50")), Purchase(ago(3), Decimal("79.00")), Purchase(ago(10), Decimal("1"))]
    f = figures("M-1", bought, joined=ago(100))
    assert (f.frequency, f.monetary, f.largest, f.first, f.last) == (3, Decimal("92.50"), Decimal("79.00"), ago(40),
                                                                     ago(3))  # fmt: skip
    assert f.recency(TODAY) == 3
    assert figures("M-2", []) == MemberFigures("M-2")
    assert MemberFigures("M-2").recency(TODAY) is None


def test_figures_refuse_dates_that_contradict_the_count() -> None:
    with pytest.raises(ValueError, match="first and last"):
        MemberFigures("M-1", frequency=2)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1], [3]),  # a single member: the middle
        ([4, 4, 4], [3, 3, 3]),  # all alike: the middle
        ([1, 2], [2, 4]),
        ([1, 2, 3], [1, 3, 5]),
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]),  # one member per fifth
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),  # the quintile edges fall between pairs
        ([1, 1, 1, 1, 2], [3, 3, 3, 3, 5]),  # ties share their mid-rank score: p = (0 + 4/2) / 5
        ([1, 2, 2, 2, 2], [1, 4, 4, 4, 4]),
    ],
)
def test_frequency_scores_are_mid_rank_quintiles(values: list[int], expected: list[int]) -> None:
    members = [member(f"M-{n}", frequency=v) for n, v in enumerate(values)]
    got = scores(members, TODAY)
    assert [got[f"M-{n}"].frequency for n in range(len(values))] == expected


def test_recency_scores_fewer_days_higher_and_money_more_higher() -> None:
    members = [member("old", last=200, monetary="500"), member("mid", last=30, monetary="50"),
               member("new", last=1, monetary="5")]  # fmt: skip
    got = scores(members, TODAY)
    assert [got[n].recency for n in ("old", "mid", "new")] == [1, 3, 5]
    assert [got[n].monetary for n in ("old", "mid", "new")] == [5, 3, 1]


def test_members_who_never_bought_score_one_and_rank_below_every_buyer() -> None:
    got = scores([MemberFigures("none-1"), MemberFigures("none-2"), member("buyer")], TODAY)
    assert got["none-1"] == got["none-2"] == Rfm(1, 1, 1)
    assert got["buyer"] == Rfm(5, 5, 5)  # beats both: p = (2 + 1/2) / 3


def test_scores_refuse_duplicate_numbers() -> None:
    with pytest.raises(ValueError, match="unique"):
        scores([member("M-1"), member("M-1")], TODAY)


_rows = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 400), st.integers(0, 10_000)), max_size=40)


def _members(rows: list[tuple[int, int, int]]) -> list[MemberFigures]:
    """Members from (frequency, days since the last purchase, money spent) rows; frequency 0: never bought."""
    return [member(f"M-{n}", f, str(m), last=r, first=400) if f else MemberFigures(f"M-{n}")
            for n, (f, r, m) in enumerate(rows)]  # fmt: skip


@given(_rows)
def test_scores_run_one_to_five_and_equal_figures_score_equal(rows: list[tuple[int, int, int]]) -> None:
    members = _members(rows)
    got = scores(members, TODAY)
    assert set(got) == {m.number for m in members}
    by_figures: dict[tuple[int, int | None, Decimal], Rfm] = {}
    for m in members:
        key = (m.frequency, m.recency(TODAY), m.monetary)
        assert by_figures.setdefault(key, got[m.number]) == got[m.number]


@given(_rows, st.tuples(st.integers(1, 30), st.integers(0, 400), st.integers(0, 10_000)))
def test_a_member_ranked_against_a_look_scores_as_one_more_member_of_it(
    rows: list[tuple[int, int, int]], new: tuple[int, int, int]
) -> None:
    look = _members(rows)
    newcomer = member("new", new[0], str(new[2]), last=new[1], first=400)
    assert Ranking.of(look).score(newcomer) == scores([*look, newcomer], TODAY)["new"]
    assert Ranking.of(look).score(MemberFigures("none")) == Rfm(1, 1, 1)


NEW_BUYER = MemberFigures("n", 1, Decimal(5), Decimal(5), ago(10), ago(10))
NEW_JOINER = MemberFigures("j", joined=ago(3))
OLD_JOINER = MemberFigures("o", joined=ago(300))
REPEAT = MemberFigures("r", 6, Decimal(300), Decimal(90), ago(200), ago(2))
ONCE_LONG_AGO = MemberFigures("l", 1, Decimal(5), Decimal(5), ago(200), ago(200))


@pytest.mark.parametrize(
    ("rfm", "figures_", "expected"),
    [
        (Rfm(5, 1, 1), NEW_BUYER, Segment.NEW),  # one purchase, 10 days ago
        (Rfm(5, 5, 5), NEW_BUYER, Segment.NEW),  # New comes first, whatever the scores
        (Rfm(1, 1, 1), NEW_JOINER, Segment.NEW),  # joined 3 days ago, nothing bought yet
        (Rfm(1, 1, 1), OLD_JOINER, Segment.LOST),  # joined long ago, never bought
        (Rfm(4, 4, 4), REPEAT, Segment.CHAMPIONS),
        (Rfm(5, 5, 3), REPEAT, Segment.LOYAL),  # M below 4: not a champion
        (Rfm(3, 3, 1), REPEAT, Segment.LOYAL),
        (Rfm(5, 5, 5), ONCE_LONG_AGO, Segment.POTENTIAL),  # one purchase is no loyalty, whatever the scores
        (Rfm(3, 2, 5), REPEAT, Segment.POTENTIAL),
        (Rfm(2, 3, 1), REPEAT, Segment.AT_RISK),
        (Rfm(1, 1, 4), ONCE_LONG_AGO, Segment.AT_RISK),  # spent much, long ago
        (Rfm(2, 2, 3), REPEAT, Segment.HIBERNATING),
        (Rfm(1, 2, 3), ONCE_LONG_AGO, Segment.LOST),
    ],
)
def test_each_segment_rule(rfm: Rfm, figures_: MemberFigures, expected: Segment) -> None:
    assert segment(rfm, figures_, TODAY) == expected


def test_new_is_within_new_days_inclusive() -> None:
    assert segment(Rfm(5, 1, 1), NEW_BUYER, TODAY, new_days=10) == Segment.NEW
    assert segment(Rfm(5, 1, 1), NEW_BUYER, TODAY, new_days=9) == Segment.POTENTIAL


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.sampled_from([NEW_BUYER, NEW_JOINER, OLD_JOINER,
       REPEAT, ONCE_LONG_AGO]))  # fmt: skip
def test_every_score_has_exactly_one_segment(r: int, f: int, m: int, figures_: MemberFigures) -> None:
    assert segment(Rfm(r, f, m), figures_, TODAY) in set(Segment)


def test_a_single_member_is_scored_and_segmented() -> None:
    only = REPEAT
    rfm = scores([only], TODAY)["r"]
    assert rfm == Rfm(3, 3, 3)
    assert segment(rfm, only, TODAY) == Segment.LOYAL


@pytest.mark.parametrize(
    ("total", "per_unit", "expected"),
    [("0", 1, 0), ("9.99", 1, 9), ("10.00", 1, 10), ("16.19", 2, 32), ("16.19", Decimal("0.5"), 8), ("-25.00", 1, 0)],
)
def test_points_per_whole_unit(total: str, per_unit: Decimal | int, expected: int) -> None:
    assert points(Decimal(total), per_unit=per_unit) == expected


@given(st.decimals(min_value=-10_000, max_value=10_000, places=2), st.integers(0, 10))
def test_points_are_never_negative(total: Decimal, per_unit: int) -> None:
    assert points(total, per_unit=per_unit) >= 0


def test_points_refuse_a_negative_rate() -> None:
    with pytest.raises(ValueError, match="negative"):
        points(Decimal(10), per_unit=-1)


def test_rfm_scores_stay_in_range() -> None:
    assert str(Rfm(5, 4, 3)) == "543"
    with pytest.raises(ValueError, match="1 to 5"):
        Rfm(0, 3, 3)


def test_an_erasure_replaces_the_number_standing_alone_and_takes_the_personal_values_out() -> None:
    erasure = Erasure("M-1", "erased-abc", frozenset({"0A1B2C3D4E"}), frozenset({"Ada Lovelace", "0A1B2C3D4E"}))
    data = {"member": "M-1", "other": "M-12", "name": "Ada Lovelace", "note": "card 0A1B2C3D4E of M-1",
            "M-1": [{"birthday": "Ada Lovelace"}], "count": 3}  # fmt: skip
    assert erasure.json(data) == {"member": "erased-abc", "other": "M-12", "name": None,
                                  "note": "card [erased] of erased-abc", "erased-abc": [{"birthday": None}],
                                  "count": 3}  # fmt: skip
    assert erasure.mentions(data)
    assert erasure.mentions("read 0A1B2C3D4E")
    assert not erasure.mentions({"member": "M-12", "name": "Ada Lovelace"})  # another member's: left alone
