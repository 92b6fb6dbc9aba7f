"""`silentgw epcis export` as a user runs it: the stored item and sensor events as one EPCIS 2.0 document."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from silentgw.cli import app
from silentgw.gateway.events import Event, event_id, item_event, stock_changed
from silentgw.gateway.identity import encode_sgtin
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import connect, upgrade
from tests.epcis_schema import assert_valid

T0 = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
GTIN = "80614141123458"
CONFIG = """
database_url = "sqlite:///{db}"

[site]
id = "shop"
timezone = "Europe/Amsterdam"

[[locations]]
id = "floor"
name = "Sales floor"
gln = "0614141073467"

[[zones]]
id = "shelf"
name = "Shelf"
kind = "shelf"
location = "floor"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file naming a SQLite database that holds two item movements, a stock level and a sensor alert."""
    monkeypatch.chdir(tmp_path)  # no silentgw.toml lying around is read
    db = tmp_path / "gw.db"
    engine = connect(f"sqlite:///{db}")
    upgrade(engine)
    hex_epc = encode_sgtin(gtin=GTIN, serial="7", company_prefix_length=7)
    moved = [
        item_event(f"{reason}:7", reason=reason, item=f"(01){GTIN}(21)7", time=T0 + dt.timedelta(hours=i), epc=hex_epc,
                   gtin=GTIN, from_location=None, to_location="floor", zone="shelf")
        for i, reason in enumerate(("commissioned", "found"))
    ]  # fmt: skip
    alert = Event(event_id("silentgw.sensor.alert", "a"), "silentgw.sensor.alert", "fridge", T0 + dt.timedelta(hours=2),
                  {"sensor": "fridge", "quantity": "temperature", "value": 8.25, "unit": "°C", "threshold": 7.0,
                   "location": "floor", "zone": None, "items": []})  # fmt: skip
    level = stock_changed("c", gtin=GTIN, location="floor", quantity=1, time=T0)
    with engine.begin() as conn:
        outbox.append(conn, [*moved, level, alert])
    engine.dispose()
    path = tmp_path / "gw.toml"
    path.write_text(CONFIG.format(db=db), encoding="utf-8")
    return path


def run(*args: str) -> Result:
    """``silentgw ARGS`` with none of the caller's SILENTGW_* variables."""
    clean: dict[str, str | None] = {name: None for name in os.environ if name.upper().startswith("SILENTGW_")}
    return CliRunner().invoke(app, list(args), env=clean)


def exported(result: Result) -> list[dict[str, Any]]:
    """The events of the document printed, after checking it is valid EPCIS 2.0."""
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert_valid(document)
    assert document["type"] == "EPCISDocument"
    events: list[dict[str, Any]] = document["epcisBody"]["eventList"]
    return events


def test_export_prints_every_item_and_sensor_event_as_epcis(config: Path) -> None:
    events = exported(run("--config", str(config), "epcis", "export"))
    assert [e.get("bizStep") for e in events] == ["commissioning", "cycle_counting", "sensor_reporting"]
    assert events[0]["epcList"] == ["urn:epc:id:sgtin:0614141.812345.7"]
    assert events[0]["readPoint"] == {"id": "urn:silentgw:shop:zone:shelf"}
    # The catalog knows no company prefix here, so the location's GLN is written as a Digital Link.
    assert events[0]["bizLocation"] == {"id": "https://id.gs1.org/414/0614141073467"}
    assert events[2]["sensorElementList"][0]["sensorReport"] == [
        {"type": "Temperature", "exception": "ALARM_CONDITION", "value": 8.25, "uom": "CEL"}
    ]


def test_since_leaves_out_earlier_events_and_reads_a_bare_time_as_the_sites(config: Path) -> None:
    # 11:00 in Amsterdam (summer time) is 09:00 UTC: the second movement and the alert.
    events = exported(run("--config", str(config), "epcis", "export", "--since", "2024-05-01T11:00"))
    assert [e.get("bizStep") for e in events] == ["cycle_counting", "sensor_reporting"]
    events = exported(run("--config", str(config), "epcis", "export", "--since", "2024-05-01T10:00:00Z"))
    assert [e.get("bizStep") for e in events] == ["sensor_reporting"]


def test_digital_links_on_request_with_the_same_event_ids(config: Path) -> None:
    as_urns = exported(run("--config", str(config), "epcis", "export"))
    as_links = exported(run("--config", str(config), "epcis", "export", "--identifiers", "dl"))
    assert as_links[0]["epcList"] == [f"https://id.gs1.org/01/{GTIN}/21/7"]
    assert [e["eventID"] for e in as_links] == [e["eventID"] for e in as_urns]


@pytest.mark.parametrize(("option", "value"), [("--identifiers", "epc"), ("--since", "last tuesday")])
def test_a_bad_option_is_refused_with_its_name(config: Path, option: str, value: str) -> None:
    result = run("--config", str(config), "epcis", "export", option, value)
    assert result.exit_code == 2
    assert option in result.output


def test_a_database_without_the_schema_is_an_error_not_an_empty_document(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(f'database_url = "sqlite:///{tmp_path / "none.db"}"\n', encoding="utf-8")
    result = run("--config", str(path), "epcis", "export")
    assert result.exit_code == 1
    assert "cannot read the events" in result.output
