"""Members' data on SQL: everything held on a member (:func:`export`), and erasing a member (:func:`erase`).

Erasing keeps the member's row, so their sales, points and figures stay where they were (stock, sales totals and
every other member's scores are unchanged), but makes it nobody's: the number becomes a pseudonym, ``erased-`` and
96 random bits (stable: the same one in the member's row, their sales, which point at that row, and every event and
dead letter; and derived from nothing, so no one holding the old number can compute it); the name, email, phone,
birthday and consents are cleared, the cards deleted, and the tags of UHF cards dropped from the unknown EPCs. Each
event and dead letter that mentions the member (their number or a card) is rewritten as ``gateway.members.Erasure``
says. A query with LIKE on the stored JSON's text finds the candidates, so an erasure reads only the rows that may
mention the member, though the database scans the events table for them.

What has already left the gateway (events delivered over MQTT or to webhooks) is not reached: the receivers are told
by whoever handles the member's request.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Column, ColumnElement, Connection, Text, bindparam, cast, delete, or_, select, update

from silentgw.gateway.members import Erasure
from silentgw.gateway.store import revisions
from silentgw.gateway.store.models import (
    Base,
    DeadLetter,
    Event,
    Member,
    MemberCard,
    Product,
    Sale,
    SaleLine,
    UnknownEpc,
    utcnow,
)
from silentgw.gateway.store.sales import UnknownMember

__all__ = ["PREFIX", "erase", "export", "pseudonym"]

logger = logging.getLogger(__name__)

PREFIX = "erased-"
"""How an erased member's pseudonym starts."""

_members = Base.metadata.tables[Member.__tablename__]
_cards = Base.metadata.tables[MemberCard.__tablename__]
_sales = Base.metadata.tables[Sale.__tablename__]
_lines = Base.metadata.tables[SaleLine.__tablename__]
_products = Base.metadata.tables[Product.__tablename__]
_events = Base.metadata.tables[Event.__tablename__]
_letters = Base.metadata.tables[DeadLetter.__tablename__]
_unknown = Base.metadata.tables[UnknownEpc.__tablename__]

_PROFILE = ("number", "name", "email", "phone", "birthday", "joined_at", "points", "segment", "marketing_consent",
            "tracking_consent", "erased_at")  # fmt: skip
_FIGURES = ("purchases", "spent", "largest", "first_purchase_at", "last_purchase_at")


def pseudonym() -> str:
    """A new pseudonym for an erased member: random, so nothing about the member derives it."""
    return PREFIX + secrets.token_hex(12)


def export(conn: Connection, number: str) -> dict[str, Any]:
    """Everything held on member ``number``: profile and consents, figures, cards, sales with their lines, and the
    events and dead letters that mention them; :class:`UnknownMember` if there is none."""
    m = _member(conn, number)
    c, s, ln, p = _cards.c, _sales.c, _lines.c, _products.c
    cards = conn.execute(select(c.kind, c.value, c.active, c.issued_at).where(c.member_id == m["id"]).order_by(c.id))
    sales = [dict(r._mapping) for r in conn.execute(
        select(s.id, s.checkout, s.opened_at, s.closed_at, s.total, s.currency, s.points_awarded)
        .where(s.member_id == m["id"]).order_by(s.closed_at, s.id)
    )]  # fmt: skip
    lines: dict[str, list[dict[str, Any]]] = {}
    query = (
        select(ln.sale_id, ln.item_key.label("item"), ln.epc, p.gtin, p.name.label("product"), ln.price)
        .join(_products, p.id == ln.product_id).where(ln.sale_id.in_([sale["id"] for sale in sales]))
        .order_by(ln.sale_id, ln.item_key)
    )  # fmt: skip
    for row in conn.execute(query):
        line = dict(row._mapping)
        lines.setdefault(line.pop("sale_id"), []).append(line)
    erasure = _erasure(conn, m, "")
    letters = _mentioning(conn, erasure, _letters, _letters.c.id, ("payload", "reason", "trace"))
    return {
        "member": {k: m[k] for k in _PROFILE},
        "figures": {k: m[k] for k in _FIGURES},
        "cards": [dict(r._mapping) for r in cards],
        "sales": [{**sale, "lines": lines.get(sale["id"], [])} for sale in sales],
        "events": [{k: row[k] for k in ("id", "type", "subject", "time", "data")}
                   for row in _mentioning(conn, erasure, _events, _events.c.seq, ("subject", "data"))],
        "dead_letters": [{k: row[k] for k in ("id", "source", "kind", "payload", "reason", "created_at")}
                         for row in letters],
    }  # fmt: skip


