"""Zones as presence sees them: the rule each zone judges tags by, and which (reader, antenna) looks at which zone.

A :class:`ZoneRule` holds the thresholds of one zone; :func:`default_rule` gives the defaults of each zone kind (the
reasons are beside each one), and a zone may override any of them. A :class:`ZoneMap` resolves a read's reader and
antenna port to its zone and, in a portal zone, to the side the antenna faces. Both are plain values: the settings
are turned into them once, at start, by :func:`silentgw.gateway.layout.zone_map`, so this module (and presence,
which judges by it) never sees a settings object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "CARD_DRIVERS",
    "CLOCKED_DRIVERS",
    "PORTAL_KINDS",
    "AntennaZone",
    "Role",
    "Zone",
    "ZoneMap",
    "ZoneRule",
    "default_rule",
]

Role = Literal["inner", "outer"]
PORTAL_KINDS: frozenset[str] = frozenset({"dock_door", "exit"})
"""Zones that tags pass through rather than stay in; their inner and outer antennas tell the direction."""
CARD_DRIVERS: frozenset[str] = frozenset({"em4100"})
CLOCKED_DRIVERS: frozenset[str] = frozenset({"zebra-iotc", "impinj-iot", "generic-json"})
"""Drivers whose reads carry the reader's own timestamp (MQTT payloads), not the time the gateway received them."""
"""Drivers of member-card readers: a card on the pad is a member presenting it, not a tagged item in the zone."""


@dataclass(frozen=True, slots=True)
class ZoneRule:
    """How one zone judges tags: when a tag has arrived, when another zone has taken it, when it has gone."""

    arrival_reads: int = 3
    """Reads needed within ``arrival_window`` before a tag counts as arrived (an aggregated read counts its reads)."""
    arrival_window: float = 30.0
    """Seconds; also how long without a read before this zone stops competing for a tag it holds."""
    min_rssi: float | None = None
    """dBm; weaker reads do not count towards arriving here (they still keep a tag already here from timing out)."""
    move_margin: float = 6.0
    """dB by which this zone's averaged RSSI must beat the holding zone's before it can take the tag."""
    move_hold: float = 30.0
    """Seconds this zone must keep the lead before the tag moves here."""
    absence_timeout: float = 300.0
    """Seconds unseen (while a reader of the zone is up) before a tag held here departs; a portal's pass window."""

    def __post_init__(self) -> None:
        if self.arrival_reads < 1:
            raise ValueError("arrival_reads must be at least 1")
        if min(self.arrival_window, self.move_margin, self.move_hold, self.absence_timeout) < 0:
            raise ValueError("windows, margins, hold-offs and timeouts cannot be negative")
        if self.absence_timeout <= self.arrival_window and self.absence_timeout > 0:
            # A tag would time out before the zone stopped competing for it: the move rule and the absence rule
            # would then disagree about whether the tag is still here.
            raise ValueError("absence_timeout must be longer than arrival_window")


# Defaults by kind. Fixed readers report a tag every second or so with many reads dropping out (people, metal,
# other tags in the way); the numbers are chosen so that a few missed inventory rounds never make an event, and an
# edge tag read by two zones needs a clear (6 dB, about four times the power) and lasting lead before it moves.
_DEFAULTS: Mapping[str, ZoneRule] = {
    # Shelves are dense and shoppers handle and occlude items: three reads in 30 s keep a stray cross-read from a
    # neighbouring shelf from placing a tag; five minutes unseen before departing, since stock counts lose little
    # from a late departure and much from a false one.
    "shelf": ZoneRule(),
    # Backroom racks are deep and read poorly, and nothing urgent hangs on a departure from them: a longer timeout.
    "backroom": ZoneRule(move_hold=60.0, absence_timeout=900.0),
    # Receiving holds a delivery briefly before put-away; two reads are enough since cases arrive through the dock
    # door portal anyway.
    "receiving": ZoneRule(arrival_reads=2),
    # A pack station sees an order's items for minutes at most, close to the antenna: quicker on every count.
    "pack_station": ZoneRule(
        arrival_reads=2, arrival_window=15.0, move_margin=4.0, move_hold=10.0, absence_timeout=120.0
    ),
    # A checkout pad is near-field and low-power: one read stronger than -65 dBm is an item laid on it, and the
    # item leaves through the exit within a minute, so there is no time to wait for a lead to last.
    "checkout": ZoneRule(
        arrival_reads=1, arrival_window=10.0, min_rssi=-65.0, move_margin=3.0, move_hold=0.0, absence_timeout=60.0
    ),
    # Portals hold no tag: the timeout is how long one pass may last (a pallet through a dock door is slow, a
    # shopper through the exit quick).
    "dock_door": ZoneRule(arrival_reads=1, arrival_window=5.0, absence_timeout=30.0),
    "exit": ZoneRule(arrival_reads=1, arrival_window=2.0, absence_timeout=10.0),
}


def default_rule(kind: str) -> ZoneRule:
    """The rule a zone of ``kind`` gets unless it overrides some of it."""
    return _DEFAULTS.get(kind, ZoneRule())


@dataclass(frozen=True, slots=True)
class Zone:
    """A zone as presence sees it: its id, kind and rule."""

    id: str
    kind: str
    rule: ZoneRule

    @property
    def portal(self) -> bool:
        """Whether tags pass through this zone (dock door, exit) rather than stay in it."""
        return self.kind in PORTAL_KINDS


@dataclass(frozen=True, slots=True)
class AntennaZone:
    """Where one reader antenna looks: its zone, and in a portal the side it faces."""

    zone: str
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class ZoneMap:
    """The zones and the antenna → zone map presence resolves reads with."""

    zones: Mapping[str, Zone]
    antennas: Mapping[tuple[str, int], AntennaZone] = field(default_factory=dict)
    """Keyed by (reader id, antenna port)."""

    def __post_init__(self) -> None:
        unknown = sorted({a.zone for a in self.antennas.values()} - set(self.zones))
        if unknown:
            raise ValueError(f"antennas look at unknown zone(s): {', '.join(unknown)}")

    def readers(self, zone: str) -> frozenset[str]:
        """The readers with an antenna on ``zone``."""
        return frozenset(reader for (reader, _port), a in self.antennas.items() if a.zone == zone)

    def with_rule(self, zone: str, **changes: float | int | None) -> ZoneMap:
        """A copy with some of ``zone``'s thresholds changed (``move_hold=10.0``)."""
        current = self.zones[zone]
        updated = Zone(current.id, current.kind, replace(current.rule, **changes))  # type: ignore[arg-type]
        return ZoneMap({**self.zones, zone: updated}, self.antennas)
