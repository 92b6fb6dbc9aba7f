"""The rules of the settings on SQLite and PostgreSQL: a warm fridge holds back its goods, members get their
offers, and shelf displays and locks are sent their commands through a real driver over the real broker."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError

from silentgw.drivers.observations import SensorReading
from silentgw.gateway import checkout, events
from silentgw.gateway.actions import Actions
from silentgw.gateway.app import run_gateway
from silentgw.gateway.config import Settings
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.identity import Epc, decode
from silentgw.gateway.rules import DisplayRule, EventCommandRule, MemberRules, SensorRules
from silentgw.gateway.store import orders, outbox
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.store.models import Event, Item, Member
from silentgw.gateway.store.sales import SqlSales
from silentgw.gateway.transitions import Arrived
from silentgw.simulator.demo_store import DEMO_MEMBERS, DEMO_PRODUCTS
from tests.mqtt_broker import broker_up
from tests.tags import at, tag

pytestmark = pytest.mark.anyio

MILK, TEE = DEMO_PRODUCTS[0], DEMO_PRODUCTS[14]


def stored(engine: Engine, prefix: str) -> list[StoredEvent]:
    with engine.connect() as conn:
        return [e for e in outbox.read(conn, 0, limit=10_000) if e.type.startswith(prefix)]


def with_rules(settings: Settings, **rules: Any) -> Settings:
    return Settings.model_validate({**settings.model_dump(by_alias=True), **rules})


def test_a_warm_fridge_alerts_holds_its_goods_back_from_allocation_and_clears(
    settings: Settings, store: Engine
) -> None:
    rule = {"id": "dairy-warm", "sensor": "fridge-1", "quantity": "temperature", "above": 5.0, "hysteresis": 0.5,
            "for": 600, "location": "aisle-1", "disposition": "damaged"}  # fmt: skip
    settings = with_rules(settings, sensor_rules=[rule])
    ledger = SqlStockLedger(store)
    ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(3)], ledger.zones())
    ledger.apply([Arrived(tag(TEE, 0), "shelf-2a", at(0))], ledger.zones())  # another aisle: not held
    watch = SensorRules(settings, store)

    def read(minute: float, value: float) -> None:
        watch([SensorReading("fridge-1", "temperature", value, "°C", at(minute))])

    read(0, 4.0)
    read(5, 5.6)
    read(14, 6.1)
    assert stored(store, "silentgw.sensor.") == []  # nine minutes: not yet
    read(15, 6.3)
    (alert,) = stored(store, "silentgw.sensor.")
    assert alert.type == "silentgw.sensor.alert"
    assert (alert.data["value"], alert.data["threshold"], alert.data["unit"]) == (6.3, 5.0, "°C")
    assert sorted(alert.data["items"]) == sorted(tag(MILK, n) for n in range(3))
    with store.connect() as conn:
        held = {k: d for k, d in conn.execute(select(Item.key, Item.disposition))}
    assert sorted(d for d in held.values() if d) == ["damaged"] * 3
    assert held[str(_key(tag(TEE, 0)))] is None
    with store.begin() as conn:  # damaged milk is not allocated to an order
        order, _ = orders.create(conn, lines=[orders.OrderLineIn(2, gtin=MILK.gtin)], ship_to={}, reference=None,
                                 time=at(16))  # fmt: skip
        assert orders.pick_list(conn, order) == []
    read(20, 4.8)
    read(25, 4.4)
    assert [e.type for e in stored(store, "silentgw.sensor.")] == ["silentgw.sensor.alert", "silentgw.sensor.cleared"]


@contextmanager
def refusing_events(engine: Engine) -> Iterator[None]:
    """The database refuses to store events (a trigger raises, as a full disk or a lost standby would)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN "
                              "SELECT RAISE(ABORT, 'no room for events'); END"))  # fmt: skip
        else:
            conn.execute(text("CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'no room for events'; END $$"))  # fmt: skip
            conn.execute(text("CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW "
                              "EXECUTE FUNCTION refuse_events()"))  # fmt: skip
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_events" + (" ON events" if conn.dialect.name != "sqlite" else "")))
            if conn.dialect.name != "sqlite":
                conn.execute(text("DROP FUNCTION refuse_events()"))


