"""The read pipeline: micro-batches of observations through presence and checkout, then one ledger write.

Per micro-batch, :meth:`Pipeline.process` runs ``presence.step`` (reads become transitions), ``checkout.step`` (card
reads and transitions become sales and unpaid-exit alarms) and records what changed in the stock ledger; each sale
is also priced from the catalog and recorded on the member's record (``store.sales``), right after the ledger sold
its items; an item its customer carried out (checkout's *carried* transitions) leaves stock by that sale alone, never
as missing first. Presence and checkout state live in memory; only transitions and sales touch the database.
:meth:`Pipeline.handle` is the gateway's intake consumer: drivers hand over one message at a time, so it gathers them
until ``max_reads`` observations or ``max_wait`` seconds have come together, and runs ``process`` in a worker thread
so that the event loop (and with it the drivers) keeps reading while the database writes.

Failures flow two ways, told apart by the error's class (``store.database.transient`` decides it once):

- **Transient** (:class:`StoreUnavailable`: a server restarting, a network cut, a SQLite file locked past its busy
  timeout): what a micro-batch decided is kept, in order, in a backlog and written by a later micro-batch once the
  database answers again. Presence and checkout go on in memory meanwhile, so no transition or sale is lost. Every
  write is idempotent (movements by key, sales by id), so a write that failed halfway is simply written again. The
  backlog is bounded (``max_backlog`` micro-batches): once full, :meth:`Pipeline.handle` holds back the intake, and
  with it the drivers (back-pressure), until the database answers. It lives in memory: it is lost only if the gateway
  stops while the database is still away, which :meth:`Pipeline.close` logs with the count.
- **Permanent** (anything else: a constraint, a value out of range, a basket priced in two currencies): only the step
  that failed (a run of transitions, or one sale: ``gateway.backlog``) is set aside as a dead letter with its reason
  and traceback, counted, and listed for an admin to replay once the cause is fixed; the steps after it are written.

The members and zones the pipeline keeps a copy of are reloaded on the tick after the catalog's revision moved
(``store.revisions``), so a card issued through the API counts at the next checkout, within a second.

Cycle counts under way (:class:`~silentgw.gateway.counts.OpenCounts`) are fed every micro-batch's reads; a count
closes when :meth:`Pipeline.close_count` is called or, if it was given a duration, on the first micro-batch or tick
after it is up. Closing is written at once (``store.counts``), under the pipeline's lock so that it sees every read
gathered before it; if the database is away, the count stays open and closing is tried again on the next tick.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from sqlalchemy import Engine, select

from silentgw.drivers.observations import DeviceStatus, Handed, Observation, Receipt, Rejected, SensorReading, TagRead
from silentgw.gateway import backlog, checkout, events, presence
from silentgw.gateway.backlog import Apply, Step, Unwritten
from silentgw.gateway.checkout import CheckoutEvent, CheckoutState, Sale, UnpaidExit
from silentgw.gateway.config import Settings
from silentgw.gateway.counts import OpenCount, OpenCounts
from silentgw.gateway.events import Event
from silentgw.gateway.identity import Epc
from silentgw.gateway.layout import card_readers, checkout_rules, clocked_readers, zone_map
from silentgw.gateway.ledger import COUNTED, Movement, identify
from silentgw.gateway.store import deadletters, revisions
from silentgw.gateway.store.counts import Closed, SqlCycleCounts
from silentgw.gateway.store.database import StoreUnavailable
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Base, DeadLetterState, Item, Member, MemberCard
from silentgw.gateway.store.sales import Recorded, SqlSales
from silentgw.gateway.transitions import Arrived, Moved, Transition

__all__ = ["Counters", "Pipeline", "Processed", "Unwritten", "load_members"]

logger = logging.getLogger(__name__)

_items = Base.metadata.tables[Item.__tablename__]
_members = Base.metadata.tables[Member.__tablename__]
_cards = Base.metadata.tables[MemberCard.__tablename__]


@dataclass(slots=True)
class Counters:
    """What the pipeline has handled since it started."""

    reads: int = 0
    transitions: Counter[str] = field(default_factory=Counter)
    """By kind: arrived, moved, departed, passed."""
    sales: int = 0
    points: int = 0
    """Loyalty points awarded by the sales recorded (replays excluded)."""
    alarms: int = 0
    movements: int = 0
    """Ledger movements recorded (replays excluded)."""
    batches: int = 0
    write_failures: int = 0
    """Attempts to write that failed because the database could not be reached (each retried later)."""
    dead_letters: int = 0
    """Steps set aside because the database refused what they held (each listed for an admin)."""
    held_back: int = 0
    """Times the intake was held back because the backlog was full."""
    refreshes: int = 0
    """Reloads of members and zones after the catalog changed."""


@dataclass(frozen=True, slots=True)
class Processed:
    """What one micro-batch gave: presence's transitions, checkout's sales and alarms, what was recorded."""

    transitions: tuple[Transition, ...]
    events: tuple[CheckoutEvent, ...]
    movements: tuple[Movement, ...]
    sales: tuple[Recorded, ...] = ()
    """The sales as recorded on the members' records (a replayed sale is there with ``new`` False)."""
    backlog: int = 0
    """Micro-batches decided but not written yet, this one included if the database could not be reached."""


