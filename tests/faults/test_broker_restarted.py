"""Mosquitto stopped (SIGTERM: it saves its persistent sessions and their queued messages) in the middle of a burst of
reads, and started again. The readers keep reading and queue their QoS 1 messages until the broker is back; the
gateway's drivers and its event publisher reconnect, and the MQTT subscriber's session resumes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.gateway import eventually
from tests.faults.store import FaultStore
from tests.mqtt_broker import PrivateBroker

pytestmark = pytest.mark.faults


def test_mosquitto_restarted_mid_burst_loses_no_read_nor_event(
    make_store: Callable[..., FaultStore], broker: PrivateBroker
) -> None:
    store = make_store()
    store.open()
    store.shop(2)
    _, sent = store.pallet()
    for info in sent:
        info.wait_for_publish(5)
    broker.stop()
    # the gateway sees its readers down (its own connection to the broker is gone), so no absence clock runs
    eventually(lambda: store.gateway.get("/api/v1/devices/reader-shelf/health")["state"] == "down", seconds=10,
               what="the shelf reader reported down")  # fmt: skip
    store.shop(2)  # bought while the broker is away: the readers hold their messages until it is back
    broker.start()
    store.settle()
