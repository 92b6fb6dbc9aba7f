"""Dead letters (admins only): what the read pipeline or an outbox sink could not take and set aside so the rest
flowed on, with why; replayed once the cause is fixed, or discarded.

A replay runs through the pipeline or the dispatcher of this process (``silentgw run``): without them it is 503.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel

from silentgw.api.auth import allow
from silentgw.api.deps import CursorDep, LimitDep
from silentgw.api.schemas import PageOut
from silentgw.gateway.catalog import decode_cursor, encode_cursor
from silentgw.gateway.deadletters import DeadLetters
from silentgw.gateway.store.deadletters import Letter

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])

LetterId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The dead letter's id.")]
REPLAY_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "The pipeline or the sink the dead letter belongs to does not run in this process"}
}


class DeadLetterOut(BaseModel):
    """A dead letter: where it was set aside, what it holds, why, and whether it was dealt with."""

    id: int
    source: str
    """``pipeline``, or the outbox sink that refused the event (``actions``, ``mqtt``, ``webhook:<id>``)."""
    kind: Literal["transitions", "sale", "event"]
    event_seq: int | None
    payload: dict[str, Any]
    reason: str
    trace: str
    state: Literal["open", "replayed", "discarded"]
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime


def _out(letter: Letter) -> DeadLetterOut:
    return DeadLetterOut(**{name: getattr(letter, name) for name in Letter.__slots__})


def _service(request: Request) -> DeadLetters:
    state = request.app.state
    return DeadLetters(state.engine, pipeline=state.pipeline, dispatcher=state.dispatcher)


@router.get("", summary="List dead letters")
@allow()
def list_dead_letters(
    request: Request,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    state: Annotated[Literal["open", "replayed", "discarded"] | None, Query(description="Only these.")] = "open",
    source: Annotated[str | None, Query(max_length=100, description="Only those of this source.")] = None,
) -> PageOut[DeadLetterOut]:
    """Dead letters, oldest first (open ones by default)."""
    after = decode_cursor(cursor, int)[0] if cursor else 0
    found = _service(request).page(state=state, source=source, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return PageOut(items=[_out(f) for f in found], next_cursor=encode_cursor(found[-1].id) if more else None)


@router.get("/{letter_id}", summary="Show a dead letter")
@allow()
def get_dead_letter(letter_id: LetterId, request: Request) -> DeadLetterOut:
    """One dead letter with its payload, reason and traceback."""
    return _out(_service(request).get(letter_id))


@router.post("/{letter_id}/replay", summary="Replay a dead letter", responses=REPLAY_RESPONSES)
@allow()
async def replay_dead_letter(letter_id: LetterId, request: Request) -> DeadLetterOut:
    """Try it again (after fixing its cause): ``replayed`` if it went through; 409 with the new reason if refused
    again (it stays open)."""
    return _out(await _service(request).replay(letter_id))


@router.post("/{letter_id}/discard", summary="Discard a dead letter")
@allow()
def discard_dead_letter(letter_id: LetterId, request: Request) -> DeadLetterOut:
    """Let it go: looked at, not to be replayed."""
    return _out(_service(request).discard(letter_id))
