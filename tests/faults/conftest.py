"""Fixtures of the fault tests: a private Mosquitto with persistence, and the store built on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.store import FaultStore
from tests.mqtt_broker import MOSQUITTO, PrivateBroker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A Mosquitto of the test's own that keeps sessions and queued messages across a stop."""
    assert Path(MOSQUITTO).exists(), f"no {MOSQUITTO}: run scripts/ensure-services.sh (Debian package mosquitto)"
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    broker = PrivateBroker(directory, persistence=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def make_store(tmp_path: Path, broker: PrivateBroker) -> Iterator[Callable[..., FaultStore]]:
    """Makes the scenario's store (``FaultStore``'s keyword arguments); closed whatever the test's outcome."""
    opened: list[FaultStore] = []

    def make(**options: str) -> FaultStore:
        store = FaultStore(tmp_path, broker, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
