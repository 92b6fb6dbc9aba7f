"""`GET /api/v1/devices/{id}/health`: what the supervisor of a device run in this process knows of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from silentgw.api import create_app
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import run_gateway
from silentgw.gateway.config import Settings
from tests.unit.gateway.test_app import CountingReader

pytestmark = pytest.mark.anyio


async def test_health_of_a_running_device_and_of_one_not_run() -> None:
    settings = Settings.model_validate({"devices": [{"id": "r0", "kind": "reader", "driver": {"kind": "counting"}}]})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader})) as gateway:
        app = create_app(settings, gateway=gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            body: dict[str, Any] = {}
            for _ in range(200):
                body = (await client.get("/api/v1/devices/r0/health")).json()
                if body["observations"] == 3:
                    break
                await asyncio.sleep(0.01)
            missing = await client.get("/api/v1/devices/nope/health")
    assert body["state"] == "up"
    assert body["frames_ok"] == 3
    assert body["last_seen"] is not None
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_without_a_gateway_in_the_process_health_is_unavailable() -> None:
    app = create_app(Settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        response = await client.get("/api/v1/devices/r0/health")
    assert response.status_code == 503
    assert response.json()["type"] == "urn:silentgw:problem:no-gateway"
