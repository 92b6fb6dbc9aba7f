"""Members: the customers of the membership programme, and the cards that identify them at checkout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator, model_validator
from sqlalchemy import select, tuple_

from silentgw.api.deps import CatalogDep, CursorDep, LimitDep, SettingsDep
from silentgw.api.schemas import PageOut
from silentgw.gateway.catalog import Catalog, Conflict, InvalidCursor, NotFound, decode_cursor, encode_cursor
from silentgw.gateway.store.models import CardKind, Member, MemberCard, Sale, SaleLine
from silentgw.gateway.store.sales import SqlSales

router = APIRouter(prefix="/members", tags=["members"])

Number = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"), Field(examples=["M-000123"])]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{3,32}$", max_length=32)]


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

    @model_validator(mode="after")
    def _cards_unique(self) -> Self:
        _unique_cards(self.cards)
        return self


class CardOut(BaseModel):
    """A member's card."""

    kind: CardKind
    value: str
    active: bool


class MemberOut(BaseModel):
    """A member."""

    number: str
    name: str
    email: str | None
    phone: str | None
    birthday: dt.date | None
    points: int
    joined_at: dt.datetime
    cards: list[CardOut]


def _out(row: Member, cards: list[MemberCard]) -> MemberOut:
    return MemberOut(
        number=row.number,
        name=row.name,
        email=row.email,
        phone=row.phone,
        birthday=row.birthday,
        points=row.points,
        joined_at=row.joined_at,
        cards=[CardOut(kind=c.kind, value=c.value, active=c.active) for c in cards],
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
def create_member(body: MemberIn, catalog: CatalogDep, request: Request, response: Response) -> MemberOut:
    """Enrol a member; 409 when the number, the email or a card is taken."""
    row = catalog.add(Member(**body.model_dump(exclude={"cards"})))
    _replace_cards(catalog, row, body.cards)
    response.headers["Location"] = str(request.url_for("get_member", number=row.number))
    return _out(row, catalog.cards([row.id])[row.id])


@router.get("", summary="List members")
def list_members(
    catalog: CatalogDep,
    cursor: CursorDep = None,
    limit: LimitDep = 50,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name, number or email")] = None,
) -> PageOut[MemberOut]:
    """Members in the order they joined, a page at a time."""
    page = catalog.members(q=q, cursor=cursor, limit=limit)
    cards = catalog.cards([m.id for m in page.items])
    return PageOut(items=[_out(m, cards[m.id]) for m in page.items], next_cursor=page.next_cursor)


@router.get("/{number}", summary="Get a member")
def get_member(number: str, catalog: CatalogDep) -> MemberOut:
    """The member with this number, with their cards."""
    row = _by_number(catalog, number)
    return _out(row, catalog.cards([row.id])[row.id])


@router.patch("/{number}", summary="Update a member")
def update_member(number: str, body: MemberPatch, catalog: CatalogDep) -> MemberOut:
    """Change the fields given; ``null`` clears an optional field."""
    row = _by_number(catalog, number)
    changes = body.model_dump(exclude_unset=True)
    cards = changes.pop("cards", None)
    if changes.get("name", "") is None:
        del changes["name"]
    catalog.update(row, changes)
    if cards is not None:
        _replace_cards(catalog, row, body.cards or [])
    return _out(row, catalog.cards([row.id])[row.id])


@router.delete("/{number}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a member")
def delete_member(number: str, catalog: CatalogDep) -> None:
    """Remove a member and their cards."""
    catalog.delete(_by_number(catalog, number))


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
