"""Revision counters: one cheap read tells a process that keeps a copy of some state (the pipeline's members and
zones, the API's verified keys) that the state changed, whoever changed it (the API, a CLI command, another
process)."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.orm import Session

from silentgw.gateway.store.models import Base, Revision

__all__ = ["CATALOG", "KEYS", "bump", "current"]

CATALOG = "catalog"
"""Members, their cards, locations, zones, devices and antennas: what the read pipeline copies into memory."""

KEYS = "keys"
"""API keys: moved by every revocation, so that an API remembering verified keys forgets them."""

_revisions = Base.metadata.tables[Revision.__tablename__]


def bump(conn: Connection | Session, name: str) -> None:
    """Move revision ``name`` on, in the caller's transaction (so it commits with the change it announces)."""
    conn.execute(update(_revisions).where(_revisions.c.name == name).values(number=_revisions.c.number + 1))


def current(engine: Engine, name: str) -> int:
    """Revision ``name`` now (0 before the first change)."""
    with engine.connect() as conn:
        return int(conn.execute(select(_revisions.c.number).where(_revisions.c.name == name)).scalar_one_or_none()
                   or 0)  # fmt: skip
