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
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network, ip_network
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

from silentgw.drivers.mqtt.settings import MqttSettings as BrokerSettings
from silentgw.gateway import redaction

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "AccessSettings",
    "AntennaSettings",
    "ApiSettings",
    "CommandSettings",
    "ConfigError",
    "DeviceSettings",
    "DisplaySettings",
    "DriverSettings",
    "EventCommandSettings",
    "LocationSettings",
    "MemberRuleSettings",
    "MqttSettings",
    "PresenceSettings",
    "SensorRuleSettings",
    "Settings",
    "SiteSettings",
    "TimeSeriesSettings",
    "WebhookSettings",
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


class ConfigError(Exception):
    """The configuration was refused; the message names each key and what is wrong with it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Section):
    """The store or warehouse this gateway runs."""

    id: Slug = "store-1"
    name: str = "Store"
    timezone: str = "UTC"


class _Placed(_Section):
    """A place EPCIS may name by its GS1 Global Location Number (a location, or a zone as a read point)."""

    gln: str | None = Field(default=None, pattern=r"^[0-9]{13}$")
    """Its GLN (13 digits): EPCIS then names it by this GLN, as an SGLN, instead of by a URI private to this site
    that a trading partner cannot resolve. A zone often takes its location's GLN with a ``gln_extension``."""
    gln_extension: str | None = Field(default=None, pattern=r"^[!\"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$")
    """A GLN extension (AI 254) naming a place within the GLN's, such as one dock of a warehouse."""

    @field_validator("gln")
    @classmethod
    def _gln_check_digit(cls, gln: str | None) -> str | None:
        return checked_gln(gln)

    @model_validator(mode="after")
    def _extension_needs_gln(self) -> Self:
        if self.gln_extension is not None and self.gln is None:
            raise ValueError("gln_extension extends a GLN: give gln too")
        return self


def checked_gln(gln: str | None) -> str | None:
    """``gln`` if its last digit is its GS1 check digit (mod 10, weights 3 and 1 from the right); a typo in a GLN
    would otherwise name another company's place in every event sent to a partner."""
    if gln is None:
        return None
    total = sum(int(digit) * (3 if i % 2 == 0 else 1) for i, digit in enumerate(reversed(gln[:-1])))
    expected = (10 - total % 10) % 10
    if int(gln[-1]) != expected:
        raise ValueError(f"GLN check digit should be {expected}")
    return gln


class LocationSettings(_Placed):
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


class ZoneSettings(_Placed):
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
    """Where the HTTP API listens, and how large a request body it takes."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1_073_741_824)
    """The largest request body taken (a larger one is answered 413); no route needs more than a few kilobytes."""


class AccessSettings(_Section):
    """How long a staff page sign-in lasts, and how failed attempts are held back (``api/throttle.py`` states the
    policy): failed sign-ins and bad API keys are counted per client address."""

    session_lifetime: float = Field(default=43_200, gt=0, le=2_592_000)
    """Seconds a sign-in on the staff page lasts at most, used or not (12 hours: a shift)."""
    session_idle: float = Field(default=1_800, gt=0, le=2_592_000)
    """Seconds a signed-in page may go unused before its session ends."""
    max_failures: int = Field(default=10, ge=0, le=100_000)
    """Failed sign-ins and bad API keys a client address may have within ``failure_window``; past it, 429. 0: off."""
    failure_window: float = Field(default=60, gt=0, le=86_400)
    """Seconds a failure counts against its address."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of reverse proxies whose ``X-Forwarded-For`` names the client; by default none: the
    client is the socket's peer."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ip_network(entry, strict=False)  # a ValueError names the entry
        return value


