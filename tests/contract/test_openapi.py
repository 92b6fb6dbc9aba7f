"""Contract fuzzing: schemathesis generates requests from the OpenAPI document, valid and invalid, for every
operation, and sends them to the API on each backend with an admin's key. No input may give a server error, and
every response must be one the document describes (its status, its content type, its body's schema).

One store per backend serves the whole module (a migrated database with the example layout, the demo catalog, stock,
a restock request, an order and a closed count), so that generated ids sometimes hit real rows; the read pipeline
runs in the process, so the cycle count routes answer. The live event stream never ends and is tested on its own
(tests/integration/api/test_events_route.py).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.core.result import Ok
from sqlalchemy import Engine, text

from silentgw.api import create_app
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.pipeline import Pipeline
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.ledger import SqlStockLedger
from silentgw.gateway.transitions import Arrived
from silentgw.simulator.demo_store import DEMO_PRODUCTS
from tests.conftest import POSTGRES_URL
from tests.integration.pipeline.conftest import EXAMPLE, example_store
from tests.keys import bearer
from tests.tags import at, tag

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
"""Generated requests per operation (FUZZ_EXAMPLES=200 for a longer search)."""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Engine]]:
    """A migrated, stocked store on each backend, for the whole module."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'silentgw.db'}"
        schema = None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = connect(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = connect(url)
    upgrade(engine)
    example_store(engine)
    ledger = SqlStockLedger(engine)
    zones = ledger.zones()
    ledger.apply([Arrived(tag(p, n), "shelf-1a", at(n)) for p in DEMO_PRODUCTS[:3] for n in range(4)], zones)
    ledger.apply([Arrived(tag(DEMO_PRODUCTS[14], n), "shelf-2a", at(n)) for n in range(3)], zones)
    try:
        yield url, engine
    finally:
        engine.dispose()
        if schema is not None:
            admin = connect(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


@pytest.fixture(scope="module")
def api(store: tuple[str, Engine]) -> tuple[FastAPI, dict[str, str]]:
    """The API with the read pipeline in the process, and an admin's key."""
    url, engine = store
    # schemathesis sends invalid credentials to every operation, all from one address: throttling would answer 429
    # past the tenth (tests/integration/api/test_throttle.py), so it is off here
    settings: Settings = load_settings(EXAMPLE, {"SILENTGW_ACCESS__MAX_FAILURES": "0"}).model_copy(
        update={"database_url": url}
    )
    pipeline = Pipeline(settings, engine, clock=lambda: dt.datetime.now(dt.UTC))
    return create_app(settings, engine=engine, pipeline=pipeline), bearer(engine)


def never_500(ctx: object, response: schemathesis.Response, case: Any) -> bool | None:
    """No input may make the server fail: 500 is never an answer (other 5xx only where the document says so:
    ``status_code_conformance`` checks that, e.g. 503 while the gateway or the database is away)."""
    if response.status_code == 500:
        raise AssertionError(f"500 Internal Server Error: {response.text[:500]}")
    return None


def fuzz(app: FastAPI, headers: dict[str, str], *, examples: int, skip: str | None = None) -> tuple[int, list[str]]:
    """Fuzz every operation of ``app``'s document (but the path ``skip``); how many, and what failed."""
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    api_schema = loaded.exclude(path=skip) if skip else loaded
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"an operation the document cannot describe: {result.err()}")
            continue
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            case.call_and_validate(
                headers={**headers, **dict(case.headers or {})},
                excluded_checks=[not_a_server_error, positive_data_acceptance],
                additional_checks=[never_500],
            )

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed; all failures are reported together
            failures.append(f"{operation.label}: {exc}")
    return operations, failures


def test_no_input_gives_a_server_error_or_an_undocumented_answer(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, headers = api
    operations, failures = fuzz(app, headers, examples=EXAMPLES, skip="/api/v1/events/stream")
    assert operations > 60  # the whole document was read
    assert not failures, "\n\n".join(failures)


def test_the_fuzzing_finds_a_server_error_and_an_undocumented_answer() -> None:
    toy = FastAPI()

    @toy.get("/fails")
    def fails(n: int = 0) -> dict[str, int]:
        raise RuntimeError(f"broken for {n}")

    @toy.get("/lies", responses={200: {"description": "a count"}})
    def lies() -> dict[str, int]:
        return {"count": "many"}  # type: ignore[dict-item]

    operations, failures = fuzz(toy, {}, examples=5)
    assert operations == 2
    assert any(f.startswith("GET /fails") and "broken for" in f for f in failures)  # raised through, or a 500
    assert any(f.startswith("GET /lies") for f in failures)


def test_every_operation_taking_a_body_documents_and_gives_the_413(api: tuple[FastAPI, dict[str, str]]) -> None:
    app, headers = api
    limit = Settings().api.max_body_bytes
    too_large = b"[" + b" " * limit + b"]"
    document = app.openapi()
    taking = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(taking) > 15  # every create, update, command and replay
    with TestClient(app, headers=headers) as client:
        for method, path, operation in taking:
            documented = operation["responses"]["413"]["content"]["application/problem+json"]["schema"]
            assert documented == {"$ref": "#/components/schemas/Problem"}, path
            url = re.sub(r"\{[^}]+\}", "x", path)
            answer = client.request(method, url, content=too_large, headers={"content-type": "application/json"})
            assert answer.status_code == 413, (method, path, answer.text)
            assert answer.json()["type"] == "urn:silentgw:problem:too-large"
