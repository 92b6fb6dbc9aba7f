"""Fixtures of the pipeline's scenario tests: the example store on the test's database, its catalog seeded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.layout import apply_layout
from silentgw.simulator.demo_store import seed_catalog

EXAMPLE = Path(__file__).parents[3] / "silentgw" / "example.toml"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The example store on the test's database."""
    return load_settings(EXAMPLE, {}).model_copy(update={"database_url": database_url})


def example_store(engine: Engine, database_url: str | None = None) -> Settings:
    """The example layout and the demo catalog (products, members and their cards) in ``engine``'s database; the
    example's settings, on ``database_url`` if given."""
    settings = load_settings(EXAMPLE, {})
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        apply_layout(catalog, settings)
        seed_catalog(catalog, today=dt.date(2026, 11, 24))
    return settings


@pytest.fixture
def store(engine: Engine, settings: Settings) -> Engine:
    """The example layout and the demo catalog (products, members and their cards) in the test's database."""
    example_store(engine)
    return engine
