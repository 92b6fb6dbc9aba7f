"""The schema on SQLite and PostgreSQL: migrations create exactly the models, and the ledger keeps its promises."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from silentgw.gateway.store.database import (
    StoreUnavailable,
    connect,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from silentgw.gateway.store.models import (
    Base,
    Item,
    ItemState,
    Location,
    Member,
    MemberCard,
    Product,
    Site,
    StockMovement,
)

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _seed(session: Session) -> int:
    session.add(Site(id="store-1", name="Store"))
    session.flush()
    session.add(Location(id="backroom", site_id="store-1", name="Backroom"))
    product = Product(gtin="00614141812345", sku="SKU-1", name="Mug", price=Decimal("8.50"), currency="EUR")
    session.add(product)
    session.flush()
    return product.id


def _movement(product_id: int, key: str, quantity: int = 1) -> StockMovement:
    return StockMovement(
        idempotency_key=key,
        occurred_at=T0,
        product_id=product_id,
        to_location_id="backroom",
        quantity=quantity,
        reason="received",
    )


def test_upgrade_reaches_the_newest_revision(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_create_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless_and_downgrade_empties(database_url: str) -> None:
    eng = connect(database_url)
    upgrade(eng)
    upgrade(eng)
    downgrade(eng, "base")
    assert current_revision(eng) is None
    assert not set(Base.metadata.tables) & set(inspect(eng).get_table_names())
    upgrade(eng)
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_the_ledger_refuses_update_and_delete(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        product_id = _seed(session)
        session.add(_movement(product_id, "rx-1"))
    for statement in (
        update(StockMovement).values(quantity=5),
        delete(StockMovement),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with Session(engine) as session:
        assert session.scalars(select(StockMovement.quantity)).all() == [1]


def test_a_replayed_movement_is_refused_by_its_idempotency_key(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        product_id = _seed(session)
        session.add(_movement(product_id, "rx-1"))
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(_movement(product_id, "rx-1"))
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(_movement(product_id, "rx-2", quantity=0))


def test_an_item_is_one_row_per_gs1_key(engine: Engine) -> None:
    key = "(01)00614141812345(21)6789"
    with Session(engine) as session, session.begin():
        product_id = _seed(session)
        session.add(Item(key=key, epc="3074257BF7194E4000001A85", scheme="sgtin-96", product_id=product_id))
    # The same GTIN and serial written with another partition is another hex but the same key: refused.
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(Item(key=key, epc="3078257BF7194E4000001A85", scheme="sgtin-96", product_id=product_id))


def test_times_come_back_in_utc_and_naive_times_are_refused(engine: Engine) -> None:
    local = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with Session(engine) as session, session.begin():
        product_id = _seed(session)
        session.add(
            Item(
                key="k",
                epc="00",
                scheme="sgtin-96",
                product_id=product_id,
                state=ItemState.IN_STOCK,
                first_seen_at=local,
                last_seen_at=local,
            )
        )
    with Session(engine) as session:
        item = session.scalars(select(Item)).one()
        assert item.first_seen_at == T0.replace(hour=9, minute=30)
        assert item.first_seen_at.tzinfo is not None
        assert item.state is ItemState.IN_STOCK
    with pytest.raises(Exception, match="naive"), Session(engine) as session, session.begin():
        session.add(Member(number="M1", name="N", joined_at=dt.datetime(2026, 1, 1)))


def test_member_cards_are_unique_per_kind_and_value(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        a = Member(number="M1", name="A")
        b = Member(number="M2", name="B")
        session.add_all([a, b])
        session.flush()
        session.add(MemberCard(member_id=a.id, kind="em4100", value="0A00B1C2D3"))
        b_id = b.id
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(MemberCard(member_id=b_id, kind="em4100", value="0A00B1C2D3"))


def test_a_location_cannot_be_its_own_parent(engine: Engine) -> None:
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        session.add(Site(id="s", name="S"))
        session.flush()
        session.add(Location(id="loop", site_id="s", name="L", parent_id="loop"))


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    eng = connect(f"sqlite:///{tmp_path / 'x.db'}")
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    eng.dispose()


def test_upgrading_names_the_database_without_its_password(caplog: pytest.LogCaptureFixture) -> None:
    # libpq takes the password in the query too; nothing listens on port 1, so the upgrade fails at once
    caplog.set_level(logging.INFO, logger="silentgw")
    eng = connect("postgresql://gw:user-s3cret@127.0.0.1:1/silentgw?sslmode=disable&password=query-s3cret")
    with pytest.raises(StoreUnavailable) as refused:
        upgrade(eng)
    eng.dispose()
    assert "upgrading database postgresql+psycopg://gw:**********@127.0.0.1:1/silentgw" in caplog.text
    assert "s3cret" not in caplog.text + str(refused.value)
