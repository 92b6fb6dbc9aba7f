"""Checkout over a simulated store day: presence and checkout together find the day's sales and its one unpaid exit.

The day is fed the way the gateway feeds it: one-second micro-batches of observations through presence, the card
reads of the batch and presence's transitions to checkout. Forty shoppers over six hours queue at the one checkout, as
customers do (two baskets on one pad at once could not be told apart by any rule); the pad reads what lies on it
about once a second, and no item is read anywhere before it got there.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from silentgw.drivers.observations import SensorReading, TagRead
from silentgw.gateway import presence
from silentgw.gateway.checkout import (
    CheckoutEvent,
    CheckoutState,
    Sale,
    UnpaidExit,
    cards_from,
    receipt,
)
from silentgw.gateway.checkout import step as checkout_step
from silentgw.gateway.config import load_settings
from silentgw.gateway.layout import card_readers, checkout_rules, zone_map
from silentgw.simulator.demo_store import DEMO_MEMBERS
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"


@pytest.fixture(scope="module", params=[1, 2])
def played(request: pytest.FixtureRequest) -> tuple[StoreDay, list[CheckoutEvent]]:
    """Six hours of the store day with forty shoppers, through presence and checkout."""
    settings = load_settings(EXAMPLE, {})
    day = StoreDay(settings, StoreDayPlan(hours=6, shoppers=40), seed=request.param)
    seen = presence.PresenceState(zone_map(settings))
    state = CheckoutState(checkout_rules(settings))
    readers = card_readers(settings)
    members = {card: number for number, _name, card in DEMO_MEMBERS}
    events: list[CheckoutEvent] = []

    def feed(batch: list[TagRead | SensorReading], now: dt.datetime) -> None:
        nonlocal state
        _, transitions = presence.step(seen, batch, now)
        cards = cards_from(batch, readers)
        state, new, _ = checkout_step(state, cards=cards, transitions=transitions, members=members, now=now)
        events.extend(new)

    for batch, now in micro_batches(day, day.end):
        feed(batch, now)
    return day, events


def test_the_sales_found_are_the_sales_made(played: tuple[StoreDay, list[CheckoutEvent]]) -> None:
    day, events = played
    found = Counter((s.member, frozenset(s.items)) for s in events if isinstance(s, Sale))
    made = Counter((s.member, frozenset(s.items)) for s in day.truth.sales)
    assert len(made) >= 30
    assert any(member is None for member, _ in made)
    assert any(member for member, _ in made)
    assert found == made


def test_each_sale_is_priced_as_it_was_paid(played: tuple[StoreDay, list[CheckoutEvent]]) -> None:
    day, events = played
    prices = {epc: (item.gtin, item.price) for epc, item in day.truth.items.items()}
    found = {frozenset(s.items): receipt(s, prices).total for s in events if isinstance(s, Sale)}
    assert found == {frozenset(s.items): s.total for s in day.truth.sales}
    assert all(total > Decimal(0) for total in found.values())


def test_exactly_the_one_unpaid_exit_raises_an_alarm(played: tuple[StoreDay, list[CheckoutEvent]]) -> None:
    day, events = played
    walked_out = [h.subject for h in day.truth.happenings if h.what == "unpaid_exit"]
    assert [a.epc for a in events if isinstance(a, UnpaidExit)] == walked_out
    assert len(walked_out) == 1
