"""The stock ledger's I/O: load a batch's items, let ``gateway.ledger`` decide, write the result in one transaction.

Movements are inserted with ON CONFLICT (idempotency_key) DO NOTHING, and stock levels move by the deltas of the
movements actually inserted, so a replayed batch changes nothing. Levels are kept current incrementally; ``recount``
sums the ledger for tests and audits and is never on a query path. SQLAlchemy Core throughout: this is the hot path.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, case, func, select

from silentgw.gateway import events
from silentgw.gateway.events import Event
from silentgw.gateway.identity import Epc
from silentgw.gateway.identity.prefixes import CompanyPrefixes
from silentgw.gateway.ledger import (
    Decision,
    ItemView,
    Movement,
    UnknownSighting,
    ZoneInfo,
    decide,
    identify,
    sold,
)
from silentgw.gateway.store import bulk, outbox
from silentgw.gateway.store.database import insert_or_skip
from silentgw.gateway.store.models import (
    Base,
    Item,
    ItemState,
    Product,
    StockLevel,
    StockMovement,
    UnknownEpc,
    Zone,
    utcnow,
)
from silentgw.gateway.transitions import Transition

__all__ = ["LedgerResult", "SqlStockLedger", "load_items", "settle", "write_decision"]

logger = logging.getLogger(__name__)

_items = Base.metadata.tables[Item.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]
_movements = Base.metadata.tables[StockMovement.__tablename__]
_levels = Base.metadata.tables[StockLevel.__tablename__]
_unknown = Base.metadata.tables[UnknownEpc.__tablename__]
_zones = Base.metadata.tables[Zone.__tablename__]

# The lookups of a batch, each of many keys bound as one parameter (``bulk.one_of``), built once per dialect.
_i, _p = _items.c, _products.c
_ITEMS = bulk.per_dialect(lambda d: select(_i.key, _i.product_id, _i.state, _i.zone_id, _i.location_id,
                                           _i.last_seen_at, _i.id).where(bulk.one_of(d, _i.key)))  # fmt: skip
_IDS = bulk.per_dialect(lambda d: select(_i.key, _i.id).where(bulk.one_of(d, _i.key)))
_TAGS = bulk.per_dialect(lambda d: select(_i.key, _i.epc, _i.zone_id).where(bulk.one_of(d, _i.key)))
_PRODUCTS = bulk.per_dialect(lambda d: select(_p.gtin, _p.id).where(bulk.one_of(d, _p.gtin)))
_GTINS = bulk.per_dialect(lambda d: select(_p.id, _p.gtin).where(bulk.one_of(d, _p.id)))
_RECORDED = bulk.per_dialect(
    lambda d: select(_movements.c.idempotency_key).where(bulk.one_of(d, _movements.c.idempotency_key))
)


@dataclass(frozen=True, slots=True)
class LedgerResult:
    """What one batch did: the movements recorded (replays excluded), items written, unknown EPCs seen."""

    movements: tuple[Movement, ...]
    items: int
    unknown: int


class SqlStockLedger:
    """The stock ledger on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, commission: bool = True, prefixes: CompanyPrefixes | None = None) -> None:
        self.engine = engine
        self.commission = commission
        self.prefixes = prefixes

    def zones(self) -> dict[str, ZoneInfo]:
        """The configured zones with their kinds and locations, as ``apply`` wants them."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_zones.c.id, _zones.c.kind, _zones.c.location_id)).all()
        return {zid: ZoneInfo(zid, str(kind), location) for zid, kind, location in rows}

    def apply(
        self, transitions: Sequence[Transition], zones: Mapping[str, ZoneInfo], *, extra: Sequence[Event] = ()
    ) -> LedgerResult:
        """Record what a batch of transitions means for items and stock, and their events, in one transaction.

        ``extra`` are further events of the batch (alarms, device statuses) written in the same transaction.
        """
        identities = identify((t.epc for t in transitions), prefixes=self.prefixes)
        tags = [e for e in identities.values() if isinstance(e, Epc)]
        with self.engine.begin() as conn:
            items, ids = _load(conn, {e.key for e in tags})
            # Products are looked up only for tags not yet items: in a steady store, none.
            gtins = {e.gtin for e in tags if e.gtin is not None and e.key not in items}
            catalog: dict[str, int] = {}
            if gtins:
                catalog = {gtin: pid for gtin, pid in conn.execute(_PRODUCTS[conn.dialect.name],
                                                                   bulk.listed(gtins))}  # fmt: skip
            keys = {hex_: e.key for hex_, e in identities.items() if isinstance(e, Epc)}

            def make(skip: frozenset[str]) -> Decision:
                kept = [t for t in transitions if keys.get(t.epc) not in skip] if skip else transitions
                return decide(
                    kept, identities=identities, items=items, zones=zones, catalog=catalog, commission=self.commission
                )

            return write_decision(conn, settle(conn, make), extra=extra, ids=ids)

    def sell(self, keys: Iterable[str], *, sale_id: str, time: dt.datetime) -> LedgerResult:
        """Record the sale ``sale_id`` of the items with these GS1 keys (a retried sale records nothing more)."""
        with self.engine.begin() as conn:
            items, ids = _load(conn, set(keys))
            return write_decision(
                conn, settle(conn, lambda skip: sold([v for v in items.values() if v.key not in skip], sale_id,
                                                       time=time)), ids=ids
            )  # fmt: skip

    def levels(self) -> dict[tuple[int, str], int]:
        """Every non-zero stock level, by (product id, location id)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_levels.c.product_id, _levels.c.location_id, _levels.c.quantity).where(_levels.c.quantity != 0)
            )
            return {(pid, loc): qty for pid, loc, qty in rows}

    def level(self, product: int, location: str) -> int:
        """How many of ``product`` are at ``location``."""
        query = select(_levels.c.quantity).where(_levels.c.product_id == product, _levels.c.location_id == location)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none() or 0

    def recount(self) -> dict[tuple[int, str], int]:
        """The levels the whole ledger sums to, non-zero only: for tests and audits, never on a query path."""
        counts: Counter[tuple[int, str]] = Counter()
        m = _movements.c
        with self.engine.connect() as conn:
            for side, sign in ((m.to_location_id, 1), (m.from_location_id, -1)):
                query = select(m.product_id, side, func.sum(m.quantity)).where(side.is_not(None))
                for pid, loc, total in conn.execute(query.group_by(m.product_id, side)):
                    counts[(pid, loc)] += sign * int(total)
        return {where: n for where, n in counts.items() if n != 0}

    def unknown(self) -> list[UnknownSighting]:
        """The unknown EPCs seen, most recently seen first."""
        u = _unknown.c
        query = select(u.epc, u.key, u.reason, u.first_seen_at, u.last_seen_at, u.zone_id, u.times_seen)
        with self.engine.connect() as conn:
            return [UnknownSighting(*row) for row in conn.execute(query.order_by(u.last_seen_at.desc(), u.epc))]


