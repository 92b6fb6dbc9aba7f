"""The rules of the house that are set in the settings: sensor thresholds, member rules, shelf displays, and
commands sent on events.

- **Sensor rules** watch readings as they come (the pipeline hands each micro-batch's readings to
  :class:`SensorRules`): a reading past the threshold starts a clock; if the condition still holds after ``for``
  seconds the alert is raised (``silentgw.sensor.alert``), and it clears (``silentgw.sensor.cleared``) only once a
  reading is back past the threshold by the hysteresis, so a fridge hovering at 5 °C does not flap. On an alert,
  the items at the rule's location may get a disposition (``damaged``), which holds them back from allocation, a
  weight shelf may report its untagged goods low, and a device may be sent a command. A rule is alerting (or clear)
  once that is written: an alert the database did not take is told again by the next reading. Alert state lives in
  memory: after a restart a condition that still holds is raised again once it has held for ``for`` seconds.
- **Member rules** act on sales (``silentgw.sale.completed``): a purchase of at least an amount, the first visit
  after N days; on segment changes, noticed after each sale (the member ranked against the last look's members, as
  ``gateway.members`` says) and at the daily look (every member ranked against all); and on birthdays, once a day.
  Their action is an event, ``silentgw.member.notification`` or ``silentgw.member.offer``, for whoever sends mail or
  app messages; its id derives from the rule, the member and the cause, so it is made once. Only members who gave
  their marketing consent (``members.marketing_consent``) get them: the others' segments are kept all the same. A
  birthday's event says the day (``MM-DD``), not the year: an offer needs no age.
- **Displays** show a product's price and its stock at a location whenever a level changes there.
- **Event commands** send a command (lock a door, show a message) when an event of a type is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, select, update

from silentgw.drivers.commands import Command, DisplayText, Lock, Unlock
from silentgw.drivers.observations import SensorReading
from silentgw.gateway import members
from silentgw.gateway.actions import Outcome
from silentgw.gateway.config import CommandSettings, MemberRuleSettings, SensorRuleSettings, Settings
from silentgw.gateway.events import (
    PRODUCT_CHANGED,
    SALE_COMPLETED,
    STOCK_CHANGED,
    Event,
    StoredEvent,
    event_id,
    matches,
    rfc3339,
)
from silentgw.gateway.ledger import COUNTED
from silentgw.gateway.members import Ranking
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Base, Item, Member, Product, StockLevel
from silentgw.gateway.store.models import Sale as SaleRow
from silentgw.gateway.store.sales import SqlSales

__all__ = [
    "DisplayRule",
    "EventCommandRule",
    "MemberRules",
    "SensorRules",
    "SensorWatch",
    "command_of",
]

logger = logging.getLogger(__name__)

_items = Base.metadata.tables[Item.__tablename__]
_members = Base.metadata.tables[Member.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]
_levels = Base.metadata.tables[StockLevel.__tablename__]
_sales = Base.metadata.tables[SaleRow.__tablename__]


def command_of(settings: CommandSettings) -> Command:
    """The driver command a rule's ``command`` names."""
    if settings.action == "lock":
        return Lock()
    if settings.action == "unlock":
        return Unlock(seconds=settings.seconds)
    return DisplayText(settings.text or "")


# Sensor rules ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SensorWatch:
    """One rule's state: the time its condition started holding (None: it does not), and whether it is alerting."""

    rule: SensorRuleSettings
    since: dt.datetime | None = None
    alerting: bool = False

    def past(self, value: float) -> bool:
        """Whether ``value`` is past the threshold."""
        r = self.rule
        return value > r.above if r.above is not None else value < r.below  # type: ignore[operator]

    def back(self, value: float) -> bool:
        """Whether ``value`` is back past the threshold by the hysteresis."""
        r = self.rule
        if r.above is not None:
            return value <= r.above - r.hysteresis
        return value >= r.below + r.hysteresis  # type: ignore[operator]

    def see(self, value: float, time: dt.datetime) -> str | None:
        """Take one reading; ``"alert"`` or ``"cleared"`` when that happens with it, else None.

        The caller that fails to write what happened sets ``alerting`` back (:class:`SensorRules` does), so that the
        next reading tells it again; the time the condition started holding stays, as the readings said.
        """
        if self.alerting:
            if self.back(value):
                self.alerting, self.since = False, None
                return "cleared"
            return None
        if not self.past(value):
            self.since = None
            return None
        if self.since is None:
            self.since = time
        if (time - self.since).total_seconds() >= self.rule.duration:
            self.alerting = True
            return "alert"
        return None


