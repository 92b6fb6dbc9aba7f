"""silentgw's events as GS1 EPCIS 2.0 JSON-LD: item movements and sensor alerts as ObjectEvents, in capture and
query documents.

Identifiers. Items are named by their EPC's pure identity URN (``urn:epc:id:sgtin:...``) or, with
``identifiers="dl"``, by its GS1 Digital Link (``https://id.gs1.org/01/.../21/...``). A "+" EPC whose company prefix
is not known has no URN; it, and an item whose EPC is not stored, is named by the Digital Link of its GS1 key in
either mode (EPCIS 2.0 takes both forms alike). A location or zone with a GLN in the settings is named the same way,
as an SGLN; one without is named by a URI private to the site, ``urn:silentgw:<site>:location:<id>`` or
``urn:silentgw:<site>:zone:<id>`` (sensors: ``urn:silentgw:<site>:device:<id>``), stable as long as the site and
place ids are, but meaningless to a partner: give places GLNs before sharing events.

The zone is the read point, the location the business location (where the item is counted after the event; none
once it is sold, shipped or missing). ``eventID`` is the CBV 2.0 event hash (:mod:`.eventhash`), which is the same
for both identifier forms. The table of reasons is in :mod:`.vocabulary`.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from silentgw.gateway.epcis import vocabulary
from silentgw.gateway.epcis.eventhash import event_hash
from silentgw.gateway.events import StoredEvent, rfc3339
from silentgw.gateway.identity import CompanyPrefixes, Epc, EpcError, decode
from silentgw.gateway.identity.charset import uri_escape
from silentgw.gateway.identity.gs1 import digital_link
from silentgw.gateway.identity.uri import parse

if TYPE_CHECKING:
    from silentgw.gateway.config import Settings

__all__ = [
    "CONTEXT",
    "EPCIS_TYPES",
    "Identifiers",
    "Place",
    "Site",
    "capture_document",
    "object_event",
    "query_document",
]

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
"""The standard JSON-LD context of EPCIS 2.0 documents."""

EPCIS_TYPES = ("silentgw.item.*", "silentgw.sensor.alert", "silentgw.sensor.cleared")
"""The event types that have an EPCIS form (as :func:`silentgw.gateway.events.matches` patterns)."""

Identifiers = Literal["urn", "dl"]


@dataclass(frozen=True, slots=True)
class Place:
    """A location or zone as EPCIS names it: its kind, and its GLN (with an extension) if it has one."""

    id: str
    kind: str
    gln: str | None = None
    extension: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    """What rendering needs to know of the site: its id and time zone, its places, and known company prefixes."""

    id: str
    timezone: str = "UTC"
    locations: Mapping[str, Place] = field(default_factory=dict)
    zones: Mapping[str, Place] = field(default_factory=dict)
    prefixes: CompanyPrefixes | None = None

    @classmethod
    def of(cls, settings: Settings, *, prefixes: CompanyPrefixes | None = None) -> Site:
        """The site of ``settings`` (values only, so that rendering stays free of the settings classes)."""
        return cls(
            id=settings.site.id,
            timezone=settings.site.timezone,
            locations={x.id: Place(x.id, x.kind, x.gln, x.gln_extension) for x in settings.locations},
            zones={z.id: Place(z.id, z.kind, z.gln, z.gln_extension) for z in settings.zones},
            prefixes=prefixes,
        )

    def offset(self, time: dt.datetime) -> dt.tzinfo:
        """The site's UTC offset at ``time`` (UTC if the configured zone is unknown to this system)."""
        try:
            zone: dt.tzinfo = zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC
        return dt.timezone(time.astimezone(zone).utcoffset() or dt.timedelta(0))


def object_event(event: StoredEvent, site: Site, *, identifiers: Identifiers = "urn") -> dict[str, Any] | None:
    """The EPCIS ObjectEvent of an item or sensor event, with its ``eventID``; None for other events."""
    kind, _, rest = event.type.removeprefix("silentgw.").partition(".")
    if kind == "item":
        body = _item(event.data, rest, site, identifiers)
    elif kind == "sensor" and rest in ("alert", "cleared"):
        body = _sensor(event, rest == "alert", site, identifiers)
    else:
        return None
    offset = site.offset(event.time)
    rendered = {
        "type": "ObjectEvent",
        "eventTime": event.time.astimezone(offset).isoformat(timespec="milliseconds"),
        "eventTimeZoneOffset": _offset_text(offset, event.time),
        **body,
    }
    return {"eventID": event_hash(rendered), **rendered}


def capture_document(events: Iterable[Mapping[str, Any]], *, created: dt.datetime) -> dict[str, Any]:
    """An EPCISDocument carrying ``events``, to hand to a trading partner or to a repository's capture interface."""
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created),
        "epcisBody": {"eventList": list(events)},
    }


def query_document(
    events: Iterable[Mapping[str, Any]], *, created: dt.datetime, query_name: str = "SimpleEventQuery"
) -> dict[str, Any]:
    """An EPCISQueryDocument: the answer of the query interface, ``events`` as its results."""
    return {
        "@context": [CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created),
        "epcisBody": {"queryResults": {"queryName": query_name, "resultsBody": {"eventList": list(events)}}},
    }


