"""``/metrics``: the gateway's figures for Prometheus (and anything that scrapes its text format), at the root.

No key is asked for, as for ``/healthz``: a scraper is configured once per box and the figures name devices and
sinks, not goods or members. What the process runs decides what is said: a :class:`Metrics` of what ``create_app``
was given (the database; the gateway, its dispatcher and pipeline when they run in this process).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.datastructures import State

from silentgw.gateway.metrics import CONTENT_TYPE, Metrics

router = APIRouter(tags=["health"])


def _of(state: State) -> Metrics:
    return Metrics(
        engine=getattr(state, "engine", None),
        pipeline=getattr(state, "pipeline", None),
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
