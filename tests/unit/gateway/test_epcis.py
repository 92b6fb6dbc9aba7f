"""EPCIS 2.0 of silentgw's events: the CBV mapping per reason, identifiers as URNs or Digital Links, sensor alerts,
the CBV 2.0 event hash against the reference implementation's vectors, and the query parameters.

Every event rendered here is checked against GS1's EPCIS 2.0 JSON Schema.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import silentgw
from silentgw.gateway import epcis
from silentgw.gateway.config import LocationSettings, Settings, ZoneSettings
from silentgw.gateway.epcis.links import canonical
from silentgw.gateway.events import Event, StoredEvent, event_id, item_event, stock_changed
from silentgw.gateway.identity import CompanyPrefixes, encode_sgtin
from tests.epcis_schema import DATA, assert_valid, schema_errors

TDS_HEX = "3074257BF7194E4000001A85"  # the TDS example: SGTIN-96 of GTIN 80614141123458, serial 6789
TDS_URN = "urn:epc:id:sgtin:0614141.812345.6789"
TDS_LINK = "https://id.gs1.org/01/80614141123458/21/6789"
TDS_KEY = "(01)80614141123458(21)6789"
WINTER = dt.datetime(2024, 1, 15, 10, 0, 0, 123000, tzinfo=dt.UTC)

SETTINGS = Settings(
    site={"id": "store-1", "name": "Corner Store", "timezone": "Europe/Amsterdam"},
    locations=[
        {"id": "store", "name": "Store", "kind": "site"},
        {"id": "aisle-1", "name": "Aisle 1", "parent": "store", "gln": "0614141073467"},
        {"id": "backroom", "name": "Backroom", "kind": "area", "parent": "store"},
        {"id": "front", "name": "Front", "kind": "area", "parent": "store"},
    ],
    zones=[
        {"id": "shelf-1a", "name": "Shelf", "kind": "shelf", "location": "aisle-1", "gln": "0614141073467",
         "gln_extension": "1"},
        {"id": "stockroom", "name": "Racks", "kind": "backroom", "location": "backroom"},
        {"id": "receiving", "name": "Bay", "kind": "receiving", "location": "backroom"},
        {"id": "pack", "name": "Packing", "kind": "pack_station", "location": "backroom"},
        {"id": "dock-door", "name": "Dock", "kind": "dock_door", "location": "backroom"},
        {"id": "checkout-1", "name": "Till", "kind": "checkout", "location": "front"},
        {"id": "exit", "name": "Exit", "kind": "exit", "location": "front"},
    ],
)  # fmt: skip
PREFIXES = CompanyPrefixes.of(["0614141"])
SITE = epcis.Site.of(SETTINGS, prefixes=PREFIXES)


def stored(event: Event, seq: int = 1) -> StoredEvent:
    """An event as the outbox hands it to its readers."""
    return StoredEvent(seq, event.id, event.type, event.subject, event.time, event.data)


def movement(
    reason: str,
    *,
    zone: str | None = "shelf-1a",
    to: str | None = "aisle-1",
    source: str | None = None,
    epc: str | None = TDS_HEX,
    time: dt.datetime = WINTER,
) -> StoredEvent:
    """The stored event of one ledger movement, made by the ledger's own event function."""
    event = item_event(f"{reason}:{zone}:{time}", reason=reason, item=TDS_KEY, time=time, epc=epc,
                       gtin="80614141123458", from_location=source, to_location=to, zone=zone)  # fmt: skip
    return stored(event)


def sensor(kind: str = "alert", **data: Any) -> StoredEvent:
    """A sensor alert (or its clearing) as the rules will write it."""
    fields = {"sensor": "fridge-1", "quantity": "temperature", "value": 9.5, "unit": "CEL", "threshold": 7.0,
              "location": "aisle-1", "zone": "shelf-1a", "items": [TDS_HEX], **data}  # fmt: skip
    type_ = f"silentgw.sensor.{kind}"
    return stored(Event(event_id(type_, f"fridge-1@{WINTER}"), type_, "fridge-1", WINTER, fields))


