"""An error nobody foresaw is still a problem+json answer, and does not leak its traceback."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings


def test_an_unexpected_error_is_a_500_problem(engine: Engine, database_url: str) -> None:
    app = create_app(Settings(database_url=database_url), engine=engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 500
    assert body["type"] == "urn:silentgw:problem:internal"
    assert "secret" not in response.text
