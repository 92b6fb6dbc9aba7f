"""The EPCIS 2.0 simple event query over silentgw's outbox: the REST binding's query parameters, read and checked,
and the events that match them, a page at a time.

Parameters (EPCIS 2.0 section 8.2.7.1 and the REST binding's query schema; a list is ``a|b`` or the parameter
repeated, and its values are alternatives):

- ``eventType``: ``ObjectEvent`` etc. (silentgw writes ObjectEvents only);
- ``GE_eventTime`` / ``LT_eventTime``: RFC 3339 times with an offset, inclusive / exclusive;
- ``MATCH_epc``: EPCs as pure identity URNs, Digital Links or tag hex, or GTIN patterns
  (``urn:epc:idpat:sgtin:0614141.812345.*``);
- ``EQ_bizStep``: business steps, bare (``shipping``) or as URIs;
- ``EQ_bizLocation``: business location URIs (an SGLN as URN or Digital Link, or the site's own URI);
- ``perPage`` (default 30, at most :data:`MAX_PER_PAGE`) and ``nextPageToken`` (from the previous page's ``Link``).

Any other parameter is refused, as the standard's QueryParameterException asks: a misspelt filter must not quietly
return every event. Events are those of :data:`~silentgw.gateway.epcis.render.EPCIS_TYPES`, in outbox (commit)
order; the page token is the outbox position after which the next page starts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from silentgw.gateway.epcis.eventhash import cbv_uri
from silentgw.gateway.epcis.links import canonical, is_pattern, urn_to_digital_link
from silentgw.gateway.epcis.render import EPCIS_TYPES, Identifiers, Site, object_event
from silentgw.gateway.events import StoredEvent, matches
from silentgw.gateway.identity import Epc, EpcError, decode

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "Page",
    "Query",
    "QueryParameterError",
    "find",
    "page",
    "page_token",
    "scan",
]

DEFAULT_PER_PAGE = 30
"""The REST binding's default page size."""
MAX_PER_PAGE = 500
"""The largest page served; a larger ``perPage`` is served this many at a time (the binding allows a server limit)."""

Read = Callable[[int, int], Sequence[StoredEvent]]
"""Reads the outbox: up to ``limit`` events after position ``after`` (``outbox.read`` with its connection)."""

_BATCH = 500
_EVENT_TYPES = frozenset({"ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent",
                          "AssociationEvent"})  # fmt: skip
_UNENCODED_PLUS = re.compile(r" (\d\d:?\d\d)$")
_DIGEST = re.compile(r"sha-256;([0-9a-fA-F]{64})")


class QueryParameterError(ValueError):
    """A query parameter that is unknown or has a value that cannot be read; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Query:
    """A simple event query; None (or empty) for a filter not given."""

    event_types: frozenset[str] | None = None
    ge_event_time: dt.datetime | None = None
    lt_event_time: dt.datetime | None = None
    epcs: frozenset[str] = frozenset()
    epc_patterns: tuple[str, ...] = ()
    biz_steps: frozenset[str] | None = None
    biz_locations: frozenset[str] | None = None
    per_page: int = DEFAULT_PER_PAGE
    after: int = 0

    @classmethod
    def parse(cls, params: Sequence[tuple[str, str]]) -> Query:
        """The query of the URL parameters ``params`` (name, value pairs); :class:`QueryParameterError` if bad."""
        lists: dict[str, list[str]] = {}
        for name, value in params:
            if name not in _PARSERS:
                raise QueryParameterError(name, "not a query parameter this server knows")
            lists.setdefault(name, []).extend(v for v in value.split("|") if v)
        fields: dict[str, Any] = {}
        for name, values in lists.items():
            if values:  # ``name=`` alone filters nothing
                fields.update(_PARSERS[name](name, values))
        return cls(**fields)

    def selects(self, event: StoredEvent) -> bool:
        """Whether ``event`` passes the filters that need no rendering (its time): checked first, as it is cheap."""
        if self.ge_event_time is not None and event.time < self.ge_event_time:
            return False
        return self.lt_event_time is None or event.time < self.lt_event_time

    def matches(self, rendered: Mapping[str, Any]) -> bool:
        """Whether the rendered EPCIS event passes the other filters."""
        if self.event_types is not None and rendered["type"] not in self.event_types:
            return False
        if self.epcs or self.epc_patterns:
            epcs = {canonical(e) for e in rendered.get("epcList", ())}
            if not (epcs & self.epcs or any(e.startswith(p) for e in epcs for p in self.epc_patterns)):
                return False
        if self.biz_steps is not None and cbv_uri(rendered.get("bizStep", ""), "BizStep-") not in self.biz_steps:
            return False
        location = rendered.get("bizLocation", {}).get("id")
        return self.biz_locations is None or (location is not None and canonical(location) in self.biz_locations)


@dataclass(frozen=True, slots=True)
class Page:
    """A page of rendered events, and where the next one starts (None on the last page)."""

    events: list[dict[str, Any]]
    next_after: int | None


def scan(read: Read, *, after: int = 0) -> Iterator[StoredEvent]:
    """The outbox's events that have an EPCIS form, after position ``after``, in order."""
    while batch := read(after, _BATCH):
        for event in batch:
            if matches(event.type, EPCIS_TYPES):
                yield event
        after = batch[-1].seq