def test_an_alert_or_clearing_whose_write_failed_is_told_by_the_next_reading(settings: Settings, store: Engine) -> None:
    rule = {"id": "dairy-warm", "sensor": "fridge-1", "quantity": "temperature", "above": 5.0, "hysteresis": 0.5,
            "for": 600}  # fmt: skip
    watch = SensorRules(with_rules(settings, sensor_rules=[rule]), store)

    def read(minute: float, value: float) -> None:
        watch([SensorReading("fridge-1", "temperature", value, "°C", at(minute))])

    read(0, 6.0)
    with refusing_events(store), pytest.raises(DBAPIError, match="no room for events"):
        read(10, 6.2)  # ten minutes warm: the alert, which cannot be written
    assert stored(store, "silentgw.sensor.") == []
    read(11, 6.3)
    (alert,) = stored(store, "silentgw.sensor.")
    assert (alert.type, alert.data["value"]) == ("silentgw.sensor.alert", 6.3)
    with refusing_events(store), pytest.raises(DBAPIError, match="no room for events"):
        read(20, 4.0)  # back: the clearing, which cannot be written
    read(21, 4.2)
    assert [(e.type, e.data["value"]) for e in stored(store, "silentgw.sensor.")] == [
        ("silentgw.sensor.alert", 6.3), ("silentgw.sensor.cleared", 4.2)]  # fmt: skip


def _key(epc: str) -> str:
    decoded = decode(epc)
    assert isinstance(decoded, Epc)
    return decoded.key


async def test_member_rules_make_offers_on_purchases_returns_segment_changes_and_birthdays(
    settings: Settings, store: Engine
) -> None:
    rules = [
        {"id": "big-basket", "when": "purchase", "min_total": "10", "action": "offer", "message": "10% off"},
        {"id": "welcome-back", "when": "first_visit", "days": 30, "message": "Welcome back!"},
        {"id": "champion", "when": "segment_change", "segment": "Champions", "message": "Thank you, champion"},
        {"id": "birthday", "when": "birthday", "action": "offer", "message": "Happy birthday: a free coffee"},
    ]
    settings = with_rules(settings, member_rules=rules)
    members = Members(settings, store)
    number = DEMO_MEMBERS[0][0]
    ledger = SqlStockLedger(store)
    ledger.apply([Arrived(tag(TEE, n), "shelf-2a", at(n)) for n in range(3)], ledger.zones())

    members.sell(number, [0], at(0))  # a first purchase: 19.95, a big basket and a first visit
    await members.run_rules()
    offers = [(e.data["rule"], e.data["member"]) for e in stored(store, "silentgw.member.")]
    assert sorted(offers) == [("big-basket", number), ("welcome-back", number)]
    await members.run_rules()  # the same sale seen again: nothing new
    assert len(stored(store, "silentgw.member.")) == 2

    members.sell(number, [1], at(60 * 24 * 10))  # ten days later: not a return after 30 days; no longer New
    await members.run_rules()
    found = [e.data for e in stored(store, "silentgw.member.")]
    assert sorted(d["rule"] for d in found) == ["big-basket", "big-basket", "champion", "welcome-back"]
    # The only buyer, twice, scores 5, 5, 5 against members who bought nothing: a champion now.
    assert next(d for d in found if d["rule"] == "champion")["because"] == {"from": "New", "to": "Champions"}

    # Fifty-five days on, the daily look: a birthday today (once, however often it looks), no segment change.
    later = at(60 * 24 * 55)
    local = later.astimezone(members.rules.zone).date()
    with store.begin() as conn:
        conn.execute(update(Member).where(Member.number == number).values(birthday=local.replace(year=1990)))
    members.look(later)
    members.look(later)  # twice a day is once
    by_rule = {e.data["rule"]: e for e in stored(store, "silentgw.member.")}
    assert by_rule["birthday"].type == "silentgw.member.offer"
    assert by_rule["birthday"].data["member"] == number
    assert len([e for e in stored(store, "silentgw.member.") if e.data["rule"] == "birthday"]) == 1
    assert len(stored(store, "silentgw.member.")) == 5
    with store.connect() as conn:
        segment = conn.execute(select(Member.segment).where(Member.number == number)).scalar_one()
    assert segment == "Champions"


