"""Benchmark: events from a pipeline transition to an MQTT subscriber and to a webhook receiver.

The gateway side is the real one: :class:`Pipeline` processes micro-batches of tag reads that make new tags arrive
on a shelf, so each batch writes its ledger movements and their events to the outbox in one transaction and tells
the :class:`Dispatcher`, which delivers to an :class:`MqttSink` (the broker on 127.0.0.1:1883, or ``--port``) and to
a webhook subscription (a receiver on a loopback port, checking every signature) at once.

The broker is a private Mosquitto (``/usr/sbin/mosquitto``) configured as we recommend for events: queues that
never drop (``max_queued_messages 0``) and ``set_tcp_nodelay true``. Without the latter, Mosquitto's small QoS 1
writes to the subscriber wait on Nagle's algorithm and the peer's delayed acknowledgement: every message then takes
about 40 ms more (``--no-nodelay`` measures that).

1. **Latency at a stated load**: ``--rate`` events per second (default 1,000: a batch of ten new tags every 10 ms,
   each giving one ``silentgw.item.commissioned`` event, plus the ``silentgw.stock.changed`` of the batch) for
   ``--seconds``. Each event's latency is the subscriber's receive time minus the time of the transition that made
   it (the reads' time, taken when the batch goes into the pipeline): the pipeline's write, the dispatcher's read,
   delivery and the broker or HTTP hop. p50 and p99 per sink.
2. **Throughput**: ``--burst`` events written at once; events per second until each sink has them all.

The last line is one JSON object: ``{"mqtt": {"events_per_s", "p50_ms", "p99_ms"}, "webhook": {...}, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
import uvicorn
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from silentgw.drivers.observations import TagRead
from silentgw.gateway import events
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import MqttSettings, Settings
from silentgw.gateway.egress import Egress
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.publisher import MqttSink
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.webhooks import WebhookManager, verify
from silentgw.simulator.demo_store import DEMO_PRODUCTS, seed_catalog

SECRET = "whsec_bench"


class Latencies:
    """Receive-time minus event-time, per event id (the first arrival counts), from any thread."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.lock = threading.Lock()

    def saw(self, body: dict[str, Any]) -> None:
        now = time.time()
        sent = dt.datetime.fromisoformat(body["time"].replace("Z", "+00:00")).timestamp()
        with self.lock:
            self.first.setdefault(body["id"], now - sent)

    def count(self) -> int:
        with self.lock:
            return len(self.first)

    def of(self, ids: set[str]) -> list[float]:
        with self.lock:
            return [self.first[i] * 1000 for i in ids if i in self.first]


def settings(database_url: str, port: int) -> Settings:
    return Settings.model_validate({
        "database_url": database_url,
        "site": {"id": "bench"},
        "mqtt": {"port": port, "in_flight": 1000},
        "locations": [{"id": "store", "name": "Store", "kind": "site"},
                      {"id": "aisle-1", "name": "Aisle 1", "parent": "store"}],
        "zones": [{"id": "shelf-1", "name": "Shelf 1", "kind": "shelf", "location": "aisle-1",
                   "presence": {"arrival_reads": 1}}],
        "devices": [{"id": "r1", "kind": "reader", "location": "aisle-1",
                     "driver": {"kind": "uhf-m100", "url": "loop://"}, "antennas": [{"port": 1, "zone": "shelf-1"}]}],
    })  # fmt: skip


def prepare(s: Settings) -> None:
    engine = connect(s.database_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=s.site.id)
        apply_layout(catalog, s)
        seed_catalog(catalog, today=dt.date.today())
    engine.dispose()


