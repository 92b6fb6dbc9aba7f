"""The MQTT I/O every MQTT driver shares: connect, subscribe on connect, hand payloads to asyncio, publish.

paho-mqtt runs the network in a thread of its own. Its message callback does one thing: it appends the raw payload to a
bounded buffer and, only when the driver is waiting on an empty buffer, wakes it (one ``call_soon_threadsafe`` per
burst, not per message: while the driver works it takes whatever has piled up without being woken). Parsing happens on
the event loop, in :func:`serve`. The callback must stay this cheap: Mosquitto as shipped keeps at most 1,000 queued
messages for a subscriber that falls behind and drops the rest, QoS 1 included, so a slow callback loses reads at the
broker where nobody counts them.

**Overflow policy** of the buffer (``max_buffered`` messages): when it is full, the *incoming* message is dropped
(the older ones are already waiting and keep their order), counted, and logged once per run of drops; :func:`serve`
reports each run of drops to the supervisor as a :class:`~silentgw.drivers.observations.Rejected`, so it shows in
the device's health.

**Acknowledged once written**: on a persistent session (``clean_start = false``, QoS 1 or 2) the broker keeps what
the gateway has not acknowledged, so paho's automatic acknowledgement is switched off (``manual_ack``) and each burst
of messages is followed, in the stream, by a :class:`~silentgw.drivers.observations.Receipt` that the read pipeline
confirms once it has written everything before it: a gateway killed mid-burst gets the unwritten messages again when
it reconnects (reads are idempotent, so a message seen twice changes nothing). MQTT 5 tells the broker to send at
most ``max_buffered`` unacknowledged messages (Receive Maximum), so the buffer never overflows; the broker's own cap
applies too (Mosquitto's ``max_inflight_messages`` is 20 as shipped: raise it, or set 0, for a reader's throughput).

paho's own reconnect loop is switched off (``reconnect_on_failure=False``): a lost connection ends the network thread,
:meth:`MqttConnection.receive` raises :class:`~silentgw.drivers.base.DeviceUnavailable`, and the supervisor brings the
driver back with its backoff; every new connection subscribes again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from silentgw.drivers.base import DeviceUnavailable, Emit
from silentgw.drivers.dialect import Parser
from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.mqtt.topics import TopicFilter
from silentgw.drivers.observations import DeviceStatus, Receipt, Rejected
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = ["MqttConnection", "secure", "serve", "subscribe_and_serve"]

logger = logging.getLogger(__name__)

_POLL = 0.005
"""Seconds between looks at the buffer while messages keep coming (the latency this adds under load)."""
_POLLS = 4
"""Looks without a message before the driver goes back to sleeping until paho's thread wakes it."""


def secure(client: paho.Client, settings: MqttSettings) -> None:
    """Set ``client`` up with the TLS and credentials of ``settings`` (the CA, a client certificate, a password)."""
    if settings.tls is not None:
        client.tls_set(
            ca_certs=str(settings.tls.ca_file) if settings.tls.ca_file else None,
            certfile=str(settings.tls.cert_file) if settings.tls.cert_file else None,
            keyfile=str(settings.tls.key_file) if settings.tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(not settings.tls.check_hostname)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password.get_secret_value() if settings.password else None)


