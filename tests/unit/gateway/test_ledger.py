"""The stock ledger's decisions, with values only: the lifecycle, commissioning, unknown EPCs, idempotency keys."""

from __future__ import annotations

import datetime as dt

import pytest

from silentgw.gateway.identity import decode, encode_sgtin, encode_sscc
from silentgw.gateway.ledger import (
    Decision,
    ItemView,
    State,
    ZoneInfo,
    decide,
    idempotency_key,
    identify,
    missing,
    sold,
)
from silentgw.gateway.transitions import Arrived, Departed, Moved, Passed, Transition

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
GTIN = "00614141812349"
PRODUCT = 7
EPC = encode_sgtin(gtin=GTIN, serial="1", company_prefix_length=7)
KEY = decode(EPC).key  # type: ignore[union-attr]
ZONES = {
    z.id: z
    for z in (
        ZoneInfo("dock", "dock_door", "backroom"),
        ZoneInfo("recv", "receiving", "backroom"),
        ZoneInfo("rack", "backroom", "backroom"),
        ZoneInfo("shelf-a", "shelf", "floor"),
        ZoneInfo("shelf-b", "shelf", "floor"),
        ZoneInfo("till", "checkout", "floor"),
        ZoneInfo("exit", "exit", "floor"),
    )
}


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def run(*transitions: Transition, item: ItemView | None = None, commission: bool = True) -> Decision:
    epcs = [t.epc for t in transitions]
    return decide(
        transitions,
        identities=identify(epcs),
        items={} if item is None else {item.key: item},
        zones=ZONES,
        catalog={GTIN: PRODUCT},
        commission=commission,
    )


def view(state: State, zone: str | None, location: str | None) -> ItemView:
    return ItemView(KEY, PRODUCT, state, zone, location, last_seen=at(-10))


@pytest.mark.parametrize(
    ("before", "transition", "state", "zone", "location", "movement"),
    [
        # first sight
        (None, Arrived(EPC, "recv", at(1)), "received", "recv", "backroom", ("received", None, "backroom")),
        (None, Passed(EPC, "dock", "in", at(1)), "received", "dock", "backroom", ("received", None, "backroom")),
        (None, Arrived(EPC, "shelf-a", at(1)), "in_stock", "shelf-a", "floor", ("commissioned", None, "floor")),
        (None, Moved(EPC, "shelf-a", "shelf-b", at(1)), "in_stock", "shelf-b", "floor",
         ("commissioned", None, "floor")),
        # put away within a location: the zone changes, the stock does not move
        (view("received", "recv", "backroom"), Arrived(EPC, "rack", at(1)), "in_stock", "rack", "backroom", None),
        # between locations
        (view("received", "recv", "backroom"), Moved(EPC, "recv", "shelf-a", at(1)), "in_stock", "shelf-a", "floor",
         ("moved", "backroom", "floor")),
        (view("in_stock", "shelf-a", "floor"), Moved(EPC, "shelf-a", "shelf-b", at(1)), "in_stock", "shelf-b", "floor",
         None),
        (view("in_stock", "shelf-a", "floor"), Arrived(EPC, "till", at(1)), "in_stock", "till", "floor", None),
        # out
        (view("in_stock", "rack", "backroom"), Passed(EPC, "dock", "out", at(1)), "shipped", "dock", None,
         ("shipped", "backroom", None)),
        (view("in_stock", "shelf-a", "floor"), Passed(EPC, "exit", "out", at(1)), "missing", "exit", None,
         ("missing", "floor", None)),
        (view("in_stock", "shelf-a", "floor"), Departed(EPC, "shelf-a", at(1)), "missing", "shelf-a", None,
         ("missing", "floor", None)),
        # a departure from a zone the item has already left is old news
        (view("in_stock", "shelf-b", "floor"), Departed(EPC, "shelf-a", at(1)), "in_stock", "shelf-b", "floor", None),
        (view("sold", "till", None), Passed(EPC, "exit", "out", at(1)), "sold", "till", None, None),
        (view("sold", "till", None), Departed(EPC, "till", at(1)), "sold", "till", None, None),
        (view("missing", "shelf-a", None), Passed(EPC, "dock", "out", at(1)), "shipped", "dock", None, None),
        # found again, and returns
        (view("missing", "shelf-a", None), Arrived(EPC, "shelf-b", at(1)), "in_stock", "shelf-b", "floor",
         ("found", None, "floor")),
        (view("sold", "till", None), Arrived(EPC, "shelf-a", at(1)), "sold", "shelf-a", None, None),
        (view("sold", "till", None), Passed(EPC, "exit", "in", at(1)), "sold", "till", None, None),
        (view("shipped", "dock", None), Arrived(EPC, "recv", at(1)), "received", "recv", "backroom",
         ("received", None, "backroom")),
    ],
)  # fmt: skip
def test_the_lifecycle(
    before: ItemView | None,
    transition: Transition,
    state: State,
    zone: str,
    location: str | None,
    movement: tuple[str, str | None, str | None] | None,
) -> None:
    decision = run(transition, item=before)
    (change,) = decision.items
    assert (change.view.state, change.view.zone, change.view.location) == (state, zone, location)
    assert change.new is (before is None)
    moved = [(m.reason, m.from_location, m.to_location) for m in decision.movements]
    assert moved == ([] if movement is None else [movement])
    assert all(m.product == PRODUCT and m.item == KEY and m.quantity == 1 for m in decision.movements)


