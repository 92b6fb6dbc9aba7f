"""The catalog API on SQLite and PostgreSQL: what a client creating, reading, paging and breaking things sees."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from silentgw.api import create_app
from silentgw.api.app import ROUTERS
from silentgw.api.routes import epcis, health, metrics
from silentgw.gateway.config import Settings

API = "/api/v1"
PROBLEM = "application/problem+json"


def with_check_digit(digits: str) -> str:
    """``digits`` followed by their GS1 mod-10 check digit (weights 3, 1, 3, ... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return digits + str(-total % 10)


def assert_problem(response: httpx.Response, status: int, *, field: str | None = None) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status``, naming ``field`` among its errors when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def created(response: httpx.Response) -> dict[str, Any]:
    """The body of a 201 response."""
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def product(n: int, **extra: Any) -> dict[str, Any]:
    """A valid new product, the ``n``-th of a series."""
    return {
        "gtin": with_check_digit(f"{400638100000 + n:012d}"),
        "sku": f"SKU-{n:03d}",
        "name": f"Product {n}",
        "price": "1.50",
        "currency": "EUR",
        **extra,
    }


def location(client: TestClient, ident: str, **extra: Any) -> dict[str, Any]:
    return created(client.post(f"{API}/locations", json={"id": ident, "name": ident.title(), **extra}))


def zone(client: TestClient, ident: str, where: str, kind: str = "shelf") -> dict[str, Any]:
    body = {"id": ident, "name": ident.title(), "kind": kind, "location": where}
    return created(client.post(f"{API}/zones", json=body))


def reader(ident: str, antennas: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "name": f"Reader {ident}",
        "kind": "reader",
        "driver": {"kind": "uhf-m100", "url": "loop://"},
        "antennas": antennas,
        **extra,
    }


# create, read, list, update, delete ----------------------------------------------------------------------------------


def _no_setup(client: TestClient) -> None:
    pass


def _backroom(client: TestClient) -> None:
    location(client, "backroom", kind="area")


def _backroom_with_zones(client: TestClient) -> None:
    _backroom(client)
    zone(client, "rack-1", "backroom", "backroom")
    zone(client, "dock", "backroom", "dock_door")


@dataclass(frozen=True)
class Resource:
    """One resource of the API, and what a client does with it."""

    path: str
    setup: Callable[[TestClient], None]
    body: dict[str, Any]
    key: str
    patch: dict[str, Any]
    changed: dict[str, Any] = field(default_factory=dict)


RESOURCES = [
    Resource(
        "products",
        _no_setup,
        {"gtin": "4006381333931", "sku": "STB-1", "name": "Pen", "price": "2.49", "currency": "EUR"},
        key="04006381333931",
        patch={"price": "2.99", "name": "Fine pen"},
        changed={"price": "2.99", "name": "Fine pen", "sku": "STB-1"},
    ),
    Resource(
        "locations",
        _no_setup,
        {"id": "backroom", "name": "Backroom", "kind": "area"},
        key="backroom",
        patch={"name": "Back room"},
        changed={"name": "Back room", "kind": "area", "parent": None},
    ),
    Resource(
        "zones",
        _backroom,
        {"id": "rack-1", "name": "Rack 1", "kind": "backroom", "location": "backroom"},
        key="rack-1",
        patch={"kind": "receiving"},
        changed={"kind": "receiving", "name": "Rack 1", "location": "backroom"},
    ),
    Resource(
        "devices",
        _backroom_with_zones,
        reader("reader-1", [{"port": 1, "zone": "rack-1"}], location="backroom"),
        key="reader-1",
        patch={"enabled": False, "antennas": [{"port": 2, "zone": "dock"}, {"port": 1, "zone": "rack-1"}]},
        changed={
            "enabled": False,
            "location": "backroom",
            "antennas": [{"port": 1, "zone": "rack-1"}, {"port": 2, "zone": "dock"}],
        },
    ),
    Resource(
        "members",
        _no_setup,
        {
            "number": "M-0001",
            "name": "Ada",
            "email": "ada@example.org",
            "cards": [{"kind": "em4100", "value": "0a1b2c3d4e"}],
        },
        key="M-0001",
        patch={"phone": "+31 20 123 4567", "email": None},
        changed={
            "phone": "+31 20 123 4567",
            "email": None,
            "name": "Ada",
            "cards": [{"kind": "em4100", "value": "0A1B2C3D4E", "active": True}],
        },
    ),
]


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.path)
def test_create_read_list_update_delete(client: TestClient, resource: Resource) -> None:
    resource.setup(client)
    response = client.post(f"{API}/{resource.path}", json=resource.body)
    body = created(response)
    assert httpx.URL(response.headers["location"]).path == f"{API}/{resource.path}/{resource.key}"

    read = client.get(response.headers["location"])
    assert read.status_code == 200
    assert read.json() == body

    listed = client.get(f"{API}/{resource.path}").json()
    assert body in listed["items"]
    assert listed["next_cursor"] is None

    updated = client.patch(f"{API}/{resource.path}/{resource.key}", json=resource.patch)
    assert updated.status_code == 200, updated.text
    assert {k: updated.json()[k] for k in resource.changed} == resource.changed
    assert client.get(f"{API}/{resource.path}/{resource.key}").json() == updated.json()

    deleted = client.delete(f"{API}/{resource.path}/{resource.key}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(client.get(f"{API}/{resource.path}/{resource.key}"), 404)
    assert_problem(client.delete(f"{API}/{resource.path}/{resource.key}"), 404)
    assert_problem(client.patch(f"{API}/{resource.path}/{resource.key}", json=resource.patch), 404)


def test_a_store_is_set_up_through_the_api_alone(client: TestClient) -> None:
    location(client, "store", kind="site")
    location(client, "floor", kind="area", parent="store")
    location(client, "aisle-1", parent="floor")
    location(client, "backroom", kind="area", parent="store")
    zone(client, "shelf-1a", "aisle-1")
    zone(client, "racks", "backroom", "backroom")
    zone(client, "exit", "floor", "exit")
    antennas = [{"port": 1, "zone": "shelf-1a"}, {"port": 2, "zone": "racks"}, {"port": 3, "zone": "exit"}]
    created(client.post(f"{API}/devices", json=reader("reader-1", antennas, location="store")))
    sensor = {"id": "fridge-1", "kind": "sensor", "driver": {"kind": "sensor-lines", "format": "json"}}
    created(client.post(f"{API}/devices", json={**sensor, "location": "aisle-1"}))
    mug = created(client.post(f"{API}/products", json=product(1, name="Mug", company_prefix="4006381")))
    created(client.post(f"{API}/products", json=product(2, name="Tea")))
    card = {"kind": "em4100", "value": "01004b7f2a"}
    ada = created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada Lovelace", "cards": [card]}))

    assert [loc["id"] for loc in client.get(f"{API}/locations", params={"parent": "store"}).json()["items"]] == [
        "backroom",
        "floor",
    ]
    assert client.get(f"{API}/locations/aisle-1").json()["parent"] == "floor"
    assert client.get(f"{API}/devices/reader-1").json()["antennas"] == antennas
    assert client.get(f"{API}/devices/fridge-1").json()["driver"] == {"kind": "sensor-lines", "format": "json"}
    assert client.get(f"{API}/products/{mug['gtin']}").json()["company_prefix"] == "4006381"
    assert client.get(f"{API}/members/M-1").json()["cards"] == [
        {"kind": "em4100", "value": "01004B7F2A", "active": True}
    ]
    assert ada["points"] == 0
    # the site every location and device belongs to is this gateway's own
    assert {loc["site"] for loc in client.get(f"{API}/locations").json()["items"]} == {Settings().site.id}


# pagination ----------------------------------------------------------------------------------------------------------


def walk(client: TestClient, path: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of ``path``, following ``next_cursor`` to the end."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{API}/{path}", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) <= 10, "next_cursor never runs out"


def test_products_page_in_creation_order(client: TestClient) -> None:
    # GTINs in shuffled order, so creation order is not also GTIN order
    gtins = [
        created(client.post(f"{API}/products", json=product(n)))["gtin"] for n in random.Random(7).sample(range(25), 25)
    ]
    assert gtins != sorted(gtins)
    pages = walk(client, "products", 7)
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [p["gtin"] for page in pages for p in page] == gtins


def test_locations_page_in_id_order_every_row_once(client: TestClient) -> None:
    ids = [f"loc-{n:02d}" for n in range(25)]
    for ident in random.Random(4).sample(ids, len(ids)):
        location(client, ident)
    pages = walk(client, "locations", 7)
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [loc["id"] for page in pages for loc in page] == ids


def test_a_filter_holds_across_pages(client: TestClient) -> None:
    for n in range(12):
        created(client.post(f"{API}/members", json={"number": f"M-{n:02d}", "name": "Ann" if n % 2 else "Bob"}))
    pages = walk(client, "members", 2, q="ann")
    assert [m["number"] for page in pages for m in page] == [f"M-{n:02d}" for n in range(1, 12, 2)]


def test_a_page_exactly_full_is_the_last(client: TestClient) -> None:
    for ident in ("a", "b", "c"):
        location(client, ident)
    page = client.get(f"{API}/locations", params={"limit": 3}).json()
    assert len(page["items"]) == 3
    assert page["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["garbage!!", "Zm9v", "W10", "W3tdXQ", "W3RydWVd", "", "%%%"])
@pytest.mark.parametrize("path", ["products", "locations"])  # an integer key and a string key
def test_a_cursor_the_api_did_not_hand_out_is_refused(client: TestClient, path: str, cursor: str) -> None:
    # "Zm9v" is base64 of "foo", "W10" of "[]", "W3tdXQ" of "[{}]", "W3RydWVd" of "[true]"
    assert_problem(client.get(f"{API}/{path}", params={"cursor": cursor}), 422, field="query.cursor")


def test_a_cursor_from_another_list_is_refused(client: TestClient) -> None:
    for n in range(3):
        created(client.post(f"{API}/products", json=product(n)))
        location(client, f"loc-{n}")
    location_cursor = client.get(f"{API}/locations", params={"limit": 1}).json()["next_cursor"]
    product_cursor = client.get(f"{API}/products", params={"limit": 1}).json()["next_cursor"]
    assert_problem(client.get(f"{API}/products", params={"cursor": location_cursor}), 422, field="query.cursor")
    assert_problem(client.get(f"{API}/members", params={"cursor": location_cursor}), 422, field="query.cursor")
    assert_problem(client.get(f"{API}/locations", params={"cursor": product_cursor}), 422, field="query.cursor")


def test_a_cursor_past_any_integer_key_is_refused(client: TestClient) -> None:
    huge = "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ"  # base64 of [100000000000000000000000]
    assert_problem(client.get(f"{API}/products", params={"cursor": huge}), 422, field="query.cursor")


@pytest.mark.parametrize("limit", ["0", "501", "-1", "seven"])
def test_a_limit_out_of_range_is_refused(client: TestClient, limit: str) -> None:
    assert_problem(client.get(f"{API}/products", params={"limit": limit}), 422, field="query.limit")


# filters -------------------------------------------------------------------------------------------------------------


def test_products_filter_by_part_of_name_sku_or_gtin(client: TestClient) -> None:
    tea = created(client.post(f"{API}/products", json=product(1, name="Green Tea", sku="TEA-GRN")))
    mug = created(client.post(f"{API}/products", json=product(2, name="Mug", sku="MUG-1")))
    created(client.post(f"{API}/products", json=product(3, name="Black tea", sku="TEA-BLK")))

    def found(q: str) -> list[str]:
        return [p["name"] for p in client.get(f"{API}/products", params={"q": q}).json()["items"]]

    assert found("TEA") == ["Green Tea", "Black tea"]
    assert found("mug-") == ["Mug"]
    assert found(mug["gtin"][-6:]) == ["Mug"]
    assert found(tea["gtin"]) == ["Green Tea"]
    assert found("coffee") == []
    # LIKE wildcards a user types are plain characters
    assert found("_") == []
    assert found("%") == []


def test_members_filter_by_part_of_name_number_or_email(client: TestClient) -> None:
    created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada Lovelace", "email": "ada@math.org"}))
    created(client.post(f"{API}/members", json={"number": "M-2", "name": "Alan Turing", "email": "alan@bletchley.uk"}))
    created(client.post(f"{API}/members", json={"number": "X-3", "name": "Grace Hopper"}))

    def found(q: str) -> list[str]:
        return [m["number"] for m in client.get(f"{API}/members", params={"q": q}).json()["items"]]

    assert found("lovelace") == ["M-1"]
    assert found("m-") == ["M-1", "M-2"]
    assert found("BLETCHLEY") == ["M-2"]
    assert found("a") == ["M-1", "M-2", "X-3"]
    assert found("nobody") == []


def test_locations_filter_by_parent_and_kind(client: TestClient) -> None:
    location(client, "store", kind="site")
    location(client, "floor", kind="area", parent="store")
    location(client, "back", kind="area", parent="store")
    location(client, "aisle-1", parent="floor")
    location(client, "aisle-2", parent="floor")

    def ids(**params: str) -> list[str]:
        return [loc["id"] for loc in client.get(f"{API}/locations", params=params).json()["items"]]

    assert ids(parent="store") == ["back", "floor"]
    assert ids(parent="floor") == ["aisle-1", "aisle-2"]
    assert ids(kind="area") == ["back", "floor"]
    assert ids(kind="site") == ["store"]
    assert ids(parent="store", kind="site") == []
    assert ids(parent="nowhere") == []
    assert_problem(client.get(f"{API}/locations", params={"kind": "planet"}), 422, field="query.kind")


def test_zones_and_devices_filter_by_location_and_kind(client: TestClient) -> None:
    location(client, "floor", kind="area")
    location(client, "back", kind="area")
    zone(client, "shelf-1", "floor")
    zone(client, "exit", "floor", "exit")
    zone(client, "racks", "back", "backroom")
    created(client.post(f"{API}/devices", json=reader("r-floor", [{"port": 1, "zone": "shelf-1"}], location="floor")))
    created(client.post(f"{API}/devices", json=reader("r-back", [{"port": 1, "zone": "racks"}], location="back")))
    display = {"id": "d-floor", "kind": "display", "driver": {"kind": "generic-json"}, "location": "floor"}
    created(client.post(f"{API}/devices", json=display))

    def ids(path: str, **params: str) -> list[str]:
        return [row["id"] for row in client.get(f"{API}/{path}", params=params).json()["items"]]

    assert ids("zones", location="floor") == ["exit", "shelf-1"]
    assert ids("zones", kind="backroom") == ["racks"]
    assert ids("zones", location="back", kind="shelf") == []
    assert ids("devices", location="floor") == ["d-floor", "r-floor"]
    assert ids("devices", kind="reader") == ["r-back", "r-floor"]
    assert ids("devices", location="floor", kind="reader") == ["r-floor"]
    assert_problem(client.get(f"{API}/zones", params={"kind": "attic"}), 422, field="query.kind")
    assert_problem(client.get(f"{API}/devices", params={"kind": "toaster"}), 422, field="query.kind")


# products: GTINs -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("4006381333931", "04006381333931"),  # GTIN-13 (EAN-13)
        ("036000291452", "00036000291452"),  # GTIN-12 (UPC-A)
        ("96385074", "00000096385074"),  # GTIN-8 (EAN-8)
        ("10614141000415", "10614141000415"),  # GTIN-14 with an indicator digit
    ],
)
def test_a_gtin_is_stored_as_gtin_14(client: TestClient, typed: str, stored: str) -> None:
    body = created(client.post(f"{API}/products", json={**product(1), "gtin": typed}))
    assert body["gtin"] == stored
    assert client.get(f"{API}/products/{typed}").json() == body
    assert client.get(f"{API}/products/{stored}").json() == body


