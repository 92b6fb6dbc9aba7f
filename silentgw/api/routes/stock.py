"""Stock and items: how many of a product are where (by location, or by zone), what is low, where one item is and
everything that happened to it.

Levels per product and location are the ledger's, kept current as movements are written, so a query never sums the
ledger. Counts per zone come from the items held there. An item is found by the EPC read from its tag (hex) or by
its GTIN and serial; its history is its movements in the ledger and the events about it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, or_, select, tuple_

from silentgw.api.deps import LimitDep, SessionDep
from silentgw.api.schemas import PageOut
from silentgw.gateway.catalog import InvalidCursor, NotFound, contains
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.ledger import COUNTED
from silentgw.gateway.store.models import (
    Event,
    Item,
    Product,
    ReorderRule,
    StockLevel,
    StockMovement,
)

router = APIRouter(tags=["stock"])

Cursor = Annotated[str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")]


class LevelOut(BaseModel):
    """How many of a product are at a location (or, asked by zone, in a zone)."""

    gtin: str
    sku: str
    name: str
    location: str | None
    zone: str | None = None
    quantity: int


class LowOut(LevelOut):
    """A level at or below its reorder rule's minimum."""

    minimum: int
    maximum: int


class ItemOut(BaseModel):
    """One tagged item: what it is, its state, where it is counted and where it was last seen."""

    key: str
    epc: str
    gtin: str | None
    serial: str | None
    state: str
    location: str | None
    zone: str | None
    disposition: str | None
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime


class MovementOut(BaseModel):
    """A ledger movement of an item."""

    time: dt.datetime
    reason: str
    from_location: str | None
    to_location: str | None


class HistoryOut(BaseModel):
    """An item and everything that happened to it, oldest first."""

    item: ItemOut
    movements: list[MovementOut]
    events: list[dict[str, Any]]


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def _after(cursor: str | None, kinds: tuple[type, ...]) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise InvalidCursor("not a cursor this API handed out", field="cursor") from exc
    if (
        not isinstance(values, list)
        or len(values) != len(kinds)
        or not all(type(v) is k for v, k in zip(values, kinds, strict=True))
    ):
        raise InvalidCursor("not a cursor this API handed out for this list", field="cursor")
    return values