async def test_without_marketing_consent_no_offer_and_without_tracking_consent_no_sale_on_the_record(
    settings: Settings, store: Engine
) -> None:
    rules = [
        {"id": "big-basket", "when": "purchase", "min_total": "10", "action": "offer", "message": "10% off"},
        {"id": "birthday", "when": "birthday", "action": "offer", "message": "Happy birthday: a free coffee"},
    ]
    members = Members(with_rules(settings, member_rules=rules), store)
    quiet, untracked, willing = (number for number, _, _ in DEMO_MEMBERS[:3])
    later = at(60 * 24 * 3)
    birthday = later.astimezone(members.rules.zone).date().replace(year=1990)
    with store.begin() as conn:
        conn.execute(update(Member).where(Member.number.in_([quiet, willing])).values(birthday=birthday))
        conn.execute(update(Member).where(Member.number == quiet).values(marketing_consent=False))
        conn.execute(update(Member).where(Member.number == untracked).values(tracking_consent=False))
    ledger = SqlStockLedger(store)
    ledger.apply([Arrived(tag(TEE, n), "shelf-2a", at(n)) for n in range(3)], ledger.zones())
    for n, number in enumerate((quiet, untracked, willing)):
        members.sell(number, [n], at(n))  # 19.95 each: a big basket
    await members.run_rules()
    members.look(later)  # the birthday of the quiet one and of the willing one
    offers = sorted((e.data["rule"], e.data["member"]) for e in stored(store, "silentgw.member."))
    assert offers == [("big-basket", willing), ("birthday", willing)]
    assert members.segment(quiet) == members.segment(willing)  # kept all the same: only the offers are consented
    assert next(e.data["because"] for e in stored(store, "silentgw.member.") if e.data["rule"] == "birthday") == {
        "birthday": f"{birthday:%m-%d}"  # not the year: an offer needs no age
    }
    with store.connect() as conn:
        found = {n: (p, c) for n, p, c in conn.execute(select(Member.number, Member.purchases, Member.points))}
        linked = conn.execute(text("SELECT count(*) FROM sales WHERE member_id IS NOT NULL")).scalar_one()
    assert found[untracked] == (0, int(TEE.price))  # the points, and nothing on the record
    assert found[quiet] == (1, int(TEE.price))
    assert linked == 2
    assert [e.data["member"] for e in stored(store, "silentgw.sale.")] == [quiet, None, willing]


class Members:
    """The member rules of ``settings`` on the store, with its sales: sell, run the rules, look."""

    def __init__(self, settings: Settings, store: Engine) -> None:
        self.store = store
        self.sales = SqlSales(store, timezone=settings.site.timezone)
        self.rules = MemberRules(settings, self.sales)
        self.actions = Actions(store, [self.rules])

    def sell(self, number: str, serials: list[int], when: dt.datetime) -> None:
        """Member ``number`` buys the T-shirts of ``serials`` at the checkout, at ``when``."""
        opened = when - dt.timedelta(minutes=2)
        epcs = tuple(sorted(tag(TEE, serial) for serial in serials))
        sale = checkout.Sale(checkout.sale_id("checkout-1", opened), number, epcs, when, "checkout-1", opened)
        decoded = [decode(epc) for epc in epcs]
        assert all(isinstance(d, Epc) for d in decoded)
        self.sales.record(sale, prices=self.sales.prices(d for d in decoded if isinstance(d, Epc)))

    async def run_rules(self) -> None:
        """The Actions sink takes every event it wants (again, if it took them before)."""
        with self.store.connect() as conn:
            pending = [e for e in outbox.read(conn, 0, limit=10_000) if self.actions.wants(e)]
        await self.actions.deliver(pending)

    def look(self, now: dt.datetime) -> None:
        """The daily look, as the gateway runs it."""
        with self.store.begin() as conn:
            outbox.append(conn, self.rules.daily(conn, now))

    def segment(self, number: str) -> str | None:
        with self.store.connect() as conn:
            found: str | None = conn.execute(select(Member.segment).where(Member.number == number)).scalar_one()
        return found