def settle(conn: Connection, make: Callable[[frozenset[str]], Decision]) -> Decision:
    """Decide, leaving out any item whose decided movements are already recorded (one query to find out).

    A recorded key means the cause was already applied: the sale retried after the item came back, a batch replayed
    past the stale check. Applying the rest of that item's changes would put it where the ledger never counted it,
    so the item is left as stored; the other items are decided independently and go ahead.
    """
    decision = make(frozenset())
    if not decision.movements:
        return decision
    wanted = [m.key for m in decision.movements]
    recorded = set(conn.execute(_RECORDED[conn.dialect.name], bulk.listed(wanted)).scalars())
    if not recorded:
        return decision
    skip = frozenset(m.item for m in decision.movements if m.key in recorded)
    logger.info("left %d item(s) as stored: their movements are already recorded: %s", len(skip), sorted(skip)[:5])
    return make(skip)


def load_items(conn: Connection, keys: set[str]) -> dict[str, ItemView]:
    """The stored items with these keys, in one query."""
    return _load(conn, keys)[0]


def _load(conn: Connection, keys: set[str]) -> tuple[dict[str, ItemView], dict[str, int]]:
    """The stored items with these keys, and their ids, in one query."""
    if not keys:
        return {}, {}
    views: dict[str, ItemView] = {}
    ids: dict[str, int] = {}
    for key, product, state, zone, location, last, iid in conn.execute(_ITEMS[conn.dialect.name],
                                                                       bulk.listed(keys)):  # fmt: skip
        views[key] = ItemView(key, product, ItemState(state).value, zone, location, last)
        ids[key] = iid
    return views, ids


