"""Members: the customers of the membership programme, and the cards that identify them at checkout.

Personal data (name, email, phone, birthday, cards) is read only with the ``personal_data`` permission (admins, the
``privacy`` role: ``api.auth``); for every other key :func:`_out`, which every route returning a member goes through,
leaves those fields null, and a search matches numbers only. The privacy role also corrects members and their
consents, exports a member's data and erases a member (``gateway/store/members.py`` says what erasing does).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator
from sqlalchemy import select, tuple_

from silentgw.api.auth import allow, personal_data
from silentgw.api.deps import CatalogDep, CursorDep, LimitDep, SettingsDep
from silentgw.api.schemas import PageOut
from silentgw.gateway.catalog import Catalog, Conflict, InUse, InvalidCursor, NotFound, decode_cursor, encode_cursor
from silentgw.gateway.store import members as stored_members
from silentgw.gateway.store.models import CardKind, Member, MemberCard, Role, Sale, SaleLine
from silentgw.gateway.store.sales import SqlSales

router = APIRouter(prefix="/members", tags=["members"])

Number = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"), Field(examples=["M-000123"])]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{3,32}$", max_length=32)]
Personal = Annotated[bool, Depends(personal_data)]
"""Whether the request's key may read members' personal data."""
MARKETING = "The member agrees to offers and notifications from the member rules (none without it)."
TRACKING = "The member agrees that their checkout sales go on their record (without it: points only)."


class CardIn(BaseModel):
    """A card: an EM4100 card's 10 hex digits, a UHF tag's GS1 key or EPC hex, or a barcode."""

    model_config = ConfigDict(extra="forbid")

    kind: CardKind
    value: Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]

    @field_validator("value")
    @classmethod
    def _well_formed(cls, value: str, info: ValidationInfo) -> str:
        # A field validator, so the error names `cards.N.value`; `kind` is validated first (declared first).
        if info.data.get("kind") == CardKind.EM4100:
            # EM4100 carries 40 bits: a version/customer byte and a 32-bit id, read as 10 hex digits.
            if len(value) != 10 or any(c not in "0123456789abcdefABCDEF" for c in value):
                raise ValueError("an EM4100 card id is 10 hex digits")
            return value.upper()
        return value


def _unique_cards(cards: list[CardIn] | None) -> None:
    pairs = [(c.kind, c.value) for c in cards or []]
    if len(pairs) != len(set(pairs)):
        raise ValueError("the same card is listed twice")


class MemberIn(BaseModel):
    """A new member."""

    model_config = ConfigDict(extra="forbid")

    number: Number
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    birthday: dt.date | None = None
    cards: list[CardIn] = Field(default_factory=list, max_length=20)
    marketing_consent: bool = Field(default=False, description=MARKETING)
    tracking_consent: bool = Field(default=False, description=TRACKING)

    @model_validator(mode="after")
    def _cards_unique(self) -> Self:
        _unique_cards(self.cards)
        return self


class MemberPatch(BaseModel):
    """Changes to a member; ``cards`` replaces the member's cards."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    birthday: dt.date | None = None
    cards: list[CardIn] | None = Field(default=None, max_length=20)
    marketing_consent: bool | None = Field(default=None, description=MARKETING)
    tracking_consent: bool | None = Field(default=None, description=TRACKING)

    @model_validator(mode="after")
    def _cards_unique(self) -> Self:
        _unique_cards(self.cards)
        return self


class CardOut(BaseModel):
    """A member's card."""

    kind: CardKind
    value: str
    active: bool


WITHHELD = "Null for a key without the personal_data permission."


class MemberOut(BaseModel):
    """A member; name, email, phone, birthday and cards only for a key with the ``personal_data`` permission."""

    number: str
    name: str | None = Field(description=f"Empty once the member is erased. {WITHHELD}")
    email: str | None = Field(description=WITHHELD)
    phone: str | None = Field(description=WITHHELD)
    birthday: dt.date | None = Field(description=WITHHELD)
    points: int
    joined_at: dt.datetime
    segment: str | None = Field(description="The segment the member rules last saw (null before the first look).")
    marketing_consent: bool = Field(description=MARKETING)
    tracking_consent: bool = Field(description=TRACKING)
    erased_at: dt.datetime | None = Field(description="When the member was erased (their number is a pseudonym).")
    cards: list[CardOut] | None = Field(description=WITHHELD)


def _out(row: Member, cards: list[MemberCard], *, personal: bool) -> MemberOut:
    """The member as the key may see them: the one place personal data is left out."""
    shown = personal or None  # None withholds each personal field below
    return MemberOut(
        number=row.number,
        name=shown and row.name,
        email=shown and row.email,
        phone=shown and row.phone,
        birthday=shown and row.birthday,
        points=row.points,
        joined_at=row.joined_at,
        segment=row.segment,
        marketing_consent=row.marketing_consent,
        tracking_consent=row.tracking_consent,
        erased_at=row.erased_at,
        cards=shown and [CardOut(kind=c.kind, value=c.value, active=c.active) for c in cards],
    )


