"""The text format as a scraper reads it: names, types, help and label values survive the trip, whatever they hold."""

from __future__ import annotations

import math

import pytest

from silentgw.gateway.metrics import FAMILIES, Family, render
from tests.unit.ops.exposition import parse


def test_label_values_and_help_with_quotes_backslashes_and_line_feeds_read_back_exactly() -> None:
    awkward = ['reader "A"', "C:\\ports\\COM3", "two\nlines", "plain", "ünïcode €", "}{,="]
    family = Family("silentgw_device_up", "gauge", 'Up? "1" or 0\\n, and\na second line',
                    tuple(((("device", name),), float(n)) for n, name in enumerate(awkward)))  # fmt: skip

    text = render([family])

    assert text.endswith("\n")
    assert len(text.splitlines()) == 2 + len(awkward)  # no value broke a line
    parsed = parse(text)["silentgw_device_up"]
    assert parsed.type == "gauge"
    assert parsed.help == 'Up? "1" or 0\\n, and\na second line'
    assert parsed.by("device") == {name: float(n) for n, name in enumerate(awkward)}


def test_values_are_written_as_the_format_spells_them() -> None:
    values = {"int": 12.0, "frac": 0.25, "nan": math.nan, "inf": math.inf}
    text = render([Family("silentgw_x", "gauge", "x", tuple(((("v", k),), v) for k, v in values.items()))])

    assert 'silentgw_x{v="int"} 12\n' in text  # a count reads as a count
    assert 'silentgw_x{v="inf"} +Inf\n' in text
    values = parse(text)["silentgw_x"].by("v")
    assert values["frac"] == 0.25
    assert math.isnan(values["nan"])


def test_a_family_without_samples_still_declares_itself() -> None:
    parsed = parse(render([Family("silentgw_device_up", "gauge", "up", ())]))
    assert parsed["silentgw_device_up"].type == "gauge"
    assert parsed["silentgw_device_up"].samples == {}


@pytest.mark.parametrize(
    ("name", "type_", "label"),
    [("silentgw-reads", "gauge", "x"), ("silentgw_reads", "counter", "x"), ("silentgw_x", "gauge", "__name__")],
    ids=["a dash in the name", "a counter without _total", "a reserved label"],
)
def test_a_family_the_format_cannot_carry_is_refused(name: str, type_: str, label: str) -> None:
    with pytest.raises(ValueError, match=r"name|_total|label"):
        Family(name, type_, "x", ((((label, "v"),), 1.0),))  # type: ignore[arg-type]


def test_every_family_the_gateway_exports_follows_the_naming_rules() -> None:
    for name, (type_, help_) in FAMILIES.items():
        assert name.startswith("silentgw_")
        assert name.endswith("_total") == (type_ == "counter"), name
        assert help_.strip()
        assert "\n" not in help_
