"""`GET /api/v1/epc/{hex}`: the decoder over HTTP, with problem+json for what it cannot decode."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from silentgw.gateway.identity import encode_sgtin
from tests.keys import bearer


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(database_url=str(engine.url)), engine=engine), headers=bearer(engine)
    ) as client:
        yield client


def test_the_tds_example_decodes(api: TestClient) -> None:
    body = api.get("/api/v1/epc/3074257bf7194e4000001a85").json()
    assert body["scheme"] == "sgtin-96"
    assert body["filter"] == 3
    assert body["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert body["tag_uri"] == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert (body["gtin"], body["serial"]) == ("80614141123458", "6789")
    assert body["element_string"] == "(01)80614141123458(21)6789"
    assert body["digital_link"] == "https://id.gs1.org/01/80614141123458/21/6789"


@pytest.mark.parametrize(
    ("hex_epc", "slug", "reason"),
    [
        ("3074257BF7194E40", "malformed-epc", "bits"),  # a 96-bit header with 64 bits
        ("30742G7BF7194E4000001A85", "malformed-epc", "hex"),
        ("3074257BF7194E4000001A8", "malformed-epc", ""),  # 92 bits
        ("000000000000000000000000", "invalid-epc", ""),  # unprogrammed
        ("E2801160600002054E3A1A0C", "invalid-epc", ""),  # a TID, not an EPC
        ("307C257BF7194E4000001A85", "invalid-epc", "partition"),  # partition 7
        ("2C74257BF7194E4000001A85", "unsupported-epc-scheme", ""),  # GDTI-96: not decoded
    ],
)
def test_what_cannot_be_decoded_is_a_problem_with_its_reason(
    api: TestClient, hex_epc: str, slug: str, reason: str
) -> None:
    response = api.get(f"/api/v1/epc/{hex_epc}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"urn:silentgw:problem:{slug}"
    assert problem["errors"][0]["field"] == "path.hex_epc"
    assert reason in problem["errors"][0]["message"].lower()


def test_a_plus_epc_gets_its_urn_once_the_catalog_knows_the_company_prefix(api: TestClient) -> None:
    hex_plus = encode_sgtin(gtin="80614141123458", serial="6789", scheme="sgtin+", filter=3)
    before = api.get(f"/api/v1/epc/{hex_plus}").json()
    assert before["scheme"] == "sgtin+"
    assert before["uri"] is None
    assert before["key"] == "(01)80614141123458(21)6789"
    product = {
        "gtin": "80614141123458",
        "sku": "S-1",
        "name": "Gadget",
        "price": "1.00",
        "currency": "EUR",
        "company_prefix": "0614141",
    }
    assert api.post("/api/v1/products", json=product).status_code == 201
    after = api.get(f"/api/v1/epc/{hex_plus}").json()
    assert after["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
