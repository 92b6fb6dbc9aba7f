"""`silentgw run` as an operator meets it: a settings file naming one M100 reader, the process started, a product
added through the API, tags read on the reader's serial line, and the items found in stock on the reader's shelf.
SIGTERM then stops it gracefully, with what it read written."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from silentgw.gateway.identity import encode_sgtin
from silentgw.simulator.pty import PtyDevice
from silentgw.simulator.serial_devices import m100_notice

pytestmark = pytest.mark.anyio

GTIN = "00614141123452"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_file(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "silentgw.toml"
    config.write_text(f"""
database_url = "sqlite:///{tmp_path / "store.db"}"

[site]
id = "store-9"
name = "Test store"

[api]
port = {port}

[[locations]]
id = "store"
name = "Store"
kind = "site"

[[locations]]
id = "aisle-1"
name = "Aisle 1"
parent = "store"

[[zones]]
id = "shelf-1a"
name = "Shelf 1A"
kind = "shelf"
location = "aisle-1"

[[devices]]
id = "reader-1"
name = "Shelf reader"
kind = "reader"
location = "aisle-1"
driver = {{ kind = "uhf-m100", url = "{tmp_path / "ttyUSB0"}" }}
antennas = [{{ port = 1, zone = "shelf-1a" }}]
""")
    return config


async def test_run_reads_a_reader_into_stock_serves_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    config = settings_file(tmp_path, port)
    reader = PtyDevice(tmp_path / "ttyUSB0")
    polled = asyncio.Event()
    reader.open(on_receive=lambda data: polled.set())  # the driver starts the M100's multi-poll on connecting
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "silentgw", "--config", str(config), "run",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(300):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.returncode is None, "silentgw run exited"
                await asyncio.sleep(0.1)
            product = {"gtin": GTIN, "sku": "W-1", "name": "Widget", "price": "2.50", "currency": "EUR"}
            assert (await client.post("/api/v1/products", json=product)).status_code == 201
            await asyncio.wait_for(polled.wait(), 10)
            epcs = [encode_sgtin(gtin=GTIN, serial=str(n), company_prefix_length=7) for n in (1, 2, 3)]
            for _ in range(5):  # a shelf rule wants a couple of reads in its window
                for epc in epcs:
                    reader.write(m100_notice(epc, -50.0))
                await asyncio.sleep(0.3)
            for _ in range(50):
                health = (await client.get("/api/v1/devices/reader-1/health")).json()
                if health["observations"] >= 15:
                    break
                await asyncio.sleep(0.1)
            assert health["state"] == "up"
            assert health["frames_bad"] == 0
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        reader.close()
    log = out.decode()
    assert proc.returncode == 0, log
    assert "pipeline: 15 reads" in log
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        items = conn.execute(text("SELECT key, state, zone_id FROM items ORDER BY key")).all()
    engine.dispose()
    assert [tuple(i) for i in items] == [(f"(01){GTIN}(21){n}", "in_stock", "shelf-1a") for n in (1, 2, 3)]
