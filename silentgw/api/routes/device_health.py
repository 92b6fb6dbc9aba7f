"""Device health, what the gateway's supervisors know of each device it runs (state, counters, recent bad input),
and commands sent to devices (a shelf display's text, a lock, a reader's start, stop and power)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from silentgw.api.auth import allow
from silentgw.api.problems import problem
from silentgw.api.schemas import Price
from silentgw.drivers.base import CommandRefused, DeviceUnavailable
from silentgw.drivers.commands import Command, DisplayText, Lock, SetPower, StartReading, StopReading, Unlock
from silentgw.gateway.app import Gateway, UnknownDevice
from silentgw.gateway.catalog import Conflict, InvalidValue, NotFound
from silentgw.gateway.store.models import Role

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
    except UnknownDevice:
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


class CommandIn(BaseModel):
    """A command to a device: a display's text (and price), lock or unlock, a reader's start, stop or power."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["display", "lock", "unlock", "start", "stop", "power"]
    text: Annotated[str, StringConstraints(max_length=200)] | None = None
    price: Price | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    seconds: float | None = Field(default=None, gt=0, le=3600, description="unlock: for how long")
    dbm: float | None = Field(default=None, ge=0, le=33, description="power: the reader's transmit power")

    def to_command(self) -> Command:
        if self.command == "display":
            if self.text is None:
                raise InvalidValue("a display command needs its text", field="text")
            return DisplayText(self.text, price=self.price, currency=self.currency)
        if self.command == "power":
            if self.dbm is None:
                raise InvalidValue("a power command needs dbm", field="dbm")
            return SetPower(self.dbm)
        simple: dict[str, Command] = {"lock": Lock(), "unlock": Unlock(seconds=self.seconds), "start": StartReading(),
                                      "stop": StopReading()}  # fmt: skip
        return simple[self.command]


class SentOut(BaseModel):
    """A command handed to the device's driver."""

    device: str
    command: str
    sent: bool = True


@router.post(
    "/{device_id}/commands",
    status_code=202,
    response_model=SentOut,
    summary="Send a command to a device",
    responses={503: {"description": "The gateway is not running in this process, or the device is away"}},
)
@allow(Role.OPERATOR)
async def send_command(device_id: str, body: CommandIn, request: Request) -> SentOut | JSONResponse:
    """Hand the command to the device's driver (202); 409 if the device does not take it, 503 if it is away."""
    gateway: Gateway | None = request.app.state.gateway
    if gateway is None:
        return problem(request, status=503, title="The gateway is not running in this process", slug="no-gateway")
    command = body.to_command()
    if device_id not in gateway.drivers:
        raise NotFound(f"device {device_id!r} is not run by this gateway")
    try:
        await gateway.send(device_id, command)
    except CommandRefused as exc:
        raise Conflict(str(exc), field="command") from exc
    except DeviceUnavailable as exc:
        return problem(request, status=503, title="The device is away", slug="device-unavailable", detail=str(exc))
    return SentOut(device=device_id, command=body.command)
