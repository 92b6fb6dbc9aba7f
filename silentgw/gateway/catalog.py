"""The catalog: products, the location tree, zones, devices with their antennas, and members with their cards.

This is the one place that reads and writes those tables for people (the API, the demo seeder, ``silentgw`` commands):
it checks references before the database would, so a caller hears *which* field names something that does not exist,
and it turns integrity errors into conditions the caller can act on.

CatalogError
 ├── NotFound        the thing asked for does not exist
 ├── Conflict        the thing would duplicate a unique value (a GTIN, a SKU, an id, a card)
 ├── UnknownReference  a field names something that does not exist (a zone's location, an antenna's zone)
 ├── InvalidValue    a field's value does not fit with the rest of the record
 ├── InvalidCursor   a pagination cursor this catalog did not hand out
 └── InUse           the thing cannot be deleted while others refer to it
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from silentgw.gateway.identity.prefixes import CompanyPrefixes
from silentgw.gateway.store import revisions
from silentgw.gateway.store.models import (
    Antenna,
    Base,
    Device,
    DeviceKind,
    Location,
    Member,
    MemberCard,
    Product,
    Site,
    Zone,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "Conflict",
    "InUse",
    "InvalidCursor",
    "InvalidValue",
    "NotFound",
    "Page",
    "UnknownReference",
    "contains",
    "decode_cursor",
    "encode_cursor",
]

M = TypeVar("M", bound=Base)
T = TypeVar("T")


class CatalogError(Exception):
    """Root of the catalog's errors; ``field`` names the input at fault, where there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(CatalogError):
    """The thing asked for does not exist."""


class Conflict(CatalogError):
    """The change would duplicate a value that must be unique."""


class UnknownReference(CatalogError):
    """A field names something that does not exist."""


class InUse(CatalogError):
    """The thing cannot be deleted while other records refer to it."""


class InvalidValue(CatalogError):
    """A field's value does not fit with the rest of the record."""


class InvalidCursor(CatalogError):
    """A pagination cursor that this catalog did not hand out."""


class Page(Generic[T]):
    """One page of a list, and the opaque cursor of the next page (None on the last)."""

    __slots__ = ("items", "next_cursor")

    def __init__(self, items: Sequence[T], next_cursor: str | None) -> None:
        self.items = items
        self.next_cursor = next_cursor


