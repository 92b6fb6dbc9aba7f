"""`silentgw db`: schema migrations on the configured database."""

from __future__ import annotations

from typing import Annotated

import typer

from silentgw.cli.context import context
from silentgw.gateway.store.database import StoreError, connect, current_revision, head_revision, upgrade

app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Create or migrate the schema of `database_url` to the newest revision."""
    settings = context(ctx).settings()
    engine = connect(settings.database_url)
    try:
        upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)} (newest: {head_revision()})")
    except StoreError as exc:
        typer.echo(f"silentgw: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the revision the database is at and the newest one this version ships."""
    settings = context(ctx).settings()
    engine = connect(settings.database_url)
    try:
        typer.echo(f"current: {current_revision(engine) or 'empty'}  newest: {head_revision()}")
    finally:
        engine.dispose()
