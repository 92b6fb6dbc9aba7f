"""Impinj R700 (and R720) readers through the Impinj IoT device interface's MQTT output.

Each event is one JSON object on its own line, several lines to a message::

    {"timestamp": "2021-07-09T23:35:59.278427551Z", "hostname": "impinj-13-f8-f5", "eventType": "tagInventory",
     "tagInventoryEvent": {"epc": "4oARkKUCH4AFWBfK", "antennaPort": 1, "antennaName": "Antenna 1",
                           "peakRssiCdbm": -2650, "frequency": 915250, "transmitPowerCdbm": 3000,
                           "lastSeenTime": "2021-07-09T23:35:59.270000Z"}}

* ``epc`` is base64: ``epcHex`` is only there when the preset turns it on, so the base64 is decoded when it is absent;
* every event names its reader (``hostname``): with ``expect_hostname`` set, an event naming another reader, or
  none, is set aside (:mod:`silentgw.drivers.mqtt.origin`);
* ``peakRssiCdbm`` is in hundredths of a dBm; the time is ``lastSeenTime`` when reported, else the event's
  ``timestamp``, else the time the message arrived;
* ``antennaConnectedEvent`` / ``antennaDisconnectedEvent`` (``{"antennaPort": 2}``) become a heartbeat whose
  detail names the port (not "down": the reader itself is still up and reads on its other antennas);
  ``inventoryStatusEvent`` (``{"status": "running"}``) and ``inventoryTerminatedEvent`` a heartbeat saying so;
  ``overflowEvent`` (the reader dropped events) a reject, so it is counted.

Sources: Impinj, *Impinj IoT Device Interface* (https://platform.impinj.com/site/docs/reader_api_welcome/ and its
OpenAPI reference; https://support.impinj.com/hc/en-us/articles/32123172324755), whose ``ReaderEvent`` carries
``timestamp``, ``hostname``, ``eventType`` and exactly one of ``tagInventoryEvent``, ``antennaConnectedEvent``,
``antennaDisconnectedEvent``, ``inventoryStatusEvent``, ``inventoryTerminatedEvent``, ``overflowEvent`` (among
others); the tag event's fields ``epc``/``epcHex``, ``antennaPort``, ``peakRssiCdbm``, ``lastSeenTime`` as there.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

import orjson
from pydantic import Field

from silentgw.drivers.base import Emit
from silentgw.drivers.mqtt.client import subscribe_and_serve
from silentgw.drivers.mqtt.origin import ANY_READER, Origin
from silentgw.drivers.mqtt.payloads import (
    IsoTimes,
    base64_epc,
    hex_epc,
    label,
    oversized,
    port,
    raw_json,
    rssi_dbm,
    shown,
)
from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.mqtt.topics import DeviceTopics
from silentgw.drivers.observations import DeviceStatus, Observation, Rejected, TagRead
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = ["ImpinjIotParser", "ImpinjIotReader"]

MAX_PAYLOAD = 256 * 1024
"""The default bound of a message: a tagInventory event is about 330 bytes (the example above), so 256 KiB holds
some eight hundred lines, more than the reader puts in one message."""


class ImpinjIotParser:
    """Turns one message of newline-delimited Impinj reader events into observations."""

    def __init__(self, device: str, *, max_payload: int = MAX_PAYLOAD, origin: Origin = ANY_READER) -> None:
        self.device = device
        self.max_payload = max_payload
        self.origin = origin
        """The reader each event must name (``expect_hostname``); by default none is checked."""
        self._times = IsoTimes()

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """The observations in one message payload; each bad line is rejected with its reason."""
        too_big = oversized(self.device, data, self.max_payload, now)
        if too_big is not None:
            return [too_big]
        out: list[Observation | Rejected] = []
        for line in data.splitlines() if b"\n" in data or b"\r" in data else (data,):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                out.append(Rejected(self.device, line, f"bad JSON: {exc}", now))
                continue
            for event in value if type(value) is list else (value,):
                out.append(self._event(event, now))
        return out

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """Nothing is kept between messages."""
        return []

    def _event(self, event: Any, now: dt.datetime) -> Observation | Rejected:
        if type(event) is not dict:
            return self._reject(event, "event is not a JSON object", now)
        if self.origin.checked:
            other = self.origin.mismatch(event)
            if other is not None:
                return self._reject(event, f"event {other}: not this reader's", now)
        tag = event.get("tagInventoryEvent")
        try:
            if type(tag) is dict:
                return self._tag(tag, event, now)
            for key, what in (("antennaConnectedEvent", "connected"), ("antennaDisconnectedEvent", "disconnected")):
                body = event.get(key)
                if type(body) is dict:
                    number = port(body["antennaPort"], "antennaPort")
                    time = self._time(event, None, now)
                    return DeviceStatus(self.device, "heartbeat", time, f"antenna {number} {what}")
            body = event.get("inventoryStatusEvent")
            if type(body) is dict:
                status = label(body.get("status", "unknown"))
                return DeviceStatus(self.device, "heartbeat", self._time(event, None, now), f"inventory {status}")
            if type(event.get("inventoryTerminatedEvent")) is dict:
                return DeviceStatus(self.device, "heartbeat", self._time(event, None, now), "inventory terminated")
            if "overflowEvent" in event:
                return self._reject(event, "the reader reports an overflow: it dropped events", now)
        except KeyError as exc:
            return self._reject(event, f"event without {exc.args[0]}", now)
        except ValueError as exc:
            return self._reject(event, str(exc), now)
        kind = event.get("eventType")
        return self._reject(
            event, f"unsupported event type {shown(kind)}" if kind else "not an Impinj reader event", now
        )

    def _tag(self, tag: dict[str, Any], event: dict[str, Any], now: dt.datetime) -> TagRead:
        epc_hex = tag.get("epcHex")
        epc = hex_epc(epc_hex) if epc_hex is not None else base64_epc(tag["epc"])
        antenna = port(tag["antennaPort"], "antennaPort")
        cdbm = tag.get("peakRssiCdbm")
        rssi = None if cdbm is None else rssi_dbm(cdbm, "peakRssiCdbm", per_dbm=100)
        return TagRead(epc, self.device, antenna, rssi, self._time(event, tag, now))

    def _time(self, event: dict[str, Any], tag: dict[str, Any] | None, now: dt.datetime) -> dt.datetime:
        stamp = tag.get("lastSeenTime") if tag is not None else None
        if stamp is None:
            stamp = event.get("timestamp")
        return now if stamp is None else self._times.parse(stamp)

    def _reject(self, event: Any, reason: str, now: dt.datetime) -> Rejected:
        return Rejected(self.device, raw_json(event), reason, now)


class ImpinjIotReader:
    """An Impinj R700's IoT device interface MQTT output: tag reads, antenna and inventory events in."""

    kind: ClassVar[str] = "impinj-iot"
    transport: ClassVar[Literal["serial", "mqtt"]] = "mqtt"

    class Settings(MqttSettings):
        """The broker, plus the topic set in the reader's MQTT configuration (``eventTopic``)."""

        event_topic: str
        """Where the reader publishes its events."""
        max_payload: int = Field(MAX_PAYLOAD, ge=1024)
        """Bytes a message may have; a longer one is set aside unread (the default's reason: :data:`MAX_PAYLOAD`)."""
        expect_hostname: str | None = Field(None, min_length=1, max_length=253)
        """The reader's host name (``impinj-13-f8-f5``): every event must name it (``hostname``), else it is set
        aside as not this reader's."""
        # The IoT device interface sends no heartbeat: every ReaderEvent it publishes (tagInventory, antenna connected
        # and disconnected, inventoryStatus, inventoryTerminated, overflow; platform.impinj.com reader_api docs) says
        # something happened, so a reader that sees no tag sends nothing at all, and silence cannot tell an idle reader
        # from a dead one. A reader inventorying shelves or a backroom reports its tags several times a second, so
        # two minutes of nothing means it is gone; one over zones that are all empty (a checkout and exit reader
        # between shoppers) is reported down while idle, which only holds the absence clocks of zones where nothing
        # is being read anyway (the last item taken from such a zone departs once the reader reads again). Set
        # silence_s to 0 for a reader that is often idle.
        silence_s: float | None = Field(120.0, ge=0)

    def __init__(self, device: str, settings: ImpinjIotReader.Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock

    @classmethod
    def parser(cls, device: str, settings: ImpinjIotReader.Settings) -> ImpinjIotParser:
        """The pure parser of Impinj event lines."""
        origin = Origin(settings.expect_hostname, hostname_keys=("hostname",))
        return ImpinjIotParser(device, max_payload=settings.max_payload, origin=origin)

    def device_topics(self) -> DeviceTopics:
        """The reader publishes its events; it reads nothing from the broker (it is configured over HTTP)."""
        return DeviceTopics((self.settings.event_topic,))

    async def run(self, emit: Emit) -> None:
        """Subscribe and emit until cancelled; DeviceUnavailable when the broker is lost."""
        parser = self.parser(self.device, self.settings)
        await subscribe_and_serve(self.settings, [self.settings.event_topic], parser, emit, device=self.device,
                                  clock=self.clock)  # fmt: skip
