"""A replay that comes while a delivery is being recorded, on SQLite and PostgreSQL: the subscription's cursor was
being moved on (in a worker thread, which stopping the sink does not stop) when the replay set it back. The replay
must win: the events after its point are delivered again, even across a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.integration.webhooks.harness import SECRET, Receiver, mixed, running, until

pytestmark = pytest.mark.anyio

SLOW = 1.0
"""Seconds the database takes over the delivered cursor's write."""


@contextmanager
def slow_cursor_write(engine: Engine) -> Iterator[threading.Event]:
    """The first write moving a cursor on (past 0) waits :data:`SLOW` seconds before it reaches the database, as on
    a busy database; the event is set when it starts waiting."""
    waiting = threading.Event()

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        moves_on = "outbox_cursors" in statement and "DO UPDATE" in statement.upper()
        if moves_on and context.compiled_parameters[0].get("seq") and not waiting.is_set():
            waiting.set()
            time.sleep(SLOW)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield waiting
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def test_a_replay_while_a_delivery_is_recorded_is_not_lost(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    receiver.secrets["/hook"] = SECRET
    sent = mixed(5)
    with slow_cursor_write(engine) as recording:
        async with running(engine, database_url) as gateway:
            hook = await gateway.create(receiver.url("/hook"))
            gateway.append(sent)
            await until(lambda: len(receiver.taken("/hook")) == 5 and recording.is_set())
            receiver.failing.add("/hook")  # the replayed events wait for the receiver
            replay = await gateway.api.post(f"/webhooks/{hook['id']}/replay", json={"after_seq": 0})
            await until(lambda: receiver.answered("/hook", 500) >= 1)
            await asyncio.sleep(SLOW)  # the write in flight, had it outlived the replay, has landed now
            shown = await gateway.get(hook["id"])
        receiver.failing.clear()
        async with running(engine, database_url):  # a restart: only what is stored is known
            await until(lambda: len(receiver.taken("/hook")) == 10)

    assert replay.status_code == 200
    assert replay.json()["cursor"] == 0
    assert (shown["cursor"], shown["backlog"]) == (0, 5)
    assert Counter(e["id"] for e in receiver.taken("/hook")) == Counter({e.id: 2 for e in sent})