def render(event: StoredEvent, site: epcis.Site = SITE, identifiers: epcis.Identifiers = "urn") -> dict[str, Any]:
    """The EPCIS event of ``event``, after checking that a document carrying it is valid EPCIS 2.0."""
    rendered = epcis.object_event(event, site, identifiers=identifiers)
    assert rendered is not None
    assert_valid(epcis.capture_document([rendered], created=WINTER))
    return rendered


# -- the validator itself ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["Example_9.6.1-ObjectEvent.jsonld", "SensorDataExample1.jsonld"])
def test_the_standards_own_examples_pass_the_schema(example: str) -> None:
    assert schema_errors(json.loads((DATA / example).read_text(encoding="utf-8"))) == []


def test_the_schema_refuses_a_read_point_that_is_no_uri() -> None:
    document = json.loads((DATA / "Example_9.6.1-ObjectEvent.jsonld").read_text(encoding="utf-8"))
    document["epcisBody"]["eventList"][0]["readPoint"]["id"] = "aisle 1"
    assert any("readPoint" in error for error in schema_errors(document))


# -- the CBV 2.0 event hash --------------------------------------------------------------------------------------------


def _vectors() -> list[Any]:
    cases = []
    for document in sorted((DATA / "hash-vectors").glob("*.jsonld")):
        data = json.loads(document.read_text(encoding="utf-8"))
        hashes = document.with_suffix(".hashes").read_text(encoding="utf-8").split()
        prehashes_file = document.with_suffix(".prehashes")
        prehashes = prehashes_file.read_text(encoding="utf-8").splitlines() if prehashes_file.exists() else None
        context = epcis.namespaces(data["@context"])
        for i, (event, expected) in enumerate(zip(data["epcisBody"]["eventList"], hashes, strict=True)):
            expected_prehash = prehashes[i] if prehashes else None
            cases.append(pytest.param(event, context, expected, expected_prehash, id=f"{document.stem}-{i}"))
    return cases


@pytest.mark.parametrize(("event", "context", "expected", "expected_prehash"), _vectors())
def test_the_hash_reproduces_the_reference_implementations_vectors(
    event: dict[str, Any], context: dict[str, str], expected: str, expected_prehash: str | None
) -> None:
    if expected_prehash is not None:  # compared first: a difference here says where the hash goes wrong
        assert epcis.prehash(event, context=context) == expected_prehash
    assert epcis.event_hash(event, context=context) == expected


def test_there_are_vectors_for_every_event_type_and_sensor_data() -> None:
    events = [p.values[0] for p in _vectors()]
    assert len(events) >= 20
    assert {e["type"] for e in events} == {"ObjectEvent", "AggregationEvent", "TransactionEvent",
                                           "TransformationEvent"}  # fmt: skip
    assert any("sensorElementList" in e for e in events)


def test_the_hash_does_not_depend_on_list_order_or_identifier_spelling() -> None:
    event = {"type": "ObjectEvent", "eventTime": "2024-01-15T11:00:00.000+01:00", "eventTimeZoneOffset": "+01:00",
             "epcList": [TDS_URN, "urn:epc:id:sgtin:0614141.812345.6790"], "action": "OBSERVE", "bizStep": "shipping",
             "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.0"}}  # fmt: skip
    respelled = {**event, "eventTime": "2024-01-15T10:00:00Z", "bizStep": "urn:epcglobal:cbv:bizstep:shipping",
                 "epcList": ["https://id.gs1.org/01/80614141123458/21/6790", TDS_LINK],
                 "readPoint": {"id": "https://example.com/414/0614141073467"}}  # fmt: skip
    assert epcis.event_hash(respelled) == epcis.event_hash(event)


