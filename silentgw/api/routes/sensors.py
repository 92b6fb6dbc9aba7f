"""Sensors: the downsampled history of what a sensor measured, from the SQL copy the gateway keeps."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from silentgw.api.deps import SessionDep, SettingsDep
from silentgw.api.problems import FieldError, problem
from silentgw.api.schemas import INT32_MAX, AwareInstant
from silentgw.gateway.store import history

router = APIRouter(prefix="/sensors", tags=["sensors"])

MAX_STEPS = 10_000
"""Steps one answer holds at most: a week of minutes fits, a year of minutes asks for a coarser step."""
DEFAULT_SPAN = dt.timedelta(days=1)
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


class HistoryBucketOut(BaseModel):
    """One step of a sensor's history."""

    time: dt.datetime = Field(description="The step's start (UTC).")
    quantity: str = Field(examples=["temperature"])
    count: int = Field(description="Readings in the step.")
    mean: float
    min: float
    max: float
    last: float = Field(description="The last reading in the step.")
    unit: str = Field(examples=["°C"])


class SensorHistoryOut(BaseModel):
    """A sensor's history over a time range, a bucket per step and quantity."""

    sensor: str
    quantity: str | None = Field(description="The quantity asked for; null: every quantity the sensor measures.")
    start: dt.datetime = Field(serialization_alias="from")
    end: dt.datetime = Field(serialization_alias="to")
    step: int = Field(description="Seconds per bucket.")
    buckets: list[HistoryBucketOut] = Field(
        description="Ordered by quantity, then time; steps with no reading left out."
    )


def _invalid(request: Request, field: str, message: str) -> JSONResponse:
    errors = [FieldError(field=f"query.{field}", message=message)]
    return problem(request, status=422, title="Request is not valid", slug="validation", detail=f"query.{field}: "
                   f"{message}", errors=errors)  # fmt: skip


@router.get(
    "/{sensor}/history",
    summary="A sensor's history",
    response_model=SensorHistoryOut,
    response_model_by_alias=True,
)
def sensor_history(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    sensor: Annotated[str, Path(min_length=1, max_length=64)],
    quantity: Annotated[str | None, Query(min_length=1, max_length=64, description="Only this quantity")] = None,
    start: Annotated[AwareInstant | None, Query(alias="from", description="From (inclusive) [default: a day before "
                                                "`to`]; with a UTC offset, e.g. `Z`.")] = None,
    end: Annotated[AwareInstant | None, Query(alias="to", description="To (exclusive) [default: now].")] = None,
    step: Annotated[int | None, Query(ge=1, le=INT32_MAX, description="Seconds per bucket: a multiple of the stored "
                                      "bucket width [default: that width].")] = None,
) -> SensorHistoryOut | JSONResponse:  # fmt: skip
    """Count, mean, minimum, maximum and last reading per step, for each quantity (or the one asked for).

    Steps are aligned to the Unix epoch (an hour starts on the hour, UTC); a step holds the stored buckets that start
    in it and in the range. 404 for a sensor (or quantity) with no history at all; an empty list for a range without.
    """
    width = settings.timeseries.history_bucket_seconds
    step = width if step is None else step
    end = dt.datetime.now(dt.UTC) if end is None else end
    if start is None:
        start = end - DEFAULT_SPAN if end - _EARLIEST > DEFAULT_SPAN else _EARLIEST
    if step % width:
        return _invalid(request, "step", f"must be a multiple of the stored bucket width, {width} seconds")
    if start >= end:
        return _invalid(request, "from", "must be before `to`")
    if (end - start).total_seconds() / step > MAX_STEPS:
        return _invalid(request, "step", f"the range holds more than {MAX_STEPS} steps of {step} s: use a coarser step")
    conn = session.connection()
    if not history.has_history(conn, sensor, quantity):
        what = f"sensor {sensor!r}" + (f" has no history of {quantity!r}" if quantity else " has no history")
        return problem(request, status=404, title="Not found", slug="not-found", detail=what)
    found = history.query(conn, sensor, start=start, end=end, step=step, quantity=quantity)
    buckets = [
        HistoryBucketOut(time=b.time, quantity=b.quantity, count=b.count, mean=b.mean, min=b.minimum, max=b.maximum,
                         last=b.last, unit=b.unit)
        for b in found
    ]  # fmt: skip
    return SensorHistoryOut(sensor=sensor, quantity=quantity, start=start.astimezone(dt.UTC),
                            end=end.astimezone(dt.UTC), step=step, buckets=buckets)  # fmt: skip
