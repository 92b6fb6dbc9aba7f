"""Restock on SQL: the rule that raises and receives requests from events, and the staff's steps on requests.

See :mod:`silentgw.gateway.restock` for the lifecycle. Everything here runs in the caller's transaction: the
:class:`RestockRule` in the actions sink's, :func:`take_step` in the API's, and each writes its events with
``outbox.append`` in that same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import Connection, select, update

from silentgw.gateway import events
from silentgw.gateway.actions import Outcome
from silentgw.gateway.events import STOCK_CHANGED, Event, StoredEvent, event_id
from silentgw.gateway.restock import OPEN, RECEIVING, RestockStep, reorder_quantity, request_event, step_allowed
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import StoreError, insert_or_skip
from silentgw.gateway.store.models import Base, Product, ReorderRule, RestockRequest, RestockState

__all__ = ["RestockRule", "StepRefused", "UnknownRequest", "take_step"]

logger = logging.getLogger(__name__)

_rules = Base.metadata.tables[ReorderRule.__tablename__]
_requests = Base.metadata.tables[RestockRequest.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]

RECEIVED = events.ITEM + "received"


class StepRefused(Exception):
    """A staff step that the request's state does not allow (approving a cancelled request)."""


class UnknownRequest(StoreError):
    """No restock request has that id."""


class RestockRule:
    """Raises a request when a level falls to its rule's minimum; counts received goods towards open requests."""

    def wants(self, event: StoredEvent) -> bool:
        """Level changes and goods received."""
        return event.type in (STOCK_CHANGED, RECEIVED)

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """Act on one event in ``conn``'s transaction."""
        if event.type == STOCK_CHANGED:
            return Outcome(self._level(conn, event))
        self._received(conn, event)
        return Outcome()

    def _level(self, conn: Connection, event: StoredEvent) -> list[Event]:
        gtin, location, level = str(event.data["gtin"]), str(event.data["location"]), int(event.data["quantity"])
        r, p = _rules.c, _products.c
        found = conn.execute(
            select(r.product_id, r.minimum, r.maximum, r.multiple, r.lead_time_days, r.auto_approve)
            .join(_products, p.id == r.product_id)
            .where(p.gtin == gtin, r.location_id == location)
        ).first()
        if found is None:
            return []
        if int(event.data.get("change", -1)) >= 0:
            return []  # a level that rose (shelves being filled) or held has not fallen to the minimum
        product, minimum, maximum, multiple, lead_days, auto = found
        quantity = reorder_quantity(level, minimum=minimum, maximum=maximum, multiple=multiple)
        if quantity == 0:
            return []
        q = _requests.c
        open_ = conn.execute(
            select(q.id).where(q.product_id == product, q.location_id == location, q.state.in_([str(s) for s in OPEN]))
        ).first()
        low = Event(
            event_id("silentgw.stock.low", event.id), "silentgw.stock.low", f"{gtin}@{location}", event.time,
            {"gtin": gtin, "location": location, "quantity": level, "minimum": minimum},
        )  # fmt: skip
        if open_ is not None:
            return [low]  # the shortfall already has its request
        request = event_id("silentgw.restock.requested", event.id)
        state = RestockState.APPROVED if auto else RestockState.PROPOSED
        due = event.time + dt.timedelta(days=lead_days)
        row = {
            "id": request, "product_id": product, "location_id": location, "quantity": quantity, "received": 0,
            "level": level, "state": state, "created_at": event.time, "updated_at": event.time, "due_at": due,
        }  # fmt: skip
        inserted = conn.execute(
            insert_or_skip(conn, _requests).values(row).on_conflict_do_nothing(index_elements=["id"])
        )
        if inserted.rowcount == 0:
            return [low]
        step = RestockStep(request, gtin, location, quantity, 0, state, level, due)
        raised = [low, request_event("requested", step, event.time, cause=request)]
        if auto:
            raised.append(request_event("approved", step, event.time, cause=f"{request}/auto"))
        logger.info("restock of %s at %s raised: %d (level %d, minimum %d)", gtin, location, quantity, level, minimum)
        return raised

    def _received(self, conn: Connection, event: StoredEvent) -> None:
        gtin = event.data.get("gtin")
        if gtin is None:
            return
        q, p = _requests.c, _products.c
        found = conn.execute(
            select(q.id, q.location_id, q.quantity, q.received, q.level, q.state, q.due_at)
            .join(_products, p.id == q.product_id)
            .where(p.gtin == gtin, q.state.in_([str(s) for s in RECEIVING]))
            .order_by(q.created_at, q.id)
            .limit(1)
        ).first()
        if found is None:
            return
        request, location, quantity, received, level, _state, due = found
        received += 1
        state = RestockState.RECEIVED if received >= quantity else RestockState.PARTIALLY_RECEIVED
        step = RestockStep(request, str(gtin), location, quantity, received, state, level, due)
        # The receipt's id is the arrival's alone: handed the same arrival again (a replay after a crash), it is
        # the same receipt, whichever request is open by then, and the item is not counted twice.
        receipt = request_event("received", step, event.time, cause=f"received/{event.id}")
        if outbox.append(conn, [receipt]) == 0:
            return  # this item was counted already (the event seen again)
        conn.execute(update(_requests).where(q.id == request).values(received=received, state=state,
                                                                      updated_at=event.time))  # fmt: skip


def take_step(conn: Connection, request: str, step: str, *, time: dt.datetime) -> RestockStep:
    """Approve, order or cancel ``request`` (:class:`UnknownRequest` if there is none, :class:`StepRefused` if the
    request's state does not allow the step)."""
    q, p = _requests.c, _products.c
    found = conn.execute(
        select(q.location_id, q.quantity, q.received, q.level, q.state, q.due_at, p.gtin)
        .join(_products, p.id == q.product_id)
        .where(q.id == request)
        .with_for_update()
    ).first()
    if found is None:
        raise UnknownRequest(f"restock request {request!r} not found")
    location, quantity, received, level, state, due, gtin = found
    kind = {"approve": "approved", "order": "ordered", "cancel": "cancelled"}[step]
    to = step_allowed(RestockState(state), step)
    if to is None:
        raise StepRefused(f"a request that is {state} cannot be {kind}")
    conn.execute(update(_requests).where(q.id == request).values(state=to, updated_at=time))
    done = RestockStep(request, gtin, location, quantity, received, to, level, due)
    outbox.append(conn, [request_event(kind, done, time, cause=f"{request}/{kind}")])
    return done