class SensorRules:
    """The sensor rules of the settings, fed with readings; writes alerts (and their consequences) as they happen."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.engine = engine
        self.watches: dict[tuple[str, str], list[SensorWatch]] = {}
        for rule in settings.sensor_rules:
            self.watches.setdefault((rule.sensor, rule.quantity), []).append(SensorWatch(rule))

    def __call__(self, readings: Sequence[SensorReading]) -> None:
        """Run a micro-batch's readings through the rules (the pipeline's ``readings`` hook)."""
        found: list[tuple[SensorWatch, str, SensorReading]] = []
        alerting: dict[int, tuple[SensorWatch, bool]] = {}  # each watch that changed, as it was before the batch
        for reading in readings:
            for watch in self.watches.get((reading.sensor, reading.quantity), ()):
                was = watch.alerting
                happened = watch.see(reading.value, reading.time)
                if happened is not None:
                    alerting.setdefault(id(watch), (watch, was))
                    found.append((watch, happened, reading))
        if not found:
            return
        try:
            with self.engine.begin() as conn:
                written: list[Event] = []
                for watch, happened, reading in found:
                    written += self._act(conn, watch.rule, happened, reading)
                outbox.append(conn, written)
        except BaseException:
            # Alerting (or cleared) only once written: unwritten, the next reading that finds it so says it again.
            for watch, was in alerting.values():
                watch.alerting = was
            raise

    def _act(self, conn: Connection, rule: SensorRuleSettings, happened: str, reading: SensorReading) -> list[Event]:
        held: list[str] = []
        out: list[Event] = []
        if happened == "alert" and rule.location is not None:
            i = _items.c
            where = (i.location_id == rule.location, i.state.in_(sorted(COUNTED)))
            held = list(conn.execute(select(i.epc).where(*where).order_by(i.key)).scalars())
            if rule.disposition is not None:
                conn.execute(update(_items).where(*where, i.disposition.is_(None)).values(disposition=rule.disposition))
        if happened == "alert" and rule.low_stock is not None:
            gtin, location = rule.low_stock
            cause = f"{rule.id}@{rfc3339(reading.time)}"
            low = {"gtin": gtin, "location": location, "quantity": None, "sensor": rule.sensor, "value": reading.value}
            out.append(Event(event_id("silentgw.stock.low", cause), "silentgw.stock.low", f"{gtin}@{location}",
                             reading.time, low))  # fmt: skip
        type_ = f"silentgw.sensor.{happened}"
        data: dict[str, object] = {
            "rule": rule.id, "sensor": rule.sensor, "quantity": rule.quantity, "value": reading.value,
            "unit": reading.unit, "threshold": rule.above if rule.above is not None else rule.below,
            "location": rule.location, "zone": None, "items": held, "disposition": rule.disposition,
        }  # fmt: skip
        out.append(Event(event_id(type_, f"{rule.id}@{rfc3339(reading.time)}"), type_, rule.sensor, reading.time, data))
        logger.warning("sensor rule %s: %s at %s (%s %s)", rule.id, happened, reading.time.isoformat(), reading.value,
                       reading.unit)  # fmt: skip
        return out


# Member rules ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MemberRules:
    """The member rules of the settings, on sales and once a day."""

    settings: Settings
    sales: SqlSales
    rules: tuple[MemberRuleSettings, ...] = field(init=False)
    ranking: Ranking | None = field(init=False, default=None)
    """The last look's ranking, which a sale's member is scored against (None until the first look or sale)."""

    def __post_init__(self) -> None:
        self.rules = self.settings.member_rules

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.site.timezone)

    def wants(self, event: StoredEvent) -> bool:
        """Sales of members, when there are member rules."""
        return bool(self.rules) and event.type == SALE_COMPLETED and event.data.get("member") is not None

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """Purchase and first-visit rules on one sale; then the member's segment, which the sale may have changed.

        The member is ranked against the last look's members (``gateway.members``), so a sale costs the same
        whatever the length of the history, and a few comparisons more as members double; with no look yet (after a
        start) the first sale makes one.
        """
        number = str(event.data["member"])
        total = Decimal(str(event.data["total"]))
        found: list[Event] = []
        for rule in self.rules:
            if rule.when == "purchase" and rule.min_total is not None and total >= rule.min_total:
                found.append(self._act(rule, number, event.time, cause=event.id, reason={"total": str(total)}))
            elif rule.when == "first_visit" and rule.days is not None:
                before = self._previous_sale(conn, number, event)
                if before is None or event.time - before >= dt.timedelta(days=rule.days):
                    gap = None if before is None else (event.time - before).days
                    found.append(self._act(rule, number, event.time, cause=event.id, reason={"days_away": gap}))
        today = event.time.astimezone(self.zone).date()
        if self.ranking is None:
            self.ranking = Ranking.of(self.sales.all_figures(conn=conn))
        figures = self.sales.member_figures(number, conn=conn)
        after = members.segment(self.ranking.score(figures), figures, today, new_days=self.sales.new_days)
        before = conn.execute(select(_members.c.segment).where(_members.c.number == number)).scalar_one()
        found += self._moved(conn, {number: (before, after)}, event.time)
        return Outcome(_consented(conn, found))

    def daily(self, conn: Connection, now: dt.datetime) -> list[Event]:
        """Once a day (any number of calls a day act once): birthdays today, and the look: every member ranked
        against all members, their segments, and the ranking the day's sales are scored against."""
        today = now.astimezone(self.zone).date()
        found: list[Event] = []
        for rule in self.rules:
            if rule.when != "birthday":
                continue
            m = _members.c
            for number, birthday in conn.execute(select(m.number, m.birthday).where(m.birthday.is_not(None))):
                if (birthday.month, birthday.day) == (today.month, today.day):
                    found.append(
                        self._act(rule, number, now, cause=today.isoformat(), reason={"birthday": f"{birthday:%m-%d}"})
                    )
        values = self.sales.values(today, conn=conn)
        self.ranking = Ranking.of(v.figures for v in values.values())
        stored = {n: s for n, s in conn.execute(select(_members.c.number, _members.c.segment))}
        found += self._moved(conn, {n: (stored.get(n), v.segment) for n, v in values.items()}, now)
        return _consented(conn, found)

    def _moved(self, conn: Connection, segments: dict[str, tuple[str | None, str]], now: dt.datetime) -> list[Event]:
        """Store the members' segments (number -> (stored, found)) that changed, in one statement; the segment-change
        rules' events (a first segment, set by the first look, tells none)."""
        changed = {number: str(after) for number, (before, after) in segments.items() if before != after}
        if not changed:
            return []
        m = _members.c
        conn.execute(update(_members).where(m.number == bindparam("b_number")).values(segment=bindparam("b_segment")),
                     [{"b_number": number, "b_segment": segment} for number, segment in changed.items()])  # fmt: skip
        today = now.astimezone(self.zone).date()
        return [
            self._act(rule, number, now, cause=f"{before}->{segment}@{today}", reason={"from": before, "to": segment})
            for number, segment in changed.items()
            if (before := segments[number][0]) is not None
            for rule in self.rules
            if rule.when == "segment_change" and rule.segment == segment
        ]

    def _previous_sale(self, conn: Connection, number: str, event: StoredEvent) -> dt.datetime | None:
        s, m = _sales.c, _members.c
        query = (
            select(s.closed_at).join(_members, m.id == s.member_id)
            .where(m.number == number, s.id != event.subject, s.closed_at < event.time)
            .order_by(s.closed_at.desc()).limit(1)
        )  # fmt: skip
        found: dt.datetime | None = conn.execute(query).scalar_one_or_none()
        return found

    def _act(self, rule: MemberRuleSettings, number: str, time: dt.datetime, *, cause: str,
             reason: dict[str, object]) -> Event:  # fmt: skip
        type_ = "silentgw.member.offer" if rule.action == "offer" else "silentgw.member.notification"
        data = {"member": number, "rule": rule.id, "when": rule.when, "message": rule.message, "because": reason}
        return Event(event_id(type_, f"{rule.id}/{number}/{cause}"), type_, number, time, data)


