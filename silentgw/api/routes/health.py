"""Liveness and readiness: ``/healthz`` says the process answers, ``/readyz`` that the database does too."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from silentgw.api.problems import Problem, unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    """Always ok while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers",
    responses={503: {"description": "The database does not answer", "model": Problem}},
)
def readyz(request: Request) -> JSONResponse:
    """Ok when a query reaches the database; 503 otherwise (a load balancer then sends traffic elsewhere)."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # the same problem as any route gives when the database is down (Retry-After included); the cause is logged
        return unavailable(request, getattr(exc, "orig", None) or exc)
    return JSONResponse({"status": "ready", "database": request.app.state.engine.dialect.name})
