"""Simulated MQTT readers, publishing what the real ones publish to a broker.

- :class:`SimZebraReader`: a Zebra FX/ATR reader's IoT Connector, one SIMPLE tag data event per read (``idHex``,
  ``antenna``, ``peakRssi`` in whole dBm, ``timestamp`` with its offset written ``+0000``), and heartbeats on the
  management events topic; see :mod:`silentgw.drivers.mqtt.zebra_iotc` for the sources.
- :class:`SimImpinjReader`: an Impinj R700's IoT Device Interface with its default preset: ``tagInventory`` events
  with the EPC in base64 only (``epcHex`` is off by default) and ``peakRssiCdbm`` in hundredths of a dBm; see
  :mod:`silentgw.drivers.mqtt.impinj_iot`.

Publishing is QoS 0, like the readers' own default for tag data: the simulator never waits on the broker.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.observations import SensorReading, TagRead

__all__ = ["MqttVoice", "SimImpinjReader", "SimZebraReader", "impinj_event", "zebra_event"]

logger = logging.getLogger(__name__)


def zebra_event(read: TagRead, number: int) -> bytes:
    """The IoT Connector's SIMPLE tag data event for ``read``."""
    stamp = read.time.astimezone(dt.UTC)
    data = {"eventNum": number, "format": "epc", "idHex": read.epc.lower(), "antenna": read.antenna,
            "peakRssi": round(read.rssi if read.rssi is not None else -70), "reads": read.reads}  # fmt: skip
    timestamp = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"
    return orjson.dumps({"data": data, "timestamp": timestamp, "type": "SIMPLE"})


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
        self.dropped = 0
        version = MQTTProtocolVersion.MQTTv5 if settings.protocol == "5" else MQTTProtocolVersion.MQTTv311
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"silentgw-sim-{name}-{uuid.uuid4().hex[:6]}",
                                   protocol=version)  # fmt: skip
        if settings.tls is not None:
            self._client.tls_set(ca_certs=str(settings.tls.ca_file) if settings.tls.ca_file else None)
        if settings.username is not None:
            password = settings.password.get_secret_value() if settings.password else None
            self._client.username_pw_set(settings.username, password)

    def open(self) -> None:
        """Connect and start paho's network thread (OSError when the broker cannot be reached)."""
        self._client.connect(self.settings.host, self.settings.port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 0; a message the client cannot take (broker gone) is counted as dropped."""
        if self._client.publish(topic, payload, qos=0).rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.dropped += 1

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


class SimZebraReader:
    """A Zebra reader's IoT Connector publishing tag data events."""

    def __init__(self, voice: MqttVoice, *, data_topic: str) -> None:
        self.voice = voice
        self.data_topic = data_topic
        self._events = 0

    def report(self, read: TagRead | SensorReading) -> None:
        """Publish the read as a tag data event."""
        if isinstance(read, TagRead):
            self._events += 1
            self.voice.publish(self.data_topic, zebra_event(read, self._events))


class SimImpinjReader:
    """An Impinj R700 publishing IoT Device Interface events."""

    def __init__(self, voice: MqttVoice, *, event_topic: str, hostname: str) -> None:
        self.voice = voice
        self.event_topic = event_topic
        self.hostname = hostname

    def report(self, read: TagRead | SensorReading) -> None:
        """Publish the read as a ``tagInventory`` event."""
        if isinstance(read, TagRead):
            self.voice.publish(self.event_topic, impinj_event(read, self.hostname))