class MqttSettings(BrokerSettings):
    """The MQTT broker events go out to: host, TLS, credentials and the session as for MQTT readers, plus whether
    events are published and how many may wait for the broker's acknowledgement at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events: bool = True
    """Publish the outbox's events, retained state and the gateway's status to this broker."""
    in_flight: int = Field(1000, ge=1, le=60_000)
    """QoS 1 messages handed to paho and not yet acknowledged, at most (paho numbers them in 16 bits)."""

    @field_validator("tls", mode="before")
    @classmethod
    def _tls_switch(cls, value: object) -> object:
        # `tls = true` is TLS with the system's CAs; `tls = false` none; a table gives the CA and client certificate.
        if value is True:
            return {}
        return None if value is False else value


class TimeSeriesSettings(_Section):
    """Where sensor readings and the gateway's counters go as time series: any server speaking the InfluxDB v2 write
    API (InfluxDB 2 or 3, VictoriaMetrics, ...); and how wide the downsampled history kept in SQL is."""

    url: str | None = None
    """``http://host:8086`` (VictoriaMetrics: ``http://host:8428``); None: no time series (the SQL history stays)."""
    token: SecretStr | None = None
    org: str = "silentgw"
    bucket: str = "silentgw"
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    """Points sent in one write request, at most."""
    flush_interval: float = Field(default=1.0, gt=0, le=30)
    """Seconds a point may wait for its batch to fill before the batch is sent anyway. At most 30: influxdb-client's
    batch timer runs on a pool thread that the process waits for at exit, up to one interval after closing."""
    retry_interval: float = Field(default=5.0, gt=0, le=3600)
    """Seconds before the client's first retry of a failed write (then doubling, up to 30 s between tries)."""
    max_retry_time: float = Field(default=180.0, gt=0)
    """Seconds the client retries one batch; then the batch waits in the gateway's buffer for the server to be back."""
    max_buffered: int = Field(default=100_000, ge=1)
    """Points held while the server is away, at most; past that the oldest are dropped (counted and logged)."""
    counters_interval: float = Field(default=10.0, gt=0)
    """Seconds between two writes of the gateway's counters and device health."""
    history_bucket_seconds: int = Field(default=60, ge=1, le=86_400)
    """Width of the SQL history's buckets; it divides a day, so buckets line up with hours and days."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @field_validator("history_bucket_seconds")
    @classmethod
    def _divides_a_day(cls, seconds: int) -> int:
        if 86_400 % seconds:
            raise ValueError("must divide a day (86400 seconds): 1, 10, 60, 300, 3600, ...")
        return seconds


class WebhookSettings(_Section):
    """Where webhooks may be sent: public addresses, and the networks allowed here beside them."""

    allow_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    """Networks (CIDR) webhook URLs may reach though they are not public, e.g. ``["10.20.0.0/16"]`` for an ERP on
    the LAN or ``["127.0.0.1/32"]`` for a receiver on this box; each lets every integrator key send requests there.
    Loopback, private, link-local (cloud metadata), shared, multicast and reserved addresses are refused otherwise."""

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        # One plain message per entry ("10.0.0.1/8 has host bits set"), not pydantic's per-union-member ones.
        if not isinstance(value, list | tuple):
            return value
        try:
            return tuple(ip_network(str(entry)) for entry in value)
        except ValueError as exc:
            raise ValueError(f"a network in CIDR form, such as 10.20.0.0/16: {exc}") from None


class CommandSettings(_Section):
    """A command to a device, as a rule's action."""

    device: Slug
    action: Literal["lock", "unlock", "display"]
    text: str | None = None
    """What a display shows (``display`` only)."""
    seconds: float | None = Field(default=None, gt=0)
    """How long an unlock lasts (``unlock`` only; none: until locked)."""


class SensorRuleSettings(_Section):
    """A threshold on a sensor's readings with hysteresis and a minimum duration: an alert, and its clearing."""

    id: Slug
    sensor: Slug
    quantity: str = Field(min_length=1, max_length=64)
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(default=0.0, ge=0)
    """How far back past the threshold a reading must come before the alert clears."""
    duration: float = Field(default=0.0, ge=0, alias="for")
    """Seconds the condition must hold before the alert is raised."""
    location: Slug | None = None
    """Where the sensor is: the items held there get ``disposition`` on an alert."""
    disposition: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")] | None = None
    low_stock: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")], Slug] | None = None
    """A weight shelf's untagged goods: (GTIN, location) reported low (``silentgw.stock.low``) on an alert."""
    command: CommandSettings | None = None
    """Sent to a device when the alert is raised (a lock, a display)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_side(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above and below")
        if self.disposition is not None and self.location is None:
            raise ValueError("a disposition needs the location whose items get it")
        return self


class MemberRuleSettings(_Section):
    """When something happens to a member and a condition holds, tell them or make them an offer."""

    id: Slug
    when: Literal["purchase", "segment_change", "birthday", "first_visit"]
    min_total: Decimal | None = Field(default=None, ge=0)
    """``purchase``: the sale's total at least this."""
    segment: str | None = None
    """``segment_change``: the segment the member moved into (e.g. ``At risk``)."""
    days: int | None = Field(default=None, ge=1)
    """``first_visit``: the first purchase after at least this many days without one."""
    action: Literal["notify", "offer"] = "notify"
    message: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _condition(self) -> Self:
        needs = {"purchase": "min_total", "segment_change": "segment", "first_visit": "days"}.get(self.when)
        if needs is not None and getattr(self, needs) is None:
            raise ValueError(f"a {self.when} rule needs {needs}")
        return self