def start_broker(directory: Path, *, nodelay: bool) -> tuple[subprocess.Popen[bytes], int]:
    """A private Mosquitto on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n"
        f"set_tcp_nodelay {'true' if nodelay else 'false'}\n"
    )
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.02)


def subscriber(port: int, seen: Latencies) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{time.monotonic_ns()}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("silentgw/bench/events/#", qos=1)
    client.on_message = lambda c, u, m: seen.saw(orjson.loads(m.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def receiver(seen: Latencies) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        if not verify(SECRET, body, request.headers):
            return Response(status_code=401)
        for event in orjson.loads(body):
            seen.saw(event)
        return Response(status_code=204)

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(args: argparse.Namespace, directory: Path, port: int) -> dict[str, Any]:
    s = settings(args.database or f"sqlite:///{directory / 'events.db'}", port)
    prepare(s)
    engine = connect(s.database_url)
    mqtt_seen, hook_seen = Latencies(), Latencies()
    sub = subscriber(port, mqtt_seen)
    server = uvicorn.Server(uvicorn.Config(receiver(hook_seen), host="127.0.0.1", port=args.hook_port,
                                           log_level="warning", lifespan="off"))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    dispatcher = Dispatcher(engine, start_at_end=True)
    mqtt = MqttSink(MqttSettings.model_validate(s.mqtt.model_dump()), "bench", source="urn:silentgw:bench")
    dispatcher.add(mqtt)
    delivering = asyncio.create_task(dispatcher.run())
    results: dict[str, Any] = {}
    try:
        loopback = Egress(allow=(ip_network("127.0.0.1/32"),))  # the receiver runs on this box
        async with WebhookManager(engine, dispatcher, source="urn:silentgw:bench", egress=loopback) as hooks:
            await hooks.create(url=f"http://127.0.0.1:{args.hook_port}/hook", types=[], secret=SECRET)
            pipeline = Pipeline(s, engine, notify=dispatcher.notify)
            await asyncio.sleep(0.5)

            # 1. Latency at the stated load.
            per_batch = 10
            interval = per_batch / args.rate * (per_batch + 1) / per_batch  # stock.changed makes 11 per 10 tags
            loop = asyncio.get_running_loop()
            started = loop.time()
            serial = 0
            batches = int(args.seconds / interval)
            for n in range(batches):
                due = started + n * interval
                await asyncio.sleep(max(0.0, due - loop.time()))
                now = dt.datetime.now(dt.UTC)
                product = DEMO_PRODUCTS[n % len(DEMO_PRODUCTS)]
                reads = [TagRead(encode_sgtin(gtin=product.gtin, serial=str(serial + i),
                                              company_prefix_length=len(product.company_prefix)), "r1", 1, -50.0, now)
                         for i in range(per_batch)]  # fmt: skip
                serial += per_batch
                await asyncio.to_thread(pipeline.process, reads, now)
            took = loop.time() - started
            with engine.connect() as conn:
                written = {e.id for e in outbox.read(conn, 0, limit=10_000_000)}
            for _ in range(600):
                if mqtt_seen.count() >= len(written) and hook_seen.count() >= len(written):
                    break
                await asyncio.sleep(0.05)
            load = len(written) / took
            print(f"load: {len(written):,} events in {took:.1f} s ({load:,.0f} events/s), "
                  f"{batches:,} pipeline batches of {per_batch} new tags")  # fmt: skip
            for name, seen in (("mqtt", mqtt_seen), ("webhook", hook_seen)):
                lat = seen.of(written)
                results[name] = {"p50_ms": round(percentile(lat, 0.5), 2), "p99_ms": round(percentile(lat, 0.99), 2),
                                 "delivered": len(lat), "load_events_per_s": round(load)}  # fmt: skip
                print(f"{name}: {len(lat):,}/{len(written):,} delivered; latency p50 {percentile(lat, 0.5):.1f} ms, "
                      f"p90 {percentile(lat, 0.9):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms, "
                      f"max {max(lat):.1f} ms, mean {statistics.fmean(lat):.1f} ms")  # fmt: skip

            # 2. Throughput: a burst written at once.
            base_m, base_h = mqtt_seen.count(), hook_seen.count()
            t = dt.datetime.now(dt.UTC)
            burst = [events.unpaid_exit(f"BURST{i:08d}", "exit", t) for i in range(args.burst)]
            started = loop.time()
            for i in range(0, len(burst), 1000):
                with engine.begin() as conn:
                    outbox.append(conn, burst[i : i + 1000])
            dispatcher.notify()
            done: dict[str, float] = {}
            while len(done) < 2 and loop.time() - started < 300:
                if "mqtt" not in done and mqtt_seen.count() - base_m >= args.burst:
                    done["mqtt"] = loop.time() - started
                if "webhook" not in done and hook_seen.count() - base_h >= args.burst:
                    done["webhook"] = loop.time() - started
                await asyncio.sleep(0.005)
            for name in ("mqtt", "webhook"):
                rate = args.burst / done[name] if name in done else 0.0
                results[name]["events_per_s"] = round(rate)
                print(f"{name}: a burst of {args.burst:,} events delivered in {done.get(name, float('nan')):.2f} s "
                      f"({rate:,.0f} events/s)")  # fmt: skip
    finally:
        delivering.cancel()
        await asyncio.gather(delivering, return_exceptions=True)
        await mqtt.close()
        server.should_exit = True
        await serving
        sub.disconnect()
        sub.loop_stop()
        engine.dispose()
    return {name: {"events_per_s": r["events_per_s"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
                   "load_events_per_s": r["load_events_per_s"]} for name, r in results.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second in the latency run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--no-nodelay", action="store_true", help="the broker without set_tcp_nodelay")
    parser.add_argument("--hook-port", type=int, default=18_931)
    parser.add_argument("--database", help="a database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="silentgw-bench-events-") as directory:
        broker, port = start_broker(Path(directory), nodelay=not args.no_nodelay)
        try:
            print(f"private mosquitto on 127.0.0.1:{port}, set_tcp_nodelay {not args.no_nodelay}; "
                  f"database {args.database or 'SQLite (temporary file)'}")  # fmt: skip
            figures = asyncio.run(run(args, Path(directory), port))
        finally:
            broker.kill()
            broker.wait()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
