"""A sensor threshold with hysteresis and a minimum duration: a fridge above 5 °C for 10 minutes alerts, once; it
clears only back at 4.5 °C; a door opened for a moment never alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.config import SensorRuleSettings
from silentgw.gateway.rules import SensorWatch

T0 = dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)
FRIDGE = SensorRuleSettings.model_validate(
    {"id": "fridge-warm", "sensor": "fridge-1", "quantity": "temperature", "above": 5.0, "hysteresis": 0.5, "for": 600}
)
SCALE = SensorRuleSettings.model_validate(
    {"id": "scale-low", "sensor": "scale-1", "quantity": "weight", "below": 2.0, "hysteresis": 0.2}
)


def run(watch: SensorWatch, readings: Sequence[tuple[float, float]]) -> list[tuple[float, str]]:
    """(minute, value) readings in; (minute, what happened) out."""
    out = []
    for minute, value in readings:
        happened = watch.see(value, T0 + dt.timedelta(minutes=minute))
        if happened is not None:
            out.append((minute, happened))
    return out


def test_a_warm_fridge_alerts_after_ten_minutes_and_clears_only_past_the_hysteresis() -> None:
    readings = [(0, 4.2), (1, 5.3), (5, 5.8), (10, 5.6), (11, 6.0), (20, 4.9), (21, 4.6), (22, 4.5), (23, 5.2)]
    assert run(SensorWatch(FRIDGE), readings) == [(11, "alert"), (22, "cleared")]


def test_a_condition_broken_before_its_duration_starts_again() -> None:
    readings = [(0, 5.5), (9, 4.9), (10, 5.5), (19, 5.4), (20, 5.1)]
    assert run(SensorWatch(FRIDGE), readings) == [(20, "alert")]


def test_a_below_threshold_with_no_duration_alerts_at_once() -> None:
    assert run(SensorWatch(SCALE), [(0, 3.0), (1, 1.9), (2, 2.1), (3, 2.2)]) == [(1, "alert"), (3, "cleared")]


@given(st.lists(st.floats(min_value=-10, max_value=20), max_size=60))
def test_alerts_and_clears_alternate_starting_with_an_alert(values: list[float]) -> None:
    kinds = [k for _, k in run(SensorWatch(FRIDGE), [(i, v) for i, v in enumerate(values)])]
    assert kinds == ["alert", "cleared"] * (len(kinds) // 2) + ["alert"] * (len(kinds) % 2)
