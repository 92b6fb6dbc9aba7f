"""Stock and items: how many of a product are where (by location, or by zone), what is low, where one item is and
everything that happened to it.

Levels per product and location are the ledger's, kept current as movements are written, so a query never sums the
ledger. Counts per zone come from the items held there. An item is found by the EPC read from its tag (hex) or by
its GTIN and serial; its history is its movements in the ledger and the events about it.

These are the API's busiest reads (staff asking how many of a product are where, scanners looking items up). The
routes are ``async def`` and run the same functions the staff page calls (on its session) through a
:class:`~silentgw.api.deps.Reader`: the request is parsed, checked and answered on the event loop, and the queries
go to a worker thread in one hop, on a connection held only there.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Integer, Select, bindparam, func, or_, select, tuple_
from sqlalchemy.orm import Session

from silentgw.api.deps import LimitDep, ReaderDep
from silentgw.api.schemas import PageOut
from silentgw.gateway.catalog import NotFound, contains, decode_cursor, encode_cursor
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

Db = Session | Connection
"""What the query functions read through: the staff page's session, or a route's connection."""

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


def _after(cursor: str | None, kinds: tuple[type, ...]) -> list[Any] | None:
    return None if cursor is None else decode_cursor(cursor, *kinds)


LevelPage = PageOut[LevelOut]


@router.get("/stock", summary="Stock by product and location, or by zone", name="stock")
async def stock_route(
    read: ReaderDep,
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
    return await read(lambda conn: stock(conn, cursor, limit, gtin, sku, q, location, zone, empty))


def stock(
    session: Db,
    cursor: str | None = None,
    limit: int = 100,
    gtin: str | None = None,
    sku: str | None = None,
    q: str | None = None,
    location: str | None = None,
    zone: str | None = None,
    empty: bool = False,
) -> PageOut[LevelOut]:
    """Levels per product and location (or, with ``zone``, the items counted in that zone per product)."""
    params: dict[str, Any] = {"gtin": gtin and gtin.zfill(14), "sku": sku, "q": q, "name": q and contains(q),
                              "location": location, "zone": zone, "limit": limit + 1}  # fmt: skip
    if zone is not None:
        after = _after(cursor, (int,))
        if after is not None:
            params["after_product"] = after[0]
        query = _zone_query(gtin is not None, sku is not None, q is not None, after is not None)
        rows = session.execute(query, params).all()
        next_cursor = encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
        items = [_level(g, s, n, loc, c, zone) for _, g, s, n, loc, c in rows[:limit]]
        return LevelPage(items=items, next_cursor=next_cursor)
    after = _after(cursor, (int, str))
    if after is not None:
        params["after_product"], params["after_location"] = after
    query = _levels_query(gtin is not None, sku is not None, q is not None, location is not None, empty,
                          after is not None)  # fmt: skip
    rows = session.execute(query, params).all()
    next_cursor = encode_cursor(rows[limit - 1][5], rows[limit - 1][3]) if len(rows) > limit else None
    items = [_level(g, s, n, loc, qty) for g, s, n, loc, qty, _ in rows[:limit]]
    return LevelPage(items=items, next_cursor=next_cursor)


def _level(gtin: str, sku: str, name: str, location: str | None, quantity: int, zone: str | None = None) -> LevelOut:
    return LevelOut(gtin=gtin, sku=sku, name=name, location=location, zone=zone, quantity=quantity)


# Statements by the filters given, built once each: building and caching a SELECT costs several times what SQLite
# takes to answer it. The values go in as parameters (``:gtin``, ``:limit``, ...).


def _product_filters(gtin: bool, sku: bool, q: bool) -> list[ColumnElement[bool]]:
    p = Product.__table__.c
    where: list[ColumnElement[bool]] = []
    if gtin:
        where.append(p.gtin == bindparam("gtin"))
    if sku:
        where.append(p.sku == bindparam("sku"))
    if q:
        where.append(or_(func.lower(p.name).like(bindparam("name"), escape="\\"), p.sku == bindparam("q")))
    return where


@functools.cache
def _levels_query(gtin: bool, sku: bool, q: bool, location: bool, empty: bool, after: bool) -> Select[Any]:
    p, lv = Product.__table__.c, StockLevel.__table__.c
    where = _product_filters(gtin, sku, q)
    if location:
        where.append(lv.location_id == bindparam("location"))
    if not empty:
        where.append(lv.quantity > 0)
    if after:
        where.append(tuple_(lv.product_id, lv.location_id) > tuple_(bindparam("after_product"),
                                                                     bindparam("after_location")))  # fmt: skip
    return (
        select(p.gtin, p.sku, p.name, lv.location_id, lv.quantity, lv.product_id)
        .join(Product.__table__, p.id == lv.product_id)
        .where(*where)
        .order_by(lv.product_id, lv.location_id)
        .limit(bindparam("limit", type_=Integer))
    )


@functools.cache
def _zone_query(gtin: bool, sku: bool, q: bool, after: bool) -> Select[Any]:
    p, i = Product.__table__.c, Item.__table__.c
    where = [*_product_filters(gtin, sku, q), i.zone_id == bindparam("zone"), i.state.in_(sorted(COUNTED))]
    if after:
        where.append(p.id > bindparam("after_product"))
    return (
        select(p.id, p.gtin, p.sku, p.name, i.location_id, func.count())
        .join(Item.__table__, i.product_id == p.id)
        .where(*where)
        .group_by(p.id, p.gtin, p.sku, p.name, i.location_id)
        .order_by(p.id)
        .limit(bindparam("limit", type_=Integer))
    )


@router.get("/stock/low", summary="Levels at or below their reorder minimum", name="low_stock")
async def low_stock_route(
    read: ReaderDep, location: Annotated[str | None, Query(max_length=64)] = None
) -> list[LowOut]:
    """Every product and location whose level is at or below its reorder rule's minimum (none held: 0)."""
    return await read(lambda conn: low_stock(conn, location))


