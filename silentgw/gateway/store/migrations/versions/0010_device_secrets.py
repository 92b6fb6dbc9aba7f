"""Devices keep no secrets: the driver options stored with each device have their secrets (a ``password``, a
``token``, the password of a URL) replaced by ``**********``. The gateway runs its drivers from the settings file, so
the stored options are a record for people, and the API showed the secrets in them to every key.

The downgrade has nothing to restore: the secrets are gone (the settings file still holds them).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from silentgw.gateway import redaction

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_devices = sa.table("devices", sa.column("id", sa.String), sa.column("driver", sa.JSON))


def upgrade() -> None:
    conn = op.get_bind()
    for device, driver in conn.execute(sa.select(_devices.c.id, _devices.c.driver)).all():
        scrubbed = redaction.masked(driver)
        if scrubbed != driver:
            conn.execute(sa.update(_devices).where(_devices.c.id == device).values(driver=scrubbed))


def downgrade() -> None:
    pass  # the secrets are not kept anywhere to be put back
