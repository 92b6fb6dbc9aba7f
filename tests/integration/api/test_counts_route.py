"""Cycle counts through the API, with the read pipeline in the process, on SQLite and PostgreSQL: an operator starts
a count, the readers' reads of its zones are collected, and closing it reports and records what was missing."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.drivers.observations import TagRead
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Role
from silentgw.gateway.transitions import Arrived
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.integration.pipeline.conftest import example_store
from tests.keys import bearer
from tests.tags import at, tag

MILK, TEE = DEMO_PRODUCTS[0], DEMO_PRODUCTS[14]


class Clock:
    """The pipeline's time, moved on by the test."""

    def __init__(self) -> None:
        self.now = at(60)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def settings(engine: Engine, database_url: str) -> Settings:
    """The example store: five cartons of milk on shelf 1A (aisle 1), two tees on shelf 2A (aisle 2)."""
    settings = example_store(engine, database_url)
    ledger = SqlStockLedger(engine)
    zones = ledger.zones()
    ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(5)], zones)
    ledger.apply([Arrived(tag(TEE, n), "shelf-2a", at(n)) for n in range(2)], zones)
    return settings


def read(epc: str, when: dt.datetime, *, reader: str = "reader-floor", antenna: int = 1) -> TagRead:
    return TagRead(epc, reader, antenna, -48.0, when)


def key(epc: str) -> str:
    identity = decode(epc)
    assert isinstance(identity, Epc)
    return identity.key


def test_a_count_reports_and_records_what_its_zone_did_not_read(settings: Settings, engine: Engine) -> None:
    clock = Clock()
    pipeline = Pipeline(settings, engine, clock=clock)
    app = create_app(settings, engine=engine, pipeline=pipeline)
    with TestClient(app, headers=bearer(engine, Role.OPERATOR)) as client:
        started = client.post("/api/v1/counts", json={"id": "shelf-1a-am", "zone": "shelf-1a"})
        assert started.status_code == 201, started.text
        body = started.json()
        assert (body["status"], body["expected"], body["seen"], body["ends_at"]) == ("open", 5, 0, None)

        now = clock.now = clock.now + dt.timedelta(seconds=5)
        pipeline.process([
            *(read(tag(MILK, n), now) for n in range(3)),
            read(tag(TEE, 0), now),  # a tee read on the milk shelf: misplaced
            read(tag(MILK, 3), now, reader="reader-floor-2", antenna=2),  # read, but on shelf 2A
        ], now)  # fmt: skip
        progress = client.get("/api/v1/counts/shelf-1a-am").json()
        assert (progress["status"], progress["seen"]) == ("open", 4)

        clock.now += dt.timedelta(seconds=25)
        closed = client.post("/api/v1/counts/shelf-1a-am/close")
        assert closed.status_code == 200, closed.text
        result = closed.json()
        assert result["status"] == "closed"
        assert (result["expected"], result["seen"], result["missing"], result["unexpected"]) == (5, 4, 2, 1)
        assert result["accuracy_percent"] == "60.00"
        assert dt.datetime.fromisoformat(result["ends_at"]) == clock.now

        missing = client.get("/api/v1/counts/shelf-1a-am/items", params={"outcome": "missing", "limit": 1}).json()
        rest = client.get(
            "/api/v1/counts/shelf-1a-am/items", params={"outcome": "missing", "cursor": missing["next_cursor"]}
        ).json()
        assert {i["key"] for i in missing["items"] + rest["items"]} == {key(tag(MILK, 3)), key(tag(MILK, 4))}
        assert rest["next_cursor"] is None
        unexpected = client.get("/api/v1/counts/shelf-1a-am/items", params={"outcome": "unexpected"}).json()
        assert [i["key"] for i in unexpected["items"]] == [key(tag(TEE, 0))]
        assert client.get(f"/api/v1/items/{tag(MILK, 4)}").json()["state"] == "missing"
        assert client.get(f"/api/v1/items/{tag(MILK, 0)}").json()["state"] == "in_stock"
        level = client.get("/api/v1/stock", params={"gtin": MILK.gtin, "location": "aisle-1"}).json()["items"]
        assert [r["quantity"] for r in level] == [3]

        (event,) = client.get("/api/v1/events", params={"type": "silentgw.count.closed"}).json()["items"]
        assert event["subject"] == "shelf-1a-am"
        assert (event["data"]["missing"], event["data"]["accuracy_percent"]) == (2, "60.00")

        again = client.post("/api/v1/counts/shelf-1a-am/close")
        assert again.json() == result  # closing again changes nothing
        assert len(client.get("/api/v1/events", params={"type": "silentgw.count.closed"}).json()["items"]) == 1
        listed = client.get("/api/v1/counts", params={"status": "closed"}).json()["items"]
        assert [(c["id"], c["status"]) for c in listed] == [("shelf-1a-am", "closed")]


