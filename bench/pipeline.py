"""Benchmark: 1,000,000 tag reads over 100,000 tagged items and 50 zones through presence, then the whole pipeline.

The store: 36 shelves in six aisles, 6 backroom zones, 3 receiving bays, 2 pack stations, a checkout, a dock door and
an exit, watched by 13 readers of four antennas, built as :class:`Settings`. The tags are SGTIN-96s of the demo
catalog's products, so the ledger commissions each one on its first arrival. Every 10 s each antenna reports each
tag in its zone with probability 0.85; one tag in ten is cross-read by the neighbouring zone, weaker; in round five
one tag in a hundred is carried to a zone of another aisle, and in round six the items at the checkout leave through
the exit. Reads go in 1,000-read micro-batches in time order. Timed: presence alone (``presence.step``), then
``Pipeline.process`` (presence, checkout, one ledger write per batch) on SQLite (a temp file) and on PostgreSQL (a
fresh schema, dropped afterwards); generating the reads is not timed. Memory per tracked tag is traced apart with
``tracemalloc`` over a fresh presence state fed freshly made EPC strings. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from silentgw.drivers.observations import Observation, TagRead
from silentgw.gateway import presence
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.layout import apply_layout, zone_map
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect, upgrade
from silentgw.simulator.demo_store import DEMO_PRODUCTS, seed_catalog

T0 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
ROUND = 10.0
KINDS = ["shelf"] * 36 + ["backroom"] * 6 + ["receiving"] * 3 + ["pack_station"] * 2 + ["checkout"]
POSTGRES_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql://postgres@127.0.0.1:5432/silentgw_test")

Batch = tuple[list[Observation], dt.datetime]


def _location(n: int) -> str:
    kind = KINDS[n]
    if kind == "shelf":
        return f"aisle-{n // 6 + 1}"
    return {"backroom": "backroom", "receiving": "backroom", "pack_station": "packing"}.get(kind, "front")


def settings(database_url: str) -> Settings:
    """The 50-zone store: zone ``zNN`` on antenna ``NN % 4 + 1`` of ``reader-{NN // 4}``; portals on reader-12."""
    locations: list[dict[str, Any]] = [{"id": "store", "name": "Store", "kind": "site"}]
    for loc in [*(f"aisle-{a}" for a in range(1, 7)), "backroom", "packing", "front"]:
        locations.append({"id": loc, "name": loc, "parent": "store"})
    zones = [{"id": f"z{n:02d}", "name": f"zone {n}", "kind": kind, "location": _location(n)}
             for n, kind in enumerate(KINDS)]  # fmt: skip
    zones += [{"id": "door", "name": "Dock door", "kind": "dock_door", "location": "backroom"},
              {"id": "exit", "name": "Exit", "kind": "exit", "location": "front"}]  # fmt: skip
    devices: list[dict[str, Any]] = []
    for r in range(12):
        antennas = [{"port": n % 4 + 1, "zone": f"z{n:02d}"} for n in range(4 * r, min(4 * r + 4, len(KINDS)))]
        devices.append({"id": f"reader-{r}", "kind": "reader", "driver": {"kind": "zebra-iotc"}, "antennas": antennas})
    portal = [{"port": 1, "zone": "door", "role": "inner"}, {"port": 2, "zone": "door", "role": "outer"},
              {"port": 3, "zone": "exit", "role": "inner"}, {"port": 4, "zone": "exit", "role": "outer"}]  # fmt: skip
    devices.append({"id": "reader-12", "kind": "reader", "driver": {"kind": "zebra-iotc"}, "antennas": portal})
    return Settings(database_url=database_url, locations=locations, zones=zones, devices=devices)


def epcs(tags: int) -> list[str]:
    """SGTIN-96 EPCs of the demo products, ``tags`` of them."""
    out = []
    for i in range(tags):
        p = DEMO_PRODUCTS[i % len(DEMO_PRODUCTS)]
        out.append(
            encode_sgtin(gtin=p.gtin, serial=str(10_000 + i), filter=1, company_prefix_length=len(p.company_prefix))
        )
    return out


def rounds(tags: list[str], seed: int) -> Iterator[list[Observation]]:
    """Each 10 s round's reads in time order, forever (the caller stops when it has enough)."""
    rng = random.Random(seed)
    home = [rng.randrange(len(KINDS)) for _ in tags]
    edge = [rng.random() < 0.1 for _ in tags]
    rssi = [round(-75 + 0.5 * k, 1) for k in range(80)]
    times: dict[int, dt.datetime] = {}
    checkout = KINDS.index("checkout")
    for r in range(10**6):
        base = r * ROUND
        batch: list[tuple[float, Observation]] = []
        if r == 5:
            for i in rng.sample(range(len(tags)), len(tags) // 100):
                home[i] = (home[i] + 7) % 36 if home[i] < 36 else home[i]  # to a shelf of another aisle
        for i, epc in enumerate(tags):
            zone = home[i]
            if zone < 0:
                continue
            if r == 6 and zone == checkout:  # out through the exit: inner antenna first, then outer
                for k, port in enumerate((3, 3, 4, 4)):
                    when = base + 1 + 0.2 * k
                    batch.append((when, TagRead(epc, "reader-12", port, -50.0, _at(times, when))))
                home[i] = -1
                continue
            if rng.random() < 0.85:
                when = base + rng.random() * ROUND
                level = rssi[min(79, max(0, int(rng.gauss(40, 8))))]
                batch.append((when, TagRead(epc, f"reader-{zone // 4}", zone % 4 + 1, level, _at(times, when))))
            if edge[i] and rng.random() < 0.85:
                when = base + rng.random() * ROUND
                other = (zone + 1) % len(KINDS)
                level = rssi[min(79, max(0, int(rng.gauss(14, 8))))]
                batch.append((when, TagRead(epc, f"reader-{other // 4}", other % 4 + 1, level, _at(times, when))))
        batch.sort(key=lambda pair: pair[0])
        yield [obs for _, obs in batch]


def _at(cache: dict[int, dt.datetime], seconds: float) -> dt.datetime:
    ms = int(seconds * 1000)
    when = cache.get(ms)
    if when is None:
        when = cache[ms] = T0 + dt.timedelta(milliseconds=ms)
    return when


def micro_batches(tags: list[str], total: int, size: int, seed: int) -> list[Batch]:
    """``total`` reads in micro-batches of ``size``, each with its ``now`` (its latest read)."""
    out: list[Batch] = []
    fed = 0
    for observations in rounds(tags, seed):
        observations = observations[: total - fed]
        for i in range(0, len(observations), size):
            chunk = observations[i : i + size]
            out.append((chunk, max(o.time for o in chunk)))
        fed += len(observations)
        if fed >= total:
            return out
    raise AssertionError("unreachable")


def through_presence(store: Settings, batches: list[Batch]) -> tuple[float, Counter[str], int]:
    """Reads per second through ``presence.step`` alone, the transitions by kind, the tags tracked at the end."""
    state = presence.PresenceState(zone_map(store))
    kinds: Counter[str] = Counter()
    start = time.perf_counter()
    for batch, now in batches:
        kinds.update(type(t).__name__.lower() for t in presence.step(state, batch, now)[1])
    took = time.perf_counter() - start
    return sum(len(b) for b, _ in batches) / took, kinds, len(state)


def through_pipeline(url: str, batches: list[Batch]) -> tuple[float, Pipeline]:
    """Reads per second through ``Pipeline.process`` on a fresh database at ``url``."""
    store = settings(url)
    engine = connect(url)
    try:
        upgrade(engine)
        with Session(engine) as session, session.begin():
            catalog = Catalog(session, site_id=store.site.id)
            apply_layout(catalog, store)
            seed_catalog(catalog, today=T0.date())
        pipeline = Pipeline(store, engine)
        start = time.perf_counter()
        for batch, now in batches:
            pipeline.process(batch, now)
        took = time.perf_counter() - start
        levels = pipeline.ledger.levels()
        assert levels == pipeline.ledger.recount(), "the stock levels disagree with the ledger"
        return sum(len(b) for b, _ in batches) / took, pipeline
    finally:
        engine.dispose()


def on_postgresql(batches: list[Batch]) -> tuple[float, Pipeline]:
    """``through_pipeline`` in a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = connect(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        return through_pipeline(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", batches)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def bytes_per_tag(store: Settings, tags: list[str], seed: int) -> float:
    """Traced memory of a presence state after four rounds, fresh EPC strings included, per tracked tag."""
    zones = zone_map(store)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = presence.PresenceState(zones)
        fresh = ["".join(e) for e in tags]  # new string objects, so the keys count
        for n, observations in enumerate(rounds(fresh, seed)):
            presence.step(state, observations, max(o.time for o in observations))
            if n == 3:
                break
        del fresh, observations
        used = tracemalloc.get_traced_memory()[0] - before
        tracked = len(state)
    finally:
        tracemalloc.stop()
    return used / tracked


def _report(name: str, rate: float, pipeline: Pipeline) -> None:
    c = pipeline.counters
    print(f"{name}: {rate:,.0f} reads/s through presence, checkout and the ledger; {c.batches:,} batches, "
          f"{sum(c.transitions.values()):,} transitions, {c.movements:,} movements, {c.sales} sales, "
          f"{c.alarms} alarms")  # fmt: skip


def main() -> None:
    """Run the measurements; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="reads per micro-batch (default 1,000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("silentgw").setLevel(logging.ERROR)  # an unpaid-exit warning per checkout item is noise here

    tags = epcs(args.tags)
    batches = micro_batches(tags, args.reads, args.batch, args.seed)
    store = settings("sqlite://")
    print(f"{args.reads:,} reads over {args.tags:,} tags and {len(store.zones)} zones, micro-batches of {args.batch:,}")
    rate, kinds, tracked = through_presence(store, batches)
    print(f"presence: {rate:,.0f} reads/s on one core")
    print(f"transitions: {sum(kinds.values()):,} ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))})")
    print(f"tracked at the end: {tracked:,} tags")
    with tempfile.TemporaryDirectory(prefix="silentgw-bench-") as tmp:
        sqlite_rate, sqlite_run = through_pipeline(f"sqlite:///{Path(tmp) / 'bench.db'}", batches)
    _report("sqlite", sqlite_rate, sqlite_run)
    pg_rate, pg_run = on_postgresql(batches)
    _report("postgresql", pg_rate, pg_run)
    per_tag = bytes_per_tag(store, tags, args.seed)
    print(f"memory: {per_tag:,.0f} bytes per tracked tag (tracemalloc, EPC keys included)")
    print(json.dumps({"presence_reads_per_s": round(rate), "sqlite_reads_per_s": round(sqlite_rate),
                      "postgresql_reads_per_s": round(pg_rate), "bytes_per_tag": round(per_tag),
                      "transitions": sum(kinds.values())}))  # fmt: skip


if __name__ == "__main__":
    main()
