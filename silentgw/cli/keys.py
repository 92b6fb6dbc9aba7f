"""`silentgw keys`: API keys for people and systems, each with a role (staff, operator, integrator, admin, privacy)."""

from __future__ import annotations

from typing import Annotated

import typer

from silentgw.cli.context import context
from silentgw.gateway.store import keys
from silentgw.gateway.store.database import connect, upgrade
from silentgw.gateway.store.models import Role

app = typer.Typer(help="Make, list and revoke API keys.", no_args_is_help=True)


@app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[Role, typer.Option(help="What the key may do.", case_sensitive=False)],
    name: Annotated[str, typer.Option(help="Whose or what it is (shown in lists).")] = "",
) -> None:
    """Make a key; the key itself is printed on the last line, once (only a digest of it is kept)."""
    engine = connect(context(ctx).settings().database_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            key_id, key = keys.create(conn, role=role, name=name or f"{role} key")
    finally:
        engine.dispose()
    typer.echo(f"key {key_id} ({role}) made; it is shown now and never again:", err=True)
    typer.echo(key)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every key: id, role, name, made, revoked."""
    engine = connect(context(ctx).settings().database_url)
    try:
        with engine.connect() as conn:
            found = keys.list_keys(conn)
    finally:
        engine.dispose()
    for k in found:
        revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.role:<10}  {k.created_at:%Y-%m-%d %H:%M}  {revoked:<24}  {k.name}")


@app.command("revoke")
def revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id (from `keys list`).")]) -> None:
    """Revoke a key: it stops working within a second in a running gateway, and its staff page sessions end."""
    engine = connect(context(ctx).settings().database_url)
    try:
        with engine.begin() as conn:
            done = keys.revoke(conn, key_id)
    finally:
        engine.dispose()
    if not done:
        typer.echo(f"silentgw: no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"key {key_id} revoked")
