"""``GET /metrics`` as Prometheus scrapes it, on each database: with only the database behind the API it tells the
outbox's figures; with the gateway as `silentgw run` builds it reading a real reader (an M100 on a pseudo-terminal),
a healthy and a failing sink added to its dispatcher, every family carries what happened."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from silentgw import __version__
from silentgw.api import create_app
from silentgw.gateway import events
from silentgw.gateway.app import build_gateway
from silentgw.gateway.config import Settings
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.outbox import SinkError
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import StockMovement
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice
from tests.integration.ops.gateway_process import eventually, store_settings, tag
from tests.unit.ops.exposition import parse

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """The API alone on a migrated database, as tests/integration/api has it: no gateway in the process."""
    with TestClient(create_app(Settings(database_url=database_url), engine=engine)) as test_client:
        yield test_client


def test_with_only_the_database_it_tells_the_outbox_and_how_far_each_sink_is(
    client: TestClient, engine: Engine
) -> None:
    with engine.begin() as conn:
        outbox.append(conn, [events.device_status(f"reader-{n}", "down", NOW, "unplugged") for n in range(3)])
        first = outbox.read(conn, 0, limit=1)[0].seq
        outbox.advance(conn, "webhook:erp", first)
        outbox.advance(conn, "mqtt", first + 2)
        latest = outbox.latest(conn)

    response = client.get("/metrics")  # no key: a scraper is not a user

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    metrics = parse(response.text)
    assert metrics["silentgw_build_info"].value(version=__version__) == 1
    assert metrics["silentgw_database_up"].value() == 1
    assert metrics["silentgw_outbox_events_total"].type == "counter"
    assert metrics["silentgw_outbox_events_total"].value() == latest
    behind = metrics["silentgw_sink_backlog_events"].by("sink")
    assert behind == {"webhook:erp": latest - first, "mqtt": latest - first - 2}
    assert "silentgw_reads_total" not in metrics  # no pipeline runs here: nothing is made up
    assert "silentgw_device_up" not in metrics


def test_a_database_that_does_not_answer_still_gets_an_answer(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'missing' / 'store.db'}")
    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    metrics = parse(response.text)
    assert metrics["silentgw_database_up"].value() == 0
    assert "silentgw_outbox_events_total" not in metrics


class Taking:
    """A sink that takes everything."""

    name = "taking"

    def __init__(self) -> None:
        self.got: list[StoredEvent] = []

    def wants(self, event: StoredEvent) -> bool:
        return True

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        self.got.extend(events)


class Refusing:
    """A receiver answering 500 to everything."""

    name = "webhook:down"

    def wants(self, event: StoredEvent) -> bool:
        return True

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        raise SinkError("HTTP 500 from the receiver")


@pytest.mark.anyio
async def test_after_a_reader_reads_every_family_tells_what_happened(
    tmp_path: Path, engine: Engine, database_url: str
) -> None:
    settings = store_settings(tmp_path, engine, database_url)
    taking, refusing = Taking(), Refusing()
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())
    try:
        async with build_gateway(settings, engine) as gw:  # the gateway as `silentgw run` builds it
            for sink in (taking, refusing):  # beside its own sink (actions): a healthy one and a failing one
                gw.dispatcher.add(sink)
            await asyncio.wait_for(polled.wait(), 15)
            for _ in range(5):  # a shelf wants a few reads in its window before a tag counts as arrived
                for n in (1, 2, 3):
                    reader.write(m100_notice(tag(n), -50.0))
                await asyncio.sleep(0.2)
            await eventually(lambda: gw.pipeline.counters.reads == 15, "15 reads processed")
            with engine.connect() as conn:
                latest = outbox.latest(conn)
                moved = conn.execute(select(func.count()).select_from(StockMovement)).scalar_one()
            await eventually(lambda: len(taking.got) == latest, "every event delivered to the healthy sink")
            await eventually(lambda: gw.dispatcher.health["actions"].cursor == latest, "every event past actions")
            await eventually(lambda: gw.dispatcher.health[refusing.name].failures >= 2, "two failed deliveries")

            app = create_app(settings, engine=engine, gateway=gw.gateway, dispatcher=gw.dispatcher,
                             pipeline=gw.pipeline)  # fmt: skip
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client:
                response = await client.get("/metrics")
            gw.dispatcher.remove(refusing.name)  # or stopping would wait for it to catch up
    finally:
        reader.close()

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    m = parse(response.text)
    # the pipeline
    assert m["silentgw_reads_total"].value() == 15
    assert m["silentgw_transitions_total"].by("kind") == {"arrived": 3, "moved": 0, "departed": 0, "passed": 0}
    assert m["silentgw_ledger_movements_total"].value() == moved == 3  # each item commissioned on the shelf
    assert m["silentgw_sales_total"].value() == m["silentgw_unpaid_exit_alarms_total"].value() == 0
    assert 1 <= m["silentgw_pipeline_batches_total"].value() <= 15
    assert m["silentgw_pipeline_write_failures_total"].value() == 0
    assert m["silentgw_pipeline_backlog_batches"].value() == 0
    # the devices
    assert m["silentgw_observations_total"].value() == 15
    assert m["silentgw_device_up"].by("device") == {"reader-1": 1}
    assert m["silentgw_device_observations_total"].by("device") == {"reader-1": 15}
    assert 1 <= m["silentgw_device_frames_ok_total"].value(device="reader-1") <= 15
    assert m["silentgw_device_frames_bad_total"].by("device") == {"reader-1": 0}
    assert m["silentgw_device_reconnects_total"].by("device") == {"reader-1": 0}
    assert 0 <= m["silentgw_device_since_last_seen_seconds"].value(device="reader-1") < 10
    # the outbox and its sinks
    assert m["silentgw_outbox_events_total"].value() == latest > 0
    assert m["silentgw_sink_delivered_total"].value(sink="taking") == latest
    assert m["silentgw_sink_delivered_total"].value(sink="webhook:down") == 0
    assert m["silentgw_sink_failures_total"].value(sink="webhook:down") >= 2
    assert m["silentgw_sink_failing"].value(sink="webhook:down") >= 2
    assert m["silentgw_sink_failing"].value(sink="taking") == 0
    assert m["silentgw_sink_backlog_events"].by("sink") == {"actions": 0, "taking": 0, "webhook:down": latest}
    for name, family in m.items():
        assert family.type == ("counter" if name.endswith("_total") else "gauge"), name
        assert family.help, name
