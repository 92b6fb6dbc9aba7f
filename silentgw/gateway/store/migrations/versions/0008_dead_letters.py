"""Dead letters (what the pipeline or a sink set aside, to replay once fixed) and revision counters (so the running
pipeline notices catalog changes made through the API or another process).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite's rowid: an INTEGER PRIMARY KEY


def upgrade() -> None:
    states = sa.Enum("open", "replayed", "discarded", name="dead_letter_state", native_enum=False,
                     create_constraint=True)  # fmt: skip
    op.create_table(
        "dead_letters",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event_seq", _BIG, nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("trace", sa.String(length=20000), nullable=False),
        sa.Column("state", states, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(op.f("ix_dead_letters_source"), "dead_letters", ["source"], unique=False)
    op.create_index(op.f("ix_dead_letters_state"), "dead_letters", ["state"], unique=False)
    op.create_table(
        "revisions",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("number", _BIG, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_revisions")),
    )
    op.bulk_insert(sa.table("revisions", sa.column("name"), sa.column("number")), [{"name": "catalog", "number": 0}])


def downgrade() -> None:
    op.drop_table("revisions")
    op.drop_index(op.f("ix_dead_letters_state"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_source"), table_name="dead_letters")
    op.drop_table("dead_letters")
