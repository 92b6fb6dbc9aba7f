"""Zones: where a reader's antenna looks (a shelf, the backroom, a dock door, a checkout, an exit)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import Out, PageOut, Slug
from silentgw.gateway.store.models import Location, Zone, ZoneKind

router = APIRouter(prefix="/zones", tags=["zones"])

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class ZoneIn(BaseModel):
    """A new zone in a location."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name
    kind: ZoneKind
    location: Slug


class ZonePatch(BaseModel):
    """Changes to a zone."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: ZoneKind | None = None
    location: Slug | None = None


class ZoneOut(Out):
    """A zone."""

    id: str
    name: str
    kind: ZoneKind
    location: str = Field(validation_alias="location_id")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a zone")
def create_zone(body: ZoneIn, catalog: CatalogDep, request: Request, response: Response) -> ZoneOut:
    """Add a zone; 422 when its location does not exist."""
    catalog.require(Location, body.location, field="location")
    row = catalog.add(Zone(id=body.id, name=body.name, kind=body.kind, location_id=body.location))
    response.headers["Location"] = str(request.url_for("get_zone", zone_id=row.id))
    return ZoneOut.model_validate(row)


@router.get("", summary="List zones")
def list_zones(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    location: Annotated[str | None, Query(description="Only the zones of this location")] = None,
    kind: Annotated[ZoneKind | None, Query()] = None,
) -> PageOut[ZoneOut]:
    """Zones in id order, a page at a time."""
    where = []
    if location is not None:
        where.append(Zone.location_id == location)
    if kind is not None:
        where.append(Zone.kind == kind)
    page = catalog.page(Zone, where=where, cursor=cursor, limit=limit)
    return PageOut(items=[ZoneOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{zone_id}", summary="Get a zone")
def get_zone(zone_id: str, catalog: CatalogDep) -> ZoneOut:
    """The zone with this id."""
    return ZoneOut.model_validate(catalog.get(Zone, zone_id))


@router.patch("/{zone_id}", summary="Update a zone")
def update_zone(zone_id: str, body: ZonePatch, catalog: CatalogDep) -> ZoneOut:
    """Change the fields given."""
    row = catalog.get(Zone, zone_id)
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "location" in changes:
        catalog.require(Location, changes["location"], field="location")
        changes["location_id"] = changes.pop("location")
    return ZoneOut.model_validate(catalog.update(row, changes))


@router.delete("/{zone_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a zone")
def delete_zone(zone_id: str, catalog: CatalogDep) -> None:
    """Remove a zone; 409 while an antenna looks at it."""
    catalog.delete(catalog.get(Zone, zone_id))
