"""Settings loaded from generated TOML (the example's tables with mutated values, and any text) and SILENTGW_*
variables: a settings object or ConfigError, nothing else."""

from __future__ import annotations

import copy
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.config import ConfigError, Settings, load_settings
from tests.fuzz.documents import Raw, json_text, numbers, toml_text, wild
from tests.fuzz.harness import COUNTS, fuzzed

EXAMPLE = tomllib.loads((Path(__file__).parents[2] / "silentgw" / "example.toml").read_text())
_FOLDER = Path(tempfile.mkdtemp(prefix="silentgw-fuzz-"))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the example a value sits, as keys and indexes from the top."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*prefix, i))
    return found


PATHS = _paths(EXAMPLE)
_values = st.one_of(
    wild(2),
    numbers,
    st.sampled_from([Raw("1979-05-27T07:32:00Z"), Raw("07:32:00"), Raw("0x7FFFFFFFFFFFFFFF"), ""]),
)


def _mutated(changes: list[tuple[tuple[Any, ...], Any, bool]]) -> dict[str, Any]:
    """The example with each change made: the value at a path replaced, or the key removed (where it still is)."""
    data = copy.deepcopy(EXAMPLE)
    for path, value, remove in changes:
        node: Any = data
        for step in path[:-1]:
            node = _child(node, step)
        if isinstance(node, dict) and remove:
            node.pop(path[-1], None)
        elif isinstance(node, dict) or (isinstance(node, list) and type(path[-1]) is int and path[-1] < len(node)):
            node[path[-1]] = value
    return data


def _child(node: Any, step: Any) -> Any:
    """``node[step]``, or None where an earlier change took it away."""
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and type(step) is int and step < len(node):
        return node[step]
    return None


_changes = st.lists(st.tuples(st.sampled_from(PATHS), _values, st.booleans()), min_size=1, max_size=4)
_documents = st.one_of(
    _changes.map(lambda changes: toml_text(_mutated(changes))),
    st.tuples(st.just(toml_text(EXAMPLE)), st.integers(0, 4000), st.text(max_size=6)).map(
        lambda p: p[0][: p[1]] + p[2] + p[0][p[1] :]
    ),
    st.text(max_size=200),
    st.integers(1, 3000).map(lambda n: "a = " + "[" * n + "]" * n),
)
_names = st.sampled_from([
    "SILENTGW_API__PORT", "SILENTGW_ZONES", "SILENTGW_MQTT", "SILENTGW_SITE__ID", "SILENTGW_X", "SILENTGW_DEVICES",
    "SILENTGW_MQTT__TLS", "silentgw_log_level", "SILENTGW_CONFIG",
])  # fmt: skip
_environ = st.dictionaries(_names, st.one_of(st.text(max_size=20), wild(2).map(json_text)), max_size=3)


@fuzzed
@given(document=st.one_of(_documents, st.binary(max_size=200)), environ=_environ, use_file=st.booleans())
def test_load_settings(document: str | bytes, environ: dict[str, str], use_file: bool) -> None:
    COUNTS["settings"] += 1
    path = _FOLDER / "silentgw.toml"
    data = document if isinstance(document, bytes) else document.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    try:
        settings = load_settings(path if use_file else None, environ)
    except ConfigError as exc:
        reason = str(exc)
        assert reason
        return
    assert isinstance(settings, Settings)
