"""A webhook receiver down through several retries while the store keeps selling and receiving, then back on the same
port: every event reaches it once it is back (duplicates only as repeated ids), each signed, and nothing else is held up
meanwhile (the MQTT subscriber has every event)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.gateway import eventually
from tests.faults.receivers import WebhookReceiver
from tests.faults.store import FaultStore

pytestmark = pytest.mark.faults

DOWN = 10.0
"""Seconds the receiver is away: four tries of the retry schedule (1, 2 and 4 s apart), so a growing backoff is in
play, and the next (8 s on) finds it back. Longer proves nothing more: it waits out longer delays of the same schedule
(a minute was six failures and 63 s)."""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def test_a_webhook_receiver_down_through_retries_gets_every_event(
    make_store: Callable[..., FaultStore], receiver: WebhookReceiver
) -> None:
    store = make_store()
    after = store.open(webhook=(receiver.url, receiver.secret))
    store.shop(2)
    receiver.stop()
    gone = time.monotonic()
    store.pallet()
    store.shop(2)
    # the MQTT subscriber is not held up by the webhook that cannot take its events
    store.delivered(store.published, "the MQTT subscriber", seconds=20)
    hook = eventually(lambda: store.gateway.get("/api/v1/webhooks")["items"][0], seconds=5, what="the subscription")
    eventually(lambda: store.gateway.get(f"/api/v1/webhooks/{hook['id']}")["failures"] > 0, seconds=30,
               what="the webhook failing")  # fmt: skip
    time.sleep(max(0.0, DOWN - (time.monotonic() - gone)))  # the rest of the time the receiver is away
    receiver.start()
    store.settle()
    store.delivered(receiver.received, "the webhook receiver", after=after, seconds=90)
    assert receiver.bad_signatures == 0
