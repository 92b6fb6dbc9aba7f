"""Sales on the member's record, on SQLite and PostgreSQL: lines, totals, points once, and member value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Engine, Numeric, column, func, insert, select, table
from sqlalchemy.orm import Session

from silentgw.gateway.checkout import Sale, sale_id
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.members import MemberFigures, Rfm, Segment
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Member, Product, SaleLine, UtcDateTime
from silentgw.gateway.store.models import Sale as SaleRow
from silentgw.gateway.store.sales import Price, SqlSales, UnknownMember

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TODAY = T0.date()
MUG, CUP = "80614141123458", "00614141812352"  # MUG: the GTIN of the SGTIN-96 below


@pytest.fixture
def sales(engine: Engine) -> SqlSales:
    """Two products and members M1 to M5 (joined a year ago, no points yet)."""
    with Session(engine) as session, session.begin():
        session.add_all(
            [
                Product(gtin=MUG, sku="MUG", name="Mug", price=Decimal("8.50"), currency="EUR"),
                Product(gtin=CUP, sku="CUP", name="Cup", price=Decimal("12.25"), currency="EUR"),
            ]
        )
        session.add_all(
            Member(number=f"M{n}", name=f"Member {n}", joined_at=T0 - dt.timedelta(days=365), tracking_consent=True)
            for n in range(1, 6)
        )
    return SqlSales(engine)


def catalog(engine: Engine) -> dict[str, tuple[int, Decimal]]:
    with engine.connect() as conn:
        return {
            gtin: (pid, price) for gtin, pid, price in conn.execute(select(Product.gtin, Product.id, Product.price))
        }


def sale(member: str | None, items: dict[str, str], *, at: dt.datetime = T0, checkout: str = "till-1") -> Sale:
    """A sale of ``items`` (EPC -> GTIN) closed at ``at``, opened a minute before."""
    opened = at - dt.timedelta(minutes=1)
    return Sale(sale_id(checkout, opened), member, tuple(sorted(items)), at, checkout, opened)


def prices(engine: Engine, items: dict[str, str]) -> dict[str, Price]:
    """The catalog's price of each item (EPC -> GTIN), its key made up from GTIN and EPC."""
    known = catalog(engine)
    return {epc: Price(f"(01){gtin}(21){epc}", known[gtin][0], known[gtin][1], "EUR") for epc, gtin in items.items()}


def record(sales: SqlSales, member: str | None, items: dict[str, str], *, at: dt.datetime = T0) -> Sale:
    s = sale(member, items, at=at)
    sales.record(s, prices=prices(sales.engine, items))
    return s


def points_of(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {n: p for n, p in conn.execute(select(Member.number, Member.points))}


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(SaleRow)).scalar_one(),
            conn.execute(select(func.count()).select_from(SaleLine)).scalar_one(),
        )


def test_a_sale_is_stored_with_its_lines_and_total_and_the_points_go_to_the_member(sales: SqlSales) -> None:
    items = {"A1": MUG, "A2": MUG, "B1": CUP}
    s = sale("M1", items)
    done = sales.record(s, prices=prices(sales.engine, items))
    assert (done.new, done.total, done.points, done.unpriced) == (True, Decimal("29.25"), 29, ())
    with Session(sales.engine) as session:
        row = session.get_one(SaleRow, s.id)
        assert (row.total, row.currency, row.points_awarded, row.checkout) == (Decimal("29.25"), "EUR", 29, "till-1")
        assert (row.opened_at, row.closed_at) == (s.opened, s.time)
        assert session.scalars(select(Member.id).where(Member.number == "M1")).one() == row.member_id
        lines = session.execute(select(SaleLine.epc, SaleLine.price).order_by(SaleLine.epc)).all()
    assert [tuple(line) for line in lines] == [
        ("A1", Decimal("8.50")),
        ("A2", Decimal("8.50")),
        ("B1", Decimal("12.25")),
    ]
    assert points_of(sales.engine)["M1"] == 29


def test_a_replayed_sale_changes_nothing(sales: SqlSales) -> None:
    items = {"A1": MUG, "B1": CUP}
    s = sale("M1", items)
    sales.record(s, prices=prices(sales.engine, items))
    before = counts(sales.engine), points_of(sales.engine), sales.member_figures("M1")
    again = sales.record(s, prices=prices(sales.engine, items))
    assert (again.new, again.points) == (False, 0)
    assert (counts(sales.engine), points_of(sales.engine), sales.member_figures("M1")) == before
    assert sales.member_figures("M1").frequency == 1


def test_an_anonymous_sale_awards_no_points(sales: SqlSales) -> None:
    done = sales.record(sale(None, {"A1": MUG}), prices=prices(sales.engine, {"A1": MUG}))
    assert (done.new, done.total, done.points) == (True, Decimal("8.50"), 0)
    assert set(points_of(sales.engine).values()) == {0}
    assert counts(sales.engine) == (1, 1)
    assert all(f.frequency == 0 for f in sales.all_figures())


def test_an_item_with_no_price_is_listed_not_counted(sales: SqlSales) -> None:
    s = sale("M2", {"A1": MUG, "X9": "unknown"})
    done = sales.record(s, prices=prices(sales.engine, {"A1": MUG}))
    assert (done.total, done.unpriced, done.points) == (Decimal("8.50"), ("X9",), 8)
    assert counts(sales.engine) == (1, 1)


def test_a_sale_joins_the_callers_transaction(sales: SqlSales) -> None:
    items = {"A1": MUG}
    with pytest.raises(RuntimeError), sales.engine.begin() as conn:
        sales.record(sale("M1", items), prices=prices(sales.engine, items), conn=conn)
        raise RuntimeError("rolled back")
    assert counts(sales.engine) == (0, 0)
    assert points_of(sales.engine)["M1"] == 0
    assert sales.member_figures("M1") == MemberFigures("M1", joined=TODAY - dt.timedelta(days=365))


