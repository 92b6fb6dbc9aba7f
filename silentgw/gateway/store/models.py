"""The tables, as SQLAlchemy 2 typed models; Alembic migrations in ``migrations/`` create exactly these.

Identifiers people configure (sites, locations, zones, devices) are short slugs; products, items, movements and
members get integer keys. Items are keyed by their GS1 key (the element string, e.g. ``(01)00614141812345(21)6789``),
never by the EPC URN or hex, so the same GTIN and serial written with two partition values is one item.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from silentgw.gateway.restock import RestockState  # the request's life is restock's decision; the table keeps it

__all__ = [
    "Allocation",
    "Antenna",
    "ApiKey",
    "Base",
    "CardKind",
    "CountOutcome",
    "CountScopeKind",
    "CycleCount",
    "CycleCountItem",
    "DeadLetter",
    "DeadLetterState",
    "Device",
    "DeviceKind",
    "Event",
    "Item",
    "ItemState",
    "Location",
    "LocationKind",
    "Member",
    "MemberCard",
    "Order",
    "OrderLine",
    "OrderState",
    "OutboxCursor",
    "PageSession",
    "Product",
    "ReorderRule",
    "RestockRequest",
    "RestockState",
    "Revision",
    "Role",
    "Sale",
    "SaleLine",
    "SensorHistory",
    "Site",
    "StockLevel",
    "StockMovement",
    "UnknownEpc",
    "UtcDateTime",
    "WebhookState",
    "WebhookSubscription",
    "Zone",
    "ZoneKind",
]


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: silentgw stores UTC times only")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The current time in UTC (the default for created and updated columns)."""
    return dt.datetime.now(dt.UTC)


# Constraint names fixed by convention, so migrations can name what they alter on both SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every silentgw table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: dict[Any, Any] = {dt.datetime: UtcDateTime(), dict[str, Any]: JSON()}


class LocationKind(enum.StrEnum):
    """The levels of the location tree."""

    SITE = "site"
    AREA = "area"
    LOCATION = "location"


class ZoneKind(enum.StrEnum):
    """What a zone is for; the pipeline treats portals (dock doors, exits) and checkouts specially."""

    SHELF = "shelf"
    BACKROOM = "backroom"
    RECEIVING = "receiving"
    DOCK_DOOR = "dock_door"
    PACK_STATION = "pack_station"
    CHECKOUT = "checkout"
    EXIT = "exit"


class DeviceKind(enum.StrEnum):
    """What a device does."""

    READER = "reader"
    SENSOR = "sensor"
    DISPLAY = "display"
    LOCK = "lock"


class ItemState(enum.StrEnum):
    """Where an item is in its lifecycle."""

    RECEIVED = "received"
    IN_STOCK = "in_stock"
    SOLD = "sold"
    SHIPPED = "shipped"
    MISSING = "missing"


class CardKind(enum.StrEnum):
    """How a member card is read: a 125 kHz EM4100 card, a UHF tag (by its GS1 key), or a printed barcode."""

    EM4100 = "em4100"
    EPC = "epc"
    BARCODE = "barcode"


class CountScopeKind(enum.StrEnum):
    """What a cycle count covers: one zone, or a location with the locations under it."""

    ZONE = "zone"
    LOCATION = "location"


class CountOutcome(enum.StrEnum):
    """What a cycle count made of one item: expected and seen, expected and not seen, or seen and not expected."""

    FOUND = "found"
    MISSING = "missing"
    UNEXPECTED = "unexpected"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the value ("dock_door"), checked by a constraint rather than a PostgreSQL ENUM type, so adding a
    # kind is a plain migration on both databases.
    return Enum(
        cls, name=name, native_enum=False, create_constraint=True, values_callable=lambda e: [m.value for m in e]
    )


class Site(Base):
    """A store or warehouse run by one gateway."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class Location(Base):
    """A node of the site's location tree (site > area > location)."""

    __tablename__ = "locations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[LocationKind] = mapped_column(_enum(LocationKind, "location_kind"), default=LocationKind.LOCATION)

    __table_args__ = (CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),)


class Zone(Base):
    """Where a (reader, antenna) pair looks."""

    __tablename__ = "zones"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[ZoneKind] = mapped_column(_enum(ZoneKind, "zone_kind"))


