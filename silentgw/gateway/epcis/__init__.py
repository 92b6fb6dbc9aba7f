"""GS1 EPCIS 2.0 for silentgw's events: item movements and sensor alerts as JSON-LD ObjectEvents with CBV 2.0
business steps and dispositions, in the capture and query documents a trading partner or an EPCIS repository reads.

```
render       StoredEvent -> ObjectEvent (identifiers as URNs or Digital Links), EPCISDocument, EPCISQueryDocument
vocabulary   reason -> action, bizStep, disposition (the table is there); sensor quantities and units
eventhash    the CBV 2.0 event hash that names each event (its eventID)
links        EPC URIs and Digital Links in one canonical form, for the hash and for queries
query        the REST binding's query parameters, and pages of matching events from the outbox
```

Pure: the standard library and silentgw's identity package (with the event values it renders); the outbox is read
through a function the caller passes.
"""

from __future__ import annotations

from silentgw.gateway.epcis.eventhash import event_hash, namespaces, prehash
from silentgw.gateway.epcis.query import Page, Query, QueryParameterError, find, page, page_token, scan
from silentgw.gateway.epcis.render import (
    CONTEXT,
    EPCIS_TYPES,
    Identifiers,
    Place,
    Site,
    capture_document,
    object_event,
    query_document,
)

__all__ = [
    "CONTEXT",
    "EPCIS_TYPES",
    "Identifiers",
    "Page",
    "Place",
    "Query",
    "QueryParameterError",
    "Site",
    "capture_document",
    "event_hash",
    "find",
    "namespaces",
    "object_event",
    "page",
    "page_token",
    "prehash",
    "query_document",
    "scan",
]