def _item(data: Mapping[str, Any], reason: str, site: Site, identifiers: Identifiers) -> dict[str, Any]:
    """The fields of an item movement's event after its time: what, how, why, where."""
    zone = site.zones.get(data.get("zone") or "")
    step = vocabulary.step(reason, zone.kind if zone is not None else None) or vocabulary.Step("OBSERVE", None, None)
    out: dict[str, Any] = {"epcList": [_item_id(data, site, identifiers)], "action": step.action}
    if step.biz_step is not None:
        out["bizStep"] = step.biz_step
    if step.disposition is not None:
        out["disposition"] = step.disposition
    if data.get("zone"):
        out["readPoint"] = {"id": _place_id(site, "zone", data["zone"], identifiers)}
    if data.get("to_location"):
        out["bizLocation"] = {"id": _place_id(site, "location", data["to_location"], identifiers)}
    return out


def _sensor(event: StoredEvent, alert: bool, site: Site, identifiers: Identifiers) -> dict[str, Any]:
    """The fields of a sensor alert (or its clearing): the items it concerns, where, and the reading."""
    data = event.data
    epcs = [name for hex_ in data.get("items") or () if (name := _epc_id(hex_, site, identifiers)) is not None]
    if data.get("zone"):
        read_point = _place_id(site, "zone", data["zone"], identifiers)
    else:
        read_point = _place_id(site, "location", data.get("location") or "unknown", identifiers)
    out: dict[str, Any] = {
        "epcList": list(dict.fromkeys(epcs)),
        "action": "OBSERVE",
        "bizStep": "sensor_reporting",
        "readPoint": {"id": read_point},
    }
    if data.get("location"):
        out["bizLocation"] = {"id": _place_id(site, "location", data["location"], identifiers)}
    quantity = str(data.get("quantity") or "unknown")
    report: dict[str, Any] = {"type": vocabulary.measurement_type(quantity) or _own(site, "quantity", quantity)}
    if alert:
        report["exception"] = "ALARM_CONDITION"
    if isinstance(data.get("value"), int | float) and not isinstance(data.get("value"), bool):
        report["value"] = data["value"]
    unit = vocabulary.uom(data.get("unit"))
    if unit is not None:
        report["uom"] = unit
    metadata = {"time": event.time.astimezone(site.offset(event.time)).isoformat(timespec="milliseconds")}
    if data.get("sensor"):
        metadata["deviceID"] = _own(site, "device", str(data["sensor"]))
    out["sensorElementList"] = [{"sensorMetadata": metadata, "sensorReport": [report]}]
    return out


def _item_id(data: Mapping[str, Any], site: Site, identifiers: Identifiers) -> str:
    """An item's EPC as a URN or Digital Link: from its tag when stored, else from its GS1 key."""
    from_tag = _epc_id(data["epc"], site, identifiers) if data.get("epc") else None
    return from_tag or _key_link(str(data["item"]), site)


def _epc_id(hex_: str, site: Site, identifiers: Identifiers) -> str | None:
    """The URN (or Digital Link) of the EPC ``hex_``; None if it does not decode to a GS1 identity."""
    try:
        epc = decode(hex_, prefixes=site.prefixes)
    except EpcError:
        return None
    if not isinstance(epc, Epc):
        return None
    return epc.uri if identifiers == "urn" and epc.uri is not None else epc.digital_link


def _key_link(key: str, site: Site) -> str:
    """The Digital Link of a GS1 element string such as ``(01)00614141812345(21)6789`` (should a stored key ever
    not parse, a URI of the site's own that still names the item)."""
    try:
        ais = parse(key).ais
    except EpcError:
        ais = None
    return digital_link(ais.items()) if ais else _own(site, "item", key)


def _place_id(site: Site, kind: Literal["location", "zone"], place_id: str, identifiers: Identifiers) -> str:
    """A location's or zone's identifier: its SGLN if it has a GLN, else the site's own URI for it."""
    place = (site.locations if kind == "location" else site.zones).get(place_id)
    if place is None or place.gln is None:
        return _own(site, kind, place_id)
    length = site.prefixes.length_for(place.gln) if site.prefixes is not None else None
    if identifiers == "urn" and length is not None:
        extension = uri_escape(place.extension or "0")
        return f"urn:epc:id:sgln:{place.gln[:length]}.{place.gln[length:12]}.{extension}"
    ais = [("414", place.gln)] + ([("254", place.extension)] if place.extension else [])
    return digital_link(ais)


def _own(site: Site, kind: str, name: str) -> str:
    """The site's own URI for a place, device, quantity or item that has no GS1 identifier."""
    return f"urn:silentgw:{site.id}:{kind}:{quote(name, safe='')}"


def _offset_text(offset: dt.tzinfo, time: dt.datetime) -> str:
    """An offset as EPCIS writes it: ``+01:00``, ``-06:00``, ``+00:00``."""
    minutes = int((offset.utcoffset(time) or dt.timedelta(0)).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
