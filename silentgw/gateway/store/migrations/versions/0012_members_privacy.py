"""Members' privacy: consent flags (marketing, tracking at checkout), none presumed, so every member, those already
enrolled included, starts without them until they give them; the time a member was erased; the ``privacy`` API
role; and the birthday offers already stored keep the day, not the year (as the member rules now write them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ROLES = ("staff", "operator", "integrator", "admin")


def _roles(*extra: str) -> str:
    return "role IN ({})".format(", ".join(f"'{r}'" for r in (*_ROLES, *extra)))


def upgrade() -> None:
    op.add_column("members", sa.Column("marketing_consent", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("members", sa.Column("tracking_consent", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("members", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    _role_check(_roles("privacy"))
    events = sa.table("events", sa.column("seq", sa.Integer()), sa.column("type", sa.String()),
                      sa.column("data", sa.JSON()))  # fmt: skip
    member_events = events.c.type.in_(["silentgw.member.offer", "silentgw.member.notification"])
    query = sa.select(events.c.seq, events.c.data).where(
        member_events, sa.cast(events.c.data, sa.Text).like("%birthday%")
    )
    for seq, data in op.get_bind().execute(query).all():
        because = data.get("because") or {}
        if isinstance(because.get("birthday"), str) and len(because["birthday"]) == 10:  # YYYY-MM-DD
            data = {**data, "because": {**because, "birthday": because["birthday"][5:]}}
            op.get_bind().execute(sa.update(events).where(events.c.seq == seq).values(data=data))


def downgrade() -> None:
    op.execute("DELETE FROM api_keys WHERE role = 'privacy'")
    _role_check(_roles())
    # Plain DROP COLUMN (SQLite 3.35+), as 0006's downgrade does.
    for name in ("erased_at", "tracking_consent", "marketing_consent"):
        op.drop_column("members", name)


def _role_check(condition: str) -> None:
    """The roles an API key may have: the check constraint replaced (SQLite: by copying the table)."""
    name = op.f("ck_api_keys_api_role")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("api_keys", recreate="always") as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, sa.text(condition))
    else:
        op.drop_constraint(name, "api_keys", type_="check")
        op.create_check_constraint(name, "api_keys", sa.text(condition))
