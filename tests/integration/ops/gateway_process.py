"""`silentgw run` as its own process for the ops tests: a settings file with one M100 reader on a pseudo-terminal,
and helpers to wait for the API and read ``/metrics`` as a scraper would."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx

from silentgw.gateway.identity import encode_sgtin
from tests.unit.ops.exposition import Parsed, parse

GTIN = "00614141123452"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tag(n: int) -> str:
    return encode_sgtin(gtin=GTIN, serial=str(n), company_prefix_length=7)


def settings_file(directory: Path, port: int, *, site: str = "ops-test", events: bool = False) -> Path:
    """A one-shelf store whose reader is the pseudo-terminal linked at ``directory/ttyUSB0``; with ``events``, its
    events go to the MQTT broker on 127.0.0.1:1883."""
    config = directory / "silentgw.toml"
    config.write_text(f"""
database_url = "sqlite:///{directory / "store.db"}"

[site]
id = "{site}"
name = "Test store"

[api]
port = {port}

[mqtt]
events = {str(events).lower()}

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
driver = {{ kind = "uhf-m100", url = "{directory / "ttyUSB0"}" }}
antennas = [{{ port = 1, zone = "shelf-1a" }}]
""")
    return config


async def scrape(base: str) -> dict[str, Parsed]:
    """``/metrics``, parsed; its content type checked on the way."""
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


async def wait_until_serving(base: str, process: asyncio.subprocess.Process, *, seconds: float = 60) -> None:
    """Until ``/healthz`` answers (the process must not exit meanwhile)."""
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(int(seconds * 10)):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert process.returncode is None, "silentgw run exited"
            await asyncio.sleep(0.1)
    raise AssertionError("silentgw run did not come up")
