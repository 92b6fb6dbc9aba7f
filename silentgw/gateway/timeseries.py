"""Sensor readings and the gateway's counters out as time series, and the pipeline's ``readings`` hook.

The points, in InfluxDB line protocol (a server that maps it to metric names, like VictoriaMetrics, names each
``{measurement}_{field}``):

- ``sensor,sensor=S,quantity=Q,unit=U,site=SITE value=21.5 T``: one measurement for every reading, the quantity a
  tag. Quantities are whatever a driver's payload calls them, so measurement names would be open-ended; one
  measurement keeps the schema fixed and a query selects by tag (VictoriaMetrics: ``sensor_value{quantity="..."}``).
  An empty unit leaves the tag out; ``T`` is the reading's time in microseconds (``precision=us``).
- ``gateway,site=SITE reads=..i,sales=..i,points=..i,alarms=..i,movements=..i,batches=..i,write_failures=..i,
  transitions_arrived=..i,...,timeseries_dropped=..i,timeseries_rejected=..i,timeseries_held=..i T``: the
  pipeline's counters (totals since the gateway started) and this writer's own.
- ``device,site=SITE,device=D up=1i,frames_ok=..i,frames_bad=..i,observations=..i,reconnects=..i T``: each
  device's health as its supervisor knows it.

Writes go through influxdb-client's batching write API, which sends a batch when ``batch_size`` points are waiting
or ``flush_interval`` after the first, one batch at a time on one thread, and retries a batch that failed for a
reason worth retrying (no connection, HTTP 429 or 5xx) with growing delays until ``max_retry_time`` after its first
try. Then it gives up on the batch: it calls the error callback and forgets it. A request the server refused for
what it held (another 4xx) is not retried and comes to the error callback at once. Its ``flush()`` does nothing;
``close()`` waits (up to a bound) for every batch to be written or given up.

So the writer keeps its own bounded buffer, which is what makes an outage lose nothing up to ``max_buffered``
points. The first retry tells it the server is away: from then on new points are held instead of handed to the
client, and a batch the client gives up on is held again, in front. One batch of the held points at a time goes
back to the client as a probe (its retries are the back-off), the next one scheduled when the last comes back, so
no further write is needed to find the server back; once a batch is written, the held points follow, oldest first.
Points held plus points handed to the client and not yet answered never exceed ``max_buffered``: past it the oldest
held points are dropped, counted (``stats.dropped``, the ``timeseries_dropped`` field) and logged. Delivery is at
least once: a batch whose answer was lost is sent again, with the same timestamps, which a time-series database
stores once (InfluxDB) or can be told to (VictoriaMetrics' ``-dedup.minScrapeInterval``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import WriteOptions
from influxdb_client.domain.write_precision import WritePrecision
from reactivex.scheduler import EventLoopScheduler
from sqlalchemy import Engine

from silentgw.drivers.observations import SensorReading
from silentgw.drivers.supervisor import DeviceHealth
from silentgw.gateway import redaction
from silentgw.gateway.config import Settings, TimeSeriesSettings
from silentgw.gateway.pipeline import Counters
from silentgw.gateway.store import history
from silentgw.gateway.store.database import StoreUnavailable
from silentgw.gateway.store.history import Bucket, BucketKey

__all__ = [
    "SensorRecorder",
    "TimeSeriesWriter",
    "WriterStats",
    "build_recorder",
    "counter_lines",
    "reading_lines",
    "report_counters",
]

logger = logging.getLogger(__name__)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_RETRY_CAP = 30.0
"""Seconds between two tries of one batch, at most: how long a server that came back may wait to be noticed."""
_RETRIES = 10_000
"""Tries of one batch, at most: so many that ``max_retry_time`` is what ends them."""
_TRANSITIONS = ("arrived", "moved", "departed", "passed")
_US = cast(WritePrecision, WritePrecision.US)  # the class holds its values as plain strings


def _micros(time: dt.datetime) -> int:
    """Microseconds since the epoch, in integers (influxdb-client's own conversion goes through a float)."""
    return (time - _EPOCH) // _MICROSECOND


def _line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], micros: int) -> str:
    """One point as line protocol, by influxdb-client's encoder (its escaping; a tag with an empty value left out)."""
    record = {"measurement": measurement, "tags": tags, "fields": fields, "time": micros}
    point = Point.from_dict(record, write_precision=_US)
    line: str = point.to_line_protocol()
    return line


def reading_lines(readings: Iterable[SensorReading], *, site: str) -> list[str]:
    """The readings as ``sensor`` points; a value that is not a finite number has no point (line protocol has none)."""
    lines = []
    for r in readings:
        value = float(r.value)
        if math.isfinite(value):
            tags = {"sensor": r.sensor, "quantity": r.quantity, "unit": r.unit, "site": site}
            lines.append(_line("sensor", tags, {"value": value}, _micros(r.time)))
    return lines


