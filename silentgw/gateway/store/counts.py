"""Cycle counts' I/O: what a scope expects, and closing a count (stored once, its missing items marked so).

Closing a count is one transaction: the expected items are loaded, ``gateway.counts`` compares them with the items
seen, the count is inserted with ON CONFLICT (id) DO NOTHING, and only a count actually inserted stores its items and
marks its missing items missing through ``gateway.ledger.missing``, written the way ``SqlStockLedger`` writes (one
movement each, keyed ``missing:{count}:{item}``; levels go down), with a ``silentgw.count.closed`` event.
Closing the same count again changes nothing and gives back the stored result. An item marked missing is found
again by its next arrival through ``SqlStockLedger.apply``, like any missing item.

Expected items are those the ledger counts as stock (received or in stock) whose last zone is in the scope, as the
count closes: one zone, or every zone of a location and of the locations under it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select

from silentgw.gateway import counts, events
from silentgw.gateway.counts import CountResult, CycleCount, Scope
from silentgw.gateway.ledger import COUNTED, Movement, missing
from silentgw.gateway.store.database import insert_or_skip
from silentgw.gateway.store.ledger import load_items, settle, write_decision
from silentgw.gateway.store.models import (
    Base,
    CountOutcome,
    CountScopeKind,
    CycleCountItem,
    Item,
    ItemState,
    Location,
    Zone,
)
from silentgw.gateway.store.models import CycleCount as CycleCountRow

__all__ = ["Closed", "SqlCycleCounts"]

logger = logging.getLogger(__name__)

_counts = Base.metadata.tables[CycleCountRow.__tablename__]
_count_items = Base.metadata.tables[CycleCountItem.__tablename__]
_items = Base.metadata.tables[Item.__tablename__]
_locations = Base.metadata.tables[Location.__tablename__]
_zones = Base.metadata.tables[Zone.__tablename__]


@dataclass(frozen=True, slots=True)
class Closed:
    """What closing a count did: its result, whether it was new (a repeat is not), the missing movements recorded."""

    result: CountResult
    new: bool
    movements: tuple[Movement, ...]


class SqlCycleCounts:
    """Cycle counts on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def zones(self, scope: Scope) -> frozenset[str]:
        """The zones a scope covers, as ``counts.seen_in`` wants them."""
        with self.engine.connect() as conn:
            return _scope_zones(conn, scope)

    def expected(self, scope: Scope) -> frozenset[str]:
        """The keys of the items counted as stock in the scope's zones now."""
        with self.engine.connect() as conn:
            return _expected(conn, _scope_zones(conn, scope))

    def close(self, count: CycleCount, seen: Iterable[str]) -> Closed:
        """Compare what the scope expects with ``seen``, store the result and mark the missing items missing, once."""
        with self.engine.begin() as conn:
            res = counts.result(_expected(conn, _scope_zones(conn, count.scope)), seen)
            row = {
                "id": count.id, "scope_kind": CountScopeKind(count.scope.kind), "scope_id": count.scope.id,
                "started_at": count.start, "ended_at": count.end, "expected": len(res.expected), "seen": len(res.seen),
                "missing": len(res.missing), "unexpected": len(res.unexpected), "accuracy": res.accuracy_percent,
            }  # fmt: skip
            stmt = insert_or_skip(conn, _counts).on_conflict_do_nothing(index_elements=["id"])
            if conn.execute(stmt.returning(_counts.c.id), row).first() is None:
                _check_same(conn, count)
                logger.info("cycle count %s is already closed: nothing changed", count.id)
                return Closed(_outcomes(conn, count.id), new=False, movements=())
            outcomes = [
                *({"count_id": count.id, "item_key": k, "outcome": CountOutcome.FOUND} for k in sorted(res.found)),
                *({"count_id": count.id, "item_key": k, "outcome": CountOutcome.MISSING} for k in sorted(res.missing)),
                *(
                    {"count_id": count.id, "item_key": k, "outcome": CountOutcome.UNEXPECTED}
                    for k in sorted(res.unexpected)
                ),
            ]
            if outcomes:
                conn.execute(_count_items.insert(), outcomes)
            views = load_items(conn, set(res.missing))
            decision = settle(
                conn,
                lambda skip: missing([v for v in views.values() if v.key not in skip], count.id, time=count.end),
            )
            figures = {
                "expected": len(res.expected), "seen": len(res.seen), "missing": len(res.missing),
                "unexpected": len(res.unexpected), "accuracy_percent": str(res.accuracy_percent),
            }  # fmt: skip
            closed = events.count_closed(count.id, scope=count.scope.kind, scope_id=count.scope.id,
                                         started=count.start, time=count.end, figures=figures)  # fmt: skip
            written = write_decision(conn, decision, extra=[closed])
        logger.info(
            "closed cycle count %s of %s %s: %d expected, %d seen, %d missing, %d unexpected, %s%% accurate",
            count.id, count.scope.kind, count.scope.id, len(res.expected), len(res.seen), len(res.missing),
            len(res.unexpected), res.accuracy_percent,
        )  # fmt: skip
        return Closed(res, new=True, movements=written.movements)

    def result(self, count_id: str) -> CountResult | None:
        """The stored result of a closed count, or None if no count has this id."""
        with self.engine.connect() as conn:
            exists = conn.execute(select(_counts.c.id).where(_counts.c.id == count_id)).first()
            return None if exists is None else _outcomes(conn, count_id)