@pytest.mark.parametrize(
    ("gtin", "message"),
    [
        ("4006381333932", "check digit should be 1"),
        ("400638133393", "check digit should be"),
        ("40063813339311", "check digit"),
        ("4006381", "8, 12, 13 or 14 digits"),
        ("400638133393A", "8, 12, 13 or 14 digits"),
        ("", "8, 12, 13 or 14 digits"),
        ("٤٠٠٦٣٨١٣٣٣٩٣١", "8, 12, 13 or 14 digits"),  # Arabic-Indic digits are digits to str.isdigit
        ("²²²²²²²²", "8, 12, 13 or 14 digits"),
    ],
)
def test_a_bad_gtin_is_a_problem_naming_it(client: TestClient, gtin: str, message: str) -> None:
    problem = assert_problem(client.post(f"{API}/products", json={**product(1), "gtin": gtin}), 422)
    assert problem["errors"][0]["field"] == "body.gtin"
    assert message in problem["errors"][0]["message"]
    assert client.get(f"{API}/products").json()["items"] == []


def test_a_duplicate_gtin_or_sku_is_a_conflict(client: TestClient) -> None:
    first = created(client.post(f"{API}/products", json=product(1)))
    same_gtin = {**product(2), "gtin": first["gtin"][1:]}  # the same GTIN, typed as a GTIN-13
    assert_problem(client.post(f"{API}/products", json=same_gtin), 409, field="body.gtin")
    assert_problem(client.post(f"{API}/products", json={**product(2), "sku": "SKU-001"}), 409, field="body.sku")
    second = created(client.post(f"{API}/products", json=product(2)))
    assert_problem(client.patch(f"{API}/products/{second['gtin']}", json={"sku": "SKU-001"}), 409, field="body.sku")
    assert client.get(f"{API}/products/{second['gtin']}").json()["sku"] == "SKU-002"


