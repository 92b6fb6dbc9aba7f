"""GS1's EPCIS 2.0 JSON Schema (tests/data/epcis/, see its NOTICE), to hold what silentgw writes to the standard."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # ships no type information

DATA = Path(__file__).parent / "data" / "epcis"


@functools.cache
def _validator() -> Any:
    schema = json.loads((DATA / "EPCIS-JSON-Schema.json").read_text(encoding="utf-8"))
    # The format checker makes "uri" and "date-time" count: without it a readPoint of "aisle 1" would pass.
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def schema_errors(document: Mapping[str, Any]) -> list[str]:
    """What the schema finds wrong with ``document``, one line per error (empty: valid)."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}" for e in errors]


def assert_valid(document: Mapping[str, Any]) -> None:
    """Fail with the schema's complaints unless ``document`` is valid EPCIS 2.0."""
    errors = schema_errors(document)
    assert not errors, "not valid EPCIS 2.0:\n" + "\n".join(errors)
