"""The broker's side of the settings: who connects as whom, which topics each account may use, the Mosquitto files
that say so, and the warning when the gateway itself connects anonymously.

**The design.** Every MQTT device gets an account of its own at the broker, named by its device id; the gateway has
one (``[mqtt] username``, ``silentgw`` when unset). The ACL lets

* each **device** publish only on the topics its driver subscribes to (a Zebra's tag data, management events and
  control responses; an Impinj's event topic; a generic JSON device's topics) and read only the topics its driver
  sends commands on (a Zebra's control topic, a generic device's command topic);
* the **gateway** read every device's topics, write their command topics, read and write ``silentgw/{site}/#``
  (events, retained state, status, commands) and read ``$SYS/#`` (the broker's counters, docs/mqtt.md);
* **nobody else** anything: no anonymous access, no ``pattern`` lines, so no device can write
  ``silentgw/{site}/state/...`` or another device's topics.

The devices' passwords are not in the settings (they are typed into each reader's own console): ``silentgw broker
config`` makes strong ones and prints them once. The gateway's password is ``[mqtt] password`` when set.

**The gateway's account for its drivers.** An MQTT driver that names no ``username`` of its own, on the broker of
``[mqtt]`` (same host and port), connects with ``[mqtt]``'s username, password and TLS (:func:`driver_options`),
so one ``SILENTGW_MQTT__PASSWORD`` serves the sink and every reader's subscription.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from silentgw.drivers.base import UnknownDriver
from silentgw.drivers.mqtt.settings import MqttSettings as BrokerSettings
from silentgw.drivers.mqtt.topics import DeviceTopics, OnBroker
from silentgw.drivers.registry import Registry
from silentgw.gateway.config import DeviceSettings, Settings

__all__ = [
    "DEFAULT_GATEWAY_USER",
    "Account",
    "BrokerPlan",
    "acl_file",
    "anonymous",
    "driver_options",
    "new_password",
    "password_hash",
    "plan",
    "warn_anonymous",
]

logger = logging.getLogger(__name__)

DEFAULT_GATEWAY_USER = "silentgw"
"""The gateway's account when ``[mqtt] username`` is unset."""
PBKDF2_ITERATIONS = 101
"""What mosquitto_passwd 2.0 uses for its ``$7$`` (PBKDF2-SHA512) hashes; the broker reads the count from the line."""
_SALT_BYTES = 12
_INHERITED = ("username", "password", "tls")


@dataclass(slots=True)
class Account:
    """One broker account: its user name, its password when the settings hold one, and what it may do."""

    user: str
    password: str | None
    """The clear password from the settings (the gateway's), or None: one is made up."""
    about: str
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    readwrites: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BrokerPlan:
    """Every account the broker needs for these settings, the gateway's first; and what the user must still do."""

    accounts: list[Account]
    notes: list[str]


def driver_options(settings: Settings, device: DeviceSettings, registry: Registry) -> dict[str, Any]:
    """``device``'s driver options, with ``[mqtt]``'s username, password and TLS filled in for an MQTT driver that
    names no username of its own and talks to the same broker (host and port) as ``[mqtt]``."""
    options = device.driver.model_dump(exclude={"kind"})
    if options.get("username") is not None or settings.mqtt.username is None:
        return options
    try:
        own = registry.settings(device.driver.kind, options)
    except (UnknownDriver, ValidationError):  # build_drivers reports it, naming the key
        return options
    if isinstance(own, BrokerSettings) and (own.host, own.port) == (settings.mqtt.host, settings.mqtt.port):
        mqtt = settings.mqtt.model_dump(include=set(_INHERITED))
        if settings.mqtt.password is not None:
            mqtt["password"] = settings.mqtt.password.get_secret_value()
        options.update({k: v for k, v in mqtt.items() if options.get(k) is None and v is not None})
    return options


