"""A store day, simulated: what every antenna and sensor of the configured store sees, with the ground truth.

The day, deterministic under its seed: the store opens with stock on its shelves and in the backroom; a delivery
comes in through the dock door (its portal's outer antenna sees each item before the inner one), waits in receiving
and is put away in the backroom; shelves are filled from the backroom; shoppers take items from the shelves, most of
them members who show their card at the checkout, where their goods are read before they leave through the exit;
one shopper walks out with an unpaid item; the dairy fridge warms up for a while in the afternoon.

Readers report like real fixed readers do: every ``read_interval`` seconds each antenna reports each tag in its zone
with probability ``read_rate`` (reads drop out at random), with a noisy RSSI; portals see tags pass in bursts. Read
noise beyond that is opt-in: with ``cross_read_rate`` an antenna also picks up, weaker, tags of a neighbouring zone
(another zone of the same location or on the same reader, never a portal); with ``outage`` one reader sends nothing
for a while. Iterating the day gives a time-ordered stream of :class:`TagRead` and :class:`SensorReading`, the same
observations the drivers produce (the simulator's devices turn them into each reader's wire format);
during an outage the reader says nothing at all (no status either: a reader that loses power announces nothing; the
gateway notices the silence, and :mod:`silentgw.simulator.supervised` plays its supervisors for a day fed straight
to the pipeline). :class:`Truth` holds what really happened up to the last observation handed out.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from silentgw.drivers.observations import DeviceStatus, Observation, SensorReading, TagRead
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import Epc, decode, encode_sgtin
from silentgw.simulator.demo_store import DEMO_MEMBERS, DEMO_PRODUCTS, DemoProduct
from silentgw.simulator.truth import Sale, SimItem, Truth, What

__all__ = ["StoreDay", "StoreDayPlan", "home_shelves", "micro_batches"]

Emission = TagRead | SensorReading | DeviceStatus
Obs = TypeVar("Obs", bound=Observation)
POS_ITEM = 1  # EPC filter value 1: point-of-sale item (TDS section 10)
_PORTALS = ("dock_door", "exit")


@dataclass(frozen=True, slots=True)
class StoreDayPlan:
    """The shape of the day."""

    start: dt.datetime = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
    hours: float = 12.0
    items_per_product: int = 6
    """Items of each product on the shelves at opening (as many again in the backroom)."""
    delivery_items: int = 60
    shoppers: int = 40
    member_share: float = 0.7
    read_interval: float = 10.0
    read_rate: float = 0.85
    cross_read_rate: float = 0.0
    """Per cycle, the chance that an antenna of a neighbouring zone also reads a tag, 10 to 15 dB weaker."""
    outage: tuple[str, float, float] | None = None
    """A reader that goes down: (reader id, start in hours after ``start``, duration in minutes)."""
    fridge: str = "fridge-1"
    scale: str = "shelf-scale-1"
    sensor_interval: float = 60.0

    def __post_init__(self) -> None:
        for name in ("read_rate", "cross_read_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.outage is not None and (self.outage[1] < 0 or self.outage[2] <= 0):
            raise ValueError("an outage starts at 0 hours or later and lasts more than 0 minutes")

    def outage_window(self) -> tuple[str, dt.datetime, dt.datetime] | None:
        """The outage as (reader, first instant down, first instant up again), or None."""
        if self.outage is None:
            return None
        reader, hours, minutes = self.outage
        down = self.start + dt.timedelta(hours=hours)
        return reader, down, down + dt.timedelta(minutes=minutes)


@dataclass(frozen=True, slots=True)
class _Antenna:
    reader: str
    port: int
    role: str | None


class _Layout:
    """The store's zones by kind and the antennas that cover each, from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.kind = {z.id: z.kind for z in settings.zones}
        self.location = {z.id: z.location for z in settings.zones}
        self.antennas: dict[str, list[_Antenna]] = {z.id: [] for z in settings.zones}
        self.card_readers: dict[str, _Antenna] = {}
        for device in settings.devices:
            for a in device.antennas:
                if device.driver.kind == "em4100":
                    self.card_readers[a.zone] = _Antenna(device.id, a.port, None)
                else:
                    self.antennas[a.zone].append(_Antenna(device.id, a.port, a.role))
        self.sensors = {d.id for d in settings.devices if d.kind == "sensor"}
        self.neighbours = {zone: self._neighbours(zone) for zone in self.kind}

    def _neighbours(self, zone: str) -> list[_Antenna]:
        """The antennas of the other zones a tag in ``zone`` may be cross-read by: same location or same reader."""
        if self.kind[zone] in _PORTALS:
            return []
        readers = {a.reader for a in self.antennas[zone]}
        return [
            antenna
            for other, antennas in self.antennas.items()
            if other != zone and self.kind[other] not in _PORTALS
            and (self.location[other] == self.location[zone] or readers & {a.reader for a in antennas})
            for antenna in antennas
        ]  # fmt: skip

    def first(self, kind: str) -> str:
        for zone, zone_kind in self.kind.items():
            if zone_kind == kind and (self.antennas[zone] or kind == "checkout"):
                return zone
        raise ValueError(f"the store day needs a {kind} zone covered by a reader")

    def shelves(self) -> list[str]:
        return [z for z, k in self.kind.items() if k == "shelf" and self.antennas[z]]