def test_upgrading_a_store_with_sales_gives_its_members_their_figures(database_url: str) -> None:
    engine = connect(database_url)
    try:
        upgrade(engine, "0007")  # before members kept their figures
        joined = T0 - dt.timedelta(days=365)
        with engine.begin() as conn:
            conn.execute(insert(table("members", column("id"), column("number"), column("name"), column("points"),
                                      column("joined_at", UtcDateTime()))),
                         [{"id": n, "number": f"M{n}", "name": "-", "points": 0, "joined_at": joined}
                          for n in (1, 2)])  # fmt: skip
            sale_rows = table("sales", *map(column, ("id", "member_id", "checkout", "currency", "points_awarded")),
                              column("opened_at", UtcDateTime()), column("closed_at", UtcDateTime()),
                              column("recorded_at", UtcDateTime()), column("total", Numeric(12, 2)))  # fmt: skip
            conn.execute(insert(sale_rows), [
                {"id": f"s{days}", "member_id": 1, "checkout": "till-1", "currency": "EUR", "points_awarded": 0,
                 "opened_at": T0 - dt.timedelta(days=days), "closed_at": T0 - dt.timedelta(days=days),
                 "recorded_at": T0, "total": Decimal(total)}
                for days, total in HISTORY["M1"]
            ])  # fmt: skip
        upgrade(engine)
        figures = SqlSales(engine).member_figures("M1")
        assert (figures.frequency, figures.monetary, figures.largest) == (3, Decimal("230.00"), Decimal("100.00"))
        assert (figures.first, figures.last) == (TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=1))
        assert SqlSales(engine).member_figures("M2") == MemberFigures("M2", joined=joined.date())
    finally:
        engine.dispose()


def test_prices_come_from_the_catalog_by_gtin(sales: SqlSales) -> None:
    mug = decode("3074257BF7194E4000001A85")  # an SGTIN-96 of MUG, serial 6789
    assert isinstance(mug, Epc)
    assert sales.prices([mug]) == {mug.hex: Price(mug.key, catalog(sales.engine)[MUG][0], Decimal("8.50"), "EUR")}


# Five members' purchases as (days before TODAY, total): M5 never bought.
HISTORY = {
    "M1": [(1, "100.00"), (10, "50.00"), (20, "80.00")],
    "M2": [(3, "20.00"), (40, "30.00")],
    "M3": [(200, "300.00"), (250, "10.00"), (300, "10.00")],
    "M4": [(100, "5.00")],
    "M5": [],
}


@pytest.mark.parametrize(
    ("number", "frequency", "monetary", "largest", "rfm", "segment", "points"),
    [
        ("M1", 3, "230.00", "100.00", Rfm(5, 5, 4), Segment.CHAMPIONS, 230),
        ("M2", 2, "50.00", "30.00", Rfm(4, 3, 3), Segment.LOYAL, 50),
        ("M3", 3, "320.00", "300.00", Rfm(2, 5, 5), Segment.AT_RISK, 320),
        ("M4", 1, "5.00", "5.00", Rfm(3, 2, 2), Segment.POTENTIAL, 5),
        ("M5", 0, "0", "0", Rfm(1, 1, 1), Segment.LOST, 0),
    ],
)
def test_member_value_comes_from_the_stored_sales(
    sales: SqlSales,
    number: str,
    frequency: int,
    monetary: str,
    largest: str,
    rfm: Rfm,
    segment: Segment,
    points: int,
) -> None:
    n = 0
    for member, purchases in HISTORY.items():
        for days, total in purchases:
            n += 1
            # One item priced at the purchase's total: the catalog price is what the sale was priced with.
            s = sale(member, {f"E{n}": MUG}, at=T0 - dt.timedelta(days=days))
            key = f"(01){MUG}(21)E{n}"
            sales.record(s, prices={f"E{n}": Price(key, catalog(sales.engine)[MUG][0], Decimal(total), "EUR")})
    figures = sales.member_figures(number)
    assert (figures.frequency, figures.monetary, figures.largest) == (frequency, Decimal(monetary), Decimal(largest))
    ago = [d for d, _ in HISTORY[number]]
    assert figures.last == (TODAY - dt.timedelta(days=min(ago)) if ago else None)
    assert figures.first == (TODAY - dt.timedelta(days=max(ago)) if ago else None)
    assert figures.joined == TODAY - dt.timedelta(days=365)
    value = sales.value(number, TODAY)
    assert (value.figures, value.rfm, value.segment, value.points) == (figures, rfm, segment, points)
    assert [f.number for f in sales.all_figures()] == sorted(HISTORY)


def test_a_purchase_day_is_the_sites_local_day(engine: Engine, sales: SqlSales) -> None:
    late = dt.datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # already the 25th in Berlin
    record(sales, "M1", {"A1": MUG}, at=late)
    assert SqlSales(engine).member_figures("M1").last == dt.date(2026, 11, 24)
    berlin = SqlSales(engine, timezone="Europe/Berlin").member_figures("M1")
    assert berlin == MemberFigures(
        "M1", 1, Decimal("8.50"), Decimal("8.50"), dt.date(2026, 11, 25), dt.date(2026, 11, 25), berlin.joined
    )


def test_an_unknown_member_is_refused(sales: SqlSales) -> None:
    with pytest.raises(UnknownMember):
        sales.member_figures("nobody")
    with pytest.raises(UnknownMember):
        sales.value("nobody", TODAY)
