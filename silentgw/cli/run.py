"""`silentgw run`: the gateway and its API in one process, on the configured store.

At start the schema is brought to the newest revision and the layout of the settings (locations, zones, devices)
applied to the database; presence is restored from where the database last placed each item. The drivers' reads
then go through the read pipeline (presence, checkout, the stock ledger), a presence tick makes departures fall due
when nothing is read, and the API serves on ``api.host:api.port``. SIGINT or SIGTERM stops it gracefully: the
drivers stop, what they had read is processed, and the pipeline writes what it decided before the process exits.

The gateway is built, wired and stopped by the composition root (``gateway.app.build_gateway``); this module is the
command line's edge only: argv, logging, the API server and its signals, systemd's notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from silentgw.api import accesslog, create_app
from silentgw.cli.context import context
from silentgw.cli.systemd import notify_systemd
from silentgw.drivers.supervisor import Clock, utcnow
from silentgw.gateway.app import build_gateway
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import ConfigError, Settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.pipeline import Counters
from silentgw.gateway.store.database import StoreError, connect, upgrade

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


def api_server(app: Any, settings: Settings) -> uvicorn.Server:
    """The API's server for ``app`` on the settings' host and port, logging through our handlers; its access log
    names no member (``api/accesslog.py``)."""
    accesslog.install()
    return _Server(uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_config=None))


async def serve(
    settings: Settings,
    engine: Engine,
    *,
    alongside: Sequence[Coroutine[Any, Any, None]] = (),
    clock: Clock = utcnow,
    tick: float = 1.0,
) -> Counters:
    """Run the gateway (``build_gateway``) and its API until the API server is told to stop; what the pipeline
    handled.

    ``alongside`` are tasks that run as long as the server does (the demo's simulated store days); ``clock`` is the
    gateway's time (the demo's runs faster than the wall's); presence ticks every ``tick`` seconds.
    """
    async with build_gateway(settings, engine, clock=clock, tick=tick) as gw:
        app = create_app(settings, engine=engine, gateway=gw.gateway, dispatcher=gw.dispatcher, pipeline=gw.pipeline,
                         webhooks=gw.webhooks)  # fmt: skip
        server = api_server(app, settings)
        c = gw.pipeline.counters
        tasks = [
            asyncio.create_task(
                notify_systemd(server, status=lambda: f"{c.reads} reads, {c.sales} sales, {c.alarms} alarms"),
                name="systemd notify",
            ),
            *(asyncio.create_task(task) for task in alongside),
        ]
        try:
            await server.serve()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    c = gw.pipeline.counters
    logger.info("pipeline: %d reads, %d sales, %d unpaid-exit alarms, %d ledger movements", c.reads, c.sales,
                c.alarms, c.movements)  # fmt: skip
    return c


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