def counter_lines(
    counters: Counters,
    health: Iterable[DeviceHealth],
    *,
    site: str,
    time: dt.datetime,
    extra: Mapping[str, int] | None = None,
) -> list[str]:
    """The pipeline's counters as a ``gateway`` point (with ``extra`` fields), and a ``device`` point per device.

    Every field is an integer (``5i``): a field keeps one type per series in InfluxDB.
    """
    at = _micros(time)
    c = counters
    fields = {"reads": c.reads, "sales": c.sales, "points": c.points, "alarms": c.alarms, "movements": c.movements,
              "batches": c.batches, "write_failures": c.write_failures}  # fmt: skip
    fields |= {f"transitions_{kind}": c.transitions[kind] for kind in (*_TRANSITIONS, *c.transitions)}
    lines = [_line("gateway", {"site": site}, fields | dict(extra or {}), at)]
    for h in health:
        device = {"up": int(h.state != "down"), "frames_ok": h.frames_ok, "frames_bad": h.frames_bad,
                  "observations": h.observations, "reconnects": h.reconnects}  # fmt: skip
        lines.append(_line("device", {"site": site, "device": h.device}, device, at))
    return lines


@dataclass(frozen=True, slots=True)
class WriterStats:
    """What the writer has done with the points it was given, since it started."""

    written: int
    """Points the server took."""
    held: int
    """Points waiting in the writer's buffer for the server to be back."""
    in_flight: int
    """Points handed to the client and not answered yet."""
    dropped: int
    """Points dropped because the buffer was full."""
    rejected: int
    """Points the server refused for what they held (HTTP 4xx other than 429): sending them again would not help."""
    down: bool
    """Whether the server is taken to be away."""


def _retryable(exc: BaseException) -> bool:
    """Whether a batch that failed with ``exc`` may be taken later: the server was away or busy, not refusing it."""
    status = getattr(exc, "status", None)  # influxdb-client's ApiException: the server answered with an error
    return not isinstance(status, int) or status == 429 or status >= 500


def _count(data: bytes) -> int:
    """The points in a batch as the client hands it to a callback (lines joined by newlines; none has one inside)."""
    return data.count(b"\n") + 1 if data else 0


