"""The shipped systemd units, rendered for this checkout: the install layout's ``silentgw`` swapped for this
virtualenv's, so that ``systemd-analyze verify`` (which insists the ExecStart binary exists) checks them here."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).parents[3] / "systemd"
INSTALLED = "/opt/silentgw/.venv/bin/silentgw"
NAMES = ("silentgw.service", "silentgw-simulator.service")

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed (Debian package systemd)"
)


def here() -> str:
    """This checkout's ``silentgw`` command: beside the interpreter running the tests."""
    found = Path(sys.executable).parent / "silentgw"
    assert found.is_file(), f"no silentgw command at {found}: install the package (pip install -e .)"
    return str(found)


def render(name: str, into: Path) -> Path:
    """Unit ``name`` with its ExecStart pointing at this checkout's command, written into ``into``."""
    text = (UNITS / name).read_text()
    assert text.count(f"ExecStart={INSTALLED} ") == 1, f"{name} does not start {INSTALLED}"
    into.mkdir(parents=True, exist_ok=True)
    path = into / name
    path.write_text(text.replace(INSTALLED, here()))
    return path


def settings(name: str, key: str) -> list[str]:
    """The values a shipped unit gives ``key`` (every line, in order)."""
    return [line.split("=", 1)[1] for line in (UNITS / name).read_text().splitlines() if line.startswith(f"{key}=")]
