"""The configured layout written into the store on SQLite and PostgreSQL: inserted once, then only what changed."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.layout import LayoutChanges, apply_layout
from silentgw.gateway.store.models import Antenna, Device, Location, Site, Zone

EXAMPLE = Path(str(resources.files("silentgw").joinpath("example.toml")))


@pytest.fixture
def example() -> Settings:
    return load_settings(EXAMPLE, {})


def apply(engine: Engine, settings: Settings) -> LayoutChanges:
    """``apply_layout`` in a transaction of its own, as the gateway does at start."""
    with Session(engine) as session, session.begin():
        return apply_layout(Catalog(session, site_id=settings.site.id), settings)


def stored(engine: Engine) -> dict[str, Any]:
    """What the store holds of the layout, as plain values."""
    with Session(engine) as session:
        return {
            "sites": {(s.id, s.name, s.timezone) for s in session.scalars(select(Site))},
            "locations": {
                (r.id, r.name, r.kind.value, r.parent_id, r.site_id) for r in session.scalars(select(Location))
            },
            "zones": {(r.id, r.name, r.kind.value, r.location_id) for r in session.scalars(select(Zone))},
            "devices": {
                (r.id, r.name, r.kind.value, repr(sorted(r.driver.items())), r.location_id, r.site_id)
                for r in session.scalars(select(Device))
            },
            "antennas": {(r.device_id, r.port, r.zone_id) for r in session.scalars(select(Antenna))},
        }


def expected(settings: Settings) -> dict[str, Any]:
    """What the store should hold of ``settings``' layout."""
    site = settings.site.id
    return {
        "sites": {(site, settings.site.name, settings.site.timezone)},
        "locations": {(loc.id, loc.name, loc.kind, loc.parent, site) for loc in settings.locations},
        "zones": {(z.id, z.name, z.kind, z.location) for z in settings.zones},
        "devices": {
            (d.id, d.name, d.kind, repr(sorted(d.driver.model_dump().items())), d.location, site)
            for d in settings.devices
        },
        "antennas": {(d.id, a.port, a.zone) for d in settings.devices for a in d.antennas},
    }


def changed(settings: Settings, **sections: Any) -> Settings:
    """``settings`` with whole sections replaced, validated again."""
    return Settings(**{**settings.model_dump(), **sections})


def test_the_example_layout_is_inserted(engine: Engine, example: Settings) -> None:
    changes = apply(engine, example)
    assert stored(engine) == expected(example)
    assert changes == LayoutChanges(
        inserted=1 + len(example.locations) + len(example.zones) + len(example.devices), updated=0
    )


def test_applying_it_again_changes_nothing(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    before = stored(engine)
    assert apply(engine, example) == LayoutChanges(inserted=0, updated=0)
    assert stored(engine) == before


def test_a_renamed_zone_is_updated(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    zones = [z.model_dump() for z in example.zones]
    zones[2]["name"] = "Backroom racks (north)"
    renamed = changed(example, zones=zones)
    assert apply(engine, renamed) == LayoutChanges(inserted=0, updated=1)
    assert stored(engine) == expected(renamed)
    assert apply(engine, renamed) == LayoutChanges(inserted=0, updated=0)


def test_a_reader_s_new_antennas_are_updated(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    devices = [d.model_dump() for d in example.devices]
    floor = next(d for d in devices if d["id"] == "reader-floor")
    floor["antennas"] = [{"port": 1, "zone": "shelf-2a"}, {"port": 4, "zone": "exit"}]  # one moved, one gone, one new
    rewired = changed(example, devices=devices)
    assert apply(engine, rewired) == LayoutChanges(inserted=0, updated=1)
    assert stored(engine) == expected(rewired)
    assert apply(engine, rewired) == LayoutChanges(inserted=0, updated=0)


def test_antennas_listed_out_of_port_order_are_stable(engine: Engine, example: Settings) -> None:
    devices = [d.model_dump() for d in example.devices]
    portal = next(d for d in devices if len(d["antennas"]) > 1)
    portal["antennas"] = list(reversed(portal["antennas"]))
    shuffled = changed(example, devices=devices)
    apply(engine, shuffled)
    assert apply(engine, shuffled) == LayoutChanges(inserted=0, updated=0)
    assert stored(engine) == expected(example)


def test_a_reader_s_own_change_and_its_antennas_count_once(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    devices = [d.model_dump() for d in example.devices]
    devices[0]["name"] = "Renamed"
    devices[0]["antennas"] = devices[0]["antennas"][:1]
    both = changed(example, devices=devices)
    assert apply(engine, both) == LayoutChanges(inserted=0, updated=1)
    assert stored(engine) == expected(both)


def test_a_moved_location_and_a_renamed_site_are_updated(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    locations = [loc.model_dump() for loc in example.locations]
    aisle_2 = next(loc for loc in locations if loc["id"] == "aisle-2")
    aisle_2["parent"] = "backroom"
    moved = changed(example, locations=locations, site={**example.site.model_dump(), "name": "Corner Shop"})
    assert apply(engine, moved) == LayoutChanges(inserted=0, updated=2)
    assert stored(engine) == expected(moved)


def test_a_new_zone_and_the_antenna_that_looks_at_it(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    zones = [
        *(z.model_dump() for z in example.zones),
        {"id": "fitting", "name": "Fitting room", "kind": "shelf", "location": "aisle-2"},
    ]
    devices = [d.model_dump() for d in example.devices]
    devices[0]["antennas"] = [*devices[0]["antennas"], {"port": 3, "zone": "fitting"}]
    grown = changed(example, zones=zones, devices=devices)
    assert apply(engine, grown) == LayoutChanges(inserted=1, updated=1)
    assert stored(engine) == expected(grown)


def test_what_the_file_does_not_mention_is_left_alone(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=example.site.id)
        catalog.add(Location(id="annex", site_id=example.site.id, name="Annex"))
        catalog.add(Zone(id="annex-shelf", location_id="annex", name="Annex shelf", kind="shelf"))
    assert apply(engine, example) == LayoutChanges(inserted=0, updated=0)
    held = stored(engine)
    assert ("annex", "Annex", "location", None, example.site.id) in held["locations"]
    assert ("annex-shelf", "Annex shelf", "shelf", "annex") in held["zones"]


def test_a_reader_that_becomes_a_sensor_loses_its_antennas(engine: Engine, example: Settings) -> None:
    apply(engine, example)
    devices = [d.model_dump() for d in example.devices]
    card_reader = next(d for d in devices if d["id"] == "card-reader-1")
    card_reader.update(kind="sensor", antennas=[])
    demoted = changed(example, devices=devices)
    assert apply(engine, demoted) == LayoutChanges(inserted=0, updated=1)
    assert stored(engine) == expected(demoted)
