"""Benchmark: the cost of one sale's member scoring in a store with 100,000 members and a year of sales.

The store: ``--members`` members (100,000) who joined over the year before, and a year of sales on their records
(``--sales-per-day``, 1,000 a day: 365,000 sales), a few members buying often and most rarely (a power-law draw),
totals from 1 to 200 EUR. The history is written in bulk (executemany in chunks) at the schema of revision 0007, the
newest one the bench knows the tables of, then the schema is upgraded to the newest revision, as a store upgrading
with its history would be; generating and loading are not timed.

Timed: ``--sales`` (200) new sales, each by a member drawn from the same distribution, recorded with ``SqlSales.record``
(not timed), then the ``silentgw.sale.completed`` event it wrote handed to the Actions sink with the member rules
(a purchase rule, a first-visit rule and a segment-change rule: every path of a sale's scoring), one event per
``Actions.deliver`` as the outbox hands them when sales come one at a time. The member rules' daily look over every
member, which ``silentgw run`` makes as it starts, runs first and is timed apart. SQLite by default (a temp file);
``--postgres`` runs on PostgreSQL (``POSTGRES_TEST_URL``, 127.0.0.1:5432 ``silentgw_test``) in a fresh schema, dropped
afterwards. The upgrade's time is reported (with this history, what migrating a year of sales costs). The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, TableClause, bindparam, column, insert, table, text

from silentgw.gateway import checkout
from silentgw.gateway.actions import Actions
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.rules import MemberRules
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Base, Member, Product, Sale
from silentgw.gateway.store.sales import Price, SqlSales

POSTGRES_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql://postgres@127.0.0.1:5432/silentgw_test")
HISTORY_REVISION = "0007"
"""The schema the history is loaded at: the bench writes members and sales as that revision has them."""
END = dt.datetime(2026, 11, 24, 20, 0, tzinfo=dt.UTC)
RULES = [
    {"id": "big-basket", "when": "purchase", "min_total": "150", "action": "offer", "message": "10% off"},
    {"id": "welcome-back", "when": "first_visit", "days": 60, "message": "Welcome back!"},
    {"id": "champion", "when": "segment_change", "segment": "Champions", "message": "Thank you, champion"},
]
GTIN = "80614141123458"
CHUNK = 20_000


def _number(n: int) -> str:
    return f"M{n:07d}"


def _buyer(rng: random.Random, members: int) -> int:
    """A member drawn so that a few buy often and most rarely (the top one about every other day)."""
    return int(members * rng.random() ** 1.5) * 7919 % members


def _as_of_0007(model: type[Base], *names: str) -> TableClause:
    """The columns ``names`` of ``model``'s table, typed as the model types them, and no others."""
    columns = Base.metadata.tables[model.__tablename__].c
    return table(model.__tablename__, *(column(name, columns[name].type) for name in names))


def load_history(engine: Engine, *, members: int, per_day: int, rng: random.Random) -> int:
    """Members and a year of their sales, written in bulk; how many sales."""
    # The tables as revision 0007 has them (not the models: they may hold columns a later revision added).
    m_table = _as_of_0007(Member, "id", "number", "name", "email", "phone", "birthday", "points", "joined_at",
                          "segment")  # fmt: skip
    s_table = _as_of_0007(Sale, "id", "member_id", "checkout", "opened_at", "closed_at", "total", "currency",
                          "points_awarded", "recorded_at")  # fmt: skip
    start = END - dt.timedelta(days=365)
    member_rows = [
        {
            "id": n + 1, "number": _number(n), "name": f"Member {n}", "email": None, "phone": None,
            "birthday": dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28), "points": 0,
            "joined_at": start - dt.timedelta(days=rng.randrange(0, 700)), "segment": None,
        }
        for n in range(members)
    ]  # fmt: skip
    with engine.begin() as conn:
        for i in range(0, len(member_rows), CHUNK):
            conn.execute(insert(m_table), member_rows[i : i + CHUNK])
    del member_rows
    total = per_day * 365
    points: dict[int, int] = {}
    rows = []
    with engine.begin() as conn:
        for n in range(total):
            closed = start + dt.timedelta(seconds=rng.randrange(0, 365 * 86_400))
            member = _buyer(rng, members) + 1
            spent = Decimal(rng.randrange(100, 20_000)) / 100
            points[member] = points.get(member, 0) + int(spent)
            rows.append({
                "id": str(uuid.UUID(int=rng.getrandbits(128))), "member_id": member, "checkout": "checkout-1",
                "opened_at": closed - dt.timedelta(minutes=2), "closed_at": closed, "total": spent,
                "currency": "EUR", "points_awarded": int(spent), "recorded_at": closed,
            })  # fmt: skip
            if len(rows) == CHUNK or n == total - 1:
                conn.execute(insert(s_table), rows)
                rows = []
        chunk = [{"b_id": k, "b_points": v} for k, v in points.items()]
        stmt = m_table.update().where(m_table.c.id == bindparam("b_id")).values(points=bindparam("b_points"))
        for i in range(0, len(chunk), CHUNK):
            conn.execute(stmt, chunk[i : i + CHUNK])
    return total


