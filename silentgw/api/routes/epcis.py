"""The EPCIS 2.0 query interface (REST binding): item movements and sensor alerts as EPCISQueryDocuments.

Mounted at ``/epcis``, outside ``/api/v1``, because a trading partner's EPCIS client expects the standard's paths
(``/events``, ``/events/{eventID}``) under one base URL. Paging is the binding's: ``perPage``, ``nextPageToken`` and
a ``Link: <...>; rel="next"`` header while more may follow. The ``GS1-EPC-Format`` request header picks the
identifiers: ``Always_GS1_Digital_Link`` for Digital Links, anything else for EPC URNs where they can be written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from silentgw.api.deps import CatalogDep, SessionDep, SettingsDep
from silentgw.api.problems import MEDIA_TYPE, FieldError, Problem
from silentgw.gateway import epcis
from silentgw.gateway.epcis import query as epcis_query
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.store import outbox

router = APIRouter(prefix="/epcis", tags=["epcis"])

LD_JSON = "application/ld+json"
_VERSIONS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_QUERY_PARAMETERS: list[dict[str, Any]] = [
    {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    for name, schema, description in [
        ("eventType", {"type": "string"}, "Event types, `|`-separated: ObjectEvent (the only kind silentgw writes)."),
        ("GE_eventTime", {"type": "string", "format": "date-time"}, "Events at or after this time."),
        ("LT_eventTime", {"type": "string", "format": "date-time"}, "Events before this time."),
        ("MATCH_epc", {"type": "string"}, "EPCs (URN, Digital Link or tag hex) or GTIN patterns, `|`-separated."),
        ("EQ_bizStep", {"type": "string"}, "Business steps, bare (`shipping`) or as URIs, `|`-separated."),
        ("EQ_bizLocation", {"type": "string"}, "Business location URIs (SGLN or the site's own), `|`-separated."),
        ("perPage", {"type": "integer", "default": epcis_query.DEFAULT_PER_PAGE, "maximum": epcis_query.MAX_PER_PAGE},
         "Events per page."),
        ("nextPageToken", {"type": "string"}, "From the previous page's `Link` header."),
    ]
]  # fmt: skip
_QUERY_PROBLEM: dict[int | str, dict[str, Any]] = {
    400: {"description": "A query parameter is unknown or its value cannot be read", "model": Problem}
}


@router.get(
    "/events",
    summary="Query EPCIS events",
    response_class=JSONResponse,
    responses={200: {"content": {LD_JSON: {}}, "description": "An EPCISQueryDocument"}, **_QUERY_PROBLEM},
    openapi_extra={"parameters": _QUERY_PARAMETERS},
)
def query_events(request: Request, session: SessionDep, catalog: CatalogDep, settings: SettingsDep) -> JSONResponse:
    """The item and sensor events that match the query, as an EPCISQueryDocument, a page at a time (outbox order)."""
    try:
        query = epcis.Query.parse(request.query_params.multi_items())
    except epcis.QueryParameterError as exc:
        return _problem(request, 400, "QueryParameterException", "Invalid query parameter", str(exc), exc.parameter)
    site = epcis.Site.of(settings, prefixes=catalog.company_prefixes())
    found = epcis.page(_reader(session), query, site, identifiers=_identifiers(request))
    response = _document(request, found.events)
    if found.next_after is not None:
        token = epcis.page_token(found.next_after)
        url = request.url.include_query_params(perPage=query.per_page, nextPageToken=token)
        response.headers["Link"] = f'<{url}>; rel="next"'
    return response


@router.get(
    "/events/{event_id:path}",
    summary="One EPCIS event",
    response_class=JSONResponse,
    responses={
        200: {"content": {LD_JSON: {}}, "description": "An EPCISQueryDocument holding the event"},
        404: {"description": "No event has this eventID", "model": Problem},
    },
)
def get_event(event_id: str, request: Request, session: SessionDep, catalog: CatalogDep,
              settings: SettingsDep) -> JSONResponse:  # fmt: skip
    """The event whose ``eventID`` (its CBV 2.0 hash, ``ni:///sha-256;...``, URL-encoded) is given."""
    site = epcis.Site.of(settings, prefixes=catalog.company_prefixes())
    found = epcis.find(_reader(session), event_id, site, identifiers=_identifiers(request))
    if found is None:
        return _problem(request, 404, "NoSuchNameException", "No such event", f"no event has the eventID {event_id}")
    return _document(request, [found])


def _reader(session: Session) -> epcis_query.Read:
    """The outbox, read in the request's transaction."""

    def read(after: int, limit: int) -> list[StoredEvent]:
        return outbox.read(session.connection(), after, limit=limit)

    return read


def _identifiers(request: Request) -> epcis.Identifiers:
    """URNs unless the client asks for Digital Links with the binding's ``GS1-EPC-Format`` header."""
    return "dl" if request.headers.get("GS1-EPC-Format") == "Always_GS1_Digital_Link" else "urn"


def _document(request: Request, events: list[dict[str, Any]]) -> JSONResponse:
    """The query document of ``events``: JSON-LD, or plain JSON for a client that asks only for that."""
    document = epcis.query_document(events, created=dt.datetime.now(dt.UTC))
    accept = request.headers.get("accept", "")
    media_type = "application/json" if "application/json" in accept and LD_JSON not in accept else LD_JSON
    return JSONResponse(document, media_type=media_type, headers=_VERSIONS)


def _problem(request: Request, status: int, exception: str, title: str, detail: str,
             parameter: str | None = None) -> JSONResponse:  # fmt: skip
    """A problem+json answer whose ``type`` is the EPCIS exception the binding names (``epcisException:...``)."""
    errors = [FieldError(field=f"query.{parameter}", message=detail)] if parameter else []
    body = Problem(type=f"epcisException:{exception}", title=title, status=status, detail=detail,
                   instance=request.url.path, errors=errors)  # fmt: skip
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE,
                        headers=_VERSIONS)  # fmt: skip