@pytest.mark.parametrize(
    "change",
    [
        {"bizStep": "receiving"},
        {"eventTime": "2024-01-15T11:00:00.001+01:00"},
        {"epcList": [TDS_URN]},
        {"disposition": "in_transit"},
        {"readPoint": {"id": "urn:epc:id:sgln:0614141.07346.1"}},
    ],
)
def test_any_change_of_the_event_changes_its_hash(change: dict[str, Any]) -> None:
    event = {"type": "ObjectEvent", "eventTime": "2024-01-15T11:00:00.000+01:00", "eventTimeZoneOffset": "+01:00",
             "epcList": [TDS_URN, "urn:epc:id:sgtin:0614141.812345.6790"], "action": "OBSERVE", "bizStep": "shipping",
             "readPoint": {"id": "urn:epc:id:sgln:0614141.07346.0"}}  # fmt: skip
    assert epcis.event_hash({**event, **change}) != epcis.event_hash(event)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("urn:epc:id:sgln:0614141.07346.0", "https://id.gs1.org/414/0614141073467"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:idpat:sgtin:0614141.812345.*", "https://id.gs1.org/01/80614141123458"),
        ("https://brand.example/products/01/614141123458/10/L1/21/6789?x=1", "https://id.gs1.org/01/00614141123458/21/6789"),
        ("https://www.ncbi.nlm.nih.gov/taxonomy/1126011", "https://www.ncbi.nlm.nih.gov/taxonomy/1126011"),
        ("urn:silentgw:store-1:zone:exit", "urn:silentgw:store-1:zone:exit"),
    ],
)  # fmt: skip
def test_identifiers_are_compared_as_canonical_digital_links(uri: str, expected: str) -> None:
    assert canonical(uri) == expected


# -- item events: the CBV mapping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "zone", "source", "to", "expected"),
    [
        ("commissioned", "shelf-1a", None, "aisle-1", ("ADD", "commissioning", "active")),
        ("received", "receiving", None, "backroom", ("OBSERVE", "receiving", "in_progress")),
        ("moved", "shelf-1a", "backroom", "aisle-1", ("OBSERVE", "stocking", "sellable_accessible")),
        ("moved", "stockroom", "aisle-1", "backroom", ("OBSERVE", "storing", "sellable_not_accessible")),
        ("moved", "pack", "aisle-1", "backroom", ("OBSERVE", "picking", "in_progress")),
        ("moved", "dock-door", "aisle-1", "backroom", ("OBSERVE", "staging_outbound", "in_progress")),
        ("moved", "checkout-1", "aisle-1", "front", ("OBSERVE", None, "sellable_accessible")),
        ("sold", "checkout-1", "front", None, ("OBSERVE", "retail_selling", "retail_sold")),
        ("shipped", "dock-door", "backroom", None, ("OBSERVE", "shipping", "in_transit")),
        ("missing", "exit", "front", None, ("OBSERVE", "cycle_counting", "unknown")),
        ("found", "stockroom", None, "backroom", ("OBSERVE", "cycle_counting", "sellable_not_accessible")),
        ("found", "shelf-1a", None, "aisle-1", ("OBSERVE", "cycle_counting", "sellable_accessible")),
    ],
)
def test_each_reason_has_its_action_business_step_and_disposition(
    reason: str, zone: str, source: str | None, to: str | None, expected: tuple[str, str | None, str]
) -> None:
    event = render(movement(reason, zone=zone, source=source, to=to))
    assert (event["action"], event.get("bizStep"), event.get("disposition")) == expected
    assert event["type"] == "ObjectEvent"
    assert event["epcList"] == [TDS_URN]
    assert event["readPoint"]["id"] == (
        "urn:epc:id:sgln:0614141.07346.1" if zone == "shelf-1a" else f"urn:silentgw:store-1:zone:{zone}"
    )
    # The business location is where the item is counted afterwards: none once it has left.
    assert ("bizLocation" in event) == (to is not None)


