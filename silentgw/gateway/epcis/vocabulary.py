"""What silentgw's events mean in the GS1 Core Business Vocabulary (CBV 2.0): action, business step and disposition
for each reason an item moves, and the measurement types and units of sensor readings.

Items (``silentgw.item.<reason>``, one per ledger movement; see gateway/ledger.py for when each happens):

============  =======  ======================  ========================  =========================================
reason        action   bizStep                 disposition               why
============  =======  ======================  ========================  =========================================
commissioned  ADD      commissioning           active                    first seen on a shelf or in the backroom
                                                                         and taken into stock here: the event that
                                                                         brings the EPC into this system's world
received      OBSERVE  receiving               in_progress               arrived through receiving or a dock door;
                                                                         the tag existed before (ADD is only for
                                                                         commissioning), it is not on sale yet
moved         OBSERVE  by the zone it reached  by the zone it reached    see the zone table below
sold          OBSERVE  retail_selling          retail_sold               checked out: ownership passed to a customer
shipped       OBSERVE  shipping                in_transit                passed out through a dock door
missing       OBSERVE  cycle_counting          unknown                   the continuous count (or a cycle count) no
                                                                         longer finds it; where it is, and whether
                                                                         it was stolen, is not known
found         OBSERVE  cycle_counting          by the zone it reached    a missing item seen again by the count
============  =======  ======================  ========================  =========================================

Zones an item moves to (``moved``), and the disposition an item found again has there:

============  ================  =======================
zone kind     bizStep           disposition
============  ================  =======================
shelf         stocking          sellable_accessible
backroom      storing           sellable_not_accessible
receiving     receiving         in_progress
pack_station  picking           in_progress
dock_door     staging_outbound  in_progress
checkout      (none)            sellable_accessible
exit          (none)            sellable_accessible
============  ================  =======================

A customer carrying an item to a checkout or an exit is no business step of the store's, so none is claimed. No
reason is DELETE: the CBV keeps DELETE for decommissioning, destroying and killing a tag, and silentgw does none of
these; a sold or shipped item's EPC still names it. Sensor alerts are OBSERVE with bizStep ``sensor_reporting``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

__all__ = ["Step", "measurement_type", "step", "uom"]

Action = Literal["ADD", "OBSERVE", "DELETE"]


class Step(NamedTuple):
    """An event's action, business step and disposition (CBV 2.0 bare names; None where none applies)."""

    action: Action
    biz_step: str | None
    disposition: str | None


_BY_REASON: dict[str, Step] = {
    "commissioned": Step("ADD", "commissioning", "active"),
    "received": Step("OBSERVE", "receiving", "in_progress"),
    "sold": Step("OBSERVE", "retail_selling", "retail_sold"),
    "shipped": Step("OBSERVE", "shipping", "in_transit"),
    "missing": Step("OBSERVE", "cycle_counting", "unknown"),
}
_BY_ZONE_KIND: dict[str, tuple[str | None, str]] = {
    "shelf": ("stocking", "sellable_accessible"),
    "backroom": ("storing", "sellable_not_accessible"),
    "receiving": ("receiving", "in_progress"),
    "pack_station": ("picking", "in_progress"),
    "dock_door": ("staging_outbound", "in_progress"),
    "checkout": (None, "sellable_accessible"),
    "exit": (None, "sellable_accessible"),
}

# GS1 Web Vocabulary measurement types (the EPCIS 2.0 schema's enumeration) by the names sensors report.
_MEASUREMENTS = {
    "temperature": "Temperature", "humidity": "RelativeHumidity", "relative_humidity": "RelativeHumidity",
    "absolute_humidity": "AbsoluteHumidity", "weight": "Mass", "mass": "Mass", "pressure": "Pressure",
    "illuminance": "Illuminance", "light": "Illuminance", "voltage": "Voltage", "speed": "Speed",
    "length": "Length", "distance": "Length", "volume": "Volume", "count": "Count", "power": "Power",
    "energy": "Energy", "frequency": "Frequency", "acceleration": "Acceleration", "time": "Time",
}  # fmt: skip
# Units as sensors write them -> UN/CEFACT Recommendation 20 codes, which EPCIS uses for `uom`.
_UNITS = {
    "°C": "CEL", "C": "CEL", "Cel": "CEL", "degC": "CEL", "°F": "FAH", "F": "FAH", "[degF]": "FAH", "K": "KEL",
    "%": "P1", "g": "GRM", "kg": "KGM", "Pa": "PAL", "hPa": "A97", "kPa": "KPA", "bar": "BAR", "lx": "LUX",
    "V": "VLT", "mV": "2Z", "A": "AMP", "W": "WTT", "m": "MTR", "cm": "CMT", "mm": "MMT", "l": "LTR", "L": "LTR",
    "s": "SEC", "Hz": "HTZ", "m/s": "MTS", "km/h": "KMH",
}  # fmt: skip
_UOM_CODE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def step(reason: str, zone_kind: str | None) -> Step | None:
    """The action, bizStep and disposition of an item event, or None for a reason this table does not know."""
    fixed = _BY_REASON.get(reason)
    if fixed is not None:
        return fixed
    biz_step, disposition = _BY_ZONE_KIND.get(zone_kind or "", (None, None))
    if reason == "moved":
        return Step("OBSERVE", biz_step, disposition)
    if reason == "found":
        return Step("OBSERVE", "cycle_counting", disposition)
    return None


def measurement_type(quantity: str) -> str | None:
    """The GS1 measurement type of a sensor quantity (``temperature`` -> ``Temperature``), or None if unknown."""
    return _MEASUREMENTS.get(quantity.strip().lower().replace(" ", "_").replace("-", "_"))


def uom(unit: str | None) -> str | None:
    """The UN/CEFACT Rec. 20 code of ``unit`` (a code already, or a common symbol), or None if not known."""
    if unit is None:
        return None
    if unit in _UNITS:
        return _UNITS[unit]
    return unit if 2 <= len(unit) <= 3 and _UOM_CODE.issuperset(unit) else None
