"""Events: the outbox queried (by type, subject and time) and followed live as Server-Sent Events.

The live stream sends each event as an SSE message whose ``id`` is the event's outbox sequence number, ``event`` its
type and ``data`` its CloudEvents 1.0 JSON. A client that reconnects with ``Last-Event-ID`` (browsers do so on
their own) resumes right after the last event it got, so a dropped connection loses nothing; without it the stream
starts with what happens next (or, with ``?since_seq=N``, after event N). A comment line every ``KEEPALIVE``
seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, or_

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep, SettingsDep
from silentgw.api.schemas import INT64_MAX, Instant, PageOut, Seq
from silentgw.gateway.catalog import InvalidValue
from silentgw.gateway.config import Settings
from silentgw.gateway.events import StoredEvent, cloudevent, matches
from silentgw.gateway.outbox import Dispatcher
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Event

router = APIRouter(prefix="/events", tags=["events"])

KEEPALIVE = 15.0
"""Seconds between keep-alive comments on an idle stream."""
POLL = 0.5
"""Seconds between looks at the outbox when no dispatcher runs in this process to say that events were written."""

TypeFilter = Annotated[
    list[str] | None,
    Query(alias="type", description="Event types; a trailing `*` matches a prefix (`silentgw.item.*`). Repeatable."),
]


class EventOut(BaseModel):
    """An event, as CloudEvents 1.0 JSON (``sequence`` is the outbox's order, zero-padded)."""

    specversion: str
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str
    sequence: str
    data: dict[str, Any]


def source(settings: SettingsDep) -> str:
    """The CloudEvents ``source`` of this gateway's events."""
    return f"urn:silentgw:{settings.site.id}"


@router.get("", response_model=PageOut[EventOut], summary="Query events by type, subject and time")
def list_events(
    catalog: CatalogDep,
    settings: SettingsDep,
    cursor: CursorDep = None,
    limit: LimitDep = 100,
    types: TypeFilter = None,
    subject: Annotated[str | None, Query(max_length=200, description="Exactly this subject.")] = None,
    since: Annotated[Instant | None, Query(description="Events at or after this time.")] = None,
    until: Annotated[Instant | None, Query(description="Events before this time.")] = None,
) -> PageOut[EventOut]:
    """Stored events in the order they were committed, oldest first."""
    c = Event.__table__.c
    where: list[ColumnElement[bool]] = []
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidValue("give a time zone (Z or +hh:mm)", field=name)
    if types:
        exact = [t for t in types if not t.endswith("*")]
        prefixes = [t[:-1] for t in types if t.endswith("*")]
        clauses: list[ColumnElement[bool]] = [c.type.in_(exact)] if exact else []
        clauses += [c.type.startswith(p, autoescape=True) for p in prefixes]
        where.append(or_(*clauses))
    if subject is not None:
        where.append(c.subject == subject)
    if since is not None:
        where.append(c.time >= since)
    if until is not None:
        where.append(c.time < until)
    page = catalog.page(Event, where=where, cursor=cursor, limit=limit)
    src = source(settings)
    items = [
        EventOut(**cloudevent(StoredEvent(r.seq, r.id, r.type, r.subject, r.time, r.data), source=src))
        for r in page.items
    ]
    return PageOut[EventOut](items=items, next_cursor=page.next_cursor)


@router.get(
    "/stream",
    summary="Follow events live (Server-Sent Events), resumable with Last-Event-ID",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An endless stream of events."}},
)
async def stream(
    request: Request,
    settings: SettingsDep,
    types: TypeFilter = None,
    since_seq: Annotated[Seq | None, Query(description="Start after this event (its SSE id).")] = None,
    last_event_id: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> StreamingResponse:
    """Every new event (of ``type``) as it is committed; ``Last-Event-ID`` or ``since_seq`` resumes after one."""
    return await live(request, settings, types=types, since_seq=since_seq, last_event_id=last_event_id)


async def live(
    request: Request,
    settings: Settings,
    *,
    types: list[str] | None = None,
    since_seq: int | None = None,
    last_event_id: str | None = None,
    named: bool = True,
) -> StreamingResponse:
    """The live stream for ``request``; ``named=False`` leaves out each message's ``event`` field, so that a
    browser's ``EventSource.onmessage`` hears every type (the staff page's feed)."""
    engine: Engine = request.app.state.engine
    dispatcher: Dispatcher | None = request.app.state.dispatcher
    after = since_seq if last_event_id is None else _resume_point(last_event_id)
    if after is None:
        after = await asyncio.to_thread(_latest, engine)
    return StreamingResponse(
        _messages(request, engine, dispatcher, after, tuple(types or ()), source(settings), named=named),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _resume_point(last_event_id: str) -> int:
    """The sequence number a ``Last-Event-ID`` names; a 422 naming the header for anything else (a number past
    the column's range included: the stream would die on it, after its answer had begun)."""
    digits = len(last_event_id) <= len(str(INT64_MAX)) and last_event_id.isascii() and last_event_id.isdigit()
    if digits and int(last_event_id) <= INT64_MAX:
        return int(last_event_id)
    message = f"the id of an event of this stream: a whole number from 0 to {INT64_MAX}"
    raise RequestValidationError([{"type": "value_error", "loc": ("header", "Last-Event-ID"), "msg": message,
                                   "input": last_event_id[:40]}])  # fmt: skip


def _latest(engine: Engine) -> int:
    with engine.connect() as conn:
        return outbox.latest(conn)


def _read(engine: Engine, after: int) -> list[StoredEvent]:
    with engine.connect() as conn:
        return outbox.read(conn, after, limit=500)


async def _messages(
    request: Request,
    engine: Engine,
    dispatcher: Dispatcher | None,
    after: int,
    types: tuple[str, ...],
    src: str,
    *,
    named: bool,
) -> AsyncIterator[bytes]:
    yield b"retry: 2000\n\n"  # the reconnect delay browsers should use
    idle = 0.0
    while not await request.is_disconnected():
        found = await asyncio.to_thread(_read, engine, after)
        for event in found:
            after = event.seq
            if matches(event.type, types):
                body = orjson.dumps(cloudevent(event, source=src)).decode()
                kind = f"event: {event.type}\n" if named else ""
                yield f"id: {event.seq}\n{kind}data: {body}\n\n".encode()
        if found:
            idle = 0.0
            continue
        if dispatcher is not None:
            await dispatcher.changed(POLL * 4)
        else:
            await asyncio.sleep(POLL)
        idle += POLL
        if idle >= KEEPALIVE:
            idle = 0.0
            yield b": keep-alive\n\n"
