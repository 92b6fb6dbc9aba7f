"""Member value: recency, frequency and monetary figures, their 1-5 scores against all members, a segment, points.

**Figures** (:func:`figures`), per member, from their purchases: recency (days from the last purchase to ``today``),
frequency (how many purchases), monetary (the total spent) and the largest single purchase.

**Scores** (:func:`scores`) rank every member against all members, one metric at a time (fewer days since the last
purchase is better; more purchases and more money are better), in quintiles by *mid-rank*: a member's position is
the share of members they beat plus half the share they tie with, ``p = (beaten + tied / 2) / n`` (``tied`` counts
the member), and the score is ``1 + floor(5 p)``, so each fifth of the members gets one score. Consequences, stated
so nobody has to work them out: members with equal figures always get the same score; a single member, or members
all alike, score 3 (the middle: nothing to set them apart); two members score 2 and 4; five distinct members score 1
to 5. Members who never bought anything score 1 on all three (there is nothing to rank them by) and count as beaten
by every buyer.

**Between looks** (:class:`Ranking`): ranking against all members takes every member's figures, so it is done at a
*look* (the member rules' daily one), which keeps every member's figures sorted per metric; between looks a member
whose figures changed (a sale's) is ranked against that look's members as one more member, by the same mid-rank rule:
``n`` is the look's members plus one, ``beaten`` the look's members below their figure, ``tied`` those level with it
plus themselves. (Their own figure at the look is among the beaten: with many members that moves no edge, with a
handful it may lift a score by one; the next look ranks everyone exactly again.)

**Segments** (:func:`segment`), the first rule that holds, in this order (R, F, M are the scores; "purchases" the
raw count):

1. **New**: at most one purchase, and the first purchase (or, with none, joining) at most ``new_days`` ago.
2. **Champions**: R >= 4 and F >= 4 and M >= 4, with at least two purchases.
3. **Loyal**: R >= 3 and F >= 3, with at least two purchases.
4. **Potential**: R >= 3 (bought lately, not yet often).
5. **At risk**: R <= 2 and (F >= 3 or M >= 4): bought often or much, but not lately.
6. **Hibernating**: R = 2.
7. **Lost**: R = 1.

Rules 4 and 7 catch whatever the rules before them leave with R >= 3 and R <= 2 respectively, so every member has
exactly one segment. Loyalty takes a repeat purchase: a single purchase can score F >= 3 when most members made one.

**Points** (:func:`points`): ``per_unit`` points per whole currency unit of a sale's total, rounded down, and never
negative (a refund takes no points: taking points back is a decision of its own, not this function's).

**Erasure** (:class:`Erasure`): what erasing a member makes of a value the store holds (an event's data, a dead
letter): their number becomes their pseudonym wherever it stands alone (not inside a longer number), a string that
is one of their personal values (name, email, phone, birthday, card ids) becomes null, and one that holds such a
value has it cut out (``[erased]``). The store applies it (``store/members.py``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import math
import re
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "ERASED",
    "Erasure",
    "MemberFigures",
    "Purchase",
    "Ranking",
    "Rfm",
    "Segment",
    "figures",
    "points",
    "scores",
    "segment",
]

ERASED = "[erased]"
"""What stands where a personal value was cut out of a longer text."""


class Segment(enum.StrEnum):
    """Where a member stands in the programme (the rules are in this module's docstring)."""

    CHAMPIONS = "Champions"
    LOYAL = "Loyal"
    POTENTIAL = "Potential"
    NEW = "New"
    AT_RISK = "At risk"
    HIBERNATING = "Hibernating"
    LOST = "Lost"


@dataclass(frozen=True, slots=True)
class Purchase:
    """One sale on a member's record: the day it was made (in the site's time zone) and its total."""

    day: dt.date
    total: Decimal


@dataclass(frozen=True, slots=True)
class MemberFigures:
    """One member's purchase figures (recency is counted from ``last`` on the day asked about)."""

    number: str
    frequency: int = 0
    monetary: Decimal = Decimal(0)
    largest: Decimal = Decimal(0)
    first: dt.date | None = None
    last: dt.date | None = None
    joined: dt.date | None = None

    def __post_init__(self) -> None:
        if self.frequency < 0:
            raise ValueError("frequency cannot be negative")
        if (self.frequency == 0) != (self.last is None) or (self.first is None) != (self.last is None):
            raise ValueError("a member has first and last purchase days exactly when they have purchases")

    def recency(self, today: dt.date) -> int | None:
        """Days from the last purchase to ``today`` (None: never bought)."""
        return None if self.last is None else (today - self.last).days


@dataclass(frozen=True, slots=True)
class Rfm:
    """A member's recency, frequency and monetary scores, each 1 (lowest fifth) to 5 (highest)."""

    recency: int
    frequency: int
    monetary: int

    def __post_init__(self) -> None:
        if not all(1 <= s <= 5 for s in (self.recency, self.frequency, self.monetary)):
            raise ValueError("scores run from 1 to 5")

    def __str__(self) -> str:
        """The usual three-digit code, ``"545"``."""
        return f"{self.recency}{self.frequency}{self.monetary}"


def figures(number: str, purchases: Iterable[Purchase], *, joined: dt.date | None = None) -> MemberFigures:
    """A member's figures from their purchases (any order)."""
    bought = list(purchases)
    if not bought:
        return MemberFigures(number, joined=joined)
    totals = [p.total for p in bought]
    days = [p.day for p in bought]
    return MemberFigures(number, len(bought), sum(totals, start=Decimal(0)), max(totals), min(days), max(days),
                         joined)  # fmt: skip


def _quintiles(values: Sequence[tuple[int, Decimal | int]]) -> list[int]:
    """Mid-rank quintile scores of ``values``, higher being better; each is (bought, value), non-buyers (0, 0)."""
    n = len(values)
    ranked = sorted(values)
    out: list[int] = []
    for v in values:
        beaten = bisect.bisect_left(ranked, v)
        tied = bisect.bisect_right(ranked, v) - beaten
        # 1 + floor(5 p) with p = (beaten + tied / 2) / n, in integers so no rounding moves a member across an edge
        out.append(1 + min(4, 5 * (2 * beaten + tied) // (2 * n)) if v[0] else 1)
    return out


def scores(members: Sequence[MemberFigures], today: dt.date) -> dict[str, Rfm]:
    """Every member's scores against all of ``members``, by member number (the rule is in the module docstring)."""
    numbers = [m.number for m in members]
    if len(set(numbers)) != len(numbers):
        raise ValueError("member numbers must be unique")
    bought = [1 if m.frequency else 0 for m in members]
    # Fewer days since the last purchase is better: rank by minus the days, so that higher is better throughout.
    recent = [(b, -(m.recency(today) or 0)) for b, m in zip(bought, members, strict=True)]
    frequent = [(b, m.frequency) for b, m in zip(bought, members, strict=True)]
    spent = [(b, m.monetary) for b, m in zip(bought, members, strict=True)]
    r, f, m = _quintiles(recent), _quintiles(frequent), _quintiles(spent)
    return {number: Rfm(*s) for number, *s in zip(numbers, r, f, m, strict=True)}


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every member's figures at a look, sorted per metric: what a member is ranked against until the next look."""

    members: int
    """How many members the look ranked (buyers or not)."""
    last: Sequence[int]
    """The buyers' last-purchase days (ordinals), rising: a later day ranks higher, as fewer days since does."""
    frequency: Sequence[int]
    monetary: Sequence[Decimal]

    @classmethod
    def of(cls, members: Iterable[MemberFigures]) -> Ranking:
        """The ranking of a look over ``members`` (every member)."""
        everyone = list(members)
        bought = [m for m in everyone if m.last is not None]
        return cls(
            len(everyone),
            array("l", sorted(m.last.toordinal() for m in bought if m.last is not None)),
            array("q", sorted(m.frequency for m in bought)),
            sorted(m.monetary for m in bought),
        )

    def score(self, figures: MemberFigures) -> Rfm:
        """``figures`` ranked against the look's members as one more member (1, 1, 1 if they never bought)."""
        if figures.last is None:
            return Rfm(1, 1, 1)
        return Rfm(self._rank(self.last, figures.last.toordinal()), self._rank(self.frequency, figures.frequency),
                   self._rank(self.monetary, figures.monetary))  # fmt: skip

    def _rank(self, values: Sequence[Any], value: Any) -> int:
        n = self.members + 1
        below = bisect.bisect_left(values, value)
        beaten = self.members - len(values) + below  # every member who never bought, and the buyers below
        tied = bisect.bisect_right(values, value) - below + 1
        return 1 + min(4, 5 * (2 * beaten + tied) // (2 * n))


def segment(rfm: Rfm, figures: MemberFigures, today: dt.date, *, new_days: int = 30) -> Segment:
    """The member's segment: the first of the module docstring's rules that holds."""
    r, f, m = rfm.recency, rfm.frequency, rfm.monetary
    since = figures.first if figures.first is not None else figures.joined
    if figures.frequency <= 1 and since is not None and (today - since).days <= new_days:
        return Segment.NEW
    repeat = figures.frequency >= 2
    if r >= 4 and f >= 4 and m >= 4 and repeat:
        return Segment.CHAMPIONS
    if r >= 3 and f >= 3 and repeat:
        return Segment.LOYAL
    if r >= 3:
        return Segment.POTENTIAL
    if f >= 3 or m >= 4:
        return Segment.AT_RISK
    return Segment.HIBERNATING if r == 2 else Segment.LOST


def points(sale_total: Decimal, *, per_unit: Decimal | int = 1) -> int:
    """Loyalty points for a sale: ``per_unit`` per whole currency unit of its total, rounded down, never negative."""
    if per_unit < 0:
        raise ValueError("points per unit cannot be negative")
    return max(0, math.floor(Decimal(sale_total) * Decimal(per_unit)))


@dataclass(frozen=True, slots=True)
class Erasure:
    """Erasing one member: their ``number`` becomes ``pseudonym``, their ``personal`` values are taken out.

    ``cards`` (among the personal values) identify the member as the number does: a value is about the member
    (:meth:`mentions`) when it holds either; only such values are rewritten, so another member's data that happens to
    hold a word of this one's name is left alone.
    """

    number: str
    pseudonym: str
    cards: frozenset[str]
    personal: frozenset[str]

    def _number(self) -> re.Pattern[str]:
        # Member numbers are letters, digits and dashes: "M-1" inside "M-12" is another member's number.
        return re.compile(rf"(?<![A-Za-z0-9-]){re.escape(self.number)}(?![A-Za-z0-9-])")

    def mentions(self, value: Any) -> bool:
        """Whether a text or JSON value holds the member's number (standing alone) or one of their cards."""
        if isinstance(value, str):
            return self._number().search(value) is not None or any(card in value for card in self.cards)
        if isinstance(value, dict):
            return any(self.mentions(k) or self.mentions(v) for k, v in value.items())
        if isinstance(value, list):
            return any(self.mentions(v) for v in value)
        return False

    def text(self, value: str) -> str:
        """``value`` with the number replaced where it stands alone and every personal value cut out."""
        out = self._number().sub(self.pseudonym, value)
        for personal in sorted(self.personal, key=len, reverse=True):  # the longest first: a name holding another
            out = out.replace(personal, ERASED)
        return out

    def json(self, value: Any) -> Any:
        """A JSON value (an event's data) with the member erased from it, keys and strings at any depth."""
        if isinstance(value, str):
            return None if value in self.personal else self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value
