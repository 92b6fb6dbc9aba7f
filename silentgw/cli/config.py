"""`silentgw config`: show the effective settings (secrets masked), or print the documented example."""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import orjson
import typer

from silentgw.cli.context import context

app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)


@app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML-like text.")] = False,
) -> None:
    """Print the effective settings (file, then SILENTGW_* variables, over defaults), secrets masked."""
    root = context(ctx)
    data = root.settings().masked()
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    source = root.chosen_file or "no file (defaults and environment only)"
    typer.echo(f"# effective settings from {source}")
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@app.command("example")
def example() -> None:
    """Print the documented example config (a small store): `silentgw config example > silentgw.toml`."""
    typer.echo(resources.files("silentgw").joinpath("example.toml").read_text(encoding="utf-8"), nl=False)