def test_a_company_prefix_must_be_inside_the_gtin(client: TestClient) -> None:
    body = product(1, company_prefix="1234567")
    assert_problem(client.post(f"{API}/products", json=body), 422, field="body.company_prefix")
    ok = created(client.post(f"{API}/products", json=product(1, company_prefix="4006381")))
    assert_problem(
        client.patch(f"{API}/products/{ok['gtin']}", json={"company_prefix": "999999"}),
        422,
        field="body.company_prefix",
    )


# references ----------------------------------------------------------------------------------------------------------


def test_a_zone_in_an_unknown_location_is_refused(client: TestClient) -> None:
    body = {"id": "shelf-1", "name": "Shelf", "kind": "shelf", "location": "nowhere"}
    problem = assert_problem(client.post(f"{API}/zones", json=body), 422, field="body.location")
    assert "nowhere" in problem["detail"]
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    assert_problem(client.patch(f"{API}/zones/shelf-1", json={"location": "nowhere"}), 422, field="body.location")
    assert client.get(f"{API}/zones/shelf-1").json()["location"] == "floor"


def test_an_antenna_naming_an_unknown_zone_is_refused(client: TestClient) -> None:
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    antennas = [{"port": 1, "zone": "shelf-1"}, {"port": 2, "zone": "shelf-9"}]
    problem = assert_problem(
        client.post(f"{API}/devices", json=reader("r1", antennas)), 422, field="body.antennas.1.zone"
    )
    assert "shelf-9" in problem["errors"][0]["message"]
    assert_problem(client.get(f"{API}/devices/r1"), 404)

    created(client.post(f"{API}/devices", json=reader("r1", antennas[:1])))
    change = {"name": "Renamed", "antennas": [{"port": 3, "zone": "shelf-9"}]}
    assert_problem(client.patch(f"{API}/devices/r1", json=change), 422, field="body.antennas.0.zone")
    after = client.get(f"{API}/devices/r1").json()
    assert (after["name"], after["antennas"]) == ("Reader r1", antennas[:1])


