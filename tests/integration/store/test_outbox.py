"""The outbox: events stored once by id in commit order, delivered to every sink from its own cursor, at least once,
and a failing sink retried from where it stopped, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine

from silentgw.gateway import events
from silentgw.gateway.events import Event, StoredEvent
from silentgw.gateway.outbox import Dispatcher, SinkError
from silentgw.gateway.store import outbox

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def some(n: int, start: int = 0) -> list[Event]:
    return [events.device_status(f"dev-{i % 3}", "down", T0 + dt.timedelta(seconds=i), "") for i in range(start, n)]


class Collecting:
    """A sink keeping what it was handed; it fails ``fail`` times first."""

    def __init__(self, name: str, *, fail: int = 0, types: tuple[str, ...] = ()) -> None:
        self.name = name
        self.fail = fail
        self.types = types
        self.got: list[StoredEvent] = []
        self.attempts = 0

    def wants(self, event: StoredEvent) -> bool:
        return events.matches(event.type, self.types)

    async def deliver(self, batch: Sequence[StoredEvent]) -> None:
        self.attempts += 1
        if self.fail:
            self.fail -= 1
            raise SinkError("receiver said 503")
        self.got += batch


def test_events_are_stored_once_by_id_in_commit_order(engine: Engine) -> None:
    batch = some(5)
    with engine.begin() as conn:
        assert outbox.append(conn, batch) == 5
    with engine.begin() as conn:
        assert outbox.append(conn, [*batch[3:], *some(7, 5)]) == 2  # the replayed two are skipped
    with engine.connect() as conn:
        stored = outbox.read(conn, 0)
        assert [e.id for e in stored] == [e.id for e in some(7)]
        assert [e.seq for e in stored] == sorted(e.seq for e in stored)
        assert outbox.read(conn, stored[3].seq) == stored[4:]
        assert outbox.latest(conn) == stored[-1].seq


async def until(check: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if callable(check) and check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.mark.anyio
async def test_every_sink_gets_every_event_it_wants_in_order_and_a_failing_one_is_retried(engine: Engine) -> None:
    with engine.begin() as conn:
        outbox.append(conn, some(30))
    everything = Collecting("all")
    flaky = Collecting("flaky", fail=2)
    downs_of_dev0 = Collecting("dev0", types=("silentgw.device.*",))
    dispatcher = Dispatcher(engine, [everything, flaky, downs_of_dev0], batch=8, poll=0.05, backoff_cap=0.05)
    runner = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: len(everything.got) == len(flaky.got) == 30)
        with engine.begin() as conn:
            outbox.append(conn, some(40, 30))
        dispatcher.notify()
        await until(lambda: len(everything.got) == len(flaky.got) == 40)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [e.id for e in everything.got] == [e.id for e in some(40)]
    assert [e.id for e in flaky.got] == [e.id for e in some(40)]
    assert dispatcher.health["flaky"].failures == 2
    assert dispatcher.health["flaky"].last_error == "receiver said 503"
    assert len(downs_of_dev0.got) == 40

    # A restarted dispatcher goes on from each sink's cursor: nothing delivered twice, the new events delivered.
    with engine.begin() as conn:
        outbox.append(conn, some(45, 40))
    again = Collecting("all")
    dispatcher = Dispatcher(engine, [again], poll=0.05)
    runner = asyncio.create_task(dispatcher.run())
    try:
        await until(lambda: len(again.got) == 5)
        await dispatcher.rewind("all", 0)  # a replay from the start
        await until(lambda: len(again.got) == 50)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    assert [e.id for e in again.got[5:]] == [e.id for e in some(45)]