class Device(Base):
    """A reader, sensor, display or lock, with the settings of the driver that serves it."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind, "device_kind"))
    name: Mapped[str] = mapped_column(String(200), default="")
    driver: Mapped[dict[str, Any]] = mapped_column(JSON)
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", ondelete="SET NULL"))
    enabled: Mapped[bool] = mapped_column(default=True)


class Antenna(Base):
    """One antenna port of a reader, mapped to the zone it covers."""

    __tablename__ = "antennas"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id", ondelete="RESTRICT"), index=True)

    __table_args__ = (CheckConstraint("port BETWEEN 1 AND 64", name="port_range"),)


class Product(Base):
    """What items are instances of: a GTIN-14 with its SKU, name and price."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    # The GS1 company prefix inside the GTIN, when known: it lets "+" scheme EPCs be written as URNs.
    company_prefix: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("length(gtin) = 14", name="gtin_14"),
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_iso4217"),
    )


class Item(Base):
    """One tagged thing, keyed by its GS1 key."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    epc: Mapped[str] = mapped_column(String(128))  # the hex last read, upper case
    scheme: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    serial: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[ItemState] = mapped_column(_enum(ItemState, "item_state"), default=ItemState.RECEIVED)
    zone_id: Mapped[str | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"), index=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Where the ledger counts the item (its last movement's destination), None while it is counted nowhere (sold,
    # shipped, missing). Kept apart from the zone so that remapping a zone to another location never moves stock
    # without a movement.
    location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id"), index=True)
    # Why the item is held back from sale and allocation (``damaged`` after a fridge ran warm), None when it is not.
    disposition: Mapped[str | None] = mapped_column(String(32))


class StockMovement(Base):
    """One change of stock: append-only (the database refuses UPDATE and DELETE), idempotent by its key."""

    __tablename__ = "stock_movements"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(index=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="RESTRICT"), index=True)
    from_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    to_location_id: Mapped[str | None] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_location_id IS NOT NULL OR to_location_id IS NOT NULL", name="has_a_side"),
        Index("ix_stock_movements_product_location", "product_id", "to_location_id"),
    )


class Member(Base):
    """A customer in the membership programme."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    points: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The segment the member rules last saw (so a change of segment is noticed once), None before the first look.
    segment: Mapped[str | None] = mapped_column(String(32))
    # The member's purchase figures, kept by each sale recorded (store/sales.py): scoring a sale's member reads this
    # row, never the member's (or the store's) history.
    purchases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0), server_default="0")
    largest: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0), server_default="0")
    first_purchase_at: Mapped[dt.datetime | None] = mapped_column()
    last_purchase_at: Mapped[dt.datetime | None] = mapped_column()
    # Consents, given by the member, none presumed (docs: "Members' data"): offers and notifications by the member
    # rules need ``marketing_consent``; a checkout sale goes on the member's record only with ``tracking_consent``.
    marketing_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    tracking_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the member was erased (their personal data cleared, their number replaced by a pseudonym), else None.
    erased_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (CheckConstraint("points >= 0", name="points_not_negative"),)


class MemberCard(Base):
    """A card or tag that identifies a member at checkout."""

    __tablename__ = "member_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    kind: Mapped[CardKind] = mapped_column(_enum(CardKind, "card_kind"))
    value: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "value", name="uq_member_cards_kind_value"),)


class StockLevel(Base):
    """How many of a product are at a location: kept current by the ledger, one increment per movement."""

    __tablename__ = "stock_levels"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_not_negative"),)


class UnknownEpc(Base):
    """A tag seen that is not a catalogued item: why, and when and where it was seen."""

    __tablename__ = "unknown_epcs"

    epc: Mapped[str] = mapped_column(String(128), primary_key=True)  # upper-case hex, as read
    key: Mapped[str | None] = mapped_column(String(120))  # the GS1 key, when the EPC decodes
    reason: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[dt.datetime] = mapped_column()
    last_seen_at: Mapped[dt.datetime] = mapped_column()
    zone_id: Mapped[str | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    times_seen: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("times_seen > 0", name="times_seen_positive"),)


class Sale(Base):
    """A checkout's sale, keyed by the checkout's own sale id so that a replayed sale is the same row."""

    __tablename__ = "sales"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # ``checkout.sale_id``: a UUID, as text
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="RESTRICT"), index=True)
    # The checkout zone as it was named then: no foreign key, so a layout change never rewrites or refuses history.
    checkout: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[dt.datetime] = mapped_column()
    closed_at: Mapped[dt.datetime] = mapped_column(index=True)
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    points_awarded: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("points_awarded >= 0", name="points_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_iso4217"),
        CheckConstraint("opened_at <= closed_at", name="opened_before_closed"),
        Index("ix_sales_member_id_closed_at", "member_id", "closed_at"),  # a member's sale before another
    )


