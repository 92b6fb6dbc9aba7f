"""What each section of the staff page shows, gathered through the API's own route functions and the store's, so
the page and ``/api/v1`` answer from the same queries and the same rules.

Each function takes what the staff typed (already a plain string) and returns values for the templates; input that
cannot be a GTIN or an EPC becomes a message to show, never an error page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import select

from silentgw.api.routes import device_health, devices, restock, stock
from silentgw.api.routes.device_health import HealthOut
from silentgw.api.routes.restock import RequestOut
from silentgw.api.routes.stock import HistoryOut, LevelOut, LowOut
from silentgw.gateway.app import Gateway
from silentgw.gateway.catalog import Catalog, NotFound
from silentgw.gateway.events import StoredEvent
from silentgw.gateway.identity.errors import EpcError
from silentgw.gateway.store import outbox
from silentgw.gateway.store.models import Product

__all__ = [
    "FEED_SIZE",
    "DeviceRow",
    "Finding",
    "Restock",
    "Search",
    "device_rows",
    "find_item",
    "recent_events",
    "restock_section",
    "search_stock",
]

FEED_SIZE = 20
"""How many of the newest events the page shows when it loads."""
SEARCH_LIMIT = 100
"""How many stock levels a search shows at most."""

_GTIN = re.compile(r"^[0-9]{8,14}$")


@dataclass(frozen=True, slots=True)
class Search:
    """A stock search: what was asked, the levels found, and a note when there is something to say."""

    q: str
    rows: list[LevelOut]
    more: bool = False
    message: str | None = None


@dataclass(frozen=True, slots=True)
class Restock:
    """Low stock, and the restock requests still open, with product names to show beside the GTINs."""

    low: list[LowOut]
    requests: list[RequestOut]
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    """An item looked up: its history when found, otherwise why not."""

    asked: str
    history: HistoryOut | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device and, when the gateway that runs it is in this process, what its supervisor knows of it."""

    id: str
    name: str
    kind: str
    location: str | None
    enabled: bool
    health: HealthOut | None


def search_stock(catalog: Catalog, q: str) -> Search:
    """Levels of the products whose GTIN is ``q`` (8 to 14 digits), or whose SKU is it, or whose name contains it."""
    q = q.strip()[:100]
    if not q:
        return Search(q, [], message="Type a GTIN, a SKU or a part of a product's name.")
    if _GTIN.match(q):
        page = stock.stock(catalog.session, gtin=q, limit=SEARCH_LIMIT)
    else:
        page = stock.stock(catalog.session, q=q, limit=SEARCH_LIMIT)
    message = None if page.items else f"Nothing in stock matches “{q}”."
    return Search(q, page.items, more=page.next_cursor is not None, message=message)


def restock_section(catalog: Catalog) -> Restock:
    """What is at or below its reorder minimum, and every open restock request (oldest first)."""
    low = stock.low_stock(catalog.session)
    requests = restock.list_requests(catalog, state="open", limit=200).items
    names = {row.gtin: row.name for row in low}
    missing = {r.gtin for r in requests} - names.keys()
    if missing:
        query = select(Product.gtin, Product.name).where(Product.gtin.in_(missing))
        names |= {gtin: name for gtin, name in catalog.session.execute(query)}
    return Restock(low, requests, names)


def find_item(catalog: Catalog, *, epc: str = "", gtin: str = "", serial: str = "") -> Finding:
    """The item whose tag carries ``epc`` (hex), or with ``gtin`` and ``serial``, and everything that happened to it."""
    epc, gtin, serial = epc.strip(), gtin.strip(), serial.strip()
    session = catalog.session
    if epc:
        asked = f"EPC {epc[:64]}"
    elif gtin or serial:
        asked = f"GTIN {gtin[:14]} serial {serial[:20]}"
        if not _GTIN.match(gtin):
            return Finding(asked, message="A GTIN has 8 to 14 digits.")
        if not 1 <= len(serial) <= 20:
            return Finding(asked, message="Give the serial too (1 to 20 characters).")
        try:
            epc = stock.find_item(session, gtin=gtin, serial=serial).epc
        except NotFound:
            return Finding(asked, message=f"No item with GTIN {gtin} and serial {serial} has been seen here.")
    else:
        return Finding("", message=None)
    try:
        return Finding(asked, history=stock.item_history(epc, session))
    except EpcError as exc:
        return Finding(asked, message=f"That is not an EPC this gateway can read: {exc.reason}.")
    except NotFound:
        return Finding(asked, message=f"No item with EPC {epc.upper()[:64]} has been seen here.")


def recent_events(catalog: Catalog, limit: int = FEED_SIZE) -> tuple[int, list[StoredEvent]]:
    """The newest sequence number and up to ``limit`` of the newest events, newest first."""
    conn = catalog.session.connection()
    latest = outbox.latest(conn)
    found = outbox.read(conn, max(0, latest - limit), limit=limit)
    return latest, found[::-1]


def device_rows(catalog: Catalog, request: Request, gateway: Gateway | None) -> list[DeviceRow]:
    """Every device of the database and of the gateway running here, with its health when the gateway runs it."""

    def health(device: str) -> HealthOut | None:
        if gateway is None or device not in gateway.drivers:
            return None
        answer = device_health.device_health(device, request)
        return answer if isinstance(answer, HealthOut) else None

    stored = devices.list_devices(catalog, limit=500).items
    rows = [DeviceRow(d.id, d.name, str(d.kind), d.location, d.enabled, health(d.id)) for d in stored]
    known = {d.id for d in stored}
    configured = gateway.settings.devices if gateway is not None else ()
    rows += [
        DeviceRow(d.id, d.name, str(d.kind), d.location, True, health(d.id)) for d in configured if d.id not in known
    ]
    return rows