def test_a_device_at_an_unknown_location_is_refused(client: TestClient) -> None:
    assert_problem(client.post(f"{API}/devices", json=reader("r1", [], location="nowhere")), 422, field="body.location")


def test_only_readers_have_antennas(client: TestClient) -> None:
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    sensor = {"id": "fridge-1", "kind": "sensor", "driver": {"kind": "sensor-lines"}}
    antennas = [{"port": 1, "zone": "shelf-1"}]
    assert_problem(client.post(f"{API}/devices", json={**sensor, "antennas": antennas}), 422, field="body.antennas")
    created(client.post(f"{API}/devices", json=sensor))
    assert_problem(client.patch(f"{API}/devices/fridge-1", json={"antennas": antennas}), 422, field="body.antennas")
    assert client.get(f"{API}/devices/fridge-1").json()["antennas"] == []


def test_antenna_ports_are_unique_per_reader(client: TestClient) -> None:
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    antennas = [{"port": 1, "zone": "shelf-1"}, {"port": 1, "zone": "shelf-1"}]
    problem = assert_problem(client.post(f"{API}/devices", json=reader("r1", antennas)), 422)
    assert "unique" in problem["detail"]


def test_a_location_with_zones_is_not_deleted(client: TestClient) -> None:
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    assert_problem(client.delete(f"{API}/locations/floor"), 409)
    assert client.get(f"{API}/locations/floor").status_code == 200
    assert client.get(f"{API}/zones/shelf-1").json()["location"] == "floor"