def write_decision(
    conn: Connection, decision: Decision, *, extra: Sequence[Event] = (), ids: Mapping[str, int] | None = None
) -> LedgerResult:
    """Write a decision: items, then movements (each at most once), then the levels of the movements inserted, then
    their events (one per movement, one per level changed) and ``extra`` to the outbox, all in ``conn``'s
    transaction. ``ids`` are item ids already known (loaded with the items), so they are not looked up again.

    Each table takes the batch's rows in one statement (``store.bulk``): a micro-batch costs a few round trips,
    whatever its size.
    """
    known = _write_items(conn, decision, dict(ids or {}))
    inserted: tuple[Movement, ...] = ()
    levels: dict[tuple[int, str], int] = {}
    # One movement per key: a batch holding the same cause twice must not count it twice.
    movements = tuple({m.key: m for m in decision.movements}.values())
    if movements:
        now = utcnow()
        rows = [(m.key, m.time, now, m.product, known.get(m.item), m.from_location, m.to_location, m.quantity,
                 m.reason) for m in movements]  # fmt: skip
        done = {key for (key,) in bulk.insert(conn, _movements, _MOVEMENT_COLUMNS, rows, conflict=["idempotency_key"],
                                              returning=["idempotency_key"])}  # fmt: skip
        inserted = tuple(m for m in movements if m.key in done)
        levels = _move_levels(conn, inserted)
    _write_unknown(conn, decision.unknown)
    outbox.append(conn, [*_events_of(conn, inserted, decision, levels), *extra])
    return LedgerResult(inserted, len(decision.items), len(decision.unknown))


_MOVEMENT_COLUMNS = ("idempotency_key", "occurred_at", "recorded_at", "product_id", "item_id", "from_location_id",
                     "to_location_id", "quantity", "reason")  # fmt: skip
_ITEM_COLUMNS = ("key", "epc", "scheme", "product_id", "serial", "state", "zone_id", "location_id", "first_seen_at",
                 "last_seen_at")  # fmt: skip
_ITEM_CHANGES = ("key", "state", "zone_id", "location_id", "epc", "scheme", "last_seen_at")
_ITEM_SET = {
    "state": "batch.state",
    "zone_id": "batch.zone_id",
    "location_id": "batch.location_id",
    # A sale or count carries no tag data and no sighting: keep what was read last.
    "epc": "coalesce(batch.epc, items.epc)",
    "scheme": "coalesce(batch.scheme, items.scheme)",
    "last_seen_at": "coalesce(batch.last_seen_at, items.last_seen_at)",
}
_LEVEL_COLUMNS = ("product_id", "location_id", "quantity")
_LEVEL_KEY = ("product_id", "location_id")


def _events_of(
    conn: Connection, movements: Sequence[Movement], decision: Decision, levels: Mapping[tuple[int, str], int]
) -> list[Event]:
    """An event per movement (the item's EPC, GTIN and zone as written) and per level it changed (``levels``: the
    new level, and the net change).

    What the decision wrote (the EPC read, the zone) is taken from it; only items it carries no tag data for (a sale,
    a count) are looked up, and the GTINs of the few products involved.
    """
    if not movements:
        return []
    tags: dict[str, tuple[str | None, str | None]] = {
        c.view.key: (c.epc, c.view.zone) for c in decision.items if c.epc is not None
    }
    unread = {m.item for m in movements} - tags.keys()
    if unread:
        tags.update({key: (epc, zone) for key, epc, zone in conn.execute(_TAGS[conn.dialect.name],
                                                                          bulk.listed(unread))})  # fmt: skip
    products = {m.product for m in movements}
    gtins = {pid: gtin for pid, gtin in conn.execute(_GTINS[conn.dialect.name], bulk.listed(products))}
    found: list[Event] = []
    first: dict[tuple[int, str], Movement] = {}
    change: Counter[tuple[int, str]] = Counter()
    for m in movements:
        epc, zone = tags.get(m.item, (None, None))
        found.append(events.item_event(m.key, reason=m.reason, item=m.item, time=m.time, epc=epc,
                                       gtin=gtins.get(m.product), from_location=m.from_location,
                                       to_location=m.to_location, zone=zone))  # fmt: skip
        for location, sign in ((m.from_location, -1), (m.to_location, 1)):
            if location is not None:
                first.setdefault((m.product, location), m)
                change[(m.product, location)] += sign * m.quantity
    last = max(m.time for m in movements)
    for (pid, location), cause in first.items():
        quantity = levels.get((pid, location))
        if quantity is not None:  # no row: stock came and went in the batch where none was before
            found.append(events.stock_changed(f"{cause.key}@{location}", gtin=gtins[pid], location=location,
                                              quantity=quantity, change=change[(pid, location)],
                                              time=last))  # fmt: skip
    return found


