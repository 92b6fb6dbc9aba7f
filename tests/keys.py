"""API keys for the tests: a key of a role in the test's database, as the header a client sends."""

from __future__ import annotations

from sqlalchemy import Engine

from silentgw.gateway.store import keys
from silentgw.gateway.store.models import Role

__all__ = ["bearer"]


def bearer(engine: Engine, role: Role = Role.ADMIN) -> dict[str, str]:
    """A new key of ``role`` in the (migrated) database of ``engine``, as an Authorization header."""
    with engine.begin() as conn:
        _, key = keys.create(conn, role=role, name=f"test {role}")
    return {"Authorization": f"Bearer {key}"}
