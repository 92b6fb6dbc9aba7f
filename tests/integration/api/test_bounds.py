"""Numbers, times and texts the API takes must fit where they go (a 32-bit ``Integer`` column on PostgreSQL, a
64-bit sequence number, a UTC timestamp, a ``String(32)``), on SQLite and PostgreSQL alike: past that, a 422 (400
for EPCIS, as its binding says) problem+json naming what is at fault, never a 500, a dead stream, or a value stored
that the rules cannot use."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from silentgw.api.routes.restock import MAX_QUANTITY
from silentgw.api.schemas import INT32_MAX
from silentgw.gateway.restock import reorder_quantity

API = "/api/v1"
GTIN = "00614141812349"
OVER_64_BITS = 10**30


def problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def fields(response: httpx.Response, status: int = 422) -> set[str]:
    """The fields a problem names."""
    return {e["field"] for e in problem(response, status)["errors"]}


@pytest.fixture
def product(client: TestClient) -> str:
    """A product and a location to put reorder rules on."""
    client.post(f"{API}/locations", json={"id": "shelf-1", "name": "Shelf"}).raise_for_status()
    client.post(f"{API}/products", json={"gtin": GTIN, "sku": "TEA", "name": "Tea", "price": "2.50",
                                         "currency": "EUR"}).raise_for_status()  # fmt: skip
    return f"{API}/restock/rules/{GTIN}/shelf-1"


@pytest.mark.parametrize(
    ("rule", "at_fault"),
    [
        ({"minimum": 0, "maximum": 2**31}, {"body.maximum"}),  # past the column (SQLite took it)
        ({"minimum": 0, "maximum": OVER_64_BITS}, {"body.maximum"}),  # past SQLite's 64 bits: was a 500
        ({"minimum": 2**31, "maximum": 2**32}, {"body.minimum", "body.maximum"}),
        # each fits the column, but the request's quantity (the shortfall rounded up to the multiple) would not
        ({"minimum": 0, "maximum": INT32_MAX, "multiple": INT32_MAX}, {"body.maximum", "body.multiple"}),
        ({"minimum": 0, "maximum": 10, "multiple": INT32_MAX}, {"body.multiple"}),
    ],
)
def test_a_reorder_rule_whose_quantity_would_not_fit_is_refused(
    client: TestClient, product: str, rule: dict[str, int], at_fault: set[str]
) -> None:
    assert fields(client.put(product, json=rule)) == at_fault
    assert client.get(f"{API}/restock/rules").json()["items"] == []


def test_the_largest_reorder_rule_taken_orders_a_quantity_that_fits(client: TestClient, product: str) -> None:
    # the largest order: the shelf empty, and the maximum just past one multiple, so two are ordered
    largest = {"minimum": 0, "maximum": MAX_QUANTITY, "multiple": MAX_QUANTITY - 1}
    assert client.put(product, json=largest).status_code == 200
    (stored,) = client.get(f"{API}/restock/rules").json()["items"]
    rule = {k: stored[k] for k in ("minimum", "maximum", "multiple")}
    assert rule == largest
    assert reorder_quantity(0, **rule) == 2 * (MAX_QUANTITY - 1) <= INT32_MAX


@pytest.mark.parametrize(
    ("headers", "params", "at_fault"),
    [
        ({"Last-Event-ID": "9" * 30}, {}, "header.Last-Event-ID"),  # killed the stream after its 200
        ({"Last-Event-ID": "9223372036854775808"}, {}, "header.Last-Event-ID"),  # 2**63: one past the column
        ({"Last-Event-ID": "²".encode("latin-1")}, {}, "header.Last-Event-ID"),  # a digit to isdigit, not to int()
        ({"Last-Event-ID": "yesterday"}, {}, "header.Last-Event-ID"),
        ({}, {"since_seq": OVER_64_BITS}, "query.since_seq"),
    ],
)
def test_a_resume_point_past_the_sequence_numbers_is_a_422(
    client: TestClient, headers: dict[str, Any], params: dict[str, Any], at_fault: str
) -> None:
    assert fields(client.get(f"{API}/events/stream", headers=headers, params=params)) == {at_fault}
    # the staff page's feed takes the same resume points
    assert client.get("/ui/events/stream", params={"since_seq": OVER_64_BITS}).status_code == 422


@pytest.mark.parametrize(
    ("path", "params", "at_fault"),
    [
        ("/events", {"since": "9999-12-31T23:30:00-01:00"}, "query.since"),  # year 10000 in UTC
        ("/events", {"until": "0001-01-01T00:30:00+01:00"}, "query.until"),  # year 0 in UTC
        ("/sensors/fridge-1/history", {"to": "0001-01-01T00:00:00Z"}, "query.from"),  # a day before it: year 0
        ("/sensors/fridge-1/history", {"to": "9999-12-31T23:30:00-01:00"}, "query.to"),
        ("/sensors/fridge-1/history", {"step": 60 * 10**28}, "query.step"),
    ],
)
def test_times_and_steps_out_of_range_are_a_422(
    client: TestClient, path: str, params: dict[str, str], at_fault: str
) -> None:
    assert fields(client.get(API + path, params=params)) == {at_fault}


def test_a_replay_point_out_of_range_is_a_422(client: TestClient) -> None:
    hook = client.post(f"{API}/webhooks", json={"url": "https://erp.example/hook"}).json()
    replay = f"{API}/webhooks/{hook['id']}/replay"
    assert fields(client.post(replay, json={"after_seq": OVER_64_BITS})) == {"body.after_seq"}
    assert fields(client.post(replay, json={"since": "0001-01-01T00:30:00+01:00"})) == {"body.since"}
    assert client.post(replay, json={"after_seq": 2**63 - 1}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"nextPageToken": base64.urlsafe_b64encode(b"after:" + b"9" * 30).decode()},  # was a 500 on SQLite
        {"nextPageToken": base64.urlsafe_b64encode("after:²".encode()).decode()},
        {"perPage": "²"},
    ],
)
def test_epcis_paging_out_of_range_is_a_400_query_parameter_exception(
    client: TestClient, params: dict[str, str]
) -> None:
    body = problem(client.get("/epcis/events", params=params), 400)
    assert body["type"] == "epcisException:QueryParameterException"


def test_an_epcis_page_size_of_any_length_is_served_at_the_servers_limit(client: TestClient) -> None:
    assert client.get("/epcis/events", params={"perPage": "9" * 5000}).status_code == 200


def test_texts_and_prices_fit_their_columns(client: TestClient) -> None:
    # members.phone is String(32): a "+" and 32 digits were taken by SQLite and refused by PostgreSQL
    phone = client.post(f"{API}/members", json={"number": "M-1", "name": "Ann", "phone": "+" + "1" * 32})
    assert fields(phone) == {"body.phone"}
    # a display's price as the catalog keeps prices (12 digits, 2 after the point), checked before the device is
    command = {"command": "display", "text": "Tea", "price": "1e999999", "currency": "EUR"}
    assert fields(client.post(f"{API}/devices/shelf-display/commands", json=command)) == {"body.price"}
