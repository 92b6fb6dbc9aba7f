"""The outbox on SQL: events appended in the transaction of their change, read in commit order, a cursor per sink.

Commit order is ``seq`` order. On SQLite one writer at a time holds the database, so sequence numbers are handed out
in the order transactions commit. On PostgreSQL a sequence number is taken at insert, and a transaction that took
an earlier one could commit after a later one, so a reader at the later one would skip it for good; ``append`` takes
a transaction-scoped advisory lock first, which serialises the writers of events from their insert to their commit
(milliseconds, once per micro-batch).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select, text

from silentgw.gateway.events import Event, StoredEvent
from silentgw.gateway.store.database import insert_or_skip
from silentgw.gateway.store.models import Base, OutboxCursor, utcnow
from silentgw.gateway.store.models import Event as EventRow

__all__ = ["LOCK", "advance", "append", "cursor", "latest", "read"]

_events = Base.metadata.tables[EventRow.__tablename__]
_cursors = Base.metadata.tables[OutboxCursor.__tablename__]

LOCK = 0x5147_5700_0001
"""The PostgreSQL advisory lock key that orders writers of events."""


def append(conn: Connection, events: Sequence[Event]) -> int:
    """Append ``events`` (each at most once, by id) in the connection's transaction; how many were new."""
    if not events:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
    now = utcnow()
    rows = [
        {"id": e.id, "type": e.type, "subject": e.subject, "time": e.time, "data": dict(e.data), "recorded_at": now}
        for e in {e.id: e for e in events}.values()
    ]
    stmt = insert_or_skip(conn, _events).on_conflict_do_nothing(index_elements=["id"])
    return len(conn.execute(stmt.returning(_events.c.seq), rows).all())


def read(conn: Connection, after: int, *, limit: int = 500) -> list[StoredEvent]:
    """Up to ``limit`` events after sequence number ``after``, in order."""
    e = _events.c
    query = select(e.seq, e.id, e.type, e.subject, e.time, e.data).where(e.seq > after).order_by(e.seq).limit(limit)
    return [StoredEvent(*row) for row in conn.execute(query)]


def latest(conn: Connection) -> int:
    """The newest sequence number (0 for an empty outbox)."""
    return int(conn.execute(select(func.coalesce(func.max(_events.c.seq), 0))).scalar_one())


def cursor(conn: Connection, sink: str, *, start: int = 0) -> int:
    """The last sequence number ``sink`` has taken; a new sink starts at ``start`` (recorded now)."""
    found = conn.execute(select(_cursors.c.seq).where(_cursors.c.sink == sink)).scalar_one_or_none()
    if found is not None:
        return int(found)
    stmt = insert_or_skip(conn, _cursors).on_conflict_do_nothing(index_elements=["sink"])
    conn.execute(stmt, {"sink": sink, "seq": start, "updated_at": utcnow()})
    return int(conn.execute(select(_cursors.c.seq).where(_cursors.c.sink == sink)).scalar_one())


def advance(conn: Connection, sink: str, seq: int) -> None:
    """Record that ``sink`` has taken every event up to ``seq`` (or set it back, for a replay)."""
    stmt = insert_or_skip(conn, _cursors)
    stmt = stmt.on_conflict_do_update(index_elements=["sink"], set_={"seq": seq, "updated_at": utcnow()})
    conn.execute(stmt, {"sink": sink, "seq": seq, "updated_at": utcnow()})
