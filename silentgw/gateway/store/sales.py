"""Sales on the member's record: each checkout sale stored once with its priced lines, points awarded once.

A sale is keyed by the checkout's own sale id (``checkout.sale_id``: its checkout and the time its session opened),
and inserted with ON CONFLICT (id) DO NOTHING: only a sale actually inserted gets its lines and adds its points to
the member, so a replayed sale changes nothing. Lines are priced from the catalog by the item's GTIN at the time of
sale; an item with no catalogued product is left out of the lines and the total (never counted as 0).

Each member's figures (purchases, money spent, largest purchase, first and last purchase times) are kept on their
row, updated by the same statement that adds the sale's points, so only a sale actually inserted counts, once; a
member's figures are then one row, whatever the length of the history (migration 0009 computed them for the sales
stored before). The times become days in the site's time zone; ``gateway.members`` scores and segments them against
all members.

**Tracking at checkout** is the member's consent (``members.tracking_consent``, not presumed): without it, a sale
made with their card awards them their points and nothing else; the sale is stored without its member, its event
names none (so no member rule sees it), and their figures do not move. Their purchases are then not on their record.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Select, Update, case, literal, or_, select, update
from sqlalchemy.orm import Session

from silentgw.gateway import checkout, events, members
from silentgw.gateway.identity import Epc
from silentgw.gateway.members import MemberFigures, Rfm, Segment
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import StoreError, insert_or_skip
from silentgw.gateway.store.models import Base, Member, Product, Sale, SaleLine, UtcDateTime

__all__ = ["MemberValue", "Price", "Recorded", "SqlSales", "UnknownMember"]

logger = logging.getLogger(__name__)

_sales = Base.metadata.tables[Sale.__tablename__]
_lines = Base.metadata.tables[SaleLine.__tablename__]
_members = Base.metadata.tables[Member.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]


class UnknownMember(StoreError):
    """No member has the number asked about."""


class Price(NamedTuple):
    """A sold item's catalog price: its GS1 key, its product, the price and its currency."""

    key: str
    product: int
    price: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a sale did: whether it was new (a replay is not), its total, the points it awarded."""

    id: str
    new: bool
    total: Decimal
    points: int
    unpriced: tuple[str, ...]
    """The sale's EPCs with no catalog price: not among the lines, not in the total."""


@dataclass(frozen=True, slots=True)
class MemberValue:
    """A member's figures, their scores against all members, their segment and their loyalty points."""

    figures: MemberFigures
    rfm: Rfm
    segment: Segment
    points: int


