"""`silentgw run` as its own process for the ops tests: a settings file with one M100 reader on a pseudo-terminal,
the same store in a test's database for the gateway built in the test's own process, and helpers to wait for the API
and read ``/metrics`` as a scraper would."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.store.models import Product
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


def store_settings(directory: Path, engine: Engine, database_url: str, **more: Any) -> Settings:
    """The store of :func:`settings_file` (its reader at ``directory/ttyUSB0``) on the test's database, with ``more``
    settings on top; its layout applied and its product known."""
    settings = load_settings(settings_file(directory, 8000), {})
    settings = Settings.model_validate({**settings.model_dump(by_alias=True), "database_url": database_url, **more})
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        apply_layout(catalog, settings)
        catalog.add(Product(gtin=GTIN, sku="W-1", name="Widget", price=Decimal("2.50"), currency="EUR"))
    return settings


async def eventually(check: Callable[[], bool], what: str, seconds: float = 15) -> None:
    """Until ``check()`` holds (``what`` names it when it does not within ``seconds``)."""
    for _ in range(int(seconds * 20)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


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
