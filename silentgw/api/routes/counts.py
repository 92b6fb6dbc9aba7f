"""Cycle counts: an operator starts a count over a zone or a location, the gateway's readers collect what they read
there, and the count closes (on request, or when its duration is up) with what was expected, seen, missing and
unexpected; the missing items are marked missing in the ledger.

A count needs the gateway's pipeline in this process (``silentgw run``): starting or closing one without it is 503.
Closed counts are read from the database, open ones from the pipeline.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from silentgw.api.auth import allow
from silentgw.api.deps import CatalogDep, CursorDep, LimitDep
from silentgw.api.problems import problem
from silentgw.api.schemas import PageOut, Slug
from silentgw.gateway.catalog import Catalog, Conflict, NotFound, decode_cursor, encode_cursor
from silentgw.gateway.counts import CountExists, OpenCount, Scope
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.models import CountOutcome, CycleCount, CycleCountItem, Location, Role, Zone

router = APIRouter(prefix="/counts", tags=["counts"])

CountId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"),
    Field(description="Letters, digits, dot, dash, underscore and colon; at most 64.", examples=["aisle-1-2026-11-25"]),
]
NO_PIPELINE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The gateway's pipeline is not running in this process"}
}


class CountIn(BaseModel):
    """A count to start now: over one zone or one location (its zones and those of the locations under it)."""

    model_config = ConfigDict(extra="forbid")

    id: CountId | None = Field(None, description="The count's id; one is made when omitted.")
    zone: Slug | None = None
    location: Slug | None = None
    duration_s: int | None = Field(
        None, ge=1, le=86_400, description="Close by itself after this many seconds; omitted: when closed."
    )

    @model_validator(mode="after")
    def _one_scope(self) -> Self:
        if (self.zone is None) == (self.location is None):
            raise ValueError("give exactly one of zone and location")
        return self


class CountOut(BaseModel):
    """A count: open (what it has seen so far, against the stock expected now) or closed (what it found)."""

    id: str
    scope: Literal["zone", "location"]
    scope_id: str
    status: Literal["open", "closed"]
    started_at: dt.datetime
    ends_at: dt.datetime | None = Field(description="When it closed, or when an open count will close by itself.")
    expected: int = Field(description="Items counted as stock in the scope (for an open count: now).")
    seen: int = Field(description="Items read in the scope during the count (for an open count: so far).")
    missing: int | None = Field(description="Expected and not seen (closed counts).")
    unexpected: int | None = Field(description="Seen and not expected (closed counts).")
    accuracy_percent: Decimal | None = Field(description="The share of expected items seen (closed counts).")


class CountItemOut(BaseModel):
    """An item a closed count expected or saw, and what the count made of it."""

    key: str = Field(description="The item's GS1 key.")
    outcome: CountOutcome


def _pipeline(request: Request) -> Pipeline | None:
    pipeline: Pipeline | None = getattr(request.app.state, "pipeline", None)
    return pipeline


def _no_pipeline(request: Request) -> JSONResponse:
    return problem(request, status=503, title="The gateway's pipeline is not running in this process",
                   slug="no-pipeline")  # fmt: skip


def _closed_out(row: CycleCount) -> CountOut:
    return CountOut(
        id=row.id, scope=row.scope_kind.value, scope_id=row.scope_id, status="closed", started_at=row.started_at,
        ends_at=row.ended_at, expected=row.expected, seen=row.seen, missing=row.missing, unexpected=row.unexpected,
        accuracy_percent=row.accuracy,
    )  # fmt: skip


def _open_out(pipeline: Pipeline, count: OpenCount) -> CountOut:
    expected = len(pipeline.cycle_counts.expected(count.scope))
    return CountOut(
        id=count.id, scope=count.scope.kind, scope_id=count.scope.id, status="open", started_at=count.start,
        ends_at=count.due, expected=expected, seen=len(count.seen), missing=None, unexpected=None,
        accuracy_percent=None,
    )  # fmt: skip


def _check_scope(catalog: Catalog, scope: Scope) -> None:
    model = Zone if scope.kind == "zone" else Location
    catalog.get(model, scope.id, what=scope.kind)


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Start a cycle count", response_model=CountOut,
    responses={409: {"description": "A count with this id exists"}, **NO_PIPELINE},
)  # fmt: skip
@allow(Role.OPERATOR)
def start_count(body: CountIn, request: Request, catalog: CatalogDep) -> CountOut | JSONResponse:
    """Start counting a zone or location now: what its readers read counts until the count closes."""
    pipeline = _pipeline(request)
    if pipeline is None:
        return _no_pipeline(request)
    scope = Scope("zone", body.zone) if body.zone is not None else Scope("location", body.location or "")
    _check_scope(catalog, scope)
    now = pipeline.clock()
    count_id = body.id or f"count-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    if catalog.session.get(CycleCount, count_id) is not None:
        raise Conflict(f"count {count_id!r} is already closed", field="id")
    due = None if body.duration_s is None else now + dt.timedelta(seconds=body.duration_s)
    zones = pipeline.cycle_counts.zones(scope)
    try:
        count = pipeline.counts.start(OpenCount(count_id, scope, zones, now, due))
    except CountExists as exc:
        raise Conflict(str(exc), field="id") from exc
    return _open_out(pipeline, count)


@router.get("", summary="List cycle counts")
def list_counts(
    request: Request,
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    state: Annotated[Literal["open", "closed"] | None, Query(alias="status", description="Only these.")] = None,
) -> PageOut[CountOut]:
    """The open counts (on the first page), then the closed ones in id order."""
    pipeline = _pipeline(request)
    items: list[CountOut] = []
    if state != "closed" and cursor is None and pipeline is not None:
        items = [_open_out(pipeline, c) for c in pipeline.counts.all()]
    next_cursor = None
    if state != "open":
        page = catalog.page(CycleCount, cursor=cursor, limit=limit)
        items += [_closed_out(row) for row in page.items]
        next_cursor = page.next_cursor
    return PageOut[CountOut](items=items, next_cursor=next_cursor)


@router.get("/{count_id}", summary="Get a cycle count")
def get_count(count_id: str, request: Request, catalog: CatalogDep) -> CountOut:
    """An open count's progress, or a closed count's result."""
    pipeline = _pipeline(request)
    count = pipeline.counts.get(count_id) if pipeline is not None else None
    if count is not None and pipeline is not None:
        return _open_out(pipeline, count)
    return _closed_out(catalog.get(CycleCount, count_id, what="count"))


@router.get("/{count_id}/items", summary="The items of a closed cycle count")
def count_items(
    count_id: str,
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 100,
    outcome: Annotated[CountOutcome | None, Query(description="Only items with this outcome.")] = None,
) -> PageOut[CountItemOut]:
    """What a closed count expected or saw, by GS1 key: found, missing or unexpected."""
    catalog.get(CycleCount, count_id, what="count")
    c = CycleCountItem.__table__.c
    query = select(c.item_key, c.outcome).where(c.count_id == count_id).order_by(c.item_key).limit(limit + 1)
    if outcome is not None:
        query = query.where(c.outcome == outcome)
    if cursor is not None:
        query = query.where(c.item_key > decode_cursor(cursor, str)[0])
    rows = catalog.session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return PageOut[CountItemOut](
        items=[CountItemOut(key=key, outcome=CountOutcome(o)) for key, o in rows],
        next_cursor=encode_cursor(rows[-1][0]) if more else None,
    )


@router.post("/{count_id}/close", summary="Close a cycle count", response_model=CountOut, responses=NO_PIPELINE)
@allow(Role.OPERATOR)
async def close_count(count_id: str, request: Request) -> CountOut | JSONResponse:
    """Close an open count now and give its result (missing items are marked missing); closing a closed count again
    gives its result and changes nothing."""
    pipeline = _pipeline(request)
    if pipeline is None:
        return _no_pipeline(request)
    await pipeline.close_count(count_id)  # None when it is not open: then it is closed already, or unknown
    return await asyncio.to_thread(_stored, request.app.state.sessions, count_id)


def _stored(sessions: sessionmaker[Session], count_id: str) -> CountOut:
    with sessions() as session:
        row = session.get(CycleCount, count_id)
        if row is None:
            raise NotFound(f"count {count_id!r} not found (a count still open when the gateway stopped is dropped)")
        return _closed_out(row)
