"""Fixtures of the webhook tests: a receiver on a free loopback port (the rig is in ``harness.py``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.integration.webhooks.harness import Receiver, handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver listening on a free loopback port until the test ends."""
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(found))
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join()
