"""Products: what items are instances of, by GTIN."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.schemas import Gtin, Out, PageOut, Price
from silentgw.gateway import events
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Product

router = APIRouter(prefix="/products", tags=["products"])

Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217", examples=["EUR"])]
CompanyPrefix = Annotated[str, StringConstraints(pattern=r"^[0-9]{6,12}$"), Field(examples=["0614141"])]
GtinPath = Annotated[str, Path(pattern=r"^[0-9]{8,14}$", description="The GTIN (8 to 14 digits)")]


class ProductIn(BaseModel):
    """A new product."""

    model_config = ConfigDict(extra="forbid")

    gtin: Gtin
    sku: Sku
    name: Name
    price: Price
    currency: Currency
    company_prefix: CompanyPrefix | None = Field(
        default=None, description="The GS1 company prefix inside the GTIN, when known (lets '+' EPCs be URNs)."
    )


class ProductPatch(BaseModel):
    """Changes to a product; the GTIN is its identity and does not change."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku | None = None
    name: Name | None = None
    price: Price | None = None
    currency: Currency | None = None
    company_prefix: CompanyPrefix | None = None


class ProductOut(Out):
    """A product."""

    gtin: str
    sku: str
    name: str
    price: Decimal
    currency: str
    company_prefix: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a product")
def create_product(body: ProductIn, catalog: CatalogDep, request: Request, response: Response) -> ProductOut:
    """Add a product to the catalog; 409 when its GTIN or SKU is taken."""
    catalog.check_company_prefix(body.gtin, body.company_prefix)
    row = catalog.add(Product(**body.model_dump()))
    response.headers["Location"] = str(request.url_for("get_product", gtin=row.gtin))
    return ProductOut.model_validate(row)


@router.get("", summary="List products")
def list_products(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name, SKU or GTIN")] = None,
) -> PageOut[ProductOut]:
    """Products in the order they were created, a page at a time."""
    page = catalog.products(q=q, cursor=cursor, limit=limit)
    return PageOut(items=[ProductOut.model_validate(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/{gtin}", summary="Get a product")
def get_product(gtin: GtinPath, catalog: CatalogDep) -> ProductOut:
    """The product with this GTIN (a GTIN-8, -12 or -13 is padded to 14 digits)."""
    return ProductOut.model_validate(catalog.product(gtin.zfill(14)))


@router.patch("/{gtin}", summary="Update a product")
def update_product(gtin: GtinPath, body: ProductPatch, catalog: CatalogDep) -> ProductOut:
    """Change the fields given; the others stay as they are."""
    row = catalog.product(gtin.zfill(14))
    changes = body.model_dump(exclude_unset=True)
    for name in ("sku", "name", "price", "currency"):
        if name in changes and changes[name] is None:
            del changes[name]  # null on a required field means "leave it"
    catalog.check_company_prefix(row.gtin, changes.get("company_prefix"))
    before = (row.name, row.price, row.currency)
    updated = catalog.update(row, changes)
    if (updated.name, updated.price, updated.currency) != before:  # shelf displays show these: tell them
        now = dt.datetime.now(dt.UTC)
        changed = events.product_changed(
            updated.gtin, name=updated.name, price=str(updated.price), currency=updated.currency, time=now
        )
        outbox.append(catalog.session.connection(), [changed])
    return ProductOut.model_validate(updated)


@router.delete("/{gtin}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a product")
def delete_product(gtin: GtinPath, catalog: CatalogDep) -> None:
    """Remove a product; 409 while items or stock movements refer to it."""
    catalog.delete(catalog.product(gtin.zfill(14)))