@router.get("/stock", summary="Stock by product and location, or by zone")
def stock(
    session: SessionDep,
    cursor: Cursor = None,
    limit: LimitDep = 100,
    gtin: Annotated[str | None, Query(pattern=r"^[0-9]{8,14}$")] = None,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="Name contains (any case).")] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
    zone: Annotated[str | None, Query(max_length=64, description="Count the items held in this zone.")] = None,
    empty: Annotated[bool, Query(description="Also levels that are 0 now.")] = False,
) -> PageOut[LevelOut]:
    """Levels per product and location (or, with ``zone``, the items counted in that zone per product)."""
    p = Product.__table__.c
    where: list[ColumnElement[bool]] = []
    if gtin is not None:
        where.append(p.gtin == gtin.zfill(14))
    if sku is not None:
        where.append(p.sku == sku)
    if q is not None:
        where.append(or_(func.lower(p.name).like(contains(q), escape="\\"), p.sku == q))
    if zone is not None:
        return _by_zone(session, zone, where, cursor, limit)
    lv = StockLevel.__table__.c
    query = select(p.gtin, p.sku, p.name, lv.location_id, lv.quantity, lv.product_id).join(
        Product.__table__, p.id == lv.product_id
    )
    if location is not None:
        where.append(lv.location_id == location)
    if not empty:
        where.append(lv.quantity > 0)
    after = _after(cursor, (int, str))
    if after is not None:
        where.append(tuple_(lv.product_id, lv.location_id) > tuple_(*after))
    rows = session.execute(query.where(*where).order_by(lv.product_id, lv.location_id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [LevelOut(gtin=g, sku=s, name=n, location=loc, quantity=qty) for g, s, n, loc, qty, _ in rows]
    return PageOut[LevelOut](items=items, next_cursor=_cursor([rows[-1][5], rows[-1][3]]) if more else None)


def _by_zone(
    session: SessionDep, zone: str, where: list[ColumnElement[bool]], cursor: str | None, limit: int
) -> PageOut[LevelOut]:
    p, i = Product.__table__.c, Item.__table__.c
    where = [*where, i.zone_id == zone, i.state.in_(sorted(COUNTED))]
    after = _after(cursor, (int,))
    if after is not None:
        where.append(p.id > after[0])
    query = (
        select(p.id, p.gtin, p.sku, p.name, i.location_id, func.count())
        .join(Item.__table__, i.product_id == p.id)
        .where(*where)
        .group_by(p.id, p.gtin, p.sku, p.name, i.location_id)
        .order_by(p.id)
        .limit(limit + 1)
    )
    rows = session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [LevelOut(gtin=g, sku=s, name=n, location=loc, zone=zone, quantity=c) for _, g, s, n, loc, c in rows]
    return PageOut[LevelOut](items=items, next_cursor=_cursor([rows[-1][0]]) if more else None)


@router.get("/stock/low", summary="Levels at or below their reorder minimum")
def low_stock(session: SessionDep, location: Annotated[str | None, Query(max_length=64)] = None) -> list[LowOut]:
    """Every product and location whose level is at or below its reorder rule's minimum (none held: 0)."""
    p, r, lv = Product.__table__.c, ReorderRule.__table__.c, StockLevel.__table__.c
    level = func.coalesce(lv.quantity, 0)
    query = (
        select(p.gtin, p.sku, p.name, r.location_id, level, r.minimum, r.maximum)
        .select_from(ReorderRule.__table__)
        .join(Product.__table__, p.id == r.product_id)
        .outerjoin(StockLevel.__table__, (lv.product_id == r.product_id) & (lv.location_id == r.location_id))
        .where(level <= r.minimum)
        .order_by(r.location_id, p.gtin)
    )
    if location is not None:
        query = query.where(r.location_id == location)
    return [
        LowOut(gtin=g, sku=s, name=n, location=loc, quantity=qty, minimum=mn, maximum=mx)
        for g, s, n, loc, qty, mn, mx in session.execute(query)
    ]


def _item(session: SessionDep, where: ColumnElement[bool], what: str) -> tuple[ItemOut, int]:
    i, p = Item.__table__.c, Product.__table__.c
    found = session.execute(
        select(i.id, i.key, i.epc, p.gtin, i.serial, i.state, i.location_id, i.zone_id, i.disposition,
               i.first_seen_at, i.last_seen_at)
        .outerjoin(Product.__table__, p.id == i.product_id)
        .where(where)
    ).first()  # fmt: skip
    if found is None:
        raise NotFound(f"no item {what}")
    item_id, key, epc, gtin, serial, state, location, zone, disposition, first, last = found
    out = ItemOut(key=key, epc=epc, gtin=gtin, serial=serial, state=str(state), location=location, zone=zone,
                  disposition=disposition, first_seen_at=first, last_seen_at=last)  # fmt: skip
    return out, item_id


def _by_epc(session: SessionDep, epc: str) -> tuple[ItemOut, int]:
    decoded = decode(epc)  # a malformed EPC is a 422 problem naming why
    if not isinstance(decoded, Epc):
        raise NotFound(f"no item with EPC {epc}: {decoded.scheme} is not an item's scheme")
    return _item(session, Item.__table__.c.key == decoded.key, f"with EPC {epc.upper()}")


@router.get("/items", summary="Find an item by GTIN and serial")
def find_item(
    session: SessionDep,
    gtin: Annotated[str, Query(pattern=r"^[0-9]{8,14}$")],
    serial: Annotated[str, Query(min_length=1, max_length=20)],
) -> ItemOut:
    """The item with this GTIN and serial, however its tag encodes them."""
    key = f"(01){gtin.zfill(14)}(21){serial}"
    return _item(session, Item.__table__.c.key == key, f"{key}")[0]


@router.get("/items/{hex_epc}", summary="Where an item is, by the EPC on its tag")
def get_item(hex_epc: str, session: SessionDep) -> ItemOut:
    """The item whose tag carries this EPC (hex): its state, location, zone and when it was seen."""
    return _by_epc(session, hex_epc)[0]


@router.get("/items/{hex_epc}/history", summary="Everything that happened to an item")
def item_history(hex_epc: str, session: SessionDep) -> HistoryOut:
    """The item, its ledger movements and the events about it, oldest first."""
    item, item_id = _by_epc(session, hex_epc)
    m = StockMovement.__table__.c
    moves = session.execute(
        select(m.occurred_at, m.reason, m.from_location_id, m.to_location_id).where(m.item_id == item_id)
        .order_by(m.occurred_at, m.id)
    ).all()  # fmt: skip
    e = Event.__table__.c
    found = session.execute(
        select(e.seq, e.id, e.type, e.time, e.data).where(e.subject.in_([item.key, item.epc])).order_by(e.seq)
    ).all()
    return HistoryOut(
        item=item,
        movements=[MovementOut(time=t, reason=r, from_location=f, to_location=to) for t, r, f, to in moves],
        events=[{"id": i, "type": t, "time": tm.isoformat(), "sequence": s, "data": d} for s, i, t, tm, d in found],
    )