def test_an_event_names_its_locations_by_gln_and_the_others_by_the_sites_own_uris() -> None:
    on_shelf = render(movement("moved", zone="shelf-1a", source="backroom", to="aisle-1"))
    assert on_shelf["bizLocation"] == {"id": "urn:epc:id:sgln:0614141.07346.0"}
    in_back = render(movement("moved", zone="stockroom", source="aisle-1", to="backroom"))
    assert in_back["readPoint"] == {"id": "urn:silentgw:store-1:zone:stockroom"}
    assert in_back["bizLocation"] == {"id": "urn:silentgw:store-1:location:backroom"}


def test_digital_links_when_asked_and_the_same_event_id() -> None:
    event = movement("moved", zone="shelf-1a", source="backroom", to="aisle-1")
    as_urns, as_links = render(event, identifiers="urn"), render(event, identifiers="dl")
    assert as_links["epcList"] == [TDS_LINK]
    assert as_links["readPoint"] == {"id": "https://id.gs1.org/414/0614141073467/254/1"}
    assert as_links["bizLocation"] == {"id": "https://id.gs1.org/414/0614141073467"}
    assert as_links["eventID"] == as_urns["eventID"]
    assert as_urns["eventID"].startswith("ni:///sha-256;")
    assert as_urns["eventID"].endswith("?ver=CBV2.0")
    assert as_urns["eventID"] == epcis.event_hash({k: v for k, v in as_links.items() if k != "eventID"})


def test_different_events_have_different_ids() -> None:
    ids = {render(movement(reason))["eventID"] for reason in ("commissioned", "moved", "found")}
    later = render(movement("moved", time=WINTER + dt.timedelta(seconds=1)))["eventID"]
    assert len(ids | {later}) == 4


def test_without_a_known_company_prefix_a_gln_is_written_as_a_digital_link() -> None:
    site = epcis.Site.of(SETTINGS)  # the catalog knows no prefixes
    event = render(movement("moved", zone="shelf-1a", source="backroom", to="aisle-1"), site=site)
    assert event["readPoint"] == {"id": "https://id.gs1.org/414/0614141073467/254/1"}
    assert event["epcList"] == [TDS_URN]  # an SGTIN-96 carries its own prefix length


def test_a_plus_epc_of_an_unknown_prefix_is_named_by_its_digital_link() -> None:
    plus = encode_sgtin(gtin="80614141123458", serial="6789", scheme="sgtin+")
    assert render(movement("moved", epc=plus), site=epcis.Site.of(SETTINGS))["epcList"] == [TDS_LINK]
    assert render(movement("moved", epc=plus))["epcList"] == [TDS_URN]  # the catalog knows 0614141


def test_an_item_without_a_stored_epc_is_named_by_its_gs1_key() -> None:
    assert render(movement("sold", zone=None, to=None, epc=None))["epcList"] == [TDS_LINK]


def test_event_time_is_local_with_the_sites_offset() -> None:
    winter = render(movement("moved"))
    assert (winter["eventTime"], winter["eventTimeZoneOffset"]) == ("2024-01-15T11:00:00.123+01:00", "+01:00")
    summer = render(movement("moved", time=dt.datetime(2024, 7, 1, 22, 30, tzinfo=dt.UTC)))
    assert (summer["eventTime"], summer["eventTimeZoneOffset"]) == ("2024-07-02T00:30:00.000+02:00", "+02:00")


def test_events_that_are_no_epcis_events_are_left_out() -> None:
    changed = stock_changed("c1", gtin="80614141123458", location="aisle-1", quantity=3, time=WINTER)
    assert epcis.object_event(stored(changed), SITE) is None


# -- sensor events -------------------------------------------------------------------------------------------------


