"""The read pipeline against the simulator's truth over a noisy three-hour day (SQLite): a reader outage makes no
departures, and no sale is recorded that was not made."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.accuracy import EXAMPLE, Report, measure, noisy_plan
from silentgw.gateway.config import load_settings


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """``bench/accuracy.py``'s day, three hours long, on a fresh SQLite database."""
    db: Path = tmp_path_factory.mktemp("accuracy") / "silentgw.db"
    settings = load_settings(EXAMPLE, {}).model_copy(update={"database_url": f"sqlite:///{db}"})
    plan = noisy_plan(settings, hours=3)
    assert plan.read_rate == 0.7
    assert plan.cross_read_rate > 0
    assert plan.outage is not None
    return measure(settings, plan, seed=2)


def test_the_reader_outage_makes_no_departures(report: Report) -> None:
    assert report.figures.outage_departures == 0


def test_no_sale_is_recorded_that_was_not_made_and_the_unpaid_exit_is_caught(report: Report) -> None:
    assert report.figures.phantom_sales == 0
    assert report.figures.missed_unpaid_exits == 0


def test_the_items_end_the_day_where_they_are(report: Report) -> None:
    assert report.figures.location_accuracy >= 0.995
