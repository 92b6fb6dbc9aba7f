"""The time-series writer against a real VictoriaMetrics: what is written is read back, an outage loses nothing, and
past its bound the writer drops the oldest points and counts them."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter as Tally
from typing import Any

import pytest

from silentgw.drivers.observations import SensorReading
from silentgw.drivers.supervisor import DeviceHealth
from silentgw.gateway.config import TimeSeriesSettings
from silentgw.gateway.pipeline import Counters
from silentgw.gateway.timeseries import TimeSeriesWriter
from tests.integration.timeseries.conftest import VictoriaMetrics, free_port, wait_for

SITE = "store-1"


def options(server: VictoriaMetrics, **overrides: Any) -> TimeSeriesSettings:
    """Settings for ``server``, quick to flush and to retry so that an outage plays out in seconds."""
    fast: dict[str, Any] = {"batch_size": 50, "flush_interval": 0.05, "retry_interval": 0.1, "max_retry_time": 1.0}
    return TimeSeriesSettings(url=server.url, token="unused", org="silentgw", bucket="test", **(fast | overrides))


def recent(seconds_ago: float = 600) -> dt.datetime:
    """A time a little in the past, on a whole millisecond (VictoriaMetrics keeps milliseconds)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds_ago)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def ms(time: dt.datetime) -> int:
    return round(time.timestamp() * 1000)


def temperatures(start: dt.datetime, n: int, *, sensor: str = "fridge-1", offset: int = 0) -> list[SensorReading]:
    """``n`` readings a millisecond apart, each value telling which one it is (in quarters: exact in binary and in
    the decimal form VictoriaMetrics keeps, which has about 12 significant digits)."""
    return [SensorReading(sensor, "temperature", (offset + i) / 4, "°C",
                          start + dt.timedelta(milliseconds=offset + i)) for i in range(n)]  # fmt: skip


def labels(**tags: str) -> frozenset[tuple[str, str]]:
    return frozenset({"__name__": "sensor_value", "site": SITE, **tags}.items())


def test_readings_are_read_back_with_their_values_tags_and_times(victoria: VictoriaMetrics) -> None:
    t0 = recent()
    readings = [
        *temperatures(t0, 3),
        SensorReading("fridge 2, top", "temperature", -18.5, "°C", t0),  # a space and a comma: escaped on the wire
        SensorReading("scale-1", "weight", 12.25, "kg", t0 + dt.timedelta(seconds=1)),
        SensorReading("door-1", "open", 1.0, "", t0 + dt.timedelta(seconds=2)),  # no unit: no unit label
        SensorReading("door-1", "open", float("nan"), "", t0 + dt.timedelta(seconds=3)),  # no value: no point
    ]
    with TimeSeriesWriter(options(victoria), site=SITE) as writer:
        writer.write_readings(readings)

    found = victoria.wait_samples('{__name__="sensor_value"}', 6)
    assert found == {
        labels(sensor="fridge-1", quantity="temperature", unit="°C"): [(ms(r.time), r.value) for r in readings[:3]],
        labels(sensor="fridge 2, top", quantity="temperature", unit="°C"): [(ms(t0), -18.5)],
        labels(sensor="scale-1", quantity="weight", unit="kg"): [(ms(t0) + 1000, 12.25)],
        labels(sensor="door-1", quantity="open"): [(ms(t0) + 2000, 1.0)],
    }
    assert writer.stats.written == 6
    assert (writer.stats.held, writer.stats.dropped, writer.stats.rejected) == (0, 0, 0)


def test_close_sends_what_still_waits_for_its_batch(victoria: VictoriaMetrics, request: pytest.FixtureRequest) -> None:
    # The client's own flush() does nothing: a batch that is neither full nor due goes out only when closing.
    # (the interval is the longest a batch timer may hold the test process at exit: see TimeSeriesSettings)
    writer = TimeSeriesWriter(options(victoria, batch_size=10_000, flush_interval=5), site=SITE)
    request.addfinalizer(writer.close)
    writer.write_readings(temperatures(recent(), 7))
    time.sleep(0.5)
    assert writer.stats.in_flight == 7
    writer.close()

    assert writer.stats.written == 7
    assert len(victoria.wait_samples('{__name__="sensor_value"}', 7)[labels(sensor="fridge-1", quantity="temperature",
                                                                             unit="°C")]) == 7  # fmt: skip


