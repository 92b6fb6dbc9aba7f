"""``/metrics``: the gateway's figures for Prometheus (and anything that scrapes its text format), at the root.

No key is asked for, as for ``/healthz``: a scraper is configured once per box and the figures name devices and
sinks, not goods or members. What the process runs decides what is said: ``app.state.metrics`` when the gateway
handed one over (pipeline figures included), else a :class:`Metrics` of what ``app.state`` has (the database, and
the gateway and dispatcher when present).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State

from silentgw.gateway.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["health"])


def _of(state: State) -> Metrics:
    handed: Metrics | None = getattr(state, "metrics", None)
    if handed is not None:
        return handed
    return Metrics(
        engine=getattr(state, "engine", None),
        gateway=getattr(state, "gateway", None),
        dispatcher=getattr(state, "dispatcher", None),
    )


@router.get(
    "/metrics",
    summary="The gateway's figures, for Prometheus",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "The Prometheus text format, version 0.0.4"}},
)
async def metrics(request: Request) -> Response:
    """Reads, transitions, sales, alarms, ledger movements, the outbox and its sinks, and every device's health."""
    return Response(await _of(request.app.state).exposition(), media_type=CONTENT_TYPE)
