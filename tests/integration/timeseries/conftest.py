"""A VictoriaMetrics of each test's own, on a free loopback port with a fresh data directory; an API client.

VictoriaMetrics takes the InfluxDB v2 write API at ``/api/v2/write`` and names a line-protocol field
``{measurement}_{field}`` (``sensor,sensor=t1 value=4.5`` is ``sensor_value{sensor="t1"}``). Its export API gives
the raw samples, duplicates included (this version keeps them unless ``-dedup.minScrapeInterval`` is set), with
millisecond timestamps and values rounded to about 12 significant digits. Fresh samples wait in memory before a
search sees them: each export asks for them to be flushed first, and reads poll. By default it refuses samples older
than its retention (a month), so the tests write recent times.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from tests.keys import bearer

T = TypeVar("T")

BINARY = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"

Sample = tuple[int, float]
"""A raw sample as exported: milliseconds since the epoch, value."""


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], T | None], *, timeout: float = 20.0, every: float = 0.1) -> T:
    """The first truthy result of ``check``, polling until ``timeout`` seconds have passed (then fail)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout} s waiting for {check}")
        time.sleep(every)


class VictoriaMetrics:
    """One VictoriaMetrics process, stopped and started again on the same port and data directory."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._log = data.parent / "victoria-metrics.log"

    def start(self) -> None:
        """Start it and wait until it answers its health check."""
        assert self._process is None
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [BINARY, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.data}",
                 "-loggerLevel=WARN"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            pytest.fail(f"victoria-metrics exited: {self._log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        """Stop it as a service manager would (SIGTERM: it writes what it holds in memory, then exits)."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(timeout=30)

    def export(self, match: str) -> list[dict[str, Any]]:
        """The series matching ``match`` with their raw samples (``metric``, ``values``, ``timestamps``)."""
        # Recent samples wait in memory for up to seconds before a search sees them; this makes them searchable now.
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        response = httpx.get(f"{self.url}/api/v1/export", params={"match[]": match}, timeout=10)
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line]

    def samples(self, match: str) -> dict[frozenset[tuple[str, str]], list[Sample]]:
        """The raw samples of each series matching ``match``, keyed by the series' labels, in time order."""
        found: dict[frozenset[tuple[str, str]], list[Sample]] = {}
        for series in self.export(match):
            labels = frozenset(series["metric"].items())
            found.setdefault(labels, []).extend(zip(series["timestamps"], series["values"], strict=True))
        return {labels: sorted(s) for labels, s in found.items()}

    def wait_samples(self, match: str, count: int, *, timeout: float = 20.0) -> dict[frozenset[tuple[str, str]],
                                                                                      list[Sample]]:  # fmt: skip
        """The samples matching ``match`` once at least ``count`` are searchable."""

        def enough() -> dict[frozenset[tuple[str, str]], list[Sample]] | None:
            found = self.samples(match)
            return found if sum(map(len, found.values())) >= count else None

        return wait_for(enough, timeout=timeout)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A running VictoriaMetrics of the test's own."""
    if not Path(BINARY).exists():
        pytest.fail("victoria-metrics is not installed: run scripts/ensure-services.sh")
    server = VictoriaMetrics(tmp_path / "victoria-metrics-data", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """A client of the API on the test's migrated database (the engine stays the caller's)."""
    app = create_app(Settings(database_url=database_url), engine=engine)
    with TestClient(app, headers=bearer(engine)) as test_client:
        yield test_client
