"""PostgreSQL restarted in the middle of a burst of reads: a private cluster (the shared one on 5432 is never
touched), stopped with a fast shutdown (open sessions cut, work in flight rolled back) and started again. What the
gateway decided meanwhile waits in its backlog, in order, and is written once the database answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.faults.gateway import eventually
from tests.faults.store import FaultStore
from tests.postgres_cluster import PrivateCluster

pytestmark = pytest.mark.faults


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def test_postgresql_restarted_mid_burst_loses_no_read_nor_event(
    make_store: Callable[..., FaultStore], cluster: PrivateCluster
) -> None:
    store = make_store(database_url=cluster.url)
    store.open()
    store.shop(2)
    store.pallet()
    cluster.stop()
    gateway = store.gateway

    def not_ready() -> bool:
        return httpx.get(f"{gateway.base}/readyz", timeout=5).status_code != 200

    eventually(not_ready, seconds=10, what="/readyz saying the database is away")
    store.shop(2)  # bought while the database is away
    cluster.start()
    store.settle()