def test_a_whole_day_in_one_batch() -> None:
    decision = run(
        Passed(EPC, "dock", "in", at(0)),
        Arrived(EPC, "recv", at(1)),
        Moved(EPC, "recv", "rack", at(2)),
        Moved(EPC, "rack", "shelf-a", at(3)),
        Moved(EPC, "shelf-a", "shelf-b", at(4)),
        Departed(EPC, "shelf-b", at(5)),
        Arrived(EPC, "shelf-a", at(6)),
    )
    assert [m.reason for m in decision.movements] == ["received", "moved", "missing", "found"]
    (change,) = decision.items
    assert (change.first_seen, change.view.last_seen) == (at(0), at(6))


def test_a_pass_out_departs_once() -> None:
    before = view("in_stock", "rack", "backroom")
    decision = run(Passed(EPC, "dock", "out", at(1)), Departed(EPC, "rack", at(1)), item=before)
    assert [m.reason for m in decision.movements] == ["shipped"]


def test_replaying_gives_the_same_keys() -> None:
    batch = (Arrived(EPC, "recv", at(1)), Moved(EPC, "recv", "shelf-a", at(2)), Departed(EPC, "shelf-a", at(3)))
    first, second = run(*batch), run(*batch)
    assert [m.key for m in first.movements] == [m.key for m in second.movements]
    assert len({m.key for m in first.movements}) == 3
    assert first.movements[1].key == idempotency_key("moved", KEY, "backroom", "floor", at(2))


def test_transitions_no_later_than_the_stored_item_are_stale() -> None:
    after = run(Arrived(EPC, "recv", at(1)), Moved(EPC, "recv", "shelf-a", at(2))).items[0].view
    assert run(Arrived(EPC, "recv", at(1)), Moved(EPC, "recv", "shelf-a", at(2)), item=after) == Decision()
    assert run(Departed(EPC, "shelf-a", at(3)), item=after).movements[0].reason == "missing"


def test_long_keys_are_hashed_to_fit() -> None:
    key = idempotency_key("moved", "(01)" + "9" * 14 + "(21)" + "x" * 20, "l" * 64, "m" * 64, at(0))
    assert key.startswith("moved:sha256:")
    assert len(key) <= 200


@pytest.mark.parametrize("commission", [True, False])
def test_commissioning_can_be_turned_off(commission: bool) -> None:
    decision = run(Arrived(EPC, "shelf-a", at(1)), commission=commission)
    assert len(decision.items) == int(commission)
    assert [u.reason for u in decision.unknown] == ([] if commission else ["not_commissioned"])


def test_an_uncommissioned_item_leaving_is_not_stock() -> None:
    assert run(Passed(EPC, "dock", "out", at(1)), Departed(EPC, "shelf-a", at(1))) == Decision()


@pytest.mark.parametrize(
    ("epc", "reason"),
    [
        (encode_sgtin(gtin="00614141899999", serial="5", company_prefix_length=7), "unknown_gtin"),
        (encode_sscc(sscc="106141412345678908", company_prefix_length=7), "not_sgtin"),
        ("E2801160600002", "undecodable"),
        ("ZZ" * 12, "undecodable"),
        ("35" + "0" * 22, "unsupported_scheme"),
    ],
)
def test_unknown_epcs_are_listed_with_why_when_and_where(epc: str, reason: str) -> None:
    decision = run(
        Arrived(epc, "shelf-a", at(1)), Moved(epc, "shelf-a", "shelf-b", at(3)), Departed(epc, "shelf-b", at(9))
    )
    assert (decision.items, decision.movements) == ((), ())
    (unknown,) = decision.unknown
    assert (unknown.epc, unknown.reason, unknown.zone) == (epc, reason, "shelf-b")
    assert (unknown.first_seen, unknown.last_seen, unknown.times_seen) == (at(1), at(9), 3)


def test_a_sale_takes_counted_items_out_once() -> None:
    on_shelf = view("in_stock", "till", "floor")
    lost = ItemView("(01)00614141812349(21)2", PRODUCT, "missing", "shelf-a", None)
    decision = sold([on_shelf, lost, view("sold", "till", None)], "sale-9", time=at(5))
    assert [(m.key, m.from_location, m.to_location) for m in decision.movements] == [
        (f"sold:sale-9:{KEY}", "floor", None)
    ]
    assert [c.view.state for c in decision.items] == ["sold", "sold"]
    assert all(c.view.location is None and c.view.last_seen == on_shelf.last_seen for c in decision.items[:1])


def test_a_cycle_count_marks_counted_items_missing() -> None:
    decision = missing([view("in_stock", "shelf-a", "floor"), view("sold", "till", None)], "count-1", time=at(5))
    assert [m.key for m in decision.movements] == [f"missing:count-1:{KEY}"]
    assert [c.view.state for c in decision.items] == ["missing"]
