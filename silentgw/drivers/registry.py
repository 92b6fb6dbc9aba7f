"""The driver registry: which driver serves which ``driver.kind``, filled from the ``silentgw.drivers`` entry points.

Built-in drivers are registered the same way a third party's are, in pyproject.toml::

    [project.entry-points."silentgw.drivers"]
    uhf-m100 = "silentgw.drivers.serial.uhf_m100:UhfM100Reader"

An entry point names a driver class: it has a ``kind`` (also its dialect's name), a ``transport`` (``serial`` or
``mqtt``), a pydantic ``Settings`` model for its options, a ``parser(device, settings)`` class method giving the pure
:class:`~silentgw.drivers.dialect.Parser` of its wire format, and is built as ``cls(device, settings)``. Tests
build a :class:`Registry` of their own instead of using the installed one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ValidationError

from silentgw.drivers.base import Driver, UnknownDriver
from silentgw.drivers.dialect import Parser
from silentgw.drivers.supervisor import Clock, utcnow

__all__ = ["DriverClass", "Registry"]

GROUP = "silentgw.drivers"


class DriverClass(Protocol):
    """What an entry point of the ``silentgw.drivers`` group names."""

    # Read-only (properties), so a driver's narrower types (its own Settings model) still match.
    @property
    def kind(self) -> str:
        """The driver kind, also its dialect's name (``uhf-m100``)."""
        ...

    @property
    def transport(self) -> Literal["serial", "mqtt"]:
        """How the device is reached."""
        ...

    # and a pydantic model class ``Settings`` of its options: read through Registry.model, since mypy cannot match
    # a nested class against a protocol member.

    def __call__(self, device: str, settings: Any, *, clock: Clock = ...) -> Driver:
        """Build the driver of ``device`` with its validated settings; ``clock`` stamps what it receives."""
        ...

    def parser(self, device: str, settings: Any) -> Parser:
        """The pure parser of this driver's wire format (``silentgw drivers parse`` feeds it captured input)."""
        ...


class Registry:
    """A mapping from driver kind to driver class."""

    def __init__(self, drivers: Mapping[str, DriverClass], *, origins: Mapping[str, str] | None = None) -> None:
        self._drivers = dict(drivers)
        self._origins = dict(origins or {})

    @classmethod
    def installed(cls) -> Registry:
        """The drivers installed in this environment (built-in and third-party)."""
        found: dict[str, DriverClass] = {}
        origins: dict[str, str] = {}
        for ep in entry_points(group=GROUP):
            found[ep.name] = ep.load()
            origins[ep.name] = f"{ep.value} ({ep.dist.name if ep.dist else 'unknown distribution'})"
        return cls(found, origins=origins)

    def kinds(self) -> list[str]:
        """The kinds known, sorted."""
        return sorted(self._drivers)

    def origin(self, kind: str) -> str:
        """Where the driver of ``kind`` comes from: its entry point and distribution, when installed that way."""
        return self._origins.get(kind, "registered directly")

    def get(self, kind: str) -> DriverClass:
        """The driver class of ``kind``; :class:`UnknownDriver` names the known ones."""
        try:
            return self._drivers[kind]
        except KeyError:
            known = ", ".join(self.kinds()) or "none installed"
            raise UnknownDriver(f"unknown driver kind {kind!r} (known: {known})") from None

    def model(self, kind: str) -> type[BaseModel]:
        """The pydantic model of the options of the driver of ``kind``."""
        model = getattr(self.get(kind), "Settings", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise UnknownDriver(f"driver {kind!r} has no Settings model")
        return model

    def settings(self, kind: str, options: Mapping[str, Any]) -> BaseModel:
        """Validate a device's driver options with the driver's own model (``ValidationError`` names the field)."""
        return self.model(kind).model_validate(dict(options))

    def build(self, device: str, kind: str, options: Mapping[str, Any], *, clock: Clock = utcnow) -> Driver:
        """The driver of ``device``, its options validated, stamping what it receives with ``clock``."""
        return self.get(kind)(device, self.settings(kind, options), clock=clock)

    def problems(self, devices: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
        """Every problem with the devices' driver settings, each naming its key (``devices.2.driver.baudrate``)."""
        found: list[str] = []
        for i, (_device, kind, options) in enumerate(devices):
            try:
                self.settings(kind, options)
            except UnknownDriver as exc:
                found.append(f"devices.{i}.driver.kind: {exc}")
            except ValidationError as exc:
                for error in exc.errors():
                    where = ".".join(str(p) for p in error["loc"])
                    found.append(f"devices.{i}.driver.{where}: {error['msg']}")
        return found
