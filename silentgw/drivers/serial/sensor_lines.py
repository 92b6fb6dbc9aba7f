"""Line-oriented sensors on a serial port: one reading per line, as ``key=value`` pairs or as a JSON object.

This is what microcontroller sketches print: ``temp=4.2 hum=61.0``, ``t=4.2,h=61``, ``weight=1.25kg``,
``door=open``, or ``{"temperature": 4.2, "unit": "C"}``. A mapping takes each key to a quantity and a unit (with a
scale, for a load cell's raw counts); the defaults know temperature (°C), humidity (%), weight (g, or kg from a
``_kg`` key or a ``kg`` suffix, as HX711 sketches print it) and door contacts (open/closed as 1/0). A key the mapping
does not know is reported under its own name when its value is a number, and passed over otherwise (an id, a
timestamp). A line that is too long, not UTF-8, or yields no reading is set aside with its reason; lines end in
``\\n`` or ``\\r\\n``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import reprlib
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from silentgw.drivers.base import Emit
from silentgw.drivers.observations import Observation, Rejected, SensorReading
from silentgw.drivers.serial.port import SerialPort, SerialSettings, stream
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = [
    "DEFAULT_KEYS",
    "KeyMapping",
    "LineError",
    "SensorLinesDevice",
    "SensorLinesParser",
    "SensorLinesSettings",
    "parse_line",
]


class KeyMapping(BaseModel):
    """What one key of a line measures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quantity: str = Field(min_length=1)
    unit: str = ""
    scale: float = 1.0
    """The value is multiplied by this (a load cell's raw counts to grams, say)."""
    states: dict[str, float] = Field(default_factory=dict)
    """Words the value may be instead of a number (``open`` → 1), matched without regard to case."""


_DOOR = {"open": 1.0, "opened": 1.0, "closed": 0.0, "close": 0.0, "shut": 0.0}
_TEMPERATURE = KeyMapping(quantity="temperature", unit="°C")
_HUMIDITY = KeyMapping(quantity="humidity", unit="%")
_GRAMS = KeyMapping(quantity="weight", unit="g")
_KILOGRAMS = KeyMapping(quantity="weight", unit="kg")
_DOOR_CONTACT = KeyMapping(quantity="door", states=_DOOR)

DEFAULT_KEYS: dict[str, KeyMapping] = {
    **dict.fromkeys(["temp", "temperature", "t", "tc", "temp_c"], _TEMPERATURE),
    **dict.fromkeys(["hum", "humidity", "h", "rh"], _HUMIDITY),
    **dict.fromkeys(["weight", "w", "weight_g", "grams"], _GRAMS),
    **dict.fromkeys(["weight_kg", "kg"], _KILOGRAMS),
    **dict.fromkeys(["door", "contact", "reed"], _DOOR_CONTACT),
}
"""The keys known without configuration."""

_WORDS = {"true": 1.0, "false": 0.0, "on": 1.0, "off": 0.0}
"""Words any key may use for 1 and 0."""
_METADATA = frozenset({"id", "seq", "ts", "time", "timestamp", "uptime", "sensor", "device", "name"})
"""Keys that describe a line rather than measure anything: never reported as readings unless mapped."""
_UNITS = {"c": "°C", "degc": "°C", "celsius": "°C", "°c": "°C", "f": "°F", "°f": "°F", "%rh": "%", "pct": "%"}
"""Spellings of a unit in a line, to the one we report."""
_NUMBER_WITH_UNIT = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%°]+)")
_PAIR_SEPARATORS = re.compile(r"[\s,;]+")
MAX_QUANTITY = 64
MAX_UNIT = 32
"""The longest quantity and unit a line may name: what the sensor tables hold."""


class LineError(ValueError):
    """A line that yields no reading; its message is the reason it is set aside."""


def parse_line(
    line: str, *, format: Literal["key=value", "json"], keys: Mapping[str, KeyMapping]
) -> list[tuple[str, float, str]]:
    """The readings in one line as (quantity, value, unit); :class:`LineError` says why there are none."""
    if format == "json":
        pairs, line_unit = _json_pairs(line)
    else:
        pairs, line_unit = _key_value_pairs(line), None
    readings: list[tuple[str, float, str]] = []
    for key, raw in pairs:
        mapping = keys.get(key.lower())
        if mapping is None and key.lower() in _METADATA:
            continue
        reading = _reading(key, raw, mapping, line_unit)
        if reading is not None:
            readings.append(reading)
    if not readings:
        raise LineError("no readings in the line")
    return readings


def _key_value_pairs(line: str) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    for token in _PAIR_SEPARATORS.split(line.strip()):
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise LineError(f"{shown(token)} is not key=value")
        pairs.append((key, value))
    return pairs


def _json_pairs(line: str) -> tuple[list[tuple[str, Any]], str | None]:
    try:
        data = json.loads(line)
    except ValueError as exc:  # bad JSON, or an integer of more digits than int() converts
        raise LineError(f"not JSON: {exc}") from None
    except RecursionError:
        raise LineError("not JSON: nested too deep") from None
    if not isinstance(data, dict):
        raise LineError("not a JSON object")
    unit = data.pop("unit", None)
    return list(data.items()), unit if isinstance(unit, str) else None


def _reading(key: str, raw: Any, mapping: KeyMapping | None, line_unit: str | None) -> tuple[str, float, str] | None:
    value, unit = _value(key, raw, mapping)
    if value is None:
        return None  # an unmapped key whose value is no number: an id or a timestamp, not a reading
    if mapping is None:
        if not key:
            raise LineError("a value without a key")
        return _name(key, "key"), value, _name(_unit(unit or line_unit or ""), "unit", MAX_UNIT)
    scaled = _finite(key, value * mapping.scale)
    return mapping.quantity, scaled, _name(_unit(unit or line_unit or mapping.unit), "unit", MAX_UNIT)


