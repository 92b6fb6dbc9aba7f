"""Errors as ``application/problem+json`` (RFC 9457): the one place where conditions become HTTP status codes.

What the database or its driver says never reaches a caller, who may have no key at all: it names the server, its
port and the role silentgw connects as. The answer says what kind of failure it was and gives an ``incident`` id; the
log line with the driver's words carries the same id, so staff find it there.
"""

from __future__ import annotations

import logging
import math
import uuid
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from silentgw.api import accesslog
from silentgw.api.throttle import Throttled
from silentgw.gateway import redaction
from silentgw.gateway.catalog import (
    CatalogError,
    Conflict,
    InUse,
    InvalidCursor,
    InvalidValue,
    NotFound,
    UnknownReference,
)
from silentgw.gateway.deadletters import AlreadyResolved, NotReplayable, StillFailing, UnknownDeadLetter
from silentgw.gateway.identity.errors import EpcError, MalformedEpc
from silentgw.gateway.store.database import StoreUnavailable

__all__ = [
    "AUTH_RESPONSES",
    "CHALLENGE",
    "PROBLEM_RESPONSES",
    "TOO_LARGE",
    "FieldError",
    "Problem",
    "epc_problem",
    "install",
    "problem",
    "throttled",
    "too_large",
    "unauthorized",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """One input that was wrong: where it is (``body.gtin``, ``query.limit``) and what is wrong with it."""

    field: str = Field(examples=["body.gtin"])
    message: str = Field(examples=["GTIN check digit should be 5"])


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(default="about:blank", examples=["urn:silentgw:problem:validation"])
    title: str = Field(examples=["Request is not valid"])
    status: int = Field(examples=[422])
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list, description="The fields at fault, if any.")
    incident: str | None = Field(
        default=None,
        description="The id under which the gateway's log gives the cause (the database's own words, say).",
        examples=["5f0c2a9e41d7"],
    )


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem, "content": {MEDIA_TYPE: {}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: _problem_response("Not found"),
    409: _problem_response("Conflicts with an existing record, or still in use"),
    422: _problem_response("The request is not valid; `errors` names each field at fault"),
}
"""The problem responses every resource route can give, for the OpenAPI document."""

TOO_LARGE = "The request body is larger than the API takes (the setting `api.max_body_bytes`)"
"""The description of the 413 problem every operation that takes a request body can give (OpenAPI)."""

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_response("No API key, or one that is unknown or revoked"),
    403: _problem_response("The API key's role may not do this"),
    429: _problem_response("Too many bad keys from this address lately; try again after `Retry-After` seconds"),
}
"""The problem responses of every route that needs an API key."""

