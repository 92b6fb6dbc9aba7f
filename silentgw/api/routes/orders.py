"""Orders: logistics systems place orders; the gateway allocates items, lists what to pick, checks the packing
and says when they ship (each step is an event: ``silentgw.order.*``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Self

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import ColumnElement

from silentgw.api.auth import allow
from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import Gtin, PageOut
from silentgw.gateway.catalog import Catalog, Conflict, InvalidValue, NotFound, UnknownReference
from silentgw.gateway.store import orders
from silentgw.gateway.store.models import Order, OrderState, Role

router = APIRouter(prefix="/orders", tags=["orders"])

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class LineIn(BaseModel):
    """A product, by GTIN or by SKU, and how many."""

    model_config = ConfigDict(extra="forbid")

    gtin: Gtin | None = None
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    quantity: int = Field(ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.gtin is None) == (self.sku is None):
            raise ValueError("give either gtin or sku")
        return self


class ShipTo(BaseModel):
    """Where the order goes."""

    model_config = ConfigDict(extra="forbid")

    name: Text
    street: Text
    city: Text
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(description="ISO 3166-1 alpha-2")


class OrderIn(BaseModel):
    """A new order; the same ``reference`` again returns the order already taken (safe to retry)."""

    model_config = ConfigDict(extra="forbid")

    reference: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    ship_to: ShipTo


class LineOut(BaseModel):
    """An order line and how many items are allocated to it."""

    line: int
    gtin: str
    sku: str
    quantity: int
    allocated: int


class OrderOut(BaseModel):
    """An order."""

    id: str
    reference: str | None
    state: OrderState
    ship_to: dict[str, Any]
    lines: list[LineOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class PickOut(BaseModel):
    """An allocated item: where to pick it, and whether it was packed and shipped."""

    line: int
    item: str
    epc: str
    gtin: str
    name: str
    zone: str | None
    location: str | None
    packed: bool
    shipped: bool


class VerifyOut(BaseModel):
    """The packing check: the allocated items not read at a pack station."""

    order: str
    missing: list[str]
    complete: bool


def _out(catalog: Catalog, rows: list[Order]) -> list[OrderOut]:
    lines = orders.lines_of(catalog.session.connection(), [r.id for r in rows])
    return [
        OrderOut(id=r.id, reference=r.reference, state=r.state, ship_to=r.ship_to,
                 lines=[LineOut(**ln) for ln in lines.get(r.id, [])], created_at=r.created_at,
                 updated_at=r.updated_at)
        for r in rows
    ]  # fmt: skip


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Place an order")
@allow(Role.INTEGRATOR)
def create_order(body: OrderIn, catalog: CatalogDep, request: Request, response: Response) -> OrderOut:
    """Take the order and allocate what is in stock (201), or return the order of a known reference (200)."""
    lines = [orders.OrderLineIn(quantity=ln.quantity, gtin=ln.gtin, sku=ln.sku) for ln in body.lines]
    try:
        order, new = orders.create(catalog.session.connection(), lines=lines, ship_to=body.ship_to.model_dump(),
                                   reference=body.reference, time=_now())  # fmt: skip
    except orders.OrderError as exc:
        raise UnknownReference(str(exc), field=exc.field) from exc
    if not new:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = str(request.url_for("get_order", order_id=order))
    catalog.session.expire_all()
    return get_order(order, catalog)


@router.get("", summary="List orders")
def list_orders(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    state: Annotated[OrderState | None, Query()] = None,
) -> PageOut[OrderOut]:
    """Orders by id; filter by state."""
    where: list[ColumnElement[bool]] = [] if state is None else [Order.state == state]
    page = catalog.page(Order, where=where, cursor=cursor, limit=limit)
    return PageOut[OrderOut](items=_out(catalog, list(page.items)), next_cursor=page.next_cursor)


@router.get("/{order_id}", summary="Track an order")
def get_order(order_id: str, catalog: CatalogDep) -> OrderOut:
    """The order, its state and its lines."""
    return _out(catalog, [catalog.get(Order, order_id, what="order")])[0]


@router.get("/{order_id}/pick-list", summary="What to pick for an order, and where")
def pick_list(order_id: str, catalog: CatalogDep) -> list[PickOut]:
    """The allocated items with their zone and location, in walking order (location, zone)."""
    catalog.get(Order, order_id, what="order")
    return [PickOut(**row) for row in orders.pick_list(catalog.session.connection(), order_id)]


@router.post("/{order_id}/verify", summary="Close the packing check of an order")
@allow(Role.OPERATOR, Role.INTEGRATOR)
def verify(
    order_id: str, catalog: CatalogDep, station: Annotated[str | None, Query(max_length=64)] = None
) -> VerifyOut:
    """The allocated items never read at a pack station; each missing one is reported as a pack error event."""
    row = catalog.get(Order, order_id, what="order")
    if row.state not in (OrderState.ALLOCATED, OrderState.PACKED):
        raise InvalidValue(f"an order that is {row.state} is not being packed", field="state")
    missing = orders.verify(catalog.session.connection(), order_id, station=station, time=_now())
    return VerifyOut(order=order_id, missing=missing, complete=not missing)


@router.post("/{order_id}/cancel", summary="Cancel an order")
@allow(Role.INTEGRATOR)
def cancel(order_id: str, catalog: CatalogDep) -> OrderOut:
    """Cancel and release its items; 409 once shipped or cancelled."""
    try:
        orders.cancel(catalog.session.connection(), order_id, time=_now())
    except orders.UnknownOrder as exc:
        raise NotFound(str(exc)) from None
    except orders.OrderError as exc:
        raise Conflict(str(exc), field=exc.field) from exc
    catalog.session.expire_all()
    return get_order(order_id, catalog)
