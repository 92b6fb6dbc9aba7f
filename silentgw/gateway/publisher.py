"""The MQTT sink: the outbox's events out to the broker, at QoS 1, never more in flight than paho can number.

Topics (``{site}`` is the site id):

- ``silentgw/{site}/events/{type}``: every event as a CloudEvents 1.0 JSON message, QoS 1, not retained
  (``type`` is the full event type, e.g. ``silentgw/store-1/events/silentgw.item.received``; subscribe to
  ``silentgw/store-1/events/+`` for all of them);
- ``silentgw/{site}/state/stock/{gtin}/{location}`` (from ``silentgw.stock.changed``) and
  ``silentgw/{site}/state/devices/{device}`` (from ``silentgw.device.*``): the current state, retained, so a
  subscriber arriving late learns it at once;
- ``silentgw/{site}/status``: ``{"state": "online"}`` retained while the gateway is connected, and the broker
  publishes the last will ``{"state": "offline"}`` (retained) if the connection is lost without a goodbye.

Delivery is at least once: :meth:`MqttSink.deliver` returns only when the broker has acknowledged (PUBACK) every
message of the batch, and the dispatcher moves the sink's cursor only then. paho-mqtt numbers QoS 1 messages with
16-bit packet ids and, once more than 65,535 wait in it unacknowledged, stops publishing for good (measured in
``tests/integration/outbox/test_mqtt_sink.py``); so the sink hands paho at most ``in_flight`` messages at a time
and the next ones as acknowledgements come back. A connection lost in the middle of a batch, or acknowledgements
that do not come within ``ack_timeout``, fail the batch: the client is thrown away with whatever paho still held
(so paho's queue never grows across outages), and the dispatcher sends the batch again on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Sequence

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from silentgw.drivers.mqtt.client import secure
from silentgw.gateway.config import MqttSettings
from silentgw.gateway.events import DEVICE, STOCK_CHANGED, StoredEvent, cloudevent
from silentgw.gateway.outbox import SinkError

__all__ = ["MqttSink", "topics_of"]

logger = logging.getLogger(__name__)


def topics_of(event: StoredEvent, site: str) -> list[tuple[str, bool]]:
    """Where ``event`` goes: (topic, retained) pairs; the event topic first."""
    found = [(f"silentgw/{site}/events/{event.type}", False)]
    if event.type == STOCK_CHANGED:
        found.append((f"silentgw/{site}/state/stock/{event.data['gtin']}/{event.data['location']}", True))
    elif event.type.startswith(DEVICE):
        found.append((f"silentgw/{site}/state/devices/{event.subject}", True))
    return found


class _Acks:
    """Packet ids the broker has acknowledged, told to asyncio from paho's network thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.lock = threading.Lock()

    def expect(self, info: paho.MQTTMessageInfo) -> asyncio.Future[None]:
        future = self.loop.create_future()
        with self.lock:
            self.waiting[info.mid] = future
        if info.is_published():  # acknowledged before we were listening
            self._done(info.mid)
        return future

    def acked(self, mid: int) -> None:  # paho's thread
        if self.loop.is_closed():
            return  # an acknowledgement arriving after the gateway stopped: nobody waits for it
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            self.loop.call_soon_threadsafe(self._done, mid)

    def _done(self, mid: int) -> None:
        with self.lock:
            future = self.waiting.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def fail(self, reason: str) -> None:
        with self.lock:
            waiting, self.waiting = self.waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(SinkError(reason))


