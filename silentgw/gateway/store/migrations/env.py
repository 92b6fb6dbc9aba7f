"""Alembic's environment: runs migrations on the engine silentgw hands it (see ``database.upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from silentgw.gateway.store.models import Base

engine: Engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    context.run_migrations()
