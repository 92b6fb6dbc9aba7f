"""Benchmark: the stock query and the item lookup over HTTP, 100,000 items in the store, 50 concurrent clients.

The store: 1,500 products (SGTIN-96 tags on GS1's documentation company prefixes) in 24 aisles of two shelves
each, two stockrooms of two zones and a receiving dock (31 locations, 56 zones), and ``--items`` tagged items
commissioned by the real ledger (``SqlStockLedger.apply``: items, movements, stock levels and their events) in
batches of 5,000 arrivals. Products are unevenly stocked (a few have hundreds of items, most a few dozen); each
product's items sit on the shelves of its aisle, in its stockroom and a few at the dock, so a product is at one to
three locations. Before any load the stock levels are checked against the ledger's recount, one answer of each
route against what was seeded, and after it that no level moved.

The server is the real deployment: ``silentgw run`` in a process of its own (the gateway with its pipeline, outbox
and presence ticks, and uvicorn serving the API as configured), on SQLite (a temp file) and on PostgreSQL (a database
of its own, created and dropped here); without an MQTT broker (``mqtt.events = false``: no events flow during the
load anyway). Load starts once the outbox holds nothing undelivered (the seeding's events are acted on first).

The load: ``wrk`` (Debian's ``wrk``) with ``--connections`` (50) connections on one thread, each request a random
product's ``GET /api/v1/stock?gtin=...`` (how many of this product, where) or a random item's ``GET
/api/v1/items/{hex_epc}``, with a staff key as ``Authorization: Bearer``; ``--warmup`` seconds (2) then
``--seconds`` (10) measured per route. wrk is closed-loop: each connection sends its next request when the answer
comes, so requests/s is the server's throughput at 50 in flight and p99 is the latency at that load.

The machine's cores are shared: wrk runs next to the server, and the server's own threads (the event loop and the
thread pool running the routes; PostgreSQL's backend too) share them with it. The CPU each used during the
measured window is printed. The last line is one JSON object:
``{"sqlite": {"stock": {"rps", "p99_ms"}, "item": {...}}, "postgresql": {...}}``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.identity.gs1 import check_digit
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.store import keys
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Product, Role
from silentgw.gateway.transitions import Arrived

POSTGRES_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql://postgres@127.0.0.1:5432/silentgw_test")
PREFIXES = ("0614141", "9501101", "4012345")  # GS1's documentation company prefixes
AISLES = 24
SITE = "bench"

WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
local n = 0
function setup(thread)
    n = n + 1
    thread:set("seed", n)
end
function init(args)
    math.randomseed(tonumber(os.getenv("BENCH_SEED")) * 1000 + (seed or 0))
end
function request()
    return wrk.format("GET", paths[math.random(#paths)])
end
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "status": %d, '
        .. '"connect": %d, "read": %d, "write": %d, "timeout": %d}\\n',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
        e.status, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass(frozen=True, slots=True)
class Store:
    """What was seeded: the products' GTINs, the items' EPCs (hex), each product's levels by location (by GTIN), and
    the ledger's levels as it keeps them (by product id and location)."""

    gtins: list[str]
    epcs: list[str]
    levels: dict[str, dict[str, int]]
    ledger: dict[tuple[int, str], int]


@dataclass(frozen=True, slots=True)
class Run:
    """One route's measured window."""

    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float  # cores the server process used, on average
    wrk_cpu: float


