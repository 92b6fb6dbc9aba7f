"""What the pipeline's scenario tests compare: the store's records against the simulator's truth of the day."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from silentgw.gateway.config import Settings
from silentgw.gateway.members import points
from silentgw.gateway.store.models import Member, Product, SaleLine
from silentgw.gateway.store.models import Sale as SaleRow
from silentgw.simulator.store_day import StoreDay

Basket = tuple[frozenset[str], Decimal]
"""A sale as the member's record holds it: the item keys and the total."""


def expected_stock(day: StoreDay, settings: Settings, engine: Engine) -> dict[tuple[int, str], int]:
    """The truth's items in stock, by (product id, location)."""
    location = {z.id: z.location for z in settings.zones}
    with engine.connect() as conn:
        products = {gtin: pid for gtin, pid in conn.execute(select(Product.gtin, Product.id))}
    counts: Counter[tuple[int, str]] = Counter()
    for (gtin, zone), n in day.truth.stock().items():
        counts[(products[gtin], location[zone])] += n
    return dict(counts)


def recorded(engine: Engine) -> tuple[dict[str | None, Counter[Basket]], dict[str, int]]:
    """Each member's recorded sales as (item keys, total) (None: anonymous), and every member's points."""
    with Session(engine) as session:
        numbers = {mid: number for mid, number in session.execute(select(Member.id, Member.number))}
        lines: defaultdict[str, set[str]] = defaultdict(set)
        for sale, key in session.execute(select(SaleLine.sale_id, SaleLine.item_key)):
            lines[sale].add(key)
        sales: defaultdict[str | None, Counter[Basket]] = defaultdict(Counter)
        for sid, member, total in session.execute(select(SaleRow.id, SaleRow.member_id, SaleRow.total)):
            sales[None if member is None else numbers[member]][(frozenset(lines[sid]), total)] += 1
        return dict(sales), {number: p for number, p in session.execute(select(Member.number, Member.points))}


def true_sales(day: StoreDay) -> tuple[dict[str | None, Counter[Basket]], Counter[str]]:
    """The day's sales by member as (item keys, total) (None: anonymous), and the points each member earned."""
    keys = {epc: item.key for epc, item in day.truth.items.items()}
    truth: defaultdict[str | None, Counter[Basket]] = defaultdict(Counter)
    earned: Counter[str] = Counter()
    for s in day.truth.sales:
        truth[s.member][(frozenset(keys[epc] for epc in s.items), s.total)] += 1
        if s.member is not None:
            earned[s.member] += points(s.total)
    return dict(truth), earned
