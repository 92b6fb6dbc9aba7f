"""The shop floor of the fault tests: where every tag really is (the truth the gateway is checked against), and the
Zebra readers that read it, publishing what a Zebra FX reader's IoT Connector publishes.

A :class:`ZebraReader` behaves as the hardware does. While powered it inventories the tags in front of its antennas
round after round (every ``period`` seconds), publishing each round's SIMPLE tag data events as batched output (one
JSON array of at most fifty events) at QoS 1 from a persistent session with a fixed client id, and a heartbeat on its
management events topic every ``heartbeat`` seconds (QoS 0, as Zebra publishes it). A one-shot read (a pallet through
a dock door portal) is published once, side by side, as the portal's antennas see it. Powered off it sends nothing:
no reads, no heartbeats, and its TCP connection simply closes, with no DISCONNECT.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from silentgw.drivers.observations import TagRead
from silentgw.gateway.identity import encode_sgtin
from silentgw.simulator.demo_store import DemoProduct
from silentgw.simulator.mqtt_devices import zebra_event
from silentgw.simulator.truth import Sale, SimItem, Truth, What

__all__ = ["Floor", "ZebraReader", "item"]

BATCH = 50
"""Tag data events per message: a reader's batched output."""


def item(product: DemoProduct, serial: int) -> SimItem:
    """Item ``serial`` of ``product``, as the gateway keys it."""
    epc = encode_sgtin(gtin=product.gtin, serial=str(serial), company_prefix_length=len(product.company_prefix))
    return SimItem(epc.upper(), f"(01){product.gtin}(21){serial}", product.gtin, product.price)


class Floor:
    """The truth, shared by the test (which moves items) and the readers' threads (which read them)."""

    def __init__(self, locations: Mapping[str, str]) -> None:
        self.truth = Truth()
        self.locations = dict(locations)
        """Zone id -> its location id; zones no antenna looks at (a staging area) included."""
        self.lock = threading.Lock()

    def place(self, items: Sequence[SimItem], zone: str | None, what: What) -> None:
        """Put ``items`` in ``zone`` (None: out of the store)."""
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            for one in items:
                self.truth.place(one, zone, now, what)

    def sell(self, items: Sequence[SimItem]) -> None:
        """The items leave the store as one paid sale."""
        now = dt.datetime.now(dt.UTC)
        with self.lock:
            for one in items:
                self.truth.place(one, None, now, "sold")
            self.truth.sales.append(Sale(now, None, tuple(i.epc for i in items), Decimal(sum(i.price for i in items))))

    def in_zone(self, zone: str) -> list[str]:
        """The EPCs really in ``zone`` now."""
        with self.lock:
            return self.truth.in_zone(zone)

    def stock(self) -> dict[tuple[str, str], int]:
        """How many items of each GTIN really are at each location (what GET /api/v1/stock should say)."""
        with self.lock:
            levels = Counter((self.truth.items[epc].gtin, self.locations[z]) for epc, z in self.truth.location.items()
                             if z is not None)  # fmt: skip
        return dict(levels)

    def sales(self) -> list[frozenset[str]]:
        """The EPCs of each sale, in any order."""
        with self.lock:
            return sorted((frozenset(s.items) for s in self.truth.sales), key=sorted)


class ZebraReader:
    """A Zebra FX reader (IoT Connector) reading the tags of ``floor`` in the zones its antennas look at."""

    def __init__(self, name: str, *, port: int, floor: Floor, antennas: Mapping[int, str],
                 rssi: Mapping[str, float] | None = None, period: float = 0.5,
                 heartbeat: float = 1.0) -> None:  # fmt: skip
        self.name = name
        self.port = port
        self.floor = floor
        self.antennas = dict(antennas)
        self.rssi = dict(rssi or {})
        self.period = period
        self.heartbeat = heartbeat
        self.data_topic = f"zebra/{name}/data"
        self.events_topic = f"zebra/{name}/events"
        self.client_id = f"zebra-{name}"
        self._events = 0
        self._lock = threading.Lock()
        self._client: paho.Client | None = None
        self._off = threading.Event()
        self._thread: threading.Thread | None = None

    def settings(self, broker_port: int, *, extra: str = "") -> str:
        """The ``driver`` table of this reader in the gateway's settings: a persistent MQTT 5 session at QoS 1."""
        return (f'{{ kind = "zebra-iotc", port = {broker_port}, data_topic = "{self.data_topic}", '
                f'events_topic = "{self.events_topic}", client_id = "silentgw-{self.name}", clean_start = false, '
                f"session_expiry = 3600, qos = 1{extra} }}")  # fmt: skip

    def power_on(self) -> None:
        """Boot: connect with the same client id (its session resumes) and start reading."""
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False,
                             protocol=MQTTProtocolVersion.MQTTv311)  # fmt: skip
        client.reconnect_delay_set(min_delay=1, max_delay=1)  # the IoT Connector retries its broker every second
        client.connect_async("127.0.0.1", self.port, keepalive=10)
        client.loop_start()
        self._client = client
        self._off.clear()
        self._thread = threading.Thread(target=self._inventory, name=f"reader {self.name}", daemon=True)
        self._thread.start()

    def power_off(self) -> None:
        """Power cut: reading stops, nothing more is sent, the connection drops without a DISCONNECT."""
        self._off.set()
        if self._thread is not None:
            self._thread.join()
        client, self._client = self._client, None
        if client is not None:
            client.loop_stop()
            sock = client.socket()
            if sock is not None:
                sock.close()

    def pass_through(
        self, epcs: Sequence[str], sides: tuple[int, int], *, reads: int = 2
    ) -> list[paho.MQTTMessageInfo]:
        """A one-shot pass through a portal: ``reads`` rounds of ``epcs`` on the antenna port ``sides[0]``, then as
        many on ``sides[1]``; the messages' publish infos (``wait_for_publish`` waits for the broker's PUBACK)."""
        infos = []
        for port in sides:
            for _ in range(reads):
                infos += self._publish([self._read(epc, port) for epc in epcs])
                time.sleep(0.05)
        return infos

    def _read(self, epc: str, port: int) -> TagRead:
        return TagRead(epc, self.name, port, self.rssi.get(self.antennas[port], -55.0), dt.datetime.now(dt.UTC))

    def _publish(self, reads: Sequence[TagRead]) -> list[paho.MQTTMessageInfo]:
        client = self._client
        assert client is not None, f"reader {self.name} is powered off"
        infos = []
        for start in range(0, len(reads), BATCH):
            with self._lock:
                events = []
                for read in reads[start : start + BATCH]:
                    self._events += 1
                    events.append(zebra_event(read, self._events))
            infos.append(client.publish(self.data_topic, b"[" + b",".join(events) + b"]", qos=1))
        return infos

    def _inventory(self) -> None:
        beat = 0.0
        while not self._off.is_set():
            started = time.monotonic()
            reads = [self._read(epc, port) for port, zone in self.antennas.items() for epc in self.floor.in_zone(zone)]
            if reads:  # a round that reads nothing publishes nothing
                self._publish(reads)
            if started - beat >= self.heartbeat and self._client is not None:
                beat = started
                stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
                body = {"type": "heartbeat", "timestamp": stamp, "data": {"eventNum": self._events}}
                self._client.publish(self.events_topic, orjson.dumps(body), qos=0)
            self._off.wait(max(0.0, self.period - (time.monotonic() - started)))
