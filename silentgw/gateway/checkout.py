"""Checkout: member cards and tagged items at the tills become sales; items out of the exit unsold raise an alarm.

A *session* is one customer at one checkout zone. It opens when a member's card is presented there (an EM4100 card on
the pad, or a UHF tag registered as a card arriving in the zone), or, with no card, when a tagged item arrives there
(an anonymous sale). The rules, in the order :func:`step` applies them:

- **A card** held on the pad repeats its id several times a second: the same member at the same checkout is one
  session. A different member's card closes the open session and opens a new one, except that a card presented no
  more than ``card_grace`` seconds after an anonymous session opened claims it (tills often read the basket before
  the customer finds the card). Unknown cards are ignored.
- **An item** arriving in (or moving into) a checkout zone joins that checkout's open session, opening an anonymous
  one if there is none; it leaves any other open session. An item that moves from the checkout to a zone that is not
  a checkout was put back: it leaves the session. An item already sold joins nothing until it passes back *in*
  through an exit (a return).
- **A session closes** when every item in it has left the checkout (passed out through an exit, or departed the
  zone), when a new card closes it, or after ``idle_timeout`` seconds with no activity (no card read, item arriving
  or leaving). A session with items becomes one :class:`Sale`; one without becomes nothing.
- **An item passing out through an exit** that is neither in an open session nor sold raises one
  :class:`UnpaidExit`. Passes through other portals (a dock door) are shipments, not exits.
- **An item leaving with its customer** (passing out through an exit, or gone from the checkout, while in an open
  session or once sold) is *carried*: :func:`step` returns those transitions apart, because the sale its session
  becomes takes the item out of stock. The ledger must not also take them as losses: a basket's items pass the exit
  a moment apart, and the session closes on the last one, so the first would otherwise count as missing before the
  sale sold it (or a whole micro-batch before, if the last item is read later).

Replays: a sale's id is derived from its checkout and the time its session opened, so the same input gives the same
id, and each checkout remembers when its last session closed: card reads and item arrivals there stamped no later
than that are a replay of what the closed session already holds, and are ignored. Raised alarms are remembered too.
What is remembered (sold items, raised alarms) is forgotten ``retention`` seconds later, which bounds the state; it
is kept in place (:class:`Remembered`), as presence keeps its tags, so a micro-batch costs what it changes, never a
copy of the day's sold items: :func:`step` returns a state that shares them with the one it was given.

Prices are not part of a sale: :func:`receipt` prices one from a lookup ``epc -> (gtin, price)`` when the catalog
is at hand. Times are timezone-aware; ``now`` is the caller's clock.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import uuid
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TypeVar

from silentgw.drivers.observations import Observation, TagRead
from silentgw.gateway.transitions import Arrived, Departed, Moved, Passed, Transition

__all__ = [
    "CardPresented",
    "CheckoutEvent",
    "CheckoutRules",
    "CheckoutState",
    "Line",
    "Receipt",
    "Remembered",
    "Sale",
    "Session",
    "UnpaidExit",
    "cards_from",
    "receipt",
    "sale_id",
    "step",
]

K = TypeVar("K", bound=Hashable)

_SALES = uuid.UUID("6f1c3f5e-2b7a-5d3e-9a51-0c4e8b7d2a10")  # the namespace sale ids are derived in (fixed forever)


@dataclass(frozen=True, slots=True)
class CardPresented:
    """A member card read at a checkout: its id (EM4100 card id, or a tag's EPC) and when."""

    card: str
    zone: str
    time: dt.datetime


@dataclass(frozen=True, slots=True)
class Sale:
    """One checkout session that sold items: whose (None: anonymous), which items, where and when it closed."""

    id: str
    member: str | None
    items: tuple[str, ...]
    """The EPCs sold, sorted."""
    time: dt.datetime
    """When the session closed."""
    checkout: str
    opened: dt.datetime


@dataclass(frozen=True, slots=True)
class UnpaidExit:
    """An item passed out through an exit without being sold."""

    epc: str
    portal: str
    time: dt.datetime


CheckoutEvent = Sale | UnpaidExit


@dataclass(frozen=True, slots=True)
class CheckoutRules:
    """Which zones are checkouts and exits, and the session timings."""

    checkouts: frozenset[str]
    exits: frozenset[str]
    idle_timeout: float = 120.0
    """Seconds without activity before an open session closes (a basket left on the pad is sold all the same)."""
    card_grace: float = 15.0
    """Seconds after an anonymous session opened within which a card still claims it."""
    retention: float = 86_400.0
    """Seconds sold items and raised alarms are remembered: longer than any replay or walk to the door."""

    def __post_init__(self) -> None:
        if min(self.idle_timeout, self.card_grace, self.retention) < 0:
            raise ValueError("timeouts, grace and retention cannot be negative")
        if self.checkouts & self.exits:
            raise ValueError("a zone cannot be both a checkout and an exit")


class Remembered(Mapping[K, dt.datetime]):
    """Keys remembered with a time, changed in place; forgetting those older than a cutoff costs what it forgets
    (a heap by time: an entry whose key was dropped or remembered anew since is passed over when it comes up)."""

    __slots__ = ("_heap", "_order", "_times")

    def __init__(self) -> None:
        self._times: dict[K, dt.datetime] = {}
        self._heap: list[tuple[dt.datetime, int, K]] = []
        self._order = itertools.count()  # ties in time go by insertion: keys need not be ordered

    def __getitem__(self, key: K) -> dt.datetime:
        return self._times[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._times)

    def __len__(self) -> int:
        return len(self._times)

    def remember(self, key: K, time: dt.datetime) -> None:
        """Remember ``key`` as of ``time`` (anew, if it was remembered)."""
        self._times[key] = time
        heapq.heappush(self._heap, (time, next(self._order), key))

    def drop(self, key: K) -> None:
        """Forget ``key`` now."""
        self._times.pop(key, None)

    def forget(self, cutoff: dt.datetime) -> None:
        """Forget every key remembered as of a time before ``cutoff``."""
        heap = self._heap
        while heap and heap[0][0] < cutoff:
            time, _, key = heapq.heappop(heap)
            if self._times.get(key) == time:
                del self._times[key]


@dataclass(frozen=True, slots=True)
class Session:
    """A customer at a checkout: the member (None until a card is shown), the items, which of them have left."""

    checkout: str
    opened: dt.datetime
    active: dt.datetime
    """The latest activity: a card read, an item arriving or leaving."""
    member: str | None = None
    items: Mapping[str, dt.datetime] = field(default_factory=dict)
    """The items (EPCs) and when each joined: a departure stamped earlier is stale and says nothing."""
    left: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CheckoutState:
    """The open sessions, what was sold, when each checkout last closed a session, and the alarms raised."""

    rules: CheckoutRules
    sessions: Mapping[str, Session] = field(default_factory=dict)
    """Open sessions by checkout zone (at most one each)."""
    sold: Remembered[str] = field(default_factory=Remembered)
    """Sold EPCs and when their sale closed (kept in place: a step's state shares it with the state before)."""
    closed: Mapping[str, dt.datetime] = field(default_factory=dict)
    """When each checkout last closed a session: its input up to then is already accounted for."""
    raised: Remembered[UnpaidExit] = field(default_factory=Remembered)
    """The alarms raised, and when (kept in place, as ``sold``)."""


def sale_id(checkout: str, opened: dt.datetime) -> str:
    """The stable id of the sale a session at ``checkout`` opened at ``opened`` becomes (a UUID, as text)."""
    return str(uuid.uuid5(_SALES, f"{checkout}|{opened.astimezone(dt.UTC).isoformat()}"))


def cards_from(observations: Iterable[Observation], readers: Mapping[str, str]) -> list[CardPresented]:
    """The card presentations among ``observations``: EM4100 reads by the card readers in ``readers``."""
    return [
        CardPresented(obs.epc, readers[obs.reader], obs.time)
        for obs in observations
        if type(obs) is TagRead and obs.protocol == "em4100" and obs.reader in readers
    ]


# Inputs stamped alike are taken card first, then arrivals, then departures: a card and the first item read in the
# same instant make a member's sale, and an item arriving and leaving in one instant is still sold.
_RANK: Mapping[type, int] = {CardPresented: 0, Arrived: 1, Moved: 1, Departed: 2, Passed: 2}


class _Work:
    """One step's working state: copies of the sessions and closing times (one per checkout), and the state's own
    sold items and alarms, changed in place."""

    def __init__(self, state: CheckoutState, members: Mapping[str, str]) -> None:
        self.rules = state.rules
        self.members = members
        self.sessions = dict(state.sessions)
        self.sold = state.sold
        self.closed = dict(state.closed)
        self.raised = state.raised
        self.events: list[CheckoutEvent] = []
        self.carried: list[Transition] = []

    def freeze(self) -> CheckoutState:
        return CheckoutState(self.rules, self.sessions, self.sold, self.closed, self.raised)

    def replayed(self, zone: str, t: dt.datetime) -> bool:
        last = self.closed.get(zone)
        return last is not None and t <= last

    def close(self, s: Session, t: dt.datetime) -> None:
        del self.sessions[s.checkout]
        last = self.closed.get(s.checkout)
        self.closed[s.checkout] = t if last is None or t > last else last
        if s.items:
            self.events.append(Sale(sale_id(s.checkout, s.opened), s.member, tuple(sorted(s.items)), t, s.checkout,
                                    s.opened))  # fmt: skip
            for epc in s.items:
                self.sold.remember(epc, t)

    def expire(self, t: dt.datetime) -> None:
        idle = dt.timedelta(seconds=self.rules.idle_timeout)
        for zone in sorted(self.sessions):
            s = self.sessions[zone]
            if s.active + idle < t:
                self.close(s, s.active + idle)

    def present(self, card: str, zone: str, t: dt.datetime) -> None:
        member = self.members.get(card)
        if member is None or zone not in self.rules.checkouts or self.replayed(zone, t):
            return
        s = self.sessions.get(zone)
        if s is not None:
            if s.member == member:
                self.sessions[zone] = replace(s, active=max(s.active, t))
                return
            grace = dt.timedelta(seconds=self.rules.card_grace)
            if s.member is None and t - s.opened <= grace:
                self.sessions[zone] = replace(s, member=member, active=max(s.active, t))
                return
            self.close(s, t)
        self.sessions[zone] = Session(zone, t, t, member)

    def arrive(self, epc: str, zone: str, t: dt.datetime) -> None:
        if epc in self.sold or self.replayed(zone, t):
            return
        for other, s in list(self.sessions.items()):
            if other != zone and epc in s.items:
                self.drop(epc, s, t)
        s = self.sessions.get(zone) or Session(zone, t, t)
        items = {**s.items, epc: s.items.get(epc, t)}
        self.sessions[zone] = replace(s, items=items, left=s.left - {epc}, active=max(s.active, t))

    def drop(self, epc: str, s: Session, t: dt.datetime) -> None:
        """``epc`` is no longer part of ``s`` (put back, or taken to another checkout)."""
        items = {item: joined for item, joined in s.items.items() if item != epc}
        s = replace(s, items=items, left=s.left - {epc}, active=max(s.active, t))
        if not s.items and s.member is None:
            del self.sessions[s.checkout]  # an anonymous session with nothing in it is no session
            return
        self.sessions[s.checkout] = s
        if s.items and s.left == s.items.keys():
            self.close(s, t)

    def leave(self, epc: str, s: Session, t: dt.datetime) -> bool:
        """``epc`` leaves the checkout with the customer of ``s``; False if the news is stale (before it joined)."""
        if t < s.items[epc]:
            return False
        if epc in s.left:
            return True  # already gone: a pass out and the departure it makes are one leaving
        s = self.sessions[s.checkout] = replace(s, left=s.left | {epc}, active=max(s.active, t))
        if s.left == s.items.keys():
            self.close(s, t)
        return True

    def holding(self, epc: str) -> Session | None:
        for s in self.sessions.values():
            if epc in s.items:
                return s
        return None

    def apply(self, event: CardPresented | Transition) -> None:
        checkouts = self.rules.checkouts
        if type(event) is CardPresented:
            self.present(event.card, event.zone, event.time)
        elif type(event) is Arrived:
            if event.epc in self.members:
                self.present(event.epc, event.zone, event.time)
            elif event.zone in checkouts:
                self.arrive(event.epc, event.zone, event.time)
        elif type(event) is Moved:
            if event.epc in self.members:
                self.present(event.epc, event.to_zone, event.time)
            elif event.to_zone in checkouts:
                self.arrive(event.epc, event.to_zone, event.time)
            elif event.from_zone in checkouts:
                s = self.sessions.get(event.from_zone)
                if s is not None and event.epc in s.items:
                    self.drop(event.epc, s, event.time)
        elif type(event) is Departed:
            s = self.sessions.get(event.zone)
            if s is not None and event.epc in s.items:
                if self.leave(event.epc, s, event.time):
                    self.carried.append(event)
            elif event.zone in checkouts and event.epc in self.sold:
                self.carried.append(event)
        elif type(event) is Passed and event.portal in self.rules.exits and event.epc not in self.members:
            self.passed(event)

    def passed(self, p: Passed) -> None:
        if p.direction == "in":
            sold_at = self.sold.get(p.epc)
            if sold_at is not None and p.time > sold_at:
                self.sold.drop(p.epc)  # brought back: it may be sold again
            return
        if p.epc in self.sold:
            self.carried.append(p)
            return
        s = self.holding(p.epc)
        if s is not None:
            if self.leave(p.epc, s, p.time):
                self.carried.append(p)
            return
        alarm = UnpaidExit(p.epc, p.portal, p.time)
        if alarm not in self.raised:
            self.raised.remember(alarm, alarm.time)
            self.events.append(alarm)

    def forget(self, now: dt.datetime) -> None:
        cutoff = now - dt.timedelta(seconds=self.rules.retention)
        self.sold.forget(cutoff)
        self.raised.forget(cutoff)


def step(
    state: CheckoutState,
    *,
    cards: Sequence[CardPresented],
    transitions: Sequence[Transition],
    members: Mapping[str, str],
    now: dt.datetime,
) -> tuple[CheckoutState, list[CheckoutEvent], list[Transition]]:
    """Apply a micro-batch of card reads and presence transitions (taken in time order) at ``now``.

    ``members`` maps a card id (EM4100 id, or the EPC of a tag registered as a card) to its member's number. Returns
    the next state, the sales and alarms in the order they happened, and the transitions *carried*: items leaving
    with the customer of a session (passed out through an exit, gone from the checkout), which the session's sale
    takes out of stock, so they are no loss. The next state shares ``state``'s sold items and alarms, which the step
    changed in place: carry on from the state returned, never from ``state``.
    """
    work = _Work(state, members)
    inputs: list[CardPresented | Transition] = [*cards, *transitions]
    order = sorted(range(len(inputs)), key=lambda i: (inputs[i].time, _RANK[type(inputs[i])], i))
    for i in order:
        event = inputs[i]
        work.expire(event.time)
        work.apply(event)
    work.expire(now)
    work.forget(now)
    return work.freeze(), work.events, work.carried


@dataclass(frozen=True, slots=True)
class Line:
    """One priced item of a sale."""

    epc: str
    gtin: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Receipt:
    """A sale priced from the catalog: its lines, the items with no price, and the total of the priced ones."""

    sale: Sale
    lines: tuple[Line, ...]
    unpriced: tuple[str, ...]
    total: Decimal


def receipt(sale: Sale, prices: Mapping[str, tuple[str, Decimal]]) -> Receipt:
    """Price ``sale`` with ``prices`` (epc -> (gtin, price)); an item with no price is listed, never counted as 0."""
    lines = tuple(Line(epc, *prices[epc]) for epc in sale.items if epc in prices)
    unpriced = tuple(epc for epc in sale.items if epc not in prices)
    return Receipt(sale, lines, unpriced, sum((line.price for line in lines), start=Decimal(0)))