def encode_cursor(*keys: Any) -> str:
    """A cursor pointing past the row whose ordering keys are ``keys`` (JSON values; opaque to clients)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(keys))).decode().rstrip("=")


# The integer keys are at most 64 bits on both databases; a larger one in a cursor is not one we handed out.
_MAX_KEY = 2**63 - 1


def decode_cursor(cursor: str, *kinds: type[Any]) -> list[Any]:
    """The keys inside ``cursor``, refused unless they are as many as ``kinds`` and of those types (the ordering keys
    of the list it is used with)."""
    try:
        keys = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise InvalidCursor("not a cursor this API handed out", field="cursor") from exc
    # bool is an int to isinstance; a cursor from another list (a string key for an integer one) is refused too
    if (
        not isinstance(keys, list)
        or len(keys) != len(kinds)
        or not all(
            type(k) is kind and (kind is not int or -_MAX_KEY <= k <= _MAX_KEY)
            for k, kind in zip(keys, kinds, strict=True)
        )
    ):
        raise InvalidCursor("not a cursor this API handed out for this list", field="cursor")
    return keys


def contains(text: str) -> str:
    """A LIKE pattern (escaped with ``\\``) that matches values containing ``text``, its ``%`` and ``_`` as typed."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Catalog:
    """Catalog reads and writes within one session; the caller owns the transaction."""

    def __init__(self, session: Session, *, site_id: str) -> None:
        self.session = session
        self.site_id = site_id

    # generic ------------------------------------------------------------------------------------------------------

    def get(self, model: type[M], key: Any, *, what: str | None = None) -> M:
        """The row of ``model`` with primary key ``key``, or :class:`NotFound`."""
        row = self.session.get(model, key)
        if row is None:
            raise NotFound(f"{what or model.__tablename__.rstrip('s')} {key!r} not found")
        return row

    def page(
        self,
        model: type[M],
        *,
        where: Sequence[ColumnElement[bool]] = (),
        cursor: str | None = None,
        limit: int = 50,
        options: Sequence[Any] = (),
    ) -> Page[M]:
        """Rows of ``model`` in primary-key order, ``limit`` at a time, after the row ``cursor`` points past."""
        pk = model.__mapper__.primary_key[0]
        key = model.__mapper__.get_property_by_column(pk).key
        query = select(model).where(*where).order_by(pk).limit(limit + 1).options(*options)
        if cursor is not None:
            query = query.where(pk > decode_cursor(cursor, pk.type.python_type)[0])
        rows = list(self.session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(getattr(rows[-1], key)) if more else None
        return Page(rows, next_cursor)

    def add(self, row: M) -> M:
        """Insert ``row``; a duplicate unique value is a :class:`Conflict`."""
        self.session.add(row)
        self._flush(row)
        return row

    def update(self, row: M, changes: Mapping[str, Any]) -> M:
        """Apply ``changes`` to ``row``; a duplicate unique value is a :class:`Conflict`."""
        for name, value in changes.items():
            setattr(row, name, value)
        self._flush(row)
        return row

    def delete(self, row: Base) -> None:
        """Delete ``row``; refused with :class:`InUse` while other rows refer to it."""
        self.session.delete(row)
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError as exc:
            self.session.expunge_all()
            raise InUse(
                f"{row.__tablename__.rstrip('s')} is still referred to; remove what refers to it first"
            ) from exc
        self._announce(row)

    def _flush(self, row: Base) -> None:
        try:
            with self.session.begin_nested():
                self.session.flush()
        except IntegrityError as exc:
            raise Conflict(_conflict_message(row, exc), field=_conflict_field(exc)) from exc
        self._announce(row)

    def _announce(self, row: Base) -> None:
        """A change the running pipeline keeps a copy of moves the catalog's revision, in this transaction."""
        if isinstance(row, _COPIED):
            revisions.bump(self.session, revisions.CATALOG)

    # references ---------------------------------------------------------------------------------------------------

    def site(self) -> Site:
        """This gateway's site row, created on first use."""
        site = self.session.get(Site, self.site_id)
        if site is None:
            site = self.add(Site(id=self.site_id, name=self.site_id))
        return site

    def require(self, model: type[Base], key: Any, *, field: str) -> None:
        """Refuse with :class:`UnknownReference` when ``field`` names a row of ``model`` that does not exist."""
        if key is not None and self.session.get(model, key) is None:
            raise UnknownReference(
                f"{field} names {model.__tablename__.rstrip('s')} {key!r}, which does not exist", field=field
            )

    def check_parent(self, location_id: str, parent_id: str | None) -> None:
        """Refuse a parent that does not exist or that would make the location its own ancestor."""
        self.require(Location, parent_id, field="parent")
        seen = {location_id}
        while parent_id is not None:
            if parent_id in seen:
                raise UnknownReference(f"location {location_id!r} would be its own ancestor", field="parent")
            seen.add(parent_id)
            parent = self.session.get(Location, parent_id)
            parent_id = parent.parent_id if parent is not None else None

    # products -----------------------------------------------------------------------------------------------------

    def product(self, gtin: str) -> Product:
        """The product with this GTIN-14."""
        row = self.session.scalar(select(Product).where(Product.gtin == gtin))
        if row is None:
            raise NotFound(f"product with GTIN {gtin} not found")
        return row

    @staticmethod
    def check_company_prefix(gtin: str, prefix: str | None) -> None:
        """Refuse a company prefix that is not the one inside the GTIN."""
        # A GTIN-14 is an indicator digit, then the company prefix, then the item reference and a check digit.
        if prefix is not None and gtin[1 : 1 + len(prefix)] != prefix:
            raise InvalidValue(
                f"company_prefix {prefix} is not the start of GTIN {gtin} after its indicator digit",
                field="company_prefix",
            )

    def company_prefixes(self) -> CompanyPrefixes:
        """The GS1 company prefixes the catalog knows (from its products), for writing "+" scheme EPCs as URNs."""
        query = select(Product.company_prefix).where(Product.company_prefix.is_not(None)).distinct()
        return CompanyPrefixes.of(p for p in self.session.scalars(query) if p is not None)

    def products(self, *, q: str | None = None, cursor: str | None = None, limit: int = 50) -> Page[Product]:
        """Products, optionally those whose name or SKU contains ``q``."""
        where = _containing(q, Product.name, Product.sku, Product.gtin)
        return self.page(Product, where=where, cursor=cursor, limit=limit)

    def members(
        self, *, q: str | None = None, cursor: str | None = None, limit: int = 50, personal: bool = True
    ) -> Page[Member]:
        """Members, optionally those whose name, number or email contains ``q`` (only the number without
        ``personal``: a search by name must not tell a caller who may not read names who is a member)."""
        where = _containing(q, *((Member.name, Member.number, Member.email) if personal else (Member.number,)))
        return self.page(Member, where=where, cursor=cursor, limit=limit)

    # devices and members carry children -----------------------------------------------------------------------------

    def set_antennas(self, device: Device, antennas: Sequence[tuple[int, str]]) -> None:
        """Replace a reader's antenna-to-zone map with ``(port, zone)`` pairs; other devices have none."""
        if antennas and device.kind != DeviceKind.READER:
            raise InvalidValue(f"only readers have antennas; device {device.id!r} is a {device.kind}", field="antennas")
        for i, (_port, zone) in enumerate(antennas):
            self.require(Zone, zone, field=f"antennas.{i}.zone")
        for old in self.antennas(device.id):
            self.session.delete(old)
        self.session.flush()
        for port, zone in antennas:
            self.session.add(Antenna(device_id=device.id, port=port, zone_id=zone))
        self._flush(device)

    def antennas(self, device_id: str) -> list[Antenna]:
        """A reader's antennas in port order."""
        return list(self.session.scalars(select(Antenna).where(Antenna.device_id == device_id).order_by(Antenna.port)))

    def antennas_of(self, device_ids: Sequence[str]) -> dict[str, list[Antenna]]:
        """The antennas of several devices at once (one query for a whole page)."""
        found: dict[str, list[Antenna]] = {d: [] for d in device_ids}
        query = select(Antenna).where(Antenna.device_id.in_(device_ids)).order_by(Antenna.device_id, Antenna.port)
        for antenna in self.session.scalars(query):
            found[antenna.device_id].append(antenna)
        return found

    def cards(self, member_ids: Sequence[int]) -> dict[int, list[MemberCard]]:
        """The cards of several members at once."""
        found: dict[int, list[MemberCard]] = {m: [] for m in member_ids}
        query = select(MemberCard).where(MemberCard.member_id.in_(member_ids)).order_by(MemberCard.id)
        for card in self.session.scalars(query):
            found[card.member_id].append(card)
        return found

    def member_by_card(self, kind: str, value: str) -> Member:
        """The member holding an active card of this kind and value."""
        query = (
            select(Member).join(MemberCard).where(MemberCard.kind == kind, MemberCard.value == value, MemberCard.active)
        )
        row = self.session.scalar(query)
        if row is None:
            raise NotFound(f"no member holds {kind} card {value}")
        return row


# Where each database names the columns of the unique key that was violated. Only those parts are read: the rest
# of the message quotes the values, and an id like "sku-gun" must not look like the sku column.
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w., ]+)")
_POSTGRES_KEY = re.compile(r"Key \((?P<columns>[\w, ]+)\)=")


