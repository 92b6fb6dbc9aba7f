"""The outbox dispatcher: every stored event delivered at least once, in order, to every sink.

Events are written to the ``events`` table in the transaction of the change they describe (``store/outbox.py``).
The :class:`Dispatcher` runs one pump per sink: it reads the events after the sink's cursor, in commit order, hands
those the sink wants to :meth:`Sink.deliver`, and moves the cursor on only once the sink has taken them all. A sink
that fails (a broker away, a receiver answering 500) is retried with backoff from the same cursor, so an outage
delays delivery and loses nothing, and a crash between delivery and the cursor's move delivers again (at least
once: subscribers de-duplicate by the event id). Order is the commit order for every sink, so it is also the order
per subject.

A failure is transient or permanent by its class. :class:`SinkError` (a broker away, a receiver answering 500) and
:class:`StoreUnavailable` (the database away) are retried as above. Anything else a sink raises is the events' own
fault (a rule whose write the database refuses, a bug): the batch is then delivered one event at a time, the event
that fails again is set aside as a dead letter of that sink (its reason and traceback kept, listed for an admin,
replayable once fixed), and the cursor moves past it, so one bad event never holds back the others.

Writers call :meth:`Dispatcher.notify` after committing (from any thread); pumps also look every ``poll`` seconds,
which covers events written by another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from sqlalchemy import Engine

from silentgw.drivers.supervisor import Backoff
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.store import deadletters, outbox
from silentgw.gateway.store.database import StoreUnavailable
from silentgw.gateway.store.models import DeadLetterState

__all__ = ["Dispatcher", "NotReplayable", "Sink", "SinkError", "SinkHealth", "in_thread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def in_thread(call: Callable[[], T]) -> T:
    """``call()`` in a worker thread. Cancelled, it waits for the thread to end before it raises: a thread cannot be
    stopped, and what it writes after its caller was stopped (a cursor moved on past a rewind) must not come later."""
    work = asyncio.ensure_future(asyncio.to_thread(call))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.gather(work, return_exceptions=True)
        raise


class SinkError(Exception):
    """A delivery failed and should be tried again later (the sink's reason in the message).

    Raise it for what will pass (a receiver away); anything else a sink raises sets the event aside.
    """


class NotReplayable(Exception):
    """A dead letter cannot be tried again here (its sink does not run in this process, or its event is gone)."""


_TRANSIENT = (SinkError, StoreUnavailable)


@runtime_checkable
class Sink(Protocol):
    """Somewhere events go: a broker, a webhook receiver."""

    name: str
    """The cursor's key: stable across restarts (``mqtt``, ``webhook:<id>``)."""

    def wants(self, event: StoredEvent) -> bool:
        """Whether this sink takes ``event`` (a type filter); the cursor passes over the others."""
        ...

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Deliver ``events`` in order, all of them, or raise (:class:`SinkError`) to have them tried again."""
        ...


@dataclass(slots=True)
class SinkHealth:
    """What a sink's pump knows: how far it is, what it delivered, and its last failure."""

    cursor: int = 0
    delivered: int = 0
    failures: int = 0
    """Failed deliveries since the start."""
    failing: int = 0
    """Failed deliveries in a row (0 once one succeeds)."""
    last_error: str | None = None
    dead_letters: int = 0
    """Events set aside since the start (each refused by the sink on its own)."""


class Dispatcher:
    """Delivers the outbox to its sinks, each from its own cursor; add and remove sinks while it runs."""

    def __init__(
        self,
        engine: Engine,
        sinks: Sequence[Sink] = (),
        *,
        batch: int = 500,
        poll: float = 1.0,
        backoff_cap: float = 30.0,
        start_at_end: bool = False,
    ) -> None:
        self.engine = engine
        self.batch = batch
        self.poll = poll
        self.backoff_cap = backoff_cap
        self.start_at_end = start_at_end
        """A sink new to the database starts at the newest event rather than at the first."""
        self.sinks: dict[str, Sink] = {s.name: s for s in sinks}
        self.health: dict[str, SinkHealth] = {s.name: SinkHealth() for s in sinks}
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """New events were committed: wake the pumps (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_all()
        else:
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for wake in self._wake.values():
            wake.set()
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        """Return at the next :meth:`notify`, or after ``timeout`` seconds (the live stream's wait)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)

    def add(self, sink: Sink) -> None:
        """Deliver to ``sink`` too (at once if running); a sink of the same name is replaced."""
        self.remove(sink.name)
        self.sinks[sink.name] = sink
        self.health.setdefault(sink.name, SinkHealth())
        if self._loop is not None:
            self._start(sink)

    def remove(self, name: str) -> None:
        """Stop delivering to the sink ``name`` (its cursor stays in the database)."""
        self.sinks.pop(name, None)
        pump = self._pumps.pop(name, None)
        if pump is not None:
            pump.cancel()
        self._wake.pop(name, None)

    async def stop(self, name: str) -> None:
        """:meth:`remove`, then wait until the sink's pump has ended, with what it was writing (:func:`in_thread`)."""
        pump = self._pumps.get(name)
        self.remove(name)
        if pump is not None:
            await asyncio.gather(pump, return_exceptions=True)

    async def rewind(self, name: str, seq: int) -> None:
        """Deliver to sink ``name`` again from after ``seq`` (a replay); its pump restarts there.

        The pump is stopped, and waited for, before the cursor is written: a delivery finishing meanwhile would
        otherwise move the cursor past the replay point.
        """
        sink = self.sinks.get(name)
        pump = self._pumps.pop(name, None)
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        await asyncio.to_thread(self._advance, name, seq)
        self.health.setdefault(name, SinkHealth()).cursor = seq
        if sink is not None and self._loop is not None:
            self._start(sink)

    async def run(self) -> None:
        """Run a pump per sink until cancelled."""
        self._loop = asyncio.get_running_loop()
        for sink in list(self.sinks.values()):
            self._start(sink)
        try:
            await asyncio.Event().wait()
        finally:
            pumps = list(self._pumps.values())
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._pumps.clear()
            self._loop = None

    async def drain(self, timeout: float) -> bool:
        """Wait until every sink has taken every event written so far, or ``timeout`` seconds; whether they did.

        What is not delivered by then stays in the outbox and goes out after the next start.
        """
        self.notify()
        target = await asyncio.to_thread(self._latest)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(self.health[name].cursor < target for name in self.sinks):
            if loop.time() >= deadline:
                behind = {n: target - self.health[n].cursor for n in self.sinks if self.health[n].cursor < target}
                logger.warning("stopping with events not yet delivered (they go out after the next start): %s", behind)
                return False
            await asyncio.sleep(0.05)
        return True

    def _latest(self) -> int:
        with self.engine.connect() as conn:
            return outbox.latest(conn)

    def lag(self, name: str) -> int:
        """Events not yet delivered to sink ``name`` (a query: for health and metrics, not hot paths)."""
        with self.engine.connect() as conn:
            return max(0, outbox.latest(conn) - self.health[name].cursor)

    def _start(self, sink: Sink) -> None:
        self._wake[sink.name] = asyncio.Event()
        pump = asyncio.create_task(self._pump(sink), name=f"outbox {sink.name}")
        pump.add_done_callback(self._ended)
        self._pumps[sink.name] = pump

    @staticmethod
    def _ended(pump: asyncio.Task[None]) -> None:
        if not pump.cancelled() and pump.exception() is not None:
            logger.error("%s stopped", pump.get_name(), exc_info=pump.exception())

    def _cursor(self, name: str) -> int:
        with self.engine.begin() as conn:
            start = outbox.latest(conn) if self.start_at_end else 0
            return outbox.cursor(conn, name, start=start)

    def _read(self, after: int) -> list[StoredEvent]:
        with self.engine.connect() as conn:
            return outbox.read(conn, after, limit=self.batch)

    def _advance(self, name: str, seq: int) -> None:
        with self.engine.begin() as conn:
            outbox.advance(conn, name, seq)

    async def _pump(self, sink: Sink) -> None:
        health = self.health[sink.name]
        wake = self._wake[sink.name]
        backoff = Backoff(initial=min(0.2, self.backoff_cap), cap=self.backoff_cap)
        seq = await self._retrying(sink, lambda: self._cursor(sink.name), backoff)
        health.cursor = seq
        while True:
            wake.clear()
            events = await self._retrying(sink, functools.partial(self._read, seq), backoff)
            if not events:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll)
                continue
            wanted = [e for e in events if sink.wants(e)]
            if wanted:
                try:
                    await sink.deliver(wanted)
                except asyncio.CancelledError:
                    raise
                except _TRANSIENT as exc:
                    self._failed(sink.name, health, exc)
                    await asyncio.sleep(backoff.next())
                    continue
                except Exception:
                    taken = await self._one_by_one(sink, wanted, backoff)
                    if taken is None:
                        continue
                    seq = taken
                    await self._retrying(sink, functools.partial(self._advance, sink.name, seq), backoff)
                    health.cursor = seq
                    continue
                health.delivered += len(wanted)
            health.failing = 0
            backoff.reset()
            seq = events[-1].seq
            await self._retrying(sink, functools.partial(self._advance, sink.name, seq), backoff)
            health.cursor = seq

    async def _one_by_one(self, sink: Sink, wanted: Sequence[StoredEvent], backoff: Backoff) -> int | None:
        """Deliver ``wanted`` one event at a time after the batch failed for its content; an event that fails on its
        own is set aside. The last sequence number taken, or None if a transient failure stopped it (what was taken
        until then is recorded, the rest is tried again)."""
        health = self.health[sink.name]
        taken: int | None = None
        for event in wanted:
            try:
                await sink.deliver([event])
            except asyncio.CancelledError:
                raise
            except _TRANSIENT as exc:
                self._failed(sink.name, health, exc)
                if taken is not None:
                    await self._retrying(sink, functools.partial(self._advance, sink.name, taken), backoff)
                    health.cursor = taken
                await asyncio.sleep(backoff.next())
                return None
            except Exception as exc:
                await self._retrying(sink, functools.partial(self._set_aside, sink.name, event, exc), backoff)
                health.dead_letters += 1
                health.last_error = f"set aside event {event.id}: {exc!r}"[:500]
            else:
                health.delivered += 1
            taken = event.seq
        health.failing = 0
        backoff.reset()
        return taken

    def _set_aside(self, name: str, event: StoredEvent, exc: Exception) -> None:
        reason, trace = deadletters.why(exc)
        with self.engine.begin() as conn:
            letter = deadletters.set_aside(
                conn, source=name, kind="event", event_seq=event.seq, payload={"id": event.id, "type": event.type},
                reason=reason, trace=trace,
            )  # fmt: skip
        logger.error("outbox sink %s refused event %s (%s) on its own: set aside as dead letter %d: %s", name,
                     event.id, event.type, letter, reason, exc_info=exc)  # fmt: skip

    async def replay(self, letter: deadletters.Letter) -> None:
        """Deliver a sink's dead letter to its sink again; marked replayed if it went through (else it raises, and
        the dead letter keeps its newest reason). :class:`NotReplayable` if its sink or event is gone."""
        sink = self.sinks.get(letter.source)
        if sink is None or letter.event_seq is None:
            raise NotReplayable(f"no sink {letter.source!r} runs here to replay dead letter {letter.id} to")
        found = await asyncio.to_thread(self._read_one, letter.event_seq)
        if found is None:
            raise NotReplayable(f"event {letter.event_seq} of dead letter {letter.id} is no longer in the outbox")
        try:
            await sink.deliver([found])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(exc, _TRANSIENT):
                await asyncio.to_thread(self._tried_again, letter.id, exc)
            raise
        await asyncio.to_thread(self._resolved, letter.id)

    def _read_one(self, seq: int) -> StoredEvent | None:
        with self.engine.connect() as conn:
            found = outbox.read(conn, seq - 1, limit=1)
        return found[0] if found and found[0].seq == seq else None

    def _tried_again(self, letter_id: int, exc: Exception) -> None:
        with self.engine.begin() as conn:
            reason, trace = deadletters.why(exc)
            deadletters.tried_again(conn, letter_id, reason=reason, trace=trace)

    def _resolved(self, letter_id: int) -> None:
        with self.engine.begin() as conn:
            deadletters.resolve(conn, letter_id, DeadLetterState.REPLAYED)

    async def _retrying(self, sink: Sink, call: Callable[[], T], backoff: Backoff) -> T:
        """``call`` in a worker thread, retried with backoff while the database is away."""
        while True:
            try:
                return await in_thread(call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(sink.name, self.health[sink.name], exc, database=True)
                await asyncio.sleep(backoff.next())

    @staticmethod
    def _failed(name: str, health: SinkHealth, exc: BaseException, *, database: bool = False) -> None:
        health.failures += 1
        health.failing += 1
        health.last_error = f"{'database: ' if database else ''}{exc}"[:500]
        if health.failing == 1:
            logger.warning("outbox sink %s: %s; retrying with backoff", name, health.last_error)