def load_members(engine: Engine) -> dict[str, str]:
    """Every active member card's value (EM4100 id or tag EPC) -> its member's number."""
    query = (
        select(_cards.c.value, _members.c.number)
        .join(_members, _members.c.id == _cards.c.member_id)
        .where(_cards.c.active.is_(True))
    )
    with engine.connect() as conn:
        return {value.upper(): number for value, number in conn.execute(query)}


def _told(
    batch: Sequence[Observation | Rejected],
    decided: Sequence[CheckoutEvent],
    transitions: Sequence[Transition],
    watched: frozenset[str],
) -> Iterator[Event]:
    """The events of a batch that no movement or sale carries: unpaid-exit alarms, devices going down or up, and
    tags arriving in a ``watched`` zone (pack stations: fulfilment checks each packed item there)."""
    for t in transitions:
        zone = t.zone if type(t) is Arrived else t.to_zone if type(t) is Moved else None
        if zone in watched:
            yield events.tag_arrived(t.epc, zone, t.time)
    for alarm in decided:
        if isinstance(alarm, UnpaidExit):
            yield events.unpaid_exit(alarm.epc, alarm.portal, alarm.time)
    for obs in batch:
        if type(obs) is DeviceStatus and obs.state in ("down", "up"):
            yield events.device_status(obs.device, obs.state, obs.time, obs.detail)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Pipeline:
    """The consumer of observations: presence, checkout and the stock ledger, one micro-batch at a time."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        state: presence.PresenceState | None = None,
        ledger: SqlStockLedger | None = None,
        sales: SqlSales | None = None,
        max_reads: int = 1000,
        max_wait: float = 0.2,
        clock: Callable[[], dt.datetime] = _utcnow,
        notify: Callable[[], None] | None = None,
        readings: Callable[[Sequence[SensorReading]], None] | None = None,
        max_backlog: int = 10_000,
    ) -> None:
        self.settings = settings
        self.notify = notify
        """Called (in the pipeline's thread) once a micro-batch's writes, events included, are committed."""
        self.readings = readings
        """Handed each micro-batch's sensor readings (in the pipeline's thread): the time-series writer."""
        self.engine = engine
        self.zones = zone_map(settings)
        self.presence = (
            state if state is not None else presence.PresenceState(self.zones, clocked=clocked_readers(settings))
        )
        self.checkout = CheckoutState(checkout_rules(settings))
        self.readers = card_readers(settings)
        self.ledger = ledger or SqlStockLedger(engine)
        self.sales = sales or SqlSales(engine, timezone=settings.site.timezone)
        self.max_reads = max_reads
        """Observations gathered before a micro-batch is processed."""
        self.max_wait = max_wait
        """Seconds the first observation gathered may wait for the micro-batch to fill."""
        self.clock = clock
        self.counters = Counters()
        self.members: dict[str, str] = {}
        self.counts = OpenCounts(self.zones.antennas)
        """The cycle counts under way, collecting their zones' reads."""
        self.cycle_counts = SqlCycleCounts(engine)
        self._ledger_zones = self.ledger.zones()
        self._watched = frozenset(z.id for z in self._ledger_zones.values() if z.kind == "pack_station")
        self.backlog: deque[Unwritten] = deque()
        """What was decided while the database could not be reached, oldest first."""
        self.max_backlog = max_backlog
        """Micro-batches the backlog holds before the intake is held back (back-pressure to the drivers)."""
        self.retry_every = 1.0
        """Seconds (of the pipeline's time) between attempts to write while the database is away."""
        self._retry_at = -math.inf
        self._progress = 0
        """Steps of the backlog's head already written or set aside (a retry resumes after them)."""
        self._revision: int | None = None
        self.look_every = 1.0
        """Seconds (wall clock) between looks at whether the catalog changed."""
        self._look_at = -math.inf
        self._pending: list[Observation | Rejected] = []
        self._receipts: list[Receipt] = []
        """Marks handed in with the pending observations: confirmed once these are written."""
        self._unconfirmed: list[Receipt] = []
        """Marks of micro-batches processed but not all written yet (the database away)."""
        self._received: list[dt.datetime] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self.refresh()

    @classmethod
    def restore(cls, settings: Settings, engine: Engine, *, now: dt.datetime, **options: Any) -> Pipeline:
        """A pipeline (restarted at ``now``) whose presence holds every item in stock where the database placed it.

        The items table says where an item is, not when it was last read (reads never touch the database), so each
        item counts as seen when the gateway stopped (the latest ``last_seen_at``): its absence starts at ``now``.
        """
        i = _items.c
        query = select(i.epc, i.zone_id, i.last_seen_at).where(i.state.in_(sorted(COUNTED)), i.zone_id.is_not(None))
        with engine.connect() as conn:
            rows = [(str(epc), str(zone), last) for epc, zone, last in conn.execute(query)]
        stopped = max((last for _, _, last in rows), default=now)
        state = presence.seed(zone_map(settings), [(epc, zone, stopped) for epc, zone, _ in rows],
                              now=now, stopped_at=stopped, clocked=clocked_readers(settings))  # fmt: skip
        logger.info("presence restored: %d items in stock, stopped at %s", len(state), stopped.isoformat())
        return cls(settings, engine, state=state, **options)

    def refresh(self) -> None:
        """Reload the member cards and the zones from the database (after the catalog or layout changed)."""
        revision = revisions.current(self.engine, revisions.CATALOG)
        self.members = load_members(self.engine)
        self._ledger_zones = self.ledger.zones()
        self._watched = frozenset(z.id for z in self._ledger_zones.values() if z.kind == "pack_station")
        self._revision = revision

    def _refresh_if_changed(self) -> None:
        """Reload if the catalog changed since the last load (one primary-key read; skipped while the database is
        away: the copy in memory serves until it is back)."""
        try:
            if revisions.current(self.engine, revisions.CATALOG) != self._revision:
                self.refresh()
                self.counters.refreshes += 1
        except StoreUnavailable:
            return

    def process(self, batch: Sequence[Observation | Rejected], now: dt.datetime, *,
                received_at: Sequence[dt.datetime] | None = None) -> Processed:  # fmt: skip
        """Run one micro-batch through presence, checkout and the ledger at ``now``; what it gave."""
        if time.monotonic() >= self._look_at:
            self._look_at = time.monotonic() + self.look_every
            self._refresh_if_changed()
        _, transitions = presence.step(self.presence, batch, now, received_at=received_at)  # type: ignore[arg-type]
        self.counts.observe(batch)
        cards = checkout.cards_from(batch, self.readers)  # type: ignore[arg-type]
        self.checkout, events, carried = checkout.step(
            self.checkout, cards=cards, transitions=transitions, members=self.members, now=now
        )
        sales = tuple(e for e in events if isinstance(e, Sale))
        told = tuple(_told(batch, events, transitions, self._watched))
        # Items carried out by their customers leave stock by their sale, not as the ledger's losses.
        gone = set(carried)
        ledgered = tuple(t for t in transitions if t not in gone)
        if ledgered or sales or told:
            self.backlog.append(Unwritten(ledgered, sales, told))
        movements, recorded = self._write(now)
        if self.readings is not None:
            found = [obs for obs in batch if type(obs) is SensorReading]
            if found:
                self.readings(found)
        c = self.counters
        c.batches += 1
        c.reads += sum(1 for obs in batch if type(obs) is TagRead)
        c.transitions.update(type(t).__name__.lower() for t in transitions)
        c.sales += sum(1 for e in events if isinstance(e, Sale))
        c.alarms += sum(1 for e in events if isinstance(e, UnpaidExit))
        c.movements += len(movements)
        c.points += sum(r.points for r in recorded)
        for alarm in events:
            if isinstance(alarm, UnpaidExit):
                logger.warning("unpaid exit: %s through %s at %s", alarm.epc, alarm.portal, alarm.time.isoformat())
        if len(self.counts):
            self._close_due(now)
        return Processed(tuple(transitions), tuple(events), movements, recorded, len(self.backlog))

    def _close_due(self, now: dt.datetime) -> None:
        """Close the counts whose duration is up; one the database cannot take now stays open for the next try."""
        for count in self.counts.due(now):
            try:
                self._close(count, count.due or now)
            except StoreUnavailable:
                self.counts.put_back(count)
                logger.warning("cycle count %s is due but the database is away: closing it on a later tick", count.id)
            except Exception:  # the close itself was refused: the count is dropped (its reads are not written)
                logger.exception("cycle count %s could not be closed; it is dropped", count.id)

    def _close(self, count: OpenCount, end: dt.datetime) -> Closed:
        """Write a count's close: the items its EPCs name (an EPC naming no item is not counted), compared with the
        stock expected in its scope."""
        found = identify(count.seen, prefixes=self.ledger.prefixes)
        keys = {identity.key for identity in found.values() if isinstance(identity, Epc)}
        closed = self.cycle_counts.close(count.closed(end), keys)
        if self.notify is not None:
            self.notify()
        return closed

    async def close_count(self, count_id: str) -> Closed | None:
        """Close the open count ``count_id`` now, after processing what has been gathered (its reads count); None if
        no such count is open. If the write fails the count stays open."""
        await self.flush()
        async with self._lock:
            count = self.counts.take(count_id)
            if count is None:
                return None
            try:
                return await asyncio.to_thread(self._close, count, self.clock())
            except BaseException:
                self.counts.put_back(count)
                raise

    def _write(self, now: dt.datetime) -> tuple[tuple[Movement, ...], tuple[Recorded, ...]]:
        """Write the backlog, oldest first, unless the database was away less than ``retry_every`` ago."""
        movements: list[Movement] = []
        recorded: list[Recorded] = []
        if not self.backlog or now.timestamp() < self._retry_at:
            return (), ()
        waiting = len(self.backlog)
        while self.backlog:
            try:
                done, sold = self._record(self.backlog[0])
            except StoreUnavailable as exc:
                if self._retry_at == -math.inf:
                    logger.warning("database unreachable; what the pipeline decides waits in memory: %s", exc)
                self.counters.write_failures += 1
                self._retry_at = now.timestamp() + self.retry_every
                break
            self.backlog.popleft()
            self._progress = 0
            movements += done
            recorded += sold
            if self.notify is not None:
                self.notify()
        else:
            if self._retry_at != -math.inf:
                logger.warning("database back: %d micro-batches written that waited", waiting)
            self._retry_at = -math.inf
        return tuple(movements), tuple(recorded)

    def _record(self, unwritten: Unwritten) -> tuple[tuple[Movement, ...], tuple[Recorded, ...]]:
        """Write one micro-batch's steps in order (resuming after those done); a step the database refuses for what
        it holds is set aside. :class:`StoreUnavailable` leaves the rest for a later try."""
        done: list[Movement] = []
        recorded: list[Recorded] = []
        for step in backlog.steps(unwritten)[self._progress :]:
            try:
                moved, sold = self._run(step)
            except StoreUnavailable:
                raise
            except Exception as exc:  # the step's own fault: set it aside, write the rest
                self._set_aside(step, exc)
            else:
                done += moved
                recorded += sold
            self._progress += 1
        return tuple(done), tuple(recorded)

    def _run(self, step: Step) -> tuple[tuple[Movement, ...], tuple[Recorded, ...]]:
        """Write one step. A sale goes on the member's record in a transaction of its own right after the ledger's
        (``sell`` opens its own): a crash between the two is healed by the replay, both being idempotent by sale id."""
        if isinstance(step, Apply):
            return self.ledger.apply(step.transitions, self._ledger_zones, extra=step.events).movements, ()
        sale = step.sale
        sold = self._identities(sale)
        movements = self.ledger.sell([e.key for e in sold], sale_id=sale.id, time=sale.time).movements
        with self.engine.begin() as conn:
            recorded = self.sales.record(sale, prices=self.sales.prices(sold, conn=conn), conn=conn)
        return movements, (recorded,)

    def _set_aside(self, step: Step, exc: Exception) -> None:
        """Store ``step`` as a dead letter with why it failed (raises :class:`StoreUnavailable` if it cannot)."""
        kind, payload = backlog.encode(step)
        reason, trace = deadletters.why(exc)
        with self.engine.begin() as conn:
            letter = deadletters.set_aside(conn, source="pipeline", kind=kind, payload=payload, reason=reason,
                                           trace=trace)  # fmt: skip
        self.counters.dead_letters += 1
        logger.error("set aside a %s the database refused as dead letter %d: %s", kind, letter, reason, exc_info=exc)

    def replay(self, letter: deadletters.Letter) -> None:
        """Write a dead letter of the pipeline's again (in a worker thread, under the pipeline's lock: see
        :meth:`replay_letter`); marked replayed if it went through, else its newest reason is kept and it re-raises."""
        step = backlog.decode(letter.kind, letter.payload)
        try:
            self._run(step)
        except StoreUnavailable:
            raise
        except Exception as exc:
            with self.engine.begin() as conn:
                reason, trace = deadletters.why(exc)
                deadletters.tried_again(conn, letter.id, reason=reason, trace=trace)
            raise
        with self.engine.begin() as conn:
            deadletters.resolve(conn, letter.id, DeadLetterState.REPLAYED)
        if self.notify is not None:
            self.notify()

    async def replay_letter(self, letter: deadletters.Letter) -> None:
        """Replay a dead letter of the pipeline's, between micro-batches."""
        async with self._lock:
            await asyncio.to_thread(self.replay, letter)

    def _identities(self, sale: Sale) -> list[Epc]:
        """The decoded identities of the sale's items (an EPC that does not decode is neither sold nor priced)."""
        found = identify(sale.items, prefixes=self.ledger.prefixes)
        return [identity for epc in sale.items if isinstance(identity := found[epc], Epc)]

    async def handle(self, batch: Sequence[Handed]) -> None:
        """Take one hand-over from the intake; process the gathered micro-batch once it is full or due.

        While the backlog is full (the database away for long), it waits, retrying, before taking more: the intake
        fills and the drivers are held back rather than memory growing without bound.
        """
        if len(batch) == 1 and type(batch[0]) is Receipt:
            self._receipts.append(batch[0])
            return
        if len(self.backlog) >= self.max_backlog:
            self.counters.held_back += 1
            logger.warning("backlog full (%d micro-batches): holding the drivers back until the database answers",
                           len(self.backlog))  # fmt: skip
            while len(self.backlog) >= self.max_backlog:
                await asyncio.sleep(self.retry_every)
                await self.tick()
        self._pending.extend(batch)  # type: ignore[arg-type]  # a receipt only ever comes alone: taken above
        self._received.extend(repeat(self.clock(), len(batch)))
        if len(self._pending) >= self.max_reads:
            await self.flush()
        elif self._timer is None and self._pending:
            self._timer = asyncio.get_running_loop().call_later(self.max_wait, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush(), name="pipeline flush")
        self._flushing.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a micro-batch failed", exc_info=task.exception())

    async def flush(self, *, tick: bool = False) -> None:
        """Process what has been gathered now, off the event loop (one micro-batch at a time).

        With ``tick``, an empty micro-batch is processed too: time passing is what makes tags depart.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            batch, received, receipts = self._pending, self._received, self._receipts
            self._pending, self._received, self._receipts = [], [], []
            if batch or tick:
                await asyncio.to_thread(self.process, batch, self.clock(), received_at=received)
            self._confirm(receipts)

    def _confirm(self, receipts: list[Receipt]) -> None:
        """Confirm the marks of what is written: all of them once the backlog is empty, else none yet."""
        self._unconfirmed += receipts
        if self.backlog or not self._unconfirmed:
            return
        for receipt in self._unconfirmed:
            try:
                receipt.confirm()
            except Exception:  # a connection gone: the broker sends those messages again, which changes nothing
                logger.debug("confirming to device %s failed", receipt.device, exc_info=True)
        self._unconfirmed.clear()

    async def close(self) -> None:
        """Process what is gathered and write the backlog (one last try); what is still unwritten is logged."""
        self._retry_at = -math.inf
        await self.tick()
        if self.backlog:
            lost = sum(len(u.transitions) + len(u.sales) for u in self.backlog)
            logger.error("stopping with the database away: %d transitions and sales of %d micro-batches are not "
                         "written", lost, len(self.backlog))  # fmt: skip

    async def tick(self) -> None:
        """Process what has been gathered, or nothing, at the clock's time: departures fall due without reads."""
        await self.flush(tick=True)

    async def ticking(self, every: float = 1.0) -> None:
        """Tick every ``every`` seconds until cancelled (a failed tick is logged; the next one tries again)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.tick()
            except Exception:
                logger.exception("a presence tick failed")