def test_a_location_with_children_is_not_deleted(client: TestClient) -> None:
    location(client, "store", kind="site")
    location(client, "floor", parent="store")
    assert_problem(client.delete(f"{API}/locations/store"), 409)
    assert [loc["id"] for loc in client.get(f"{API}/locations").json()["items"]] == ["floor", "store"]


def test_a_zone_an_antenna_looks_at_is_freed_when_its_reader_goes(client: TestClient) -> None:
    location(client, "floor")
    zone(client, "shelf-1", "floor")
    created(client.post(f"{API}/devices", json=reader("r1", [{"port": 1, "zone": "shelf-1"}])))
    assert_problem(client.delete(f"{API}/zones/shelf-1"), 409)
    assert client.delete(f"{API}/devices/r1").status_code == 204
    assert client.delete(f"{API}/zones/shelf-1").status_code == 204
    assert client.delete(f"{API}/locations/floor").status_code == 204


def test_deleting_a_location_detaches_its_devices(client: TestClient) -> None:
    location(client, "floor")
    created(client.post(f"{API}/devices", json=reader("r1", [], location="floor")))
    assert client.delete(f"{API}/locations/floor").status_code == 204
    assert client.get(f"{API}/devices/r1").json()["location"] is None


@pytest.mark.parametrize(
    ("moves", "field"),
    [
        ({"a": "a"}, "body.parent"),  # its own parent
        ({"a": "c"}, "body.parent"),  # c is under b, which is under a
        ({"b": "c"}, "body.parent"),
        ({"a": "nowhere"}, "body.parent"),
    ],
)
def test_a_location_cannot_be_moved_into_a_cycle(client: TestClient, moves: dict[str, str], field: str) -> None:
    location(client, "a")
    location(client, "b", parent="a")
    location(client, "c", parent="b")
    ((moved, parent),) = moves.items()
    assert_problem(client.patch(f"{API}/locations/{moved}", json={"parent": parent}), 422, field=field)
    parents = {loc["id"]: loc["parent"] for loc in client.get(f"{API}/locations").json()["items"]}
    assert parents == {"a": None, "b": "a", "c": "b"}


