"""Event ids: the same cause gives the same id, the UUIDv5 the outbox has always stored."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from silentgw.gateway.events import NAMESPACE, event_id


@given(st.text(), st.text())
def test_an_event_id_is_the_uuid5_of_its_type_and_cause(type_: str, cause: str) -> None:
    assert event_id(type_, cause) == str(uuid.uuid5(NAMESPACE, f"{type_}\n{cause}"))


def test_an_event_id_is_stable() -> None:
    # Fixed forever: an id that changed would be delivered again as a new event after an upgrade.
    assert event_id("silentgw.item.received", "received:k") == "c2a11e1a-2ad7-5b69-ab06-b3792177cf27"
