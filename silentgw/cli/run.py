"""`silentgw run`: the gateway and its API in one process, on the configured store.

At start the schema is brought to the newest revision and the layout of the settings (locations, zones, devices)
applied to the database; presence is restored from where the database last placed each item. The drivers' reads
then go through the read pipeline (presence, checkout, the stock ledger), a presence tick makes departures fall due
when nothing is read, and the API serves on ``api.host:api.port``. SIGINT or SIGTERM stops it gracefully: the
drivers stop, what they had read is processed, and the pipeline writes what it decided before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import threading
from collections.abc import Coroutine, Iterator, Sequence
from typing import Annotated, Any

import typer
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from silentgw.api import create_app
from silentgw.cli.context import context
from silentgw.cli.systemd import notify_systemd
from silentgw.drivers.observations import SensorReading
from silentgw.drivers.supervisor import Clock, utcnow
from silentgw.gateway.actions import Actions, Rule
from silentgw.gateway.app import run_gateway
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import ConfigError, Settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.metrics import Metrics
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.pipeline import Counters, Pipeline
from silentgw.gateway.publisher import MqttSink
from silentgw.gateway.rules import DisplayRule, EventCommandRule, MemberRules, SensorRules
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import StoreError, connect, upgrade
from silentgw.gateway.store.orders import OrdersRule
from silentgw.gateway.store.restock import RestockRule
from silentgw.gateway.store.sales import SqlSales
from silentgw.gateway.timeseries import build_recorder, report_counters
from silentgw.gateway.webhooks import WebhookManager

__all__ = ["run", "serve"]

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Uvicorn's server, but a stop signal ends ``serve`` normally: uvicorn raises the signal again once it has shut
    down, which would kill the process (SIGTERM) or unwind it (SIGINT) before the pipeline writes what it holds."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


async def serve(
    settings: Settings,
    engine: Engine,
    *,
    alongside: Sequence[Coroutine[Any, Any, None]] = (),
    clock: Clock = utcnow,
    tick: float = 1.0,
) -> Counters:
    """Run the gateway, its pipeline and the API until the API server is told to stop; what the pipeline handled.

    ``alongside`` are tasks that run as long as the server does (the demo's simulated store days); ``clock`` is the
    gateway's time (the demo's runs faster than the wall's); presence ticks every ``tick`` seconds.
    """
    source = f"urn:silentgw:{settings.site.id}"
    dispatcher = Dispatcher(engine)
    mqtt = MqttSink(settings.mqtt, settings.site.id, source=source) if settings.mqtt.events else None
    if mqtt is not None:
        dispatcher.add(mqtt)
    sales = SqlSales(engine, timezone=settings.site.timezone)
    members = MemberRules(settings, sales)
    rules: list[Rule] = [RestockRule(), OrdersRule(), members, DisplayRule(settings), EventCommandRule(settings)]
    actions = Actions(engine, rules, notify=dispatcher.notify)
    dispatcher.add(actions)
    sensors = SensorRules(settings, engine)
    recorder = build_recorder(settings, engine)  # the downsampled history in SQL, and the time-series server's feed

    def readings(batch: Sequence[SensorReading]) -> None:
        recorder(batch)
        sensors(batch)

    pipeline = Pipeline.restore(
        settings, engine, now=clock(), clock=clock, notify=dispatcher.notify, readings=readings, sales=sales
    )
    delivering = asyncio.create_task(dispatcher.run(), name="outbox")
    try:
        async with (
            WebhookManager(engine, dispatcher, source=source) as webhooks,
            run_gateway(settings, handle=pipeline.handle, clock=clock) as gateway,
        ):
            await webhooks.load()
            actions.send = gateway.send
            app = create_app(settings, engine=engine, gateway=gateway, dispatcher=dispatcher, pipeline=pipeline)
            app.state.webhooks = webhooks
            app.state.metrics = Metrics(engine=engine, pipeline=pipeline, gateway=gateway, dispatcher=dispatcher)
            server = _Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_config=None))
            c = pipeline.counters
            tasks = [
                asyncio.create_task(pipeline.ticking(tick), name="presence ticks"),
                asyncio.create_task(_daily(engine, members, dispatcher, clock), name="member rules, daily"),
                asyncio.create_task(
                    notify_systemd(server, status=lambda: f"{c.reads} reads, {c.sales} sales, {c.alarms} alarms"),
                    name="systemd notify",
                ),
            ]
            if recorder.writer is not None:
                devices = gateway.supervisors.values()
                counting = report_counters(recorder.writer, pipeline.counters, lambda: [s.health for s in devices],
                                           every=settings.timeseries.counters_interval, clock=clock)  # fmt: skip
                tasks.append(asyncio.create_task(counting, name="time-series counters"))
            tasks += [asyncio.create_task(c) for c in alongside]
            try:
                await server.serve()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await pipeline.close()  # what the gateway drained on stopping is still written
            await asyncio.to_thread(recorder.close)  # after the last micro-batch (waits up to 10 s for the server)
            await dispatcher.drain(timeout=5.0)  # and delivered (and acted on), if the sinks can take it now
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        if mqtt is not None:
            await mqtt.close()
    c = pipeline.counters
    logger.info("pipeline: %d reads, %d sales, %d unpaid-exit alarms, %d ledger movements", c.reads, c.sales,
                c.alarms, c.movements)  # fmt: skip
    return c


async def _daily(engine: Engine, members: MemberRules, dispatcher: Dispatcher, clock: Clock) -> None:
    """The member rules' daily look (birthdays, segments), hourly: it acts once a day however often it looks."""
    while True:
        try:
            await asyncio.to_thread(_look, engine, members, clock())
            dispatcher.notify()
        except Exception:
            logger.exception("the member rules' daily look failed; trying again in an hour")
        await asyncio.sleep(3600)


def _look(engine: Engine, members: MemberRules, now: dt.datetime) -> None:
    with engine.begin() as conn:
        outbox.append(conn, members.daily(conn, now))


def prepare(settings: Settings, engine: Engine) -> str:
    """Bring the schema up to date and apply the settings' layout; what was done."""
    upgrade(engine)
    with Session(engine) as session, session.begin():
        layout = apply_layout(Catalog(session, site_id=settings.site.id), settings)
    return f"layout: {layout.inserted} rows added, {layout.updated} updated"


def run(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address the API listens on [default: api.host].")] = None,
    port: Annotated[int | None, typer.Option(help="Port the API listens on [default: api.port].")] = None,
) -> None:
    """Run the gateway: read the configured devices into stock and member records, and serve the API."""
    settings = context(ctx).settings()
    api = settings.api.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    settings = settings.model_copy(update={"api": api})
    logging.getLogger().setLevel(settings.log_level)
    engine = connect(settings.database_url)
    try:
        logger.info("store %s: %s", settings.site.id, prepare(settings, engine))
        asyncio.run(serve(settings, engine))
    except (StoreError, SQLAlchemyError) as exc:
        typer.echo(f"silentgw: the database at {settings.masked()['database_url']}: {exc}", err=True)
        raise typer.Exit(1) from exc
    except ConfigError as exc:
        typer.echo(f"silentgw: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass  # uvicorn hands Ctrl+C back once it has shut down gracefully: that is a normal stop
    finally:
        engine.dispose()