def test_a_location_moves_to_the_top_with_a_null_parent(client: TestClient) -> None:
    location(client, "a")
    location(client, "b", parent="a")
    moved = client.patch(f"{API}/locations/b", json={"parent": None})
    assert moved.status_code == 200
    assert moved.json()["parent"] is None


def test_a_duplicate_id_is_a_conflict(client: TestClient) -> None:
    location(client, "floor")
    assert_problem(client.post(f"{API}/locations", json={"id": "floor", "name": "Again"}), 409, field="body.id")
    zone(client, "email-desk", "floor")  # an id that happens to contain a column name
    body = {"id": "email-desk", "name": "Again", "kind": "shelf", "location": "floor"}
    assert_problem(client.post(f"{API}/zones", json=body), 409, field="body.id")
    created(client.post(f"{API}/devices", json=reader("sku-gun", [])))
    assert_problem(client.post(f"{API}/devices", json=reader("sku-gun", [])), 409, field="body.id")
    created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada"}))
    assert_problem(client.post(f"{API}/members", json={"number": "M-1", "name": "Bob"}), 409, field="body.number")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("products", {**product(1), "colour": "red"}),
        ("locations", {"id": "a", "name": "A", "colour": "red"}),
        ("zones", {"id": "z", "name": "Z", "kind": "shelf", "location": "a", "colour": "red"}),
        ("devices", {**reader("r", []), "colour": "red"}),
        ("devices", reader("r", [{"port": 1, "zone": "z", "colour": "red"}])),
        ("members", {"number": "M-1", "name": "Ada", "colour": "red"}),
        ("members", {"number": "M-1", "name": "Ada", "cards": [{"kind": "barcode", "value": "1", "colour": "red"}]}),
    ],
)
def test_unknown_fields_are_refused(client: TestClient, path: str, body: dict[str, Any]) -> None:
    problem = assert_problem(client.post(f"{API}/{path}", json=body), 422)
    assert any(e["field"].endswith(".colour") for e in problem["errors"])


