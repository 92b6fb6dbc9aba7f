"""Access on SQLite and PostgreSQL: every route of the API needs a key (401 without), and a key whose role the route
does not allow is refused (403); the roles are in the OpenAPI document; keys are made, listed and revoked by
admins, and from the command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.api.app import guarded_routes
from silentgw.api.auth import roles_of
from silentgw.gateway.config import Settings
from silentgw.gateway.store.models import Role
from tests.keys import bearer

EXPECTED = {
    ("POST", "/api/v1/products"): {Role.ADMIN},
    ("GET", "/api/v1/products"): set(Role),
    ("POST", "/api/v1/restock/requests/{request_id}/approve"): {Role.OPERATOR, Role.ADMIN},
    ("PUT", "/api/v1/restock/rules/{gtin}/{location}"): {Role.ADMIN},
    ("POST", "/api/v1/orders"): {Role.INTEGRATOR, Role.ADMIN},
    ("POST", "/api/v1/orders/{order_id}/verify"): {Role.OPERATOR, Role.INTEGRATOR, Role.ADMIN},
    ("GET", "/api/v1/webhooks"): {Role.INTEGRATOR, Role.ADMIN},
    ("GET", "/api/v1/keys"): {Role.ADMIN},
    ("GET", "/epcis/events"): set(Role),
    ("GET", "/api/v1/members"): set(Role),
    ("PATCH", "/api/v1/members/{number}"): {Role.PRIVACY, Role.ADMIN},
    ("GET", "/api/v1/members/{number}/export"): {Role.PRIVACY, Role.ADMIN},
    ("POST", "/api/v1/members/{number}/erase"): {Role.PRIVACY, Role.ADMIN},
    ("DELETE", "/api/v1/members/{number}"): {Role.ADMIN},
}


def concrete(path: str) -> str:
    """A path with every parameter filled in (access is decided before the parameters are looked at)."""
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture
def app_and_keys(engine: Engine, database_url: str) -> tuple[TestClient, dict[Role, dict[str, str]]]:
    # the matrix sends a bad key to every route from one address: throttled, the eleventh would be a 429
    # (tests/integration/api/test_throttle.py), so throttling is off here
    settings = Settings(database_url=database_url, access={"max_failures": 0})
    app = create_app(settings, engine=engine)
    return TestClient(app, raise_server_exceptions=False), {role: bearer(engine, role) for role in Role}


def test_every_route_needs_a_key_and_refuses_the_roles_it_does_not_allow(
    app_and_keys: tuple[TestClient, dict[Role, dict[str, str]]],
) -> None:
    client, keys = app_and_keys
    routes = guarded_routes()
    assert len(routes) > 50
    seen: dict[tuple[str, str], set[Role]] = {}
    with client:
        for full, route in routes:
            allowed = roles_of(route)
            for method in sorted(route.methods or ()):
                seen[(method, full)] = set(allowed)
                path = concrete(full)
                anonymous = client.request(method, path)
                assert anonymous.status_code == 401, (method, full)
                assert anonymous.headers["content-type"] == "application/problem+json"
                assert anonymous.headers["www-authenticate"].startswith("Bearer")
                wrong = client.request(method, path, headers={"Authorization": "Bearer sgw_000000000000_nope"})
                assert wrong.status_code == 401, (method, full)
                for role in set(Role) - allowed:
                    refused = client.request(method, path, headers=keys[role])
                    assert refused.status_code == 403, (method, full, role)
                    assert f"A {role} key may not do this" in refused.json()["detail"]
                for role in allowed if not full.endswith("/stream") else ():  # the stream would never end
                    answered = client.request(method, path, headers=keys[role])
                    assert answered.status_code not in (401, 403), (method, full, role)
    for key, roles in EXPECTED.items():
        assert seen[key] == roles, key


def test_the_roles_and_the_security_schemes_are_in_the_openapi_document(
    app_and_keys: tuple[TestClient, dict[Role, dict[str, str]]],
) -> None:
    client, _ = app_and_keys
    with client:
        document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    approve = document["paths"]["/api/v1/restock/requests/{request_id}/approve"]["post"]
    assert approve["x-roles"] == ["admin", "operator"]
    assert approve["security"]
    assert {"401", "403"} <= approve["responses"].keys()
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_admins_make_list_and_revoke_keys_and_a_revoked_key_stops_at_once(
    app_and_keys: tuple[TestClient, dict[Role, dict[str, str]]],
) -> None:
    client, keys = app_and_keys
    with client:
        made = client.post("/api/v1/keys", json={"role": "staff", "name": "till 3"}, headers=keys[Role.ADMIN])
        assert made.status_code == 201
        key = made.json()["key"]
        assert key.startswith("sgw_")
        staff = {"X-API-Key": key}
        assert client.get("/api/v1/products", headers=staff).status_code == 200
        listed = client.get("/api/v1/keys", headers=keys[Role.ADMIN]).json()
        assert {"till 3"} <= {k["name"] for k in listed}
        assert all("key" not in k for k in listed)
        assert key not in str(listed)
        assert client.delete(f"/api/v1/keys/{made.json()['id']}", headers=keys[Role.ADMIN]).status_code == 204
        assert client.get("/api/v1/products", headers=staff).status_code == 401
        assert client.delete(f"/api/v1/keys/{made.json()['id']}", headers=keys[Role.ADMIN]).status_code == 404
        bad = client.post("/api/v1/keys", json={"role": "janitor", "name": "x"}, headers=keys[Role.ADMIN])
        assert bad.status_code == 422


def test_the_command_line_makes_a_key_that_the_api_takes_and_revokes_it(tmp_path: Path) -> None:
    env_db = f"sqlite:///{tmp_path / 'keys.db'}"

    def silentgw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "silentgw", *args], capture_output=True, text=True, check=False,
                              env={"SILENTGW_DATABASE_URL": env_db, "PATH": "/usr/bin:/bin"}, cwd=tmp_path)  # fmt: skip

    privacy = silentgw("keys", "create", "--role", "privacy", "--name", "data protection")
    assert privacy.returncode == 0, privacy.stderr
    made = silentgw("keys", "create", "--role", "operator", "--name", "night shift")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("sgw_")
    app = create_app(Settings(database_url=env_db))
    with TestClient(app) as client:
        assert client.get("/api/v1/products", headers={"X-API-Key": key}).status_code == 200
        assert client.post("/api/v1/products", json={}, headers={"X-API-Key": key}).status_code == 403
    listed = silentgw("keys", "list")
    assert "operator" in listed.stdout
    assert "privacy" in listed.stdout
    assert "night shift" in listed.stdout
    assert key not in listed.stdout
    key_id = key.split("_")[1]
    assert silentgw("keys", "revoke", key_id).returncode == 0
    assert silentgw("keys", "revoke", key_id).returncode == 1
    with TestClient(create_app(Settings(database_url=env_db))) as client:
        assert client.get("/api/v1/products", headers={"X-API-Key": key}).status_code == 401
    assert silentgw("keys", "create", "--role", "janitor").returncode == 2
