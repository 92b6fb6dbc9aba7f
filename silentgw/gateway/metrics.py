"""The gateway's figures in the Prometheus text exposition format (version 0.0.4), for ``GET /metrics``.

Nothing here counts: the pipeline, the supervisors and the dispatcher already keep their figures, and a scrape
reads them as they are. :class:`Metrics` is handed whatever runs in the process (any part may be missing: an API
without a gateway still tells the outbox's figures from the database) and renders them on demand; the format is
written by hand because it is a dozen lines of text and the only thing the scrape needs from a client library.

The format, as the exposition format's text details set it out: one ``# HELP`` and one ``# TYPE`` line per family,
then a line per sample, ``name{label="value",...} number``; help text escapes backslash and line feed, label values
also the double quote; the last line ends in a line feed. Counters end in ``_total`` and never go down while the
process lives (a restart starts them again, which Prometheus's ``rate`` understands).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from silentgw import __version__
from silentgw.gateway.app import Gateway
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store import deadletters, outbox
from silentgw.gateway.store.database import StoreError
from silentgw.gateway.store.models import OutboxCursor

__all__ = ["CONTENT_TYPE", "FAMILIES", "Family", "Metrics", "OutboxFigures", "read_outbox", "render"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the text format, as scrapers ask for it."""

TRANSITION_KINDS = ("arrived", "moved", "departed", "passed")
"""Presence's transitions, each always exported (a series that appears only at its first event breaks ``rate``)."""