class DisplaySettings(_Section):
    """A shelf display showing a product's price and its stock at a location, updated when either changes."""

    device: Slug
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")]
    location: Slug


class EventCommandSettings(_Section):
    """Send a command to a device when an event of a type (and subject) is written: a lock on an unpaid exit."""

    on: str = Field(min_length=1, max_length=100, description="An event type, e.g. silentgw.alarm.unpaid_exit")
    subject: str | None = None
    command: CommandSettings


class Settings(BaseSettings):
    """Everything silentgw is configured with; see ``silentgw.example.toml`` for a documented example."""

    model_config = SettingsConfigDict(env_prefix="SILENTGW_", env_nested_delimiter="__", extra="forbid", frozen=True)

    database_url: str = "sqlite:///silentgw.db"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    site: SiteSettings = SiteSettings()
    api: ApiSettings = ApiSettings()
    access: AccessSettings = AccessSettings()
    mqtt: MqttSettings = MqttSettings()
    timeseries: TimeSeriesSettings = TimeSeriesSettings()
    webhooks: WebhookSettings = WebhookSettings()
    locations: tuple[LocationSettings, ...] = ()
    zones: tuple[ZoneSettings, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    sensor_rules: tuple[SensorRuleSettings, ...] = ()
    member_rules: tuple[MemberRuleSettings, ...] = ()
    displays: tuple[DisplaySettings, ...] = ()
    event_commands: tuple[EventCommandSettings, ...] = ()

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
        devices = {d.id for d in self.devices}
        _unique("sensor_rules", [r.id for r in self.sensor_rules], problems)
        _unique("member_rules", [r.id for r in self.member_rules], problems)
        for i, rule in enumerate(self.sensor_rules):
            if rule.location is not None and rule.location not in locations:
                problems.append(f"sensor_rules.{i}.location: unknown location {rule.location!r}")
            if rule.command is not None and rule.command.device not in devices:
                problems.append(f"sensor_rules.{i}.command.device: unknown device {rule.command.device!r}")
        for i, display in enumerate(self.displays):
            if display.device not in devices:
                problems.append(f"displays.{i}.device: unknown device {display.device!r}")
            if display.location not in locations:
                problems.append(f"displays.{i}.location: unknown location {display.location!r}")
        for i, on in enumerate(self.event_commands):
            if on.command.device not in devices:
                problems.append(f"event_commands.{i}.command.device: unknown device {on.command.device!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, with every secret shown as ``**********`` (see ``redaction``)."""
        shown: dict[str, Any] = redaction.masked(self.model_dump(mode="json"))
        return shown


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
        except UnicodeDecodeError as exc:  # TOML is UTF-8
            raise ConfigError(f"{config_file}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except RecursionError as exc:  # arrays nested past the interpreter's limit
            raise ConfigError(f"{config_file}: not valid TOML: nested too deep") from exc
        except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit (tomllib lets it through)
            raise ConfigError(f"{config_file}: not valid TOML: {str(exc).split(';')[0]}") from exc
        except OSError as exc:
            raise ConfigError(f"{config_file}: cannot read it: {exc.strerror or exc}") from exc
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
    except RecursionError as exc:  # a list or table variable nested past the interpreter's limit
        raise ConfigError("a SILENTGW_* variable: not valid JSON (nested too deep)") from exc
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
