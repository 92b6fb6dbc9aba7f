"""The identity package's shape: public names, and no I/O library in the core."""

from __future__ import annotations

import ast
from pathlib import Path

import silentgw.gateway.identity as identity


def test_public_names_are_all() -> None:
    public = {name for name in dir(identity) if not name.startswith("_")}
    modules = {"aidc", "binary", "charset", "codec", "encoders", "epc", "errors", "gs1", "partition", "plus",
               "prefixes", "uri", "annotations"}  # fmt: skip
    assert public - modules == set(identity.__all__)


def test_core_imports_only_the_standard_library() -> None:
    allowed = {"__future__", "collections", "dataclasses", "re", "typing", "silentgw"}
    for path in Path(identity.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, (path.name, roots)