def page(read: Read, query: Query, site: Site, *, identifiers: Identifiers = "urn") -> Page:
    """The first page of events matching ``query`` after ``query.after``."""
    found: list[dict[str, Any]] = []
    for event in scan(read, after=query.after):
        if not query.selects(event):
            continue
        rendered = object_event(event, site, identifiers=identifiers)
        if rendered is None or not query.matches(rendered):
            continue
        found.append(rendered)
        if len(found) == query.per_page:
            # More may follow if anything is stored after this one (that page may turn out empty).
            return Page(found, event.seq if read(event.seq, 1) else None)
    return Page(found, None)


def find(read: Read, event_id: str, site: Site, *, identifiers: Identifiers = "urn") -> dict[str, Any] | None:
    """The event whose ``eventID`` is ``event_id`` (compared by its SHA-256 digest), or None.

    The ids are hashes of the rendered events, not stored, so this reads the outbox from the start: linear in its
    size, fine for an edge gateway's outbox, not for years of events.
    """
    wanted = _DIGEST.search(event_id)
    if wanted is None:
        return None
    digest = wanted.group(1).lower()
    for event in scan(read):
        rendered = object_event(event, site, identifiers=identifiers)
        if rendered is not None and digest in rendered["eventID"]:
            return rendered
    return None


def page_token(after: int) -> str:
    """The opaque ``nextPageToken`` of outbox position ``after``."""
    return base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")


def _token(name: str, values: list[str]) -> dict[str, Any]:
    try:
        text = base64.urlsafe_b64decode(values[-1] + "=" * (-len(values[-1]) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise QueryParameterError(name, "not a token this server gave") from exc
    kind, _, number = text.partition(":")
    # an outbox position: at most 63 bits (ASCII digits only: int() takes other scripts' digits too)
    if kind != "after" or not (number.isascii() and number.isdigit()) or len(number) > 19 or int(number) >= 2**63:
        raise QueryParameterError(name, "not a token this server gave")
    return {"after": int(number)}


def _per_page(name: str, values: list[str]) -> dict[str, Any]:
    text = values[-1]
    digits = text.lstrip("0")  # ASCII only, and no more of them than can matter (int() refuses 4,300 and more)
    if not (text.isascii() and text.isdigit()) or not digits:
        raise QueryParameterError(name, f"{text[:40]!r} is not a whole number of at least 1")
    return {"per_page": MAX_PER_PAGE if len(digits) > 9 else min(int(digits), MAX_PER_PAGE)}


def _event_types(name: str, values: list[str]) -> dict[str, Any]:
    for value in values:
        if value not in _EVENT_TYPES:
            raise QueryParameterError(name, f"{value!r} is not an EPCIS event type ({', '.join(sorted(_EVENT_TYPES))})")
    return {"event_types": frozenset(values)}


def _time(name: str, values: list[str]) -> dict[str, Any]:
    # A "+" left unencoded in a URL arrives as a space: "...T10:00:00 01:00" can only have meant "+01:00".
    text = _UNENCODED_PLUS.sub(r"+\1", values[-1])
    try:
        time = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise QueryParameterError(name, f"{values[-1]!r} is not an RFC 3339 date and time") from exc
    if time.tzinfo is None:
        raise QueryParameterError(name, f"{values[-1]!r} has no UTC offset (add Z or +01:00)")
    return {"ge_event_time" if name.startswith("GE_") else "lt_event_time": time}


def _epcs(name: str, values: list[str]) -> dict[str, Any]:
    exact: set[str] = set()
    patterns: list[str] = []
    for value in values:
        if value.startswith("urn:epc:idpat:"):
            link = urn_to_digital_link(value)
            if link is None:
                raise QueryParameterError(name, f"{value!r}: only whole-GTIN patterns (CP.IR.*) are supported")
            patterns.append(link + "/")
        elif is_pattern(value):
            raise QueryParameterError(name, f"{value!r} is an EPC class: MATCH_epc takes EPCs and EPC patterns")
        else:
            exact.add(_epc(name, value))
    return {"epcs": frozenset(exact), "epc_patterns": tuple(patterns)}


def _epc(name: str, value: str) -> str:
    """One EPC, in the canonical (Digital Link) form events are compared in."""
    if ":" not in value:
        try:
            epc = decode(value)
        except EpcError as exc:
            raise QueryParameterError(name, f"{value!r} is neither an EPC URI nor EPC hex: {exc.reason}") from exc
        if not isinstance(epc, Epc):
            raise QueryParameterError(name, f"{value!r}: {epc.reason}")
        return epc.digital_link
    link = canonical(value)
    if not link.startswith("https://id.gs1.org/"):
        raise QueryParameterError(name, f"{value!r} is not an EPC URI this server can read")
    return link


def _biz_steps(name: str, values: list[str]) -> dict[str, Any]:
    return {"biz_steps": frozenset(cbv_uri(v, "BizStep-") for v in values)}


def _biz_locations(name: str, values: list[str]) -> dict[str, Any]:
    return {"biz_locations": frozenset(canonical(v) for v in values)}


_PARSERS: dict[str, Callable[[str, list[str]], dict[str, Any]]] = {
    "eventType": _event_types, "GE_eventTime": _time, "LT_eventTime": _time, "MATCH_epc": _epcs,
    "EQ_bizStep": _biz_steps, "EQ_bizLocation": _biz_locations, "perPage": _per_page, "nextPageToken": _token,
}  # fmt: skip