def layout() -> dict[str, Any]:
    """The store's locations and zones, as settings."""
    locations: list[dict[str, Any]] = [
        {"id": "store", "name": "Store", "kind": "site"},
        {"id": "sales-floor", "name": "Sales floor", "kind": "area", "parent": "store"},
        {"id": "back", "name": "Back of house", "kind": "area", "parent": "store"},
        *({"id": f"aisle-{a:02d}", "name": f"Aisle {a}", "parent": "sales-floor"} for a in range(1, AISLES + 1)),
        {"id": "front", "name": "Front", "parent": "sales-floor"},
        {"id": "stockroom-a", "name": "Stockroom A", "parent": "back"},
        {"id": "stockroom-b", "name": "Stockroom B", "parent": "back"},
        {"id": "dock", "name": "Receiving dock", "parent": "back"},
    ]
    zones: list[dict[str, Any]] = []
    for a in range(1, AISLES + 1):
        zones += [{"id": f"a{a:02d}-{side}", "name": f"Aisle {a} shelf {side}", "kind": "shelf",
                   "location": f"aisle-{a:02d}"} for side in "lr"]  # fmt: skip
    for room in "ab":
        zones += [{"id": f"s{room}-{n}", "name": f"Stockroom {room.upper()} rack {n}", "kind": "backroom",
                   "location": f"stockroom-{room}"} for n in (1, 2)]  # fmt: skip
    zones += [
        {"id": "receiving", "name": "Receiving", "kind": "receiving", "location": "dock"},
        {"id": "dock-door", "name": "Dock door", "kind": "dock_door", "location": "dock"},
        {"id": "checkout", "name": "Checkout", "kind": "checkout", "location": "front"},
        {"id": "exit", "name": "Exit", "kind": "exit", "location": "front"},
    ]
    return {"site": {"id": SITE, "name": "Bench store"}, "locations": locations, "zones": zones}


