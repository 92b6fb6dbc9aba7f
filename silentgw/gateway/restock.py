"""Restock: shelves that order their own goods.

A reorder rule per product and location names a minimum, a maximum, an order multiple and a lead time. When the
product's level there falls to the minimum or below (a ``silentgw.stock.changed`` event with a negative change; a
level still below it while shelves are being filled raises nothing), a restock request is
raised for the quantity that brings it back to the maximum, rounded up to the multiple, unless a request for that
product and location is still open: one shortfall, one request. A request lives through

    proposed --approve--> approved --order--> ordered --(goods arrive)--> partially_received --> received
        \\______________________\\______________________\\--cancel--> cancelled

Staff approve, order and cancel through the API; a rule with ``auto_approve`` approves its requests as they are
raised. Goods are received when their tags are read arriving through receiving (``silentgw.item.received``): each
item counts once towards the oldest open request (approved or later) of its product.

Every step is an event (``silentgw.stock.low``, ``silentgw.restock.requested|approved|ordered|received|cancelled``)
written in the transaction of the step. The request's id derives from the event that raised it, and each receipt's
event from the item's, so a rule that sees the same event twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass

from silentgw.gateway.events import Event, event_id

__all__ = [
    "OPEN",
    "TRANSITIONS",
    "RestockState",
    "RestockStep",
    "reorder_quantity",
    "request_event",
    "step_allowed",
]


class RestockState(enum.StrEnum):
    """Where a restock request is in its life (stored as checked strings: ``store.models.RestockRequest.state``)."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    ORDERED = "ordered"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


OPEN = frozenset({RestockState.PROPOSED, RestockState.APPROVED, RestockState.ORDERED, RestockState.PARTIALLY_RECEIVED})
"""States in which a request is open: no second request is raised for the same product and location."""

RECEIVING = frozenset({RestockState.APPROVED, RestockState.ORDERED, RestockState.PARTIALLY_RECEIVED})
"""States in which arriving goods count towards a request (a merely proposed one has not been agreed)."""

TRANSITIONS: dict[str, tuple[frozenset[RestockState], RestockState]] = {
    "approve": (frozenset({RestockState.PROPOSED}), RestockState.APPROVED),
    "order": (frozenset({RestockState.PROPOSED, RestockState.APPROVED}), RestockState.ORDERED),
    "cancel": (frozenset(OPEN), RestockState.CANCELLED),
}
"""The staff's steps: from which states each is allowed, and where it leads."""


@dataclass(frozen=True, slots=True)
class RestockStep:
    """A request as an event sees it."""

    request: str
    gtin: str
    location: str
    quantity: int
    received: int
    state: RestockState
    level: int
    due: dt.datetime


def reorder_quantity(level: int, *, minimum: int, maximum: int, multiple: int) -> int:
    """How many to order at ``level``: up to ``maximum``, rounded up to ``multiple``; 0 above the minimum."""
    if level > minimum:
        return 0
    short = maximum - level
    return math.ceil(short / multiple) * multiple


def step_allowed(state: RestockState, step: str) -> RestockState | None:
    """The state ``step`` leads to from ``state``, or None if it is not allowed there."""
    allowed, to = TRANSITIONS[step]
    return to if state in allowed else None


def request_event(kind: str, step: RestockStep, time: dt.datetime, *, cause: str) -> Event:
    """``silentgw.restock.<kind>`` about ``step``'s request; ``cause`` makes the id (one event per cause)."""
    type_ = f"silentgw.restock.{kind}"
    data = {
        "request": step.request, "gtin": step.gtin, "location": step.location, "quantity": step.quantity,
        "received": step.received, "state": str(step.state), "level": step.level, "due": step.due.isoformat(),
    }  # fmt: skip
    return Event(event_id(type_, cause), type_, step.request, time, data)
