"""Sales and their lines: each checkout sale once, by the checkout's sale id, on the member's record.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: nothing existing is altered, so SQLite needs no batch-mode rebuild (see 0002).
    op.create_table(
        "sales",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("checkout", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("points_awarded", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("total >= 0", name=op.f("ck_sales_total_not_negative")),
        sa.CheckConstraint("points_awarded >= 0", name=op.f("ck_sales_points_not_negative")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_sales_currency_iso4217")),
        sa.CheckConstraint("opened_at <= closed_at", name=op.f("ck_sales_opened_before_closed")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_sales_member_id_members"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
    )
    op.create_index(op.f("ix_sales_member_id"), "sales", ["member_id"], unique=False)
    op.create_index(op.f("ix_sales_closed_at"), "sales", ["closed_at"], unique=False)
    op.create_table(
        "sale_lines",
        sa.Column("sale_id", sa.String(length=36), nullable=False),
        sa.Column("item_key", sa.String(length=120), nullable=False),
        sa.Column("epc", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_sale_lines_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_sale_lines_product_id_products"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"], ["sales.id"], name=op.f("fk_sale_lines_sale_id_sales"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sale_id", "item_key", name=op.f("pk_sale_lines")),
    )
    op.create_index(op.f("ix_sale_lines_product_id"), "sale_lines", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sale_lines_product_id"), table_name="sale_lines")
    op.drop_table("sale_lines")
    op.drop_index(op.f("ix_sales_closed_at"), table_name="sales")
    op.drop_index(op.f("ix_sales_member_id"), table_name="sales")
    op.drop_table("sales")