def plan(settings: Settings, registry: Registry, drivers: Mapping[str, object]) -> BrokerPlan:
    """The accounts of the broker of ``settings``: the gateway's and one per MQTT device of ``drivers``."""
    site = settings.site.id
    notes: list[str] = []
    gateway_user = settings.mqtt.username or DEFAULT_GATEWAY_USER
    if settings.mqtt.username is None:
        notes.append(f'[mqtt] has no username: set username = "{gateway_user}" and SILENTGW_MQTT__PASSWORD')
    password = settings.mqtt.password.get_secret_value() if settings.mqtt.password is not None else None
    gateway = Account(gateway_user, password, f"the gateway of site {site}",
                      reads=["$SYS/#"], readwrites=[f"silentgw/{site}/#"])  # fmt: skip
    accounts: dict[str, Account] = {gateway_user: gateway}
    devices: list[Account] = []
    for device in settings.devices:
        driver = drivers.get(device.id)
        if not isinstance(driver, OnBroker):
            continue
        topics = driver.device_topics()
        _refuse_odd(device.id, topics)
        own = getattr(driver, "settings", None)
        user = getattr(own, "username", None) or gateway_user
        if getattr(own, "username", None) is None:
            notes.append(f"device {device.id}: its driver connects anonymously; set [mqtt] username (or "
                         f"driver.username) so it connects as {user!r}")  # fmt: skip
        reader = accounts.setdefault(user, Account(user, None, "the gateway's subscriptions"))
        reader.reads.extend(t for t in topics.publishes if t not in reader.reads)
        reader.writes.extend(t for t in topics.reads if t not in reader.writes)
        broker = f"{getattr(own, 'host', '?')}:{getattr(own, 'port', '?')}"
        about = f"device {device.id} ({device.driver.kind}"
        about += ")" if broker == f"{settings.mqtt.host}:{settings.mqtt.port}" else f", on the broker {broker})"
        devices.append(Account(device.id, None, about, reads=list(topics.reads), writes=list(topics.publishes)))
    clash = sorted({d.user for d in devices} & set(accounts))
    if clash:
        raise ValueError(f"device id(s) {', '.join(clash)} are also the gateway's user name: rename one")
    return BrokerPlan([*accounts.values(), *devices], notes)


def _refuse_odd(device: str, topics: DeviceTopics) -> None:
    for topic in (*topics.publishes, *topics.reads):
        if not topic or any(c in topic for c in "\r\n\0") or topic != topic.strip():
            raise ValueError(f"device {device}: topic {topic!r} cannot be written in an ACL file")


def acl_file(accounts: Sequence[Account], *, site: str) -> str:
    """The Mosquitto ACL file of ``accounts`` (mosquitto.conf(5), ``acl_file``): each user only its own topics."""
    lines = [
        f"# Mosquitto ACL for silentgw site {site}: written by `silentgw broker config`; write it again after",
        "# changing devices or their topics. No lines before the first `user`: anonymous clients may do nothing,",
        "# and no `pattern` lines: no account may use a topic not listed under it.",
    ]
    for account in accounts:
        lines += ["", f"# {account.about}", f"user {account.user}"]
        lines += [f"topic read {t}" for t in account.reads]
        lines += [f"topic write {t}" for t in account.writes]
        lines += [f"topic readwrite {t}" for t in account.readwrites]
    return "\n".join(lines) + "\n"


def new_password() -> str:
    """A strong password for a device account: 192 random bits, URL-safe (no ``:``, which the file format splits on)."""
    return secrets.token_urlsafe(24)


def password_hash(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``password`` hashed as mosquitto_passwd 2.0 does: ``$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>``."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def anonymous(settings: Settings, drivers: Mapping[str, object], *, sink: bool) -> dict[str, list[str]]:
    """Each broker (``host:port``) the gateway connects to with neither a user name nor a client certificate, and who
    connects so (``[mqtt]`` for the events sink when ``sink``, else each device's driver)."""
    found: dict[str, list[str]] = {}
    connections: Iterable[tuple[str, object]] = [("[mqtt]", settings.mqtt)] if sink else []
    connections = [*connections, *((f"device {d}", getattr(x, "settings", None)) for d, x in drivers.items())]
    for who, own in connections:
        if not isinstance(own, BrokerSettings):
            continue
        certified = own.tls is not None and own.tls.cert_file is not None
        if own.username is None and not certified:
            found.setdefault(f"{own.host}:{own.port}", []).append(who)
    return found


def warn_anonymous(settings: Settings, drivers: Mapping[str, object], *, sink: bool) -> None:
    """Log a warning per broker the gateway connects to anonymously: anyone there can publish reads."""
    for broker, who in anonymous(settings, drivers, sink=sink).items():
        logger.warning(
            "connecting to MQTT broker %s anonymously (%s): anyone who reaches it can publish reads; set [mqtt] "
            "username and password and see `silentgw broker config`",
            broker,
            ", ".join(who),
        )
