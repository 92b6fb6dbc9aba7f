"""`silentgw epcis`: the stored item movements and sensor alerts as a GS1 EPCIS 2.0 document, for a trading partner.

The document is the JSON-LD of an EPCISDocument (what an EPCIS repository's capture interface takes), written to
standard output: ``silentgw epcis export --since 2024-05-01 > events.jsonld``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated

import orjson
import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from silentgw.cli.context import context
from silentgw.gateway import epcis
from silentgw.gateway.catalog import Catalog
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.store import outbox
from silentgw.gateway.store.database import StoreError, connect

app = typer.Typer(help="GS1 EPCIS 2.0 documents of the stored item and sensor events.", no_args_is_help=True)


@app.command("export")
def export(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(help="Only events at or after this ISO 8601 time; without an offset, the site's local time."),
    ] = None,
    identifiers: Annotated[
        str, typer.Option(help="EPCs and GLNs as EPC URNs (urn) or GS1 Digital Link URIs (dl).")
    ] = "urn",
) -> None:
    """Print the EPCISDocument (JSON-LD) of the item movements and sensor alerts stored."""
    if identifiers not in ("urn", "dl"):
        raise typer.BadParameter("must be urn or dl", param_hint="--identifiers")
    form: epcis.Identifiers = "dl" if identifiers == "dl" else "urn"
    settings = context(ctx).settings()
    start = _since(since, settings.site.timezone) if since is not None else None
    engine = connect(settings.database_url)
    try:
        with Session(engine) as session:
            site = epcis.Site.of(settings, prefixes=Catalog(session, site_id=settings.site.id).company_prefixes())
            conn = session.connection()

            def read(after: int, limit: int) -> list[StoredEvent]:
                return outbox.read(conn, after, limit=limit)

            events = [
                rendered
                for event in epcis.scan(read)
                if start is None or event.time >= start
                if (rendered := epcis.object_event(event, site, identifiers=form)) is not None
            ]
    except (SQLAlchemyError, StoreError) as exc:
        typer.echo(f"silentgw: cannot read the events from the database: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    document = epcis.capture_document(events, created=dt.datetime.now(dt.UTC))
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def _since(text: str, timezone: str) -> dt.datetime:
    """``--since`` as an aware time: an offset given wins, else the site's time zone (UTC if unknown here)."""
    try:
        time = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time", param_hint="--since") from exc
    if time.tzinfo is not None:
        return time
    try:
        return time.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return time.replace(tzinfo=dt.UTC)
