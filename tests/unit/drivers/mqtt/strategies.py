"""Hypothesis strategies for the dialects' fuzz tests: JSON documents built from the keys the dialects look at."""

from __future__ import annotations

import json

from hypothesis import strategies as st

KEYS = [
    "data", "idHex", "antenna", "peakRssi", "reads", "timestamp", "type", "command", "response", "payload",
    "tagInventoryEvent", "epc", "epcHex", "antennaPort", "peakRssiCdbm", "lastSeenTime", "antennaConnectedEvent",
    "inventoryStatusEvent", "status", "rssi", "time", "value", "quantity", "unit", "items",
]  # fmt: skip

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner),
    max_leaves=25,
)
documents = values.map(lambda v: json.dumps(v).encode())
"""JSON text (stdlib, so integers past 64 bits and NaN too) of values shaped like the dialects' payloads."""
payloads = st.lists(documents, min_size=1, max_size=4).map(b"".join) | st.lists(documents, max_size=4).map(b"\n".join)
"""One document, several glued together, or several lines."""