def _by_number(catalog: Catalog, number: str) -> Member:
    row = catalog.session.scalar(select(Member).where(Member.number == number))
    if row is None:
        raise NotFound(f"member {number!r} not found")
    return row


def _replace_cards(catalog: Catalog, member: Member, cards: list[CardIn]) -> None:
    for old in catalog.cards([member.id])[member.id]:
        catalog.session.delete(old)
    catalog.session.flush()
    for i, card in enumerate(cards):
        try:
            catalog.add(MemberCard(member_id=member.id, kind=card.kind, value=card.value))
        except Conflict as exc:
            raise Conflict(
                f"{card.kind} card {card.value} belongs to another member", field=f"cards.{i}.value"
            ) from exc


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a member")
def create_member(
    body: MemberIn, catalog: CatalogDep, request: Request, response: Response, personal: Personal
) -> MemberOut:
    """Enrol a member; 409 when the number, the email or a card is taken. No consent is presumed: both default to
    false until the member gives them."""
    row = catalog.add(Member(**body.model_dump(exclude={"cards"})))
    _replace_cards(catalog, row, body.cards)
    response.headers["Location"] = str(request.url_for("get_member", number=row.number))
    return _out(row, catalog.cards([row.id])[row.id], personal=personal)


@router.get("", summary="List members")
def list_members(
    catalog: CatalogDep,
    personal: Personal,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Part of the number, or (with personal_data) of the name or email"),
    ] = None,
) -> PageOut[MemberOut]:
    """Members in the order they joined, a page at a time."""
    page = catalog.members(q=q, cursor=cursor, limit=limit, personal=personal)
    cards = catalog.cards([m.id for m in page.items])
    return PageOut(items=[_out(m, cards[m.id], personal=personal) for m in page.items], next_cursor=page.next_cursor)


@router.get("/{number}", summary="Get a member")
def get_member(number: str, catalog: CatalogDep, personal: Personal) -> MemberOut:
    """The member with this number, with their cards."""
    row = _by_number(catalog, number)
    return _out(row, catalog.cards([row.id])[row.id], personal=personal)


@router.patch("/{number}", summary="Update a member")
@allow(Role.PRIVACY)
def update_member(number: str, body: MemberPatch, catalog: CatalogDep, personal: Personal) -> MemberOut:
    """Change the fields given; ``null`` clears an optional field (a consent stays as it is)."""
    row = _by_number(catalog, number)
    changes = body.model_dump(exclude_unset=True)
    cards = changes.pop("cards", None)
    for required in ("name", "marketing_consent", "tracking_consent"):
        if changes.get(required, "") is None:
            del changes[required]
    catalog.update(row, changes)
    if cards is not None:
        _replace_cards(catalog, row, body.cards or [])
    return _out(row, catalog.cards([row.id])[row.id], personal=personal)


@router.delete("/{number}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a member")
def delete_member(number: str, catalog: CatalogDep) -> None:
    """Remove a member and their cards; 409 for a member with sales on record, who can be erased instead."""
    try:
        catalog.delete(_by_number(catalog, number))
    except InUse as exc:
        raise InUse(
            "a member with sales on record cannot be deleted (the sales and the figures would change); erase them "
            "instead: POST /api/v1/members/{number}/erase clears their personal data and keeps their sales under a "
            "pseudonym"
        ) from exc


@router.post("/{number}/erase", status_code=status.HTTP_204_NO_CONTENT, summary="Erase a member")
@allow(Role.PRIVACY)
def erase_member(number: str, catalog: CatalogDep) -> None:
    """Anonymise the member: name, email, phone, birthday and consents cleared, cards removed, their number replaced
    by a random pseudonym in their record, their sales and the stored events; their sales, points and figures stay,
    so stock, sales totals and other members' scores are unchanged. The old number is then unknown (404)."""
    _by_number(catalog, number)
    stored_members.erase(catalog.session.connection(), number)


class ExportCardOut(CardOut):
    """A member's card, with when it was issued."""

    issued_at: dt.datetime


class ExportLineOut(BaseModel):
    """An item of a sale: its GS1 key, the EPC read, the product and the price."""

    item: str
    epc: str
    gtin: str
    product: str
    price: Decimal


class ExportSaleOut(BaseModel):
    """A sale on the member's record, with its lines."""

    id: str
    checkout: str
    opened_at: dt.datetime
    closed_at: dt.datetime
    total: Decimal
    currency: str
    points_awarded: int
    lines: list[ExportLineOut]


class ExportEventOut(BaseModel):
    """A stored event that mentions the member (their number or a card)."""

    id: str
    type: str
    subject: str
    time: dt.datetime
    data: dict[str, Any]