class TimeSeriesWriter:
    """Points to a server speaking the InfluxDB v2 write API, batched, held in a bounded buffer while it is away.

    Thread-safe: the pipeline's thread writes readings, the event loop the counters, the client's thread answers.
    Use it as a context manager, or call :meth:`close` (which sends what is left).
    """

    def __init__(self, settings: TimeSeriesSettings, *, site: str, close_wait: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if settings.url is None:
            raise ValueError("time series are off: no url configured")
        self.settings = settings
        self.site = site
        self.shown = redaction.masked_text(settings.url)  # the server's URL as logs show it: its password masked
        self._clock = clock
        self._lock = threading.Lock()  # the state below; never held while calling into the client
        self._send_lock = threading.Lock()  # one caller at a time into the client (its stream is not thread-safe)
        self._held: deque[bytes] = deque()
        self._in_flight = 0
        self._down = False
        self._probe_at = -math.inf
        self._written = self._dropped = self._rejected = 0
        self._outage_dropped = 0
        self._closed = False
        # A daemon thread of its own: influxdb-client's default scheduler is one pool shared by every client in the
        # process, and a pool thread asleep between retries would hold up the interpreter's exit.
        self._scheduler = EventLoopScheduler(thread_factory=self._thread)
        token = settings.token.get_secret_value() if settings.token is not None else ""
        self._client = InfluxDBClient(url=settings.url, token=token, org=settings.org)
        ms = 1000  # influxdb-client takes milliseconds
        options = WriteOptions(
            batch_size=settings.batch_size,
            flush_interval=int(settings.flush_interval * ms),
            retry_interval=int(settings.retry_interval * ms),
            max_retries=_RETRIES,
            max_retry_delay=int(max(_RETRY_CAP, settings.retry_interval) * ms),
            max_retry_time=int(settings.max_retry_time * ms),
            max_close_wait=int(close_wait * ms),
            write_scheduler=self._scheduler,
        )
        self._api = self._client.write_api(write_options=options, success_callback=self._sent,
                                           error_callback=self._failed, retry_callback=self._retrying)  # fmt: skip
        logger.info("time series to %s (org %s, bucket %s)", self.shown, settings.org, settings.bucket)

    def _thread(self, target: Callable[[], None]) -> threading.Thread:
        """The client's writing thread. When ``close()`` gave up waiting on a batch still being retried, the client
        completes its stream later, after it disposed of it, and raises there: that is the end of the thread, not an
        error to report."""

        def run() -> None:
            try:
                target()
            except Exception:
                if not self._closed:
                    raise
                logger.debug("time-series client finished after the writer closed", exc_info=True)

        return threading.Thread(target=run, daemon=True, name="silentgw time series")

    def __enter__(self) -> TimeSeriesWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> WriterStats:
        """A snapshot of what became of the points so far."""
        with self._lock:
            return WriterStats(self._written, len(self._held), self._in_flight, self._dropped, self._rejected,
                               self._down)  # fmt: skip

    def write_readings(self, readings: Iterable[SensorReading]) -> None:
        """Send ``readings`` as ``sensor`` points."""
        self.write(reading_lines(readings, site=self.site))

    def write_counters(self, counters: Counters, health: Iterable[DeviceHealth], time: dt.datetime) -> None:
        """Send the pipeline's counters, the devices' health and this writer's own figures as of ``time``."""
        s = self.stats
        extra = {"timeseries_dropped": s.dropped, "timeseries_rejected": s.rejected, "timeseries_held": s.held}
        self.write(counter_lines(counters, health, site=self.site, time=time, extra=extra))

    def write(self, lines: Sequence[str]) -> None:
        """Send points given as line protocol (with microsecond timestamps); never blocks on the server."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the time-series writer is closed")
            self._hold(line.encode() for line in lines)
            out = self._release()
        self._send(out)

    def _send(self, lines: list[bytes]) -> None:
        if lines:
            with self._send_lock:
                self._api.write(self.settings.bucket, self.settings.org, lines, write_precision=_US)

    def _release(self) -> list[bytes]:
        """The held points to hand to the client now, counted as in flight (the lock is held).

        All of them while the server is there. While it is away, one batch probes it when nothing else is in flight,
        and no sooner than ``retry_interval`` after the last probe (the client's retries of it are the back-off).
        """
        if self._down:
            if self._in_flight or not self._held or self._clock() < self._probe_at:
                return []
            self._probe_at = self._clock() + self.settings.retry_interval
            out = [self._held.popleft() for _ in range(min(self.settings.batch_size, len(self._held)))]
        else:
            out, self._held = list(self._held), deque()
        self._in_flight += len(out)
        return out

    def _hold(self, lines: Iterable[bytes], *, first: bool = False) -> None:
        """Queue ``lines`` (the lock is held), before the rest if ``first``; past the bound, drop the oldest held.

        Every point passes through here, so held plus in flight never exceeds ``max_buffered`` (unless what is in
        flight alone does: the client's batches cannot be taken back).
        """
        if first:
            self._held.extendleft(reversed(list(lines)))
        else:
            self._held.extend(lines)
        over = len(self._held) + self._in_flight - self.settings.max_buffered
        dropped = min(max(over, 0), len(self._held))
        if dropped:
            for _ in range(dropped):
                self._held.popleft()
            if self._outage_dropped == 0:
                logger.warning("time-series buffer full (%d points): dropping the oldest", self.settings.max_buffered)
            self._dropped += dropped
            self._outage_dropped += dropped

    def _pump(self, *_: Any) -> None:
        """Hand over what the held points' state allows; scheduled on the client's thread by its callbacks.

        It runs as a task of its own on that thread, after the callback returned: a callback runs inside the client's
        stream, so it must not call back into it.
        """
        with self._lock:
            out = [] if self._closed else self._release()
        self._send(out)

    def _later(self, seconds: float) -> None:
        """Pump in ``seconds`` (the lock is held)."""
        if not self._closed:
            self._scheduler.schedule_relative(seconds, self._pump)

    # The client's callbacks, on its writing thread: they record what happened and schedule what follows.

    def _retrying(self, conf: Any, data: bytes, exc: BaseException) -> None:
        with self._lock:
            if not self._down:
                self._down = True
                self._probe_at = self._clock() + self.settings.retry_interval
                logger.warning("time-series server %s unreachable (%s); holding up to %d points until it is back",
                               self.shown, _reason(exc), self.settings.max_buffered)  # fmt: skip

    def _sent(self, conf: Any, data: bytes) -> None:
        n = _count(data)
        with self._lock:
            self._in_flight -= n
            self._written += n
            if self._down:
                self._down = False
                logger.warning("time-series server %s is back: %d points held are sent, %d were dropped",
                               self.shown, len(self._held), self._outage_dropped)  # fmt: skip
                self._outage_dropped = 0
                self._later(0)

    def _failed(self, conf: Any, data: bytes, exc: BaseException) -> None:
        lines = data.split(b"\n") if data else []
        with self._lock:
            self._in_flight -= len(lines)
            if _retryable(exc):
                self._down = True
                self._hold(lines, first=True)
                if not self._in_flight:  # the next probe, whether or not more points come
                    self._later(max(0.0, self._probe_at - self._clock()))
            else:
                self._rejected += len(lines)
                logger.error("time-series server %s refused %d points: %s", self.shown, len(lines),
                             _reason(exc))  # fmt: skip

    def close(self) -> None:
        """Send what is held (one last try, even if the server seemed away) and wait, up to ``close_wait``, for every
        batch to be answered; what the server has not taken by then is logged with its count."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._down = False
            out = self._release()
        self._send(out)
        self._api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]
        self._scheduler.dispose()
        s = self.stats
        if s.held or s.in_flight:
            logger.error("time-series writer stopped with %d points not written (%d held, %d unanswered)",
                         s.held + s.in_flight, s.held, s.in_flight)  # fmt: skip


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong (urllib3's MaxRetryError keeps the last error as its ``reason``)."""
    text = redaction.masked_text(str(getattr(exc, "reason", None) or exc))
    return text.splitlines()[0] if text else type(exc).__name__


class SensorRecorder:
    """The pipeline's ``readings`` hook: each micro-batch's readings downsampled into SQL, and sent as time series.

    It is called in the pipeline's thread. While the database is away, the downsampled buckets wait in memory,
    merged (a bucket per sensor, quantity and minute at most, so an hour away holds at most sixty per series) and are
    written with the first micro-batch after it answers; past ``max_pending`` buckets the oldest are dropped and
    counted. The time-series writer is not held up by the database, nor the database by it.
    """

    def __init__(self, engine: Engine, *, bucket_seconds: int = 60, writer: TimeSeriesWriter | None = None,
                 max_pending: int = 100_000, retry_every: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.engine = engine
        self.bucket_seconds = bucket_seconds
        self.writer = writer
        self.max_pending = max_pending
        self.retry_every = retry_every
        """Seconds between attempts to write while the database is away."""
        self.pending: dict[BucketKey, Bucket] = {}
        """Buckets not written yet (the database was away)."""
        self.dropped = 0
        """Readings of buckets dropped: past ``max_pending``, or refused by the database."""
        self._clock = clock
        self._retry_at = -math.inf

    def __call__(self, readings: Sequence[SensorReading]) -> None:
        """Take one micro-batch's readings."""
        if self.writer is not None:
            self.writer.write_readings(readings)
        for key, bucket in history.downsample(readings, self.bucket_seconds).items():
            seen = self.pending.get(key)
            self.pending[key] = bucket if seen is None else seen.merged(bucket)
        self._trim()
        if self.pending and self._clock() >= self._retry_at:
            self.flush()

    def flush(self) -> bool:
        """Write the pending buckets now; whether they are written (False: the database is away, they wait)."""
        waiting = len(self.pending)
        try:
            with self.engine.begin() as conn:
                history.write(conn, self.pending)
        except StoreUnavailable as exc:
            if self._retry_at == -math.inf:
                logger.warning("database unreachable; sensor history waits in memory: %s", exc)
            self._retry_at = self._clock() + self.retry_every
            return False
        except Exception:  # refused for what it holds: trying again would fail again
            logger.exception("sensor history: %d buckets refused by the database, dropped", waiting)
            self.dropped += sum(b.count for b in self.pending.values())
            self.pending.clear()
            return False
        if self._retry_at != -math.inf:
            logger.warning("database back: %d sensor history buckets written that waited", waiting)
        self._retry_at = -math.inf
        self.pending.clear()
        return True

    def _trim(self) -> None:
        over = len(self.pending) - self.max_pending
        if over > 0:
            oldest = sorted(self.pending, key=lambda k: k.start)[:over]
            lost = sum(self.pending.pop(k).count for k in oldest)
            self.dropped += lost
            logger.warning("sensor history: %d buckets waiting for the database, dropped the oldest %d (%d readings)",
                           self.max_pending, over, lost)  # fmt: skip

    def close(self) -> None:
        """Write what waits (one last try) and close the time-series writer; what cannot be written is logged."""
        if self.pending and not self.flush():
            logger.error("stopping with the database away: %d sensor history buckets are not written",
                         len(self.pending))  # fmt: skip
        if self.writer is not None:
            self.writer.close()


def build_recorder(settings: Settings, engine: Engine) -> SensorRecorder:
    """The recorder the settings ask for: SQL history always, time series when ``timeseries.url`` is set."""
    ts = settings.timeseries
    writer = TimeSeriesWriter(ts, site=settings.site.id) if ts.url is not None else None
    return SensorRecorder(engine, bucket_seconds=ts.history_bucket_seconds, writer=writer)


async def report_counters(
    writer: TimeSeriesWriter,
    counters: Counters,
    health: Callable[[], Iterable[DeviceHealth]],
    *,
    every: float,
    clock: Callable[[], dt.datetime],
) -> None:
    """Write the pipeline's counters and the devices' health every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        writer.write_counters(counters, health(), clock())