def home_shelves(settings: Settings) -> dict[str, str]:
    """Each demo product's GTIN -> the shelf zone a store day stocks it on (shelves taken in turn)."""
    return _homes(_Layout(settings))


def _homes(layout: _Layout) -> dict[str, str]:
    shelves = layout.shelves()
    return {product.gtin: shelves[n % len(shelves)] for n, product in enumerate(DEMO_PRODUCTS)} if shelves else {}


class StoreDay:
    """One simulated day; iterate it for the observations, read :attr:`truth` for what really happened."""

    def __init__(self, settings: Settings, plan: StoreDayPlan | None = None, *, seed: int = 1) -> None:
        self.plan = plan or StoreDayPlan()
        self.rng = random.Random(seed)
        self.layout = _Layout(settings)
        self.truth = Truth()
        self._zone_items: dict[str, set[str]] = {z: set() for z in self.layout.kind}
        self._till_free = self.plan.start  # when the checkout is next free (customers queue)
        self._since: dict[str, dt.datetime] = {}  # when each item got where it is: no read of it there before that
        self._serials = itertools.count(1000)
        self._queue: list[tuple[dt.datetime, int, Callable[[dt.datetime], list[Emission]]]] = []
        self._seq = itertools.count()
        self.end = self.plan.start + dt.timedelta(hours=self.plan.hours)

    # the ground truth ------------------------------------------------------------------------------------------------

    def _new_item(self, product: DemoProduct) -> SimItem:
        epc = encode_sgtin(gtin=product.gtin, serial=str(next(self._serials)), filter=POS_ITEM,
                           company_prefix_length=len(product.company_prefix))  # fmt: skip
        decoded = decode(epc)
        assert isinstance(decoded, Epc)  # we just encoded it
        return SimItem(epc=epc, key=decoded.key, gtin=product.gtin, price=product.price)

    def _place(self, item: SimItem, zone: str | None, time: dt.datetime, what: What) -> None:
        old = self.truth.location.get(item.epc)
        if old is not None:
            self._zone_items[old].discard(item.epc)
        if zone is not None:
            self._zone_items[zone].add(item.epc)
        self._since[item.epc] = time
        self.truth.place(item, zone, time, what)

    def _at(self, time: dt.datetime, action: Callable[[dt.datetime], list[Emission]]) -> None:
        heapq.heappush(self._queue, (time, next(self._seq), action))

    # reads -------------------------------------------------------------------------------------------------------

    def _rssi(self, near: float = -55.0) -> float:
        return round(self.rng.gauss(near, 4.0), 1)

    def _cycle(self, time: dt.datetime) -> list[Emission]:
        reads: list[Emission] = []
        span = int(self.plan.read_interval * 1000)
        for zone, epcs in self._zone_items.items():
            kind = self.layout.kind[zone]
            if kind in _PORTALS:
                continue  # portals see tags pass, in bursts (see _transit)
            # A checkout pad reads what lies on it continuously (about once a second), a fixed reader once a cycle.
            rounds = max(1, round(self.plan.read_interval)) if kind == "checkout" else 1
            for antenna in self.layout.antennas[zone]:
                for epc in sorted(epcs):
                    # only from the moment the item got here: an item laid down mid-cycle is not read before it
                    earliest = max(0, int((self._since[epc] - time).total_seconds() * 1000))
                    if earliest >= span:
                        continue
                    for _ in range(rounds):
                        if self.rng.random() < self.plan.read_rate:
                            offset = dt.timedelta(milliseconds=self.rng.randrange(earliest, span))
                            reads.append(TagRead(epc, antenna.reader, antenna.port, self._rssi(), time + offset))
            if self.plan.cross_read_rate > 0:  # no draw at all when off: the default day stays the same day
                reads += self._cross_reads(zone, time, span)
        return reads

    def _cross_reads(self, zone: str, time: dt.datetime, span: int) -> list[Emission]:
        """A neighbouring zone's antennas picking up this zone's tags now and then, 10 to 15 dB weaker."""
        reads: list[Emission] = []
        for antenna in self.layout.neighbours[zone]:
            for epc in sorted(self._zone_items[zone]):
                earliest = max(0, int((self._since[epc] - time).total_seconds() * 1000))
                if earliest < span and self.rng.random() < self.plan.cross_read_rate:
                    offset = dt.timedelta(milliseconds=self.rng.randrange(earliest, span))
                    rssi = self._rssi(-55.0 - self.rng.uniform(10.0, 15.0))
                    reads.append(TagRead(epc, antenna.reader, antenna.port, rssi, time + offset))
        return reads

    def _transit(self, item: SimItem, portal: str, time: dt.datetime, *, inbound: bool) -> list[Emission]:
        """Reads of ``item`` passing through ``portal``: first the side it comes from, then the other."""
        sides = sorted(self.layout.antennas[portal], key=lambda a: a.role != ("outer" if inbound else "inner"))
        reads: list[Emission] = []
        for n, antenna in enumerate(sides):
            for k in range(3):
                when = time + dt.timedelta(milliseconds=400 * n + 120 * k)
                reads.append(TagRead(item.epc, antenna.reader, antenna.port, self._rssi(-50.0), when))
        return reads

    # the day's plan ----------------------------------------------------------------------------------------------

    def _open(self) -> None:
        start = self.plan.start
        homes = _homes(self.layout)
        backroom = self.layout.first("backroom")
        for product in DEMO_PRODUCTS:
            shelf = homes[product.gtin]
            for _ in range(self.plan.items_per_product):
                self._place(self._new_item(product), shelf, start, "stocked")
                self._place(self._new_item(product), backroom, start, "stocked")

    def _plan_delivery(self) -> None:
        dock, receiving = self.layout.first("dock_door"), self.layout.first("receiving")
        backroom = self.layout.first("backroom")
        at = self.plan.start + dt.timedelta(minutes=30)
        for n in range(self.plan.delivery_items):
            item = self._new_item(self.rng.choice(DEMO_PRODUCTS))
            when = at + dt.timedelta(seconds=2 * n)

            def arrive(time: dt.datetime, item: SimItem = item) -> list[Emission]:
                reads = self._transit(item, dock, time, inbound=True)
                self._place(item, receiving, time + dt.timedelta(seconds=1), "arrived")
                return reads

            def put_away(time: dt.datetime, item: SimItem = item) -> list[Emission]:
                self._place(item, backroom, time, "stocked")
                return []

            self._at(when, arrive)
            self._at(when + dt.timedelta(minutes=20), put_away)

    def _plan_shelf_fill(self) -> None:
        backroom = self.layout.first("backroom")
        shelves = self.layout.shelves()
        at = self.plan.start + dt.timedelta(minutes=90)

        def fill(time: dt.datetime) -> list[Emission]:
            for n, epc in enumerate(sorted(self._zone_items[backroom])[: len(self._zone_items[backroom]) // 2]):
                self._place(self.truth.items[epc], shelves[n % len(shelves)], time, "shelved")
            return []

        self._at(at, fill)

    def _plan_shoppers(self) -> None:
        opens = self.plan.start + dt.timedelta(hours=1)
        span = (self.end - opens).total_seconds() - 3600
        members = [number for number, _name, _card in DEMO_MEMBERS]
        cards = {number: card for number, _name, card in DEMO_MEMBERS}
        for n in range(self.plan.shoppers):
            arrives = opens + dt.timedelta(seconds=self.rng.uniform(0, max(span, 60)))
            member = self.rng.choice(members) if self.rng.random() < self.plan.member_share else None
            unpaid = n == self.plan.shoppers // 2  # one shopper walks out without paying
            self._at(arrives, self._shopper(member, cards.get(member or ""), unpaid=unpaid))

    def _shopper(
        self, member: str | None, card: str | None, *, unpaid: bool
    ) -> Callable[[dt.datetime], list[Emission]]:
        def shop(time: dt.datetime) -> list[Emission]:
            shelf_items = sorted(epc for zone in self.layout.shelves() for epc in self._zone_items[zone])
            basket = self.rng.sample(shelf_items, k=min(len(shelf_items), 1 if unpaid else self.rng.randint(1, 3)))
            for epc in basket:
                self._place(self.truth.items[epc], None, time, "picked")
            pay_at = time + dt.timedelta(minutes=self.rng.uniform(3, 15))
            if not unpaid:
                # one customer at a time on the checkout: wait until the one before has left the store
                pay_at = max(pay_at, self._till_free)
                self._till_free = pay_at + dt.timedelta(seconds=40)
            self._at(pay_at, self._leave(basket, member, card) if not unpaid else self._walk_out(basket))
            return []

        return shop

    def _leave(
        self, basket: Sequence[str], member: str | None, card: str | None
    ) -> Callable[[dt.datetime], list[Emission]]:
        checkout, exit_ = self.layout.first("checkout"), self.layout.first("exit")

        def pay(time: dt.datetime) -> list[Emission]:
            reads: list[Emission] = []
            if member is not None and card is not None and checkout in self.layout.card_readers:
                reader = self.layout.card_readers[checkout]
                self.truth.note(time, "card", member, checkout)
                # A card held on the reader repeats its id several times a second: still one presentation.
                reads += [TagRead(card, reader.reader, reader.port, None, time + dt.timedelta(milliseconds=150 * k),
                                  protocol="em4100") for k in range(6)]  # fmt: skip
            for epc in basket:
                self._place(self.truth.items[epc], checkout, time + dt.timedelta(seconds=2), "at_checkout")
            total = sum((self.truth.items[epc].price for epc in basket), start=Decimal(0))
            self.truth.sales.append(Sale(time, member, tuple(basket), total))

            def out(when: dt.datetime) -> list[Emission]:
                exit_reads: list[Emission] = []
                for epc in basket:
                    self.truth.note(when, "sold", epc, checkout)
                    exit_reads += self._transit(self.truth.items[epc], exit_, when, inbound=False)
                    self._place(self.truth.items[epc], None, when + dt.timedelta(seconds=1), "left")
                return exit_reads

            self._at(time + dt.timedelta(seconds=30), out)
            return reads

        return pay

    def _walk_out(self, basket: Sequence[str]) -> Callable[[dt.datetime], list[Emission]]:
        exit_ = self.layout.first("exit")

        def walk(time: dt.datetime) -> list[Emission]:
            reads: list[Emission] = []
            for epc in basket:
                reads += self._transit(self.truth.items[epc], exit_, time, inbound=False)
                self._place(self.truth.items[epc], None, time + dt.timedelta(seconds=1), "unpaid_exit")
            return reads

        return walk

    def _sensors(self, time: dt.datetime) -> list[Emission]:
        out: list[Emission] = []
        if self.plan.fridge in self.layout.sensors:
            hours = (time - self.plan.start).total_seconds() / 3600
            warm = 6.0 <= hours < 6.75  # the fridge door is left ajar for 45 minutes
            base = 8.6 if warm else 4.0
            out.append(SensorReading(self.plan.fridge, "temperature", round(self.rng.gauss(base, 0.2), 2), "°C", time))
        if self.plan.scale in self.layout.sensors:
            sold_share = len(self.truth.sales) / max(self.plan.shoppers, 1)
            grams = max(0.0, 12_000 * (1 - 0.8 * sold_share) + self.rng.gauss(0, 15))
            out.append(SensorReading(self.plan.scale, "weight", round(grams, 1), "g", time))
        return out

    # the stream ------------------------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TagRead | SensorReading]:
        """What the day's devices report, in time order (the truth advances as they are handed out)."""
        for observation in self.observations():
            if not isinstance(observation, DeviceStatus):
                yield observation

    def observations(self) -> Iterator[Observation]:
        """The day's observations in time order; the outage's reader says nothing during it, not even that it is off."""
        outage = self.plan.outage_window()
        self._open()
        self._plan_delivery()
        self._plan_shelf_fill()
        self._plan_shoppers()
        step = dt.timedelta(seconds=self.plan.read_interval)
        sensor_every = max(1, round(self.plan.sensor_interval / self.plan.read_interval))
        tick = self.plan.start
        carried: list[Emission] = []  # reads stamped past the tick they were made in (a portal burst at its end)
        for n in itertools.count():
            if tick >= self.end:
                yield from (o for o in sorted(carried, key=lambda o: o.time) if not _silenced(o, outage))
                return
            batch, carried = carried, []
            until = tick + step
            while self._queue and self._queue[0][0] < until:
                when, _seq, action = heapq.heappop(self._queue)
                batch += action(when)
            batch += self._cycle(tick)
            if n % sensor_every == 0:
                batch += self._sensors(tick)
            batch.sort(key=lambda o: o.time)
            for emission in batch:
                if emission.time >= until:
                    carried.append(emission)
                elif not _silenced(emission, outage):
                    yield emission
            tick = until


def _silenced(emission: Emission, outage: tuple[str, dt.datetime, dt.datetime] | None) -> bool:
    """Whether ``emission`` is a read the reader, down at the time, never sent."""
    if outage is None:
        return False
    reader, down, up = outage
    return type(emission) is TagRead and emission.reader == reader and down <= emission.time < up


def micro_batches(
    observations: Iterable[Obs], end: dt.datetime, *, seconds: float = 1.0
) -> Iterator[tuple[list[Obs], dt.datetime]]:
    """A time-ordered stream cut into micro-batches of ``seconds`` of simulated time, each with its ``now``.

    ``now`` is the batch's last observation's time, and ``end`` for the last batch: the simulated clock the pipeline
    runs on in ``silentgw simulate store-day --fast``, the accuracy benchmark and the scenario tests.
    """
    span = dt.timedelta(seconds=seconds)
    batch: list[Obs] = []
    for observation in observations:
        if batch and observation.time - batch[0].time >= span:
            yield batch, batch[-1].time
            batch = []
        batch.append(observation)
    yield batch, end
