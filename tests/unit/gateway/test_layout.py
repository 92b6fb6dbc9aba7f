"""The settings' layout as the pure core takes it: zone rules, checkouts and exits, card readers, as plain values."""

from __future__ import annotations

from typing import Any

import pytest

from silentgw.gateway.config import Settings
from silentgw.gateway.layout import card_readers, checkout_rules, zone_map
from silentgw.gateway.zones import AntennaZone, default_rule


def layout(*devices: dict[str, Any], **presence: Any) -> dict[str, Any]:
    return {
        "locations": [{"id": "store", "name": "Store"}],
        "zones": [
            {"id": "a", "name": "A", "kind": "shelf", "location": "store", "presence": presence},
            {"id": "b", "name": "B", "kind": "shelf", "location": "store"},
            {"id": "till-1", "name": "Till 1", "kind": "checkout", "location": "store"},
            {"id": "till-2", "name": "Till 2", "kind": "checkout", "location": "store"},
            {"id": "door", "name": "Door", "kind": "exit", "location": "store"},
        ],
        "devices": list(devices),
    }


def reader(device: str, kind: str, *zones: str) -> dict[str, Any]:
    driver = {"kind": kind, "url": f"/dev/{device}"}
    return {"id": device, "kind": "reader", "driver": driver,
            "antennas": [{"port": n, "zone": z} for n, z in enumerate(zones, 1)]}  # fmt: skip


def test_zone_thresholds_from_the_settings_override_the_kinds_defaults() -> None:
    zones = zone_map(Settings.model_validate(layout(min_rssi=-62, absence_timeout=600))).zones
    assert zones["a"].rule.min_rssi == -62
    assert zones["a"].rule.absence_timeout == 600
    assert zones["a"].rule.arrival_reads == default_rule("shelf").arrival_reads
    assert zones["b"].rule == default_rule("shelf")
    with pytest.raises(ValueError, match=r"zones\.a\.presence: absence_timeout must be longer"):
        zone_map(Settings.model_validate(layout(arrival_window=60, absence_timeout=30)))


def test_a_card_reader_serves_its_checkout_and_is_no_antenna_of_presence() -> None:
    settings = Settings.model_validate(layout(reader("r1", "uhf-m100", "a", "b"), reader("pad-1", "em4100", "till-1")))
    assert zone_map(settings).antennas == {("r1", 1): AntennaZone("a"), ("r1", 2): AntennaZone("b")}
    assert card_readers(settings) == {"pad-1": "till-1"}
    rules = checkout_rules(settings)
    assert (rules.checkouts, rules.exits) == (frozenset({"till-1", "till-2"}), frozenset({"door"}))


def test_a_card_reader_on_two_checkouts_is_refused() -> None:
    settings = Settings.model_validate(layout(reader("pad-1", "em4100", "till-1", "till-2")))
    with pytest.raises(ValueError, match="card reader pad-1 serves more than one checkout: till-1, till-2"):
        card_readers(settings)