def test_a_sensor_alert_carries_its_reading_as_sensor_data() -> None:
    event = render(sensor("alert"))
    assert event["action"] == "OBSERVE"
    assert event["bizStep"] == "sensor_reporting"
    assert event["epcList"] == [TDS_URN]
    assert event["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.1"}
    assert event["bizLocation"] == {"id": "urn:epc:id:sgln:0614141.07346.0"}
    (element,) = event["sensorElementList"]
    assert element["sensorMetadata"] == {"time": "2024-01-15T11:00:00.123+01:00",
                                         "deviceID": "urn:silentgw:store-1:device:fridge-1"}  # fmt: skip
    assert element["sensorReport"] == [{"type": "Temperature", "exception": "ALARM_CONDITION", "value": 9.5,
                                        "uom": "CEL"}]  # fmt: skip


def test_a_cleared_alert_is_the_reading_without_the_alarm() -> None:
    (element,) = render(sensor("cleared", value=5.0))["sensorElementList"]
    assert element["sensorReport"] == [{"type": "Temperature", "value": 5.0, "uom": "CEL"}]


def test_sensor_units_as_drivers_write_them_become_un_cefact_codes() -> None:
    (element,) = render(sensor(quantity="humidity", unit="%", value=81))["sensorElementList"]
    assert element["sensorReport"][0] == {"type": "RelativeHumidity", "exception": "ALARM_CONDITION", "value": 81,
                                          "uom": "P1"}  # fmt: skip
    (element,) = render(sensor(unit="°C"))["sensorElementList"]
    assert element["sensorReport"][0]["uom"] == "CEL"


def test_a_quantity_without_a_gs1_type_gets_the_sites_own_and_no_items_is_an_empty_list() -> None:
    event = render(sensor(quantity="door ajar", unit="s", items=[], zone=None))
    assert event["epcList"] == []
    assert event["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.0"}  # no zone: the location
    assert event["sensorElementList"][0]["sensorReport"][0]["type"] == "urn:silentgw:store-1:quantity:door%20ajar"


# -- documents ---------------------------------------------------------------------------------------------------------


def test_a_capture_document_has_the_standard_context_and_the_events_in_order() -> None:
    events = [render(movement(r)) for r in ("commissioned", "moved", "sold")]
    document = epcis.capture_document(events, created=WINTER)
    assert document["@context"] == ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    assert (document["type"], document["schemaVersion"]) == ("EPCISDocument", "2.0")
    assert document["creationDate"] == "2024-01-15T10:00:00.123Z"
    assert document["epcisBody"]["eventList"] == events
    assert_valid(document)


