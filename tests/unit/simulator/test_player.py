"""The player keeps the event loop turning: whatever its pace, the gateway it plays to (and its API) runs meanwhile."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from silentgw.drivers.observations import TagRead
from silentgw.simulator.player import Player
from tests.tags import T0


@pytest.mark.parametrize("speed", [None, 1e9], ids=["as fast as possible", "behind time"])
def test_a_player_lets_the_other_tasks_run_while_it_plays(speed: float | None) -> None:
    # At 1e9 times the stream's pace every observation is overdue: a player behind time, as on a loaded box.
    stream = [TagRead("3034257BF7194E4000001A85", "reader-1", 1, -50.0, T0 + dt.timedelta(seconds=n))
              for n in range(5_000)]  # fmt: skip

    async def play() -> int:
        turns = 0

        async def other() -> None:  # the API, the drivers: anything else on the loop
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        await asyncio.sleep(0)
        started = turns
        await Player({}, speed=speed).play(stream)
        task.cancel()
        return turns - started

    assert asyncio.run(play()) >= 5_000 // 256
