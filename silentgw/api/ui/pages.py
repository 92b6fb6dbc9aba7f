"""The staff page's routes: the page at ``/``, signing in and out (a session: ``signin.py``), restock steps, and the
live feed it follows.

Plain server-rendered HTML (Jinja2, everything escaped) that works without JavaScript; one small script adds the
live event feed. Every answer forbids framing and scripts from elsewhere (``Content-Security-Policy``). The routes
are not part of API v1 and stay out of its OpenAPI document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute

from silentgw.api.auth import roles_of, verified
from silentgw.api.deps import CatalogDep, SettingsDep
from silentgw.api.routes import events, restock
from silentgw.api.routes.restock import RequestOut
from silentgw.api.schemas import Seq
from silentgw.api.throttle import Throttled
from silentgw.api.ui import sections, signin
from silentgw.gateway.catalog import Catalog, Conflict, NotFound
from silentgw.gateway.config import Settings
from silentgw.gateway.store.models import Role

__all__ = ["STEPS", "router"]

router = APIRouter(include_in_schema=False)

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would also make browsers send `Origin: null` on our forms
    "Cache-Control": "no-store",
}
"""Sent with every page: nothing from elsewhere, no framing, nothing cached (the page shows live stock)."""


def _allowed(endpoint: Callable[..., Any]) -> frozenset[Role]:
    route = next(r for r in restock.router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)
    return roles_of(route)


STEPS: dict[str, tuple[Callable[[str, Catalog], RequestOut], frozenset[Role], str]] = {
    "approve": (restock.approve, _allowed(restock.approve), "Approved"),
    "cancel": (restock.cancel, _allowed(restock.cancel), "Cancelled"),
}
"""The restock steps the page offers: the API's own route function, the roles it allows, and what to say after."""


def _when(value: dt.datetime | str | None, tz: dt.tzinfo) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # SQLite hands back the UTC times it stored without their zone
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


_templates.filters["when"] = _when


def _zone(settings: Settings) -> dt.tzinfo:
    try:
        return ZoneInfo(settings.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _html(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(name).render(**context), status_code=status, headers=HEADERS)


def _signin(settings: Settings, *, message: str | None = None, status: int = 200) -> HTMLResponse:
    access = settings.access
    return _html("signin.html", status, site=settings.site.name, message=message, role=None,
                 lifetime=_duration(access.session_lifetime), idle=_duration(access.session_idle))  # fmt: skip


def _duration(seconds: float) -> str:
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} seconds"


def _refused(settings: Settings, role: Role | None, text: str, status: int = 403) -> HTMLResponse:
    return _html("message.html", status, site=settings.site.name, role=role, title="Not allowed", text=text)


@router.get("/", response_class=HTMLResponse)
def page(
    request: Request,
    catalog: CatalogDep,
    settings: SettingsDep,
    q: str | None = None,
    epc: str = "",
    gtin: str = "",
    serial: str = "",
) -> HTMLResponse:
    """The staff page; without a live session in the cookie, the form that takes a key."""
    role = signin.viewer(request)
    if role is None:
        ended = "Your session has ended: it expired, or was signed out, or its key is no longer valid. Sign in again."
        response = _signin(settings, message=ended if signin.SESSION_COOKIE in request.cookies else None)
        signin.signed_out(response, request)
        return response
    since, feed = sections.recent_events(catalog)
    tz = _zone(settings)
    response = _html(
        "page.html",
        site=settings.site.name,
        role=role,
        tz=tz,
        tz_name=getattr(tz, "key", "UTC"),
        flash=signin.flash(request),
        can_step=role in STEPS["approve"][1],
        search=sections.search_stock(catalog, q) if q is not None else None,
        restock=sections.restock_section(catalog),
        finding=sections.find_item(catalog, epc=epc, gtin=gtin, serial=serial),
        finder={"epc": epc, "gtin": gtin, "serial": serial},
        feed=feed,
        since=since,
        gateway_here=request.app.state.gateway is not None,
        devices=sections.device_rows(catalog, request, request.app.state.gateway),
    )
    signin.clear_flash(response, request)
    return response


