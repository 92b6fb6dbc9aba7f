"""What every fuzz test shares: how many examples, the count of inputs fed per parser, and what an output must be.

``SILENTGW_FUZZ_EXAMPLES`` sets the examples per test: a short run by default (``make test``), 100,000 in ``make
fuzz``. Each test counts the inputs it feeds under its parser's name, and the run ends with the counts
(``conftest.py``), so a long run says how much it tried.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections import Counter
from typing import Any

import orjson
from hypothesis import HealthCheck, settings

from silentgw.cli.drivers import observation_json
from silentgw.drivers.observations import DeviceStatus, Rejected, SensorReading, TagRead

__all__ = ["COUNTS", "EXAMPLES", "check_output", "fuzzed"]

EXAMPLES = int(os.environ.get("SILENTGW_FUZZ_EXAMPLES", "150"))
COUNTS: Counter[str] = Counter()
"""Inputs fed per parser in this run."""

fuzzed = settings(
    max_examples=EXAMPLES,
    deadline=None,  # a deep document takes longer than a flat one: time is not what is tested here
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def check_output(parser: str, out: list[Any]) -> None:
    """Count one input to ``parser``, and check what it gave: observations the core can hold, or reasoned rejects.

    Every item must also print as ``silentgw drivers parse`` prints it.
    """
    COUNTS[parser] += 1
    for item in out:
        kind = type(item)
        if kind is Rejected:
            assert type(item.reason) is str, item
            assert item.reason.strip(), item
            assert type(item.raw) is bytes, item
        elif kind is TagRead:
            _check_tag(item)
        elif kind is SensorReading:
            assert _finite(item.value), item
            assert item.quantity, item
            assert _short_text(item.quantity, 64), item
            assert _short_text(item.unit, 32), item
        else:
            assert kind is DeviceStatus, item
        assert _utc(item.time), item
        orjson.dumps(observation_json(item))


def _check_tag(read: TagRead) -> None:
    assert type(read.epc) is str, read
    assert 0 < len(read.epc) <= 124, read
    assert read.epc == read.epc.upper(), read
    int(read.epc, 16)
    assert type(read.antenna) is int, read
    assert 0 <= read.antenna <= 0xFFFF, read
    assert read.rssi is None or _finite(read.rssi), read
    assert type(read.reads) is int, read
    assert 1 <= read.reads < 2**31, read


def _finite(value: object) -> bool:
    return type(value) is float and math.isfinite(value)


def _short_text(text: object, most: int) -> bool:
    return type(text) is str and len(text) <= most and (text.isprintable() or not text)


def _utc(time: dt.datetime) -> bool:
    return time.utcoffset() == dt.timedelta(0)