def _write_items(conn: Connection, decision: Decision, ids: dict[str, int]) -> dict[str, int]:
    """Insert new items and update the others; the ids of the items that movements refer to (``ids``: known)."""
    new = [c for c in decision.items if c.new]
    if new:
        rows = [(c.view.key, c.epc, c.scheme, c.view.product, c.serial, c.view.state, c.view.zone, c.view.location,
                 c.first_seen, c.view.last_seen or c.first_seen) for c in new]  # fmt: skip
        ids.update({key: iid for iid, key in bulk.insert(conn, _items, _ITEM_COLUMNS, rows, conflict=["key"],
                                                          returning=["id", "key"])})  # fmt: skip
    old = [c for c in decision.items if not c.new]
    if old:
        changes = [(c.view.key, c.view.state, c.view.zone, c.view.location, c.epc, c.scheme, c.view.last_seen)
                   for c in old]  # fmt: skip
        bulk.update(conn, _items, _ITEM_CHANGES, changes, key=["key"], set_=_ITEM_SET)
    wanted = {m.item for m in decision.movements} - set(ids)
    if wanted:
        ids.update({key: iid for key, iid in conn.execute(_IDS[conn.dialect.name], bulk.listed(wanted))})
    return ids


def _move_levels(conn: Connection, movements: Iterable[Movement]) -> dict[tuple[int, str], int]:
    """Add the movements' deltas to the stock levels; summed first, so a batch's in-and-out never dips below zero.
    The levels after, of every (product, location) the movements touched that has a row."""
    deltas: Counter[tuple[int, str]] = Counter()
    for m in movements:
        if m.to_location is not None:
            deltas[(m.product, m.to_location)] += m.quantity
        if m.from_location is not None:
            deltas[(m.product, m.from_location)] -= m.quantity
    more = [(p, loc, n) for (p, loc), n in sorted(deltas.items()) if n > 0]
    found = bulk.insert(conn, _levels, _LEVEL_COLUMNS, more, conflict=_LEVEL_KEY,
                        set_={"quantity": "stock_levels.quantity + excluded.quantity"},
                        returning=_LEVEL_COLUMNS)  # fmt: skip
    # A plain UPDATE for the rest: an upsert's proposed row (a negative quantity) would fail the CHECK before the
    # conflict. Stock only leaves a location a movement put it in, so the row exists; the CHECK guards against the
    # rest. A net change of nought updates nothing but returns the level, for its event.
    less = [(p, loc, n) for (p, loc), n in sorted(deltas.items()) if n <= 0]
    found += bulk.update(conn, _levels, _LEVEL_COLUMNS, less, key=_LEVEL_KEY,
                         set_={"quantity": "stock_levels.quantity + batch.quantity"},
                         returning=_LEVEL_COLUMNS)  # fmt: skip
    return {(pid, loc): qty for pid, loc, qty in found}


def _write_unknown(conn: Connection, unknown: Sequence[UnknownSighting]) -> None:
    """List unknown EPCs; a sighting no later than the one stored (a replay) leaves the row as it is."""
    if not unknown:
        return
    rows = [
        {"epc": u.epc, "key": u.key, "reason": u.reason, "first_seen_at": u.first_seen, "last_seen_at": u.last_seen,
         "zone_id": u.zone, "times_seen": u.times_seen}
        for u in unknown
    ]  # fmt: skip
    stmt = insert_or_skip(conn, _unknown)
    ex, c = stmt.excluded, _unknown.c
    newer = ex.last_seen_at > c.last_seen_at
    stmt = stmt.on_conflict_do_update(
        index_elements=["epc"],
        set_={
            "reason": case((newer, ex.reason), else_=c.reason),
            "key": case((newer, ex.key), else_=c.key),
            "zone_id": case((newer, ex.zone_id), else_=c.zone_id),
            "times_seen": case((newer, c.times_seen + ex.times_seen), else_=c.times_seen),
            "first_seen_at": case((ex.first_seen_at < c.first_seen_at, ex.first_seen_at), else_=c.first_seen_at),
            "last_seen_at": case((newer, ex.last_seen_at), else_=c.last_seen_at),
        },
    )
    conn.execute(stmt, rows)
