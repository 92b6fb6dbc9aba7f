"""A key revoked from the command line, on SQLite and PostgreSQL, is refused by an API that is serving within a
second and a half (the API remembers verified keys, and notices a revocation made elsewhere within a second)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from silentgw.cli import app as cli
from silentgw.gateway.store import keys
from silentgw.gateway.store.models import Role


def test_a_key_revoked_from_the_command_line_is_refused_within_a_second(
    client: TestClient, engine: Engine, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no silentgw.toml lying around
    with engine.begin() as conn:
        key_id, secret = keys.create(conn, role=Role.STAFF, name="till 4")
    till = {"Authorization": f"Bearer {secret}"}  # in place of the client's admin key
    assert client.get("/api/v1/products", headers=till).status_code == 200  # verified, so remembered
    assert client.get("/api/v1/products", headers=till).status_code == 200
    env: dict[str, str | None] = {name: None for name in os.environ if name.upper().startswith("SILENTGW_")}
    revoked = CliRunner().invoke(cli, ["keys", "revoke", key_id], env={**env, "SILENTGW_DATABASE_URL": database_url})
    assert revoked.exit_code == 0, revoked.output
    since = time.monotonic()
    while client.get("/api/v1/products", headers=till).status_code == 200:
        assert time.monotonic() - since < 1.5, "the revoked key still works"
        time.sleep(0.05)
    assert client.get("/api/v1/products", headers=till).status_code == 401
