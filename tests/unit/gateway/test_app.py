"""The composition root: drivers built from the settings, supervised, their output delivered in order to the core."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from silentgw.drivers.base import CommandRefused, Emit
from silentgw.drivers.commands import Command, DisplayText, Lock
from silentgw.drivers.dialect import Parser
from silentgw.drivers.observations import DeviceStatus, Handed, TagRead
from silentgw.drivers.registry import Registry
from silentgw.drivers.supervisor import Clock, utcnow
from silentgw.gateway.app import Tally, build_drivers, run_gateway
from silentgw.gateway.config import ConfigError, Settings, load_settings

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


class CountingReader:
    """Reports ``reads`` tags, one batch each, then idles; takes DisplayText (pretend it has a screen)."""

    kind: ClassVar[str] = "counting"
    transport: ClassVar[Literal["serial", "mqtt"]] = "serial"

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        reads: int = 3

    def __init__(self, device: str, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock
        self.shown: list[str] = []

    async def run(self, emit: Emit) -> None:
        await emit([DeviceStatus(self.device, "up", T0)])
        for n in range(self.settings.reads):
            await emit([TagRead(f"3074257BF7194E40000000{n:02X}", self.device, 1, -50.0, T0)])
        await asyncio.Event().wait()

    async def send(self, command: Command) -> None:
        if not isinstance(command, DisplayText):
            raise CommandRefused("only text")
        self.shown.append(command.text)

    @classmethod
    def parser(cls, device: str, settings: Settings) -> Parser:
        raise NotImplementedError


def settings_with(*drivers: dict[str, object]) -> Settings:
    devices = [{"id": f"r{n}", "kind": "reader", "driver": d} for n, d in enumerate(drivers)]
    return Settings.model_validate({"devices": devices})


async def test_every_device_runs_and_its_reads_arrive_in_order() -> None:
    received: list[Handed] = []

    async def handle(batch: Sequence[Handed]) -> None:
        received.extend(batch)

    settings = settings_with({"kind": "counting", "reads": 5}, {"kind": "counting", "reads": 2})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader}), handle=handle) as gateway:
        for _ in range(200):
            if gateway.health("r0").observations == 5 and gateway.health("r1").observations == 2:
                break
            await asyncio.sleep(0.01)
        assert gateway.health("r0").state == "up"
    r0 = [o.epc for o in received if isinstance(o, TagRead) and o.reader == "r0"]
    assert r0 == [f"3074257BF7194E40000000{n:02X}" for n in range(5)]
    assert sum(1 for o in received if isinstance(o, TagRead) and o.reader == "r1") == 2


async def test_the_gateways_clock_reaches_every_driver_and_the_health_it_keeps() -> None:
    simulated = dt.datetime(2031, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    settings = settings_with({"kind": "counting", "reads": 1}, {"kind": "counting", "reads": 1})
    registry = Registry({"counting": CountingReader})
    async with run_gateway(settings, registry=registry, clock=lambda: simulated) as gateway:
        for _ in range(200):
            if all(gateway.health(d).observations == 1 for d in ("r0", "r1")):
                break
            await asyncio.sleep(0.01)
        for device in ("r0", "r1"):
            driver = gateway.drivers[device]
            assert isinstance(driver, CountingReader)
            assert driver.clock() == simulated
            assert gateway.health(device).last_seen == simulated


async def test_commands_go_through_the_driver_that_owns_the_device() -> None:
    settings = settings_with({"kind": "counting", "reads": 0})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader})) as gateway:
        await gateway.send("r0", DisplayText("2 for 1"))
        with pytest.raises(CommandRefused, match="only text"):
            await gateway.send("r0", Lock())
        with pytest.raises(CommandRefused, match="not run by this gateway"):
            await gateway.send("nope", Lock())
        driver = gateway.drivers["r0"]
        assert isinstance(driver, CountingReader)
        assert driver.shown == ["2 for 1"]


async def test_bad_driver_settings_are_refused_at_start_naming_the_key() -> None:
    settings = settings_with({"kind": "counting", "reads": "many"}, {"kind": "countin"})
    with pytest.raises(ConfigError) as caught:
        async with run_gateway(settings, registry=Registry({"counting": CountingReader})):
            pass
    message = str(caught.value)
    assert "devices.0.driver.reads:" in message
    assert "devices.1.driver.kind: unknown driver kind 'countin'" in message


async def test_the_tally_counts_what_came_in() -> None:
    tally = Tally()
    settings = settings_with({"kind": "counting", "reads": 4})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader}), handle=tally) as gateway:
        for _ in range(200):
            if gateway.health("r0").observations == 4:
                break
            await asyncio.sleep(0.01)
    assert tally.kinds["read:epc"] == 4
    assert tally.kinds["status:up"] == 1
    assert tally.devices["r0"] == 4


def test_the_example_configs_driver_settings_all_validate_with_the_installed_drivers() -> None:
    example = load_settings(Path(__file__).parents[3] / "silentgw" / "example.toml", {})
    drivers = build_drivers(example, Registry.installed())
    assert set(drivers) == {d.id for d in example.devices}
