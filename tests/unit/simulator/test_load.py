"""The load simulator: the rate it promises, over the tags and readers it names, the same under the same seed."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from silentgw.drivers.observations import TagRead
from silentgw.gateway.identity import Epc, decode
from silentgw.simulator.load import LoadPlan, _bursts, play_load

pytestmark = pytest.mark.anyio
T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def reads_of(plan: LoadPlan) -> list[TagRead]:
    return [read for burst in _bursts(plan, lambda: T0) for read in burst]


def test_the_count_is_the_rate_times_the_time() -> None:
    reads = reads_of(LoadPlan(rate=1234, tags=50, readers=3, seconds=2))
    assert len(reads) == 2468
    assert {r.reader for r in reads} == {"load-1", "load-2", "load-3"}
    assert len({r.epc for r in reads}) == 50
    assert all(isinstance(decode(epc), Epc) for epc in {r.epc for r in reads})
    assert set(Counter(r.antenna for r in reads)) == {1, 2, 3, 4}


def test_the_same_seed_gives_the_same_reads() -> None:
    plan = LoadPlan(rate=500, tags=20, readers=2, seconds=1, seed=9)
    assert reads_of(plan) == reads_of(plan)
    assert reads_of(plan) != reads_of(LoadPlan(rate=500, tags=20, readers=2, seconds=1, seed=10))


def test_nonsense_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoadPlan(rate=0, tags=1, readers=1, seconds=1)


async def test_playing_sends_every_read() -> None:
    got: list[TagRead] = []
    sent = await play_load(LoadPlan(rate=2000, tags=10, readers=2, seconds=0.2), got.extend)
    assert sent == len(got) == 400
