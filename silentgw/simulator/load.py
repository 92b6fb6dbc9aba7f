"""Load: a set rate of tag reads per second over a set number of tags and readers, deterministic under a seed.

For sizing a gateway and its broker: every reader sees a random share of the tags on random antennas, the way a
warehouse's portals and overhead readers do on a busy day. The stream is paced against the event loop's clock in
small steps, so the rate holds over any span longer than a step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from silentgw.drivers.observations import TagRead
from silentgw.gateway.identity import encode_sgtin
from silentgw.simulator.demo_store import DEMO_PRODUCTS

__all__ = ["LoadPlan", "load_tags", "play_load"]

STEP = 0.01
"""Seconds between bursts: the pacing granularity."""


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """How much load, for how long."""

    rate: float
    """Tag reads per second, over all readers."""
    tags: int
    readers: int
    seconds: float
    antennas: int = 4
    seed: int = 1

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.tags <= 0 or self.readers <= 0 or self.seconds <= 0 or self.antennas <= 0:
            raise ValueError("rate, tags, readers, seconds and antennas must all be positive")


def load_tags(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct SGTIN-96 EPCs of the demo catalogue's products."""
    tags = []
    for n in range(count):
        product = DEMO_PRODUCTS[rng.randrange(len(DEMO_PRODUCTS))]
        tags.append(encode_sgtin(gtin=product.gtin, serial=str(100_000 + n), filter=1,
                                 company_prefix_length=len(product.company_prefix)))  # fmt: skip
    return tags


def _bursts(plan: LoadPlan, now: Callable[[], dt.datetime]) -> Iterator[list[TagRead]]:
    rng = random.Random(plan.seed)
    tags = load_tags(plan.tags, rng)
    readers = [f"load-{n + 1}" for n in range(plan.readers)]
    made = 0
    for n in range(round(plan.seconds / STEP)):
        due = math.floor(plan.rate * (n + 1) * STEP + 1e-9)  # counted from the start: no rounding drift
        count, made = due - made, due
        time = now()
        yield [
            TagRead(
                rng.choice(tags), rng.choice(readers), rng.randint(1, plan.antennas), round(rng.gauss(-58, 6), 1), time
            )
            for _ in range(count)
        ]


async def play_load(plan: LoadPlan, send: Callable[[list[TagRead]], None]) -> int:
    """Hand ``send`` the plan's reads, a burst every :data:`STEP` seconds; returns how many reads were sent."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    for n, burst in enumerate(_bursts(plan, lambda: dt.datetime.now(dt.UTC))):
        late = (n + 1) * STEP - (loop.time() - started)
        if late > 0:
            await asyncio.sleep(late)
        send(burst)
        sent += len(burst)
    return sent