class SqlSales:
    """Sales and member value on a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        timezone: str = "UTC",
        per_unit: Decimal | int = 1,
        currency: str = "EUR",
        new_days: int = 30,
    ) -> None:
        self.engine = engine
        self.zone = ZoneInfo(timezone)
        """The site's time zone: a purchase's day is its local day."""
        self.per_unit = per_unit
        """Loyalty points per whole currency unit spent."""
        self.currency = currency
        """The currency of a sale with no priced line (its total is 0 all the same)."""
        self.new_days = new_days

    def prices(self, items: Iterable[Epc], *, conn: Connection | Session | None = None) -> dict[str, Price]:
        """The catalog price of each item with a catalogued GTIN, by EPC hex (one query)."""
        tags = [e for e in items if e.gtin is not None]
        if not tags:
            return {}
        p = _products.c
        query = select(p.gtin, p.id, p.price, p.currency).where(p.gtin.in_({e.gtin for e in tags}))
        with _connection(self.engine, conn, write=False) as c:
            catalog = {gtin: (pid, price, currency) for gtin, pid, price, currency in c.execute(query)}
        return {e.hex: Price(e.key, *catalog[e.gtin]) for e in tags if e.gtin in catalog}

    def record(
        self, sale: checkout.Sale, *, prices: Mapping[str, Price], conn: Connection | Session | None = None
    ) -> Recorded:
        """Store ``sale`` priced with ``prices`` (EPC hex -> price) and award its member's points, at most once.

        With ``conn`` (a connection or session), it joins the caller's transaction; without, it runs in its own.
        """
        lines = {prices[epc].key: (epc, prices[epc]) for epc in sale.items if epc in prices}
        unpriced = tuple(epc for epc in sale.items if epc not in prices)
        currencies = {price.currency for _, price in lines.values()}
        if len(currencies) > 1:
            raise ValueError(f"sale {sale.id} is priced in more than one currency: {', '.join(sorted(currencies))}")
        total = sum((price.price for _, price in lines.values()), start=Decimal(0))
        with _connection(self.engine, conn, write=True) as c:
            member_id, tracked = None, False
            if sale.member is not None:
                query = select(_members.c.id, _members.c.tracking_consent).where(_members.c.number == sale.member)
                found = c.execute(query).first()
                if found is None:
                    logger.warning("sale %s: no member %s, recorded as anonymous", sale.id, sale.member)
                else:
                    member_id, tracked = found
            awarded = members.points(total, per_unit=self.per_unit) if member_id is not None else 0
            row = {
                "id": sale.id, "member_id": member_id if tracked else None, "checkout": sale.checkout,
                "opened_at": sale.opened, "closed_at": sale.time, "total": total,
                "currency": currencies.pop() if currencies else self.currency,
                "points_awarded": awarded, "recorded_at": dt.datetime.now(dt.UTC),
            }  # fmt: skip
            stmt = insert_or_skip(c, _sales).values(row).on_conflict_do_nothing(index_elements=["id"])
            if c.execute(stmt.returning(_sales.c.id)).scalar_one_or_none() is None:
                return Recorded(sale.id, False, total, 0, unpriced)  # a replay: lines and points are already there
            if lines:
                c.execute(
                    _lines.insert(),
                    [
                        {"sale_id": sale.id, "item_key": key, "epc": epc, "product_id": price.product,
                         "price": price.price}
                        for key, (epc, price) in lines.items()
                    ],
                )  # fmt: skip
            if member_id is not None:
                c.execute(_bought(member_id, total, sale.time, awarded, tracked=tracked))
            priced = [{"item": key, "epc": epc, "price": str(price.price)} for key, (epc, price) in lines.items()]
            completed = events.sale_completed(
                sale.id, member=sale.member if tracked else None, checkout=sale.checkout,
                opened=sale.opened, time=sale.time, total=str(total), currency=str(row["currency"]), points=awarded,
                lines=priced,
            )  # fmt: skip
            outbox.append(c, [completed])
        if unpriced:
            logger.warning("sale %s: %d item(s) with no catalog price: %s", sale.id, len(unpriced), unpriced[:5])
        return Recorded(sale.id, True, total, awarded, unpriced)

    def member_figures(self, number: str, *, conn: Connection | None = None) -> MemberFigures:
        """One member's figures (one row)."""
        found = self._figures(_figures_query().where(_members.c.number == number), conn)
        if not found:
            raise UnknownMember(f"no member {number}")
        return found[0][0]

    def all_figures(self, *, conn: Connection | None = None) -> list[MemberFigures]:
        """Every member's figures (members who never bought included), by member number."""
        return [f for f, _ in self._figures(_figures_query(), conn)]

    def values(self, today: dt.date, *, conn: Connection | None = None) -> dict[str, MemberValue]:
        """Every member's value on ``today``: figures, scores against all members, segment and points."""
        found = self._figures(_figures_query(), conn)
        rfm = members.scores([f for f, _ in found], today)
        return {
            f.number: MemberValue(f, rfm[f.number], members.segment(rfm[f.number], f, today, new_days=self.new_days),
                                  points)
            for f, points in found
        }  # fmt: skip

    def value(self, number: str, today: dt.date) -> MemberValue:
        """One member's value on ``today``, scored against all members."""
        found = self.values(today).get(number)
        if found is None:
            raise UnknownMember(f"no member {number}")
        return found

    def _figures(self, query: Select[Any], conn: Connection | None) -> list[tuple[MemberFigures, int]]:
        """The figures and points of the members ``query`` selects."""
        with _connection(self.engine, conn, write=False) as c:
            rows = c.execute(query).all()
        return [
            (MemberFigures(number, frequency, monetary, largest, self._day(first), self._day(last), self._day(joined)),
             points)
            for number, joined, frequency, monetary, largest, first, last, points in rows
        ]  # fmt: skip

    def _day(self, time: dt.datetime | None) -> dt.date | None:
        # Converting to local time keeps order, so the first and last times give the first and last days.
        return None if time is None else time.astimezone(self.zone).date()


def _figures_query() -> Select[Any]:
    """Per member: number, joined, purchases, money spent, largest purchase, first and last purchase times, points."""
    m = _members.c
    figures = (m.purchases, m.spent, m.largest, m.first_purchase_at, m.last_purchase_at)
    return select(m.number, m.joined_at, *figures, m.points).order_by(m.number)


def _bought(member: int, total: Decimal, time: dt.datetime, points: int, *, tracked: bool) -> Update:
    """The member's figures and points with one more sale (of ``total`` at ``time``, awarding ``points``); only the
    points unless the member is ``tracked``."""
    m = _members.c
    at = literal(time, UtcDateTime())
    if not tracked:
        return update(_members).where(m.id == member).values(points=m.points + points)
    return (
        update(_members)
        .where(m.id == member)
        .values(
            points=m.points + points,
            purchases=m.purchases + 1,
            spent=m.spent + total,
            largest=case((m.largest < total, literal(total, m.largest.type)), else_=m.largest),
            first_purchase_at=case((or_(m.first_purchase_at.is_(None), m.first_purchase_at > at), at),
                                   else_=m.first_purchase_at),
            last_purchase_at=case((or_(m.last_purchase_at.is_(None), m.last_purchase_at < at), at),
                                  else_=m.last_purchase_at),
        )
    )  # fmt: skip


@contextmanager
def _connection(engine: Engine, given: Connection | Session | None, *, write: bool) -> Iterator[Connection]:
    """The caller's connection (or its session's), or a new one: in a transaction of its own when writing."""
    if isinstance(given, Session):
        yield given.connection()
    elif given is not None:
        yield given
    else:
        with engine.begin() if write else engine.connect() as conn:
            yield conn
