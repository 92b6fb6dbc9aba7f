"""The core imports no I/O library (docs/STYLE.md, point 4): only drivers, the store and publishers touch the world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import silentgw

ROOT = Path(silentgw.__file__).parent
FORBIDDEN = {"serial", "paho", "sqlalchemy", "alembic", "psycopg", "influxdb_client", "httpx", "fastapi", "starlette",
             "uvicorn", "socket", "asyncio", "threading", "subprocess", "requests"}  # fmt: skip
PURE = [
    *sorted((ROOT / "gateway" / "identity").glob("*.py")),
    ROOT / "gateway" / "config.py",
    ROOT / "gateway" / "transitions.py",
    ROOT / "gateway" / "zones.py",
    ROOT / "gateway" / "presence.py",
    ROOT / "gateway" / "checkout.py",
    ROOT / "gateway" / "members.py",
    ROOT / "gateway" / "ledger.py",
    ROOT / "gateway" / "counts.py",
    ROOT / "drivers" / "observations.py",
    ROOT / "drivers" / "dialect.py",
    ROOT / "drivers" / "commands.py",
    ROOT / "simulator" / "truth.py",
    ROOT / "simulator" / "store_day.py",
]


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_pure_module_imports_no_io_library(path: Path) -> None:
    assert not _imported_roots(path) & FORBIDDEN


def test_the_check_would_catch_one() -> None:
    assert "sqlalchemy" in _imported_roots(ROOT / "gateway" / "catalog.py")