def products(count: int) -> list[dict[str, Any]]:
    """``count`` products with valid GTIN-14s, spread over the three company prefixes."""
    rng = random.Random(1)
    out = []
    for n in range(count):
        prefix = PREFIXES[n % len(PREFIXES)]
        reference = (n // len(PREFIXES) * 104_729 + 8_123) % 10 ** (12 - len(prefix))
        body = "0" + prefix + f"{reference:0{12 - len(prefix)}d}"
        out.append({"gtin": body + check_digit(body), "sku": f"SKU-{n:05d}", "name": f"Product {n:05d}",
                    "price": Decimal(rng.randrange(99, 9_999)) / 100, "currency": "EUR",
                    "company_prefix": prefix})  # fmt: skip
    return out


def arrivals(catalog: list[dict[str, Any]], items: int, seed: int, start: dt.datetime) -> Iterator[Arrived]:
    """One arrival per item: product by an uneven weight, zone by the product's aisle and stockroom."""
    rng = random.Random(seed)
    weights = [1 / (rank + 5) ** 0.8 for rank in range(len(catalog))]
    rng.shuffle(weights)
    chosen = rng.choices(range(len(catalog)), weights, k=items)
    for serial, n in enumerate(chosen):
        product = catalog[n]
        roll = rng.random()
        if roll < 0.8:
            zone = f"a{n % AISLES + 1:02d}-{rng.choice('lr')}"
        elif roll < 0.98:
            zone = f"s{'ab'[n % 2]}-{rng.choice((1, 2))}"
        else:
            zone = "receiving"
        epc = encode_sgtin(gtin=product["gtin"], serial=str(1_000_000 + serial), filter=1,
                           company_prefix_length=len(product["company_prefix"]))  # fmt: skip
        yield Arrived(epc, zone, start + dt.timedelta(milliseconds=serial))


def seed(url: str, args: argparse.Namespace) -> tuple[Store, str]:
    """Migrate, lay out, add the catalog and commission the items through the ledger; the store and a staff key."""
    settings = Settings.model_validate({"database_url": url, **layout()})
    engine = connect(url)
    try:
        upgrade(engine)
        catalog = products(args.products)
        with Session(engine) as session, session.begin():
            apply_layout(Catalog(session, site_id=SITE), settings)
            session.execute(insert(Product), catalog)
        ledger = SqlStockLedger(engine)
        zones = ledger.zones()
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
        batch: list[Arrived] = []
        epcs: list[str] = []
        for arrived in arrivals(catalog, args.items, args.seed, start):
            batch.append(arrived)
            epcs.append(arrived.epc)
            if len(batch) == 5_000:
                ledger.apply(batch, zones)
                batch = []
        if batch:
            ledger.apply(batch, zones)
        levels = ledger.levels()
        if levels != ledger.recount() or sum(levels.values()) != args.items:
            raise SystemExit("bench: the stock levels disagree with the ledger after seeding")
        with engine.begin() as conn:
            ids = {pid: gtin for pid, gtin in conn.execute(select(Product.id, Product.gtin))}
            _, key = keys.create(conn, role=Role.STAFF, name="bench")
        by_gtin: dict[str, dict[str, int]] = {}
        for (pid, location), quantity in levels.items():
            by_gtin.setdefault(ids[pid], {})[location] = quantity
        return Store([p["gtin"] for p in catalog], epcs, by_gtin, levels), key
    finally:
        engine.dispose()


def free_port() -> int:
    """A free TCP port on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str, key: str | None = None) -> tuple[int, bytes]:
    """GET ``url``: the status and body (errors included)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@contextmanager
def server(url: str, directory: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``silentgw run`` on the database at ``url``: its base URL and process, once the outbox is delivered."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILENTGW_")}
    env.update({"SILENTGW_DATABASE_URL": url, "SILENTGW_API__PORT": str(port), "SILENTGW_MQTT__EVENTS": "false",
                "SILENTGW_SITE": json.dumps(layout()["site"]), "SILENTGW_LOCATIONS": json.dumps(layout()["locations"]),
                "SILENTGW_ZONES": json.dumps(layout()["zones"])})  # fmt: skip
    log = directory / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "silentgw", "--log-format", "json", "run"], cwd=directory,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench: silentgw run exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                status, body = fetch(f"{base}/metrics")
            except OSError:
                status, body = 0, b""
            if status == 200:
                backlog = [line for line in body.decode().splitlines() if line.startswith("silentgw_sink_backlog")]
                if backlog and all(float(line.rsplit(" ", 1)[1]) == 0 for line in backlog):
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"bench: silentgw run did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_answers(base: str, key: str, store: Store) -> None:
    """One answer of each route against what was seeded."""
    gtin = max(store.levels, key=lambda g: len(store.levels[g]))
    status, body = fetch(f"{base}/api/v1/stock?gtin={gtin}", key)
    got = {row["location"]: row["quantity"] for row in json.loads(body)["items"]} if status == 200 else None
    if got != store.levels[gtin]:
        raise SystemExit(f"bench: GET /api/v1/stock?gtin={gtin} answered {status} {body[:300]!r}")
    status, body = fetch(f"{base}/api/v1/items/{store.epcs[0]}", key)
    if status != 200 or json.loads(body)["epc"] != store.epcs[0]:
        raise SystemExit(f"bench: GET /api/v1/items/{store.epcs[0]} answered {status} {body[:300]!r}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of the process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(base: str, paths: Path, key: str, seconds: float, args: argparse.Namespace, pid: int) -> Run:
    """``wrk`` for ``seconds`` over the paths in ``paths``; the figures of its window."""
    script = paths.with_suffix(".lua")
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "BENCH_PATHS": str(paths), "BENCH_KEY": key, "BENCH_SEED": str(args.seed)}
    before_server, before_wrk = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds:g}s",
                           "--timeout", "10s", "-s", str(script), base],
                          env=env, capture_output=True, text=True, check=False)  # fmt: skip
    after_server, after_wrk = cpu_seconds(pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    found = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not found:
        raise SystemExit(f"bench: wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    f = json.loads(found[0][len("BENCH ") :])
    errors = {k: f[k] for k in ("status", "connect", "read", "write", "timeout") if f[k]}
    if errors:
        raise SystemExit(f"bench: wrk saw errors (status: non-2xx answers): {errors}\n{done.stdout}")
    if not f["requests"]:
        raise SystemExit(f"bench: no request was answered in {seconds:g} s: the server stalled\n{done.stdout}")
    took = f["duration_us"] / 1e6
    used = after_wrk.ru_utime + after_wrk.ru_stime - before_wrk.ru_utime - before_wrk.ru_stime
    return Run(rps=f["requests"] / took, p50_ms=f["p50_us"] / 1000, p99_ms=f["p99_us"] / 1000,
               max_ms=f["max_us"] / 1000, server_cpu=(after_server - before_server) / took,
               wrk_cpu=used / took)  # fmt: skip


def measure(name: str, url: str, args: argparse.Namespace, directory: Path) -> dict[str, Run]:
    """Seed the database at ``url``, serve it, and load each route."""
    started = time.perf_counter()
    store, key = seed(url, args)
    print(f"{name}: seeded {len(store.gtins):,} products and {len(store.epcs):,} items in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    rng = random.Random(args.seed)
    routes = {
        "stock": [f"/api/v1/stock?gtin={g}" for g in store.gtins],
        "item": [f"/api/v1/items/{e}" for e in rng.sample(store.epcs, min(len(store.epcs), 20_000))],
    }
    routes = {route: paths for route, paths in routes.items() if route in (args.route or routes)}
    started = time.perf_counter()
    runs: dict[str, Run] = {}
    with server(url, directory) as (base, proc):
        print(f"{name}: silentgw run serving on {base} after {time.perf_counter() - started:.0f} s "
              f"(outbox delivered)")  # fmt: skip
        check_answers(base, key, store)
        for route, paths in routes.items():
            listed = directory / f"{name}-{route}.paths"
            listed.write_text("\n".join(paths) + "\n")
            if args.warmup > 0:
                wrk(base, listed, key, args.warmup, args, proc.pid)
            runs[route] = wrk(base, listed, key, args.seconds, args, proc.pid)
    engine = connect(url)
    try:
        if SqlStockLedger(engine).levels() != store.ledger:
            raise SystemExit(f"bench: {name}: stock levels changed during the load")
    finally:
        engine.dispose()
    return runs


@contextmanager
def postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own, dropped afterwards; its URL."""
    name = f"silentgw_bench_api_{uuid.uuid4().hex[:8]}"
    admin = connect(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main() -> None:
    """Run the measurements; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=1_500)
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per route (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], action="append",
                        help="only these (default both)")  # fmt: skip
    parser.add_argument("--route", choices=["stock", "item"], action="append", help="only these (default both)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is missing (Debian: apt-get install wrk; `make services` installs it)")

    print(f"{args.items:,} items of {args.products:,} products; wrk: {args.connections} connections on "
          f"{args.threads} thread(s), {args.warmup:g} s warm-up, {args.seconds:g} s measured per route; "
          f"{os.cpu_count()} cores shared by wrk, the server and the database (load average now "
          f"{os.getloadavg()[0]:.2f})")  # fmt: skip
    results: dict[str, dict[str, Run]] = {}
    with tempfile.TemporaryDirectory(prefix="silentgw-bench-api-") as tmp:
        directory = Path(tmp)
        for name in args.database or ["sqlite", "postgresql"]:
            if name == "sqlite":
                results[name] = measure(name, f"sqlite:///{directory / 'bench.db'}", args, directory)
            else:
                with postgres_database() as url:
                    results[name] = measure(name, url, args, directory)
    print()
    print(f"{'database':<11} {'route':<34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
          f"{'server CPU':>10} {'wrk CPU':>8}")  # fmt: skip
    shown = {"stock": "GET /api/v1/stock?gtin={gtin}", "item": "GET /api/v1/items/{hex_epc}"}
    for name, runs in results.items():
        for route, r in runs.items():
            print(f"{name:<11} {shown[route]:<34} {r.rps:>8,.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.max_ms:>7.1f} "
                  f"{r.server_cpu:>9.0%} {r.wrk_cpu:>8.0%}")  # fmt: skip
    print("(CPU: of one core, averaged over the window; the server's includes its thread pool, not the database's)")
    print(json.dumps({name: {route: {"rps": round(r.rps), "p99_ms": round(r.p99_ms, 2)} for route, r in runs.items()}
                      for name, runs in results.items()}))  # fmt: skip


if __name__ == "__main__":
    main()
