"""Restock: reorder rules per product and location, and the requests they raise (approve, order, cancel)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, select, tuple_

from silentgw.api.auth import allow
from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import Gtin, PageOut, Slug
from silentgw.gateway.catalog import Catalog, Conflict, NotFound, decode_cursor, encode_cursor
from silentgw.gateway.restock import OPEN
from silentgw.gateway.store.models import Location, Product, ReorderRule, RestockRequest, RestockState, Role
from silentgw.gateway.store.restock import StepRefused, UnknownRequest, take_step

router = APIRouter(prefix="/restock", tags=["restock"])


MAX_QUANTITY = 1_000_000_000
"""The largest minimum, maximum and multiple: a request's quantity (at most maximum + multiple - 1) then fits its
column (``restock_requests.quantity``, 32 bits), so the rules never raise one the database refuses."""


class RuleIn(BaseModel):
    """When and how much to reorder."""

    model_config = ConfigDict(extra="forbid")

    minimum: int = Field(
        ge=0, le=MAX_QUANTITY, description="A request is raised when the level falls to this or below."
    )
    maximum: int = Field(ge=1, le=MAX_QUANTITY, description="The level a request brings the stock back to.")
    multiple: int = Field(
        1, ge=1, le=MAX_QUANTITY, description="Order quantities are rounded up to a multiple of this."
    )
    lead_time_days: int = Field(0, ge=0, le=365)
    auto_approve: bool = False

    @model_validator(mode="after")
    def _maximum_above_minimum(self) -> Self:
        if self.maximum <= self.minimum:
            raise ValueError("maximum must be above minimum")
        return self


class RuleOut(BaseModel):
    """A reorder rule (as stored: a rule written before the bounds of :class:`RuleIn` is still shown)."""

    gtin: str
    location: str
    minimum: int
    maximum: int
    multiple: int
    lead_time_days: int
    auto_approve: bool


class RequestOut(BaseModel):
    """A restock request."""

    id: str
    gtin: str
    location: str
    quantity: int
    received: int
    level: int = Field(description="The stock level that raised it.")
    state: RestockState
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime


def _product(catalog: Catalog, gtin: str) -> Product:
    product = catalog.session.scalar(select(Product).where(Product.gtin == gtin))
    if product is None:
        raise NotFound(f"product {gtin} not found")
    return product


@router.put("/rules/{gtin}/{location}", summary="Set the reorder rule of a product at a location")
def put_rule(gtin: Gtin, location: Slug, body: RuleIn, catalog: CatalogDep) -> RuleOut:
    """Create or replace the rule; 404 for an unknown product or location."""
    product = _product(catalog, gtin)
    catalog.get(Location, location)
    row = catalog.session.get(ReorderRule, (product.id, location))
    if row is None:
        row = ReorderRule(product_id=product.id, location_id=location)
        catalog.session.add(row)
    for name, value in body.model_dump().items():
        setattr(row, name, value)
    catalog.session.flush()
    return RuleOut(gtin=gtin, location=location, **body.model_dump())


@router.get("/rules", summary="List reorder rules")
def list_rules(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    location: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[RuleOut]:
    """Reorder rules (of one location, if given), a page at a time."""
    r = ReorderRule.__table__.c
    query = (
        select(ReorderRule, Product.gtin).join(Product, Product.id == ReorderRule.product_id)
        .order_by(r.product_id, r.location_id).limit(limit + 1)
    )  # fmt: skip
    if location is not None:
        query = query.where(r.location_id == location)
    if cursor is not None:
        pid, loc = decode_cursor(cursor, int, str)
        query = query.where(tuple_(r.product_id, r.location_id) > tuple_(pid, loc))
    rows = catalog.session.execute(query).all()
    more, rows = len(rows) > limit, rows[:limit]
    return PageOut[RuleOut](
        items=[
            RuleOut(
                gtin=gtin,
                location=row.location_id,
                minimum=row.minimum,
                maximum=row.maximum,
                multiple=row.multiple,
                lead_time_days=row.lead_time_days,
                auto_approve=row.auto_approve,
            )
            for row, gtin in rows
        ],
        next_cursor=encode_cursor(rows[-1][0].product_id, rows[-1][0].location_id) if more else None,
    )


@router.delete("/rules/{gtin}/{location}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a reorder rule")
def delete_rule(gtin: Gtin, location: Slug, catalog: CatalogDep) -> None:
    """Stop reordering the product at the location (open requests stay)."""
    product = _product(catalog, gtin)
    row = catalog.session.get(ReorderRule, (product.id, location))
    if row is None:
        raise NotFound(f"no reorder rule for {gtin} at {location}")
    catalog.session.delete(row)


def _request_out(row: RestockRequest, gtin: str) -> RequestOut:
    return RequestOut(
        id=row.id, gtin=gtin, location=row.location_id, quantity=row.quantity, received=row.received,
        level=row.level, state=row.state, created_at=row.created_at, updated_at=row.updated_at, due_at=row.due_at,
    )  # fmt: skip


@router.get("/requests", summary="List restock requests")
def list_requests(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    state: Annotated[
        RestockState | Literal["open"] | None, Query(description="Only requests in this state; `open`: not closed.")
    ] = None,
    location: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[RequestOut]:
    """Restock requests, oldest first."""
    where: list[ColumnElement[bool]] = []
    if state == "open":
        where.append(RestockRequest.state.in_(sorted(OPEN)))
    elif state is not None:
        where.append(RestockRequest.state == state)
    if location is not None:
        where.append(RestockRequest.location_id == location)
    page = catalog.page(RestockRequest, where=where, cursor=cursor, limit=limit)
    query = select(Product.id, Product.gtin).where(Product.id.in_({r.product_id for r in page.items}))
    gtins = {pid: gtin for pid, gtin in catalog.session.execute(query)}
    return PageOut[RequestOut](
        items=[_request_out(r, gtins[r.product_id]) for r in page.items], next_cursor=page.next_cursor
    )


@router.get("/requests/{request_id}", summary="Get a restock request")
def get_request(request_id: str, catalog: CatalogDep) -> RequestOut:
    """One request."""
    row = catalog.get(RestockRequest, request_id, what="restock request")
    product = catalog.get(Product, row.product_id)
    return _request_out(row, product.gtin)


def _step(catalog: Catalog, request_id: str, step: str) -> RequestOut:
    conn = catalog.session.connection()
    try:
        take_step(conn, request_id, step, time=dt.datetime.now(dt.UTC))
    except UnknownRequest as exc:
        raise NotFound(str(exc)) from None
    except StepRefused as exc:
        raise Conflict(str(exc), field="state") from exc
    catalog.session.expire_all()
    return get_request(request_id, catalog)


@router.post("/requests/{request_id}/approve", summary="Approve a proposed restock request")
@allow(Role.OPERATOR)
def approve(request_id: str, catalog: CatalogDep) -> RequestOut:
    """Approve; 409 unless the request is proposed."""
    return _step(catalog, request_id, "approve")


@router.post("/requests/{request_id}/order", summary="Mark a restock request ordered from the supplier")
@allow(Role.OPERATOR)
def order(request_id: str, catalog: CatalogDep) -> RequestOut:
    """Order; 409 unless the request is proposed or approved."""
    return _step(catalog, request_id, "order")


@router.post("/requests/{request_id}/cancel", summary="Cancel a restock request")
@allow(Role.OPERATOR)
def cancel(request_id: str, catalog: CatalogDep) -> RequestOut:
    """Cancel; 409 once the request is received or cancelled."""
    return _step(catalog, request_id, "cancel")
