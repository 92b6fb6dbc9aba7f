"""The stock ledger on SQLite and PostgreSQL: levels follow the lifecycle, replays change nothing, invariants hold."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from silentgw.gateway.identity import decode, encode_sgtin, encode_sscc
from silentgw.gateway.ledger import ZoneInfo, idempotency_key
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import (
    Item,
    ItemState,
    Location,
    Product,
    Site,
    StockLevel,
    StockMovement,
    Zone,
    ZoneKind,
)
from silentgw.gateway.transitions import Arrived, Departed, Moved, Passed, Transition

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
GTINS = ("00614141812349", "00614141899999")
ZONES = (
    ("dock", ZoneKind.DOCK_DOOR, "backroom"),
    ("recv", ZoneKind.RECEIVING, "backroom"),
    ("rack", ZoneKind.BACKROOM, "backroom"),
    ("shelf-a", ZoneKind.SHELF, "floor"),
    ("shelf-b", ZoneKind.SHELF, "floor"),
    ("till", ZoneKind.CHECKOUT, "floor"),
    ("exit", ZoneKind.EXIT, "floor"),
)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def epc(serial: int, product: int = 0) -> str:
    return encode_sgtin(gtin=GTINS[product], serial=str(serial), company_prefix_length=7)


def key(hex_: str) -> str:
    return decode(hex_).key  # type: ignore[union-attr]


def seed(engine: Engine) -> tuple[SqlStockLedger, dict[str, ZoneInfo], list[int]]:
    """A store with a backroom and a sales floor, the zones above, and two products."""
    with Session(engine) as session, session.begin():
        session.add(Site(id="store-1", name="Store"))
        session.flush()
        session.add_all(Location(id=loc, site_id="store-1", name=loc) for loc in ("backroom", "floor"))
        session.flush()
        session.add_all(Zone(id=z, location_id=loc, name=z, kind=kind) for z, kind, loc in ZONES)
        products = [
            Product(gtin=gtin, sku=f"SKU-{n}", name=f"Product {n}", price=Decimal("9.90"), currency="EUR")
            for n, gtin in enumerate(GTINS)
        ]
        session.add_all(products)
        session.flush()
        ids = [p.id for p in products]
    ledger = SqlStockLedger(engine)
    return ledger, ledger.zones(), ids


def movement_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()


def test_receive_shelve_move_sell_and_ship(engine: Engine) -> None:
    ledger, zones, (mug, _) = seed(engine)
    tags = [epc(n) for n in range(1, 4)]
    ledger.apply([Passed(t, "dock", "in", at(0)) for t in tags], zones)
    assert ledger.levels() == {(mug, "backroom"): 3}

    shelve = [Arrived(t, "rack", at(1)) for t in tags] + [Moved(tags[0], "rack", "shelf-a", at(2))]
    result = ledger.apply(shelve, zones)
    assert [m.reason for m in result.movements] == ["moved"]
    assert ledger.levels() == {(mug, "backroom"): 2, (mug, "floor"): 1}

    ledger.apply([Moved(tags[0], "shelf-a", "shelf-b", at(3)), Moved(tags[1], "rack", "shelf-a", at(3))], zones)
    assert ledger.levels() == {(mug, "backroom"): 1, (mug, "floor"): 2}

    assert [m.reason for m in ledger.sell([key(tags[0])], sale_id="sale-1", time=at(4)).movements] == ["sold"]
    assert ledger.sell([key(tags[0])], sale_id="sale-1", time=at(4)).movements == ()
    ledger.apply([Passed(tags[0], "exit", "out", at(5)), Departed(tags[0], "shelf-b", at(5))], zones)
    assert ledger.levels() == {(mug, "backroom"): 1, (mug, "floor"): 1}

    ledger.apply([Passed(tags[2], "dock", "out", at(6)), Departed(tags[2], "rack", at(6))], zones)
    assert ledger.levels() == {(mug, "floor"): 1}
    assert ledger.level(mug, "floor") == 1
    assert ledger.level(mug, "backroom") == 0
    assert ledger.recount() == ledger.levels()
    with Session(engine) as session:
        states = {k: state for k, state in session.execute(select(Item.key, Item.state))}
    assert states == {key(tags[0]): ItemState.SOLD, key(tags[1]): ItemState.IN_STOCK, key(tags[2]): ItemState.SHIPPED}
    assert movement_count(engine) == 7  # 3 received, 2 moved, 1 sold, 1 shipped


def test_a_replayed_batch_changes_nothing(engine: Engine) -> None:
    ledger, zones, (mug, _) = seed(engine)
    first: list[Transition] = [
        Arrived(epc(1), "recv", at(0)),
        Arrived(epc(2, 1), "shelf-a", at(0)),
        Arrived(epc(3), "recv", at(0)),
    ]
    second: list[Transition] = [Moved(epc(1), "recv", "shelf-a", at(1)), Departed(epc(2, 1), "shelf-a", at(1))]
    ledger.apply(first, zones)
    ledger.apply(second, zones)
    levels, count = ledger.levels(), movement_count(engine)
    assert levels == {(mug, "backroom"): 1, (mug, "floor"): 1}
    for batch in (first, second, first + second):
        assert ledger.apply(batch, zones).movements == ()
    assert (ledger.levels(), movement_count(engine)) == (levels, count)
    assert ledger.recount() == levels


def test_a_movement_already_recorded_moves_no_stock(engine: Engine) -> None:
    ledger, zones, (mug, _) = seed(engine)
    already = idempotency_key("received", key(epc(1)), None, "backroom", at(0))
    with Session(engine) as session, session.begin():
        session.add(
            StockMovement(idempotency_key=already, occurred_at=at(0), product_id=mug, to_location_id="backroom",
                          quantity=1, reason="received")
        )  # fmt: skip
    result = ledger.apply([Arrived(epc(1), "recv", at(0)), Arrived(epc(2), "recv", at(0))], zones)
    assert [m.item for m in result.movements] == [key(epc(2))]
    assert ledger.levels() == {(mug, "backroom"): 1}  # the level follows the movements inserted, not those decided


def test_a_sale_retried_after_a_return_leaves_the_item_in_stock(engine: Engine) -> None:
    ledger, zones, (mug, _) = seed(engine)
    ledger.apply([Arrived(epc(1), "shelf-a", at(0))], zones)
    ledger.sell([key(epc(1))], sale_id="sale-1", time=at(1))
    ledger.apply([Arrived(epc(1), "recv", at(2))], zones)  # brought back: received again
    assert ledger.sell([key(epc(1))], sale_id="sale-1", time=at(3)).movements == ()
    assert ledger.levels() == ledger.recount() == {(mug, "backroom"): 1}
    with engine.connect() as conn:
        assert conn.execute(select(Item.location_id)).scalar_one() == "backroom"


def test_unknown_epcs_are_listed_once_per_tag(engine: Engine) -> None:
    ledger, zones, _ = seed(engine)
    pallet = encode_sscc(sscc="106141412345678908", company_prefix_length=7)
    stranger = encode_sgtin(gtin="00614141123452", serial="9", company_prefix_length=7)
    batch: list[Transition] = [
        Passed(pallet, "dock", "in", at(0)),
        Arrived(stranger, "shelf-a", at(1)),
        Arrived("ZZ", "rack", at(2)),
    ]
    ledger.apply(batch, zones)
    ledger.apply(batch, zones)  # a replay does not count the sightings twice
    ledger.apply([Moved(stranger, "shelf-a", "shelf-b", at(3))], zones)
    seen = {u.epc: (u.reason, u.zone, u.times_seen, u.first_seen, u.last_seen) for u in ledger.unknown()}
    assert seen == {
        pallet: ("not_sgtin", "dock", 1, at(0), at(0)),
        stranger: ("unknown_gtin", "shelf-b", 2, at(1), at(3)),
        "ZZ": ("undecodable", "rack", 1, at(2), at(2)),
    }
    assert ledger.levels() == {}
    assert movement_count(engine) == 0


# Property: any sequence of transitions and sales, replayed at random, keeps the ledger's promises.
ITEMS = 4
_examples = itertools.count(1)

step = st.one_of(
    st.tuples(st.just("arrive"), st.integers(0, ITEMS - 1), st.sampled_from([z for z, _, _ in ZONES[1:6]])),
    st.tuples(st.just("move"), st.integers(0, ITEMS - 1), st.sampled_from([z for z, _, _ in ZONES[1:6]])),
    st.tuples(st.just("depart"), st.integers(0, ITEMS - 1), st.sampled_from([z for z, _, _ in ZONES[1:6]])),
    st.tuples(st.just("pass"), st.integers(0, ITEMS - 1), st.sampled_from(["dock:in", "dock:out", "exit:out"])),
    st.tuples(st.just("sell"), st.integers(0, ITEMS - 1), st.just("")),
    st.tuples(st.just("replay"), st.integers(0, 10), st.just("")),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(step, min_size=1, max_size=5), min_size=1, max_size=6))
def test_the_ledger_keeps_its_promises(
    engine: Engine, batches: list[list[tuple[str, int, str]]], seeded: tuple[SqlStockLedger, dict[str, ZoneInfo]]
) -> None:
    ledger, zones = seeded
    # Each example gets items of its own, so the examples share one database without interfering.
    base = next(_examples) * 100
    tags = [epc(base + n, n % 2) for n in range(ITEMS)]
    done: list[list[Transition]] = []
    clock = itertools.count()
    for batch in batches:
        transitions: list[Transition] = []
        for op, n, arg in batch:
            t = at(next(clock))
            if op == "replay":
                if done:
                    ledger.apply(done[n % len(done)], zones)
                    check(engine, ledger)
                continue
            if op == "sell":
                ledger.sell([key(tags[n])], sale_id=f"sale-{base}-{n}", time=t)
                check(engine, ledger)
                continue
            if op == "arrive":
                transitions.append(Arrived(tags[n], arg, t))
            elif op == "move":
                transitions.append(Moved(tags[n], "rack", arg, t))
            elif op == "depart":
                transitions.append(Departed(tags[n], arg, t))
            else:
                portal, direction = arg.split(":")
                transitions.append(Passed(tags[n], portal, "in" if direction == "in" else "out", t))
        ledger.apply(transitions, zones)
        done.append(transitions)
        check(engine, ledger)


def check(engine: Engine, ledger: SqlStockLedger) -> None:
    """Stock is never negative, each counted item is in exactly one place, the levels are what the ledger sums to."""
    with engine.connect() as conn:
        lowest = conn.execute(select(func.min(StockLevel.quantity))).scalar_one()
        counted = conn.execute(
            select(Item.product_id, Item.location_id, func.count())
            .where(Item.location_id.is_not(None))
            .group_by(Item.product_id, Item.location_id)
        ).all()
        misplaced = conn.execute(
            select(func.count()).where(
                (Item.location_id.is_(None)) == Item.state.in_([ItemState.RECEIVED, ItemState.IN_STOCK])
            )
        ).scalar_one()
    assert lowest is None or lowest >= 0
    assert misplaced == 0
    levels = ledger.levels()
    assert {(p, loc): n for p, loc, n in counted} == levels
    assert ledger.recount() == levels


@pytest.fixture
def seeded(engine: Engine) -> tuple[SqlStockLedger, dict[str, ZoneInfo]]:
    """The store of ``seed``, once per test (hypothesis reuses it across examples)."""
    ledger, zones, _ = seed(engine)
    return ledger, zones
