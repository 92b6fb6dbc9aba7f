"""Dependencies the routes declare: the database session, the catalog, the settings, and paging parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings
from silentgw.gateway.store.database import StoreUnavailable

__all__ = ["CatalogDep", "CursorDep", "LimitDep", "SessionDep", "SettingsDep"]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _session(request: Request) -> Iterator[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    try:
        with sessions.begin() as session:
            yield session
    except OperationalError as exc:
        raise StoreUnavailable(str(exc.orig)) from exc


SettingsDep = Annotated[Settings, Depends(_settings)]
# scope="function": the transaction commits before the response is sent, so a failed commit is an error response,
# never a 201 for a write that was lost (the default, "request", would commit after the client has its answer).
SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _catalog(session: SessionDep, settings: SettingsDep) -> Catalog:
    return Catalog(session, site_id=settings.site.id)


CatalogDep = Annotated[Catalog, Depends(_catalog)]
CursorDep = Annotated[
    str | None, Query(description="The `next_cursor` of the previous page; omit for the first page.", max_length=200)
]
LimitDep = Annotated[int, Query(ge=1, le=500, description="How many items a page holds at most.")]
