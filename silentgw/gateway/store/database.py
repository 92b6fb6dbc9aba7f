"""Engines and schema upgrades: SQLite (WAL) by default, PostgreSQL selected by URL; the same code runs on both."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

__all__ = [
    "StoreError",
    "StoreUnavailable",
    "connect",
    "current_revision",
    "downgrade",
    "head_revision",
    "insert_or_skip",
    "normalise_url",
    "upgrade",
]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """Root of the store's errors.

    StoreError
     ├── StoreUnavailable   the database did not answer (retry later)
     └── UnknownMember      a member number that is not in the store (store/sales.py)
    """


class StoreUnavailable(StoreError):
    """The database did not answer; the caller may retry."""


def normalise_url(url: str) -> str:
    """Pick the driver silentgw ships with: ``postgresql://`` and ``postgres://`` mean psycopg 3."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def connect(url: str, **engine_options: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout on every connection."""
    url = normalise_url(url)
    parsed = make_url(url)
    # JSON columns (event data, webhook filters) through orjson: every event's data is serialised on the hot path.
    engine_options.setdefault("json_serializer", _json_text)
    engine_options.setdefault("json_deserializer", orjson.loads)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **engine_options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine_options.setdefault("pool_pre_ping", True)
    return create_engine(url, **engine_options)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses but JSON allows (an integer past 64 bits in a device's options)
        return json.dumps(value, allow_nan=False)


def insert_or_skip(conn: Connection, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT (``.on_conflict_do_nothing``), in the connection's dialect."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the newest by default)."""
    logger.info("upgrading database %s to %s", engine.url.render_as_string(hide_password=True), revision)
    try:
        command.upgrade(_alembic_config(engine), revision)
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"could not upgrade {engine.url.render_as_string(hide_password=True)}: {exc}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"`` drops every table silentgw made)."""
    logger.info("downgrading database %s to %s", engine.url.render_as_string(hide_password=True), revision)
    command.downgrade(_alembic_config(engine), revision)


def head_revision() -> str:
    """The newest migration shipped with this version of silentgw."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
