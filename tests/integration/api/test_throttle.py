"""Throttling (kept in memory, so on SQLite alone): a client address that sent 10 bad API keys or failed 10 sign-ins
within a minute is answered 429 (problem+json for the API, the sign-in form for the page) with Retry-After; other
addresses, and good keys, are not held back; X-Forwarded-For names the client only when the peer is a trusted
proxy."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from tests.keys import bearer

BAD = {"Authorization": "Bearer sgw_000000000000_not-a-key"}
PRODUCTS = "/api/v1/products"


def from_address(app: object, host: str) -> TestClient:
    return TestClient(app, client=(host, 40000))  # type: ignore[arg-type]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is counted lives in the process, whatever the database."""
    return f"sqlite:///{tmp_path / 'silentgw.db'}"


@pytest.fixture
def app(engine: Engine, database_url: str) -> object:
    return create_app(Settings(database_url=database_url), engine=engine)


def test_the_eleventh_bad_key_in_a_minute_is_answered_429(app: object, engine: Engine) -> None:
    good = bearer(engine)
    attacker, neighbour = from_address(app, "192.0.2.1"), from_address(app, "192.0.2.2")
    with attacker, neighbour:
        for _ in range(3):  # successes do not count
            assert attacker.get(PRODUCTS, headers=good).status_code == 200
        for n in range(10):
            assert attacker.get(PRODUCTS, headers=BAD).status_code == 401, n
        refused = attacker.get(PRODUCTS, headers=BAD)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["status"] == 429
        body = attacker.post(PRODUCTS, headers=BAD, json={"gtin": "x"})  # refused before its body is read, too
        assert body.status_code == 429
        assert "retry-after" in body.headers
        fresh = bearer(engine)  # a key never seen from there is not even looked up while the address is held back
        assert attacker.get(PRODUCTS, headers=fresh).status_code == 429
        assert neighbour.get(PRODUCTS, headers=fresh).status_code == 200  # another address is not held back
        assert neighbour.get(PRODUCTS, headers=BAD).status_code == 401
        assert attacker.get(PRODUCTS, headers=good).status_code == 200  # a key in use from there keeps working


def test_failed_sign_ins_are_throttled_too(app: object, engine: Engine) -> None:
    guesser, colleague = from_address(app, "198.51.100.7"), from_address(app, "198.51.100.8")
    for _ in range(10):
        assert guesser.post("/login", data={"key": "sgw_000000000000_guess"}).status_code == 401
    held = guesser.post("/login", data={"key": "sgw_000000000000_guess"})
    assert held.status_code == 429
    assert "Too many failed attempts" in held.text
    assert int(held.headers["retry-after"]) >= 1
    real = bearer(engine)["Authorization"].removeprefix("Bearer ")
    assert colleague.post("/login", data={"key": real}, follow_redirects=False).status_code == 303


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(engine: Engine, database_url: str) -> None:
    settings = Settings(database_url=database_url, access={"trusted_proxies": ["10.0.0.1"]})
    app = create_app(settings, engine=engine)
    proxy, direct = from_address(app, "10.0.0.1"), from_address(app, "10.0.0.2")
    for n in range(10):
        forwarded = {**BAD, "X-Forwarded-For": f"203.0.113.{n}"}  # ten clients behind the proxy, one failure each
        assert proxy.get(PRODUCTS, headers=forwarded).status_code == 401
        assert direct.get(PRODUCTS, headers={**BAD, "X-Forwarded-For": f"203.0.113.{n}"}).status_code == 401
    assert proxy.get(PRODUCTS, headers={**BAD, "X-Forwarded-For": "203.0.113.50"}).status_code == 401
    # the untrusted peer's own address collected all ten: the header it sent was not believed
    assert direct.get(PRODUCTS, headers={**BAD, "X-Forwarded-For": "203.0.113.51"}).status_code == 429
