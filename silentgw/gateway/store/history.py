"""Sensor history in SQL: readings downsampled per bucket, so the embedded default answers history queries alone.

A bucket is ``history_bucket_seconds`` wide (a minute by default) and aligned to the Unix epoch, so the same reading
falls in the same bucket whoever writes it. Each row keeps what merges exactly: the count, the total (the mean is
total / count), the minimum, the maximum and the last value. A bucket usually spans several micro-batches, so rows
are upserted: ON CONFLICT (sensor, quantity, bucket) the counts and totals add up, the extremes keep the wider one
and ``last`` takes the newer batch's value. The table keeps no time of the last value, so "newer" means the batch
written later: a sensor's readings come in order from its one driver, so that is the reading taken later.

A query re-buckets to any step that is a whole number of stored buckets (an hour of minute buckets), aligned to the
epoch too, in SQL: sums of counts and totals, least minimum, greatest maximum, and the ``last`` of the newest stored
bucket in the step.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Connection, Integer, case, cast, extract, func, select
from sqlalchemy.sql.elements import ColumnElement

from silentgw.drivers.observations import SensorReading
from silentgw.gateway.store.database import insert_or_skip
from silentgw.gateway.store.models import Base, SensorHistory

__all__ = ["Bucket", "BucketKey", "HistoryBucket", "bucket_start", "downsample", "has_history", "query", "write"]

_history = Base.metadata.tables[SensorHistory.__tablename__]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class BucketKey(NamedTuple):
    """Which row a bucket is: the sensor, what it measures, and the bucket's start (UTC)."""

    sensor: str
    quantity: str
    start: dt.datetime


@dataclass(frozen=True, slots=True)
class Bucket:
    """The readings of one sensor and quantity in one bucket, as figures that merge exactly."""

    unit: str
    count: int
    total: float
    minimum: float
    maximum: float
    last: float

    def merged(self, later: Bucket) -> Bucket:
        """This bucket with the readings of ``later`` added (``later``'s last value and unit win)."""
        return Bucket(later.unit, self.count + later.count, self.total + later.total,
                      min(self.minimum, later.minimum), max(self.maximum, later.maximum), later.last)  # fmt: skip


def bucket_start(time: dt.datetime, seconds: int) -> dt.datetime:
    """The start of the ``seconds``-wide, epoch-aligned bucket that ``time`` (timezone-aware) falls in, in UTC."""
    offset = time.astimezone(dt.UTC) - _EPOCH
    whole = offset.days * 86_400 + offset.seconds  # integer arithmetic: no float rounding at bucket edges
    return _EPOCH + dt.timedelta(seconds=whole - whole % seconds)


def downsample(readings: Iterable[SensorReading], seconds: int) -> dict[BucketKey, Bucket]:
    """The readings as buckets of ``seconds``, in the order they were first seen.

    Readings that are not finite numbers are left out: a NaN would make every later minimum and maximum NaN, and a
    sensor that sends one means it has no value. Within a bucket, ``last`` is the value of the latest reading (the
    later one of two taken at the same time).
    """
    found: dict[BucketKey, Bucket] = {}
    latest: dict[BucketKey, dt.datetime] = {}
    for reading in readings:
        value = float(reading.value)
        if not math.isfinite(value):
            continue
        key = BucketKey(reading.sensor, reading.quantity, bucket_start(reading.time, seconds))
        one = Bucket(reading.unit, 1, value, value, value, value)
        seen = found.get(key)
        if seen is None:
            found[key], latest[key] = one, reading.time
        elif reading.time >= latest[key]:
            found[key], latest[key] = seen.merged(one), reading.time
        else:  # an older reading: its figures count, but the last value stays
            found[key] = Bucket(seen.unit, seen.count + 1, seen.total + value, min(seen.minimum, value),
                                max(seen.maximum, value), seen.last)  # fmt: skip
    return found


def write(conn: Connection, buckets: Mapping[BucketKey, Bucket]) -> None:
    """Upsert ``buckets`` into ``sensor_history``, merging each into a row another micro-batch already wrote."""
    if not buckets:
        return
    rows = [
        {"sensor": k.sensor, "quantity": k.quantity, "bucket": k.start, "unit": b.unit, "count": b.count,
         "total": b.total, "minimum": b.minimum, "maximum": b.maximum, "last": b.last}
        for k, b in buckets.items()
    ]  # fmt: skip
    stmt = insert_or_skip(conn, _history)
    new, old = stmt.excluded, _history.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["sensor", "quantity", "bucket"],
        set_={
            "count": old["count"] + new["count"],
            "total": old.total + new.total,
            # CASE rather than LEAST/GREATEST (PostgreSQL) or two-argument MIN/MAX (SQLite): one text for both
            "minimum": case((new.minimum < old.minimum, new.minimum), else_=old.minimum),
            "maximum": case((new.maximum > old.maximum, new.maximum), else_=old.maximum),
            "last": new["last"],
            "unit": new.unit,
        },
    )
    conn.execute(stmt, rows)


@dataclass(frozen=True, slots=True)
class HistoryBucket:
    """One step of a sensor's history: the figures of the stored buckets that start in it."""

    quantity: str
    time: dt.datetime
    """The step's start (UTC)."""
    count: int
    mean: float
    minimum: float
    maximum: float
    last: float
    unit: str


def has_history(conn: Connection, sensor: str, quantity: str | None = None) -> bool:
    """Whether ``sensor`` (and, if given, ``quantity``) has any stored bucket at all."""
    c = _history.c
    where = [c.sensor == sensor] + ([c.quantity == quantity] if quantity is not None else [])
    return conn.execute(select(c.sensor).where(*where).limit(1)).first() is not None


def _epoch_seconds(conn: Connection) -> ColumnElement[Any]:
    """The stored bucket start as whole seconds since the epoch, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return cast(extract("epoch", _history.c.bucket), BigInteger)
    return cast(func.strftime("%s", _history.c.bucket), Integer)  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" UTC


def query(
    conn: Connection, sensor: str, *, start: dt.datetime, end: dt.datetime, step: int, quantity: str | None = None
) -> list[HistoryBucket]:
    """The history of ``sensor`` from ``start`` (inclusive) to ``end`` (exclusive), per ``step`` seconds.

    Stored buckets are chosen by their start; ``step`` must be a whole number of stored buckets (the caller checks,
    since only it knows the configured width). Ordered by quantity, then time.
    """
    c = _history.c
    where = [c.sensor == sensor, c.bucket >= start, c.bucket < end]
    if quantity is not None:
        where.append(c.quantity == quantity)
    index = (_epoch_seconds(conn) // step).label("step_index")
    newest = func.row_number().over(partition_by=(c.quantity, index), order_by=c.bucket.desc()).label("newest")
    inner = select(c.quantity, c.unit, c["count"], c.total, c.minimum, c.maximum, c["last"], index, newest)
    ranked = inner.where(*where).subquery()
    r = ranked.c
    outer = (
        select(
            r.quantity,
            r.step_index,
            func.sum(r["count"]),
            func.sum(r.total),
            func.min(r.minimum),
            func.max(r.maximum),
            func.max(case((r.newest == 1, r["last"]))),
            func.max(case((r.newest == 1, r.unit))),
        )
        .group_by(r.quantity, r.step_index)
        .order_by(r.quantity, r.step_index)
    )
    return [
        HistoryBucket(quantity=q, time=_EPOCH + dt.timedelta(seconds=int(i) * step), count=int(n), mean=total / n,
                      minimum=lo, maximum=hi, last=last, unit=unit)
        for q, i, n, total, lo, hi, last, unit in conn.execute(outer)
    ]  # fmt: skip
