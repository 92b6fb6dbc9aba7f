"""The driver contract, checked against every installed driver (entry points of ``silentgw.drivers``).

Every driver, built-in or a third party's, has the same shape: a kind, a transport, a Settings model that forbids
unknown keys, a pure parser that never raises, a ``run`` that raises DeviceUnavailable (and never says "up") when
its device cannot be reached, and, where it takes commands, an async ``send``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from silentgw.drivers.base import DeviceUnavailable, Driver
from silentgw.drivers.observations import DeviceStatus, Rejected, SensorReading, TagRead
from silentgw.drivers.registry import Registry

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
REGISTRY = Registry.installed()
BUILT_IN = {"uhf-m100", "em4100", "sensor-lines", "zebra-iotc", "impinj-iot", "generic-json"}

# The least each built-in driver needs: where its device is.
NEEDS: dict[str, dict[str, Any]] = {
    "uhf-m100": {"url": "loop://"},
    "em4100": {"url": "loop://"},
    "sensor-lines": {"url": "loop://"},
    "zebra-iotc": {"data_topic": "contract/data"},
    "impinj-iot": {"event_topic": "contract/events"},
    "generic-json": {"topics": ["contract/json"]},
}
KINDS = [k for k in REGISTRY.kinds() if k in NEEDS]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def unreachable(kind: str, tmp_path: Path) -> dict[str, Any]:
    """Options naming a device that is not there."""
    if REGISTRY.get(kind).transport == "serial":
        return {"url": str(tmp_path / "ttyUSB9")}
    return {**NEEDS[kind], "port": _closed_port(), "connect_timeout": 1.0}


def test_the_built_in_drivers_are_installed_under_their_kind() -> None:
    assert set(REGISTRY.kinds()) >= BUILT_IN
    for kind in REGISTRY.kinds():
        assert REGISTRY.get(kind).kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_the_class_has_the_contracts_shape(kind: str) -> None:
    cls: Any = REGISTRY.get(kind)
    assert cls.transport in ("serial", "mqtt")
    assert issubclass(REGISTRY.model(kind), BaseModel)
    assert inspect.iscoroutinefunction(cls.run)
    driver = REGISTRY.build("dev-1", kind, NEEDS[kind])
    assert isinstance(driver, Driver)
    assert driver.device == "dev-1"
    parser = cls.parser("dev-1", REGISTRY.settings(kind, NEEDS[kind]))
    assert callable(parser.feed)
    assert callable(parser.flush)
    assert cls.__doc__
    if hasattr(cls, "send"):
        assert inspect.iscoroutinefunction(cls.send)


@pytest.mark.parametrize("kind", KINDS)
def test_settings_forbid_unknown_keys_and_need_their_device(kind: str) -> None:
    with pytest.raises(ValidationError, match="xtra"):
        REGISTRY.settings(kind, {**NEEDS[kind], "no_such_option": 1})
    with pytest.raises(ValidationError, match=r"[Ff]ield required"):
        REGISTRY.settings(kind, {})


@pytest.mark.parametrize("kind", KINDS)
def test_the_parser_never_raises_on_random_bytes(kind: str) -> None:
    cls: Any = REGISTRY.get(kind)
    options = REGISTRY.settings(kind, NEEDS[kind])

    @settings(max_examples=100, deadline=None)
    @given(chunks=st.lists(st.binary(max_size=200), max_size=8))
    def check(chunks: list[bytes]) -> None:
        parser = cls.parser("dev-1", options)
        for chunk in chunks:
            for item in parser.feed(chunk, T0):
                assert isinstance(item, TagRead | SensorReading | DeviceStatus | Rejected)
        for item in parser.flush(T0):
            assert isinstance(item, Rejected)

    check()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
async def test_run_raises_device_unavailable_when_the_device_cannot_be_reached(kind: str, tmp_path: Path) -> None:
    driver = REGISTRY.build("dev-1", kind, unreachable(kind, tmp_path))
    emitted: list[Any] = []

    async def emit(batch: Any) -> None:
        emitted.extend(batch)

    with pytest.raises(DeviceUnavailable):
        await driver.run(emit)
    assert emitted == []  # never said it was up
