"""Events: facts that happened, each with a stable id, written in the transaction of the change they describe.

An :class:`Event` is made by a pure function from what caused it (a ledger movement, a sale, an alarm, a device
going down), and its id is derived from that cause (:func:`event_id`), so deciding the same cause twice gives the same
event, which the outbox stores once. Sinks see events as :class:`StoredEvent`, with the outbox's sequence number,
and send them as CloudEvents 1.0 (:func:`cloudevent`).

Types (the CloudEvents ``type``):

- ``silentgw.item.<reason>``, one per ledger movement: ``received``, ``commissioned``, ``moved``, ``sold``,
  ``shipped``, ``missing``, ``found``; the subject is the item's GS1 key.
- ``silentgw.stock.changed``: a product's level at a location after a micro-batch changed it (``quantity``) and the
  batch's net ``change``; subject ``<gtin>@<location>``.
- ``silentgw.sale.completed``: a checkout sale on a member's record (or anonymous); subject the sale id.
- ``silentgw.alarm.unpaid_exit``: an item left through an exit without a sale; subject the EPC.
- ``silentgw.device.down`` and ``silentgw.device.up``; subject the device id.
- ``silentgw.product.changed``: a product's name, price or currency changed through the API; subject the GTIN.
- ``silentgw.tag.arrived``: a tag arriving at a pack station (where fulfilment checks what is packed); subject the
  EPC. Other zones' arrivals are not events: only the ledger's movements are.
- ``silentgw.count.closed``: a cycle count closed, with its figures; subject the count id (its missing items each
  have their ``silentgw.item.missing``).

The rules add their own (``silentgw.restock.*``, ``silentgw.order.*``, ``silentgw.sensor.*``, ``silentgw.member.*``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Event",
    "StoredEvent",
    "cloudevent",
    "count_closed",
    "device_status",
    "event_id",
    "item_event",
    "matches",
    "product_changed",
    "rfc3339",
    "sale_completed",
    "stock_changed",
    "tag_arrived",
    "unpaid_exit",
]

NAMESPACE = uuid.UUID("6f1d2c2e-6b1a-5c0e-9a43-51e4c1f0a7d2")
"""The UUIDv5 namespace of silentgw event ids (fixed forever: changing it would change every id)."""

ITEM = "silentgw.item."
STOCK_CHANGED = "silentgw.stock.changed"
SALE_COMPLETED = "silentgw.sale.completed"
UNPAID_EXIT = "silentgw.alarm.unpaid_exit"
DEVICE = "silentgw.device."
TAG_ARRIVED = "silentgw.tag.arrived"
PRODUCT_CHANGED = "silentgw.product.changed"
COUNT_CLOSED = "silentgw.count.closed"


@dataclass(frozen=True, slots=True)
class Event:
    """A fact to deliver: its stable id, CloudEvents type, subject, when it happened and its data (JSON values)."""

    id: str
    type: str
    subject: str
    time: dt.datetime
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the outbox holds it: ``seq`` orders events by commit, the same for every sink."""

    seq: int
    id: str
    type: str
    subject: str
    time: dt.datetime
    data: Mapping[str, Any]


def event_id(type_: str, cause: str) -> str:
    """The id of the event of ``type_`` caused by ``cause`` (a movement key, a sale id): the same cause, the same id."""
    return str(uuid.uuid5(NAMESPACE, f"{type_}\n{cause}"))


def rfc3339(time: dt.datetime) -> str:
    """``time`` in UTC as RFC 3339 with milliseconds and a ``Z``."""
    return time.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item_event(
    cause: str,
    *,
    reason: str,
    item: str,
    time: dt.datetime,
    epc: str | None,
    gtin: str | None,
    from_location: str | None,
    to_location: str | None,
    zone: str | None,
    sale: str | None = None,
) -> Event:
    """The event of one ledger movement (``cause`` is its idempotency key)."""
    type_ = ITEM + reason
    data = {
        "item": item, "epc": epc, "gtin": gtin, "reason": reason, "from_location": from_location,
        "to_location": to_location, "zone": zone,
    }  # fmt: skip
    if sale is not None:
        data["sale"] = sale
    return Event(event_id(type_, cause), type_, item, time, data)