@pytest.mark.parametrize(
    ("path", "key", "body"),
    [
        ("products", "04006381333931", {"colour": "red"}),
        ("locations", "a", {"colour": "red"}),
        ("members", "M-1", {"colour": "red"}),
    ],
)
def test_unknown_fields_in_a_patch_are_refused(client: TestClient, path: str, key: str, body: dict[str, Any]) -> None:
    assert_problem(client.patch(f"{API}/{path}/{key}", json=body), 422, field="body.colour")


# members and cards ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0a1b2c3d", "0a1b2c3d4e5f", "0a1b2c3d4g", "0x1b2c3d4e"])
def test_a_malformed_em4100_id_is_refused(client: TestClient, value: str) -> None:
    body = {
        "number": "M-1",
        "name": "Ada",
        "cards": [{"kind": "barcode", "value": "123"}, {"kind": "em4100", "value": value}],
    }
    problem = assert_problem(client.post(f"{API}/members", json=body), 422, field="body.cards.1.value")
    assert "10 hex digits" in problem["detail"]
    assert_problem(client.get(f"{API}/members/M-1"), 404)


def test_a_card_belongs_to_one_member(client: TestClient) -> None:
    card = {"kind": "em4100", "value": "0A1B2C3D4E"}
    created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada", "cards": [card]}))
    other = {
        "number": "M-2",
        "name": "Bob",
        "cards": [{"kind": "barcode", "value": "9"}, {**card, "value": "0a1b2c3d4e"}],
    }
    problem = assert_problem(client.post(f"{API}/members", json=other), 409, field="body.cards.1.value")
    assert "0A1B2C3D4E" in problem["detail"]
    assert_problem(client.get(f"{API}/members/M-2"), 404)

    created(client.post(f"{API}/members", json={"number": "M-2", "name": "Bob"}))
    assert_problem(client.patch(f"{API}/members/M-2", json={"cards": [card]}), 409, field="body.cards.0.value")
    assert client.get(f"{API}/members/M-2").json()["cards"] == []
    # the same value as another kind of card is another card
    assert client.patch(f"{API}/members/M-2", json={"cards": [{**card, "kind": "barcode"}]}).status_code == 200
    # once its holder leaves, the card can be issued again
    assert client.delete(f"{API}/members/M-1").status_code == 204
    assert client.patch(f"{API}/members/M-2", json={"cards": [card]}).json()["cards"][0]["value"] == "0A1B2C3D4E"