_COPIED = (Member, MemberCard, Location, Zone, Device, Antenna)
"""What the read pipeline copies into memory (members' cards, the zones' locations and kinds)."""


def _containing(q: str | None, *columns: Any) -> list[ColumnElement[bool]]:
    """The filter "one of ``columns`` contains ``q``" (case-insensitive, ``%`` and ``_`` taken literally), or none."""
    if not q:
        return []
    pattern = contains(q)
    return [or_(*(column.ilike(pattern, escape="\\") for column in columns))]


def _conflict_field(exc: IntegrityError) -> str | None:
    """The column of the unique key ``exc`` violated (the last one, for a key of several columns)."""
    detail = getattr(getattr(exc.orig, "diag", None), "message_detail", None)  # psycopg's DETAIL line
    found = _POSTGRES_KEY.search(detail or "") or _SQLITE_UNIQUE.search(str(exc.orig))
    if found is None:
        return None
    return found["columns"].split(",")[-1].strip().rsplit(".", 1)[-1]


def _conflict_message(row: Base, exc: IntegrityError) -> str:
    field = _conflict_field(exc)
    noun = row.__tablename__.rstrip("s").replace("_", " ")
    if field is None:
        return f"{noun} conflicts with an existing record"
    return f"a {noun} with this {field} already exists"
