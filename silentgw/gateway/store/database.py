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
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import SQLAlchemyError

from silentgw.gateway import redaction

__all__ = [
    "StoreError",
    "StoreUnavailable",
    "connect",
    "current_revision",
    "downgrade",
    "head_revision",
    "insert_or_skip",
    "normalise_url",
    "shown",
    "transient",
    "upgrade",
]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """Root of the store's errors.

    StoreError
     ├── StoreUnavailable   the database did not answer, or is busy (retry later: nothing was wrong with the write)
     ├── UnknownMember      a member number that is not in the store (store/sales.py)
     ├── UnknownRequest     a restock request id that is not in the store (store/restock.py)
     └── UnknownOrder       an order id that is not in the store (store/orders.py)

    Any other error from a write (a constraint refused, a value out of a column's range) is the write's own fault:
    trying it again would fail again.
    """


class StoreUnavailable(StoreError):
    """The database did not answer, or could not take the work now; the caller may retry.

    Every engine made by :func:`connect` raises it in place of the driver's error (chained ``from`` it), so "is the
    database away?" is decided here once, by :func:`transient`, and nowhere else.
    """


_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error", "unable to open database",
                     "database or disk is full", "readonly database")  # fmt: skip
"""SQLite reports both "busy" and "no such table" as OperationalError: only these messages mean try again."""


def transient(exc: BaseException, *, disconnect: bool = False) -> bool:
    """Whether ``exc`` (a DB-API error) says the database is away or busy, not that the work itself was wrong.

    PostgreSQL (psycopg 3): its ``OperationalError`` family: no connection, server shutting down (57P0x), out of
    resources (53xxx), a deadlock or serialisation failure (40xxx). SQLite: busy, locked, I/O and open failures.
    """
    if disconnect or isinstance(exc, StoreUnavailable):
        return True
    module = type(exc).__module__
    if module.startswith("psycopg"):
        import psycopg  # the driver of every postgresql:// URL (normalise_url)

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    if module.startswith("sqlite3"):
        return type(exc).__name__ == "OperationalError" and any(m in str(exc).lower() for m in _SQLITE_TRANSIENT)
    return False


def _translate(context: ExceptionContext) -> None:
    """Raise :class:`StoreUnavailable` in place of a transient driver error (the engine's ``handle_error`` hook)."""
    if context.is_pre_ping:
        return  # the pool's own liveness check: it reconnects by itself
    if transient(context.original_exception, disconnect=context.is_disconnect):
        first = str(context.original_exception).strip().splitlines()
        raise StoreUnavailable(first[0] if first else type(context.original_exception).__name__) from (
            context.sqlalchemy_exception or context.original_exception
        )


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
    else:
        engine_options.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **engine_options)
    event.listen(engine, "handle_error", _translate)
    return engine


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


def shown(engine: Engine) -> str:
    """The engine's URL as logs and messages show it: a password in it (userinfo or query) masked."""
    return redaction.masked_text(engine.url.render_as_string(hide_password=False))


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the newest by default)."""
    logger.info("upgrading database %s to %s", shown(engine), revision)
    try:
        command.upgrade(_alembic_config(engine), revision)
    except (StoreUnavailable, SQLAlchemyError) as exc:
        raise StoreUnavailable(f"could not upgrade {shown(engine)}: {exc}") from exc


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (``"base"`` drops every table silentgw made)."""
    logger.info("downgrading database %s to %s", shown(engine), revision)
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
