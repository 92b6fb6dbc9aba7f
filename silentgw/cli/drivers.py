"""`silentgw drivers`: list the installed drivers, and see what a device's captured output means to one of them."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
import typer
from pydantic import BaseModel, ValidationError

from silentgw.drivers.base import UnknownDriver
from silentgw.drivers.observations import DeviceStatus, Observation, Rejected, SensorReading, TagRead
from silentgw.drivers.registry import DriverClass, Registry

__all__ = ["app", "observation_json"]

app = typer.Typer(help="Inspect the device drivers.", no_args_is_help=True)

_HEX = frozenset(b"0123456789abcdefABCDEF")
_SPACE = frozenset(b" \t\r\n:,")


@app.command("list")
def list_drivers() -> None:
    """Name the installed drivers (built-in and third-party), their transport and their dialect."""
    registry = Registry.installed()
    for kind in registry.kinds():
        cls = registry.get(kind)
        typer.echo(f"{kind:<16} {cls.transport:<7} {registry.origin(kind)}")


def _settings(model: type[BaseModel], options: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        # Parsing needs no port or broker: fields that are only missing (url, topic) may stay unset here.
        if all(error["type"] == "missing" for error in exc.errors()):
            return model.model_construct(**options)
        raise


def _chunks(stream: BinaryIO, cls: DriverClass, mode: str) -> list[bytes]:
    data = stream.read()
    if cls.transport == "mqtt":
        return [line for line in data.splitlines() if line.strip()]  # one payload a line
    if mode == "auto":
        mode = "hex" if data.strip() and all(b in _HEX or b in _SPACE for b in data) else "raw"
    if mode == "hex":
        digits = bytes(b for b in data if b not in _SPACE)
        if len(digits) % 2:
            raise typer.BadParameter("odd number of hex digits in the input", param_hint="input")
        return [bytes.fromhex(digits.decode("ascii"))]
    return [data]


def observation_json(item: Observation | Rejected) -> dict[str, Any]:
    """One observation (or rejected input) as the JSON object ``drivers parse`` prints."""
    if isinstance(item, TagRead):
        return {
            "kind": "tag" if item.protocol == "epc" else item.protocol,
            "epc": item.epc.upper(),
            "reader": item.reader,
            "antenna": item.antenna,
            "rssi": item.rssi,
            "time": item.time.isoformat(),
            "reads": item.reads,
        }
    if isinstance(item, SensorReading):
        return {
            "kind": "sensor",
            "sensor": item.sensor,
            "quantity": item.quantity,
            "value": item.value,
            "unit": item.unit,
            "time": item.time.isoformat(),
        }
    if isinstance(item, DeviceStatus):
        return {"kind": "status", "device": item.device, "state": item.state, "time": item.time.isoformat(),
                "detail": item.detail}  # fmt: skip
    return {"kind": "rejected", "device": item.device, "reason": item.reason, "raw": item.raw.hex().upper(),
            "time": item.time.isoformat()}  # fmt: skip


@app.command("parse")
def parse(
    dialect: Annotated[
        str, typer.Argument(help="The driver kind: zebra-iotc, impinj-iot, generic-json, uhf-m100, ...")
    ],
    source: Annotated[
        Path | None, typer.Argument(help="Captured input; standard input when omitted.", dir_okay=False, exists=True)
    ] = None,
    options: Annotated[
        str, typer.Option("--options", help="The driver's options as JSON (e.g. a field mapping).")
    ] = "{}",
    device: Annotated[str, typer.Option(help="The device id the observations carry.")] = "capture",
    mode: Annotated[
        str, typer.Option("--input", help="Serial input as hex text or raw bytes (auto: hex when it looks like hex).")
    ] = "auto",
) -> None:
    """Print the observations captured input yields, one JSON object a line, and what was rejected and why.

    MQTT dialects read one JSON payload a line; serial dialects read hex (spaces allowed) or raw bytes.
    Exit status 1 when anything was rejected.
    """
    if mode not in ("auto", "hex", "raw"):
        raise typer.BadParameter("choose auto, hex or raw", param_hint="--input")
    registry = Registry.installed()
    try:
        cls = registry.get(dialect)
        model = registry.model(dialect)
    except UnknownDriver as exc:
        raise typer.BadParameter(str(exc), param_hint="DIALECT") from exc
    try:
        parsed = orjson.loads(options)
        if not isinstance(parsed, dict):
            raise TypeError("not an object")
        settings = _settings(model, parsed)
    except (orjson.JSONDecodeError, TypeError, ValidationError) as exc:
        raise typer.BadParameter(f"not valid options for {dialect}: {exc}", param_hint="--options") from exc
    parser = cls.parser(device, settings)
    now = dt.datetime.now(dt.UTC)
    rejected = 0
    if source is None:
        chunks = _chunks(sys.stdin.buffer, cls, mode)
    else:
        with source.open("rb") as stream:
            chunks = _chunks(stream, cls, mode)
    results: list[Observation | Rejected] = []
    for chunk in chunks:
        results.extend(parser.feed(chunk, now))
    results.extend(parser.flush(now))
    for item in results:
        rejected += isinstance(item, Rejected)
        typer.echo(orjson.dumps(observation_json(item)).decode())
    raise typer.Exit(1 if rejected else 0)