async def measure(engine: Engine, *, members: int, sales: int, rng: random.Random) -> dict[str, float]:
    """Time one daily look; then record ``sales`` sales and time the Actions sink's handling of each one's event."""
    settings = Settings.model_validate({"member_rules": RULES})
    store = SqlSales(engine, timezone=settings.site.timezone)
    member_rules = MemberRules(settings, store)
    actions = Actions(engine, [member_rules])
    p_table = Base.metadata.tables[Product.__tablename__]
    with engine.begin() as conn:
        product = conn.execute(
            insert(p_table).values(gtin=GTIN, sku="BENCH-1", name="Bench product", price=Decimal("24.90"),
                                   currency="EUR", company_prefix="0614141", created_at=END, updated_at=END)
            .returning(p_table.c.id)
        ).scalar_one()  # fmt: skip
    began = time.perf_counter()
    with engine.begin() as conn:  # the daily look, which `silentgw run` makes as it starts
        outbox.append(conn, member_rules.daily(conn, END))
    daily = (time.perf_counter() - began) * 1000
    with engine.connect() as conn:
        seq = outbox.latest(conn)
    timings: list[float] = []
    serial = 0
    for n in range(sales):
        basket = 1 + rng.randrange(8)
        epcs = []
        prices = {}
        for _ in range(basket):
            serial += 1
            epc = encode_sgtin(gtin=GTIN, serial=str(serial), company_prefix_length=7)
            epcs.append(epc)
            prices[epc] = Price(f"(01){GTIN}(21){serial}", product, Decimal("24.90"), "EUR")
        closed = END + dt.timedelta(minutes=n)
        opened = closed - dt.timedelta(minutes=2)
        sale = checkout.Sale(checkout.sale_id("checkout-1", opened), _number(_buyer(rng, members)),
                             tuple(sorted(epcs)), closed, "checkout-1", opened)  # fmt: skip
        store.record(sale, prices=prices)
        with engine.connect() as conn:
            written = outbox.read(conn, seq, limit=100)
        seq = written[-1].seq
        (event,) = [e for e in written if actions.wants(e)]
        began = time.perf_counter()
        await actions.deliver([event])
        timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "scoring_ms_per_sale_p50": round(statistics.median(timings), 2),
        "p99": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
        "max": round(timings[-1], 2),
        "daily_look_ms": round(daily, 1),
    }


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards; its URL."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix="silentgw-bench-members-") as directory:
            yield f"sqlite:///{Path(directory) / 'members.db'}"
        return
    schema = f"bench_members_{uuid.uuid4().hex[:8]}"
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    """Load the history, run the measurements; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--sales-per-day", type=int, default=1_000, help="the history's sales a day (a year of them)")
    parser.add_argument("--sales", type=int, default=200, help="sales measured (default 200)")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL on 127.0.0.1:5432 instead of SQLite")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with database(args.postgres) as url:
        engine = connect(url)
        try:
            upgrade(engine, HISTORY_REVISION)
            began = time.perf_counter()
            history = load_history(engine, members=args.members, per_day=args.sales_per_day, rng=rng)
            loaded = time.perf_counter() - began
            began = time.perf_counter()
            upgrade(engine)
            upgraded = time.perf_counter() - began
            with engine.begin() as conn:  # consent is not presumed (migration 0011): these members gave both
                conn.execute(text("UPDATE members SET marketing_consent = true, tracking_consent = true"))
            print(f"loaded {args.members:,} members and {history:,} sales in {loaded:.1f} s; upgraded in "
                  f"{upgraded:.1f} s", flush=True)  # fmt: skip
            figures = asyncio.run(measure(engine, members=args.members, sales=args.sales, rng=rng))
        finally:
            engine.dispose()
    print(f"member scoring: {figures['scoring_ms_per_sale_p50']} ms a sale (p50), {figures['p99']} ms (p99); "
          f"daily look {figures['daily_look_ms']} ms", flush=True)  # fmt: skip
    result = {"members": args.members, "history_sales": history, "sales": args.sales, **figures,
              "upgrade_s": round(upgraded, 1), "backend": "postgresql" if args.postgres else "sqlite"}  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