class SaleLine(Base):
    """One priced item of a sale, at the catalog price when it was sold."""

    __tablename__ = "sale_lines"

    sale_id: Mapped[str] = mapped_column(ForeignKey("sales.id", ondelete="CASCADE"), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(120), primary_key=True)  # the item's GS1 key, as ``items.key``
    epc: Mapped[str] = mapped_column(String(128))  # the hex read at the checkout, upper case
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    __table_args__ = (CheckConstraint("price >= 0", name="price_not_negative"),)


class CycleCount(Base):
    """A closed cycle count: its scope and window and what it found, stored once by the count's own id."""

    __tablename__ = "cycle_counts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope_kind: Mapped[CountScopeKind] = mapped_column(_enum(CountScopeKind, "count_scope_kind"))
    # The zone or location as it was named then: no foreign key, so a layout change never rewrites history.
    scope_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime] = mapped_column(index=True)
    expected: Mapped[int] = mapped_column(Integer)
    seen: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[Decimal] = mapped_column(Numeric(5, 2))  # percent of the expected items seen, rounded down
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("started_at <= ended_at", name="started_before_ended"),
        CheckConstraint("missing >= 0 AND missing <= expected", name="missing_of_expected"),
        CheckConstraint("unexpected >= 0 AND unexpected <= seen", name="unexpected_of_seen"),
        CheckConstraint("accuracy >= 0 AND accuracy <= 100", name="accuracy_percent"),
    )


class CycleCountItem(Base):
    """One item of a closed count and its outcome (found, missing or unexpected)."""

    __tablename__ = "cycle_count_items"

    count_id: Mapped[str] = mapped_column(ForeignKey("cycle_counts.id", ondelete="CASCADE"), primary_key=True)
    # The item's GS1 key, as ``items.key``; no foreign key: an unexpected tag need not be an item.
    item_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    outcome: Mapped[CountOutcome] = mapped_column(_enum(CountOutcome, "count_outcome"))


class WebhookState(enum.StrEnum):
    """Whether a webhook subscription is delivered to."""

    ACTIVE = "active"
    PARKED = "parked"
    """Too many failures in a row: nothing is sent until it is resumed or replayed."""