def stock_changed(
    cause: str, *, gtin: str, location: str, quantity: int, time: dt.datetime, change: int | None = None
) -> Event:
    """A product's new level at a location, and by how much the batch changed it (``cause`` names the batch's first
    movement of that pair)."""
    data: dict[str, Any] = {"gtin": gtin, "location": location, "quantity": quantity}
    if change is not None:
        data["change"] = change
    return Event(event_id(STOCK_CHANGED, cause), STOCK_CHANGED, f"{gtin}@{location}", time, data)


def sale_completed(
    sale: str,
    *,
    member: str | None,
    checkout: str,
    opened: dt.datetime,
    time: dt.datetime,
    total: str,
    currency: str,
    points: int,
    lines: list[dict[str, str]],
) -> Event:
    """A checkout's sale as recorded: whose, where, the priced lines (item, epc, price), the total and points."""
    data = {
        "sale": sale, "member": member, "checkout": checkout, "opened": rfc3339(opened), "total": total,
        "currency": currency, "points": points, "lines": lines,
    }  # fmt: skip
    return Event(event_id(SALE_COMPLETED, sale), SALE_COMPLETED, sale, time, data)


def unpaid_exit(epc: str, portal: str, time: dt.datetime) -> Event:
    """An item that left through an exit without a sale."""
    cause = f"{epc}@{rfc3339(time)}"
    return Event(event_id(UNPAID_EXIT, cause), UNPAID_EXIT, epc, time, {"epc": epc, "exit": portal})


def product_changed(gtin: str, *, name: str, price: str, currency: str, time: dt.datetime) -> Event:
    """A product's name or price changed (shelf displays show them)."""
    cause = f"{gtin}@{rfc3339(time)}/{price}/{currency}/{name}"
    data = {"gtin": gtin, "name": name, "price": price, "currency": currency}
    return Event(event_id(PRODUCT_CHANGED, cause), PRODUCT_CHANGED, gtin, time, data)


def count_closed(
    count: str, *, scope: str, scope_id: str, started: dt.datetime, time: dt.datetime, figures: Mapping[str, Any]
) -> Event:
    """A cycle count closed: its scope, window and what it found (expected, seen, missing, unexpected, accuracy)."""
    data = {"count": count, "scope": scope, "scope_id": scope_id, "started": rfc3339(started), **figures}
    return Event(event_id(COUNT_CLOSED, count), COUNT_CLOSED, count, time, data)


def tag_arrived(epc: str, zone: str, time: dt.datetime) -> Event:
    """A tag arriving in a zone whose arrivals rules act on (a pack station)."""
    cause = f"{epc}@{zone}@{rfc3339(time)}"
    return Event(event_id(TAG_ARRIVED, cause), TAG_ARRIVED, epc, time, {"epc": epc, "zone": zone})


def device_status(device: str, state: str, time: dt.datetime, detail: str) -> Event:
    """A device going down or coming up, as its supervisor said."""
    type_ = DEVICE + state
    cause = f"{device}@{rfc3339(time)}"
    return Event(event_id(type_, cause), type_, device, time, {"device": device, "state": state, "detail": detail})


def matches(type_: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Whether ``type_`` matches a filter: exact types or prefixes ending in ``*`` (no patterns: everything)."""
    if not patterns:
        return True
    return any(type_ == p or (p.endswith("*") and type_.startswith(p[:-1])) for p in patterns)


def cloudevent(event: StoredEvent, *, source: str) -> dict[str, Any]:
    """The CloudEvents 1.0 JSON envelope of ``event``; ``sequence`` (the extension of that name) is the outbox's."""
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": source,
        "type": event.type,
        "subject": event.subject,
        "time": rfc3339(event.time),
        "datacontenttype": "application/json",
        "sequence": f"{event.seq:020d}",  # the extension orders values as strings: zero-padded
        "data": dict(event.data),
    }
