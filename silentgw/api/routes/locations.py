"""Locations: the site's tree (site > area > location) that stock is counted in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import Out, PageOut, Slug
from silentgw.gateway.store.models import Location, LocationKind

router = APIRouter(prefix="/locations", tags=["locations"])

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class LocationIn(BaseModel):
    """A new location; ``parent`` names the location it sits in (none for the top of the tree)."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name
    kind: LocationKind = LocationKind.LOCATION
    parent: Slug | None = None


class LocationPatch(BaseModel):
    """Changes to a location; moving it under another parent is allowed unless it would make a cycle."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: LocationKind | None = None
    parent: Slug | None = None


class LocationOut(Out):
    """A location."""

    id: str
    name: str
    kind: LocationKind
    parent: str | None = Field(validation_alias="parent_id")
    site: str = Field(validation_alias="site_id")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a location")
def create_location(body: LocationIn, catalog: CatalogDep, request: Request, response: Response) -> LocationOut:
    """Add a location to the tree; 422 when its parent does not exist."""
    catalog.check_parent(body.id, body.parent)
    site = catalog.site()
    row = catalog.add(Location(id=body.id, name=body.name, kind=body.kind, parent_id=body.parent, site_id=site.id))
    response.headers["Location"] = str(request.url_for("get_location", location_id=row.id))
    return LocationOut.model_validate(row)


@router.get("", summary="List locations")
def list_locations(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    parent: Annotated[str | None, Query(description="Only the children of this location")] = None,
    kind: Annotated[LocationKind | None, Query()] = None,
) -> PageOut[LocationOut]:
    """Locations in id order, a page at a time."""
    where = []
    if parent is not None:
        where.append(Location.parent_id == parent)
    if kind is not None:
        where.append(Location.kind == kind)
    page = catalog.page(Location, where=where, cursor=cursor, limit=limit)
    return PageOut(items=[LocationOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{location_id}", summary="Get a location")
def get_location(location_id: str, catalog: CatalogDep) -> LocationOut:
    """The location with this id."""
    return LocationOut.model_validate(catalog.get(Location, location_id))


@router.patch("/{location_id}", summary="Update a location")
def update_location(location_id: str, body: LocationPatch, catalog: CatalogDep) -> LocationOut:
    """Change the fields given; ``"parent": null`` moves it to the top of the tree."""
    row = catalog.get(Location, location_id)
    changes = body.model_dump(exclude_unset=True)
    if "parent" in changes:
        catalog.check_parent(location_id, changes["parent"])
        changes["parent_id"] = changes.pop("parent")
    changes = {k: v for k, v in changes.items() if v is not None or k == "parent_id"}
    return LocationOut.model_validate(catalog.update(row, changes))


@router.delete("/{location_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a location")
def delete_location(location_id: str, catalog: CatalogDep) -> None:
    """Remove a location; 409 while it has children, zones or stock."""
    catalog.delete(catalog.get(Location, location_id))
