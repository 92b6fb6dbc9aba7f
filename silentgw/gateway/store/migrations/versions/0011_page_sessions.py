"""Staff page sessions: a sign-in keeps the SHA-256 of a random session id and the key it was made from, with when
it ends; and a revision counter for API keys, bumped by every revocation, so a running API forgets a key revoked
elsewhere within a second.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_revisions = sa.table("revisions", sa.column("name", sa.String), sa.column("number", sa.BigInteger))


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_page_sessions_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_sessions")),
    )
    op.create_index(op.f("ix_page_sessions_key_id"), "page_sessions", ["key_id"], unique=False)
    op.bulk_insert(_revisions, [{"name": "keys", "number": 0}])


def downgrade() -> None:
    op.execute(_revisions.delete().where(_revisions.c.name == "keys"))
    op.drop_index(op.f("ix_page_sessions_key_id"), table_name="page_sessions")
    op.drop_table("page_sessions")