@router.post("/login")
def login(
    request: Request, settings: SettingsDep, fields: Annotated[dict[str, str], Depends(signin.form_fields)]
) -> Response:
    """Check the pasted key; start a session, keep its id in a cookie and go to the page; or show the form again
    (401; 429 when this address failed too often lately)."""
    if signin.cross_site(request):
        return _refused(settings, None, "This form was sent from another site.")
    key = fields.get("key", "").strip()
    try:
        role = verified(request, key)
    except Throttled as exc:
        wait = max(1, math.ceil(exc.retry_after))
        held = _signin(settings, message=f"Too many failed attempts from your address. Try again in {wait} seconds.",
                       status=429)  # fmt: skip
        held.headers["Retry-After"] = str(wait)
        return held
    if role is None:
        return _signin(settings, message="That key is not valid (unknown or revoked). Check it and try again.",
                       status=401)  # fmt: skip
    response = RedirectResponse("/", status_code=303)
    signin.sign_in(response, request, key)
    return response


@router.post("/logout")
def logout(request: Request, settings: SettingsDep) -> Response:
    """End this browser's session."""
    if signin.cross_site(request):
        return _refused(settings, None, "This form was sent from another site.")
    response = RedirectResponse("/", status_code=303)
    signin.sign_out(response, request)
    return response


@router.post("/ui/restock/{request_id}/{step}")
def restock_step(request_id: str, step: str, request: Request, catalog: CatalogDep, settings: SettingsDep) -> Response:
    """Approve or cancel a restock request for an operator or admin; back to the page with what happened."""
    if signin.cross_site(request):
        return _refused(settings, None, "This form was sent from another site.")
    role = signin.viewer(request)
    if role is None:
        return _signin(settings, message="Sign in first.", status=401)
    if step not in STEPS:
        return _html("message.html", 404, site=settings.site.name, role=role, title="Not found",
                     text=f"There is no restock step {step[:20]!r}.")  # fmt: skip
    take, allowed, done = STEPS[step]
    if role not in allowed:
        return _refused(settings, role, f"A {role} key may look at restock requests but not {step} them; "
                                        "sign in with an operator's key.")  # fmt: skip
    response = RedirectResponse("/#restock", status_code=303)
    try:
        out = take(request_id, catalog)
    except NotFound:
        signin.set_flash(response, request, "That restock request no longer exists.", ok=False)
    except Conflict as exc:
        signin.set_flash(response, request, f"Not done: {exc}.", ok=False)
    else:
        text = f"{done} the restock request for {out.quantity} of {out.gtin} at {out.location}."
        signin.set_flash(response, request, text)
    return response


@router.get("/ui/events/stream")
async def event_stream(
    request: Request, settings: SettingsDep, since_seq: Annotated[Seq | None, Query()] = None
) -> Response:
    """The live stream for the page's feed, for a signed-in browser (messages without an ``event`` field); it ends
    once the session has (looked at every :data:`RECHECK` seconds, as messages or keep-alives go out)."""
    if await asyncio.to_thread(signin.viewer, request, touch=False) is None:
        return PlainTextResponse("Sign in first.", status_code=401)
    last = request.headers.get("last-event-id")
    stream = await events.live(request, settings, since_seq=since_seq, last_event_id=last, named=False)
    stream.body_iterator = _while_signed_in(request, aiter(stream.body_iterator))
    return stream


RECHECK = 10.0
"""Seconds between looks, from an open live feed, at whether its session still holds."""


async def _while_signed_in(request: Request, messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    look_at = time.monotonic() + RECHECK
    try:
        async for message in messages:
            if time.monotonic() >= look_at:
                if await asyncio.to_thread(signin.viewer, request, touch=False) is None:
                    return  # signed out, expired or revoked: the browser's reconnection is then refused
                look_at = time.monotonic() + RECHECK
            yield message
    finally:
        if isinstance(messages, AsyncGenerator):
            await messages.aclose()