def test_a_count_with_a_duration_closes_on_the_tick_after_it_is_up(settings: Settings, engine: Engine) -> None:
    clock = Clock()
    pipeline = Pipeline(settings, engine, clock=clock)
    app = create_app(settings, engine=engine, pipeline=pipeline)
    with TestClient(app, headers=bearer(engine, Role.OPERATOR)) as client:
        body = client.post("/api/v1/counts", json={"location": "sales-floor", "duration_s": 60}).json()
        count_id, started = body["id"], dt.datetime.fromisoformat(body["started_at"])
        assert body["expected"] == 7
        assert dt.datetime.fromisoformat(body["ends_at"]) == started + dt.timedelta(seconds=60)
        now = clock.now + dt.timedelta(seconds=10)
        pipeline.process([read(tag(MILK, n), now) for n in range(5)], now)
        pipeline.process([], clock.now + dt.timedelta(seconds=59))
        assert client.get(f"/api/v1/counts/{count_id}").json()["status"] == "open"
        late = started + dt.timedelta(seconds=61)  # read after the count was due: not counted
        pipeline.process([read(tag(TEE, 0), late, reader="reader-floor-2", antenna=2)], late)
        done = client.get(f"/api/v1/counts/{count_id}").json()
        assert (done["status"], done["seen"], done["missing"], done["accuracy_percent"]) == ("closed", 5, 2, "71.42")
        assert dt.datetime.fromisoformat(done["ends_at"]) == started + dt.timedelta(seconds=60)
        assert [c["id"] for c in client.get("/api/v1/counts", params={"status": "open"}).json()["items"]] == []


def test_counts_refuse_what_they_cannot_do(settings: Settings, engine: Engine) -> None:
    pipeline = Pipeline(settings, engine, clock=Clock())
    app = create_app(settings, engine=engine, pipeline=pipeline)
    with TestClient(app, headers=bearer(engine, Role.OPERATOR)) as client:
        assert client.post("/api/v1/counts", json={"id": "c1", "zone": "shelf-1a"}).status_code == 201
        again = client.post("/api/v1/counts", json={"id": "c1", "zone": "shelf-2a"})
        assert (again.status_code, again.headers["content-type"]) == (409, "application/problem+json")
        assert client.post("/api/v1/counts", json={"zone": "nowhere"}).status_code == 404
        both = client.post("/api/v1/counts", json={"zone": "shelf-1a", "location": "aisle-1"})
        assert (both.status_code, both.headers["content-type"]) == (422, "application/problem+json")
        assert client.post("/api/v1/counts", json={"location": "aisle-1", "duration_s": 0}).status_code == 422
        assert client.get("/api/v1/counts/unknown").status_code == 404
        assert client.post("/api/v1/counts/unknown/close").status_code == 404
        staff = client.post("/api/v1/counts", json={"zone": "shelf-1a"}, headers=bearer(engine, Role.STAFF))
        assert staff.status_code == 403
        assert client.get("/api/v1/counts", headers=bearer(engine, Role.STAFF)).status_code == 200

    without = create_app(settings, engine=engine)  # the API alone: no pipeline in this process
    with TestClient(without, headers=bearer(engine, Role.OPERATOR)) as client:
        away = client.post("/api/v1/counts", json={"zone": "shelf-1a"})
        assert (away.status_code, away.headers["content-type"]) == (503, "application/problem+json")
