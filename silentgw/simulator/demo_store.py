"""The demo store's catalog: a few dozen products with well-formed GTINs, and members with their cards.

The layout (locations, zones, readers) comes from the example config; this module adds what a config does not hold.
GTINs are built on GS1's documentation prefixes (0614141, 9501101 and 4012345 appear in GS1's own examples), with
correct check digits, so every demo EPC decodes the way a real one would.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from silentgw.gateway.catalog import Catalog
from silentgw.gateway.identity import gs1
from silentgw.gateway.store.models import CardKind, Member, MemberCard, Product, ReorderRule

__all__ = ["DEMO_MEMBERS", "DEMO_PRODUCTS", "DemoProduct", "seed_catalog", "seed_reorder_rules"]


@dataclass(frozen=True, slots=True)
class DemoProduct:
    """A product of the demo store."""

    gtin: str
    sku: str
    name: str
    price: Decimal
    company_prefix: str


_LINES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "0614141",
        "GRC",
        (
            ("Whole milk 1 L", "1.29"),
            ("Greek yoghurt 500 g", "2.49"),
            ("Butter 250 g", "2.79"),
            ("Aged gouda 400 g", "5.99"),
            ("Free-range eggs x10", "3.49"),
            ("Sourdough loaf", "3.20"),
            ("Espresso beans 1 kg", "14.90"),
            ("Green tea x20", "2.99"),
            ("Extra virgin olive oil 750 ml", "8.95"),
            ("Basmati rice 1 kg", "2.69"),
            ("Dark chocolate 85% 100 g", "2.25"),
            ("Sparkling water 6x1.5 L", "3.60"),
        ),
    ),
    (
        "9501101",
        "APP",
        (
            ("Merino crew sweater M", "79.00"),
            ("Merino crew sweater L", "79.00"),
            ("Organic cotton tee S", "19.95"),
            ("Organic cotton tee M", "19.95"),
            ("Organic cotton tee L", "19.95"),
            ("Slim chinos 32/32", "59.00"),
            ("Slim chinos 34/32", "59.00"),
            ("Rain jacket M", "129.00"),
            ("Wool socks 39-42", "12.50"),
            ("Leather belt 90 cm", "39.00"),
            ("Canvas sneakers 42", "69.00"),
            ("Canvas sneakers 44", "69.00"),
        ),
    ),
    (
        "4012345",
        "HOM",
        (
            ("LED bulb E27 806 lm", "4.99"),
            ("AA batteries x8", "7.49"),
            ("Kitchen towels x4", "3.99"),
            ("Dish soap 500 ml", "1.89"),
            ("Stainless water bottle 750 ml", "24.90"),
            ("Ceramic mug 350 ml", "8.50"),
            ("Scented candle", "12.00"),
            ("Phone charger USB-C 20 W", "19.99"),
            ("Notebook A5 dotted", "6.95"),
            ("Gel pens x4", "4.49"),
            ("Reusable shopping bag", "1.50"),
            ("First-aid kit", "17.90"),
        ),
    ),
)


def _products() -> tuple[DemoProduct, ...]:
    products = []
    for prefix, family, lines in _LINES:
        reference_digits = 12 - len(prefix)  # GTIN-13 = prefix + item reference + check digit
        for n, (name, price) in enumerate(lines, start=1):
            reference = (n * 104_729 + 8_123) % 10**reference_digits  # spread out, like real item references
            body = "0" + prefix + f"{reference:0{reference_digits}d}"  # indicator 0, then a GTIN-13 without check
            gtin = body + gs1.check_digit(body)
            products.append(DemoProduct(gtin, f"{family}-{n:03d}", name, Decimal(price), prefix))
    return tuple(products)


DEMO_PRODUCTS = _products()

DEMO_MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("M-0001", "Ada Lovelace", "0A00B1C2D3"),
    ("M-0002", "Grace Hopper", "0A00B1C2D4"),
    ("M-0003", "Alan Turing", "0A00B1C2D5"),
    ("M-0004", "Katherine Johnson", "0A00B1C2D6"),
    ("M-0005", "Edsger Dijkstra", "0A00B1C2D7"),
    ("M-0006", "Barbara Liskov", "0A00B1C2D8"),
    ("M-0007", "Donald Knuth", "0A00B1C2D9"),
    ("M-0008", "Margaret Hamilton", "0A00B1C2DA"),
    ("M-0009", "Claude Shannon", "0A00B1C2DB"),
    ("M-0010", "Frances Allen", "0A00B1C2DC"),
    ("M-0011", "John Backus", "0A00B1C2DD"),
    ("M-0012", "Radia Perlman", "0A00B1C2DE"),
)
"""Member number, name and the EM4100 card id (10 hex digits) each one carries."""


def seed_catalog(catalog: Catalog, *, today: dt.date, seed: int = 7) -> tuple[int, int]:
    """Add the demo products and members that are not there yet; returns how many of each were added."""
    rng = random.Random(seed)
    added_products = added_members = 0
    existing = set(catalog.session.scalars(Product.__table__.select().with_only_columns(Product.gtin)))
    for p in DEMO_PRODUCTS:
        if p.gtin not in existing:
            catalog.add(
                Product(
                    gtin=p.gtin, sku=p.sku, name=p.name, price=p.price, currency="EUR", company_prefix=p.company_prefix
                )
            )
            added_products += 1
    numbers = set(catalog.session.scalars(Member.__table__.select().with_only_columns(Member.number)))
    for number, name, card in DEMO_MEMBERS:
        if number in numbers:
            continue
        first = name.split()[0].lower()
        birthday = today.replace(year=today.year - rng.randint(19, 70)) - dt.timedelta(days=rng.randint(0, 364))
        # The demo's members gave both consents, so the demo shows their purchases and the member rules' offers.
        member = catalog.add(Member(number=number, name=name, email=f"{first}@example.org", birthday=birthday,
                                    marketing_consent=True, tracking_consent=True))  # fmt: skip
        catalog.add(MemberCard(member_id=member.id, kind=CardKind.EM4100, value=card))
        added_members += 1
    return added_products, added_members


def seed_reorder_rules(catalog: Catalog, homes: Mapping[str, str], *, minimum: int = 5, maximum: int = 10) -> int:
    """Add a reorder rule for each product (GTIN) at the location it is shelved in (``homes``: GTIN -> location) where
    it has none; how many were added.

    A store day stocks six of each product on its shelf, so a product's first sales propose a restock request: the
    demo shows requests for staff to approve within its first minutes.
    """
    query = select(Product.gtin, Product.id).where(Product.gtin.in_(list(homes)))
    ids = {gtin: pid for gtin, pid in catalog.session.execute(query)}
    have = {(pid, loc) for pid, loc in catalog.session.execute(select(ReorderRule.product_id, ReorderRule.location_id))}
    added = 0
    for gtin, location in sorted(homes.items()):
        pid = ids.get(gtin)
        if pid is not None and (pid, location) not in have:
            catalog.session.add(ReorderRule(product_id=pid, location_id=location, minimum=minimum, maximum=maximum))
            added += 1
    catalog.session.flush()
    return added
