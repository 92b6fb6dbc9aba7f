"""The gateway SIGKILLed in the middle of a burst of reads, then started again.

The readers publish at QoS 1 into the gateway's persistent session, so what they send while it is down waits at the
broker. The kill comes the moment the gateway's driver has taken a one-shot pass of a pallet through the dock door
(the broker has its acknowledgement, and the reads are in the driver's hands but perhaps not yet written): unlike a
shelf, which is read again and again, a portal pass is never read twice, so a read acknowledged and then lost is a
pallet the store never received.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.gateway import eventually
from tests.faults.store import FaultStore

pytestmark = pytest.mark.faults


def test_a_gateway_killed_mid_burst_loses_no_read_once_restarted(make_store: Callable[..., FaultStore]) -> None:
    store = make_store()
    store.open()
    gateway = store.gateway
    store.shop(2)
    before = gateway.observations("reader-back")
    cases, sent = store.pallet()
    for info in sent:
        info.wait_for_publish(5)
    taken = before + 4 * len(cases)  # two rounds on each side of the portal
    eventually(lambda: gateway.observations("reader-back") >= taken, seconds=10, what="the pass taken", every=0.01)
    gateway.kill()
    store.shop(2)  # while it is down: the readers' messages wait in its session at the broker
    gateway.start()
    store.settle()
