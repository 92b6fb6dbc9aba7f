"""The registry: drivers by kind, their settings validated by their own model, third parties added by installing."""

from __future__ import annotations

import datetime as dt
import sys
import textwrap
from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from silentgw.drivers.base import Emit, UnknownDriver
from silentgw.drivers.dialect import Parser
from silentgw.drivers.observations import Observation, Rejected
from silentgw.drivers.registry import Registry
from silentgw.drivers.supervisor import Clock, utcnow


class _NullParser:
    def feed(self, data: bytes, now: dt.datetime) -> list[Observation | Rejected]:
        return []

    def flush(self, now: dt.datetime) -> list[Observation | Rejected]:
        return []


class ScaleDriver:
    """A made-up weight-shelf driver."""

    kind: ClassVar[str] = "scale"
    transport: ClassVar[Literal["serial", "mqtt"]] = "serial"

    class Settings(BaseModel):
        model_config = ConfigDict(extra="forbid")
        url: str
        baudrate: int = 9600

    def __init__(self, device: str, settings: Settings, *, clock: Clock = utcnow) -> None:
        self.device = device
        self.settings = settings
        self.clock = clock

    async def run(self, emit: Emit) -> None:
        raise NotImplementedError

    @classmethod
    def parser(cls, device: str, settings: Settings) -> Parser:
        return _NullParser()


def test_build_validates_options_with_the_drivers_own_model() -> None:
    registry = Registry({"scale": ScaleDriver})
    driver = registry.build("scale-1", "scale", {"url": "loop://", "baudrate": "19200"})
    assert isinstance(driver, ScaleDriver)
    assert driver.device == "scale-1"
    assert driver.settings.baudrate == 19200


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(UnknownDriver, match=r"unknown driver kind 'scael' \(known: scale\)"):
        Registry({"scale": ScaleDriver}).get("scael")


def test_problems_name_each_devices_key() -> None:
    registry = Registry({"scale": ScaleDriver})
    problems = registry.problems(
        [
            ("ok", "scale", {"url": "loop://"}),
            ("typo", "scael", {}),
            ("bad", "scale", {"url": "loop://", "baudrate": "fast", "parity": "N"}),
        ]
    )
    assert problems[0].startswith("devices.1.driver.kind: unknown driver kind 'scael'")
    assert any(p.startswith("devices.2.driver.baudrate:") for p in problems)
    assert any(p.startswith("devices.2.driver.parity:") for p in problems)
    assert len(problems) == 3


def test_a_third_party_driver_is_found_once_its_package_is_installed(tmp_path: Path) -> None:
    # What `pip install silentgw-scale` leaves behind: a module and its distribution's entry points.
    (tmp_path / "silentgw_scale.py").write_text(
        textwrap.dedent(
            """
            from tests.unit.drivers.test_registry import ScaleDriver as ScaleShelf
            """
        )
    )
    dist = tmp_path / "silentgw_scale-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: silentgw-scale\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[silentgw.drivers]\nscale = silentgw_scale:ScaleShelf\n")
    sys.path.insert(0, str(tmp_path))
    try:
        registry = Registry.installed()
        assert registry.get("scale") is ScaleDriver
        assert "silentgw-scale" in registry.origin("scale")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("silentgw_scale", None)
