"""Device health: what the gateway's supervisors know of each device it runs (state, counters, recent bad input)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from silentgw.api.problems import problem
from silentgw.gateway.app import Gateway

router = APIRouter(prefix="/devices", tags=["devices"])


class RejectOut(BaseModel):
    """Input set aside, with why."""

    time: dt.datetime
    reason: str
    raw: str = Field(description="The bytes as upper-case hex (at most 256 of them).")


class HealthOut(BaseModel):
    """A device's health as its supervisor sees it."""

    device: str
    state: str = Field(examples=["up"], description="up, down or unknown")
    frames_ok: int
    frames_bad: int
    observations: int
    reconnects: int
    last_seen: dt.datetime | None
    up_since: dt.datetime | None
    last_error: str | None
    recent_rejects: list[RejectOut] = Field(description="The most recent input set aside, newest last.")


@router.get(
    "/{device_id}/health",
    summary="A device's health",
    response_model=HealthOut,
    responses={503: {"description": "The gateway is not running in this process"}},
)
def device_health(device_id: str, request: Request) -> HealthOut | JSONResponse:
    """State, counters, when it was last seen and the input it set aside, for a device this gateway runs."""
    gateway: Gateway | None = request.app.state.gateway
    if gateway is None:
        return problem(request, status=503, title="The gateway is not running in this process", slug="no-gateway")
    try:
        health = gateway.health(device_id)
    except KeyError:
        return problem(request, status=404, title="Not found", slug="not-found",
                       detail=f"device {device_id!r} is not run by this gateway")  # fmt: skip
    rejects = [RejectOut(time=r.time, reason=r.reason, raw=r.raw[:256].hex().upper()) for r in health.recent_rejects]
    return HealthOut(
        device=health.device,
        state=health.state,
        frames_ok=health.frames_ok,
        frames_bad=health.frames_bad,
        observations=health.observations,
        reconnects=health.reconnects,
        last_seen=health.last_seen,
        up_since=health.up_since,
        last_error=health.last_error,
        recent_rejects=rejects,
    )