def _scope_zones(conn: Connection, scope: Scope) -> frozenset[str]:
    """One zone, or the zones of a location and of every location under it (the location tree is small)."""
    if scope.kind == "zone":
        return frozenset({scope.id})
    children: dict[str, list[str]] = {}
    for lid, parent in conn.execute(select(_locations.c.id, _locations.c.parent_id)):
        if parent is not None:
            children.setdefault(parent, []).append(lid)
    under, todo = {scope.id}, [scope.id]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in under:  # the tree refuses self-parents, not longer cycles: do not loop on one
                under.add(child)
                todo.append(child)
    return frozenset(conn.execute(select(_zones.c.id).where(_zones.c.location_id.in_(under))).scalars())


def _expected(conn: Connection, zones: frozenset[str]) -> frozenset[str]:
    """The keys of the items counted as stock whose last zone is one of ``zones``."""
    if not zones:
        return frozenset()
    i = _items.c
    states = [ItemState(s) for s in sorted(COUNTED)]
    return frozenset(conn.execute(select(i.key).where(i.zone_id.in_(zones), i.state.in_(states))).scalars())


def _outcomes(conn: Connection, count_id: str) -> CountResult:
    """A stored count's result, rebuilt from its items: expected = found + missing, seen = found + unexpected."""
    c = _count_items.c
    by: dict[CountOutcome, set[str]] = {o: set() for o in CountOutcome}
    for key, outcome in conn.execute(select(c.item_key, c.outcome).where(c.count_id == count_id)):
        by[CountOutcome(outcome)].add(key)
    found = by[CountOutcome.FOUND]
    return counts.result(found | by[CountOutcome.MISSING], found | by[CountOutcome.UNEXPECTED])


def _check_same(conn: Connection, count: CycleCount) -> None:
    """Warn when a count id closed before had another scope or window: the first close stands."""
    c = _counts.c
    row = conn.execute(select(c.scope_kind, c.scope_id, c.started_at, c.ended_at).where(c.id == count.id)).one()
    if (str(row.scope_kind), row.scope_id, row.started_at, row.ended_at) != (
        count.scope.kind, count.scope.id, count.start, count.end,
    ):  # fmt: skip
        logger.warning("cycle count %s was closed before with another scope or window: the first close stands",
                       count.id)  # fmt: skip