class ExportDeadLetterOut(BaseModel):
    """Something the gateway set aside that mentions the member."""

    id: int
    source: str
    kind: str
    payload: dict[str, Any]
    reason: str
    created_at: dt.datetime


class ExportProfileOut(BaseModel):
    """What the member told the programme, what it gave them, and their consents."""

    number: str
    name: str
    email: str | None
    phone: str | None
    birthday: dt.date | None
    joined_at: dt.datetime
    points: int
    segment: str | None
    marketing_consent: bool
    tracking_consent: bool
    erased_at: dt.datetime | None


class ExportFiguresOut(BaseModel):
    """The purchase figures kept on the member's record."""

    purchases: int
    spent: Decimal
    largest: Decimal
    first_purchase_at: dt.datetime | None
    last_purchase_at: dt.datetime | None


class MemberExport(BaseModel):
    """Everything silentgw holds on a member."""

    exported_at: dt.datetime
    member: ExportProfileOut
    figures: ExportFiguresOut
    cards: list[ExportCardOut]
    sales: list[ExportSaleOut]
    events: list[ExportEventOut]
    dead_letters: list[ExportDeadLetterOut]


@router.get("/{number}/export", summary="Everything held on a member")
@allow(Role.PRIVACY)
def export_member(number: str, catalog: CatalogDep) -> MemberExport:
    """The member's profile and consents, figures, cards, sales with their items, and the stored events and dead
    letters that mention them, as one JSON document (for a member's request for their data)."""
    _by_number(catalog, number)
    found = stored_members.export(catalog.session.connection(), number)
    return MemberExport.model_validate({**found, "exported_at": dt.datetime.now(dt.UTC)})


class ValueOut(BaseModel):
    """What a member is worth to the programme: figures, their 1-5 scores against all members, segment, points."""

    number: str
    purchases: int
    monetary: Decimal
    largest: Decimal
    first_purchase: dt.date | None
    last_purchase: dt.date | None
    recency_days: int | None
    rfm: dict[str, int]
    segment: str
    points: int


class PurchaseOut(BaseModel):
    """One of a member's sales."""

    sale: str
    checkout: str
    time: dt.datetime
    total: Decimal
    currency: str
    points: int
    items: list[str]


@router.get("/{number}/value", summary="A member's RFM figures, scores, segment and points")
def member_value(number: str, catalog: CatalogDep, settings: SettingsDep) -> ValueOut:
    """Scored against every member today (the site's time zone); the segment rules are in the docs."""
    _by_number(catalog, number)
    sales = SqlSales(catalog.session.get_bind(), timezone=settings.site.timezone)  # type: ignore[arg-type]
    today = dt.datetime.now(ZoneInfo(settings.site.timezone)).date()
    v = sales.value(number, today)
    f = v.figures
    return ValueOut(
        number=number, purchases=f.frequency, monetary=f.monetary, largest=f.largest, first_purchase=f.first,
        last_purchase=f.last, recency_days=None if f.last is None else (today - f.last).days,
        rfm={"recency": v.rfm.recency, "frequency": v.rfm.frequency, "monetary": v.rfm.monetary},
        segment=str(v.segment), points=v.points,
    )  # fmt: skip


@router.get("/{number}/purchases", summary="A member's purchases")
def member_purchases(
    number: str, catalog: CatalogDep, cursor: CursorDep = None, limit: LimitDep = 50
) -> PageOut[PurchaseOut]:
    """The member's sales, newest first, with the items of each, a page at a time."""
    member = _by_number(catalog, number)
    s, ln = Sale.__table__.c, SaleLine.__table__.c
    query = (
        select(s.id, s.checkout, s.closed_at, s.total, s.currency, s.points_awarded)
        .where(s.member_id == member.id).order_by(s.closed_at.desc(), s.id.desc()).limit(limit + 1)
    )  # fmt: skip
    if cursor is not None:
        when, sale = decode_cursor(cursor, str, str)
        try:
            after = dt.datetime.fromisoformat(when)
        except ValueError:
            raise InvalidCursor("not a cursor this API handed out for this list", field="cursor") from None
        query = query.where(tuple_(s.closed_at, s.id) < tuple_(after, sale))
    rows = catalog.session.execute(query).all()
    more, rows = len(rows) > limit, rows[:limit]
    lines: dict[str, list[str]] = {}
    for sale_id, key in catalog.session.execute(
        select(ln.sale_id, ln.item_key).where(ln.sale_id.in_([r[0] for r in rows]))
    ):
        lines.setdefault(sale_id, []).append(key)
    return PageOut[PurchaseOut](
        items=[
            PurchaseOut(sale=i, checkout=c, time=t, total=tot, currency=cur, points=pts, items=sorted(lines.get(i, [])))
            for i, c, t, tot, cur, pts in rows
        ],
        next_cursor=encode_cursor(rows[-1][2].isoformat(), rows[-1][0]) if more else None,
    )
