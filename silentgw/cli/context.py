"""What every command gets from the root: the config file named and the environment, and settings on demand."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import typer

from silentgw.gateway.config import DEFAULT_CONFIG_FILE, ConfigError, Settings, load_settings

__all__ = ["Context"]


@dataclass(slots=True)
class Context:
    """The root command's context object."""

    config_file: Path | None
    environ: Mapping[str, str]
    _settings: Settings | None = field(default=None, init=False)

    @property
    def chosen_file(self) -> Path | None:
        """The settings file in effect: ``--config``, else ``silentgw.toml`` when it exists, else none."""
        if self.config_file is not None:
            return self.config_file
        return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None

    def settings(self) -> Settings:
        """The settings, loaded once; a bad config ends the command with its reasons and exit status 2."""
        if self._settings is None:
            try:
                self._settings = load_settings(self.chosen_file, self.environ)
            except ConfigError as exc:
                typer.echo(f"silentgw: {exc}", err=True)
                raise typer.Exit(2) from exc
        return self._settings


def context(ctx: typer.Context) -> Context:
    """The root's :class:`Context` from a typer context."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Context)
    return obj
