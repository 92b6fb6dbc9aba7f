"""Settings: one typed object, loaded from a TOML file and ``SILENTGW_*`` variables.

The precedence is environment over file over defaults. Nothing else in silentgw reads the environment: the entry point
calls :func:`load_settings` once, with the environment it was given, and hands the parts down.

Nested keys use ``__`` in variable names: ``SILENTGW_API__PORT=8080`` sets ``[api] port``. Lists and tables may be
given as JSON: ``SILENTGW_ZONES='[{"id": "z1", ...}]'``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "AntennaSettings",
    "ApiSettings",
    "ConfigError",
    "DeviceSettings",
    "DriverSettings",
    "LocationSettings",
    "MqttSettings",
    "PresenceSettings",
    "Settings",
    "SiteSettings",
    "ZoneSettings",
    "load_settings",
]

DEFAULT_CONFIG_FILE = Path("silentgw.toml")

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
"""An identifier people type and read: lower-case letters, digits, dot, dash and underscore."""

ZoneKind = Literal["shelf", "backroom", "receiving", "dock_door", "pack_station", "checkout", "exit"]
LocationKind = Literal["site", "area", "location"]
DeviceKind = Literal["reader", "sensor", "display", "lock"]

_ENV_PREFIX = "SILENTGW_"
_ENV_NOT_SETTINGS = frozenset({"SILENTGW_CONFIG"})  # read by the command line itself: which file to load
_SECRET_NAME = re.compile(r"(password|secret|token|key)$")


class ConfigError(Exception):
    """The configuration was refused; the message names each key and what is wrong with it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    """The store or warehouse this gateway runs."""

    id: Slug = "store-1"
    name: str = "Store"
    timezone: str = "UTC"


class LocationSettings(_Section):
    """A place in the site's tree (site > area > location); ``parent`` names another location."""

    id: Slug
    name: str
    kind: LocationKind = "location"
    parent: Slug | None = None


class PresenceSettings(_Section):
    """A zone's presence thresholds; each one left out keeps the default of the zone's kind (see gateway/zones.py)."""

    arrival_reads: int | None = Field(default=None, ge=1)
    arrival_window: float | None = Field(default=None, ge=0)
    min_rssi: float | None = Field(default=None, le=0)
    move_margin: float | None = Field(default=None, ge=0)
    move_hold: float | None = Field(default=None, ge=0)
    absence_timeout: float | None = Field(default=None, ge=0)


class ZoneSettings(_Section):
    """Where a (reader, antenna) pair looks: a shelf, the backroom, a dock door, a checkout, an exit."""

    id: Slug
    name: str
    kind: ZoneKind
    location: Slug
    presence: PresenceSettings = PresenceSettings()
    """Thresholds that differ from the defaults of the zone's kind."""


class AntennaSettings(_Section):
    """One antenna port of a reader and the zone it covers."""

    port: int = Field(ge=1, le=64)
    zone: Slug
    role: Literal["inner", "outer"] | None = None
    """In a portal zone (dock door, exit): which side this antenna faces; the order they see a tag is its direction."""


