"""Reads that came over a persistent MQTT session are acknowledged to the broker only once written: a gateway that
dies with reads decided but not written (its database away) gets them again from the broker when it comes back, and
the stock it then writes is the truth. Played with a real Mosquitto (persistent sessions, on disk) and a real cut
between the gateway and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine

from silentgw.drivers.observations import TagRead
from silentgw.gateway.app import run_gateway
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from silentgw.simulator.mqtt_devices import zebra_event
from tests.integration.drivers.mqtt.conftest import Publisher, until
from tests.integration.pipeline.conftest import EXAMPLE, example_store
from tests.mqtt_broker import PrivateBroker
from tests.tags import tag
from tests.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]
DATA = "zebra/fx9600/backroom/data"
TAGS = [tag(product, serial) for product in DEMO_PRODUCTS[:4] for serial in range(5)]


def _reader_on(broker: PrivateBroker, tmp_path: Path, database_url: str) -> Settings:
    """The example store with only its backroom Zebra reader, on ``broker`` over a persistent session."""
    text = EXAMPLE.read_text().replace(
        'driver = { kind = "zebra-iotc", ',
        f'driver = {{ kind = "zebra-iotc", port = {broker.port}, clean_start = false, session_expiry = 3600, '
        f'client_id = "gw-{uuid.uuid4().hex[:8]}", ',
    )
    path = tmp_path / "silentgw.toml"
    path.write_text(text)
    settings = load_settings(path, {})
    devices = [d for d in settings.devices if d.id == "reader-back"]
    return settings.model_copy(update={"devices": devices, "database_url": database_url})


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_reads_a_gateway_died_with_unwritten_come_again_from_the_broker(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    example_store(engine)
    broker = PrivateBroker(tmp_path, persistence=True)
    broker.config.write_text(broker.config.read_text() + "max_inflight_messages 0\n")
    broker.start()
    settings = _reader_on(broker, tmp_path, database_url)
    now = dt.datetime.now(dt.UTC)

    async def first_run(proxy: TcpProxy) -> None:
        """Reads arrive and are decided while the database is away; then the process dies (nothing written)."""
        cut_engine = connect(database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
        pipeline = Pipeline(settings, cut_engine, max_wait=0.05)
        try:
            async with run_gateway(settings, handle=pipeline.handle):
                await until(lambda: pipeline.counters.batches > 0, "the reader's driver to come up")
                proxy.cut()
                publisher = Publisher(broker.port)
                for n in range(3):  # a backroom rack read three times over
                    for number, epc in enumerate(TAGS):
                        read = TagRead(epc, "reader-back", 1, -50.0, now + dt.timedelta(seconds=n))
                        publisher.publish(DATA, zebra_event(read, number))
                publisher.close()
                await until(lambda: pipeline.counters.reads == 3 * len(TAGS), "every read to be decided")
                await until(lambda: len(pipeline.backlog) > 0, "the arrivals to wait for the database")
                assert sum(pipeline.counters.transitions.values()) == len(TAGS)
        finally:
            cut_engine.dispose()  # dies here: the backlog is never written (no pipeline.close)

    async def second_run() -> Pipeline:
        pipeline = Pipeline.restore(settings, engine, now=dt.datetime.now(dt.UTC), max_wait=0.05)
        async with run_gateway(settings, handle=pipeline.handle):
            await until(lambda: pipeline.counters.movements >= len(TAGS), "the reads the broker kept", timeout=20)
        await pipeline.close()
        return pipeline

    try:
        with TcpProxy(("127.0.0.1", 5432)) as proxy:
            asyncio.run(first_run(proxy))
        assert SqlStockLedger(engine).levels() == {}
        pipeline = asyncio.run(second_run())
    finally:
        broker.kill()
    levels = SqlStockLedger(engine).levels()
    assert sum(levels.values()) == len(TAGS)
    assert set(levels) == {(pid, "backroom") for pid, _ in levels}
    assert pipeline.counters.reads >= 3 * len(TAGS)  # the broker sent them again, each once or more
