"""`silentgw drivers list` and `silentgw drivers parse`: what a captured device output means, before wiring it up."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from silentgw.cli import app

runner = CliRunner()

# The M100 manual's tag notice, the same with its checksum broken, and a stray byte between them.
NOTICE = "BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EF 7E"
BROKEN = "BB 02 22 00 11 C9 34 00 30 75 1F EB 70 5C 59 04 E3 D5 0D 70 3A 76 EE 7E"
ZEBRA = (
    '{"data":{"eventNum":1,"format":"epc","idHex":"3074257bf7194e4000001a85","antenna":2,"peakRssi":-48,'
    '"reads":1},"timestamp":"2021-04-12T20:20:48.366+0000","type":"SIMPLE"}'
)


def lines(output: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_list_names_the_built_in_drivers_and_their_transport() -> None:
    result = runner.invoke(app, ["drivers", "list"])
    assert result.exit_code == 0, result.output
    table = {line.split()[0]: line.split()[1] for line in result.output.splitlines()}
    assert table == {
        "em4100": "serial",
        "generic-json": "mqtt",
        "impinj-iot": "mqtt",
        "sensor-lines": "serial",
        "uhf-m100": "serial",
        "zebra-iotc": "mqtt",
    }


def test_parse_serial_hex_prints_reads_and_rejects_with_reasons(tmp_path: Path) -> None:
    capture = tmp_path / "m100.hex"
    capture.write_text(f"{NOTICE}\n00\n{BROKEN}\n")
    result = runner.invoke(app, ["drivers", "parse", "uhf-m100", str(capture), "--device", "dock"])
    assert result.exit_code == 1  # something was rejected
    out = lines(result.output)
    assert out[0]["kind"] == "tag"
    assert out[0]["epc"] == "30751FEB705C5904E3D50D70"
    assert out[0]["rssi"] == -55.0
    assert out[0]["reader"] == "dock"
    reasons = [o["reason"] for o in out if o["kind"] == "rejected"]
    assert any("checksum" in str(r) for r in reasons)


def test_parse_mqtt_payloads_from_stdin() -> None:
    result = runner.invoke(app, ["drivers", "parse", "zebra-iotc"], input=ZEBRA + "\nnot json\n")
    out = lines(result.output)
    assert out[0] == {
        "kind": "tag",
        "epc": "3074257BF7194E4000001A85",
        "reader": "capture",
        "antenna": 2,
        "rssi": -48,
        "time": "2021-04-12T20:20:48.366000+00:00",
        "reads": 1,
    }
    assert out[1]["kind"] == "rejected"
    assert result.exit_code == 1


def test_parse_refuses_an_unknown_dialect_naming_the_known_ones() -> None:
    result = runner.invoke(app, ["drivers", "parse", "zebra"], input="")
    assert result.exit_code == 2
    assert "zebra-iotc" in result.output