def _consented(conn: Connection, found: list[Event]) -> list[Event]:
    """The member rules' events ``found`` for members who gave their marketing consent (one query)."""
    numbers = {str(e.data["member"]) for e in found}
    if not numbers:
        return found
    m = _members.c
    query = select(m.number).where(m.number.in_(numbers), m.marketing_consent.is_(True))
    consented = set(conn.execute(query).scalars())
    return [e for e in found if e.data["member"] in consented]


# Displays and event commands ------------------------------------------------------------------------------------


class DisplayRule:
    """Shows price and stock on the shelf displays of the settings when a level they show changes."""

    def __init__(self, settings: Settings) -> None:
        self.displays: dict[tuple[str, str], list[str]] = {}
        for d in settings.displays:
            self.displays.setdefault((d.gtin, d.location), []).append(d.device)

    def wants(self, event: StoredEvent) -> bool:
        """Level changes of a product and location a display shows, and changes of a product shown."""
        if event.type == STOCK_CHANGED:
            return (event.data["gtin"], event.data["location"]) in self.displays
        return event.type == PRODUCT_CHANGED and any(gtin == event.subject for gtin, _ in self.displays)

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """A DisplayText with the product's name, price and level, to each display of it that the event concerns."""
        gtin = str(event.data["gtin"])
        places = [str(event.data["location"])] if event.type == STOCK_CHANGED else [
            loc for g, loc in self.displays if g == gtin]  # fmt: skip
        p, lv = _products.c, _levels.c
        found = conn.execute(select(p.id, p.name, p.price, p.currency).where(p.gtin == gtin)).first()
        if found is None:
            return Outcome()
        product, name, price, currency = found
        query = select(lv.location_id, lv.quantity).where(lv.product_id == product, lv.location_id.in_(places))
        levels = {loc: n for loc, n in conn.execute(query)}
        commands: list[tuple[str, Command]] = []
        for location in places:
            command = DisplayText(f"{name}: {levels.get(location, 0)} in stock", price=price, currency=currency)
            commands += [(device, command) for device in self.displays[(gtin, location)]]
        return Outcome(commands=commands)


class EventCommandRule:
    """Sends the settings' commands when their events are written: ``event_commands`` (lock the door on an unpaid
    exit), and each sensor rule's ``command`` when that rule raises its alert."""

    def __init__(self, settings: Settings) -> None:
        self.on: list[tuple[str, str | None, str | None, CommandSettings]] = [
            (c.on, c.subject, None, c.command) for c in settings.event_commands
        ]
        self.on += [("silentgw.sensor.alert", r.sensor, r.id, r.command) for r in settings.sensor_rules if r.command]

    def wants(self, event: StoredEvent) -> bool:
        """Events some command is sent on."""
        return any(self._fits(event, on, subject, rule) for on, subject, rule, _ in self.on)

    def handle(self, conn: Connection, event: StoredEvent) -> Outcome:
        """The commands of every entry that fits."""
        return Outcome(commands=[(c.device, command_of(c)) for on, subject, rule, c in self.on
                                 if self._fits(event, on, subject, rule)])  # fmt: skip

    @staticmethod
    def _fits(event: StoredEvent, on: str, subject: str | None, rule: str | None) -> bool:
        return (matches(event.type, [on]) and (subject is None or event.subject == subject)
                and (rule is None or event.data.get("rule") == rule))  # fmt: skip