def _name(text: str, what: str, most: int = MAX_QUANTITY) -> str:
    """A quantity or unit taken from the line, if it is one: printable and short (what the sensor tables hold)."""
    if len(text) > most or not text.isprintable():
        raise LineError(f"{what} {shown(text)} is not printable text of up to {most} characters")
    return text


def _value(key: str, raw: Any, mapping: KeyMapping | None) -> tuple[float | None, str | None]:
    if isinstance(raw, bool):
        return float(raw), None
    if isinstance(raw, int | float):
        try:
            return _finite(key, float(raw)), None
        except OverflowError:  # an integer past a float's range
            raise LineError(f"{shown(key)}: {shown(raw)} is not a finite number") from None
    if not isinstance(raw, str):
        if mapping is None:
            return None, None
        raise LineError(f"{shown(key)}: {shown(raw)} is not a number")
    text = raw.strip()
    word = text.lower()
    if mapping is not None and word in mapping.states:
        return mapping.states[word], None
    if word in _WORDS:
        return _WORDS[word], None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _finite(key, number), None
    match = _NUMBER_WITH_UNIT.fullmatch(text)
    if match is not None:
        return _finite(key, float(match[1])), match[2]
    if mapping is None:
        return None, None
    raise LineError(f"{shown(key)}: {shown(raw)} is not a number")


def _finite(key: str, value: float) -> float:
    if not math.isfinite(value):
        raise LineError(f"{shown(key)}: {value} is not a finite number")
    return value


def shown(value: object) -> str:
    """``value`` as a reason quotes it: briefly, however long or deep it is."""
    if type(value) is int and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    return reprlib.repr(value)


def _unit(unit: str) -> str:
    return _UNITS.get(unit.lower(), unit)


class SensorLinesParser:
    """Sensor readings out of a stream of text lines."""

    def __init__(
        self,
        device: str,
        *,
        format: Literal["key=value", "json"] = "key=value",
        keys: Mapping[str, KeyMapping] = DEFAULT_KEYS,
        max_line: int = 512,
    ) -> None:
        self.device = device
        self.format = format
        self.keys = {k.lower(): v for k, v in keys.items()}
        self.max_line = max_line
        self._rest = b""
        self._overlong = False  # dropping the tail of a line already rejected as too long

    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        """Every whole line in what was kept plus ``data``."""
        *lines, rest = (self._rest + data).split(b"\n")
        out: list[Observation | Rejected] = []
        for raw in lines:
            if self._overlong:
                self._overlong = False  # this newline ends the line already rejected
                continue
            out.extend(self._line(raw, now))
        if len(rest) > self.max_line:
            if not self._overlong:
                out.append(self._too_long(rest, now))
            self._overlong = True
            rest = b""
        self._rest = b"" if self._overlong else rest
        return out

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        """A line without its newline at the end of input is rejected as incomplete."""
        rest, self._rest = self._rest, b""
        self._overlong = False
        return [Rejected(self.device, rest, "incomplete line at the end of input", now)] if rest.strip() else []

    def _line(self, raw: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        line = raw.removesuffix(b"\r")
        if not line.strip():
            return []
        if len(line) > self.max_line:
            return [self._too_long(line, now)]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [Rejected(self.device, line, f"not UTF-8: {exc.reason} at byte {exc.start}", now)]
        try:
            readings = parse_line(text, format=self.format, keys=self.keys)
        except LineError as exc:
            return [Rejected(self.device, line, str(exc), now)]
        return [SensorReading(self.device, quantity, value, unit, now) for quantity, value, unit in readings]

    def _too_long(self, line: bytes, now: dt.datetime) -> Rejected:
        return Rejected(self.device, line[: self.max_line], f"line longer than {self.max_line} bytes", now)


class SensorLinesSettings(SerialSettings):
    """Options of a line-oriented sensor."""

    format: Literal["key=value", "json"] = "key=value"
    keys: dict[str, KeyMapping] = Field(default_factory=dict)
    """Keys to quantities and units, added to (and overriding) the defaults."""
    default_keys: bool = True
    """Start from :data:`DEFAULT_KEYS`; turn off to know only ``keys``."""
    max_line: int = Field(default=512, ge=16, le=65536)
    # A sensor board prints on the interval its sketch sets (seconds to a minute is usual: the store day's sensors
    # print every 60 s) and has no protocol to ask it anything; five minutes without a line means it stopped. A
    # board that prints only on change sets silence_s = 0.
    silence_s: float | None = Field(default=300.0, ge=0)


class SensorLinesDevice:
    """Driver of a sensor that prints one reading per line on a serial port."""

    kind: ClassVar[str] = "sensor-lines"
    transport: ClassVar[Literal["serial", "mqtt"]] = "serial"
    Settings: ClassVar[type[SensorLinesSettings]] = SensorLinesSettings

    def __init__(self, device: str, settings: SensorLinesSettings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock

    @classmethod
    def parser(cls, device: str, settings: SensorLinesSettings) -> SensorLinesParser:
        """The pure parser of the lines, with the key mapping of ``settings``."""
        keys = {**(DEFAULT_KEYS if settings.default_keys else {}), **settings.keys}
        return SensorLinesParser(device, format=settings.format, keys=keys, max_line=settings.max_line)

    async def run(self, emit: Emit) -> None:
        """Open the port and emit readings until cancelled or the port is lost."""
        async with SerialPort(self.settings) as port:
            await stream(port, self.parser(self.device, self.settings), emit, device=self.device, clock=self.clock)
