"""The OpenAPI document makes a working client as it is: openapi-python-client generates one without a warning,
and the generated code creates a product, finds its stock and reads a problem through the real API."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from tests.keys import bearer

pytestmark = pytest.mark.slow


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A client package generated from the document, importable as ``silentgw_client``."""
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(create_app(Settings(database_url="sqlite://")).openapi()))
    bin_dir = Path(sys.executable).parent  # the generator formats its output with ruff, found on PATH
    done = subprocess.run(
        [bin_dir / "openapi-python-client", "generate", "--path", document, "--meta", "none",
         "--output-path", tmp_path / "silentgw_client"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Warning" not in report, report
    assert "Unable" not in report, report
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("silentgw_client")
    for name in [m for m in sys.modules if m == "silentgw_client" or m.startswith("silentgw_client.")]:
        del sys.modules[name]


def test_a_generated_client_works_against_the_api(generated: ModuleType, engine: Engine, database_url: str) -> None:
    api = importlib.import_module("silentgw_client.api")
    models = importlib.import_module("silentgw_client.models")
    for part in ("products.create_product", "products.get_product", "stock.stock"):
        importlib.import_module(f"silentgw_client.api.{part}")
    app = create_app(Settings(database_url=database_url), engine=engine)
    with TestClient(app, headers=bearer(engine)) as http:
        client = generated.AuthenticatedClient(base_url="http://testserver", token="unused")
        client.set_httpx_client(http)
        tea = models.ProductIn(gtin="4012345000139", sku="HOM-100", name="Tea towel", price="4.50", currency="EUR")
        created = api.products.create_product.sync(client=client, body=tea)
        assert isinstance(created, models.ProductOut)
        assert (created.gtin, created.name) == ("04012345000139", "Tea towel")
        missing = api.products.get_product.sync(client=client, gtin="00614141812345")
        assert isinstance(missing, models.Problem)
        assert missing.status == 404
        levels = api.stock.stock.sync(client=client, gtin="04012345000139")
        assert isinstance(levels, models.PageOutLevelOut)
        assert levels.items == []
