"""Member figures kept with the member: purchases, money spent, largest purchase, first and last purchase times,
updated by each sale recorded (so scoring a sale's member reads one row, not the store's history); and an index on a
member's sales by time (the sale before this one, for the first-visit rule).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 02:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("members", sa.Column("purchases", sa.Integer(), server_default="0", nullable=False))
    op.add_column("members", sa.Column("spent", sa.Numeric(precision=14, scale=2), server_default="0", nullable=False))
    op.add_column("members", sa.Column("largest", sa.Numeric(precision=12, scale=2), server_default="0",
                                       nullable=False))  # fmt: skip
    op.add_column("members", sa.Column("first_purchase_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("members", sa.Column("last_purchase_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_sales_member_id_closed_at"), "sales", ["member_id", "closed_at"], unique=False)
    # The figures of the sales already stored (UPDATE ... FROM: SQLite 3.33 and later, PostgreSQL).
    op.execute(
        """
        UPDATE members SET purchases = agg.purchases, spent = agg.spent, largest = agg.largest,
               first_purchase_at = agg.first_at, last_purchase_at = agg.last_at
        FROM (SELECT member_id, count(*) AS purchases, sum(total) AS spent, max(total) AS largest,
                     min(closed_at) AS first_at, max(closed_at) AS last_at
              FROM sales WHERE member_id IS NOT NULL GROUP BY member_id) AS agg
        WHERE members.id = agg.member_id
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sales_member_id_closed_at"), table_name="sales")
    # Plain DROP COLUMN (SQLite 3.35+), as 0006's downgrade does.
    for name in ("last_purchase_at", "first_purchase_at", "largest", "spent", "purchases"):
        op.drop_column("members", name)
