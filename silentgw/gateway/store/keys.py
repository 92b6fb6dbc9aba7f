"""API keys: made, checked, listed and revoked. The key is shown once, when it is made; only its digest is kept.

A key reads ``sgw_<id>_<secret>``: the id (12 characters) finds the row, the secret (256 random bits, base64url)
proves it. The row keeps the SHA-256 of the whole key: a key is random, not a password, so a fast digest is as
safe as a slow one and keeps every request's check cheap; comparing digests in constant time keeps the check from
saying how close a guess came.

Revoking a key also ends the staff page sessions made from it, and moves the ``keys`` revision on
(``store/revisions.py``), so a running API that remembers verified keys forgets them within a second, whichever
process revoked it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, delete, select, update

from silentgw.gateway.store import revisions
from silentgw.gateway.store.models import ApiKey, Base, PageSession, Role

__all__ = ["KeyInfo", "check", "create", "digest", "id_of", "list_keys", "revoke"]

_keys = Base.metadata.tables[ApiKey.__tablename__]
_sessions = Base.metadata.tables[PageSession.__tablename__]
PREFIX = "sgw_"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as listed: never the key itself."""

    id: str
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def digest(key: str) -> str:
    """The SHA-256 hex digest a key is stored as."""
    return hashlib.sha256(key.encode()).hexdigest()


def id_of(key: str) -> str:
    """The id part of ``key`` (empty for a malformed key); it names the key, it proves nothing."""
    key_id, _, secret = key.removeprefix(PREFIX).partition("_") if key.startswith(PREFIX) else ("", "", "")
    return key_id if secret else ""


def create(conn: Connection, *, role: Role, name: str, now: dt.datetime | None = None) -> tuple[str, str]:
    """Make a key with ``role``; (its id, the key). The key is not stored: this is the only time it is seen."""
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    conn.execute(_keys.insert().values(id=key_id, name=name, role=role, digest=digest(key),
                                       created_at=now or dt.datetime.now(dt.UTC)))  # fmt: skip
    return key_id, key


def check(conn: Connection, key: str) -> Role | None:
    """The role of ``key``, or None for a key that is malformed, unknown or revoked."""
    key_id = id_of(key)
    if not key_id or len(key) > 200:
        return None
    k = _keys.c
    found = conn.execute(select(k.role, k.digest, k.revoked_at).where(k.id == key_id)).first()
    if found is None or found.revoked_at is not None:
        return None
    if not hmac.compare_digest(found.digest, digest(key)):
        return None
    return Role(found.role)


def list_keys(conn: Connection) -> list[KeyInfo]:
    """Every key, oldest first."""
    k = _keys.c
    rows = conn.execute(select(k.id, k.name, k.role, k.created_at, k.revoked_at).order_by(k.created_at, k.id))
    return [KeyInfo(i, n, Role(r), c, v) for i, n, r, c, v in rows]


def revoke(conn: Connection, key_id: str, *, now: dt.datetime | None = None) -> bool:
    """Revoke the key ``key_id`` and end the page sessions made from it; whether there was such a key not yet
    revoked."""
    k = _keys.c
    done = conn.execute(
        update(_keys).where(k.id == key_id, k.revoked_at.is_(None)).values(revoked_at=now or dt.datetime.now(dt.UTC))
    )
    if done.rowcount != 1:
        return False
    conn.execute(delete(_sessions).where(_sessions.c.key_id == key_id))
    revisions.bump(conn, revisions.KEYS)
    return True
