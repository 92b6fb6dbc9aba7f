"""Any other reader or sensor that speaks JSON over MQTT, read through a mapping of dotted paths.

A payload is one object or an array of them (or, with ``items``, an array found at a path). Each object becomes a
``TagRead`` (``kind = "tag"``: EPC as hex or base64, antenna, RSSI times ``rssi_scale``) or a ``SensorReading``
(``kind = "sensor"``: quantity and unit from the payload or fixed in the settings). Times are ISO 8601, epoch
seconds or milliseconds, or any ``strptime`` format; no time, or no path for it, means the time the message arrived.

The device takes commands as JSON on ``command_topic`` (``{site}`` and ``{device}`` filled in; with no site, the
``{site}/`` level is left out): ``{"command": "display", "text": ..., "price": "4.99", "currency": "EUR"}``,
``{"command": "lock"}``, ``{"command": "unlock", "seconds": 5}``. Prices travel as strings, so no binary float
rounds them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import Any, ClassVar, Literal, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from silentgw.drivers.base import CommandRefused, DeviceUnavailable, Emit
from silentgw.drivers.commands import Command, DisplayText, Lock, Unlock
from silentgw.drivers.mqtt.client import MqttConnection, subscribe_and_serve
from silentgw.drivers.mqtt.payloads import (
    MAX_ANTENNA,
    IsoTimes,
    base64_epc,
    epoch_time,
    hex_epc,
    json_values,
    lookup,
    oversized,
    port,
    raw_json,
    rssi_dbm,
    shown,
    to_utc,
)
from silentgw.drivers.mqtt.settings import MqttSettings
from silentgw.drivers.mqtt.topics import DeviceTopics
from silentgw.drivers.observations import Observation, Rejected, SensorReading, TagRead
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = ["FieldMap", "GenericJsonDevice", "GenericJsonParser"]

MAX_PAYLOAD = 64 * 1024
"""The default bound of a message: a reading is some 100 bytes of JSON, so 64 KiB holds an array of several hundred,
more than a sensor or a small reader sends at once."""
MAX_NAME = 32
"""Characters of a quantity or unit read from a payload (what the sensor tables hold is 64 and 32)."""


class FieldMap(BaseModel):
    """Where each part of an observation is in the payload, as dotted paths (``data.tag.epc``, ``reads.0.rssi``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tag", "sensor"] = "tag"
    items: str | None = None
    """Path to the array of readings inside each payload; unset, the payload is the reading (or an array of them)."""
    epc: str = "epc"
    epc_encoding: Literal["hex", "base64"] = "hex"
    antenna: str | None = "antenna"
    """Unset (or absent from a reading): ``default_antenna``."""
    default_antenna: int = Field(1, ge=0, le=MAX_ANTENNA)
    rssi: str | None = "rssi"
    rssi_scale: float = Field(1.0, allow_inf_nan=False)
    """Multiplies the RSSI into dBm: 0.01 for centi-dBm, 0.1 for deci-dBm."""
    time: str | None = "time"
    time_format: str = "iso"
    """``iso``, ``epoch_s``, ``epoch_ms``, or a ``strptime`` format (read as UTC unless it has ``%z``)."""
    quantity: str | None = "quantity"
    fixed_quantity: str | None = None
    value: str = "value"
    unit: str | None = "unit"
    fixed_unit: str | None = None

    @model_validator(mode="after")
    def _sensor_is_complete(self) -> Self:
        if self.kind == "sensor" and self.fixed_quantity is None and self.quantity is None:
            raise ValueError("a sensor mapping needs quantity or fixed_quantity")
        if self.kind == "sensor" and self.fixed_unit is None and self.unit is None:
            raise ValueError("a sensor mapping needs unit or fixed_unit")
        if self.time_format not in ("iso", "epoch_s", "epoch_ms") and "%" not in self.time_format:
            raise ValueError("time_format is iso, epoch_s, epoch_ms or a strptime format")
        return self


def _path(path: str | None) -> tuple[str, ...] | None:
    return None if path is None else tuple(path.split("."))


class GenericJsonParser:
    """Turns JSON payloads into tag reads or sensor readings through a :class:`FieldMap`."""

    def __init__(self, device: str, fields: FieldMap, *, max_payload: int = MAX_PAYLOAD) -> None:
        self.device = device
        self.fields = fields
        self.max_payload = max_payload
        self._items = _path(fields.items)
        self._epc = tuple(fields.epc.split("."))
        self._antenna = _path(fields.antenna)
        self._rssi = _path(fields.rssi)
        self._time = _path(fields.time)
        self._quantity = None if fields.fixed_quantity is not None else _path(fields.quantity)
        self._value = tuple(fields.value.split("."))
        self._unit = None if fields.fixed_unit is not None else _path(fields.unit)
        self._decode_epc = base64_epc if fields.epc_encoding == "base64" else hex_epc
        self._times = IsoTimes()

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """The observations in one payload; each reading that does not fit the mapping is rejected with why."""
        too_big = oversized(self.device, data, self.max_payload, now)
        if too_big is not None:
            return [too_big]
        values, error = json_values(data)
        out: list[Observation | Rejected] = []
        if self._items is not None:
            found: list[Any] = []
            for value in values:
                try:
                    items = lookup(value, self._items)
                except KeyError as exc:
                    out.append(self._reject(value, f"no {exc.args[0]} in the payload", now))
                    continue
                found.extend(items if type(items) is list else [items])
            values = found
        read = self._tag if self.fields.kind == "tag" else self._sensor
        for value in values:
            try:
                out.append(read(value, now))
            except KeyError as exc:
                out.append(self._reject(value, f"no {exc.args[0]} in the reading", now))
            except ValueError as exc:
                out.append(self._reject(value, str(exc), now))
        if error is not None:
            out.append(Rejected(self.device, data, error, now))
        return out

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """Nothing is kept between messages."""
        return []

    def _tag(self, value: Any, now: dt.datetime) -> TagRead:
        epc = self._decode_epc(lookup(value, self._epc))
        antenna = self.fields.default_antenna
        if self._antenna is not None:
            with contextlib.suppress(KeyError):  # an absent antenna is the default one
                antenna = port(lookup(value, self._antenna))
        rssi: float | None = None
        if self._rssi is not None:
            try:
                raw = lookup(value, self._rssi)
            except KeyError:
                raw = None
            if raw is not None:
                rssi = rssi_dbm(_number(raw, "rssi") * self.fields.rssi_scale)
        return TagRead(epc, self.device, antenna, rssi, self._when(value, now))

    def _sensor(self, value: Any, now: dt.datetime) -> SensorReading:
        fields = self.fields
        quantity = fields.fixed_quantity if self._quantity is None else lookup(value, self._quantity)
        unit = fields.fixed_unit if self._unit is None else lookup(value, self._unit)
        reading = _number(lookup(value, self._value), "value")
        return SensorReading(
            self.device, _name(quantity, "quantity"), reading, _name(unit, "unit"), self._when(value, now)
        )

    def _when(self, value: Any, now: dt.datetime) -> dt.datetime:
        if self._time is None:
            return now
        try:
            stamp = lookup(value, self._time)
        except KeyError:
            return now
        form = self.fields.time_format
        if form == "iso":
            return self._times.parse(stamp)
        if form in ("epoch_s", "epoch_ms"):
            return epoch_time(_number(stamp, "time") / (1000 if form == "epoch_ms" else 1))
        if type(stamp) is not str or len(stamp) > 64:
            raise ValueError(f"time is not a string of up to 64 characters: {shown(stamp)}")
        return to_utc(dt.datetime.strptime(stamp, form))  # naive unless the format has %z: to_utc

    def _reject(self, value: Any, reason: str, now: dt.datetime) -> Rejected:
        return Rejected(self.device, raw_json(value), reason, now)


def _name(text: Any, name: str) -> str:
    """A quantity or unit, if it is one: printable text of up to :data:`MAX_NAME` characters."""
    if type(text) is not str or len(text) > MAX_NAME or not text.isprintable():
        raise ValueError(f"{name} is not a printable string of up to {MAX_NAME} characters: {shown(text)}")
    return text


def _number(value: Any, name: str) -> float:
    """``value`` as a finite float (sensors often send ``"21.5"``); ValueError naming ``name`` otherwise."""
    number = math.nan
    if type(value) is int or type(value) is float or (type(value) is str and len(value) <= 64):
        with contextlib.suppress(ValueError, OverflowError):  # not a number; an integer past a float's range
            number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} is not a number: {shown(value)}")
    return number


