"""Fulfilment on SQL: orders taken, specific items allocated, a pick list, packing checked by reading the packed
tags at a pack station, and shipped when the items are read leaving through a dock door.

An order's life:

    open --(every line allocated)--> allocated --(every item read at a pack station)--> packed
         --(every item passed out through a dock door)--> shipped;   open/allocated/packed --cancel--> cancelled

Allocation takes items in stock (received or in stock, not held back by a disposition, not allocated to another
order), first in first out, and is tried again for open orders whenever goods arrive. Packing is checked, not
assumed: a tag read at a pack station that belongs to no order being fulfilled is a ``silentgw.order.pack_error``
(wrong item) at once, and :func:`verify` names the allocated items that were never read there (missing items) as a
``pack_error`` too. Logistics hear each step as ``silentgw.order.<step>``, written in the transaction of the step.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select, update

from silentgw.gateway import events
from silentgw.gateway.actions import Outcome
from silentgw.gateway.events import TAG_ARRIVED, Event, StoredEvent, event_id
from silentgw.gateway.ledger import COUNTED
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import StoreError
from silentgw.gateway.store.models import Allocation, Base, Item, Order, OrderLine, OrderState, Product

__all__ = [
    "OrderError",
    "OrderLineIn",
    "OrdersRule",
    "UnknownOrder",
    "allocate",
    "cancel",
    "create",
    "lines_of",
    "pick_list",
    "verify",
]  # fmt: skip

_orders = Base.metadata.tables[Order.__tablename__]
_lines = Base.metadata.tables[OrderLine.__tablename__]
_alloc = Base.metadata.tables[Allocation.__tablename__]
_items = Base.metadata.tables[Item.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]

_ARRIVING = frozenset({events.ITEM + "commissioned", events.ITEM + "received", events.ITEM + "found"})
_SHIPPED = events.ITEM + "shipped"
_LIVE = (OrderState.OPEN, OrderState.ALLOCATED, OrderState.PACKED)


class OrderError(Exception):
    """An order that cannot be taken or changed as asked (the message says why; ``field`` names the input)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownOrder(StoreError):
    """No order has that id."""


@dataclass(frozen=True, slots=True)
class OrderLineIn:
    """A line as ordered: a product by GTIN or by SKU, and how many."""

    quantity: int
    gtin: str | None = None
    sku: str | None = None


def _event(kind: str, order: str, time: dt.datetime, data: dict[str, Any], *, cause: str) -> Event:
    type_ = f"silentgw.order.{kind}"
    return Event(event_id(type_, cause), type_, order, time, {"order": order, **data})


def create(
    conn: Connection, *, lines: list[OrderLineIn], ship_to: dict[str, Any], reference: str | None, time: dt.datetime
) -> tuple[str, bool]:
    """Take an order and allocate what stock allows; (its id, whether it is new: a known ``reference`` is not)."""
    if reference is not None:
        known = conn.execute(select(_orders.c.id).where(_orders.c.reference == reference)).scalar_one_or_none()
        if known is not None:
            return str(known), False
    products: list[int] = []
    for i, line in enumerate(lines):
        key = _products.c.gtin == line.gtin if line.gtin is not None else _products.c.sku == line.sku
        found = conn.execute(select(_products.c.id).where(key)).scalar_one_or_none()
        if found is None:
            raise OrderError(f"no product with {'GTIN ' + str(line.gtin) if line.gtin else 'SKU ' + str(line.sku)}",
                             field=f"lines.{i}")  # fmt: skip
        products.append(int(found))
    order = str(uuid.uuid5(events.NAMESPACE, f"order\n{reference}")) if reference else str(uuid.uuid4())
    conn.execute(_orders.insert().values(id=order, reference=reference, ship_to=ship_to, state=OrderState.OPEN,
                                         created_at=time, updated_at=time))  # fmt: skip
    conn.execute(_lines.insert(), [
        {"order_id": order, "line": n, "product_id": pid, "quantity": line.quantity}
        for n, (pid, line) in enumerate(zip(products, lines, strict=True), start=1)
    ])  # fmt: skip
    data = {"reference": reference, "ship_to": ship_to,
            "lines": [{"gtin": ln.gtin, "sku": ln.sku, "quantity": ln.quantity} for ln in lines]}  # fmt: skip
    outbox.append(conn, [_event("created", order, time, data, cause=order)])
    allocate(conn, order, time=time)
    return order, True


