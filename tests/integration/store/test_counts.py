"""Cycle counts on SQLite and PostgreSQL: the result stored once, missing items leave stock, and come back when seen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from silentgw.gateway.counts import CycleCount, Scope, Sighting, seen_in
from silentgw.gateway.identity import decode, encode_sgtin
from silentgw.gateway.ledger import ZoneInfo
from silentgw.gateway.store.counts import SqlCycleCounts
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import (
    CountOutcome,
    CycleCountItem,
    Item,
    ItemState,
    Location,
    Product,
    Site,
    StockMovement,
    Zone,
    ZoneKind,
)
from silentgw.gateway.store.models import CycleCount as CycleCountRow
from silentgw.gateway.transitions import Arrived

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
GTIN = "00614141812349"
# The floor holds an aisle: a count of the floor covers the aisle's zones too.
LOCATIONS = (("backroom", None), ("floor", None), ("aisle-1", "floor"))
ZONES = (("rack", ZoneKind.BACKROOM, "backroom"), ("shelf-a", ZoneKind.SHELF, "floor"),
         ("shelf-b", ZoneKind.SHELF, "aisle-1"))  # fmt: skip


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def epc(serial: int) -> str:
    return encode_sgtin(gtin=GTIN, serial=str(serial), company_prefix_length=7)


def key(serial: int) -> str:
    return decode(epc(serial)).key  # type: ignore[union-attr]


def seed(engine: Engine) -> tuple[SqlStockLedger, dict[str, ZoneInfo], int]:
    """Items 1-4 on shelf-a (floor), 5 on shelf-b (aisle-1, under the floor), 6 in the backroom rack."""
    with Session(engine) as session, session.begin():
        session.add(Site(id="store-1", name="Store"))
        session.flush()
        for loc, parent in LOCATIONS:
            session.add(Location(id=loc, site_id="store-1", name=loc, parent_id=parent))
            session.flush()
        session.add_all(Zone(id=z, location_id=loc, name=z, kind=kind) for z, kind, loc in ZONES)
        product = Product(gtin=GTIN, sku="SKU-1", name="Mug", price=Decimal("9.90"), currency="EUR")
        session.add(product)
        session.flush()
        mug = product.id
    ledger = SqlStockLedger(engine)
    zones = ledger.zones()
    placed = [(1, "shelf-a"), (2, "shelf-a"), (3, "shelf-a"), (4, "shelf-a"), (5, "shelf-b"), (6, "rack")]
    ledger.apply([Arrived(epc(n), zone, at(0)) for n, zone in placed], zones)
    assert ledger.levels() == {(mug, "floor"): 4, (mug, "aisle-1"): 1, (mug, "backroom"): 1}
    return ledger, zones, mug


def movements(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(StockMovement.idempotency_key, StockMovement.reason).order_by(StockMovement.id))
        return [(k, r) for k, r in rows]


def states(engine: Engine) -> dict[str, tuple[ItemState, str | None]]:
    with Session(engine) as session:
        return {k: (s, loc) for k, s, loc in session.execute(select(Item.key, Item.state, Item.location_id))}


COUNT = CycleCount("count-1", Scope("zone", "shelf-a"), at(10), at(20))


def test_a_count_marks_the_unseen_missing_and_reports_the_unexpected(engine: Engine) -> None:
    ledger, _, mug = seed(engine)
    store = SqlCycleCounts(engine)
    assert store.zones(COUNT.scope) == {"shelf-a"}
    assert store.expected(COUNT.scope) == {key(n) for n in (1, 2, 3, 4)}
    # Items 1 and 2 read in the window, 3 read only before it, 6 (the backroom's) read on shelf-a: misplaced.
    reads = [Sighting(key(1), "shelf-a", at(11)), Sighting(key(2), "shelf-a", at(19)),
             Sighting(key(3), "shelf-a", at(9)), Sighting(key(5), "shelf-b", at(12)),
             Sighting(key(6), "shelf-a", at(15))]  # fmt: skip
    seen = seen_in(COUNT, reads, zones=store.zones(COUNT.scope))
    assert seen == {key(1), key(2), key(6)}

    closed = store.close(COUNT, seen)
    assert closed.new
    r = closed.result
    assert r.expected == {key(n) for n in (1, 2, 3, 4)}
    assert r.missing == {key(3), key(4)}
    assert r.unexpected == {key(6)}
    assert r.found == {key(1), key(2)}
    assert r.accuracy_percent == Decimal("50.00")
    assert sorted(m.key for m in closed.movements) == sorted(f"missing:count-1:{key(n)}" for n in (3, 4))
    assert {m.reason for m in closed.movements} == {"missing"}

    assert ledger.levels() == {(mug, "floor"): 2, (mug, "aisle-1"): 1, (mug, "backroom"): 1}
    assert ledger.recount() == ledger.levels()
    after = states(engine)
    assert after[key(3)] == after[key(4)] == (ItemState.MISSING, None)
    assert after[key(1)] == (ItemState.IN_STOCK, "floor")
    assert after[key(6)] == (ItemState.IN_STOCK, "backroom")  # unexpected is reported, not moved

    with Session(engine) as session:
        row = session.get_one(CycleCountRow, "count-1")
        assert (row.scope_kind, row.scope_id, row.started_at, row.ended_at) == ("zone", "shelf-a", at(10), at(20))
        assert (row.expected, row.seen, row.missing, row.unexpected) == (4, 3, 2, 1)
        assert row.accuracy == Decimal("50.00")
        outcomes = {k: o for k, o in session.execute(select(CycleCountItem.item_key, CycleCountItem.outcome))}
    assert outcomes == {key(1): CountOutcome.FOUND, key(2): CountOutcome.FOUND, key(3): CountOutcome.MISSING,
                        key(4): CountOutcome.MISSING, key(6): CountOutcome.UNEXPECTED}  # fmt: skip
    assert store.result("count-1") == r
    assert store.result("count-2") is None


def test_closing_a_count_again_changes_nothing(engine: Engine) -> None:
    ledger, _, _ = seed(engine)
    store = SqlCycleCounts(engine)
    first = store.close(COUNT, {key(1), key(2)})
    levels, recorded, items = ledger.levels(), movements(engine), states(engine)

    for seen in ({key(1), key(2)}, {key(1)}, set()):  # a retry, even with other reads, is the same count
        again = store.close(COUNT, seen)
        assert not again.new
        assert again.movements == ()
        assert again.result == first.result
    assert (ledger.levels(), movements(engine), states(engine)) == (levels, recorded, items)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CycleCountRow)).scalar_one() == 1


def test_a_missing_item_is_found_again_when_next_seen(engine: Engine) -> None:
    ledger, zones, mug = seed(engine)
    SqlCycleCounts(engine).close(COUNT, {key(1), key(2)})
    assert ledger.level(mug, "floor") == 2

    result = ledger.apply([Arrived(epc(3), "shelf-a", at(30)), Arrived(epc(4), "shelf-b", at(31))], zones)
    assert [m.reason for m in result.movements] == ["found", "found"]
    assert ledger.levels() == {(mug, "floor"): 3, (mug, "aisle-1"): 2, (mug, "backroom"): 1}
    assert ledger.recount() == ledger.levels()
    after = states(engine)
    assert after[key(3)] == (ItemState.IN_STOCK, "floor")
    assert after[key(4)] == (ItemState.IN_STOCK, "aisle-1")
    # The next count of the shelf expects the found item again.
    assert SqlCycleCounts(engine).expected(COUNT.scope) == {key(n) for n in (1, 2, 3)}


def test_a_location_count_covers_the_locations_under_it(engine: Engine) -> None:
    ledger, _, mug = seed(engine)
    store = SqlCycleCounts(engine)
    floor = Scope("location", "floor")
    assert store.zones(floor) == {"shelf-a", "shelf-b"}
    assert store.zones(Scope("location", "aisle-1")) == {"shelf-b"}
    assert store.zones(Scope("location", "nowhere")) == frozenset()
    assert store.expected(floor) == {key(n) for n in (1, 2, 3, 4, 5)}
    assert store.expected(Scope("location", "nowhere")) == frozenset()

    closed = store.close(CycleCount("count-floor", floor, at(10), at(20)), {key(n) for n in (1, 2, 3, 4)})
    assert closed.result.missing == {key(5)}
    assert closed.result.accuracy_percent == Decimal("80.00")
    assert ledger.levels() == {(mug, "floor"): 4, (mug, "backroom"): 1}


def test_an_empty_scope_is_fully_accurate_and_marks_nothing(engine: Engine) -> None:
    ledger, _, _ = seed(engine)
    levels = ledger.levels()
    closed = SqlCycleCounts(engine).close(CycleCount("count-empty", Scope("zone", "nowhere"), at(10), at(20)), set())
    assert closed.new
    assert closed.result.accuracy_percent == Decimal("100.00")
    assert closed.movements == ()
    assert ledger.levels() == levels
