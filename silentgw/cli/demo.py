"""`silentgw demo`: a demo store in a SQLite file, served by the API on 127.0.0.1:8000."""

from __future__ import annotations

import datetime as dt
import logging
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.orm import Session

from silentgw.api import create_app
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.config import Settings, load_settings
from silentgw.gateway.layout import apply_layout
from silentgw.gateway.store.database import connect, upgrade
from silentgw.simulator.demo_store import seed_catalog

__all__ = ["demo"]

logger = logging.getLogger(__name__)


def demo_settings(database: Path, *, host: str, port: int) -> Settings:
    """The example store's settings, pointed at ``database`` and the given address."""
    example = Path(str(resources.files("silentgw").joinpath("example.toml")))
    environ = {
        "SILENTGW_DATABASE_URL": f"sqlite:///{database}",
        "SILENTGW_API__HOST": host,
        "SILENTGW_API__PORT": str(port),
    }
    return load_settings(example, environ)


def demo(
    database: Annotated[Path, typer.Option("--db", help="The SQLite file the demo store lives in.")] = Path(
        "silentgw-demo.db"
    ),
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the API listens on.")] = 8000,
    reset: Annotated[bool, typer.Option(help="Start from an empty database.")] = False,
) -> None:
    """Seed a demo store (products, locations, zones, readers, members) and serve the API on it."""
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    settings = demo_settings(database, host=host, port=port)
    engine = connect(settings.database_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        catalog = Catalog(session, site_id=settings.site.id)
        layout = apply_layout(catalog, settings)
        products, members = seed_catalog(catalog, today=dt.datetime.now(dt.UTC).date())
    base = f"http://{host}:{port}"
    typer.echo(
        f"\nsilentgw demo store '{settings.site.name}' in {database}: "
        f"{layout.inserted} layout rows and {products} products, {members} members added.\n"
        f"  API docs      {base}/docs\n"
        f"  products      {base}/api/v1/products\n"
        f"  decode an EPC {base}/api/v1/epc/3074257BF7194E4000001A85\n"
        f"  health        {base}/readyz\n"
        "Press Ctrl+C to stop.\n"
    )
    uvicorn.run(create_app(settings, engine=engine), host=host, port=port, log_level="info")
    engine.dispose()
