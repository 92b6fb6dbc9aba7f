"""API keys (admins only): make one (the key is in that answer and no other), list them, revoke one; list and end
the staff page sessions signed in with one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, StringConstraints

from silentgw.api.auth import KeyCache, allow
from silentgw.api.deps import SessionDep, SettingsDep
from silentgw.gateway.catalog import NotFound
from silentgw.gateway.store import keys, pagesessions
from silentgw.gateway.store.models import Role

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyIn(BaseModel):
    """A key to make."""

    model_config = ConfigDict(extra="forbid")

    role: Role
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class KeyOut(BaseModel):
    """A key as listed (never the key itself)."""

    id: str
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class CreatedKey(KeyOut):
    """A key just made: ``key`` is shown now and never again."""

    key: str


@router.post("", status_code=status.HTTP_201_CREATED, summary="Make an API key")
@allow()
def create_key(body: KeyIn, session: SessionDep) -> CreatedKey:
    """Make a key with a role; keep the ``key`` of the answer: it cannot be shown again."""
    key_id, key = keys.create(session.connection(), role=body.role, name=body.name)
    made = next(k for k in keys.list_keys(session.connection()) if k.id == key_id)
    return CreatedKey(key=key, id=made.id, name=made.name, role=made.role, created_at=made.created_at,
                      revoked_at=None)  # fmt: skip


@router.get("", summary="List API keys")
@allow()
def list_keys(session: SessionDep) -> list[KeyOut]:
    """Every key, oldest first (their ids, names and roles, not the keys)."""
    return [KeyOut(id=k.id, name=k.name, role=k.role, created_at=k.created_at, revoked_at=k.revoked_at)
            for k in keys.list_keys(session.connection())]  # fmt: skip


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key")
@allow()
def revoke_key(key_id: str, session: SessionDep, request: Request) -> None:
    """Revoke the key at once (404 if there is no active key of that id)."""
    if not keys.revoke(session.connection(), key_id):
        raise NotFound(f"no active key {key_id!r}")
    cache: KeyCache = request.app.state.keys
    cache.forget()


class PageSessionOut(BaseModel):
    """A staff page session signed in with a key (never its id)."""

    created_at: dt.datetime
    expires_at: dt.datetime
    last_seen_at: dt.datetime


def _known(session: SessionDep, key_id: str) -> None:
    if not any(k.id == key_id for k in keys.list_keys(session.connection())):
        raise NotFound(f"no key {key_id!r}")


@router.get("/{key_id}/sessions", summary="List a key's staff page sessions")
@allow()
def list_key_sessions(key_id: str, session: SessionDep, settings: SettingsDep) -> list[PageSessionOut]:
    """The staff page sessions signed in with the key that have not ended, oldest first (404 if there is no such
    key)."""
    _known(session, key_id)
    found = pagesessions.list_for_key(session.connection(), key_id, idle=settings.access.session_idle,
                                      now=dt.datetime.now(dt.UTC))  # fmt: skip
    return [PageSessionOut(created_at=s.created_at, expires_at=s.expires_at, last_seen_at=s.last_seen_at)
            for s in found]  # fmt: skip


@router.delete("/{key_id}/sessions", status_code=status.HTTP_204_NO_CONTENT, summary="End a key's staff page sessions")
@allow()
def end_key_sessions(key_id: str, session: SessionDep) -> None:
    """Sign out every browser signed in with the key, which stays valid (404 if there is no such key)."""
    _known(session, key_id)
    pagesessions.end_for_key(session.connection(), key_id)
