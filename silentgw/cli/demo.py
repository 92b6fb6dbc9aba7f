"""`silentgw demo`: the demo store in a SQLite file, its simulated hardware playing a store day, and the gateway
running on it as `silentgw run` does (its real drivers, the read pipeline, the API on 127.0.0.1:8000). No broker
and no database server needed."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from silentgw.cli.run import serve
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.store import keys
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Item, Role
from silentgw.simulator.demo_layout import demo_layout
from silentgw.simulator.demo_store import seed_catalog, seed_reorder_rules
from silentgw.simulator.player import Player, ScaledClock
from silentgw.simulator.rig import serial_rig
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, home_shelves

__all__ = ["demo"]

logger = logging.getLogger(__name__)


def demo_settings(database: Path, run_dir: Path, *, host: str, port: int) -> Settings:
    """The example store, pointed at ``database`` and the given address, its devices simulated in ``run_dir``."""
    example = Path(str(resources.files("silentgw").joinpath("example.toml")))
    environ = {
        "SILENTGW_DATABASE_URL": f"sqlite:///{database}",
        "SILENTGW_API__HOST": host,
        "SILENTGW_API__PORT": str(port),
    }
    settings = load_settings(example, environ)
    if not _reachable(settings.mqtt.host, settings.mqtt.port):  # the demo needs no broker: events stay on the API
        settings = settings.model_copy(update={"mqtt": settings.mqtt.model_copy(update={"events": False})})
    return demo_layout(settings, run_dir)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def seed_store(settings: Settings, engine: Engine) -> str:
    """Create the schema and the demo store; a line saying what was added."""
    upgrade(engine)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        layout = apply_layout(catalog, settings)
        products, members = seed_catalog(catalog, today=dt.datetime.now(dt.UTC).date())
        located = {z.id: z.location for z in settings.zones}
        rules = seed_reorder_rules(catalog, {gtin: located[z] for gtin, z in home_shelves(settings).items()})
    return f"{layout.inserted} layout rows, {products} products, {members} members and {rules} reorder rules added"


async def _days(settings: Settings, player: Player, clock: ScaledClock, *, first_seed: int) -> None:
    """Store days back to back on the demo's clock, each with the next seed."""
    n = first_seed
    while True:
        opening = clock()
        day = StoreDay(settings, StoreDayPlan(start=opening), seed=n)
        progress = await player.play(day)
        logger.info("store day %d played: %d observations, %d sales", n, progress.played, len(day.truth.sales))
        n += 1


async def _serve(settings: Settings, engine: Engine, *, speed: float, seed: int) -> None:
    # The gateway runs on the day's own clock, `speed` times the wall's, so its presence rules (a tag gone for five
    # minutes departs) see the day at the pace it is played.
    # A demo database kept from an earlier run may hold times ahead of the wall: the clock goes on from there.
    with engine.connect() as conn:
        latest = conn.scalar(select(func.max(Item.last_seen_at)))
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock = ScaledClock(max(start, latest) if latest is not None else start, speed)
    with serial_rig(settings) as voices:
        days = _days(settings, Player(voices, speed=speed), clock, first_seed=seed)
        await serve(settings, engine, alongside=[days], clock=clock, tick=min(1.0, 10.0 / speed))


def demo(
    database: Annotated[Path, typer.Option("--db", help="The SQLite file the demo store lives in.")] = Path(
        "silentgw-demo.db"
    ),
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
    speed: Annotated[float, typer.Option(help="How many times faster than real time the store day plays.")] = 60.0,
    seed: Annotated[int, typer.Option(help="The first store day's seed (each day after takes the next).")] = 1,
    reset: Annotated[bool, typer.Option(help="Start from an empty database.")] = False,
) -> None:
    """Seed a demo store, play its simulated hardware through the real drivers, and serve the API on it."""
    if speed <= 0:
        raise typer.BadParameter("must be positive", param_hint="--speed")
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="silentgw-demo-") as run:
        settings = demo_settings(database.resolve(), Path(run), host=host, port=port)
        engine = connect(settings.database_url)
        added = seed_store(settings, engine)
        with engine.begin() as conn:  # a key to try the API with; only its digest is kept, as for any key
            _, key = keys.create(conn, role=Role.ADMIN, name="demo admin")
        base = f"http://{host}:{port}"
        readers = [d.id for d in settings.devices if d.kind == "reader"]
        typer.echo(
            f"\nsilentgw demo store '{settings.site.name}' in {database}: {added}.\n"
            f"Simulated hardware in {run}: {len(settings.devices)} serial devices on pseudo-terminals, read through\n"
            f"the real drivers; a store day plays at {speed:g}x (12 hours in {12 * 60 / speed:.0f} minutes).\n"
            f"  admin API key {key}\n"
            f"                (send it as 'Authorization: Bearer <key>'; in {base}/docs use Authorize)\n"
            f"  API docs      {base}/docs\n"
            f"  products      {base}/api/v1/products\n"
            f"  decode an EPC {base}/api/v1/epc/3074257BF7194E4000001A85\n"
            f"  a reader      {base}/api/v1/devices/{readers[0]}/health\n"
            f"  health        {base}/readyz\n"
            f"  live events   {base}/api/v1/events/stream\n"
            + (
                f"  MQTT events   silentgw/{settings.site.id}/events/# on {settings.mqtt.host}:{settings.mqtt.port}\n"
                if settings.mqtt.events
                else ""
            )
            + "Press Ctrl+C to stop.\n"
        )
        try:
            asyncio.run(_serve(settings, engine, speed=speed, seed=seed))
        except KeyboardInterrupt:
            pass  # uvicorn hands Ctrl+C back once it has shut down gracefully: that is a normal stop
        finally:
            engine.dispose()
