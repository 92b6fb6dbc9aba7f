"""Dead letters on SQL: what the pipeline or a sink set aside, listed for an admin and marked once replayed.

A dead letter is written in a transaction of its own (the work it holds failed in another), so setting one aside
never depends on the transaction that refused it.
"""

from __future__ import annotations

import datetime as dt
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from silentgw.gateway.store.models import Base, DeadLetter, DeadLetterState, utcnow

__all__ = ["Letter", "count_open", "get", "page", "resolve", "set_aside", "tried_again", "why"]

_letters = Base.metadata.tables[DeadLetter.__tablename__]

REASON_CHARS = 1000
TRACE_CHARS = 20000


def why(exc: BaseException) -> tuple[str, str]:
    """The reason (the error's class and first line) and the traceback a dead letter keeps of ``exc``."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0], "".join(traceback.format_exception(exc))


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter as stored."""

    id: int
    source: str
    kind: str
    event_seq: int | None
    payload: Mapping[str, Any]
    reason: str
    trace: str
    state: str
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime


_COLUMNS = [getattr(_letters.c, name) for name in Letter.__slots__]


def set_aside(conn: Connection, *, source: str, kind: str, payload: Mapping[str, Any], reason: str, trace: str,
              event_seq: int | None = None) -> int:  # fmt: skip
    """Store what ``source`` could not take; its id."""
    now = utcnow()
    row = {"source": source, "kind": kind, "event_seq": event_seq, "payload": dict(payload),
           "reason": reason[:REASON_CHARS], "trace": trace[-TRACE_CHARS:], "state": DeadLetterState.OPEN.value,
           "attempts": 1, "created_at": now, "updated_at": now}  # fmt: skip
    return int(conn.execute(_letters.insert().returning(_letters.c.id), row).scalar_one())


def get(conn: Connection, letter_id: int) -> Letter | None:
    """The dead letter ``letter_id``, or None."""
    row = conn.execute(select(*_COLUMNS).where(_letters.c.id == letter_id)).one_or_none()
    return None if row is None else Letter(*row)


def page(conn: Connection, *, state: str | None = None, source: str | None = None, after: int = 0,
         limit: int = 50) -> list[Letter]:  # fmt: skip
    """Dead letters after id ``after``, oldest first, optionally of one state and one source."""
    query = select(*_COLUMNS).where(_letters.c.id > after).order_by(_letters.c.id).limit(limit)
    if state is not None:
        query = query.where(_letters.c.state == state)
    if source is not None:
        query = query.where(_letters.c.source == source)
    return [Letter(*row) for row in conn.execute(query)]


def count_open(conn: Connection) -> dict[str, int]:
    """Open dead letters by source (for /metrics)."""
    query = (
        select(_letters.c.source, func.count())
        .where(_letters.c.state == DeadLetterState.OPEN.value)
        .group_by(_letters.c.source)
    )
    return {source: int(n) for source, n in conn.execute(query)}


def resolve(conn: Connection, letter_id: int, state: DeadLetterState) -> None:
    """Mark a dead letter replayed or discarded."""
    conn.execute(update(_letters).where(_letters.c.id == letter_id).values(state=state.value, updated_at=utcnow()))


def tried_again(conn: Connection, letter_id: int, *, reason: str, trace: str) -> None:
    """Record a replay that failed again: one more attempt, the newest reason."""
    conn.execute(
        update(_letters)
        .where(_letters.c.id == letter_id)
        .values(
            attempts=_letters.c.attempts + 1,
            reason=reason[:REASON_CHARS],
            trace=trace[-TRACE_CHARS:],
            updated_at=utcnow(),
        )
    )
