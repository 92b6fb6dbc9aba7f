"""Staff page sessions: started when a browser signs in with an API key, checked on each page, ended at sign-out,
with their key's revocation (``store/keys.py``), by an admin, or by time: an absolute lifetime and an idle timeout.

The browser's cookie holds the session's id, 256 random bits made here; the table keeps only its SHA-256 (as keys
are kept), so neither the key nor a copy of the table signs anyone in. A session's role is its key's, read with the
session in one query that also refuses a revoked key: a revocation ends its sessions at once, in every process.
Sessions ended by time are deleted as the next one starts, so the table holds little more than the live ones.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, or_, select, update

from silentgw.gateway.store.keys import digest
from silentgw.gateway.store.models import ApiKey, Base, PageSession, Role

__all__ = ["SessionInfo", "check", "end", "end_for_key", "list_for_key", "start"]

_sessions = Base.metadata.tables[PageSession.__tablename__]
_keys = Base.metadata.tables[ApiKey.__tablename__]

TOUCH_EVERY = 60.0
"""Seconds between updates of a session's last use, at most (a tenth of the idle timeout when that is shorter):
a page view writes nothing most of the time, and the idle timeout is kept to within that much."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as listed: never its id."""

    created_at: dt.datetime
    expires_at: dt.datetime
    last_seen_at: dt.datetime


def start(conn: Connection, *, key_id: str, lifetime: float, idle: float, now: dt.datetime) -> str:
    """Start a session for the key ``key_id``, lasting ``lifetime`` seconds at most and ``idle`` seconds unused; its
    id, for the browser alone (only a digest of it is stored). Sessions ended by time are deleted on the way."""
    s = _sessions.c
    conn.execute(delete(_sessions).where(or_(s.expires_at <= now, s.last_seen_at <= now - dt.timedelta(seconds=idle))))
    session_id = secrets.token_urlsafe(32)
    conn.execute(insert(_sessions).values(id=digest(session_id), key_id=key_id, created_at=now, last_seen_at=now,
                                          expires_at=now + dt.timedelta(seconds=lifetime)))  # fmt: skip
    return session_id


def check(conn: Connection, session_id: str, *, idle: float, now: dt.datetime, touch: bool = True) -> Role | None:
    """The role of the session ``session_id`` (its key's); None when there is no such session, it has ended by time
    (it is then deleted), or its key was revoked. ``touch``: count this as a use (a person's, not a live feed's)."""
    if not 0 < len(session_id) <= 100:
        return None
    s, k = _sessions.c, _keys.c
    found = conn.execute(
        select(s.expires_at, s.last_seen_at, k.role)
        .join_from(_sessions, _keys, s.key_id == k.id)
        .where(s.id == digest(session_id), k.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    unused = (now - found.last_seen_at).total_seconds()
    if found.expires_at <= now or unused >= idle:
        conn.execute(delete(_sessions).where(s.id == digest(session_id)))
        return None
    if touch and unused >= min(TOUCH_EVERY, idle / 10):
        conn.execute(update(_sessions).where(s.id == digest(session_id)).values(last_seen_at=now))
    return Role(found.role)


def end(conn: Connection, session_id: str) -> bool:
    """End the session ``session_id`` (signing out); whether there was one."""
    return conn.execute(delete(_sessions).where(_sessions.c.id == digest(session_id))).rowcount == 1


def end_for_key(conn: Connection, key_id: str) -> int:
    """End every session of the key ``key_id`` (it stays valid for the API); how many there were."""
    return int(conn.execute(delete(_sessions).where(_sessions.c.key_id == key_id)).rowcount)


def list_for_key(conn: Connection, key_id: str, *, idle: float, now: dt.datetime) -> list[SessionInfo]:
    """The sessions of the key ``key_id`` that have not ended, oldest first."""
    s = _sessions.c
    live = (s.key_id == key_id, s.expires_at > now, s.last_seen_at > now - dt.timedelta(seconds=idle))
    rows = conn.execute(select(s.created_at, s.expires_at, s.last_seen_at).where(*live).order_by(s.created_at))
    return [SessionInfo(c, e, seen) for c, e, seen in rows]
