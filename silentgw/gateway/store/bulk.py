"""Batched statements for the hot path: a micro-batch's rows of one table in one statement, in the connection's dialect.

SQLAlchemy's executemany of an INSERT with RETURNING (insertmanyvalues) renders a text that grows with the rows and
runs every value through its type in Python, and psycopg parses that long text anew each time (it caches only short
statements): on PostgreSQL that parse alone took most of a micro-batch. Here the text is fixed per table and shape:

- PostgreSQL: ``INSERT ... SELECT FROM unnest(%s::type[], ...)`` and ``UPDATE ... FROM unnest(...)``: one array
  parameter per column, whatever the number of rows, so psycopg parses the text once and the server prepares it.
- SQLite: ``INSERT ... VALUES (?, ...), (?, ...)`` in chunks under SQLite's limit of bound variables (RETURNING where
  asked for), an executemany of one row's statement where nothing comes back, and ``WITH batch(...) AS (VALUES ...)
  UPDATE ... FROM batch`` for updates.

A lookup of many keys (:func:`one_of`) binds them as one parameter too, so its statement stays in SQLAlchemy's
compiled cache (an expanding IN is compiled again for each new number of keys).

Values are converted as the columns' types would (``UtcDateTime`` to UTC, and to SQLite's text; JSON through the
engine's serializer; an enumeration to its value), so rows read back through the ORM exactly as if it wrote them.
Statements go through ``Connection.exec_driver_sql``, so the engine's error hook still raises ``StoreUnavailable``
for a database away. Conflict and update clauses are SQL text the caller writes for both dialects (``excluded.col``
for the proposed row, ``batch.col`` for an update's row, the table's name for what is stored).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, TypeVar

import orjson
from sqlalchemy import JSON, Connection, Table, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement

from silentgw.gateway.store.models import UtcDateTime

__all__ = ["DIALECTS", "insert", "listed", "one_of", "per_dialect", "update"]

Row = Sequence[Any]
T = TypeVar("T")
Convert = Callable[[Any], Any]

_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
"""Bound variables one SQLite statement may hold (SQLITE_MAX_VARIABLE_NUMBER's default)."""
_SQLITE_ROWS = 1_000
"""Rows in one SQLite VALUES list at most: a longer text costs more to prepare than another statement."""


def insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    conflict: Sequence[str] = (),
    set_: Mapping[str, str] | None = None,
    returning: Sequence[str] = (),
) -> list[Any]:
    """Insert ``rows`` (values in the order of ``columns``); on a ``conflict`` of those columns do nothing, or set
    the columns of ``set_`` to its SQL expressions. The rows of ``returning`` columns for the rows written.
    """
    if not rows:
        return []
    statement = _statement(conn.dialect, "insert", table, tuple(columns), tuple(conflict),
                           tuple((set_ or {}).items()), tuple(returning))  # fmt: skip
    return statement(conn, rows)


def update(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    set_: Mapping[str, str],
    returning: Sequence[str] = (),
) -> list[Any]:
    """Update the stored rows whose ``key`` columns match a row of ``rows`` (values in the order of ``columns``, the
    key's among them), setting the columns of ``set_`` to its SQL expressions over ``batch.<column>``; the rows of
    ``returning`` columns for the rows updated."""
    if not rows:
        return []
    statement = _statement(conn.dialect, "update", table, tuple(columns), tuple(key), tuple(set_.items()),
                           tuple(returning))  # fmt: skip
    return statement(conn, rows)


DIALECTS = ("sqlite", "postgresql")


def one_of(dialect: str, column: ColumnElement[Any]) -> ColumnElement[bool]:
    """``column IN :values`` as one bound parameter (give it :func:`listed`): an array on PostgreSQL (``= ANY``), a
    JSON array on SQLite (``IN json_each``), so the statement's text and compiled form are the same for any number of
    values. Build the statement once per dialect (:func:`per_dialect`): making a ``select`` costs more than running
    a small one."""
    if dialect == "postgresql":
        return column == any_(bindparam("values", type_=postgresql.ARRAY(column.type)))
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam("values"))))


def listed(conn: Connection, values: Iterable[Any]) -> dict[str, Any]:
    """The parameters of a statement with :func:`one_of` for ``values``."""
    if conn.dialect.name == "postgresql":
        return {"values": list(values)}
    return {"values": orjson.dumps(list(values)).decode()}


def per_dialect(make: Callable[[str], T]) -> dict[str, T]:
    """``make(dialect)`` for each dialect silentgw runs on, by its name (statements built once, at import)."""
    return {dialect: make(dialect) for dialect in DIALECTS}


Statement = Callable[[Connection, Sequence[Row]], list[Any]]


