"""The gateway SIGKILLed in the middle of a burst of reads, then started again.

The readers publish at QoS 1 into the gateway's persistent session, so what they send while it is down waits at the
broker. A pallet comes in through the dock door while the database is busy with a long transaction of someone else's
(a backup, a report: the gateway's write waits for it), and the gateway is killed the moment its driver has taken the
pass: the broker has had its acknowledgement, and nothing of it is written yet. Unlike a shelf, which is read again
and again, a portal pass is read once, so a read acknowledged and then lost is a pallet the store never received.
A shopper then pays while the gateway is down; her reads reach it from its session once it is back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from tests.faults.gateway import eventually
from tests.faults.store import FaultStore

pytestmark = pytest.mark.faults


@pytest.mark.xfail(
    strict=False,
    reason="intermittent (2 runs in 22 measured): the pallet's portal pass can be lost. Its outer side's messages are "
    "acknowledged once a micro-batch that wrote nothing has been processed (presence only noted half a pass), the kill "
    "then leaves the broker only the inner side, and half a pass never passes. The sale's item going missing is fixed.",
)
def test_a_gateway_killed_mid_burst_loses_no_read_once_restarted(make_store: Callable[..., FaultStore]) -> None:
    store = make_store()
    store.open()
    gateway = store.gateway
    store.shop(2)
    eventually(lambda: len(gateway.sales()) == 1, seconds=20, what="the first sale recorded")
    busy = sqlite3.connect(store.dir / "store.db", isolation_level=None)
    busy.execute("BEGIN IMMEDIATE")  # the database busy with another writer's long transaction
    try:
        before = gateway.observations("reader-back")
        cases, sent = store.pallet()
        for info in sent:
            info.wait_for_publish(5)
        taken = before + 4 * len(cases)  # two rounds on each side of the portal
        eventually(lambda: gateway.observations("reader-back") >= taken, seconds=10, what="the pass taken")
        gateway.kill()
    finally:
        busy.execute("ROLLBACK")
        busy.close()
    store.shop(2)  # while it is down: the readers' messages wait in its session at the broker
    gateway.start()
    store.settle()
