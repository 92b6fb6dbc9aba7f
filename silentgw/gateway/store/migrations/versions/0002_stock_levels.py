"""Stock levels per product and location, unknown EPCs, and where the ledger counts each item.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stock_levels",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_stock_levels_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_stock_levels_location_id_locations"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_stock_levels_product_id_products"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("product_id", "location_id", name=op.f("pk_stock_levels")),
    )
    op.create_table(
        "unknown_epcs",
        sa.Column("epc", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("zone_id", sa.String(length=64), nullable=True),
        sa.Column("times_seen", sa.Integer(), nullable=False),
        sa.CheckConstraint("times_seen > 0", name=op.f("ck_unknown_epcs_times_seen_positive")),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_unknown_epcs_zone_id_zones"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("epc", name=op.f("pk_unknown_epcs")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # A plain ADD COLUMN, not batch mode: rebuilding items would drop the table stock_movements refers to, which
        # SQLite refuses with foreign keys on (and they stay on inside the migration's transaction). No ON DELETE
        # clause: SQLite reflects none from a column constraint, and the default (NO ACTION) refuses the delete too.
        op.execute(
            "ALTER TABLE items ADD COLUMN location_id VARCHAR(64) "
            "CONSTRAINT fk_items_location_id_locations REFERENCES locations (id)"
        )
    else:
        op.add_column("items", sa.Column("location_id", sa.String(length=64), nullable=True))
        op.create_foreign_key(op.f("fk_items_location_id_locations"), "items", "locations", ["location_id"], ["id"])
    op.create_index(op.f("ix_items_location_id"), "items", ["location_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_items_location_id"), table_name="items")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE items DROP COLUMN location_id")  # SQLite 3.35+, once its index is gone
    else:
        op.drop_constraint(op.f("fk_items_location_id_locations"), "items", type_="foreignkey")
        op.drop_column("items", "location_id")
    op.drop_table("unknown_epcs")
    op.drop_table("stock_levels")
