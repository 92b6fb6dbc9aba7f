"""Webhook subscriptions in SQL: who receives which events, and how delivery to them is going (SQLite, PostgreSQL).

Where a subscription has got to is the outbox cursor named ``webhook:<id>`` (table ``outbox_cursors``). It is set to
the newest event in the transaction that creates the subscription, so a new receiver gets what happens from then
on and the past only when it asks (a replay), and it is removed with the subscription.

The delivery columns (``failures``, ``last_error``, ``last_attempt_at``, ``next_attempt_at``, ``state``) are written
by the subscription's sink while the gateway runs (:func:`failed`, :func:`succeeded`) and by people through the API
(:func:`resume`, :func:`replay`); the sink is their only writer while it runs, so it keeps the count and writes
plain values rather than increments.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Base, OutboxCursor, WebhookState, WebhookSubscription, utcnow
from silentgw.gateway.store.models import Event as EventRow

__all__ = [
    "Subscription",
    "active",
    "backlog",
    "create",
    "cursor_of",
    "delete_subscription",
    "failed",
    "get",
    "new_id",
    "progress",
    "replay",
    "resume",
    "sink_name",
    "succeeded",
]

_subs = Base.metadata.tables[WebhookSubscription.__tablename__]
_events = Base.metadata.tables[EventRow.__tablename__]
_cursors = Base.metadata.tables[OutboxCursor.__tablename__]


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription as read: where events go, signed with what, which types, and how delivery is going."""

    id: str
    url: str
    secret: str
    types: tuple[str, ...]
    """Exact types and prefixes ending in ``*``; none: every type."""
    description: str
    state: WebhookState
    failures: int
    """Failed attempts in a row (0 once one succeeds)."""
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime

    @classmethod
    def of(cls, row: Any) -> Subscription:
        """The value of a ``webhook_subscriptions`` row (an ORM object or a Core row: both have the attributes)."""
        return cls(
            id=row.id,
            url=row.url,
            secret=row.secret,
            types=tuple(row.types.get("include", ())),
            description=row.description,
            state=WebhookState(row.state),
            failures=row.failures,
            last_error=row.last_error,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
        )


def sink_name(subscription_id: str) -> str:
    """The outbox sink (and cursor) name of a subscription."""
    return f"webhook:{subscription_id}"


def new_id() -> str:
    """A UUIDv7 (RFC 9562): Unix milliseconds in the top 48 bits, so ids, and the list in id order, follow creation."""
    millis = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2)) & 0xFFF
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    return str(uuid.UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b))


def create(conn: Connection, *, url: str, secret: str, types: Sequence[str], description: str = "") -> Subscription:
    """Insert an active subscription whose cursor starts at the newest event; the new subscription."""
    values: dict[str, Any] = {
        "id": new_id(), "url": url, "secret": secret, "types": {"include": list(types)}, "description": description,
        "state": WebhookState.ACTIVE, "failures": 0, "last_error": None, "last_attempt_at": None,
        "next_attempt_at": None, "created_at": utcnow(),
    }  # fmt: skip
    conn.execute(insert(_subs), values)
    outbox.cursor(conn, sink_name(values["id"]), start=outbox.latest(conn))
    return Subscription.of(conn.execute(select(_subs).where(_subs.c.id == values["id"])).one())


def get(conn: Connection, subscription_id: str) -> Subscription | None:
    """The subscription ``subscription_id``, or None."""
    row = conn.execute(select(_subs).where(_subs.c.id == subscription_id)).one_or_none()
    return None if row is None else Subscription.of(row)


def active(conn: Connection) -> list[Subscription]:
    """The subscriptions to deliver to (not parked), in id order."""
    rows = conn.execute(select(_subs).where(_subs.c.state == WebhookState.ACTIVE).order_by(_subs.c.id))
    return [Subscription.of(row) for row in rows]


def delete_subscription(conn: Connection, subscription_id: str) -> bool:
    """Remove a subscription and its cursor; whether there was one."""
    conn.execute(delete(_cursors).where(_cursors.c.sink == sink_name(subscription_id)))
    return conn.execute(delete(_subs).where(_subs.c.id == subscription_id)).rowcount > 0


