"""The sensor history in SQL, on SQLite and PostgreSQL: readings handed to the pipeline's hook become buckets that
merge across micro-batches, the API answers with them (re-bucketed when asked), and bad requests get problem+json."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from silentgw.drivers.observations import Observation, SensorReading, TagRead
from silentgw.gateway.config import Settings, TimeSeriesSettings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store import history
from silentgw.gateway.store.database import connect
from silentgw.gateway.store.models import SensorHistory
from silentgw.gateway.timeseries import SensorRecorder, TimeSeriesWriter
from tests.integration.timeseries.conftest import VictoriaMetrics
from tests.tcp_proxy import TcpProxy

T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def celsius(sensor: str, minutes: float, value: float) -> SensorReading:
    return SensorReading(sensor, "temperature", value, "°C", at(minutes))


def rows(engine: Engine) -> list[tuple[Any, ...]]:
    """What ``sensor_history`` holds, in key order."""
    h = SensorHistory
    query = select(h.sensor, h.quantity, h.bucket, h.unit, h.count, h.total, h.minimum, h.maximum, h.last)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query.order_by(h.sensor, h.quantity, h.bucket))]


def test_buckets_merge_across_micro_batches(engine: Engine, database_url: str) -> None:
    recorder = SensorRecorder(engine, bucket_seconds=60)
    pipeline = Pipeline(Settings(database_url=database_url), engine, readings=recorder)
    first: list[Observation] = [
        celsius("fridge-1", 0.1, 4.0), celsius("fridge-1", 0.3, 6.0), celsius("fridge-1", 1.2, 5.0),
        SensorReading("fridge-1", "humidity", 40.0, "%", at(0.5)),
        TagRead("300833B2DDD9014000000001", "reader-1", 1, -50.0, at(0.2)),
    ]  # fmt: skip
    second = [celsius("fridge-1", 0.7, 3.0), celsius("fridge-1", 0.9, 4.5), celsius("fridge-2", 0.8, -18.0)]
    pipeline.process(first, at(0.4))
    pipeline.process(second, at(1.0))

    assert rows(engine) == [
        ("fridge-1", "humidity", T0, "%", 1, 40.0, 40.0, 40.0, 40.0),
        ("fridge-1", "temperature", T0, "°C", 4, 17.5, 3.0, 6.0, 4.5),  # last: the later batch's latest reading
        ("fridge-1", "temperature", at(1), "°C", 1, 5.0, 5.0, 5.0, 5.0),
        ("fridge-2", "temperature", T0, "°C", 1, -18.0, -18.0, -18.0, -18.0),
    ]
    assert pipeline.counters.reads == 1


readings_lists = st.lists(
    st.builds(celsius, st.sampled_from(["a", "b"]), st.floats(0, 10), st.floats(-40, 40, allow_subnormal=False)),
    max_size=30,
)


@given(readings_lists, st.integers(0, 30))
def test_downsampling_in_two_parts_and_merging_is_downsampling_at_once(readings: list[SensorReading],
                                                                         cut: int) -> None:  # fmt: skip
    readings.sort(key=lambda r: r.time)  # one sensor's readings come in order
    whole = history.downsample(readings, 60)
    parts = history.downsample(readings[:cut], 60)
    for key, bucket in history.downsample(readings[cut:], 60).items():
        parts[key] = parts[key].merged(bucket) if key in parts else bucket
    assert whole.keys() == parts.keys()
    for key, bucket in whole.items():
        assert (bucket.count, bucket.minimum, bucket.maximum, bucket.last) == (
            parts[key].count, parts[key].minimum, parts[key].maximum, parts[key].last)  # fmt: skip
        assert bucket.total == pytest.approx(parts[key].total)


def test_a_step_of_an_hour_sums_the_minutes_in_it(engine: Engine) -> None:
    recorder = SensorRecorder(engine, bucket_seconds=60)
    # Three hours, a reading every ten minutes whose value is its minute: hour h holds 60h, 60h + 10, ..., 60h + 50.
    recorder([celsius("fridge-1", m, float(m)) for m in range(0, 180, 10)])
    recorder([celsius("fridge-1", 185, 999.0)])  # after the range asked for

    with engine.connect() as conn:
        hours = history.query(conn, "fridge-1", start=T0, end=at(180), step=3600)
        minutes = history.query(conn, "fridge-1", start=at(60), end=at(90), step=60, quantity="temperature")
    assert [(b.time, b.count, b.mean, b.minimum, b.maximum, b.last) for b in hours] == [
        (at(60 * h), 6, 60 * h + 25.0, 60 * h + 0.0, 60 * h + 50.0, 60 * h + 50.0) for h in range(3)
    ]
    assert [(b.time, b.count, b.last) for b in minutes] == [(at(m), 1, float(m)) for m in (60, 70, 80)]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_while_the_database_is_away_the_buckets_wait_and_merge(engine: Engine, database_url: str) -> None:
    with TcpProxy(("127.0.0.1", 5432)) as proxy:
        through = connect(database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/"))
        try:
            recorder = SensorRecorder(through, bucket_seconds=60, retry_every=0)
            recorder([celsius("fridge-1", 0.1, 4.0)])
            proxy.cut()
            recorder([celsius("fridge-1", 0.5, 7.0), celsius("fridge-1", 1.5, 2.0)])
            recorder([celsius("fridge-1", 0.9, 5.0)])
            assert len(recorder.pending) == 2
            proxy.restore()
            recorder([celsius("fridge-1", 1.6, 3.0)])
            assert recorder.pending == {}
        finally:
            through.dispose()

    assert rows(engine) == [
        ("fridge-1", "temperature", T0, "°C", 3, 16.0, 4.0, 7.0, 5.0),
        ("fridge-1", "temperature", at(1), "°C", 2, 5.0, 2.0, 3.0, 3.0),
    ]


def test_the_recorder_sends_the_readings_as_time_series_too(engine: Engine, victoria: VictoriaMetrics) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    writer = TimeSeriesWriter(TimeSeriesSettings(url=victoria.url, flush_interval=0.05), site="store-1")
    recorder = SensorRecorder(engine, writer=writer)
    later = now + dt.timedelta(seconds=1)
    recorder([SensorReading("scale-1", "weight", 12.5, "kg", now), SensorReading("scale-1", "weight", 12.0, "kg",
                                                                                  later)])  # fmt: skip
    recorder.close()

    [samples] = victoria.wait_samples('{__name__="sensor_value",sensor="scale-1"}', 2).values()
    stamp = int(now.timestamp()) * 1000
    assert samples == [(stamp, 12.5), (stamp + 1000, 12.0)]
    [row] = rows(engine)
    assert row[4:] == (2, 24.5, 12.0, 12.5, 12.0)


def test_the_api_answers_with_the_history(engine: Engine, client: TestClient) -> None:
    recorder = SensorRecorder(engine, bucket_seconds=60)
    recorder([celsius("fridge-1", m / 2, 4.0 + m % 3 + m // 120) for m in range(0, 240)])  # two readings a minute
    recorder([SensorReading("fridge-1", "door", 1.0, "", at(30))])

    hourly = client.get("/api/v1/sensors/fridge-1/history", params={"quantity": "temperature", "step": 3600,
                        "from": "2026-11-24T12:00:00Z", "to": "2026-11-24T14:00:00+00:00"})  # fmt: skip
    assert hourly.status_code == 200, hourly.text
    assert hourly.json() == {
        "sensor": "fridge-1", "quantity": "temperature", "from": "2026-11-24T12:00:00Z",
        "to": "2026-11-24T14:00:00Z", "step": 3600,
        "buckets": [
            {"time": "2026-11-24T12:00:00Z", "quantity": "temperature", "count": 120, "mean": 5.0, "min": 4.0,
             "max": 6.0, "last": 6.0, "unit": "°C"},
            {"time": "2026-11-24T13:00:00Z", "quantity": "temperature", "count": 120, "mean": 6.0, "min": 5.0,
             "max": 7.0, "last": 7.0, "unit": "°C"},
        ],
    }  # fmt: skip

    # Local times with an offset are the same instants; without a quantity, every quantity comes, each its own.
    both = client.get("/api/v1/sensors/fridge-1/history", params={"from": "2026-11-24T13:29:00+01:00",
                      "to": "2026-11-24T13:31:00+01:00"}).json()  # fmt: skip
    assert [(b["quantity"], b["time"], b["count"], b["unit"]) for b in both["buckets"]] == [
        ("door", "2026-11-24T12:30:00Z", 1, ""),
        ("temperature", "2026-11-24T12:29:00Z", 2, "°C"),
        ("temperature", "2026-11-24T12:30:00Z", 2, "°C"),
    ]
    assert both["step"] == 60
    empty = client.get("/api/v1/sensors/fridge-1/history", params={"from": "2026-11-25T00:00:00Z",
                       "to": "2026-11-25T01:00:00Z"})  # fmt: skip
    assert (empty.status_code, empty.json()["buckets"]) == (200, [])


@pytest.mark.parametrize(
    ("sensor", "params", "status", "field"),
    [
        ("nobody", {}, 404, None),
        ("fridge-1", {"quantity": "pressure"}, 404, None),
        ("fridge-1", {"from": "2026-11-24T13:00:00Z", "to": "2026-11-24T12:00:00Z"}, 422, "query.from"),
        ("fridge-1", {"from": "2026-11-24T12:00:00Z", "to": "2026-11-24T12:00:00Z"}, 422, "query.from"),
        ("fridge-1", {"from": "2026-11-24T12:00:00"}, 422, "query.from"),  # no UTC offset: which 12:00?
        ("fridge-1", {"to": "yesterday"}, 422, "query.to"),
        ("fridge-1", {"step": 90}, 422, "query.step"),  # not a whole number of minute buckets
        ("fridge-1", {"step": 0}, 422, "query.step"),
        ("fridge-1", {"from": "2025-11-24T12:00:00Z", "to": "2026-11-24T12:00:00Z", "step": 60}, 422, "query.step"),
    ],
)
def test_a_bad_request_gets_a_problem(engine: Engine, client: TestClient, sensor: str, params: dict[str, Any],
                                      status: int, field: str | None) -> None:  # fmt: skip
    SensorRecorder(engine)([celsius("fridge-1", 1, 4.0)])

    response = client.get(f"/api/v1/sensors/{sensor}/history", params=params)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["instance"] == f"/api/v1/sensors/{sensor}/history"
    if field is not None:
        assert [e["field"] for e in problem["errors"]] == [field]
    else:
        assert sensor in problem["detail"]
