"""`GET /epcis/events`: the EPCIS 2.0 query interface over events written through the real outbox, on SQLite and
PostgreSQL; every document it answers is checked against GS1's EPCIS 2.0 JSON Schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from silentgw.api import create_app
from silentgw.gateway.config import Settings
from silentgw.gateway.events import Event, event_id, item_event, stock_changed
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.store import outbox
from tests.epcis_schema import assert_valid
from tests.keys import bearer

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)
GTIN = "80614141123458"
SHELF_GLN = "0614141073467"


def tag(serial: int) -> str:
    return encode_sgtin(gtin=GTIN, serial=str(serial), filter=1, company_prefix_length=7)


def urn(serial: int) -> str:
    return f"urn:epc:id:sgtin:0614141.812345.{serial}"


def moves(serial: int, *steps: tuple[str, str | None, str | None, str | None]) -> list[Event]:
    """An item's movements, a minute apart: (reason, zone, from, to) each."""
    return [
        item_event(f"{reason}:{serial}:{i}", reason=reason, item=f"(01){GTIN}(21){serial}", time=T0 + dt.timedelta(
            minutes=serial * 10 + i), epc=tag(serial), gtin=GTIN, from_location=source, to_location=to, zone=zone)
        for i, (reason, zone, source, to) in enumerate(steps)
    ]  # fmt: skip


EVENTS = [
    *moves(1, ("received", "receiving", None, "backroom"), ("moved", "shelf-1a", "backroom", "aisle-1"),
           ("sold", "checkout-1", "aisle-1", None)),
    stock_changed("c1", gtin=GTIN, location="aisle-1", quantity=0, time=T0 + dt.timedelta(minutes=13)),
    *moves(2, ("commissioned", "shelf-1a", None, "aisle-1"), ("missing", "shelf-1a", "aisle-1", None)),
    Event(event_id("silentgw.sensor.alert", "f1"), "silentgw.sensor.alert", "fridge-1", T0 + dt.timedelta(minutes=25),
          {"sensor": "fridge-1", "quantity": "temperature", "value": 9.5, "unit": "CEL", "threshold": 7.0,
           "location": "aisle-1", "zone": "shelf-1a", "items": [tag(2)]}),
    *moves(3, ("received", "dock-door", None, "backroom"), ("shipped", "dock-door", "backroom", None)),
]  # fmt: skip
EPCIS_COUNT = len(EVENTS) - 1  # all but the stock level