MetricType = Literal["counter", "gauge"]
Labels = tuple[tuple[str, str], ...]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: its name, type, help text and samples (label pairs and a value each)."""

    name: str
    type: MetricType
    help: str
    samples: tuple[tuple[Labels, float], ...]

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"not a metric name: {self.name!r}")
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {self.name!r}")
        for labels, _ in self.samples:
            for label, _ in labels:
                if not _LABEL.fullmatch(label) or label.startswith("__"):
                    raise ValueError(f"not a label name: {label!r}")


FAMILIES: dict[str, tuple[MetricType, str]] = {
    "silentgw_build_info": ("gauge", "The running silentgw's version (the value is 1)."),
    "silentgw_database_up": ("gauge", "Whether the database answered this scrape."),
    "silentgw_outbox_events_total": ("counter", "Events written to the outbox (its newest sequence number)."),
    "silentgw_sink_delivered_total": ("counter", "Events delivered to the sink."),
    "silentgw_sink_failures_total": ("counter", "Failed deliveries to the sink."),
    "silentgw_sink_failing": ("gauge", "Failed deliveries to the sink in a row (0: it takes them)."),
    "silentgw_sink_backlog_events": ("gauge", "Events in the outbox the sink has not taken yet."),
    "silentgw_sink_dead_letters_total": ("counter", "Events the sink refused on their own, set aside as dead letters."),
    "silentgw_dead_letters_open": ("gauge", "Dead letters waiting for an admin (replay or discard), by source."),
    "silentgw_reads_total": ("counter", "Tag reads the pipeline processed."),
    "silentgw_transitions_total": ("counter", "Presence transitions: arrived, moved, departed, passed a portal."),
    "silentgw_sales_total": ("counter", "Sales recorded on members' records."),
    "silentgw_loyalty_points_total": ("counter", "Loyalty points the sales awarded."),
    "silentgw_unpaid_exit_alarms_total": ("counter", "Unpaid-exit alarms raised."),
    "silentgw_ledger_movements_total": ("counter", "Stock ledger movements recorded."),
    "silentgw_pipeline_batches_total": ("counter", "Micro-batches processed."),
    "silentgw_pipeline_write_failures_total": ("counter", "Writes that failed as the database was away (retried)."),
    "silentgw_pipeline_backlog_batches": ("gauge", "Micro-batches decided but not yet written (database away)."),
    "silentgw_pipeline_dead_letters_total": ("counter", "Steps the database refused, set aside as dead letters."),
    "silentgw_pipeline_held_back_total": ("counter", "Times the backlog was full and the drivers were held back."),
    "silentgw_observations_total": ("counter", "Observations the drivers handed to the gateway."),
    "silentgw_intake_batches": ("gauge", "Hand-overs from the drivers waiting for the pipeline."),
    "silentgw_device_up": ("gauge", "Whether the device is up (1) or down (0)."),
    "silentgw_device_frames_ok_total": ("counter", "Frames or messages from the device that gave observations."),
    "silentgw_device_frames_bad_total": ("counter", "Input from the device set aside as unreadable."),
    "silentgw_device_observations_total": ("counter", "Observations the device's driver made."),
    "silentgw_device_reconnects_total": ("counter", "Times the device's driver was started again."),
    "silentgw_device_since_last_seen_seconds": ("gauge", "Seconds since the device last said anything (none: never)."),
}
"""Every family the gateway exports, with its type and help: the one list to read (and to change) for a new one."""


def _one(name: str, value: float) -> Family:
    """A family of :data:`FAMILIES` with one sample and no labels."""
    type_, help_ = FAMILIES[name]
    return Family(name, type_, help_, (((), value),))


def _by(name: str, label: str, values: Mapping[str, float]) -> Family:
    """A family of :data:`FAMILIES` with one label, a sample per value of it (in the mapping's order)."""
    type_, help_ = FAMILIES[name]
    return Family(name, type_, help_, tuple((((label, key),), value) for key, value in values.items()))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    """Integers without a decimal point (counters read better so); NaN and infinities as the format spells them."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _sample(name: str, labels: Labels, value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}"
    pairs = ",".join(f'{label}="{_escape_label(text)}"' for label, text in labels)
    return f"{name}{{{pairs}}} {_number(value)}"


def render(families: Iterable[Family]) -> str:
    """The families as the text format; a family without samples still says what it is."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        lines.extend(_sample(family.name, labels, value) for labels, value in family.samples)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    """What the database says of the outbox: the newest sequence number and every sink's cursor."""

    latest: int
    cursors: Mapping[str, int]
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    """Open dead letters by source."""


def read_outbox(engine: Engine) -> OutboxFigures:
    """The outbox's figures, in one short read (blocking: call it off the event loop)."""
    with engine.connect() as conn:
        latest = outbox.latest(conn)
        rows = conn.execute(select(OutboxCursor.sink, OutboxCursor.seq).order_by(OutboxCursor.sink))
        cursors = {str(sink): int(seq) for sink, seq in rows}
        return OutboxFigures(latest, cursors, deadletters.count_open(conn))


class Metrics:
    """The figures of what runs in this process, rendered for a scrape; every part is optional.

    ``pipeline`` gives reads, transitions, sales, alarms, ledger movements and the write backlog; ``gateway`` each
    device's health; ``dispatcher`` each sink's deliveries and failures; ``engine`` the outbox (events written, and
    how far behind each sink is, also for sinks of other processes when no dispatcher runs here).
    """

    def __init__(
        self,
        *,
        engine: Engine | None = None,
        pipeline: Pipeline | None = None,
        gateway: Gateway | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.gateway = gateway
        self.dispatcher = dispatcher

    async def exposition(self) -> str:
        """The text a scrape gets: the database is read in a worker thread, the rest straight from the objects that
        keep it (plain integers read without a lock: a scrape in the middle of a micro-batch may see some of its
        counters moved and others not yet, which the next scrape sets right)."""
        figures = await asyncio.to_thread(self.read_database) if self.engine is not None else None
        return render(self.families(figures))

    def read_database(self) -> OutboxFigures | None:
        """The outbox's figures, or None when the database does not answer (the scrape still gets the rest)."""
        assert self.engine is not None
        try:
            return read_outbox(self.engine)
        except (StoreError, SQLAlchemyError) as exc:
            logger.warning("metrics: the database does not answer: %s", exc)
            return None

    def families(self, figures: OutboxFigures | None) -> list[Family]:
        """Every family there is something to say about, given what the database said (None: nothing)."""
        found = [_by("silentgw_build_info", "version", {__version__: 1})]
        if self.engine is not None:
            found.append(_one("silentgw_database_up", 1 if figures is not None else 0))
        if figures is not None:
            found.append(_one("silentgw_outbox_events_total", figures.latest))
            found.append(_by("silentgw_dead_letters_open", "source", figures.dead_letters))
        found += self._sinks(figures)
        if self.pipeline is not None:
            found += self._pipeline(self.pipeline)
        if self.gateway is not None:
            found += self._devices(self.gateway)
        return found

    def _sinks(self, figures: OutboxFigures | None) -> list[Family]:
        stored = figures.cursors if figures is not None else {}
        if self.dispatcher is None:  # another process delivers: how far behind its sinks are is all there is
            if figures is None:
                return []
            return [_by("silentgw_sink_backlog_events", "sink",
                        {name: max(0, figures.latest - seq) for name, seq in stored.items()})]  # fmt: skip
        health = {name: self.dispatcher.health[name] for name in list(self.dispatcher.sinks)}
        found = [
            _by("silentgw_sink_delivered_total", "sink", {name: h.delivered for name, h in health.items()}),
            _by("silentgw_sink_failures_total", "sink", {name: h.failures for name, h in health.items()}),
            _by("silentgw_sink_failing", "sink", {name: h.failing for name, h in health.items()}),
            _by("silentgw_sink_dead_letters_total", "sink", {name: h.dead_letters for name, h in health.items()}),
        ]
        if figures is not None:
            # the pump's cursor runs ahead of the stored one between a delivery and its write; before the pump has
            # read the stored one it is 0, so the larger of the two is how far the sink really is
            behind = {name: max(0, figures.latest - max(h.cursor, stored.get(name, 0))) for name, h in health.items()}
            found.append(_by("silentgw_sink_backlog_events", "sink", behind))
        return found

    @staticmethod
    def _pipeline(pipeline: Pipeline) -> list[Family]:
        c = pipeline.counters
        return [
            _one("silentgw_reads_total", c.reads),
            _by("silentgw_transitions_total", "kind", {kind: c.transitions[kind] for kind in TRANSITION_KINDS}),
            _one("silentgw_sales_total", c.sales),
            _one("silentgw_loyalty_points_total", c.points),
            _one("silentgw_unpaid_exit_alarms_total", c.alarms),
            _one("silentgw_ledger_movements_total", c.movements),
            _one("silentgw_pipeline_batches_total", c.batches),
            _one("silentgw_pipeline_write_failures_total", c.write_failures),
            _one("silentgw_pipeline_backlog_batches", len(pipeline.backlog)),
            _one("silentgw_pipeline_dead_letters_total", c.dead_letters),
            _one("silentgw_pipeline_held_back_total", c.held_back),
        ]

    @staticmethod
    def _devices(gateway: Gateway) -> list[Family]:
        supervisors = dict(gateway.supervisors)
        health = {device: s.health for device, s in supervisors.items()}
        ages = {  # on each supervisor's clock: the one that stamped last_seen (a simulation's, in the demo)
            device: max(0.0, (s.clock() - s.health.last_seen).total_seconds())
            for device, s in supervisors.items()
            if s.health.last_seen is not None
        }

        def each(pick: str) -> dict[str, float]:
            return {device: getattr(h, pick) for device, h in health.items()}

        return [
            _one("silentgw_observations_total", sum(h.observations for h in health.values())),
            _one("silentgw_intake_batches", gateway.intake.qsize()),
            _by("silentgw_device_up", "device", {device: 1 if h.state == "up" else 0 for device, h in health.items()}),
            _by("silentgw_device_frames_ok_total", "device", each("frames_ok")),
            _by("silentgw_device_frames_bad_total", "device", each("frames_bad")),
            _by("silentgw_device_observations_total", "device", each("observations")),
            _by("silentgw_device_reconnects_total", "device", each("reconnects")),
            _by("silentgw_device_since_last_seen_seconds", "device", ages),
        ]