def allocate(conn: Connection, order: str, *, time: dt.datetime) -> bool:
    """Allocate items to the order's lines that are still short; whether every line is now allocated."""
    state = conn.execute(select(_orders.c.state).where(_orders.c.id == order)).scalar_one()
    if state != OrderState.OPEN:
        return bool(state != OrderState.CANCELLED)
    a, i, ln = _alloc.c, _items.c, _lines.c
    held = select(a.item_key).where(a.active.is_(True))
    short = False
    for line, product, quantity in conn.execute(
        select(ln.line, ln.product_id, ln.quantity).where(ln.order_id == order)
    ):
        have = conn.execute(select(func.count()).where(a.order_id == order, a.line == line, a.active.is_(True)))
        need = quantity - int(have.scalar_one())
        if need <= 0:
            continue
        free = conn.execute(
            select(i.key)
            .where(i.product_id == product, i.state.in_(sorted(COUNTED)), i.disposition.is_(None),
                   i.key.not_in(held))
            .order_by(i.first_seen_at, i.key)
            .limit(need)
        ).scalars().all()  # fmt: skip
        if free:
            conn.execute(
                _alloc.insert(), [{"order_id": order, "item_key": k, "line": line, "active": True} for k in free]
            )
        short = short or len(free) < need
    if short:
        return False
    conn.execute(update(_orders).where(_orders.c.id == order).values(state=OrderState.ALLOCATED, updated_at=time))
    outbox.append(conn, [_event("allocated", order, time, {"pick_list": pick_list(conn, order)}, cause=order)])
    return True


def pick_list(conn: Connection, order: str) -> list[dict[str, Any]]:
    """The order's allocated items: where each is (zone and location), what it is, and whether packed or shipped."""
    a, i, p = _alloc.c, _items.c, _products.c
    query = (
        select(a.line, a.item_key, i.epc, p.gtin, p.name, i.zone_id, i.location_id, a.packed_at, a.shipped_at)
        .join(_items, i.key == a.item_key)
        .join(_products, p.id == i.product_id)
        .where(a.order_id == order, a.active.is_(True))
        .order_by(i.location_id, i.zone_id, a.line, a.item_key)
    )
    return [
        {"line": line, "item": key, "epc": epc, "gtin": gtin, "name": name, "zone": zone, "location": location,
         "packed": packed is not None, "shipped": shipped is not None}
        for line, key, epc, gtin, name, zone, location, packed, shipped in conn.execute(query)
    ]  # fmt: skip


def verify(conn: Connection, order: str, *, station: str | None, time: dt.datetime) -> list[str]:
    """Close the packing check of ``order``: the allocated items not read at a pack station (a ``pack_error`` if
    any; the order stays unpacked)."""
    a = _alloc.c
    missing = list(conn.execute(
        select(a.item_key).where(a.order_id == order, a.active.is_(True), a.packed_at.is_(None)).order_by(a.item_key)
    ).scalars())  # fmt: skip
    if missing:
        data = {"reason": "missing", "items": missing, "station": station}
        outbox.append(conn, [_event("pack_error", order, time, data, cause=f"{order}/missing/{time.isoformat()}")])
    return missing


def cancel(conn: Connection, order: str, *, time: dt.datetime) -> None:
    """Cancel the order and release its items (OrderError once it has shipped or was cancelled)."""
    state = conn.execute(select(_orders.c.state).where(_orders.c.id == order)).scalar_one_or_none()
    if state is None:
        raise UnknownOrder(f"order {order!r} not found")
    if state not in _LIVE:
        raise OrderError(f"an order that is {state} cannot be cancelled", field="state")
    conn.execute(update(_alloc).where(_alloc.c.order_id == order).values(active=False))
    conn.execute(update(_orders).where(_orders.c.id == order).values(state=OrderState.CANCELLED, updated_at=time))
    outbox.append(conn, [_event("cancelled", order, time, {}, cause=order)])