@functools.lru_cache(maxsize=256)  # per engine's dialect: bounded, tests make many
def _statement(dialect: Dialect, kind: str, table: Table, columns: tuple[str, ...], key: tuple[str, ...],
               set_: tuple[tuple[str, str], ...], returning: tuple[str, ...]) -> Statement:  # fmt: skip
    """The statement (a function of a connection and rows), made once per dialect, table and shape."""
    q = dialect.identifier_preparer.quote
    converts = [(i, *c) for i, c in enumerate(_converter(dialect, table.c[name]) for name in columns) if c is not None]
    names = ", ".join(q(c) for c in columns)
    tail = f" RETURNING {', '.join(f'{q(table.name)}.{q(c)}' for c in returning)}" if returning else ""
    assignments = ", ".join(f"{q(column)} = {expression}" for column, expression in set_)
    if kind == "insert":
        action = f" ON CONFLICT ({', '.join(q(c) for c in key)}) " if key else ""
        if key:
            action += f"DO UPDATE SET {assignments}" if set_ else "DO NOTHING"
    else:
        match = " AND ".join(f"{q(table.name)}.{q(c)} = batch.{q(c)}" for c in key)
        action = f" SET {assignments} FROM batch WHERE {match}"

    def columns_of(rows: Sequence[Row]) -> list[Sequence[Any]]:
        """The rows' values by column, converted."""
        by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for i, convert, memo in converts:
            by_column[i] = _converted(by_column[i], convert) if memo else [convert(v) for v in by_column[i]]
        return by_column

    if dialect.name == "postgresql":
        types = [_pg_type(dialect, table.c[name]) for name in columns]
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        if kind == "insert":
            sql = f"INSERT INTO {q(table.name)} ({names}) SELECT * FROM unnest({arrays}){action}{tail}"  # noqa: S608
        else:
            sql = f"WITH batch ({names}) AS (SELECT * FROM unnest({arrays})) UPDATE {q(table.name)}{action}{tail}"  # noqa: S608

        def on_postgresql(conn: Connection, rows: Sequence[Row]) -> list[Any]:
            result = conn.exec_driver_sql(sql, tuple(list(column) for column in columns_of(rows)))
            return list(result.fetchall()) if returning else []

        return on_postgresql

    width = len(columns)
    one = f"({', '.join('?' * width)})"
    per_chunk = max(1, min(_SQLITE_ROWS, _SQLITE_VARIABLES // width))

    def text(n: int) -> str:
        listed = ", ".join([one] * n)
        if kind == "insert":
            return f"INSERT INTO {q(table.name)} ({names}) VALUES {listed}{action}{tail}"  # noqa: S608
        return f"WITH batch ({names}) AS (VALUES {listed}) UPDATE {q(table.name)}{action}{tail}"

    def on_sqlite(conn: Connection, rows: Sequence[Row]) -> list[Any]:
        converted = list(zip(*columns_of(rows), strict=True))
        if not returning:  # one prepared statement, stepped row by row in C
            conn.exec_driver_sql(text(1), converted)
            return []
        found: list[Any] = []
        for start in range(0, len(converted), per_chunk):
            chunk = converted[start : start + per_chunk]
            found += conn.exec_driver_sql(text(len(chunk)), tuple(chain.from_iterable(chunk))).fetchall()
        return found

    return on_sqlite


def _pg_type(dialect: Dialect, column: Any) -> str:
    """The PostgreSQL type of ``column``'s array parameter."""
    return str(column.type.compile(dialect=dialect))


def _converter(dialect: Dialect, column: Any) -> tuple[Convert, bool] | None:
    """How a value becomes what the column's type would bind, for this dialect, and whether to convert each distinct
    value once (None: as it is)."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return (_sqlite_time if dialect.name == "sqlite" else _utc), True
    if isinstance(kind, JSON):
        dumps: Callable[[Any], str] = getattr(dialect, "_json_serializer", None) or json.dumps
        return (lambda value: None if value is None else dumps(value)), False
    if getattr(kind, "enum_class", None) is not None:
        return (lambda value: value.value if isinstance(value, enum.Enum) else value), True
    return None


def _converted(values: Sequence[Any], convert: Convert) -> list[Any]:
    """``convert`` of each value, each distinct value converted once (a batch repeats its times: ``recorded_at``,
    the reads of one instant)."""
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        found = done.get(value, _MISSING)
        if found is _MISSING:
            found = done[value] = convert(value)
        out.append(found)
    return out


_MISSING = object()


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is dt.UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: silentgw stores UTC times only")
    return value.astimezone(dt.UTC)


def _sqlite_time(value: dt.datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME stores (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC)."""
    utc = _utc(value)
    return None if utc is None else utc.isoformat(" ", "microseconds")[:26]
