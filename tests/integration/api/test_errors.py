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


def test_values_the_database_cannot_store_are_the_requests_fault(client: TestClient) -> None:
    # Found by the contract fuzzing: PostgreSQL takes no NUL in text; SQLite does, and then finds nothing.
    nul = client.get("/api/v1/items", params={"gtin": "00614141812345", "serial": "a\x00b"})
    assert nul.status_code in (404, 422)
    assert nul.headers["content-type"] == "application/problem+json"
    member = client.post("/api/v1/members", json={"number": "M-NUL", "name": "Ann\x00"})
    assert member.status_code in (201, 422)
    assert (member.status_code == 422) == (client.get("/api/v1/members/M-NUL").status_code == 404)
    # an integer past 64 bits in a device's driver options is stored as JSON allows
    device = {"id": "big", "kind": "sensor", "driver": {"kind": "generic-json", "limit": 2**70}}
    assert client.post("/api/v1/devices", json=device).status_code == 201
    assert client.get("/api/v1/devices/big").json()["driver"]["limit"] == 2**70