class MqttSink:
    """Publishes events to the broker of ``settings`` for site ``site``; a :class:`~silentgw.gateway.outbox.Sink`."""

    name = "mqtt"

    def __init__(self, settings: MqttSettings, site: str, *, source: str, ack_timeout: float = 10.0) -> None:
        self.settings = settings
        self.site = site
        self.source = source
        """The CloudEvents ``source`` of every event (the gateway's URI)."""
        self.ack_timeout = ack_timeout
        self.status_topic = f"silentgw/{site}/status"
        self._client: paho.Client | None = None
        self._acks: _Acks | None = None
        self._lost: str | None = None
        self.published = 0

    def wants(self, event: StoredEvent) -> bool:
        """Every event goes to the broker."""
        return True

    async def deliver(self, events: Sequence[StoredEvent]) -> None:
        """Publish ``events`` in order; return once the broker has acknowledged every message."""
        client, acks = await self._connection()
        window = asyncio.Semaphore(self.settings.in_flight)
        pending: list[asyncio.Future[None]] = []
        try:
            for event in events:
                body = orjson.dumps(cloudevent(event, source=self.source))
                for topic, retain in topics_of(event, self.site):
                    async with asyncio.timeout(self.ack_timeout):  # the window frees as acknowledgements come
                        await window.acquire()
                    if self._lost is not None or not client.is_connected():
                        raise SinkError(f"connection to the broker lost: {self._lost or 'not connected'}")
                    info = client.publish(topic, body if not retain else _state(event), qos=1, retain=retain)
                    if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                        raise SinkError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
                    future = acks.expect(info)
                    future.add_done_callback(lambda _: window.release())
                    pending.append(future)
            async with asyncio.timeout(self.ack_timeout):
                await asyncio.gather(*pending)
        except BaseException as exc:
            for future in pending:
                if not future.done():
                    future.cancel()
            reason = "no acknowledgement in time" if isinstance(exc, TimeoutError) else str(exc)
            if not isinstance(exc, asyncio.CancelledError):
                self._drop(reason)
                if not isinstance(exc, SinkError):
                    raise SinkError(reason) from exc
            raise
        self.published += len(pending)

    async def _connection(self) -> tuple[paho.Client, _Acks]:
        if self._client is not None and self._acks is not None and self._lost is None:
            return self._client, self._acks
        self._drop("reconnecting")
        s = self.settings
        loop = asyncio.get_running_loop()
        acks = _Acks(loop)
        connected = asyncio.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id or f"silentgw-{self.site}-events-{uuid.uuid4().hex[:6]}",
            protocol=paho.MQTTv5 if s.protocol == "5" else paho.MQTTv311,
            reconnect_on_failure=False,  # a lost connection fails the batch; the dispatcher retries with backoff
        )
        client.max_inflight_messages_set(s.in_flight + 1)  # the window, and the status message
        client.max_queued_messages_set(s.in_flight + 1)
        secure(client, s)
        client.will_set(self.status_topic, orjson.dumps({"state": "offline"}), qos=1, retain=True)

        def on_connect(c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            if not rc.is_failure:
                loop.call_soon_threadsafe(connected.set)
            else:
                self._lost = f"refused: {rc}"
                loop.call_soon_threadsafe(connected.set)

        def on_disconnect(c: paho.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
            self._lost = f"disconnected: {rc}"
            acks.fail(f"connection to the broker lost ({rc})")
            loop.call_soon_threadsafe(connected.set)

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        client.on_publish = lambda c, u, mid, rc, p: acks.acked(mid)
        self._lost = None
        try:
            await asyncio.to_thread(client.connect, s.host, s.port, s.keepalive)
        except (OSError, ssl.SSLError) as exc:
            raise SinkError(f"cannot reach the MQTT broker {s.host}:{s.port}: {exc}") from exc
        sock = client.socket()
        if isinstance(
            sock, socket.socket
        ):  # small QoS 1 writes must not wait on Nagle's algorithm for the broker's TCP ack
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.loop_start()
        self._client, self._acks = client, acks
        try:
            async with asyncio.timeout(s.connect_timeout):
                await connected.wait()
        except TimeoutError:
            self._drop("no CONNACK")
            raise SinkError(f"no CONNACK from {s.host}:{s.port} in {s.connect_timeout} s") from None
        if self._lost is not None:
            reason = self._lost
            self._drop(reason)
            raise SinkError(f"the broker {s.host}:{s.port} {reason}")
        client.publish(self.status_topic, orjson.dumps({"state": "online"}), qos=1, retain=True)
        logger.info("publishing events to %s:%d as silentgw/%s/events/...", s.host, s.port, self.site)
        return client, acks

    def _drop(self, reason: str) -> threading.Thread | None:
        """Throw the client away (and what paho still held for it); the next batch connects afresh.

        paho's network thread is ended on a thread of its own, the one returned: with a broker that stopped reading
        (its host gone without a word), the goodbye waits behind what paho still has to write, and the thread ends
        only when the keep-alive runs out, tens of seconds during which the event loop must go on.
        """
        client, self._client = self._client, None
        if self._acks is not None:
            self._acks.fail(reason)
        self._acks = None
        if client is None:
            return None
        client.on_disconnect = None
        client.on_publish = None  # what it still acknowledges belongs to batches already failed
        ending = threading.Thread(target=_end, args=(client,), name=f"mqtt sink {self.site}: end", daemon=True)
        ending.start()
        return ending

    async def close(self) -> None:
        """Say offline (retained) and disconnect (waiting at most ``ack_timeout`` for paho's thread to end)."""
        client = self._client
        if client is not None and client.is_connected():
            info = client.publish(self.status_topic, orjson.dumps({"state": "offline"}), qos=1, retain=True)
            await asyncio.to_thread(info.wait_for_publish, 2.0)
        ending = self._drop("closing")
        if ending is not None:
            await asyncio.to_thread(ending.join, self.ack_timeout)


def _end(client: paho.Client) -> None:
    client.disconnect()  # no will: a clean goodbye. A dead connection just closes.
    client.loop_stop()


def _state(event: StoredEvent) -> bytes:
    """The retained state message of an event: its data, with the time it became true and the event's id."""
    return orjson.dumps({**event.data, "time": event.time.isoformat(), "event": event.id})