async def test_between_looks_a_sales_member_is_ranked_against_the_members_of_the_last_look(
    settings: Settings, store: Engine
) -> None:
    rules = [{"id": "champion", "when": "segment_change", "segment": "Champions", "message": "Thank you, champion"}]
    members = Members(with_rules(settings, member_rules=rules), store)
    ada, *others = [number for number, _, _ in DEMO_MEMBERS]
    members.look(at(0))  # nobody has bought yet
    for n, number in enumerate(others):  # each of the others buys three T-shirts once, the day after
        members.sell(number, [100 + 3 * n, 101 + 3 * n, 102 + 3 * n], at(60 * 24 + n))
    members.sell(ada, [1], at(60 * 24 * 5))  # Ada buys one T-shirt, twice
    members.sell(ada, [2], at(60 * 24 * 6))
    await members.run_rules()
    # Against the look (twelve members, none had bought), Ada's two purchases rank above every member: 5, 5, 5, a
    # champion. (Against everyone's figures now, her 39.90 would be the least spent: Loyal, not a champion.)
    (told,) = stored(store, "silentgw.member.")
    assert (told.data["member"], told.data["because"]) == (ada, {"from": "New", "to": "Champions"})
    assert members.segment(ada) == "Champions"
    # The next look ranks everyone exactly: Ada has spent the least of the buyers.
    members.look(at(60 * 24 * 7))
    assert members.segment(ada) == "Loyal"


class Listener:
    """Keeps what is published on a topic of the shared broker."""

    def __init__(self, topic: str) -> None:
        self.got: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = lambda c, u, m: self.got.append(orjson.loads(m.payload))
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_displays_show_price_and_stock_and_an_unpaid_exit_locks_the_door(
    settings: Settings, store: Engine
) -> None:
    if not broker_up(1883):
        pytest.skip("no Mosquitto on 127.0.0.1:1883")
    site = f"rules-{uuid.uuid4().hex[:6]}"
    mqtt = {"kind": "generic-json", "topics": [f"{site}/devices/#"], "command_topic": f"{site}/cmd/{{device}}"}
    devices = [
        {"id": "display-1", "kind": "display", "location": "aisle-1", "driver": mqtt},
        {"id": "door-1", "kind": "lock", "location": "front", "driver": mqtt},
    ]
    settings = with_rules(
        settings, devices=devices,
        displays=[{"device": "display-1", "gtin": MILK.gtin, "location": "aisle-1"}],
        event_commands=[{"on": "silentgw.alarm.unpaid_exit", "command": {"device": "door-1", "action": "lock"}}],
    )  # fmt: skip
    listener = Listener(f"{site}/cmd/#")
    ledger = SqlStockLedger(store)
    try:
        async with run_gateway(settings) as gateway:
            for _ in range(200):
                if all(gateway.health(d).state == "up" for d in ("display-1", "door-1")):
                    break
                await asyncio.sleep(0.02)
            actions = Actions(store, [DisplayRule(settings), EventCommandRule(settings)], send=gateway.send)

            ledger.apply([Arrived(tag(MILK, n), "shelf-1a", at(n)) for n in range(4)], ledger.zones())
            with store.begin() as conn:
                outbox.append(conn, [events.unpaid_exit(tag(TEE, 9), "exit", at(5))])
            with store.connect() as conn:
                await actions.deliver([e for e in outbox.read(conn, 0, limit=10_000) if actions.wants(e)])
            for _ in range(200):
                if len(listener.got) >= 2:
                    break
                await asyncio.sleep(0.02)
    finally:
        listener.close()
    assert {"command": "display", "text": "Whole milk 1 L: 4 in stock", "price": "1.29", "currency": "EUR"} in (
        listener.got
    )
    assert {"command": "lock"} in listener.got
    with store.connect() as conn:
        assert conn.execute(select(Event.type).where(Event.type == "silentgw.stock.changed")).first() is not None