def erase(conn: Connection, number: str, *, now: dt.datetime | None = None) -> str:
    """Erase member ``number`` in the connection's transaction (module docstring); their pseudonym."""
    m = _member(conn, number)
    erasure = _erasure(conn, m, pseudonym())
    e, d = _events.c, _letters.c
    events = [{"b_seq": r["seq"], "b_subject": erasure.text(r["subject"]), "b_data": erasure.json(r["data"])}
              for r in _mentioning(conn, erasure, _events, e.seq, ("subject", "data"))]  # fmt: skip
    if events:
        conn.execute(update(_events).where(e.seq == bindparam("b_seq"))
                     .values(subject=bindparam("b_subject"), data=bindparam("b_data")), events)  # fmt: skip
    letters = [
        {"b_id": r["id"], "b_payload": erasure.json(r["payload"]), "b_reason": erasure.text(r["reason"]),
         "b_trace": erasure.text(r["trace"])}
        for r in _mentioning(conn, erasure, _letters, d.id, ("payload", "reason", "trace"))
    ]  # fmt: skip
    if letters:
        conn.execute(update(_letters).where(d.id == bindparam("b_id"))
                     .values(payload=bindparam("b_payload"), reason=bindparam("b_reason"),
                             trace=bindparam("b_trace")), letters)  # fmt: skip
    if erasure.cards:
        u = _unknown.c
        conn.execute(delete(_unknown).where(or_(u.epc.in_(erasure.cards), u.key.in_(erasure.cards))))
    conn.execute(delete(_cards).where(_cards.c.member_id == m["id"]))
    conn.execute(update(_members).where(_members.c.id == m["id"]).values(
        number=erasure.pseudonym, name="", email=None, phone=None, birthday=None, marketing_consent=False,
        tracking_consent=False, erased_at=now or utcnow()))  # fmt: skip
    revisions.bump(conn, revisions.CATALOG)  # the running pipeline forgets the cards
    logger.info("member erased: now %s (%d events, %d dead letters rewritten)", erasure.pseudonym, len(events),
                len(letters))  # fmt: skip
    return erasure.pseudonym


def _member(conn: Connection, number: str) -> dict[str, Any]:
    row = conn.execute(select(_members).where(_members.c.number == number)).first()
    if row is None:
        raise UnknownMember(f"no member {number}")
    return dict(row._mapping)


def _erasure(conn: Connection, member: dict[str, Any], pseudonym: str) -> Erasure:
    cards = frozenset(conn.execute(select(_cards.c.value).where(_cards.c.member_id == member["id"])).scalars())
    birthday = member["birthday"]
    personal = {member["name"], member["email"], member["phone"], birthday and birthday.isoformat(), *cards}
    return Erasure(member["number"], pseudonym, cards, frozenset(v for v in personal if v))


def _mentioning(
    conn: Connection, erasure: Erasure, table: Any, key: Column[Any], columns: Iterable[str]
) -> list[dict[str, Any]]:
    """The rows of ``table`` whose ``columns`` mention the member: a LIKE on their text finds the candidates (a
    member number inside a longer one among them), :meth:`Erasure.mentions` decides."""
    names = list(columns)
    needles = [orjson.dumps(v).decode()[1:-1] for v in (erasure.number, *erasure.cards)]  # as the JSON text has them
    like: list[ColumnElement[bool]] = [
        cast(table.c[name], Text).contains(needle, autoescape=True) for name in names for needle in needles
    ]
    rows = conn.execute(select(table).where(or_(*like)).order_by(key))
    return [found for r in rows if erasure.mentions([(found := dict(r._mapping))[n] for n in names])]