class DriverSettings(BaseModel):
    """Which driver serves a device, and its options (validated by the driver's own model when it is built)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = Field(min_length=1)


class DeviceSettings(_Section):
    """A reader, sensor, display or lock, served by one driver instance."""

    id: Slug
    name: str = ""
    kind: DeviceKind
    driver: DriverSettings
    location: Slug | None = None
    antennas: tuple[AntennaSettings, ...] = ()

    @model_validator(mode="after")
    def _antennas_only_on_readers(self) -> Self:
        if self.antennas and self.kind != "reader":
            raise ValueError(f"only readers have antennas, this device is a {self.kind}")
        ports = [a.port for a in self.antennas]
        if len(ports) != len(set(ports)):
            raise ValueError("antenna ports must be unique per reader")
        return self


class ApiSettings(_Section):
    """Where the HTTP API listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class MqttSettings(_Section):
    """The MQTT broker that events go out to and MQTT readers come in from."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    client_id: str = "silentgw"


class Settings(BaseSettings):
    """Everything silentgw is configured with; see ``silentgw.example.toml`` for a documented example."""

    model_config = SettingsConfigDict(env_prefix="SILENTGW_", env_nested_delimiter="__", extra="forbid", frozen=True)

    database_url: str = "sqlite:///silentgw.db"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    site: SiteSettings = SiteSettings()
    api: ApiSettings = ApiSettings()
    mqtt: MqttSettings = MqttSettings()
    locations: tuple[LocationSettings, ...] = ()
    zones: tuple[ZoneSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what the caller passes: :func:`load_settings` composes the file and the environment it is given."""
        return (init_settings,)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "sqlite+", "postgresql:", "postgresql+", "postgres:")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems: list[str] = []
        locations = _unique("locations", [loc.id for loc in self.locations], problems)
        zones = _unique("zones", [z.id for z in self.zones], problems)
        _unique("devices", [d.id for d in self.devices], problems)
        for i, loc in enumerate(self.locations):
            if loc.parent is not None and loc.parent not in locations:
                problems.append(f"locations.{i}.parent: unknown location {loc.parent!r}")
        problems.extend(_cycles(self.locations))
        for i, zone in enumerate(self.zones):
            if zone.location not in locations:
                problems.append(f"zones.{i}.location: unknown location {zone.location!r}")
        portal = {z.id: z.kind in ("dock_door", "exit") for z in self.zones}
        for i, device in enumerate(self.devices):
            if device.location is not None and device.location not in locations:
                problems.append(f"devices.{i}.location: unknown location {device.location!r}")
            for j, antenna in enumerate(device.antennas):
                if antenna.zone not in zones:
                    problems.append(f"devices.{i}.antennas.{j}.zone: unknown zone {antenna.zone!r}")
                elif antenna.role is not None and portal.get(antenna.zone) is False:
                    problems.append(
                        f"devices.{i}.antennas.{j}.role: only portal zones (dock_door, exit) have inner and outer "
                        f"antennas; {antenna.zone!r} is not one"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, with every secret shown as ``**********``."""
        masked: dict[str, Any] = _mask(self.model_dump(mode="json"))
        return masked


def _unique(section: str, ids: list[str], problems: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            problems.append(f"{section}.{i}.id: duplicate id {ident!r}")
        seen.add(ident)
    return seen


def _cycles(locations: tuple[LocationSettings, ...]) -> list[str]:
    parent = {loc.id: loc.parent for loc in locations}
    problems = []
    for i, loc in enumerate(locations):
        seen = {loc.id}
        up = loc.parent
        while up is not None and up in parent:
            if up in seen:
                problems.append(f"locations.{i}.parent: location {loc.id!r} is its own ancestor")
                break
            seen.add(up)
            up = parent[up]
    return problems


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if value is not None and _SECRET_NAME.search(key.lower()):
        return "**********"
    if key == "database_url" and isinstance(value, str):
        value = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1**********@", value)
        # libpq also takes the password as a query parameter: postgresql://host/db?password=...
        return re.sub(r"([?&]password=)[^&]*", r"\1**********", value, flags=re.IGNORECASE)
    return value


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' own ``SILENTGW_*`` parsing, applied to the mapping given instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._environ.items()}


def load_settings(config_file: Path | None, environ: Mapping[str, str]) -> Settings:
    """Build the settings from a TOML file (if any) overlaid with the ``SILENTGW_*`` variables of ``environ``.

    Raises :class:`ConfigError` naming every bad key, so a bad config is refused at start with a useful message.
    """
    data: dict[str, Any] = {}
    origin = "environment"
    if config_file is not None:
        origin = str(config_file)
        try:
            with config_file.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ConfigError(f"{config_file}: no such file") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from exc
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith(_ENV_PREFIX)
        and name.upper() not in _ENV_NOT_SETTINGS
        and name[len(_ENV_PREFIX) :].split("__")[0].lower() not in Settings.model_fields
    )
    if unknown:
        raise ConfigError("unknown settings variable(s): " + ", ".join(unknown))
    try:
        overrides = _EnvironSource(Settings, environ)()
    except SettingsError as exc:  # a list or table variable that is not valid JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = _ENV_PREFIX + found[1].upper() if found else "a SILENTGW_* variable"
        raise ConfigError(f"{name}: not valid JSON ({exc.__cause__ or exc})") from exc
    if overrides:
        origin = f"{origin} and SILENTGW_* variables" if config_file is not None else "SILENTGW_* variables"
    try:
        return Settings(**_deep_merge(data, overrides))
    except ValidationError as exc:
        raise ConfigError(_describe(origin, exc, overrides)) from exc


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _variable(loc: tuple[int | str, ...], overrides: Mapping[str, Any]) -> str | None:
    """The ``SILENTGW_*`` variable that set the value at ``loc``, if one did (a JSON list is one variable)."""
    node: Any = overrides
    names: list[str] = []
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return None
        names.append(str(part))
        node = node[part]
        if not isinstance(node, Mapping):
            break
    return _ENV_PREFIX + "__".join(names).upper() if names else None


def _describe(origin: str, exc: ValidationError, overrides: Mapping[str, Any]) -> str:
    lines = [f"invalid configuration ({origin}):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        variable = _variable(error["loc"], overrides)
        if variable is not None:
            key = f"{key} (from {variable})"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        for part in message.split("; "):
            lines.append(f"  {key}: {part}" if key else f"  {part}")
    return "\n".join(lines)
