"""The quick start as a user meets it: `silentgw demo` in its own process, then plain HTTP against it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

KEY: dict[str, str] = {}
"""The demo's admin key, as a header (set once the demo is up)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Demo:
    """The running demo's output, read as it comes (so its pipe never fills)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        stream = proc.stdout
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True)
        self.reader.start()

    def key(self) -> str:
        found = [line.split()[-1] for line in list(self.lines) if line.strip().startswith("admin API key")]
        assert found, "".join(self.lines)
        return found[0]


STARTUP = 180.0
"""Seconds the demo may take to answer /readyz: it migrates, seeds and opens its pseudo-terminals first, which a loaded
two-core box (the suite's other processes) can stretch well past the usual few seconds."""


def _start(workdir: Path, port: int) -> tuple[subprocess.Popen[str], Demo]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "silentgw", "demo", "--db", str(workdir / "demo.db"), "--port", str(port),
         "--speed", "600"],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    return proc, Demo(proc)


def _came_up(proc: subprocess.Popen[str], base: str) -> bool:
    """Whether the demo answers /readyz within :data:`STARTUP` seconds, polled while it runs (False once it exits)."""
    deadline = time.monotonic() + STARTUP
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return proc.poll() is None
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running demo: its base URL; the tests' HTTP client carries the admin key it printed."""
    workdir = tmp_path_factory.mktemp("demo")
    for attempt in range(3):
        port = _free_port()
        proc, output = _start(workdir, port)
        base = f"http://127.0.0.1:{port}"
        if _came_up(proc, base):
            break
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        output.reader.join(5)
        said = "".join(output.lines)
        # The free port may have been taken by another process between choosing it and the demo binding it.
        if "address already in use" not in said.lower() or attempt == 2:
            pytest.fail(f"demo did not come up within {STARTUP:g} s (exit status {proc.returncode}):\n{said}")
    KEY.update({"Authorization": f"Bearer {output.key()}"})
    yield base
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    output.reader.join(5)
    assert proc.stdout is not None
    proc.stdout.close()
    out = "".join(output.lines)
    assert proc.returncode == 0, out
    assert f"{base}/docs" in out  # it told the user what to open


def test_the_demo_store_is_seeded(demo: str) -> None:
    products = httpx.get(f"{demo}/api/v1/products", headers=KEY, params={"limit": 500}).json()["items"]
    assert len(products) >= 24
    assert all(len(p["gtin"]) == 14 for p in products)
    zones = httpx.get(f"{demo}/api/v1/zones", headers=KEY, params={"kind": "checkout"}).json()["items"]
    assert [z["id"] for z in zones] == ["checkout-1"]
    readers = httpx.get(f"{demo}/api/v1/devices", headers=KEY, params={"kind": "reader"}).json()["items"]
    assert any(r["antennas"] for r in readers)
    members = httpx.get(f"{demo}/api/v1/members", headers=KEY).json()["items"]
    assert members
    assert all(m["cards"] for m in members)


def test_the_epc_endpoint_decodes_the_gs1_example(demo: str) -> None:
    body = httpx.get(f"{demo}/api/v1/epc/3074257BF7194E4000001A85", headers=KEY).json()
    assert body["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert body["gtin"] == "80614141123458"
    assert body["serial"] == "6789"


def test_a_product_created_over_http_is_listed(demo: str) -> None:
    new = {"gtin": "4012345000139", "sku": "HOM-100", "name": "Tea towel", "price": "4.50", "currency": "EUR"}
    created = httpx.post(f"{demo}/api/v1/products", headers=KEY, json=new)
    assert created.status_code == 201, created.text
    assert created.json()["gtin"] == "04012345000139"
    found = httpx.get(f"{demo}/api/v1/products", headers=KEY, params={"q": "tea towel"}).json()["items"]
    assert [p["sku"] for p in found] == ["HOM-100"]
    again = httpx.post(f"{demo}/api/v1/products", headers=KEY, json=new)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_the_simulated_store_day_reaches_the_gateway_through_its_drivers(demo: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        shelf = httpx.get(f"{demo}/api/v1/devices/reader-floor-a1/health", headers=KEY).json()
        fridge = httpx.get(f"{demo}/api/v1/devices/fridge-1/health", headers=KEY).json()
        if shelf["observations"] > 100 and fridge["observations"] > 0:
            break
        assert time.monotonic() < deadline, (shelf, fridge)
        time.sleep(0.2)
    assert shelf["state"] == "up"
    assert shelf["frames_bad"] == 0, shelf["recent_rejects"][:3]
    assert fridge["frames_bad"] == 0


def test_sales_in_the_demo_propose_restock_requests_staff_can_approve(demo: str) -> None:
    # The quick start's walk-through: the demo's reorder rules raise requests once shoppers buy (its README).
    deadline = time.monotonic() + 60
    while True:
        proposed = httpx.get(f"{demo}/api/v1/restock/requests", headers=KEY, params={"state": "proposed"}).json()
        if proposed["items"]:
            break
        assert time.monotonic() < deadline, "no restock request proposed"
        time.sleep(0.5)
    request = proposed["items"][0]
    assert request["level"] <= 5  # the demo's rule: minimum 5, maximum 10
    assert request["quantity"] == 10 - request["level"]
    approved = httpx.post(f"{demo}/api/v1/restock/requests/{request['id']}/approve", headers=KEY)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