def test_a_query_document_holds_the_results_under_a_query_name() -> None:
    events = [render(movement("moved")), render(sensor())]
    document = epcis.query_document(events, created=WINTER)
    assert document["type"] == "EPCISQueryDocument"
    assert document["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == events
    assert_valid(document)


# -- query parameters --------------------------------------------------------------------------------------------------


def test_query_parameters_are_read_as_the_rest_binding_writes_them() -> None:
    query = epcis.Query.parse([
        ("eventType", "ObjectEvent"), ("GE_eventTime", "2024-01-15T11:00:00+01:00"),
        ("LT_eventTime", "2024-01-16T00:00:00Z"), ("EQ_bizStep", "shipping|urn:epcglobal:cbv:bizstep:receiving"),
        ("MATCH_epc", TDS_HEX), ("MATCH_epc", "urn:epc:idpat:sgtin:0614141.812346.*"), ("perPage", "2"),
    ])  # fmt: skip
    assert query.event_types == frozenset({"ObjectEvent"})
    assert query.ge_event_time == dt.datetime(2024, 1, 15, 10, tzinfo=dt.UTC)
    assert query.biz_steps == frozenset(
        {"https://ref.gs1.org/cbv/BizStep-shipping", "https://ref.gs1.org/cbv/BizStep-receiving"}
    )
    assert query.epcs == {TDS_LINK}
    assert query.per_page == 2


@pytest.mark.parametrize("epc", [TDS_HEX, TDS_URN, TDS_LINK, "urn:epc:idpat:sgtin:0614141.812345.*"])
def test_match_epc_finds_an_item_however_its_epc_is_written(epc: str) -> None:
    query = epcis.Query.parse([("MATCH_epc", epc)])
    assert query.matches(render(movement("moved"), identifiers="dl"))
    assert query.matches(render(movement("moved"), identifiers="urn"))
    other = epcis.Query.parse([("MATCH_epc", "urn:epc:id:sgtin:0614141.812345.6790")])
    assert not other.matches(render(movement("moved")))


def test_filters_on_business_step_and_location() -> None:
    sold, moved = render(movement("sold", zone="checkout-1", to=None)), render(movement("moved"))
    by_step = epcis.Query.parse([("EQ_bizStep", "retail_selling")])
    assert by_step.matches(sold)
    assert not by_step.matches(moved)
    by_place = epcis.Query.parse([("EQ_bizLocation", "https://id.gs1.org/414/0614141073467")])
    assert by_place.matches(moved)
    assert not by_place.matches(sold)


def test_time_filters_take_the_lower_bound_and_leave_out_the_upper() -> None:
    query = epcis.Query.parse([("GE_eventTime", "2024-01-15T10:00:00.123Z"), ("LT_eventTime", "2024-01-15T11:00Z")])
    assert query.selects(movement("moved"))
    assert not query.selects(movement("moved", time=WINTER - dt.timedelta(milliseconds=1)))
    assert not query.selects(movement("moved", time=dt.datetime(2024, 1, 15, 11, tzinfo=dt.UTC)))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EQ_bizstep", "shipping"),  # misspelt: must not quietly match everything
        ("GE_eventTime", "yesterday"),
        ("GE_eventTime", "2024-01-15T10:00:00"),  # no offset
        ("perPage", "0"),
        ("perPage", "ten"),
        ("MATCH_epc", "30742G7BF7194E4000001A85"),
        ("MATCH_epc", "urn:epc:class:lgtin:0614141.812345.L1"),
        ("eventType", "SaleEvent"),
        ("nextPageToken", "%%%"),
    ],
)
def test_a_bad_parameter_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(epcis.QueryParameterError) as caught:
        epcis.Query.parse([(name, value)])
    assert caught.value.parameter == name


def test_a_page_token_brings_back_its_position() -> None:
    assert epcis.Query.parse([("nextPageToken", epcis.page_token(1234))]).after == 1234


# -- settings and purity -----------------------------------------------------------------------------------------------


def test_a_gln_with_a_wrong_check_digit_is_refused() -> None:
    with pytest.raises(ValueError, match="check digit should be 7"):
        LocationSettings(id="aisle-1", name="Aisle", gln="0614141073468")
    with pytest.raises(ValueError, match="give gln too"):
        ZoneSettings(id="z", name="Z", kind="shelf", location="aisle-1", gln_extension="1")


def _runtime_imports(tree: ast.AST) -> set[str]:
    """The modules a file imports when it runs (imports under ``if TYPE_CHECKING:`` are for the type checker)."""
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        found |= _runtime_imports(node)
    return found


@pytest.mark.parametrize("path", sorted((Path(silentgw.__file__).parent / "gateway" / "epcis").glob("*.py")),
                         ids=lambda p: p.name)  # fmt: skip
def test_the_epcis_package_uses_the_standard_library_and_silentgws_pure_core_only(path: Path) -> None:
    allowed = ("silentgw.gateway.epcis", "silentgw.gateway.identity", "silentgw.gateway.events")
    imports = _runtime_imports(ast.parse(path.read_text(encoding="utf-8")))
    foreign = {m for m in imports if m.startswith("silentgw") and not m.startswith(allowed)}
    stdlib = sys.stdlib_module_names
    third_party = {m for m in imports if not m.startswith("silentgw") and m.split(".")[0] not in stdlib}
    assert not foreign
    assert not third_party