_CATALOG_STATUS: dict[type[CatalogError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflicts with an existing record"),
    InUse: (409, "in-use", "Still in use"),
    UnknownReference: (422, "unknown-reference", "Refers to something that does not exist"),
    InvalidValue: (422, "invalid-value", "Request is not valid"),
    InvalidCursor: (422, "invalid-cursor", "Invalid cursor"),
}


def problem(
    request: Request,
    *,
    status: int,
    title: str,
    slug: str | None = None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    incident: str | None = None,
) -> JSONResponse:
    """A problem+json response for ``request``."""
    body = Problem(
        type=f"urn:silentgw:problem:{slug}" if slug else "about:blank",
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors or [],
        incident=incident,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=".".join(str(p) for p in e["loc"]), message=str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return problem(request, status=422, title="Request is not valid", slug="validation", detail=detail, errors=errors)


async def _on_catalog(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CatalogError)
    status, slug, title = next(v for k, v in _CATALOG_STATUS.items() if isinstance(exc, k))
    where = "query" if isinstance(exc, InvalidCursor) else "body"
    errors = [FieldError(field=f"{where}.{exc.field}", message=str(exc))] if exc.field else []
    return problem(request, status=status, title=title, slug=slug, detail=str(exc), errors=errors)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = HTTPStatus(exc.status_code).phrase
    detail = str(exc.detail) if str(exc.detail) != title else None
    response = problem(request, status=exc.status_code, title=title, detail=detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="silentgw"'}
"""The header of every 401: how to authenticate."""


def unauthorized(request: Request, detail: str) -> JSONResponse:
    """The 401 problem for a request without a valid key (before its body is read: the connection is closed)."""
    response = problem(request, status=401, title=HTTPStatus.UNAUTHORIZED.phrase, detail=detail)
    response.headers.update({**CHALLENGE, "Connection": "close"})
    return response


def throttled(request: Request, exc: Throttled) -> JSONResponse:
    """The 429 problem for a client address that sent too many bad keys lately (``api/throttle.py``)."""
    wait = max(1, math.ceil(exc.retry_after))
    detail = f"too many failed attempts from this address; try again in {wait} s"
    response = problem(request, status=429, title="Too many requests", slug="throttled", detail=detail)
    response.headers.update({"Retry-After": str(wait), "Connection": "close"})
    return response


async def _on_throttled(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Throttled)
    return throttled(request, exc)


def too_large(request: Request, limit: int) -> JSONResponse:
    """The 413 problem for a request body past ``limit`` bytes; the connection is closed rather than read to its end."""
    detail = f"a request body may hold at most {limit} bytes (the setting api.max_body_bytes)"
    response = problem(request, status=413, title="Content too large", slug="too-large", detail=detail)
    response.headers["Connection"] = "close"
    return response


def _incident() -> str:
    return uuid.uuid4().hex[:12]


def unavailable(request: Request, exc: BaseException) -> JSONResponse:
    """The 503 problem for a database that does not answer, with when to try again; ``exc`` goes to the log only."""
    incident = _incident()
    path = accesslog.redact(request.url.path)
    logger.warning("database unavailable for %s %s (incident %s): %s", request.method, path, incident,
                   redaction.masked_text(str(exc)))  # fmt: skip
    detail = "The gateway cannot answer this now; try again later."
    response = problem(request, status=503, title="Service unavailable", slug="unavailable", detail=detail,
                       incident=incident)  # fmt: skip
    response.headers["Retry-After"] = "5"
    return response


async def _on_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return unavailable(request, exc)


async def _on_data(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the request carried that validation let through (PostgreSQL takes no NUL
    # character in text, nor a number past its column's range): the request's fault, and nothing was written.
    assert isinstance(exc, DataError)
    incident = _incident()
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    path = accesslog.redact(request.url.path)
    logger.info("database refused a value on %s %s (incident %s): %s", request.method, path, incident,
                reason)  # fmt: skip
    detail = "A value of the request is one the database cannot store: too long, out of range, or with a NUL."
    return problem(request, status=422, title="A value cannot be stored", slug="unstorable", detail=detail,
                   incident=incident)  # fmt: skip


async def _on_epc(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EpcError)
    slug, title = ("malformed-epc", "Not an EPC") if isinstance(exc, MalformedEpc) else ("invalid-epc", "Invalid EPC")
    return epc_problem(request, slug=slug, title=title, reason=exc.reason, detail=str(exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback here, where it is handled; the client gets a problem, never a stack trace.
    incident = _incident()
    logger.error(
        "unexpected error on %s %s (incident %s)",
        request.method,
        accesslog.redact(request.url.path),
        incident,
        exc_info=exc,
    )
    return problem(request, status=500, title="Internal server error", slug="internal", incident=incident)


_DEAD_LETTER_STATUS: dict[type[Exception], tuple[int, str, str]] = {
    UnknownDeadLetter: (404, "not-found", "Not found"),
    AlreadyResolved: (409, "already-resolved", "Already replayed or discarded"),
    StillFailing: (409, "still-failing", "Refused again"),
    NotReplayable: (503, "not-replayable-here", "Cannot be replayed in this process"),
}


async def _on_dead_letter(request: Request, exc: Exception) -> JSONResponse:
    status, slug, title = next(v for k, v in _DEAD_LETTER_STATUS.items() if isinstance(exc, k))
    return problem(request, status=status, title=title, slug=slug, detail=str(exc))


def epc_problem(request: Request, *, slug: str, title: str, reason: str, detail: str) -> JSONResponse:
    """The 422 answer to an EPC that cannot be decoded, naming the path parameter."""
    errors = [FieldError(field="path.hex_epc", message=reason)]
    return problem(request, status=422, title=title, slug=slug, detail=detail, errors=errors)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(CatalogError, _on_catalog)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(StoreUnavailable, _on_unavailable)
    app.add_exception_handler(Throttled, _on_throttled)
    app.add_exception_handler(EpcError, _on_epc)
    app.add_exception_handler(DataError, _on_data)
    for condition in _DEAD_LETTER_STATUS:
        app.add_exception_handler(condition, _on_dead_letter)
    app.add_exception_handler(Exception, _on_unexpected)
