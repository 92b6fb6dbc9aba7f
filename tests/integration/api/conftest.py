"""An API client on a migrated database, on each backend, with the app's lifespan running and an admin's key."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from tests.keys import bearer


@pytest.fixture
def client(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """A client of the API on a fresh, migrated database; the engine stays the caller's."""
    app = create_app(Settings(database_url=database_url), engine=engine)
    with TestClient(app, headers=bearer(engine)) as test_client:
        yield test_client
