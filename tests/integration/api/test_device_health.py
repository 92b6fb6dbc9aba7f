"""`GET /api/v1/devices/{id}/health`: what the supervisor of a device run in this process knows of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.drivers.registry import Registry
from silentgw.gateway.app import run_gateway
from silentgw.gateway.config import Settings
from tests.keys import bearer
from tests.unit.gateway.test_app import CountingReader

pytestmark = pytest.mark.anyio


async def test_health_of_a_running_device_and_of_one_not_run(engine: Engine) -> None:
    settings = Settings.model_validate({"devices": [{"id": "r0", "kind": "reader", "driver": {"kind": "counting"}}]})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader})) as gateway:
        app = create_app(settings, gateway=gateway, engine=engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=bearer(engine)) as client:
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


async def test_without_a_gateway_in_the_process_health_is_unavailable(engine: Engine) -> None:
    app = create_app(Settings(), engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=bearer(engine)) as client:
        response = await client.get("/api/v1/devices/r0/health")
    assert response.status_code == 503
    assert response.json()["type"] == "urn:silentgw:problem:no-gateway"
