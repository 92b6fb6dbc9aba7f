"""`silentgw epc decode|encode` through typer's CliRunner."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from silentgw.cli.epc import app

runner = CliRunner()


def test_decode_json_lines_with_failures() -> None:
    result = runner.invoke(app, ["decode", "3074257BF7194E4000001A85", "ZZ", "2C74257BF7194E4000001A85", "--json"])
    assert result.exit_code == 1
    good, bad, unsupported = (orjson.loads(line) for line in result.output.splitlines())
    assert good["scheme"] == "sgtin-96"
    assert good["uri"] == "urn:epc:id:sgtin:0614141.812345.6789"
    assert good["tag_uri"] == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert (good["filter"], good["gtin"], good["serial"]) == (3, "80614141123458", "6789")
    assert good["element_string"] == "(01)80614141123458(21)6789"
    assert good["digital_link"] == "https://id.gs1.org/01/80614141123458/21/6789"
    assert bad["hex"] == "ZZ"
    assert "not hexadecimal" in bad["error"]
    assert unsupported["scheme"] is None
    assert "gdti-96" in unsupported["error"]


def test_decode_human_readable_exit_zero() -> None:
    result = runner.invoke(app, ["decode", "3074257bf7194e4000001a85"])
    assert result.exit_code == 0
    assert "urn:epc:id:sgtin:0614141.812345.6789" in result.output
    assert "gtin" in result.output


def test_decode_plus_with_known_prefix() -> None:
    result = runner.invoke(app, ["decode", "F73795211411234538566CB0AFC4", "--json", "--prefix", "9521141"])
    assert result.exit_code == 0
    assert orjson.loads(result.output)["uri"] == "urn:epc:id:sgtin:9521141.712345.32a%2Fb"


def test_encode_from_urn_tag_uri_and_gtin() -> None:
    expected = "3074257BF7194E4000001A85\n"
    urn = ["encode", "urn:epc:id:sgtin:0614141.812345.6789", "--scheme", "sgtin-96", "--filter", "3"]
    assert runner.invoke(app, urn).output == expected
    assert runner.invoke(app, ["encode", "urn:epc:tag:sgtin-96:3.0614141.812345.6789"]).output == expected
    by_gtin = ["encode", "--gtin", "80614141123458", "--serial", "6789", "--company-prefix-length", "7",
               "--filter", "3"]  # fmt: skip
    assert runner.invoke(app, by_gtin).output == expected
    plus = runner.invoke(app, ["encode", "--gtin", "79521141123453", "--serial", "32a/b", "--scheme", "sgtin+",
                               "--filter", "3"])  # fmt: skip
    assert plus.output == "F73795211411234538566CB0AFC4\n"
    long_ = runner.invoke(app, ["encode", "--gtin", "80614141123458", "--serial", "A-1", "--company-prefix-length",
                                "7", "--scheme", "sgtin-198"])  # fmt: skip
    assert long_.exit_code == 0
    assert long_.output.startswith("36")


def test_encode_error_exit_code() -> None:
    result = runner.invoke(app, ["encode", "urn:epc:id:sgtin:0614141.812345.0123", "--scheme", "sgtin-96"])
    assert result.exit_code == 1
