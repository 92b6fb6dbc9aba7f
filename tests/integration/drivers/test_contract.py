"""The driver contract, checked against every installed serial driver class (entry points of ``silentgw.drivers``)."""

from __future__ import annotations

import datetime as dt
import inspect
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from silentgw.drivers.base import DeviceUnavailable, Driver
from silentgw.drivers.observations import DeviceStatus, Rejected, SensorReading, TagRead
from silentgw.drivers.registry import GROUP

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def serial_driver_classes() -> list[Any]:
    # each entry point is loaded on its own (not Registry.installed(), which loads all or nothing), so a driver of
    # another transport that does not import yet cannot hide these; a built-in serial one that does not import fails
    found = []
    for ep in entry_points(group=GROUP):
        try:
            cls = ep.load()
        except ImportError:
            if ep.value.startswith("silentgw.drivers.serial."):
                raise
            continue
        if getattr(cls, "transport", None) == "serial":
            assert ep.name == cls.kind, f"entry point {ep.name} names a class of kind {cls.kind}"
            found.append(pytest.param(cls, id=cls.kind))
    return found


SERIAL_DRIVERS = serial_driver_classes()


def test_the_built_in_serial_drivers_are_installed() -> None:
    assert {p.id for p in SERIAL_DRIVERS} >= {"uhf-m100", "em4100", "sensor-lines"}


@pytest.mark.parametrize("cls", SERIAL_DRIVERS)
def test_the_class_has_the_contracts_shape(cls: Any) -> None:
    assert cls.transport == "serial"
    assert isinstance(cls.kind, str)
    assert issubclass(cls.Settings, BaseModel)
    assert inspect.iscoroutinefunction(cls.run)
    driver = cls("dev-1", cls.Settings(url="loop://"))
    assert isinstance(driver, Driver)
    assert driver.device == "dev-1"
    parser = cls.parser("dev-1", cls.Settings(url="loop://"))
    assert callable(parser.feed)
    assert callable(parser.flush)
    assert cls.__doc__
    if hasattr(cls, "send"):
        assert inspect.iscoroutinefunction(cls.send)


@pytest.mark.parametrize("cls", SERIAL_DRIVERS)
def test_settings_forbid_unknown_keys_and_need_a_url(cls: Any) -> None:
    with pytest.raises(ValidationError, match="extra"):
        cls.Settings.model_validate({"url": "loop://", "no_such_option": 1})
    with pytest.raises(ValidationError, match="url"):
        cls.Settings.model_validate({})


@pytest.mark.parametrize("cls", SERIAL_DRIVERS)
def test_the_parser_never_raises_on_random_bytes(cls: Any) -> None:
    @settings(max_examples=100, deadline=None)
    @given(chunks=st.lists(st.binary(max_size=200), max_size=8))
    def check(chunks: list[bytes]) -> None:
        parser = cls.parser("dev-1", cls.Settings(url="loop://"))
        for chunk in chunks:
            for item in parser.feed(chunk, T0):
                assert isinstance(item, TagRead | SensorReading | DeviceStatus | Rejected)
                assert item.time == T0
        for item in parser.flush(T0):
            assert isinstance(item, Rejected)

    check()


@pytest.mark.anyio
@pytest.mark.parametrize("cls", SERIAL_DRIVERS)
async def test_run_raises_device_unavailable_for_a_port_that_does_not_exist(cls: Any, tmp_path: Path) -> None:
    driver = cls("dev-1", cls.Settings(url=str(tmp_path / "ttyUSB9")))
    emitted: list[Any] = []

    async def emit(batch: Any) -> None:
        emitted.extend(batch)

    with pytest.raises(DeviceUnavailable):
        await driver.run(emit)
    assert emitted == []  # never said it was up