class OrdersRule:
    """Fulfilment's reactions: allocate open orders when goods arrive, check packing, mark shipping."""

    def wants(self, event: StoredEvent) -> bool:
        """Arrivals of goods, tags at pack stations, items shipped."""
        return event.type in _ARRIVING or event.type in (TAG_ARRIVED, _SHIPPED)

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """Act on one event in ``conn``'s transaction."""
        if event.type in _ARRIVING:
            waiting = conn.execute(
                select(_orders.c.id).where(_orders.c.state == OrderState.OPEN).order_by(_orders.c.created_at)
            ).scalars().all()  # fmt: skip
            for order in waiting:
                allocate(conn, order, time=event.time)
        elif event.type == TAG_ARRIVED:
            self._packed(conn, event)
        else:
            self._shipped(conn, event)
        return Outcome()

    def _allocation(self, conn: Connection, key_column: Any, value: str) -> tuple[str, str] | None:
        a, o, i = _alloc.c, _orders.c, _items.c
        return conn.execute(
            select(a.order_id, a.item_key).join(_orders, o.id == a.order_id).join(_items, i.key == a.item_key)
            .where(key_column == value, a.active.is_(True), o.state.in_([str(s) for s in _LIVE]))
        ).first()  # fmt: skip

    def _packed(self, conn: Connection, event: StoredEvent) -> None:
        epc, station = str(event.data["epc"]), str(event.data["zone"])
        found = self._allocation(conn, _items.c.epc, epc)
        if found is None:
            data = {"reason": "wrong_item", "epc": epc, "station": station}
            outbox.append(conn, [_event("pack_error", "-", event.time, data, cause=event.id)])
            return
        order, key = found
        a = _alloc.c
        conn.execute(update(_alloc).where(and_(a.order_id == order, a.item_key == key, a.packed_at.is_(None)))
                     .values(packed_at=event.time))  # fmt: skip
        self._maybe(conn, order, "packed", a.packed_at, OrderState.PACKED, event.time)

    def _shipped(self, conn: Connection, event: StoredEvent) -> None:
        found = self._allocation(conn, _items.c.key, str(event.data["item"]))
        if found is None:
            return
        order, key = found
        a = _alloc.c
        conn.execute(update(_alloc).where(and_(a.order_id == order, a.item_key == key, a.shipped_at.is_(None)))
                     .values(shipped_at=event.time))  # fmt: skip
        self._maybe(conn, order, "shipped", a.shipped_at, OrderState.SHIPPED, event.time)

    def _maybe(
        self, conn: Connection, order: str, kind: str, column: Any, state: OrderState, time: dt.datetime
    ) -> None:
        """Move the order on once every one of its items has ``column`` set (and every line is allocated)."""
        a = _alloc.c
        current = conn.execute(select(_orders.c.state).where(_orders.c.id == order)).scalar_one()
        if current in (OrderState.OPEN, OrderState.CANCELLED, state):
            return
        left = conn.execute(select(func.count()).where(a.order_id == order, a.active.is_(True), column.is_(None)))
        if int(left.scalar_one()):
            return
        conn.execute(update(_orders).where(_orders.c.id == order).values(state=state, updated_at=time))
        outbox.append(conn, [_event(kind, order, time, {"items": _keys(conn, order)}, cause=order)])


def _keys(conn: Connection, order: str) -> list[str]:
    a = _alloc.c
    return list(conn.execute(select(a.item_key).where(a.order_id == order, a.active.is_(True)).order_by(a.item_key))
                .scalars())  # fmt: skip


def lines_of(conn: Connection, orders: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each order's lines with how many items are allocated to each."""
    ln, a, p = _lines.c, _alloc.c, _products.c
    allocated: defaultdict[tuple[str, int], int] = defaultdict(int)
    for order, line, n in conn.execute(
        select(a.order_id, a.line, func.count()).where(a.order_id.in_(orders), a.active.is_(True))
        .group_by(a.order_id, a.line)
    ):  # fmt: skip
        allocated[(order, line)] = int(n)
    found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    query = (select(ln.order_id, ln.line, p.gtin, p.sku, ln.quantity).join(_products, p.id == ln.product_id)
             .where(ln.order_id.in_(orders)).order_by(ln.order_id, ln.line))  # fmt: skip
    for order, line, gtin, sku, quantity in conn.execute(query):
        found[order].append({"line": line, "gtin": gtin, "sku": sku, "quantity": quantity,
                             "allocated": allocated[(order, line)]})  # fmt: skip
    return dict(found)
