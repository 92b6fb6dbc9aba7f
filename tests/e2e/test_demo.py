"""The quick start as a user meets it: `silentgw demo` in its own process, then plain HTTP against it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running demo: its base URL."""
    workdir = tmp_path_factory.mktemp("demo")
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "silentgw",
            "demo",
            "--db",
            str(workdir / "demo.db"),
            "--port",
            str(port),
            "--speed",
            "600",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"demo did not come up:\n{out}")
        time.sleep(0.2)
    yield base
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"{base}/docs" in out  # it told the user what to open


def test_the_demo_store_is_seeded(demo: str) -> None:
    products = httpx.get(f"{demo}/api/v1/products", params={"limit": 500}).json()["items"]
    assert len(products) >= 24
    assert all(len(p["gtin"]) == 14 for p in products)
    zones = httpx.get(f"{demo}/api/v1/zones", params={"kind": "checkout"}).json()["items"]
    assert [z["id"] for z in zones] == ["checkout-1"]
    readers = httpx.get(f"{demo}/api/v1/devices", params={"kind": "reader"}).json()["items"]
    assert any(r["antennas"] for r in readers)
    members = httpx.get(f"{demo}/api/v1/members").json()["items"]
    assert members
    assert all(m["cards"] for m in members)


def test_the_epc_endpoint_decodes_the_gs1_example(demo: str) -> None:
    body = httpx.get(f"{demo}/api/v1/epc/3074257BF7194E4000001A85").json()
    assert body["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert body["gtin"] == "80614141123458"
    assert body["serial"] == "6789"


def test_a_product_created_over_http_is_listed(demo: str) -> None:
    new = {"gtin": "4012345000139", "sku": "HOM-100", "name": "Tea towel", "price": "4.50", "currency": "EUR"}
    created = httpx.post(f"{demo}/api/v1/products", json=new)
    assert created.status_code == 201, created.text
    assert created.json()["gtin"] == "04012345000139"
    found = httpx.get(f"{demo}/api/v1/products", params={"q": "tea towel"}).json()["items"]
    assert [p["sku"] for p in found] == ["HOM-100"]
    again = httpx.post(f"{demo}/api/v1/products", json=new)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_the_simulated_store_day_reaches_the_gateway_through_its_drivers(demo: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        shelf = httpx.get(f"{demo}/api/v1/devices/reader-floor-a1/health").json()
        fridge = httpx.get(f"{demo}/api/v1/devices/fridge-1/health").json()
        if shelf["observations"] > 100 and fridge["observations"] > 0:
            break
        assert time.monotonic() < deadline, (shelf, fridge)
        time.sleep(0.2)
    assert shelf["state"] == "up"
    assert shelf["frames_bad"] == 0, shelf["recent_rejects"][:3]
    assert fridge["frames_bad"] == 0