class Event(Base):
    """The outbox: every event, written in the transaction of the change it describes, in commit order by ``seq``.

    ``id`` is stable (derived from what caused the event), so a replayed cause writes no second event and a
    subscriber can de-duplicate by it. The dispatcher delivers from here to every sink, each from its own cursor.
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    time: Mapped[dt.datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any]] = mapped_column()
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutboxCursor(Base):
    """How far each sink (``mqtt``, ``webhook:<id>``, ...) has been delivered: the last ``events.seq`` it took."""

    __tablename__ = "outbox_cursors"

    sink: Mapped[str] = mapped_column(String(100), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DeadLetterState(enum.StrEnum):
    """Whether a dead letter still waits for someone."""

    OPEN = "open"
    REPLAYED = "replayed"
    """Replayed once its cause was fixed: it went through."""
    DISCARDED = "discarded"
    """Looked at and let go by an admin."""


class DeadLetter(Base):
    """What the gateway could not take and set aside so the rest flows on: a piece of a micro-batch the database
    refused (``source`` ``pipeline``) or an event a sink refused (``source`` the sink's name, ``event_seq`` set).

    ``payload`` holds what is needed to try again (the transitions or the sale, as JSON); ``reason`` and ``trace``
    say why it failed, for whoever fixes the cause and replays it.
    """

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    """``transitions``, ``sale`` (pipeline) or ``event`` (a sink's)."""
    event_seq: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    payload: Mapped[dict[str, Any]] = mapped_column()
    reason: Mapped[str] = mapped_column(String(1000))
    trace: Mapped[str] = mapped_column(String(20000))
    state: Mapped[DeadLetterState] = mapped_column(_enum(DeadLetterState, "dead_letter_state"),
                                                   default=DeadLetterState.OPEN, index=True)  # fmt: skip
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Revision(Base):
    """A counter per kind of state the running pipeline keeps a copy of (``catalog``: members, cards, zones,
    devices): bumped in the transaction of every change, so the pipeline sees in one cheap read that it must reload."""

    __tablename__ = "revisions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class WebhookSubscription(Base):
    """A receiver of events over HTTPS, with the secret its bodies are signed with and an event-type filter."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The signing key. Kept as given (HMAC needs it), never returned by the API after creation.
    secret: Mapped[str] = mapped_column(String(200))
    types: Mapped[dict[str, Any]] = mapped_column()  # {"include": ["silentgw.item.*", ...]}; empty: every type
    description: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[WebhookState] = mapped_column(_enum(WebhookState, "webhook_state"), default=WebhookState.ACTIVE)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    """Failed attempts in a row at the oldest undelivered event."""
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)


class SensorHistory(Base):
    """Sensor readings downsampled per bucket (a minute by default), so history queries need no time-series server."""

    __tablename__ = "sensor_history"

    sensor: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(primary_key=True)  # the bucket's start
    unit: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column()
    minimum: Mapped[float] = mapped_column()
    maximum: Mapped[float] = mapped_column()
    last: Mapped[float] = mapped_column()

    __table_args__ = (CheckConstraint("count > 0", name="count_positive"),)


class OrderState(enum.StrEnum):
    """Where a customer or transfer order is in fulfilment."""

    OPEN = "open"
    """Taken, not (fully) allocated: not enough stock yet."""
    ALLOCATED = "allocated"
    PACKED = "packed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class ReorderRule(Base):
    """When a product at a location is reordered, and how much."""

    __tablename__ = "reorder_rules"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    minimum: Mapped[int] = mapped_column(Integer)
    maximum: Mapped[int] = mapped_column(Integer)
    multiple: Mapped[int] = mapped_column(Integer, default=1)
    lead_time_days: Mapped[int] = mapped_column(Integer, default=0)
    auto_approve: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        CheckConstraint("minimum >= 0", name="minimum_not_negative"),
        CheckConstraint("maximum > minimum", name="maximum_above_minimum"),
        CheckConstraint("multiple >= 1", name="multiple_positive"),
        CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),
    )


class RestockRequest(Base):
    """A request to bring a product at a location back to its maximum; one open request per shortfall."""

    __tablename__ = "restock_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # derived from the event that raised it
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    location_id: Mapped[str] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"))
    quantity: Mapped[int] = mapped_column(Integer)
    received: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer)
    """The stock level that raised it."""
    state: Mapped[RestockState] = mapped_column(_enum(RestockState, "restock_state"), default=RestockState.PROPOSED)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime] = mapped_column()
    due_at: Mapped[dt.datetime] = mapped_column()

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received >= 0", name="received_not_negative"),
        Index("ix_restock_requests_open", "product_id", "location_id", "state"),
    )


class Order(Base):
    """An order to fulfil from stock: lines of products, a ship-to, items allocated, picked, packed, shipped."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    """The caller's own reference (an idempotency key: the same reference is the same order)."""
    ship_to: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[OrderState] = mapped_column(_enum(OrderState, "order_state"), default=OrderState.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime] = mapped_column()


class OrderLine(Base):
    """A line of an order: how many of a product."""

    __tablename__ = "order_lines"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class Allocation(Base):
    """An item set aside for an order's line; packed when read at a pack station, shipped through a dock door."""

    __tablename__ = "allocations"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    item_key: Mapped[str] = mapped_column(String(120), primary_key=True)
    line: Mapped[int] = mapped_column(Integer)
    packed_at: Mapped[dt.datetime | None] = mapped_column()
    shipped_at: Mapped[dt.datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    """False once released (the order cancelled): the item may be allocated again."""

    __table_args__ = (Index("ix_allocations_item_key", "item_key"),)


class Role(enum.StrEnum):
    """What an API key may do. Every role reads; each of the others may also do its own kind of change.

    Members' personal data (name, email, phone, birthday, card ids) is read only by admins and the privacy role
    (``api.auth.PERSONAL_DATA``); every other role sees a member's number, consents, segment and figures.
    """

    STAFF = "staff"
    """Read: stock, items, orders, members, devices, events."""
    OPERATOR = "operator"
    """And act in the store: approve and order restock, run cycle counts, send device commands."""
    INTEGRATOR = "integrator"
    """And integrate: place and cancel orders, subscribe webhooks, follow events."""
    ADMIN = "admin"
    """And everything: the catalog, the layout, devices, API keys."""
    PRIVACY = "privacy"
    """And members' personal data, for whoever answers members' requests: read it, correct it and the consents
    (update), export a member's data, erase a member. Nothing else is changed by it."""


class ApiKey(Base):
    """An API key: its public id, a SHA-256 of the whole key (the key itself is never stored), its role."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(_enum(Role, "api_role"))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class PageSession(Base):
    """A sign-in on the staff page: the SHA-256 of its random id (the browser's cookie holds the id, the server never
    does), the key it was made from, and when it was made, ends and was last used."""

    __tablename__ = "page_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime] = mapped_column()
    last_seen_at: Mapped[dt.datetime] = mapped_column()
