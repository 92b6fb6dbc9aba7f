"""Zebra FX7500, FX9600 and ATR7000 readers through their IoT Connector (ZIOTC): tag data, heartbeats, control.

The reader publishes to four endpoints its web console names; this driver subscribes to three and publishes to one:

* **data** (tag data events)::

      {"data": {"eventNum": 1, "format": "epc", "idHex": "e2000020880f0219154015c1", "antenna": 1,
                "peakRssi": -48, "reads": 1, "channel": 917.25},
       "timestamp": "2021-04-12T20:20:48.366+0000", "type": "SIMPLE"}

  ``peakRssi`` is in whole dBm, the offset is written ``+0000``; several events sometimes come glued in one message
  with no delimiter (``{...}{...}``), and batched output is a JSON array. With ``HOSTNAME`` and ``MAC`` in the
  operating mode's tag meta data the reader also names itself in ``data`` (``"hostName": "FX9600EE4662"``,
  ``"MAC": "84:24:8D:EE:46:62"``); with ``expect_hostname`` / ``expect_mac`` set, a tag event naming another reader,
  or none, is set aside (:mod:`silentgw.drivers.mqtt.origin`). The field names are the ones the IoT Connector's tag
  meta data options report; the stored copies of Zebra's pages list the options (tag storage settings tutorial,
  .../migration/RFIDAPI3/tagstorage.html) but hold no example event with them, so ``hostname``/``mac`` are taken too.
* **management events** (asynchronous health): ``{"type": "heartbeat", "timestamp": ..., "data": {...}}`` becomes a
  ``DeviceStatus`` heartbeat;
* **control responses**: ``{"command": "start", "command_id": "...", "payload": {}, "response": "success"}`` (or
  ``"failure"``) becomes a heartbeat whose detail says how the command went;
* **control commands** (published): ``{"command": "start" | "stop", "command_id": "...", "payload": {}}`` for
  :class:`StartReading` and :class:`StopReading`.

Sources: Zebra, *IoT Connector* documentation, https://zebradevs.github.io/rfid-ziotc-docs/ (interfaces: management,
management events, control, data; https://zebradevs.github.io/rfid-ziotc-docs/introduction/intro/index.html), its
*RAW MQTT Payloads* OpenAPI pages for the command and response envelopes (``command``, ``command_id``, ``payload``;
``response``: ``success`` | ``failure``; .../_static/raw_mqtt_payloads/commands/redoc-static.html and
.../responses/redoc-static.html), and Zebra's own examples reading ``data.idHex`` from tag events
(github.com/ZebraDevs/RFID_ZIOTC_Examples, Directionality.py). The tag event example above follows the field names
those sources use (``idHex``, ``antenna``, ``peakRssi``, ``reads``, ``eventNum``, ``format``, ``timestamp``,
``type``); the stored copies held no complete example payload, so the test vectors are built from them.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field

from silentgw.drivers.base import CommandRefused, DeviceUnavailable, Emit
from silentgw.drivers.commands import Command, StartReading, StopReading
from silentgw.drivers.mqtt.client import MqttConnection, subscribe_and_serve
from silentgw.drivers.mqtt.origin import ANY_READER, MAC_PATTERN, Origin
from silentgw.drivers.mqtt.payloads import (
    MAX_ANTENNA,
    MAX_EPC_DIGITS,
    MAX_READS,
    IsoTimes,
    count,
    hex_epc,
    json_values,
    label,
    oversized,
    port,
    raw_json,
    rssi_dbm,
    shown,
    to_utc,
)
from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.mqtt.topics import DeviceTopics
from silentgw.drivers.observations import DeviceStatus, Observation, Rejected, TagRead
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = ["ZebraIotcParser", "ZebraIotcReader"]

logger = logging.getLogger(__name__)

_IS_HEX = re.compile(r"[0-9A-Fa-f]+").fullmatch
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NO_STAMP = object()
_fromisoformat = dt.datetime.fromisoformat

MAX_PAYLOAD = 256 * 1024
"""The default bound of a message: a SIMPLE tag event is about 230 bytes, so 256 KiB holds a batch of over a
thousand, more than the IoT Connector's batching writes (its handhelds cap a report at 5,120 bytes and a data message
at 6,144: Zebra, RFD40/RFD90 MQTT API, Limits)."""


class ZebraIotcParser:
    """Turns one ZIOTC message (tag data, management event or control response) into observations."""

    def __init__(self, device: str, *, max_payload: int = MAX_PAYLOAD, origin: Origin = ANY_READER) -> None:
        self.device = device
        self.max_payload = max_payload
        self.origin = origin
        """The reader each tag event must name (``expect_hostname``, ``expect_mac``); by default none is checked."""
        self._times = IsoTimes()
        self._stamp: object = _NO_STAMP  # no timestamp yet: never equal to one read
        self._time = _EPOCH

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """The observations in one message payload; what cannot be read is rejected with its reason."""
        too_big = oversized(self.device, data, self.max_payload, now)
        if too_big is not None:
            return [too_big]
        events, error = json_values(data)
        out: list[Observation | Rejected] = []
        append, device, is_hex, new = out.append, self.device, _IS_HEX, tuple.__new__
        checked = self.origin.checked  # a read that must name its reader takes the careful path, which checks it
        last_stamp, last_time = self._stamp, self._time
        for event in events:
            # The hot path, inline (a batched message carries fifty of these): a tag event whose fields all have the
            # right types. Anything else, a bad tag event included, takes the careful path that says what is wrong.
            if type(event) is dict:
                tag = event.get("data")
                if type(tag) is dict:
                    epc = tag.get("idHex")
                    antenna = tag.get("antenna")
                    rssi = tag.get("peakRssi")
                    reads = tag.get("reads", 1)
                    stamp = event.get("timestamp")
                    if (
                        not checked
                        and type(epc) is str
                        and type(antenna) is int
                        and 0 <= antenna <= MAX_ANTENNA
                        and (rssi is None or ((type(rssi) is int or type(rssi) is float) and -200 <= rssi <= 200))
                        and type(reads) is int
                        and 0 < reads <= MAX_READS
                        and len(epc) <= MAX_EPC_DIGITS
                        and is_hex(epc)
                        and (stamp == last_stamp or type(stamp) is str)
                    ):
                        if stamp != last_stamp:
                            try:
                                time = _fromisoformat(stamp)  # type: ignore[arg-type]  # a str, checked above
                                last_time = time if time.tzinfo is dt.UTC else to_utc(time)
                            except ValueError:
                                append(self._other(event, now))
                                continue
                            last_stamp = stamp
                        # tuple.__new__ builds the same TagRead as TagRead(...) at half the cost (no Python __new__)
                        append(new(TagRead, (epc.upper(), device, antenna, rssi, last_time, reads, "epc")))
                        continue
            append(self._other(event, now))
        self._stamp, self._time = last_stamp, last_time
        if error is not None:
            append(Rejected(device, data, error, now))
        return out

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """Nothing is kept between messages."""
        return []

    def _other(self, event: Any, now: dt.datetime) -> Observation | Rejected:
        if type(event) is not dict:
            return self._reject(event, "event is not a JSON object", now)
        tag = event.get("data")
        if type(tag) is dict and "idHex" in tag:
            return self._tag(tag, event, now)
        try:
            stamp = event.get("timestamp")
            time = now if stamp is None else self._times.parse(stamp)
        except ValueError as exc:
            return self._reject(event, f"bad timestamp: {exc}", now)
        if "command" in event and "response" in event:
            command, response = label(event.get("command")), event.get("response")
            ident = label(event.get("command_id", ""))
            if response == "success":
                return DeviceStatus(self.device, "heartbeat", time, f"control command {command} ({ident}) succeeded")
            payload = event.get("payload")
            why = payload.get("message") or payload.get("description") if type(payload) is dict else None
            detail = f"control command {command} ({ident}) failed" + (f": {label(why)}" if why else "")
            return DeviceStatus(self.device, "heartbeat", time, detail)
        kind = event.get("type")
        if type(kind) is str and kind.lower() == "heartbeat":
            return DeviceStatus(self.device, "heartbeat", time)
        if type(event.get("data")) is dict and kind is not None:
            return self._reject(event, f"unsupported event type {shown(kind)}", now)
        return self._reject(event, "neither a tag event, a heartbeat nor a control response", now)

    def _tag(self, tag: dict[str, Any], event: dict[str, Any], now: dt.datetime) -> TagRead | Rejected:
        if self.origin.checked:
            other = self.origin.mismatch(tag, event)
            if other is not None:
                return self._reject(event, f"tag event {other}: not this reader's", now)
        try:
            epc = hex_epc(tag["idHex"])
            antenna = port(tag["antenna"])
            rssi = tag.get("peakRssi")
            if rssi is not None:
                rssi = rssi_dbm(rssi, "peakRssi")
            reads = count(tag.get("reads", 1))
            stamp = event.get("timestamp")
            time = now if stamp is None else self._times.parse(stamp)
        except KeyError as exc:
            return self._reject(event, f"tag event without {exc.args[0]}", now)
        except ValueError as exc:
            return self._reject(event, f"tag event: {exc}", now)
        return TagRead(epc, self.device, antenna, rssi, time, reads)

    def _reject(self, event: Any, reason: str, now: dt.datetime) -> Rejected:
        return Rejected(self.device, raw_json(event), reason, now)


class ZebraIotcReader:
    """A Zebra reader's IoT Connector over MQTT: tag reads and heartbeats in, start and stop out."""

    kind: ClassVar[str] = "zebra-iotc"
    transport: ClassVar[Literal["serial", "mqtt"]] = "mqtt"

    class Settings(MqttSettings):
        """The broker, plus the topics configured on the reader's IoT Connector endpoints."""

        data_topic: str
        """Where the reader publishes tag data events."""
        events_topic: str | None = None
        """Management events (heartbeats)."""
        control_topic: str | None = None
        """Where the reader takes control commands (start, stop); without it the driver takes no commands."""
        control_response_topic: str | None = None
        max_payload: int = Field(MAX_PAYLOAD, ge=1024)
        """Bytes a message may have; a longer one is set aside unread (the default's reason: :data:`MAX_PAYLOAD`)."""
        expect_hostname: str | None = Field(None, min_length=1, max_length=253)
        """The reader's host name (``FX9600EE4662``): each tag event must name it (``data.hostName``), else it is
        set aside as not this reader's. Needs ``HOSTNAME`` in the operating mode's tag meta data."""
        expect_mac: str | None = Field(None, pattern=MAC_PATTERN)
        """The reader's MAC address (``84:24:8D:EE:46:62``): each tag event must name it (``data.MAC``), else it is
        set aside as not this reader's. Needs ``MAC`` in the operating mode's tag meta data."""
        # The IoT Connector's management events interface sends heartbeats on its own (zebradevs.github.io/
        # rfid-ziotc-docs, introduction: "Heartbeats (reader temperature, CPU, RAM, etc.)"), so a reader in good
        # health is never silent, tags or none. Zebra's MQTT reference (techdocs.zebra.com/dcs/rfid/rfd40-90-mqtt/
        # api-reference/mqtt/events/heartbeat-event/) publishes them at QoS 0 at the configured interval and leaves
        # "how many missed intervals your application treats as an outage" to the application. The stored pages do
        # not state the fixed readers' default interval; at the 60 s this driver and the simulator assume, 150 s is
        # two and a half intervals (one heartbeat lost at QoS 0 is not an outage) and well inside a shelf's 300 s
        # absence timeout. It needs events_topic set and heartbeats on: without them a reader seeing no tags is silent.
        silence_s: float | None = Field(150.0, ge=0)

    def __init__(self, device: str, settings: ZebraIotcReader.Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock
        self._connection: MqttConnection | None = None

    @property
    def connection(self) -> MqttConnection | None:
        """The live broker connection while :meth:`run` runs (its ``dropped`` counter), else None."""
        return self._connection

    @classmethod
    def parser(cls, device: str, settings: ZebraIotcReader.Settings) -> ZebraIotcParser:
        """The pure parser of ZIOTC payloads."""
        origin = Origin(settings.expect_hostname, settings.expect_mac)
        return ZebraIotcParser(device, max_payload=settings.max_payload, origin=origin)

    def topics(self) -> list[str]:
        """The topics this driver subscribes to."""
        s = self.settings
        return [t for t in (s.data_topic, s.events_topic, s.control_response_topic) if t]

    def device_topics(self) -> DeviceTopics:
        """The reader publishes tag data, management events and control responses, and reads control commands."""
        control = self.settings.control_topic
        return DeviceTopics(tuple(self.topics()), (control,) if control else ())

    async def run(self, emit: Emit) -> None:
        """Subscribe and emit until cancelled; DeviceUnavailable when the broker is lost."""
        parser = self.parser(self.device, self.settings)
        await subscribe_and_serve(self.settings, self.topics(), parser, emit, device=self.device, clock=self.clock,
                                  keep=self._keep)  # fmt: skip

    def _keep(self, connection: MqttConnection | None) -> None:
        self._connection = connection

    async def send(self, command: Command) -> None:
        """Publish StartReading / StopReading as IoT Connector control commands; refuse the rest."""
        if type(command) is StartReading:
            name = "start"
        elif type(command) is StopReading:
            name = "stop"
        else:
            raise CommandRefused(f"a Zebra IoT Connector reader does not take {type(command).__name__}")
        topic = self.settings.control_topic
        if topic is None:
            raise CommandRefused(f"device {self.device} has no control_topic")
        if self._connection is None:
            raise DeviceUnavailable(f"device {self.device} is not connected")
        body = {"command": name, "command_id": uuid.uuid4().hex[:12], "payload": {}}
        self._connection.publish(topic, orjson.dumps(body))
        logger.info("device %s: sent control command %s (%s)", self.device, name, body["command_id"])
