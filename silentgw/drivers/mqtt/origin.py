"""Which reader a payload says it comes from, checked against the reader the settings expect on that topic.

A broker's ACL decides who may publish on a reader's topic; the payload of some readers also names the reader
(Zebra's IoT Connector adds the reader's host name and MAC to each tag event when its tag meta data asks for them,
the Impinj IoT device interface puts ``hostname`` on every event). A client that got hold of another account, or a
broker left open, can still write any bytes, but a read naming another reader, or no reader at all, is then
set aside with its reason rather than counted as stock. It is a second lock, not the first: a spoofer who knows
the reader's name can write it, so the broker's password and ACL files (``silentgw broker config``) come first.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from silentgw.drivers.mqtt.payloads import shown

__all__ = ["ANY_READER", "MAC_PATTERN", "Origin", "mac_digits"]

MAC_PATTERN = r"^[0-9A-Fa-f]{2}([:.-]?[0-9A-Fa-f]{2}){5}$"
"""A MAC address as settings take it: six hex octets, with colons, dashes, dots or nothing between them."""
_SEPARATORS = re.compile(r"[:.-]")


def mac_digits(mac: str) -> str:
    """``mac`` as twelve lower-case hex digits, whatever its separators (``84:24:8D:EE:46:62`` -> ``84248dee4662``)."""
    return _SEPARATORS.sub("", mac).lower()


class Origin(NamedTuple):
    """The reader a payload must name: its host name and MAC (either may be None: not checked)."""

    hostname: str | None = None
    mac: str | None = None
    hostname_keys: tuple[str, ...] = ("hostName", "hostname")
    mac_keys: tuple[str, ...] = ("MAC", "mac", "macAddress")

    @property
    def checked(self) -> bool:
        """Whether anything is checked at all."""
        return self.hostname is not None or self.mac is not None

    def mismatch(self, *places: dict[str, Any]) -> str | None:
        """Why a payload is not from this reader, or None when it names it as expected; the names are looked for
        in each of ``places`` (a payload's objects: the tag's, then the event's) in turn."""
        if self.hostname is not None:
            found = _first(places, self.hostname_keys)
            if found is None:
                return f"names no reader host name (expected {self.hostname!r})"
            if type(found) is not str or found.lower() != self.hostname.lower():
                return f"names reader host name {shown(found)}, not {self.hostname!r}"
        if self.mac is not None:
            found = _first(places, self.mac_keys)
            if found is None:
                return f"names no reader MAC (expected {self.mac})"
            if type(found) is not str or mac_digits(found) != mac_digits(self.mac):
                return f"names reader MAC {shown(found)}, not {self.mac}"
        return None


ANY_READER = Origin()
"""Nothing checked: the default of a parser whose settings name no reader."""


def _first(places: tuple[dict[str, Any], ...], keys: tuple[str, ...]) -> Any:
    for fields in places:
        for key in keys:
            value = fields.get(key)
            if value is not None:
                return value
    return None