def resume(conn: Connection, subscription_id: str) -> Subscription | None:
    """Make a subscription active again with a clean count (its last error kept); None if there is none."""
    changes = {"state": WebhookState.ACTIVE, "failures": 0, "next_attempt_at": None}
    if conn.execute(update(_subs).where(_subs.c.id == subscription_id).values(changes)).rowcount == 0:
        return None
    return get(conn, subscription_id)


def replay(
    conn: Connection, subscription_id: str, *, after_seq: int | None = None, since: dt.datetime | None = None
) -> tuple[Subscription, int] | None:
    """Set a subscription back to deliver again after ``after_seq``, or from the first event at or after ``since``,
    and resume it; the subscription and the point it goes on from, or None if there is none.

    The point is never past where the subscription already is: a replay delivers again, it never skips events.
    """
    if since is not None and after_seq is not None:
        raise ValueError("a replay starts either after a sequence number or at a time, not both")
    found = resume(conn, subscription_id)
    if found is None:
        return None
    if since is not None:
        after_seq = _seq_before(conn, since)
    elif after_seq is None:
        raise ValueError("a replay starts after a sequence number or at a time")
    name = sink_name(subscription_id)
    point = min(after_seq, outbox.cursor(conn, name, start=outbox.latest(conn)))
    outbox.advance(conn, name, point)
    return found, point


def _seq_before(conn: Connection, since: dt.datetime) -> int:
    """The sequence number just before the first event whose time is ``since`` or later (the newest if none is)."""
    first = conn.execute(select(func.min(_events.c.seq)).where(_events.c.time >= since)).scalar_one_or_none()
    return outbox.latest(conn) if first is None else int(first) - 1


def cursor_of(conn: Connection, subscription_id: str) -> int:
    """The last sequence number delivered to the subscription (0 if it has no cursor yet)."""
    found = conn.execute(select(_cursors.c.seq).where(_cursors.c.sink == sink_name(subscription_id)))
    seq = found.scalar_one_or_none()
    return 0 if seq is None else int(seq)


def backlog(conn: Connection, subscription: Subscription, cursor: int) -> int:
    """How many events after ``cursor`` the subscription's type filter takes: what it has still to receive."""
    query = select(func.count()).select_from(_events).where(_events.c.seq > cursor)
    exact = [t for t in subscription.types if not t.endswith("*")]
    prefixes = [t[:-1] for t in subscription.types if t.endswith("*")]
    if subscription.types:
        kind = _events.c.type
        query = query.where(or_(kind.in_(exact), *(kind.startswith(p, autoescape=True) for p in prefixes)))
    return int(conn.execute(query).scalar_one())


def failed(
    conn: Connection,
    subscription_id: str,
    *,
    failures: int,
    error: str,
    at: dt.datetime,
    next_at: dt.datetime | None,
    parked: bool,
) -> bool:
    """Record a failed attempt (and the parking, if it came to that); whether the subscription still exists."""
    changes: dict[str, Any] = {
        "failures": failures, "last_error": error[:500], "last_attempt_at": at, "next_attempt_at": next_at,
    }  # fmt: skip
    if parked:
        changes["state"] = WebhookState.PARKED
    return conn.execute(update(_subs).where(_subs.c.id == subscription_id).values(changes)).rowcount > 0


def succeeded(conn: Connection, subscription_id: str, *, at: dt.datetime) -> bool:
    """Record a delivery that was taken: the count starts again (the last error is kept, for the record)."""
    changes = {"failures": 0, "last_attempt_at": at, "next_attempt_at": None}
    return conn.execute(update(_subs).where(_subs.c.id == subscription_id).values(changes)).rowcount > 0


def progress(conn: Connection, subscription: Subscription) -> tuple[int, int]:
    """Where the subscription is (the last sequence number delivered) and how many of its events are still to go."""
    where = cursor_of(conn, subscription.id)
    return where, backlog(conn, subscription, where)
