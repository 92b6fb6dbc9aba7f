"""The core imports no I/O library (docs/STYLE.md, point 4): only drivers, the store and publishers touch the world.

Each pure module is imported alone in a fresh interpreter and ``sys.modules`` inspected, so an I/O library pulled in
through another module (the settings, and with them pydantic; the ORM models, and with them SQLAlchemy) is caught
as surely as one imported directly. The few modules that read settings but do no I/O are held to the weaker rule
that they import no I/O library themselves.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import silentgw

ROOT = Path(silentgw.__file__).parent
IO = {"serial", "paho", "sqlalchemy", "alembic", "psycopg", "influxdb_client", "httpx", "fastapi", "starlette",
      "uvicorn", "requests", "socket", "selectors", "asyncio", "subprocess"}  # fmt: skip
"""I/O libraries (a lock is not I/O: the open cycle counts take one, so ``threading`` is allowed)."""
FORBIDDEN = IO | {"pydantic"}
"""What a pure module may not load: I/O, and the settings' validation library (settings become values at the edge)."""
PURE = [
    "silentgw.gateway.identity",
    "silentgw.gateway.transitions",
    "silentgw.gateway.zones",
    "silentgw.gateway.presence",
    "silentgw.gateway.checkout",
    "silentgw.gateway.members",
    "silentgw.gateway.ledger",
    "silentgw.gateway.counts",
    "silentgw.gateway.events",
    "silentgw.gateway.restock",
    "silentgw.drivers.observations",
    "silentgw.drivers.dialect",
    "silentgw.drivers.commands",
    "silentgw.simulator.truth",
]
NO_DIRECT_IO = [ROOT / "gateway" / "config.py", ROOT / "simulator" / "store_day.py"]

_PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted({{name.split(".")[0] for name in set(sys.modules) - before}})))
"""


def loaded_by(module: str) -> set[str]:
    """The top-level packages that importing ``module`` loads in a fresh interpreter."""
    probe = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], capture_output=True, text=True,
                           check=True, timeout=60)  # fmt: skip
    return set(json.loads(probe.stdout))


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_loads_no_io_library_nor_pydantic(module: str) -> None:
    assert sorted(loaded_by(module) & FORBIDDEN) == []


def test_the_probe_would_catch_one_loaded_indirectly() -> None:
    # the layout imports no SQLAlchemy itself; the catalog it uses does
    assert "sqlalchemy" not in _imported_roots(ROOT / "gateway" / "layout.py")
    assert {"sqlalchemy", "pydantic"} <= loaded_by("silentgw.gateway.layout")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


@pytest.mark.parametrize("path", NO_DIRECT_IO, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_settings_module_imports_no_io_library(path: Path) -> None:
    assert not _imported_roots(path) & IO


def test_the_check_would_catch_one() -> None:
    assert "sqlalchemy" in _imported_roots(ROOT / "gateway" / "catalog.py")
