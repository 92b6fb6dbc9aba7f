"""The store the fault tests run: a shelf, a dock door portal into the backroom, a checkout and an exit, read by three
Zebra readers over a private Mosquitto, with `silentgw run` in its own process; and the checks every scenario ends on.

A scenario opens the store (the shelf stocked and counted), plays a burst (a shopper's sale, a pallet through the dock
door, a fault somewhere in it, another sale) and settles: the gateway must then say what the floor's truth says.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho

from silentgw.simulator.demo_store import DEMO_PRODUCTS
from silentgw.simulator.truth import SimItem
from tests.faults.floor import Floor, ZebraReader, item
from tests.faults.gateway import Gateway, eventually
from tests.faults.receivers import EventSubscriber
from tests.mqtt_broker import PrivateBroker

__all__ = ["ABSENCE", "FaultStore"]

SHELF, PALLET = (DEMO_PRODUCTS[0], DEMO_PRODUCTS[12]), DEMO_PRODUCTS[24]
ABSENCE = 8.0
"""Seconds a shelf tag may go unseen (its reader up) before it departs: short, so an outage can outlast it."""
SETTLE = 45.0
"""Seconds the gateway gets to catch up once a fault is over."""

ZONES = {"shelf-1a": "aisle-1", "receiving": "backroom", "dock-door": "backroom", "checkout-1": "front",
         "exit": "front", "staging": "backroom"}  # fmt: skip
"""Zone -> location; nobody reads the staging area where a pallet is left after the dock door."""

LAYOUT = f"""
[[locations]]
id = "store"
name = "Fault store"
kind = "site"

[[locations]]
id = "sales-floor"
name = "Sales floor"
kind = "area"
parent = "store"

[[locations]]
id = "aisle-1"
name = "Aisle 1"
parent = "sales-floor"

[[locations]]
id = "backroom"
name = "Backroom"
kind = "area"
parent = "store"

[[locations]]
id = "front"
name = "Front of store"
kind = "area"
parent = "store"

[[zones]]
id = "shelf-1a"
name = "Aisle 1, shelf A"
kind = "shelf"
location = "aisle-1"
presence = {{ arrival_reads = 2, arrival_window = 3, absence_timeout = {ABSENCE} }}

[[zones]]
id = "receiving"
name = "Receiving bay"
kind = "receiving"
location = "backroom"

[[zones]]
id = "dock-door"
name = "Dock door"
kind = "dock_door"
location = "backroom"

[[zones]]
id = "checkout-1"
name = "Checkout 1"
kind = "checkout"
location = "front"

