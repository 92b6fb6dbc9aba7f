"""A shelf reader powered off for longer than its zone's absence timeout, then on again, reading the same tags.

Powered off, the reader sends nothing: no reads, no heartbeats, and its connection to the broker closes with no
DISCONNECT. The gateway's own connection to the broker stays up, so only the reader's silence can tell it the reader
is down; it must, before the shelf's absence timeout, or every item on the shelf goes missing and is found again.
The shelf reader's driver is given a silence bound (``silence_s``) shorter than the absence timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.store import ABSENCE, FaultStore

pytestmark = pytest.mark.faults


def test_a_reader_powered_off_longer_than_the_absence_timeout_loses_no_item(
    make_store: Callable[..., FaultStore],
) -> None:
    store = make_store(shelf_driver=", silence_s = 3")
    store.open()
    store.shop(2)
    store.shelf.power_off()
    states: set[str] = set()
    off_until = time.monotonic() + ABSENCE * 1.5  # the reader stays off half as long again as the absence timeout
    while time.monotonic() < off_until:
        states.add(store.gateway.get("/api/v1/devices/reader-shelf/health")["state"])
        time.sleep(0.5)
    store.shelf.power_on()
    store.settle()
    assert "down" in states, f"the shelf reader was never reported down while powered off (seen: {states})"