@pytest.fixture
def api(engine: Engine) -> Iterator[TestClient]:
    """The API of a small store whose shelf has a GLN, with the events above written through the outbox."""
    settings = Settings(
        database_url=str(engine.url),
        site={"id": "store-1", "timezone": "Europe/Amsterdam"},
        locations=[{"id": "aisle-1", "name": "Aisle 1", "gln": SHELF_GLN},
                   {"id": "backroom", "name": "Backroom"}, {"id": "front", "name": "Front"}],
        zones=[{"id": "shelf-1a", "name": "Shelf", "kind": "shelf", "location": "aisle-1", "gln": SHELF_GLN,
                "gln_extension": "1"},
               {"id": "receiving", "name": "Bay", "kind": "receiving", "location": "backroom"},
               {"id": "dock-door", "name": "Dock", "kind": "dock_door", "location": "backroom"},
               {"id": "checkout-1", "name": "Till", "kind": "checkout", "location": "front"}],
    )  # fmt: skip
    with engine.begin() as conn:
        assert outbox.append(conn, EVENTS) == len(EVENTS)
    with TestClient(create_app(settings, engine=engine), headers=bearer(engine)) as client:
        product = {"gtin": GTIN, "sku": "S-1", "name": "Gadget", "price": "1.00", "currency": "EUR",
                   "company_prefix": "0614141"}  # fmt: skip
        assert client.post("/api/v1/products", json=product).status_code == 201  # the prefix SGLN URNs need
        yield client


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The events of a query answer, after checking it is a valid EPCIS 2.0 query document."""
    assert response.status_code == 200, response.text
    document = response.json()
    assert_valid(document)
    assert document["type"] == "EPCISQueryDocument"
    events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return events


def test_all_item_and_sensor_events_in_the_order_they_were_written(api: TestClient) -> None:
    response = api.get("/epcis/events")
    events = events_of(response)
    assert response.headers["content-type"] == "application/ld+json"
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    assert "Link" not in response.headers
    assert [(e["bizStep"], e["epcList"]) for e in events] == [
        ("receiving", [urn(1)]), ("stocking", [urn(1)]), ("retail_selling", [urn(1)]),
        ("commissioning", [urn(2)]), ("cycle_counting", [urn(2)]), ("sensor_reporting", [urn(2)]),
        ("receiving", [urn(3)]), ("shipping", [urn(3)]),
    ]  # fmt: skip
    stocked = events[1]
    assert stocked["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.1"}
    assert stocked["bizLocation"] == {"id": "urn:epc:id:sgln:0614141.07346.0"}
    assert stocked["eventTime"] == "2024-03-01T10:11:00.000+01:00"
    assert events[5]["sensorElementList"][0]["sensorReport"][0]["exception"] == "ALARM_CONDITION"


def test_digital_links_when_the_client_asks_for_them(api: TestClient) -> None:
    as_urns = events_of(api.get("/epcis/events"))
    as_links = events_of(api.get("/epcis/events", headers={"GS1-EPC-Format": "Always_GS1_Digital_Link"}))
    assert as_links[1]["epcList"] == [f"https://id.gs1.org/01/{GTIN}/21/1"]
    assert as_links[1]["readPoint"] == {"id": f"https://id.gs1.org/414/{SHELF_GLN}/254/1"}
    assert [e["eventID"] for e in as_links] == [e["eventID"] for e in as_urns]


def test_plain_json_for_a_client_that_accepts_only_that(api: TestClient) -> None:
    response = api.get("/epcis/events", headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    assert len(events_of(response)) == EPCIS_COUNT


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"eventType": "ObjectEvent"}, EPCIS_COUNT),
        ({"eventType": "AggregationEvent|TransactionEvent"}, 0),
        ({"EQ_bizStep": "shipping|retail_selling"}, 2),
        ({"EQ_bizStep": "urn:epcglobal:cbv:bizstep:receiving"}, 2),
        ({"MATCH_epc": tag(2)}, 3),  # the commissioning, the miss and the alert naming it
        ({"MATCH_epc": urn(3)}, 2),
        ({"MATCH_epc": f"https://id.gs1.org/01/{GTIN}/21/1|{urn(3)}"}, 5),
        ({"MATCH_epc": "urn:epc:idpat:sgtin:0614141.812345.*"}, EPCIS_COUNT),
        ({"EQ_bizLocation": "urn:epc:id:sgln:0614141.07346.0"}, 3),  # counted in aisle 1 afterwards
        ({"EQ_bizLocation": "urn:silentgw:store-1:location:backroom"}, 2),
        ({"GE_eventTime": "2024-03-01T10:20:00+01:00", "LT_eventTime": "2024-03-01T09:30:00Z"}, 3),
    ],
)
def test_the_standard_query_parameters_filter(api: TestClient, params: dict[str, str], expected: int) -> None:
    assert len(events_of(api.get("/epcis/events", params=params))) == expected


def test_pages_follow_the_link_header_to_the_end(api: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/epcis/events?perPage=3&EQ_bizStep=receiving|stocking|retail_selling|shipping|commissioning"
    pages = 0
    while url is not None:
        response = api.get(url)
        page = events_of(response)
        assert len(page) <= 3
        seen += [e["eventID"] for e in page]
        link = response.headers.get("Link")
        url = link.split(">")[0].lstrip("<") if link else None
        if url is not None:
            assert link is not None
            assert link.endswith('; rel="next"')
            assert "perPage=3" in url
            assert "EQ_bizStep=" in url
        pages += 1
    assert pages == 2
    everything = [e["eventID"] for e in events_of(api.get("/epcis/events"))]
    assert seen == [everything[i] for i in (0, 1, 2, 3, 6, 7)]


def test_one_event_by_its_event_id(api: TestClient) -> None:
    wanted = events_of(api.get("/epcis/events", params={"EQ_bizStep": "shipping"}))[0]
    response = api.get(f"/epcis/events/{quote(wanted['eventID'], safe='')}")
    assert events_of(response) == [wanted]


def test_an_unknown_event_id_is_not_found(api: TestClient) -> None:
    missing = quote("ni:///sha-256;" + "0" * 64 + "?ver=CBV2.0", safe="")
    response = api.get(f"/epcis/events/{missing}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "epcisException:NoSuchNameException"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("EQ_bizstep=shipping", "EQ_bizstep"),
        ("GE_eventTime=yesterday", "GE_eventTime"),
        ("perPage=0", "perPage"),
        ("nextPageToken=bm90LWEtdG9rZW4", "nextPageToken"),
        ("MATCH_epc=30742G7BF7194E4000001A85", "MATCH_epc"),
    ],
)
def test_a_bad_parameter_is_a_query_parameter_exception(api: TestClient, query: str, parameter: str) -> None:
    response = api.get(f"/epcis/events?{query}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "epcisException:QueryParameterException"
    assert problem["errors"][0]["field"] == f"query.{parameter}"