[[zones]]
id = "exit"
name = "Front exit"
kind = "exit"
location = "front"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FaultStore:
    """The store of one scenario, in ``directory``: its broker, readers, gateway and event subscriber."""

    def __init__(self, directory: Path, broker: PrivateBroker, *, database_url: str | None = None,
                 shelf_driver: str = "") -> None:  # fmt: skip
        self.dir = directory
        self.broker = broker
        self.site = f"faults-{uuid.uuid4().hex[:6]}"
        self.floor = Floor(ZONES)
        port = broker.port
        self.shelf = ZebraReader("reader-shelf", port=port, floor=self.floor, antennas={1: "shelf-1a"})
        self.back = ZebraReader("reader-back", port=port, floor=self.floor,
                                antennas={2: "receiving", 3: "dock-door", 4: "dock-door"})  # fmt: skip
        self.front = ZebraReader("reader-front", port=port, floor=self.floor, rssi={"checkout-1": -45.0},
                                 antennas={1: "checkout-1", 2: "exit", 3: "exit"})  # fmt: skip
        self.readers = (self.shelf, self.back, self.front)
        api = _free_port()
        database_url = database_url or f"sqlite:///{directory / 'store.db'}"
        config = directory / "silentgw.toml"
        config.write_text(f"""
database_url = "{database_url}"

[site]
id = "{self.site}"
name = "Fault store"

[api]
port = {api}

[mqtt]
port = {port}
events = true

[webhooks]
allow_networks = ["127.0.0.1/32"]  # the tests' receiver on this box
{LAYOUT}
[[devices]]
id = "reader-shelf"
kind = "reader"
location = "aisle-1"
driver = {self.shelf.settings(port, extra=shelf_driver)}
antennas = [{{ port = 1, zone = "shelf-1a" }}]

[[devices]]
id = "reader-back"
kind = "reader"
location = "backroom"
driver = {self.back.settings(port)}
antennas = [{{ port = 2, zone = "receiving" }}, {{ port = 3, zone = "dock-door", role = "inner" }},
            {{ port = 4, zone = "dock-door", role = "outer" }}]

[[devices]]
id = "reader-front"
kind = "reader"
location = "front"
driver = {self.front.settings(port)}
antennas = [{{ port = 1, zone = "checkout-1" }}, {{ port = 2, zone = "exit", role = "inner" }},
            {{ port = 3, zone = "exit", role = "outer" }}]
""")
        self.gateway = Gateway(config, port=api)
        self.events: EventSubscriber | None = None

    # --- opening and closing ------------------------------------------------------------------------------------

    def open(self, *, webhook: tuple[str, str] | None = None) -> int:
        """The gateway started, the catalog entered, the readers powered and the shelf stocked and counted; with
        ``webhook`` (url, secret) subscribed first thing, to every event. The sequence number events sent to the
        webhook start after."""
        self.events = EventSubscriber(self.broker.port, self.site)  # subscribed before the first event
        self.gateway.start()
        after = 0
        if webhook is not None:
            answer = self.gateway.api.post("/api/v1/webhooks", json={"url": webhook[0], "secret": webhook[1]})
            assert answer.status_code == 201, answer.text
            after = answer.json()["cursor"]
        for product in (*SHELF, PALLET):
            body = {"gtin": product.gtin, "sku": product.sku, "name": product.name, "price": str(product.price),
                    "currency": "EUR"}  # fmt: skip
            answer = self.gateway.api.post("/api/v1/products", json=body)
            assert answer.status_code == 201, answer.text
        for reader in self.readers:
            reader.power_on()
        self.floor.place([item(p, n) for p in SHELF for n in range(1, 11)], "shelf-1a", "shelved")
        eventually(lambda: self.gateway.stock() == self.floor.stock(), seconds=20, what="the shelf counted")
        return after

    def close(self) -> None:
        """Everything this store started, stopped."""
        for reader in self.readers:
            reader.power_off()
        self.gateway.close()
        if self.events is not None:
            self.events.close()

    # --- what happens in the store ------------------------------------------------------------------------------

    def shop(self, count: int) -> None:
        """A shopper takes ``count`` items off the shelf, lays them on the checkout pad, pays and walks out."""
        basket = [self.floor.truth.items[epc] for epc in sorted(self.floor.in_zone("shelf-1a"))[:count]]
        self.floor.place(basket, "checkout-1", "at_checkout")
        time.sleep(1.5)  # the basket lies on the pad for three of the front reader's rounds
        self.floor.place(basket, None, "picked")
        self.front.pass_through([i.epc for i in basket], sides=(2, 3))  # inner, then outer: out of the store
        self.floor.sell(basket)

    def pallet(self) -> tuple[list[SimItem], list[paho.MQTTMessageInfo]]:
        """A pallet of twelve cases comes in through the dock door (outer antenna, then inner: one pass, read once)
        and is left in the staging area, where no reader looks; its items and the pass's messages."""
        cases = [item(PALLET, 1000 + n) for n in range(12)]
        sent = self.back.pass_through([i.epc for i in cases], sides=(4, 3))
        self.floor.place(cases, "staging", "arrived")
        return cases, sent

    # --- the checks every scenario ends on ----------------------------------------------------------------------

    def settle(self, *, seconds: float = SETTLE) -> None:
        """Once the gateway has caught up: stock and sales as the truth says, no item lost for an outage, and every
        stored event delivered to the MQTT subscriber (duplicates only as repeated ids)."""
        gateway = self.gateway
        truth = self.floor.stock()
        try:
            eventually(lambda: gateway.stock() == truth, seconds=seconds, what="the stock of the truth")
        except AssertionError as exc:
            said = f"the gateway says {gateway.stock()}, the truth is {truth}"
            raise AssertionError(f"{exc}: {said}\n{self._explain()}") from None
        assert gateway.sales() == self.floor.sales(), (
            f"the sales are not the sales made: {gateway.sales()} != {self.floor.sales()}\n{self._explain()}"
        )
        lost = gateway.event_ids("silentgw.item.missing", "silentgw.item.found", "silentgw.alarm.unpaid_exit")
        assert not lost, f"items went missing (or alarmed) for an outage: {self._explain()}"
        self.delivered(self.published, "the MQTT subscriber", seconds=seconds)

    def delivered(self, received: Callable[[], list[str]], who: str, *, after: int = 0,
                  seconds: float = SETTLE) -> None:  # fmt: skip
        """Every event stored after sequence number ``after`` reaches ``who`` (``received()`` lists the ids it got,
        duplicates included), and nothing else does."""
        stored: set[str] = set()

        def arrived() -> set[str]:
            stored.clear()
            stored.update(self.gateway.event_ids(after=after))
            return stored - set(received())

        def none_missing() -> bool:
            return not arrived()

        try:
            eventually(none_missing, seconds=seconds, what=f"every stored event at {who}", every=0.5)
        except AssertionError:
            raise AssertionError(f"{len(arrived())} of {len(stored)} events never reached {who}") from None
        assert set(received()) <= self.gateway.event_ids(after=after), f"{who} got events that were never stored"

    def published(self) -> list[str]:
        """The event ids the MQTT subscriber got, duplicates included."""
        assert self.events is not None, "open the store first"
        return self.events.received()

    def _explain(self) -> str:
        """What the gateway thinks happened to the items, for a failure message."""
        moves = self.gateway.pages("/api/v1/events", type="silentgw.item.*")
        counts: dict[str, int] = {}
        for event in moves:
            counts[event["type"]] = counts.get(event["type"], 0) + 1
        return f"item events {counts}; gateway log:\n{self.gateway.tail(25)}"
