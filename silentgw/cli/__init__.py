"""The `silentgw` command line: one typer app with a sub-command group per concern.

The settings are loaded once, here, from ``--config`` (default ``silentgw.toml`` when present) and the process
environment, and handed down; commands that need no settings (``epc``) never load them, so a broken config does not
stop a user decoding a tag.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from silentgw import __version__
from silentgw.cli import broker, config, db, demo, drivers, epc, epcis, keys, run, simulate
from silentgw.cli.context import Context
from silentgw.cli.logs import LogFormat, setup_logging

__all__ = ["app", "main"]

app = typer.Typer(
    help="silentgw: a silent-commerce inventory gateway (RFID readers and sensors in; stock, members, events out).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(broker.app, name="broker")
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(drivers.app, name="drivers")
app.add_typer(epc.app, name="epc")
app.add_typer(keys.app, name="keys")
app.add_typer(epcis.app, name="epcis")
app.add_typer(simulate.app, name="simulate")
app.command("run")(run.run)
app.command("demo")(demo.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"silentgw {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    ctx: typer.Context,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="SILENTGW_CONFIG",
            help="TOML settings file [default: silentgw.toml when present]",
            dir_okay=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", help="Log lines as JSON or text; auto: text on a terminal, JSON elsewhere (journald)."
        ),
    ] = LogFormat.AUTO,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """silentgw: a silent-commerce inventory gateway."""
    if log_format is not LogFormat.AUTO:  # main() has chosen by stderr already
        setup_logging(logging.INFO, log_format.json)
    ctx.obj = Context(config_file=config_file, environ=dict(os.environ))


def main() -> None:
    """Run the `silentgw` console script."""
    setup_logging(logging.INFO)
    app()
