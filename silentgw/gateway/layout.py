"""The configured layout (site, locations, zones, devices, antennas): written into the store, and handed to the
pure core as values.

The settings file is the source of truth for what hardware is where; ``apply_layout`` makes the database agree,
inserting what is new and updating what changed, so it is safe to run at every start. Rows the API added and the
file does not mention are left alone.

Presence and checkout decide from plain values, never from the settings (so the pure core stays free of pydantic):
:func:`zone_map`, :func:`checkout_rules` and :func:`card_readers` turn the settings into those values, once, where
the settings are read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from silentgw.gateway import redaction, zones
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.checkout import CheckoutRules
from silentgw.gateway.config import LocationSettings, Settings
from silentgw.gateway.store.models import Device, DeviceKind, Location, LocationKind, Site, Zone, ZoneKind

__all__ = ["LayoutChanges", "apply_layout", "card_readers", "checkout_rules", "zone_map"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LayoutChanges:
    """How many of the site, locations, zones and devices ``apply_layout`` inserted and updated.

    A reader and its antennas count as one: a new reader is one insert, a changed antenna map one update.
    """

    inserted: int
    updated: int


def _parents_first(locations: tuple[LocationSettings, ...]) -> list[LocationSettings]:
    placed: set[str] = set()
    ordered: list[LocationSettings] = []
    pending = list(locations)
    while pending:  # the settings already refused cycles and unknown parents, so this terminates
        ready = [loc for loc in pending if loc.parent is None or loc.parent in placed]
        ordered.extend(ready)
        placed.update(loc.id for loc in ready)
        pending = [loc for loc in pending if loc.id not in placed]
    return ordered


def apply_layout(catalog: Catalog, settings: Settings) -> LayoutChanges:
    """Make the store's site, locations, zones, devices and antennas match ``settings``."""
    inserted = updated = 0
    site = catalog.session.get(Site, catalog.site_id)
    if site is None:
        site = catalog.add(Site(id=catalog.site_id, name=settings.site.name, timezone=settings.site.timezone))
        inserted += 1
    elif (site.name, site.timezone) != (settings.site.name, settings.site.timezone):
        catalog.update(site, {"name": settings.site.name, "timezone": settings.site.timezone})
        updated += 1

    def upsert(row: Location | Zone | Device, values: dict[str, object]) -> bool:
        """Insert or update the row; whether it was updated."""
        nonlocal inserted, updated
        existing = catalog.session.get(type(row), row.id)
        if existing is None:
            catalog.add(row)
            inserted += 1
        elif any(getattr(existing, k) != v for k, v in values.items()):
            catalog.update(existing, values)
            updated += 1
            return True
        return False

    for loc in _parents_first(settings.locations):
        values: dict[str, object] = {"name": loc.name, "kind": LocationKind(loc.kind), "parent_id": loc.parent}
        upsert(Location(id=loc.id, site_id=site.id, **values), values)
    for zone in settings.zones:
        values = {"name": zone.name, "kind": ZoneKind(zone.kind), "location_id": zone.location}
        upsert(Zone(id=zone.id, **values), values)
    for dev in settings.devices:
        values = {
            "name": dev.name,
            "kind": DeviceKind(dev.kind),
            # a record for people (the drivers run from the settings): its secrets are not stored
            "driver": redaction.masked(dev.driver.model_dump()),
            "location_id": dev.location,
        }
        existed = catalog.session.get(Device, dev.id) is not None
        device_updated = upsert(Device(id=dev.id, site_id=site.id, **values), values)
        # compared in port order, as the store lists them: the file may list ports in any order
        wanted = sorted((a.port, a.zone) for a in dev.antennas)
        if [(a.port, a.zone_id) for a in catalog.antennas(dev.id)] != wanted:
            catalog.set_antennas(catalog.get(Device, dev.id), wanted)
            if existed and not device_updated:
                updated += 1
    logger.info("layout of site %s applied: %d inserted, %d updated", site.id, inserted, updated)
    return LayoutChanges(inserted=inserted, updated=updated)


def zone_map(settings: Settings) -> zones.ZoneMap:
    """The zones presence judges by: each zone's rule is its kind's default with the thresholds its settings give;
    every antenna of a reader that is not a card reader, resolved to its zone."""
    found: dict[str, zones.Zone] = {}
    for z in settings.zones:
        given = z.presence.model_dump(exclude_none=True)
        try:
            rule = replace(zones.default_rule(z.kind), **given)
        except ValueError as exc:
            raise ValueError(f"zones.{z.id}.presence: {exc}") from exc
        found[z.id] = zones.Zone(z.id, z.kind, rule)
    antennas = {
        (device.id, a.port): zones.AntennaZone(a.zone, a.role)
        for device in settings.devices
        if device.driver.kind not in zones.CARD_DRIVERS
        for a in device.antennas
    }
    return zones.ZoneMap(found, antennas)


def checkout_rules(settings: Settings) -> CheckoutRules:
    """The checkouts and exits of the configured store, with checkout's default timings."""
    checkouts = frozenset(z.id for z in settings.zones if z.kind == "checkout")
    exits = frozenset(z.id for z in settings.zones if z.kind == "exit")
    return CheckoutRules(checkouts, exits)


def clocked_readers(settings: Settings) -> frozenset[str]:
    """The readers whose reads carry their own timestamps (presence keeps those times when they arrive late)."""
    return frozenset(d.id for d in settings.devices if d.driver.kind in zones.CLOCKED_DRIVERS)


def card_readers(settings: Settings) -> dict[str, str]:
    """Card reader id -> the checkout zone it serves, for the configured readers with a card driver.

    Card readers at zones that are not checkouts serve something else (a door, say) and are left out; a card reader
    whose antennas name two checkouts is refused, since a card read could not then say where the member is.
    """
    checkouts = {z.id for z in settings.zones if z.kind == "checkout"}
    readers: dict[str, str] = {}
    for device in settings.devices:
        if device.driver.kind not in zones.CARD_DRIVERS:
            continue
        served = sorted({a.zone for a in device.antennas} & checkouts)
        if len(served) > 1:
            raise ValueError(f"card reader {device.id} serves more than one checkout: {', '.join(served)}")
        if served:
            readers[device.id] = served[0]
    return readers