def low_stock(session: Db, location: str | None = None) -> list[LowOut]:
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


_i, _p = Item.__table__.c, Product.__table__.c
_ITEM = (
    select(_i.id, _i.key, _i.epc, _p.gtin, _i.serial, _i.state, _i.location_id, _i.zone_id, _i.disposition,
           _i.first_seen_at, _i.last_seen_at)
    .outerjoin(Product.__table__, _p.id == _i.product_id)
    .where(_i.key == bindparam("key"))
)  # fmt: skip
"""An item by its GS1 key, built once (see the levels' statements)."""


def _item(session: Db, key: str, what: str) -> tuple[ItemOut, int]:
    found = session.execute(_ITEM, {"key": key}).first()
    if found is None:
        raise NotFound(f"no item {what}")
    item_id, key, epc, gtin, serial, state, location, zone, disposition, first, last = found
    out = ItemOut(key=key, epc=epc, gtin=gtin, serial=serial, state=str(state), location=location, zone=zone,
                  disposition=disposition, first_seen_at=first, last_seen_at=last)  # fmt: skip
    return out, item_id


def _by_epc(session: Db, epc: str) -> tuple[ItemOut, int]:
    decoded = decode(epc)  # a malformed EPC is a 422 problem naming why
    if not isinstance(decoded, Epc):
        raise NotFound(f"no item with EPC {epc}: {decoded.scheme} is not an item's scheme")
    return _item(session, decoded.key, f"with EPC {epc.upper()}")


@router.get("/items", summary="Find an item by GTIN and serial", name="find_item")
async def find_item_route(
    read: ReaderDep,
    gtin: Annotated[str, Query(pattern=r"^[0-9]{8,14}$")],
    serial: Annotated[str, Query(min_length=1, max_length=20)],
) -> ItemOut:
    """The item with this GTIN and serial, however its tag encodes them."""
    return await read(lambda conn: find_item(conn, gtin, serial))


def find_item(session: Db, gtin: str, serial: str) -> ItemOut:
    """The item with this GTIN and serial, however its tag encodes them."""
    key = f"(01){gtin.zfill(14)}(21){serial}"
    return _item(session, key, key)[0]


@router.get("/items/{hex_epc}", summary="Where an item is, by the EPC on its tag", name="get_item")
async def get_item_route(hex_epc: str, read: ReaderDep) -> ItemOut:
    """The item whose tag carries this EPC (hex): its state, location, zone and when it was seen."""
    return await read(lambda conn: get_item(hex_epc, conn))


def get_item(hex_epc: str, session: Db) -> ItemOut:
    """The item whose tag carries this EPC (hex): its state, location, zone and when it was seen."""
    return _by_epc(session, hex_epc)[0]


@router.get("/items/{hex_epc}/history", summary="Everything that happened to an item", name="item_history")
async def item_history_route(hex_epc: str, read: ReaderDep) -> HistoryOut:
    """The item, its ledger movements and the events about it, oldest first."""
    return await read(lambda conn: item_history(hex_epc, conn))


def item_history(hex_epc: str, session: Db) -> HistoryOut:
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
