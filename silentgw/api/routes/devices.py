"""Devices: readers (with their antenna-to-zone map), sensors, displays and locks, with their driver settings.

A device's driver options here are a record for people: the gateway runs the drivers of its settings file. Their
secrets are write-only: a write may carry one, the database keeps only that it is set, and every read shows it as
``**********`` (see ``gateway/redaction.py``).
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import PageOut, Slug
from silentgw.gateway import redaction
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.store.models import Device, DeviceKind, Location

router = APIRouter(prefix="/devices", tags=["devices"])

Name = Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)]

SECRETS = (
    "Secrets are write-only: an option named like a secret (`password`, `token`, `secret`, `api_key`, ...) and the "
    "password of a URL (`mqtt://user:PASSWORD@host`) are not stored and read back as `**********` when set."
)


class DriverIn(BaseModel):
    """Which driver serves the device (``kind``) and that driver's own options."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(min_length=1, max_length=64, examples=["uhf-m100"])


class AntennaIn(BaseModel):
    """One antenna port and the zone it covers."""

    model_config = ConfigDict(extra="forbid")

    port: int = Field(ge=1, le=64)
    zone: Slug


def _unique_ports(antennas: list[AntennaIn] | None) -> None:
    ports = [a.port for a in antennas or []]
    if len(ports) != len(set(ports)):
        raise ValueError("antenna ports must be unique")


class DeviceIn(BaseModel):
    """A new device; only readers have antennas (the catalog refuses them on others, naming ``antennas``)."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name = ""
    kind: DeviceKind
    driver: DriverIn = Field(description=f"The driver and its options. {SECRETS}")
    location: Slug | None = None
    enabled: bool = True
    antennas: list[AntennaIn] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _antennas_fit(self) -> Self:
        _unique_ports(self.antennas)
        return self


class DevicePatch(BaseModel):
    """Changes to a device; ``antennas`` replaces the whole map."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    driver: DriverIn | None = Field(
        default=None,
        description=f"The driver and its options, replacing the stored ones; a secret left out stays "
        f"set (`null` unsets it). {SECRETS}",
    )
    location: Slug | None = None
    enabled: bool | None = None
    antennas: list[AntennaIn] | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _antennas_fit(self) -> Self:
        _unique_ports(self.antennas)
        return self


class AntennaOut(BaseModel):
    """An antenna and its zone."""

    port: int
    zone: str


class DeviceOut(BaseModel):
    """A device."""

    id: str
    name: str
    kind: DeviceKind
    driver: dict[str, Any] = Field(description=f"The driver's kind and options. {SECRETS}")
    location: str | None
    enabled: bool
    antennas: list[AntennaOut]


def _out(row: Device, catalog: Catalog, antennas: list[Any] | None = None) -> DeviceOut:
    found = catalog.antennas(row.id) if antennas is None else antennas
    return DeviceOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        driver=redaction.masked(row.driver),  # stored masked; masked again should a row predate that
        location=row.location_id,
        enabled=row.enabled,
        antennas=[AntennaOut(port=a.port, zone=a.zone_id) for a in found],
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a device")
def create_device(body: DeviceIn, catalog: CatalogDep, request: Request, response: Response) -> DeviceOut:
    """Add a device; 422 when its location or an antenna's zone does not exist."""
    catalog.require(Location, body.location, field="location")
    site = catalog.site()
    row = catalog.add(
        Device(
            id=body.id,
            name=body.name,
            kind=body.kind,
            driver=redaction.written(body.driver.model_dump(), {}),
            location_id=body.location,
            enabled=body.enabled,
            site_id=site.id,
        )
    )
    catalog.set_antennas(row, [(a.port, a.zone) for a in body.antennas])
    response.headers["Location"] = str(request.url_for("get_device", device_id=row.id))
    return _out(row, catalog)


@router.get("", summary="List devices")
def list_devices(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    kind: Annotated[DeviceKind | None, Query()] = None,
    location: Annotated[str | None, Query(description="Only the devices at this location")] = None,
) -> PageOut[DeviceOut]:
    """Devices in id order, a page at a time."""
    where = []
    if kind is not None:
        where.append(Device.kind == kind)
    if location is not None:
        where.append(Device.location_id == location)
    page = catalog.page(Device, where=where, cursor=cursor, limit=limit)
    antennas = catalog.antennas_of([d.id for d in page.items])
    return PageOut(items=[_out(d, catalog, antennas[d.id]) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{device_id}", summary="Get a device")
def get_device(device_id: str, catalog: CatalogDep) -> DeviceOut:
    """The device with this id, with its antennas."""
    return _out(catalog.get(Device, device_id), catalog)


@router.patch("/{device_id}", summary="Update a device")
def update_device(device_id: str, body: DevicePatch, catalog: CatalogDep) -> DeviceOut:
    """Change the fields given; ``"location": null`` detaches it from its location. ``driver`` replaces the options,
    except that a secret it leaves out stays set (``"password": null`` unsets one) while the kind stays the same."""
    row = catalog.get(Device, device_id)
    changes = body.model_dump(exclude_unset=True)
    antennas = changes.pop("antennas", None)
    if changes.get("driver") is not None:
        same_kind = changes["driver"]["kind"] == row.driver.get("kind")
        changes["driver"] = redaction.written(changes["driver"], row.driver if same_kind else {})
    if "location" in changes:
        catalog.require(Location, changes["location"], field="location")
        changes["location_id"] = changes.pop("location")
    changes = {k: v for k, v in changes.items() if v is not None or k == "location_id"}
    catalog.update(row, changes)
    if antennas is not None:
        catalog.set_antennas(row, [(a["port"], a["zone"]) for a in antennas])
    return _out(row, catalog)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a device")
def delete_device(device_id: str, catalog: CatalogDep) -> None:
    """Remove a device and its antenna map."""
    catalog.delete(catalog.get(Device, device_id))
