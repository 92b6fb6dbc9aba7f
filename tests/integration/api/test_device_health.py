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
from silentgw.gateway.store.models import Role
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


async def test_an_operator_sends_a_device_a_command_through_its_driver(engine: Engine) -> None:
    settings = Settings.model_validate({"devices": [{"id": "r0", "kind": "reader", "driver": {"kind": "counting"}}]})
    async with run_gateway(settings, registry=Registry({"counting": CountingReader})) as gateway:
        app = create_app(settings, gateway=gateway, engine=engine)
        operator = bearer(engine, Role.OPERATOR)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", headers=operator) as client:
            shown = await client.post("/api/v1/devices/r0/commands", json={"command": "display", "text": "2 for 1"})
            refused = await client.post("/api/v1/devices/r0/commands", json={"command": "lock"})
            unknown = await client.post("/api/v1/devices/nope/commands", json={"command": "lock"})
            textless = await client.post("/api/v1/devices/r0/commands", json={"command": "display"})
            staff = await client.post("/api/v1/devices/r0/commands", json={"command": "lock"},
                                      headers=bearer(engine, Role.STAFF))  # fmt: skip
        driver = gateway.drivers["r0"]
        assert isinstance(driver, CountingReader)
        assert driver.shown == ["2 for 1"]
    assert (shown.status_code, shown.json()) == (202, {"device": "r0", "command": "display", "sent": True})
    assert (refused.status_code, refused.json()["detail"]) == (409, "only text")
    assert unknown.status_code == 404
    assert (textless.status_code, textless.json()["errors"][0]["field"]) == (422, "body.text")
    assert staff.status_code == 403
