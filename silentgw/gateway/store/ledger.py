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

from sqlalchemy import Connection, Engine, bindparam, case, func, select, update

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
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import insert_or_skip
from silentgw.gateway.store.models import Base, Item, ItemState, Product, StockLevel, StockMovement, UnknownEpc, Zone
from silentgw.gateway.transitions import Transition

__all__ = ["LedgerResult", "SqlStockLedger", "load_items", "settle", "write_decision"]

logger = logging.getLogger(__name__)

_items = Base.metadata.tables[Item.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]
_movements = Base.metadata.tables[StockMovement.__tablename__]
_levels = Base.metadata.tables[StockLevel.__tablename__]
_unknown = Base.metadata.tables[UnknownEpc.__tablename__]
_zones = Base.metadata.tables[Zone.__tablename__]


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
            items = load_items(conn, {e.key for e in tags})
            # Products are looked up only for tags not yet items: in a steady store, none.
            gtins = {e.gtin for e in tags if e.gtin is not None and e.key not in items}
            catalog: dict[str, int] = {}
            if gtins:
                rows = conn.execute(select(_products.c.gtin, _products.c.id).where(_products.c.gtin.in_(gtins)))
                catalog = {gtin: pid for gtin, pid in rows}
            keys = {hex_: e.key for hex_, e in identities.items() if isinstance(e, Epc)}

            def make(skip: frozenset[str]) -> Decision:
                kept = [t for t in transitions if keys.get(t.epc) not in skip] if skip else transitions
                return decide(
                    kept, identities=identities, items=items, zones=zones, catalog=catalog, commission=self.commission
                )

            return write_decision(conn, settle(conn, make), extra=extra)

    def sell(self, keys: Iterable[str], *, sale_id: str, time: dt.datetime) -> LedgerResult:
        """Record the sale ``sale_id`` of the items with these GS1 keys (a retried sale records nothing more)."""
        with self.engine.begin() as conn:
            items = load_items(conn, set(keys))
            return write_decision(
                conn, settle(conn, lambda skip: sold([v for v in items.values() if v.key not in skip], sale_id,
                                                       time=time))
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
    k = _movements.c.idempotency_key
    recorded = set(conn.execute(select(k).where(k.in_(wanted))).scalars())
    if not recorded:
        return decision
    skip = frozenset(m.item for m in decision.movements if m.key in recorded)
    logger.info("left %d item(s) as stored: their movements are already recorded: %s", len(skip), sorted(skip)[:5])
    return make(skip)


def load_items(conn: Connection, keys: set[str]) -> dict[str, ItemView]:
    """The stored items with these keys, in one query."""
    if not keys:
        return {}
    i = _items.c
    query = select(i.key, i.product_id, i.state, i.zone_id, i.location_id, i.last_seen_at).where(i.key.in_(keys))
    return {
        key: ItemView(key, product, ItemState(state).value, zone, location, last)
        for key, product, state, zone, location, last in conn.execute(query)
    }


def write_decision(conn: Connection, decision: Decision, *, extra: Sequence[Event] = ()) -> LedgerResult:
    """Write a decision: items, then movements (each at most once), then the levels of the movements inserted, then
    their events (one per movement, one per level changed) and ``extra`` to the outbox, all in ``conn``'s
    transaction."""
    ids = _write_items(conn, decision)
    inserted: tuple[Movement, ...] = ()
    # One movement per key: a batch holding the same cause twice must not count it twice.
    movements = tuple({m.key: m for m in decision.movements}.values())
    if movements:
        rows = [
            {
                "idempotency_key": m.key, "occurred_at": m.time, "product_id": m.product, "item_id": ids.get(m.item),
                "from_location_id": m.from_location, "to_location_id": m.to_location, "quantity": m.quantity,
                "reason": m.reason,
            }
            for m in movements
        ]  # fmt: skip
        stmt = insert_or_skip(conn, _movements).on_conflict_do_nothing(index_elements=["idempotency_key"])
        done = {key for (key,) in conn.execute(stmt.returning(_movements.c.idempotency_key), rows)}
        inserted = tuple(m for m in movements if m.key in done)
        _move_levels(conn, inserted)
    _write_unknown(conn, decision.unknown)
    outbox.append(conn, [*_events_of(conn, inserted, decision), *extra])
    return LedgerResult(inserted, len(decision.items), len(decision.unknown))


def _events_of(conn: Connection, movements: Sequence[Movement], decision: Decision) -> list[Event]:
    """An event per movement (the item's EPC, GTIN and zone as written) and per level it changed (the new level and
    the net change).

    What the decision wrote (the EPC read, the zone) is taken from it; only items it carries no tag data for (a sale,
    a count) are looked up, and the GTINs of the few products involved.
    """
    if not movements:
        return []
    i, p, lv = _items.c, _products.c, _levels.c
    tags: dict[str, tuple[str | None, str | None]] = {
        c.view.key: (c.epc, c.view.zone) for c in decision.items if c.epc is not None
    }
    unread = {m.item for m in movements} - tags.keys()
    if unread:
        tags.update({key: (epc, zone) for key, epc, zone in conn.execute(
            select(i.key, i.epc, i.zone_id).where(i.key.in_(unread)))})  # fmt: skip
    products = {m.product for m in movements}
    gtins = {pid: gtin for pid, gtin in conn.execute(select(p.id, p.gtin).where(p.id.in_(products)))}
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
    query = select(lv.product_id, lv.location_id, lv.quantity).where(
        lv.product_id.in_(products), lv.location_id.in_({loc for _, loc in first})
    )
    last = max(m.time for m in movements)
    for pid, location, quantity in conn.execute(query):
        cause = first.get((pid, location))
        if cause is not None:
            net = change[(pid, location)]
            found.append(events.stock_changed(f"{cause.key}@{location}", gtin=gtins[pid], location=location,
                                              quantity=quantity, change=net, time=last))  # fmt: skip
    return found


def _write_items(conn: Connection, decision: Decision) -> dict[str, int]:
    """Insert new items and update the others; the ids of the items that movements refer to."""
    new = [c for c in decision.items if c.new]
    ids: dict[str, int] = {}
    if new:
        rows = [
            {
                "key": c.view.key, "epc": c.epc, "scheme": c.scheme, "product_id": c.view.product, "serial": c.serial,
                "state": ItemState(c.view.state), "zone_id": c.view.zone, "location_id": c.view.location,
                "first_seen_at": c.first_seen, "last_seen_at": c.view.last_seen or c.first_seen,
            }
            for c in new
        ]  # fmt: skip
        stmt = insert_or_skip(conn, _items).on_conflict_do_nothing(index_elements=["key"])
        ids.update({key: iid for iid, key in conn.execute(stmt.returning(_items.c.id, _items.c.key), rows)})
    old = [c for c in decision.items if not c.new]
    if old:
        i = _items.c
        stmt = (
            update(_items)
            .where(i.key == bindparam("b_key"))
            .values(
                state=bindparam("b_state"),
                zone_id=bindparam("b_zone"),
                location_id=bindparam("b_location"),
                # A sale or count carries no tag data and no sighting: keep what was read last.
                epc=func.coalesce(bindparam("b_epc", type_=i.epc.type), i.epc),
                scheme=func.coalesce(bindparam("b_scheme", type_=i.scheme.type), i.scheme),
                last_seen_at=func.coalesce(bindparam("b_seen", type_=i.last_seen_at.type), i.last_seen_at),
            )
        )
        conn.execute(
            stmt,
            [
                {"b_key": c.view.key, "b_state": ItemState(c.view.state), "b_zone": c.view.zone,
                 "b_location": c.view.location, "b_epc": c.epc, "b_scheme": c.scheme, "b_seen": c.view.last_seen}
                for c in old
            ],
        )  # fmt: skip
    wanted = {m.item for m in decision.movements} - set(ids)
    if wanted:
        found = conn.execute(select(_items.c.key, _items.c.id).where(_items.c.key.in_(wanted)))
        ids.update({key: iid for key, iid in found})
    return ids


def _move_levels(conn: Connection, movements: Iterable[Movement]) -> None:
    """Add the movements' deltas to the stock levels; summed first, so a batch's in-and-out never dips below zero."""
    deltas: Counter[tuple[int, str]] = Counter()
    for m in movements:
        if m.to_location is not None:
            deltas[(m.product, m.to_location)] += m.quantity
        if m.from_location is not None:
            deltas[(m.product, m.from_location)] -= m.quantity
    more = [{"product_id": p, "location_id": loc, "quantity": n} for (p, loc), n in sorted(deltas.items()) if n > 0]
    if more:
        stmt = insert_or_skip(conn, _levels)
        stmt = stmt.on_conflict_do_update(
            index_elements=["product_id", "location_id"], set_={"quantity": _levels.c.quantity + stmt.excluded.quantity}
        )
        conn.execute(stmt, more)
    less = [{"b_product": p, "b_location": loc, "b_delta": n} for (p, loc), n in sorted(deltas.items()) if n < 0]
    if less:
        # A plain UPDATE: an upsert's proposed row (a negative quantity) would fail the CHECK before the conflict.
        # Stock only leaves a location a movement put it in, so the row exists; the CHECK guards against the rest.
        c = _levels.c
        stmt = (
            update(_levels)
            .where(c.product_id == bindparam("b_product"), c.location_id == bindparam("b_location"))
            .values(quantity=c.quantity + bindparam("b_delta"))
        )
        conn.execute(stmt, less)


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
