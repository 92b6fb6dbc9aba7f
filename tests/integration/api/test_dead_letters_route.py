"""Dead letters through the API (admins only), on SQLite and PostgreSQL: a sale the database refused is listed with
its reason, a replay before the fix is refused again (409, still open), after the fix it is recorded."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from silentgw.api import create_app
from silentgw.gateway.config import load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.models import Product, Role
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from tests.integration.pipeline.conftest import example_store
from tests.keys import bearer

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"
PROBLEM = "application/problem+json"


def _currency(engine: Engine, currency: str, gtins: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(update(Product).where(Product.gtin.in_(gtins)).values(currency=currency))


def test_an_admin_lists_replays_and_discards_dead_letters(engine: Engine, database_url: str) -> None:
    settings = example_store(engine, database_url)
    with engine.connect() as conn:
        dollars = sorted(conn.execute(select(Product.gtin)).scalars())[::2]
    _currency(engine, "USD", dollars)
    pipeline = Pipeline(settings, engine)
    day = StoreDay(
        load_settings(EXAMPLE, {}), StoreDayPlan(hours=3, shoppers=30, delivery_items=10, items_per_product=2), seed=3
    )
    for batch, now in micro_batches(day, day.end):
        pipeline.process(batch, now)
    assert pipeline.counters.dead_letters >= 2

    app = create_app(settings, engine=engine, pipeline=pipeline)
    with TestClient(app, headers=bearer(engine)) as admin:
        staff = bearer(engine, Role.STAFF)
        assert admin.get("/api/v1/dead-letters", headers=staff).status_code == 403
        page = admin.get("/api/v1/dead-letters", params={"limit": 1})
        assert page.status_code == 200
        first = page.json()["items"][0]
        assert first["source"] == "pipeline"
        assert first["kind"] == "sale"
        assert first["state"] == "open"
        assert "more than one currency" in first["reason"]
        assert page.json()["next_cursor"]
        second = admin.get("/api/v1/dead-letters", params={"cursor": page.json()["next_cursor"]}).json()["items"][0]

        refused = admin.post(f"/api/v1/dead-letters/{first['id']}/replay")
        assert refused.status_code == 409
        assert refused.headers["content-type"] == PROBLEM
        assert admin.get(f"/api/v1/dead-letters/{first['id']}").json()["attempts"] == 2

        _currency(engine, "EUR", dollars)
        replayed = admin.post(f"/api/v1/dead-letters/{first['id']}/replay")
        assert replayed.status_code == 200
        assert replayed.json()["state"] == "replayed"
        again = admin.post(f"/api/v1/dead-letters/{first['id']}/replay")
        assert again.status_code == 409
        assert again.json()["type"] == "urn:silentgw:problem:already-resolved"
        assert admin.post(f"/api/v1/dead-letters/{second['id']}/discard").json()["state"] == "discarded"
        assert admin.get("/api/v1/dead-letters/999999").status_code == 404
        listed = admin.get("/api/v1/dead-letters").json()["items"]
        assert {first["id"], second["id"]}.isdisjoint(item["id"] for item in listed)
