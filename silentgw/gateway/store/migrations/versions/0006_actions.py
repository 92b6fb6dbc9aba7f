"""Actions: reorder rules and restock requests, orders with their lines and allocated items, an item's disposition
(held back from sale) and a member's last seen segment.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 22:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _state(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def upgrade() -> None:
    # New tables, and two nullable columns added (SQLite adds a nullable column in place: no batch rebuild needed).
    op.create_table(
        "orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("ship_to", sa.JSON(), nullable=False),
        sa.Column(
            "state", _state("order_state", "open", "allocated", "packed", "shipped", "cancelled"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("reference", name=op.f("uq_orders_reference")),
    )
    op.create_index(op.f("ix_orders_created_at"), "orders", ["created_at"], unique=False)
    op.create_table(
        "allocations",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("item_key", sa.String(length=120), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("packed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_allocations_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", "item_key", name=op.f("pk_allocations")),
    )
    op.create_index("ix_allocations_item_key", "allocations", ["item_key"], unique=False)
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("order_id", "line", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_product_id"), "order_lines", ["product_id"], unique=False)
    op.create_table(
        "reorder_rules",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.Column("maximum", sa.Integer(), nullable=False),
        sa.Column("multiple", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("auto_approve", sa.Boolean(), nullable=False),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_reorder_rules_lead_time_not_negative")),
        sa.CheckConstraint("maximum > minimum", name=op.f("ck_reorder_rules_maximum_above_minimum")),
        sa.CheckConstraint("minimum >= 0", name=op.f("ck_reorder_rules_minimum_not_negative")),
        sa.CheckConstraint("multiple >= 1", name=op.f("ck_reorder_rules_multiple_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_reorder_rules_location_id_locations"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_reorder_rules_product_id_products"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("product_id", "location_id", name=op.f("pk_reorder_rules")),
    )
    states = ("proposed", "approved", "ordered", "partially_received", "received", "cancelled")
    op.create_table(
        "restock_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("state", _state("restock_state", *states), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_restock_requests_quantity_positive")),
        sa.CheckConstraint("received >= 0", name=op.f("ck_restock_requests_received_not_negative")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_restock_requests_location_id_locations"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_restock_requests_product_id_products"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_restock_requests")),
    )
    op.create_index(op.f("ix_restock_requests_created_at"), "restock_requests", ["created_at"], unique=False)
    op.create_index(
        "ix_restock_requests_open", "restock_requests", ["product_id", "location_id", "state"], unique=False
    )
    op.create_index(op.f("ix_restock_requests_product_id"), "restock_requests", ["product_id"], unique=False)
    op.add_column("items", sa.Column("disposition", sa.String(length=32), nullable=True))
    op.add_column("members", sa.Column("segment", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild would turn the items' inline foreign keys into
    # table constraints that 0002's downgrade could then not drop its column from.
    op.drop_column("members", "segment")
    op.drop_column("items", "disposition")
    op.drop_table("restock_requests")
    op.drop_table("reorder_rules")
    op.drop_table("order_lines")
    op.drop_table("allocations")
    op.drop_table("orders")