def test_a_card_listed_twice_is_refused(client: TestClient) -> None:
    card = {"kind": "barcode", "value": "123"}
    assert_problem(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada", "cards": [card, card]}), 422)


def test_a_member_keeps_their_cards_across_a_patch_that_does_not_name_them(client: TestClient) -> None:
    cards = [{"kind": "barcode", "value": "123"}, {"kind": "epc", "value": "(01)04006381333931(21)7"}]
    created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada", "cards": cards}))
    after = client.patch(f"{API}/members/M-1", json={"name": "Ada L."}).json()
    assert [(c["kind"], c["value"]) for c in after["cards"]] == [(c["kind"], c["value"]) for c in cards]
    cleared = client.patch(f"{API}/members/M-1", json={"cards": []}).json()
    assert cleared["cards"] == []


def test_a_duplicate_email_is_a_conflict(client: TestClient) -> None:
    created(client.post(f"{API}/members", json={"number": "M-1", "name": "Ada", "email": "ada@example.org"}))
    again = {"number": "M-2", "name": "Ada", "email": "ada@example.org"}
    assert_problem(client.post(f"{API}/members", json=again), 409, field="body.email")


# errors are problems -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("PUT", "/api/v1/products", 405),
        ("GET", "/api/v1/products/12", 422),
        ("GET", "/api/v1/zones/none", 404),
        ("GET", "/api/v1/products?limit=x", 422),
    ],
)
def test_every_error_is_a_problem(client: TestClient, method: str, path: str, status: int) -> None:
    body = assert_problem(client.request(method, path), status)
    assert body["instance"] == path.split("?")[0]


def test_a_body_that_is_not_json_is_a_problem(client: TestClient) -> None:
    response = client.post(f"{API}/products", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 422)


# health --------------------------------------------------------------------------------------------------------------


def test_health_and_readiness(client: TestClient, database_url: str) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": database_url.split(":")[0]}


def test_an_unreachable_database_is_a_503_problem() -> None:
    # nothing listens on port 1: the connection is refused at once
    app = create_app(Settings(database_url="postgresql://silentgw@127.0.0.1:1/silentgw"))
    with TestClient(app, headers={"X-API-Key": "sgw_0123456789ab_any"}) as client:  # checking it needs the database
        assert client.get("/healthz").status_code == 200
        for path in ("/readyz", f"{API}/products"):
            response = client.get(path)
            assert_problem(response, 503)
            assert response.headers["retry-after"] == "5"


# the OpenAPI document ------------------------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if isinstance(node.get("$ref"), str) else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_openapi_document_describes_every_route_and_every_error(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    assert {"title", "version"} <= document["info"].keys()

    routers = [(API, r.router) for r in ROUTERS] + [("", health.router), ("", epcis.router), ("", metrics.router)]
    routes = {
        (prefix + route.path.replace(":path}", "}"), method.lower())  # a path converter is not in the document
        for prefix, router in routers
        for route in router.routes
        for method in route.methods
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented

    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(document)
    assert {"type", "title", "status", "detail", "instance", "errors"} <= schemas["Problem"]["properties"].keys()
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref

    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    errors = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (path, method)
            for status, answer in operation["responses"].items():
                if status.startswith("4"):
                    errors += 1
                    assert answer["content"] == problem, (path, method, status)
                    assert answer["description"]
    assert errors > 0
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_the_openapi_document_says_which_errors_each_resource_gives(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"404", "409", "422"} <= paths[f"{API}/products"]["post"]["responses"].keys()
    assert "422" in paths[f"{API}/products/{{gtin}}"]["get"]["responses"]
    assert "201" in paths[f"{API}/products"]["post"]["responses"]
    assert "204" in paths[f"{API}/products/{{gtin}}"]["delete"]["responses"]
