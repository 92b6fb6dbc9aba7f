"""The simulator's ground truth: where every item really is, and what really happened, to check the gateway against."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = ["Happening", "Sale", "SimItem", "Truth", "What"]

What = Literal["arrived", "stocked", "shelved", "picked", "at_checkout", "sold", "left", "unpaid_exit", "card"]
"""What happened: to an item (arrived ... left, unpaid_exit) or a member (card: presented at a checkout)."""


@dataclass(frozen=True, slots=True)
class SimItem:
    """A tagged item of the simulated store."""

    epc: str
    """The EPC as the tag holds it (SGTIN-96 hex)."""
    key: str
    """Its GS1 key, as the gateway keys items."""
    gtin: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class Happening:
    """One thing that really happened in the store."""

    time: dt.datetime
    what: What
    subject: str
    """An item's EPC, a member's number, a sensor id."""
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Sale:
    """A checkout that really happened."""

    time: dt.datetime
    member: str | None
    items: tuple[str, ...]
    total: Decimal


@dataclass(slots=True)
class Truth:
    """Where every item is (a zone id, or None once it left the store) and the log of what happened."""

    items: dict[str, SimItem] = field(default_factory=dict)
    location: dict[str, str | None] = field(default_factory=dict)
    happenings: list[Happening] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)

    def place(self, item: SimItem, zone: str | None, time: dt.datetime, what: What) -> None:
        """Put ``item`` in ``zone`` (None: out of the store, or in a shopper's basket) and log why."""
        self.items[item.epc] = item
        self.location[item.epc] = zone
        self.happenings.append(Happening(time, what, item.epc, zone))

    def note(self, time: dt.datetime, what: What, subject: str, zone: str | None = None) -> None:
        """Log something that moved no item (a card presented, a fridge alarm)."""
        self.happenings.append(Happening(time, what, subject, zone))

    def in_zone(self, zone: str) -> list[str]:
        """The EPCs really in ``zone`` now."""
        return [epc for epc, where in self.location.items() if where == zone]

    def stock(self) -> Counter[tuple[str, str]]:
        """How many items of each GTIN are in each zone."""
        return Counter((self.items[epc].gtin, zone) for epc, zone in self.location.items() if zone is not None)

    def count(self, what: What) -> int:
        """How many happenings of one kind there were."""
        return sum(1 for h in self.happenings if h.what == what)