def test_the_gateway_counters_and_device_health_are_written(victoria: VictoriaMetrics) -> None:
    counters = Counters(reads=1200, sales=3, points=45, alarms=1, movements=17, batches=60, write_failures=2)
    counters.transitions.update({"arrived": 9, "departed": 4})
    health = [DeviceHealth("reader-1", state="up", frames_ok=300, frames_bad=2, observations=1200, reconnects=1),
              DeviceHealth("scale-1", state="down", reconnects=5)]  # fmt: skip
    at = recent()
    with TimeSeriesWriter(options(victoria), site=SITE) as writer:
        writer.write_counters(counters, health, at)

    found = victoria.wait_samples('{__name__=~"gateway_.*|device_.*"}', 14 + 2 * 5)
    gateway = {
        "reads": 1200,
        "sales": 3,
        "points": 45,
        "alarms": 1,
        "movements": 17,
        "batches": 60,
        "write_failures": 2,
        "transitions_arrived": 9,
        "transitions_moved": 0,
        "transitions_departed": 4,
        "transitions_passed": 0,
        "timeseries_dropped": 0,
        "timeseries_rejected": 0,
        "timeseries_held": 0,
    }
    devices = {
        "reader-1": {"up": 1, "frames_ok": 300, "frames_bad": 2, "observations": 1200, "reconnects": 1},
        "scale-1": {"up": 0, "frames_ok": 0, "frames_bad": 0, "observations": 0, "reconnects": 5},
    }
    assert found == {
        **{frozenset({"__name__": f"gateway_{k}", "site": SITE}.items()): [(ms(at), v)] for k, v in gateway.items()},
        **{frozenset({"__name__": f"device_{k}", "site": SITE, "device": d}.items()): [(ms(at), v)]
           for d, fields in devices.items() for k, v in fields.items()},
    }  # fmt: skip


def test_an_outage_loses_nothing_and_doubles_nothing(victoria: VictoriaMetrics, request: pytest.FixtureRequest) -> None:
    """VictoriaMetrics is stopped while readings keep coming, longer than the client retries one batch, and started
    again on the same port and data: every reading arrives once, with its value and time.

    Delivery is at least once (a batch whose answer was lost would be sent again with the same timestamps); here the
    server stops gracefully, answering what it took, so this asserts exactly once: no sample is stored twice.
    """
    writer = TimeSeriesWriter(options(victoria), site=SITE)
    request.addfinalizer(writer.close)
    t0 = recent(seconds_ago=1200)
    sent = 0
    held_at_most = 0

    def keep_writing(seconds: float) -> None:
        nonlocal sent, held_at_most
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            writer.write_readings(temperatures(t0, 5, offset=sent))
            sent += 5
            held_at_most = max(held_at_most, writer.stats.held)
            time.sleep(0.01)

    keep_writing(1.0)
    victoria.stop()
    keep_writing(2.5)  # longer than max_retry_time: the client gives up batches, the writer holds them
    assert writer.stats.down
    assert held_at_most > 0
    victoria.start()
    keep_writing(0.5)
    wait_for(lambda: not writer.stats.down and writer.stats.held == 0 and writer.stats.in_flight == 0, timeout=30)
    writer.close()

    [samples] = victoria.wait_samples('{__name__="sensor_value"}', sent).values()
    expected = [(ms(t0) + i, i / 4) for i in range(sent)]
    assert [t for t, n in Tally(t for t, _ in samples).items() if n > 1] == []
    assert samples == expected
    assert (writer.stats.written, writer.stats.dropped, writer.stats.rejected) == (sent, 0, 0)


def test_past_its_bound_the_writer_drops_the_oldest_points_and_counts_them(victoria: VictoriaMetrics) -> None:
    bound = 100
    victoria.stop()
    readings = temperatures(recent(), 250)
    with TimeSeriesWriter(options(victoria, batch_size=10, max_retry_time=2.0, max_buffered=bound), site=SITE) as w:
        w.write_readings(readings[:1])
        wait_for(lambda: w.stats.down)  # the first batch's first try failed: the server is away
        for reading in readings[1:]:
            w.write_readings([reading])
            assert w.stats.held + w.stats.in_flight <= bound
        assert (w.stats.held + w.stats.in_flight, w.stats.dropped) == (bound, 150)

        victoria.start()
        wait_for(lambda: w.stats.written == bound, timeout=30)  # probes find the server back; the rest follows

    [samples] = victoria.wait_samples('{__name__="sensor_value"}', bound).values()
    # The first point was in flight while the others came, so it stayed; of the rest the newest 99 are kept.
    assert samples == [(ms(r.time), r.value) for r in (readings[0], *readings[-(bound - 1) :])]
    assert (w.stats.written, w.stats.dropped, w.stats.held, w.stats.in_flight) == (bound, 150, 0, 0)


def test_closing_with_the_server_away_gives_up_within_its_wait(victoria: VictoriaMetrics) -> None:
    victoria.stop()
    writer = TimeSeriesWriter(options(victoria, max_retry_time=60), site=SITE, close_wait=1.0)
    writer.write_readings(temperatures(recent(), 20))
    wait_for(lambda: writer.stats.down)
    started = time.monotonic()
    writer.close()

    assert time.monotonic() - started < 3
    assert writer.stats.written == 0
    assert writer.stats.held + writer.stats.in_flight == 20


def test_the_log_never_shows_the_servers_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, influxdb-client's and urllib3's included
    url = f"http://vm:ts-s3cret@127.0.0.1:{free_port()}"  # nothing listens there: the writer logs the outage
    settings = TimeSeriesSettings(url=url, token="tok-s3cret", batch_size=5, flush_interval=0.05, retry_interval=0.1)
    writer = TimeSeriesWriter(settings, site=SITE, close_wait=0.5)
    writer.write_readings(temperatures(recent(), 5))
    wait_for(lambda: writer.stats.down)
    writer.close()

    assert "http://vm:**********@127.0.0.1" in caplog.text  # the server is named, its password masked
    assert "s3cret" not in caplog.text
