"""The FastAPI application: ``create_app(settings)`` wires the routes, errors and the database for one gateway."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from silentgw import __version__
from silentgw.api import problems, ui
from silentgw.api.admission import Admission, admitted_at_once
from silentgw.api.auth import KeyCache, authorize, document
from silentgw.api.intake import Intake
from silentgw.api.routes import (
    counts,
    deadletters,
    device_health,
    devices,
    epc,
    epcis,
    events,
    health,
    keys,
    locations,
    members,
    metrics,
    orders,
    products,
    restock,
    sensors,
    stock,
    webhooks,
    zones,
)
from silentgw.api.throttle import Throttle
from silentgw.gateway.app import Gateway
from silentgw.gateway.config import Settings
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect
from silentgw.gateway.webhooks import WebhookManager

__all__ = ["create_app"]

API_PREFIX = "/api/v1"

ROUTERS = (
    products, locations, zones, devices, device_health, members, epc, events, restock, orders, webhooks, sensors,
    keys, stock, counts, deadletters,
)  # fmt: skip
"""The route modules served under :data:`API_PREFIX` (health and EPCIS are served at the root)."""


def guarded_routes() -> list[tuple[str, APIRoute]]:
    """Every route that needs an API key, with its full path."""
    found = [("", r) for r in epcis.router.routes if isinstance(r, APIRoute)]
    for module in ROUTERS:
        found += [(API_PREFIX, r) for r in module.router.routes if isinstance(r, APIRoute)]
    return [(prefix + route.path, route) for prefix, route in found]


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    gateway: Gateway | None = None,
    dispatcher: Dispatcher | None = None,
    pipeline: Pipeline | None = None,
    webhooks: WebhookManager | None = None,
) -> FastAPI:
    """The API for ``settings``; pass ``engine`` to share one the caller owns (it is then not disposed here), and
    the parts of the gateway when it runs in the same process (``gateway.app.build_gateway``'s): its drivers (device
    health, commands), outbox dispatcher (live stream), pipeline (cycle counts, its figures on ``/metrics``) and
    webhook manager (subscriptions take effect at once)."""

    def attach(app: FastAPI, to: Engine) -> None:
        app.state.engine = to
        app.state.sessions = sessionmaker(to, expire_on_commit=False)
        app.state.keys = KeyCache(to)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        if own:
            attach(app, connect(settings.database_url))
        try:
            yield
        finally:
            if own:
                app.state.engine.dispose()

    app = FastAPI(
        generate_unique_id_function=_operation_id,
        title="silentgw",
        version=__version__,
        summary="Silent-commerce inventory gateway: catalog, stock, devices and members.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    access = settings.access
    app.state.throttle = Throttle(failures=access.max_failures, window=access.failure_window,
                                  proxies=access.trusted_proxies)  # fmt: skip
    if engine is not None:
        attach(app, engine)  # at once: a caller's engine serves even a transport that runs no lifespan
    app.state.gateway = gateway
    app.state.dispatcher = dispatcher  # the outbox's, when the gateway runs here: live stream, webhook sinks
    app.state.pipeline = pipeline  # the read pipeline's, when it runs here: cycle counts
    app.state.webhooks = webhooks  # the running sinks', when the gateway runs here
    problems.install(app)
    app.add_middleware(Admission, limit=lambda: admitted_at_once(app.state.engine))
    # outermost (added last): a request refused for its key or its size waits for no admission
    app.add_middleware(Intake, limit=settings.api.max_body_bytes, guarded=(f"{API_PREFIX}/", epcis.router.prefix))
    app.include_router(health.router)
    app.include_router(metrics.router)  # /metrics for Prometheus, at the root and without a key like /healthz
    guarded = [Depends(authorize)]
    # the EPCIS 2.0 REST binding's paths, at the root as partners expect
    app.include_router(epcis.router, dependencies=guarded, responses=problems.AUTH_RESPONSES)
    for module in ROUTERS:
        app.include_router(
            module.router, prefix=API_PREFIX, dependencies=guarded,
            responses={**problems.PROBLEM_RESPONSES, **problems.AUTH_RESPONSES},
        )  # fmt: skip
    app.include_router(ui.router)  # the staff page at /, signed in with a session kept in a cookie it alone reads
    app.mount(ui.STATIC_PATH, ui.static_files(), name="ui-static")
    document(route for _, route in guarded_routes())
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _operation_id(route: APIRoute) -> str:
    """A route's OpenAPI ``operationId``: its function's name (``list_products``), which client generators turn into
    method names; a name two routes share is prefixed with the route's tag (``orders_cancel``, ``restock_cancel``)."""
    if route.name in _shared_names():
        return f"{route.tags[0] if route.tags else 'api'}_{route.name}".replace("-", "_")
    return route.name


@functools.cache
def _shared_names() -> frozenset[str]:
    routes = [
        r for module in (health, metrics, epcis, *ROUTERS) for r in module.router.routes if isinstance(r, APIRoute)
    ]
    names = Counter(r.name for r in routes)
    return frozenset(name for name, n in names.items() if n > 1)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error response described as the problem+json it really is."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:  # api/intake.py's bound
                operation["responses"]["413"] = {"description": problems.TOO_LARGE}
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = {problems.MEDIA_TYPE: {"schema": problem_ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    app.openapi_schema = schema
    return schema
