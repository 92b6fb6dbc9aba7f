"""Benchmark: 1,000,000 tag reads over 100,000 tags and 50 zones through presence, on one core.

The store: 36 shelves, 6 backroom zones, 3 receiving bays, 2 pack stations, a checkout, a dock door and an exit,
watched by 13 readers of four antennas. Every 10 s each antenna reports each tag in its zone with probability 0.85
(RSSI around -55 dBm); one tag in ten is cross-read by the neighbouring zone at about -68 dBm; halfway through, one
tag in a hundred is carried to another zone, one reader goes down for 30 s, and the items at the checkout leave
through the exit. Reads go in 1,000-read micro-batches in time order, as the pipeline would hand them over; only
the ``step`` calls are timed (generating the reads is not). Memory per tracked tag is measured apart, with
``tracemalloc``, over a fresh state fed with freshly made EPC strings, so the keys count too.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator

from silentgw.drivers.observations import DeviceStatus, Observation, TagRead
from silentgw.gateway.presence import PresenceState, Transition, step
from silentgw.gateway.zones import AntennaZone, Zone, ZoneMap, default_rule

T0 = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
ROUND = 10.0
KINDS = ["shelf"] * 36 + ["backroom"] * 6 + ["receiving"] * 3 + ["pack_station"] * 2 + ["checkout"]


def store() -> tuple[ZoneMap, list[tuple[str, int]]]:
    """The 50 zones and their antennas; the (reader, port) of each holding zone, in zone order."""
    zones = {f"z{n:02d}": Zone(f"z{n:02d}", kind, default_rule(kind)) for n, kind in enumerate(KINDS)}
    zones["door"] = Zone("door", "dock_door", default_rule("dock_door"))
    zones["exit"] = Zone("exit", "exit", default_rule("exit"))
    antennas: dict[tuple[str, int], AntennaZone] = {}
    ports: list[tuple[str, int]] = []
    for n in range(len(KINDS)):
        key = (f"reader-{n // 4}", n % 4 + 1)
        antennas[key] = AntennaZone(f"z{n:02d}")
        ports.append(key)
    for port, (zone, role) in enumerate([("door", "inner"), ("door", "outer"), ("exit", "inner"), ("exit", "outer")]):
        antennas[("reader-12", port + 1)] = AntennaZone(zone, role)  # type: ignore[arg-type]
    return ZoneMap(zones, antennas), ports


def rounds(tags: int, seed: int, fresh_epcs: bool = False) -> Iterator[list[Observation]]:
    """Each round's observations in time order, forever (the caller stops when it has enough)."""
    rng = random.Random(seed)
    _, ports = store()
    epcs = [f"30340{i:019X}" for i in range(tags)]
    home = [rng.randrange(len(KINDS)) for _ in range(tags)]
    edge = [rng.random() < 0.1 for _ in range(tags)]
    rssi = [round(-75 + 0.5 * k, 1) for k in range(80)]  # shared values: the reads, not the floats, are measured
    times: dict[int, dt.datetime] = {}
    checkout = KINDS.index("checkout")
    for r in range(10**6):
        base = r * ROUND
        batch: list[tuple[float, Observation]] = []
        if r == 5:
            for i in rng.sample(range(tags), tags // 100):
                home[i] = (home[i] + 7) % len(KINDS)  # carried across the store
            batch.append((base, DeviceStatus("reader-3", "down", T0 + dt.timedelta(seconds=base))))
        if r == 8:
            batch.append((base, DeviceStatus("reader-3", "up", T0 + dt.timedelta(seconds=base))))
        for i in range(tags):
            zone = home[i]
            if zone < 0 or (r in (5, 6, 7) and ports[zone][0] == "reader-3"):
                continue
            epc = "".join(epcs[i]) if fresh_epcs else epcs[i]
            if r == 6 and zone == checkout:  # leaves through the exit: inner antenna first, then outer
                for k, port in enumerate((3, 3, 4, 4)):
                    when = base + 1 + 0.2 * k
                    batch.append((when, TagRead(epc, "reader-12", port, -50.0, _at(times, when))))
                home[i] = -1
                continue
            if rng.random() < 0.85:
                when = base + rng.random() * ROUND
                reader, port = ports[zone]
                value = rssi[min(79, max(0, int(rng.gauss(40, 8))))]
                batch.append((when, TagRead(epc, reader, port, value, _at(times, when))))
            if edge[i] and rng.random() < 0.85:
                when = base + rng.random() * ROUND
                reader, port = ports[(zone + 1) % len(KINDS)]
                value = rssi[min(79, max(0, int(rng.gauss(14, 8))))]
                batch.append((when, TagRead(epc, reader, port, value, _at(times, when))))
        batch.sort(key=lambda pair: pair[0])
        yield [obs for _, obs in batch]


def _at(cache: dict[int, dt.datetime], seconds: float) -> dt.datetime:
    ms = int(seconds * 1000)
    when = cache.get(ms)
    if when is None:
        when = cache[ms] = T0 + dt.timedelta(milliseconds=ms)
    return when


def throughput(total: int, tags: int, batch: int, seed: int) -> tuple[float, Counter[str], int]:
    """Reads per second through ``step``, the transitions by kind, and how many tags are tracked at the end."""
    zones, _ = store()
    state = PresenceState(zones)
    kinds: Counter[str] = Counter()
    fed = 0
    elapsed = 0.0
    for observations in rounds(tags, seed):
        observations = observations[: total - fed]
        micro = [observations[i : i + batch] for i in range(0, len(observations), batch)]
        nows = [max(o.time for o in m) for m in micro]
        start = time.perf_counter()
        out: list[Transition] = []
        for m, now in zip(micro, nows, strict=True):
            out += step(state, m, now)[1]
        elapsed += time.perf_counter() - start
        kinds.update(type(t).__name__ for t in out)
        fed += len(observations)
        if fed >= total:
            return fed / elapsed, kinds, len(state)
    raise AssertionError("unreachable")


def bytes_per_tag(tags: int, seed: int) -> float:
    """Traced memory of a state holding ``tags`` tags (three rounds in), EPC strings included, per tag."""
    zones, _ = store()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        state = PresenceState(zones)
        for n, observations in enumerate(rounds(tags, seed, fresh_epcs=True)):
            step(state, observations, max(o.time for o in observations))
            del observations
            if n == 3:
                break
        # The generator's own lists are gone; what is left is the state (and a few cached datetimes, counted too).
        used = tracemalloc.get_traced_memory()[0] - before
        tracked = len(state)
    finally:
        tracemalloc.stop()
    return used / tracked


def main() -> None:
    """Run the throughput and memory measurements; the last line is JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000, help="reads per micro-batch (default 1,000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rate, kinds, tracked = throughput(args.reads, args.tags, args.batch, args.seed)
    transitions = sum(kinds.values())
    print(f"{args.reads:,} reads over {args.tags:,} tags and 50 zones, micro-batches of {args.batch:,}")
    print(f"presence: {rate:,.0f} reads/s on one core")
    print(f"transitions: {transitions:,} ({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))})")
    print(f"tracked at the end: {tracked:,} tags")
    per_tag = bytes_per_tag(args.tags, args.seed)
    print(f"memory: {per_tag:,.0f} bytes per tracked tag (tracemalloc, EPC keys included)")
    print(json.dumps({"presence_reads_per_s": round(rate), "bytes_per_tag": round(per_tag),
                      "transitions": transitions}))  # fmt: skip


if __name__ == "__main__":
    main()