class GenericJsonDevice:
    """A JSON-over-MQTT reader or sensor, mapped by settings; takes display, lock and unlock commands."""

    kind: ClassVar[str] = "generic-json"
    transport: ClassVar[Literal["serial", "mqtt"]] = "mqtt"

    class Settings(MqttSettings):
        """The broker, the topics, and the field mapping."""

        topics: list[str] = Field(min_length=1)
        """Where the device publishes (wildcards allowed)."""
        fields: FieldMap = FieldMap()
        max_payload: int = Field(MAX_PAYLOAD, ge=1024)
        """Bytes a message may have; a longer one is set aside unread (the default's reason: :data:`MAX_PAYLOAD`)."""
        command_topic: str = "silentgw/{site}/cmd/{device}"
        site: str | None = None

    def __init__(self, device: str, settings: GenericJsonDevice.Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock
        self._connection: MqttConnection | None = None

    @property
    def connection(self) -> MqttConnection | None:
        """The live broker connection while :meth:`run` runs (its ``dropped`` counter), else None."""
        return self._connection

    @classmethod
    def parser(cls, device: str, settings: GenericJsonDevice.Settings) -> GenericJsonParser:
        """The pure parser of this mapping."""
        return GenericJsonParser(device, settings.fields, max_payload=settings.max_payload)

    def command_topic(self) -> str:
        """Where commands to this device are published."""
        template = self.settings.command_topic
        site = self.settings.site
        if site is None:
            template = template.replace("{site}/", "").replace("/{site}", "")
        return template.replace("{site}", site or "").replace("{device}", self.device)

    def device_topics(self) -> DeviceTopics:
        """The device publishes on its topics and reads its command topic."""
        return DeviceTopics(tuple(self.settings.topics), (self.command_topic(),))

    async def run(self, emit: Emit) -> None:
        """Subscribe and emit until cancelled; DeviceUnavailable when the broker is lost."""
        parser = self.parser(self.device, self.settings)
        topics = self.settings.topics
        await subscribe_and_serve(self.settings, topics, parser, emit, device=self.device, clock=self.clock,
                                  keep=self._keep)  # fmt: skip

    def _keep(self, connection: MqttConnection | None) -> None:
        self._connection = connection

    async def send(self, command: Command) -> None:
        """Publish a display, lock or unlock command as JSON on the command topic; refuse the rest."""
        body: dict[str, Any]
        if type(command) is DisplayText:
            body = {"command": "display", "text": command.text}
            if command.price is not None:
                body["price"] = str(command.price)
            if command.currency is not None:
                body["currency"] = command.currency
        elif type(command) is Lock:
            body = {"command": "lock"}
        elif type(command) is Unlock:
            body = {"command": "unlock"}
            if command.seconds is not None:
                body["seconds"] = command.seconds
        else:
            raise CommandRefused(f"a generic JSON device does not take {type(command).__name__}")
        if self._connection is None:
            raise DeviceUnavailable(f"device {self.device} is not connected")
        self._connection.publish(self.command_topic(), orjson.dumps(body))
