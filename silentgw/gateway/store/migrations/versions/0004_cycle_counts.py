"""Cycle counts: each closed count once, by its own id, with the outcome for every item it expected or saw.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 21:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # New tables only: nothing existing is altered, so SQLite needs no batch-mode rebuild (see 0002).
    op.create_table(
        "cycle_counts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column(
            "scope_kind",
            sa.Enum("zone", "location", name="count_scope_kind", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("scope_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("unexpected", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("started_at <= ended_at", name=op.f("ck_cycle_counts_started_before_ended")),
        sa.CheckConstraint("missing >= 0 AND missing <= expected", name=op.f("ck_cycle_counts_missing_of_expected")),
        sa.CheckConstraint("unexpected >= 0 AND unexpected <= seen", name=op.f("ck_cycle_counts_unexpected_of_seen")),
        sa.CheckConstraint("accuracy >= 0 AND accuracy <= 100", name=op.f("ck_cycle_counts_accuracy_percent")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cycle_counts")),
    )
    op.create_index(op.f("ix_cycle_counts_ended_at"), "cycle_counts", ["ended_at"], unique=False)
    op.create_table(
        "cycle_count_items",
        sa.Column("count_id", sa.String(length=64), nullable=False),
        sa.Column("item_key", sa.String(length=120), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum("found", "missing", "unexpected", name="count_outcome", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["count_id"],
            ["cycle_counts.id"],
            name=op.f("fk_cycle_count_items_count_id_cycle_counts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("count_id", "item_key", name=op.f("pk_cycle_count_items")),
    )


def downgrade() -> None:
    op.drop_table("cycle_count_items")
    op.drop_index(op.f("ix_cycle_counts_ended_at"), table_name="cycle_counts")
    op.drop_table("cycle_counts")
