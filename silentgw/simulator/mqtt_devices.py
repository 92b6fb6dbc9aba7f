"""Simulated MQTT readers, publishing what the real ones publish to a broker.

- :class:`SimZebraReader`: a Zebra FX/ATR reader's IoT Connector, one SIMPLE tag data event per read (``idHex``,
  ``antenna``, ``peakRssi`` in whole dBm, ``timestamp`` with its offset written ``+0000``), and a heartbeat on the
  management events topic every ``heartbeat_every`` seconds of the simulation's time (:data:`ZEBRA_HEARTBEAT`);
  see :mod:`silentgw.drivers.mqtt.zebra_iotc` for the sources.
- :class:`SimImpinjReader`: an Impinj R700's IoT Device Interface with its default preset: ``tagInventory`` events
  with the EPC in base64 only (``epcHex`` is off by default) and ``peakRssiCdbm`` in hundredths of a dBm, and no
  heartbeat (the interface has none); see :mod:`silentgw.drivers.mqtt.impinj_iot`.

Publishing is QoS 0, like the readers' own default for tag data: the simulator never waits on the broker. Time passes
for the readers through ``tick(now)`` (the player calls it as it plays, so heartbeats keep the simulation's pace).
A reader that loses its power (``power(False)``) stops reading and beating, and its MQTT client dies without a
DISCONNECT, as a powered-off reader's does: nothing announces it, the broker only sees its connection drop.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import socket
import uuid

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.observations import SensorReading, TagRead

__all__ = ["ZEBRA_HEARTBEAT", "MqttVoice", "SimImpinjReader", "SimZebraReader", "impinj_event", "zebra_event",
           "zebra_heartbeat"]  # fmt: skip

logger = logging.getLogger(__name__)

ZEBRA_HEARTBEAT = 60.0
"""Seconds between a simulated Zebra reader's heartbeats (see ``ZebraIotcReader.Settings.silence_s`` for why)."""


def zebra_event(read: TagRead, number: int) -> bytes:
    """The IoT Connector's SIMPLE tag data event for ``read``."""
    stamp = read.time.astimezone(dt.UTC)
    data = {"eventNum": number, "format": "epc", "idHex": read.epc.lower(), "antenna": read.antenna,
            "peakRssi": round(read.rssi if read.rssi is not None else -70), "reads": read.reads}  # fmt: skip
    timestamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"
    return orjson.dumps({"data": data, "timestamp": timestamp, "type": "SIMPLE"})


def zebra_heartbeat(time: dt.datetime) -> bytes:
    """The IoT Connector's heartbeat management event at ``time``."""
    stamp = time.astimezone(dt.UTC)
    timestamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"
    data = {"radioConnection": "connected", "system": {"cpu": {"system": 8, "user": 5}}}
    return orjson.dumps({"type": "heartbeat", "timestamp": timestamp, "data": data})


def impinj_event(read: TagRead, hostname: str) -> bytes:
    """The IoT Device Interface's ``tagInventory`` event for ``read`` (default preset: base64 EPC only)."""
    stamp = read.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    event = {"epc": base64.b64encode(bytes.fromhex(read.epc)).decode(), "antennaPort": read.antenna,
             "antennaName": f"Antenna {read.antenna}", "transmitPowerCdbm": 3000, "lastSeenTime": stamp}  # fmt: skip
    if read.rssi is not None:
        event["peakRssiCdbm"] = round(read.rssi * 100)
    return orjson.dumps({"timestamp": stamp, "hostname": hostname, "eventType": "tagInventory",
                         "tagInventoryEvent": event}) + b"\n"  # fmt: skip


class MqttVoice:
    """One publishing connection to a broker, shared by the simulated readers behind it."""

    def __init__(self, settings: MqttSettings, *, name: str) -> None:
        self.settings = settings
        self.name = name
        self.dropped = 0
        self._client = self._build()

    def _build(self) -> paho.Client:
        s = self.settings
        version = MQTTProtocolVersion.MQTTv5 if s.protocol == "5" else MQTTProtocolVersion.MQTTv311
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"silentgw-sim-{self.name}-{uuid.uuid4().hex[:6]}",
                             protocol=version)  # fmt: skip
        if s.tls is not None:
            client.tls_set(ca_certs=str(s.tls.ca_file) if s.tls.ca_file else None)
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        return client

    def open(self) -> None:
        """Connect and start paho's network thread (OSError when the broker cannot be reached)."""
        self._client.connect(self.settings.host, self.settings.port, keepalive=30)
        self._client.loop_start()

    def kill(self) -> None:
        """Die as a powered-off device's client does: the connection just drops, no DISCONNECT is sent.

        ``open`` connects again, as a new client (a rebooted device's).
        """
        sock = self._client.socket()
        self._client.loop_stop()  # the network thread ends without a word to the broker
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._client = self._build()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 0; a message the client cannot take (broker gone) is counted as dropped."""
        if self._client.publish(topic, payload, qos=0).rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped += 1

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


class _PoweredReader:
    """What the simulated MQTT readers share: a voice, and a power switch that kills its client."""

    def __init__(self, voice: MqttVoice) -> None:
        self.voice = voice
        self.powered = True

    def power(self, on: bool) -> None:
        """Switch the reader off (its client dies without a DISCONNECT) or on again (it connects anew)."""
        if on == self.powered:
            return
        self.powered = on
        if on:
            self.voice.open()
        else:
            self.voice.kill()

    def tick(self, now: dt.datetime) -> None:
        """Time passes for the reader (nothing to do for one without a heartbeat)."""


class SimZebraReader(_PoweredReader):
    """A Zebra reader's IoT Connector publishing tag data events and, with ``events_topic``, heartbeats."""

    def __init__(self, voice: MqttVoice, *, data_topic: str, events_topic: str | None = None,
                 heartbeat_every: float = ZEBRA_HEARTBEAT) -> None:  # fmt: skip
        super().__init__(voice)
        self.data_topic = data_topic
        self.events_topic = events_topic
        self.heartbeat_every = dt.timedelta(seconds=heartbeat_every)
        self._events = 0
        self._beat: dt.datetime | None = None

    def report(self, read: TagRead | SensorReading) -> None:
        """Publish the read as a tag data event."""
        if self.powered and isinstance(read, TagRead):
            self._events += 1
            self.voice.publish(self.data_topic, zebra_event(read, self._events))

    def tick(self, now: dt.datetime) -> None:
        """Publish a heartbeat if one is due at ``now`` (the first at the first tick)."""
        if not self.powered or self.events_topic is None:
            self._beat = None  # a rebooted reader beats at once
            return
        if self._beat is None or now - self._beat >= self.heartbeat_every:
            self._beat = now
            self.voice.publish(self.events_topic, zebra_heartbeat(now))


class SimImpinjReader(_PoweredReader):
    """An Impinj R700 publishing IoT Device Interface events."""

    def __init__(self, voice: MqttVoice, *, event_topic: str, hostname: str) -> None:
        super().__init__(voice)
        self.event_topic = event_topic
        self.hostname = hostname

    def report(self, read: TagRead | SensorReading) -> None:
        """Publish the read as a ``tagInventory`` event."""
        if self.powered and isinstance(read, TagRead):
            self.voice.publish(self.event_topic, impinj_event(read, self.hostname))
