"""`silentgw simulate`: play simulated hardware, speaking the real wire formats, for a gateway to read."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from silentgw.cli.context import context
from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.observations import TagRead
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Product
from silentgw.simulator.demo_store import seed_catalog
from silentgw.simulator.load import LoadPlan, play_load
from silentgw.simulator.mqtt_devices import MqttVoice, zebra_event
from silentgw.simulator.player import Player
from silentgw.simulator.player import Progress as Played
from silentgw.simulator.rig import rig
from silentgw.simulator.store_day import StoreDay, StoreDayPlan, micro_batches
from silentgw.simulator.truth import Truth

app = typer.Typer(help="Simulated readers, sensors and shoppers, in the real wire formats.", no_args_is_help=True)


def truth_json(truth: Truth) -> dict[str, Any]:
    """The ground truth as plain data: where every item is, every sale, and how often each thing happened."""
    return {
        "location": truth.location,
        "keys": {epc: item.key for epc, item in truth.items.items()},
        "sales": [
            {"time": s.time.isoformat(), "member": s.member, "items": list(s.items), "total": str(s.total)}
            for s in truth.sales
        ],
        "happened": dict(Counter(h.what for h in truth.happenings)),
    }


@app.command("store-day")
def store_day(
    ctx: typer.Context,
    speed: Annotated[float, typer.Option(help="Times faster than real time; 0 plays as fast as possible.")] = 1.0,
    seed: Annotated[int, typer.Option(help="The day's seed: the same seed plays the same day.")] = 1,
    hours: Annotated[float, typer.Option(help="How long the store is open.")] = 12.0,
    truth: Annotated[
        Path | None, typer.Option(help="Write the ground truth here as JSON when the day is over.")
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="No devices: run the day through the pipeline in this process on a simulated clock, against the "
            "configured database, as fast as the machine allows; print a summary.",
        ),
    ] = False,
) -> None:
    """Play a store day on the configured store's devices: serial ones on pseudo-terminals at their `url`, MQTT
    readers (Zebra, Impinj) publishing to their broker; or, with --fast, straight through the pipeline."""
    if speed < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--speed")
    settings = context(ctx).settings()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    day = StoreDay(settings, StoreDayPlan(start=start, hours=hours), seed=seed)
    if fast:
        _fast_day(settings, day)
        _write_truth(day, truth)
        return

    async def play() -> Played:
        with contextlib.ExitStack() as stack:
            try:
                voices = stack.enter_context(rig(settings))
            except OSError as exc:
                raise typer.BadParameter(f"cannot reach the MQTT broker of a simulated reader: {exc}") from exc
            if not voices:
                raise typer.BadParameter("no device of the settings can be simulated (serial devices need a file path)")
            for device in voices:
                typer.echo(f"simulating {device}")
            player = Player(voices, speed=speed or None)
            with Progress(TextColumn("store day"), BarColumn(), TimeRemainingColumn(), transient=True) as bar:
                task = bar.add_task("day", total=hours * 3600)

                def each(_: Played) -> None:
                    if day.truth.happenings:
                        bar.update(task, completed=(day.truth.happenings[-1].time - start).total_seconds())

                return await player.play(day, each=each)

    try:
        played = asyncio.run(play())
    except KeyboardInterrupt:
        typer.echo("stopped")
        raise typer.Exit(130) from None
    happened = Counter(h.what for h in day.truth.happenings)
    typer.echo(
        f"played {played.played:,} observations ({played.unrouted:,} of devices not simulated here): "
        f"{happened['arrived']} items delivered, {len(day.truth.sales)} sales, {happened['unpaid_exit']} unpaid exit(s)"
    )
    _write_truth(day, truth)


def _write_truth(day: StoreDay, path: Path | None) -> None:
    if path is not None:
        path.write_bytes(orjson.dumps(truth_json(day.truth), option=orjson.OPT_INDENT_2))
        typer.echo(f"ground truth written to {path}")


def prepare_store(settings: Settings, engine: Engine) -> str:
    """Upgrade the schema and apply the layout; seed the demo catalog into an empty one. What was done."""
    upgrade(engine)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        layout = apply_layout(catalog, settings)
        done = f"layout: {layout.inserted} rows added, {layout.updated} updated"
        if session.scalar(select(func.count()).select_from(Product)) == 0:
            products, members = seed_catalog(catalog, today=dt.datetime.now(dt.UTC).date())
            done += f"; demo catalog: {products} products and {members} members added"
    return done


def _fast_day(settings: Settings, day: StoreDay) -> None:
    """The day through the pipeline on its own clock, in one-second micro-batches; then a summary."""
    engine = connect(settings.database_url)
    try:
        typer.echo(prepare_store(settings, engine))
        pipeline = Pipeline(settings, engine)
        names = {z.id: z.name for z in settings.locations}
        total = (day.end - day.plan.start).total_seconds()
        started = time.perf_counter()
        columns = (TextColumn("store day"), BarColumn(), TextColumn("{task.fields[clock]}"),
                   TextColumn("{task.fields[reads]:,} reads"), TimeElapsedColumn())  # fmt: skip
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("day", total=total, clock="", reads=0)
            for batch, now in micro_batches(day.observations(), day.end):
                pipeline.process(batch, now)
                bar.update(task, completed=(now - day.plan.start).total_seconds(),
                           clock=f"{now:%H:%M:%S}", reads=pipeline.counters.reads)  # fmt: skip
        took = time.perf_counter() - started
        c = pipeline.counters
        t = c.transitions
        typer.echo(
            f"{day.plan.hours:g} h store day in {took:.1f} s: {c.reads:,} reads ({c.reads / took:,.0f}/s), "
            f"{c.batches:,} micro-batches\n"
            f"events: {t['arrived']} arrivals, {t['moved']} moves, {t['departed']} departures, {t['passed']} passes\n"
            f"sales: {c.sales} (of {len(day.truth.sales)} made); unpaid-exit alarms: {c.alarms}; "
            f"ledger movements: {c.movements}"
        )
        stock: Counter[str] = Counter()
        for (_product, location), n in pipeline.ledger.levels().items():
            stock[location] += n
        typer.echo("final stock: " + ", ".join(f"{names.get(loc, loc)} {n}" for loc, n in sorted(stock.items())))
    finally:
        engine.dispose()


@app.command("load")
def load(
    rate: Annotated[float, typer.Option(help="Tag reads per second, over all readers.")] = 1000.0,
    tags: Annotated[int, typer.Option(help="How many distinct tags the readers see.")] = 1000,
    readers: Annotated[int, typer.Option(help="How many Zebra readers publish.")] = 4,
    seconds: Annotated[float, typer.Option(help="How long the load lasts.")] = 10.0,
    batch: Annotated[
        bool, typer.Option(help="One message per reader per burst (a JSON array), not one per read.")
    ] = False,
    host: Annotated[str, typer.Option(help="The MQTT broker.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The broker's port.")] = 1883,
    prefix: Annotated[str, typer.Option(help="Reader n publishes tag data to PREFIX/load-n/data.")] = "silentgw-load",
    seed: Annotated[int, typer.Option(help="The same seed gives the same reads.")] = 1,
) -> None:
    """Publish Zebra IoT Connector tag data at a set rate, over a set number of tags and readers."""
    try:
        plan = LoadPlan(rate=rate, tags=tags, readers=readers, seconds=seconds, seed=seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    voice = MqttVoice(MqttSettings(host=host, port=port), name="load")
    numbers: Counter[str] = Counter()

    def send(burst: list[TagRead]) -> None:
        by_reader: dict[str, list[bytes]] = {}
        for read in burst:
            numbers[read.reader] += 1
            by_reader.setdefault(read.reader, []).append(zebra_event(read, numbers[read.reader]))
        for reader, events in by_reader.items():
            topic = f"{prefix}/{reader}/data"
            if batch:
                voice.publish(topic, b"[" + b",".join(events) + b"]")
            else:
                for event in events:
                    voice.publish(topic, event)

    try:
        voice.open()
    except OSError as exc:
        raise typer.BadParameter(f"cannot reach the MQTT broker {host}:{port}: {exc}", param_hint="--host") from exc
    try:
        typer.echo(f"publishing {rate:g} reads/s for {seconds:g} s to {prefix}/load-1..{readers}/data")
        started = time.perf_counter()
        sent = asyncio.run(play_load(plan, send))
        took = time.perf_counter() - started
    finally:
        voice.close()
    typer.echo(f"published {sent:,} reads in {took:.2f} s ({sent / took:,.0f}/s); {voice.dropped} messages dropped")