class MqttConnection:
    """One connection to the broker, subscribed to ``topics``; an async context manager, used once."""

    def __init__(self, settings: MqttSettings, topics: Sequence[str], *, device: str) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.device = device
        self.dropped = 0
        """Messages dropped because the buffer was full, since the connection opened (only paho's thread writes it)."""
        self._dropped_reported = 0
        self.stray = 0
        """Messages that came in on a topic none of ``topics`` matches, set aside unread (only paho's thread writes)."""
        self._stray_reported = 0
        self._stray_topic = ""
        self._accepts = TopicFilter(self.topics)
        self._buffer: deque[bytes] = deque()
        self.manual_ack = not settings.clean_start and settings.qos > 0
        """Whether messages are acknowledged once written (a persistent session), not when they arrive."""
        self._tokens: deque[tuple[int, int]] = deque()
        """(mid, QoS) of each buffered message, in the buffer's order, when acknowledging by hand."""
        self._limit = settings.max_buffered
        self._dropping = False
        self._idle = False
        self._polls = 0
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._call_soon: Callable[..., object] = lambda *args: None
        self._ready: asyncio.Future[None] | None = None
        self._lost: str | None = None
        self._client = self._build()

    def _build(self) -> paho.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client_id = s.client_id or f"silentgw-{self.device}-{uuid.uuid4().hex[:8]}"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if v5 else s.clean_start,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            reconnect_on_failure=False,  # the supervisor reconnects, with its backoff and its "down" report
            manual_ack=self.manual_ack,
        )
        secure(client, s)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    async def __aenter__(self) -> Self:
        """Connect, subscribe, and return once the broker has acknowledged both."""
        s = self.settings
        self._loop = loop = asyncio.get_running_loop()
        self._call_soon = loop.call_soon_threadsafe
        self._ready = loop.create_future()
        properties = None
        kwargs: dict[str, Any] = {}
        if s.protocol == "5":
            kwargs["clean_start"] = s.clean_start
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
            if s.session_expiry:
                properties.SessionExpiryInterval = s.session_expiry
            if self.manual_ack:  # never more unacknowledged than the buffer holds: nothing dropped here
                properties.ReceiveMaximum = min(65535, s.max_buffered)
        try:
            await asyncio.to_thread(self._client.connect, s.host, s.port, s.keepalive, properties=properties, **kwargs)
        except (OSError, ssl.SSLError) as exc:
            raise DeviceUnavailable(f"cannot reach MQTT broker {s.host}:{s.port}: {exc}") from exc
        self._client.loop_start()
        try:
            async with asyncio.timeout(s.connect_timeout):
                await self._ready
        except BaseException as exc:
            await self.__aexit__(None, None, None)
            if isinstance(exc, TimeoutError):
                raise DeviceUnavailable(f"no CONNACK/SUBACK from {s.host}:{s.port} in {s.connect_timeout} s") from exc
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Disconnect cleanly and stop the network thread."""
        self._client.disconnect()
        # loop_stop joins the thread; off the event loop, as a lost broker may keep it a moment
        await asyncio.shield(asyncio.to_thread(self._client.loop_stop))

    # --- paho's network thread: nothing slow here -------------------------------------------------------------

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            self._settle(f"broker refused the connection: {reason}")
            return
        # subscribing here, on every connect, is what keeps a reconnected driver subscribed
        subscriptions: list[tuple[str, int]] = [(topic, self.settings.qos) for topic in self.topics]
        client.subscribe(subscriptions)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        refused = [topic for topic, r in zip(self.topics, reasons, strict=False) if r.is_failure]
        self._settle(f"broker refused the subscription to {', '.join(refused)}" if refused else None)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if not self._accepts(message.topic):  # an old subscription of a persistent session: not this device's
            self.stray += 1
            self._stray_topic = message.topic
            if self.manual_ack:
                client.ack(message.mid, message.qos)
            return
        buffer = self._buffer
        if len(buffer) >= self._limit:
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                logger.warning("device %s: buffer of %d messages full, dropping new ones", self.device, self._limit)
            return
        if self.manual_ack:  # the token first: receive() pops as many tokens as payloads it saw
            self._tokens.append((message.mid, message.qos))
        buffer.append(message.payload)  # type: ignore[arg-type]  # typed bytes | bytearray; paho slices bytes
        if self._idle:  # the driver waits on an empty buffer: wake it, once; while it works, it finds these itself
            self._idle = False
            self._call_soon(self._wakeup.set)

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._lost = f"lost the MQTT broker {self.settings.host}:{self.settings.port}: {reason}"
        if self._loop is not None and not self._loop.is_closed():
            self._call_soon(self._wakeup.set)
            self._settle(self._lost)

    def _settle(self, error: str | None) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._set_ready, error)

    # --- the event loop ---------------------------------------------------------------------------------------

    def _set_ready(self, error: str | None) -> None:
        if self._ready is not None and not self._ready.done():
            if error is None:
                self._ready.set_result(None)
            else:
                self._ready.set_exception(DeviceUnavailable(error))

    async def receive(self) -> list[bytes]:
        """Every payload buffered so far, oldest first, waiting for one; DeviceUnavailable once the broker is lost."""
        buffer = self._buffer
        while not buffer:
            if self._lost is not None:
                raise DeviceUnavailable(self._lost)
            if self._polls:
                # Traffic a moment ago: look again in a millisecond rather than ask paho's thread to wake us. A
                # wake-up crosses threads (a syscall, a GIL hand-over, a context switch: tens of microseconds), and
                # at thousands of messages a second one per message would cost more than the parsing.
                self._polls -= 1
                await asyncio.sleep(_POLL)
                continue
            self._wakeup.clear()
            self._idle = True
            if buffer:  # appended between the check and the flag: paho saw us busy and will not wake us
                self._idle = False
                break
            await self._wakeup.wait()
        self._polls = _POLLS
        popleft = buffer.popleft
        return [popleft() for _ in range(len(buffer))]

    def receipt(self, count: int) -> Receipt:
        """The receipt of the next ``count`` messages :meth:`receive` handed out (with ``manual_ack``)."""
        tokens = [self._tokens.popleft() for _ in range(count)]
        client = self._client

        def confirm() -> None:  # from the pipeline's thread: paho's ack queues a packet under its own lock
            for mid, qos in tokens:
                client.ack(mid, qos)

        return Receipt(self.device, confirm)

    def take_dropped(self) -> int:
        """Messages dropped since the last call (and the drop log is re-armed)."""
        total = self.dropped
        dropped, self._dropped_reported = total - self._dropped_reported, total
        if dropped:
            self._dropping = False
        return dropped

    def take_stray(self) -> tuple[int, str]:
        """Messages on topics not subscribed since the last call, and the last such topic."""
        total = self.stray
        stray, self._stray_reported = total - self._stray_reported, total
        return stray, self._stray_topic

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Queue ``payload`` on ``topic`` at the configured QoS; DeviceUnavailable when not connected."""
        if self._lost is not None or not self._client.is_connected():
            raise DeviceUnavailable(f"not connected to the MQTT broker: cannot publish to {topic}")
        info = self._client.publish(topic, payload, qos=self.settings.qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise DeviceUnavailable(f"publish to {topic} failed: {paho.error_string(info.rc)}")


async def subscribe_and_serve(
    settings: MqttSettings,
    topics: Sequence[str],
    parser: Parser,
    emit: Emit,
    *,
    device: str,
    clock: Clock = utcnow,
    keep: Callable[[MqttConnection | None], None] | None = None,
) -> None:
    """An MQTT driver's ``run``: connect and subscribe to ``topics``, then :func:`serve` until cancelled or lost.

    ``keep`` is told the live connection, and None once it is gone (drivers that publish commands keep it).
    """
    async with MqttConnection(settings, topics, device=device) as connection:
        if keep is not None:
            keep(connection)
        try:
            await serve(connection, parser, emit, device=device, clock=clock)
        finally:
            if keep is not None:
                keep(None)


async def serve(connection: MqttConnection, parser: Parser, emit: Emit, *, device: str, detail: str = "",
                clock: Clock = utcnow) -> None:  # fmt: skip
    """Report the device up, then feed each payload to ``parser`` and emit what it yields, one emit per message."""
    await emit([DeviceStatus(device, "up", clock(), detail or f"subscribed to {', '.join(connection.topics)}")])
    feed = parser.feed
    while True:
        payloads = await connection.receive()
        now = clock()  # one clock read per burst: its messages arrived together
        for payload in payloads:
            out = feed(payload, now)
            if out:
                await emit(out)
        if connection.manual_ack:
            await emit([connection.receipt(len(payloads))])
        dropped = connection.take_dropped()
        if dropped:
            reason = f"{dropped} messages dropped: the buffer of {connection.settings.max_buffered} was full"
            logger.warning("device %s: %s", device, reason)
            await emit([Rejected(device, b"", reason, now)])
        stray, topic = connection.take_stray()
        if stray:
            reason = f"{stray} messages set aside: they came in on {topic!r}, not a topic of this device"
            logger.warning("device %s: %s", device, reason)
            await emit([Rejected(device, b"", reason, now)])
