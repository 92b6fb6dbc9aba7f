"""Batched statements for the hot path: a micro-batch's rows of one table in one statement, in the connection's dialect.

SQLAlchemy's executemany of an INSERT with RETURNING (insertmanyvalues) renders a text that grows with the rows and
runs every value through its type in Python, and psycopg parses that long text anew each time (it caches only short
statements): on PostgreSQL that parse alone took most of a micro-batch. Here the text is fixed per table and shape:

- PostgreSQL: ``INSERT ... SELECT FROM json_to_recordset(%s::json)`` and ``UPDATE ... FROM json_to_recordset(...)``:
  the rows go as one JSON document (orjson, in C), whatever their number, so psycopg parses the text once and the
  server prepares it. Arrays (``unnest``) were the first try: psycopg's text array dumper escapes each element with
  regular expressions in Python, twice the cost; COPY would need a staging table and a second statement per table.
- SQLite: ``INSERT ... VALUES (?, ...), (?, ...)`` in chunks under SQLite's limit of bound variables (RETURNING where
  asked for), an executemany of one row's statement where nothing comes back, and ``WITH batch(...) AS (VALUES ...)
  UPDATE ... FROM batch`` for updates.

A lookup of many keys (:func:`one_of`) binds them as one parameter too, so its statement stays in SQLAlchemy's
compiled cache (an expanding IN is compiled again for each new number of keys): a JSON array on both databases.

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
from sqlalchemy import JSON, Connection, Table, bindparam, cast, func, literal_column, select
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
    """``column IN :values`` as one bound parameter, a JSON array (give it :func:`listed`), so the statement's text and
    compiled form are the same for any number of values. Build the statement once per dialect (:func:`per_dialect`):
    making a ``select`` costs more than running a small one."""
    values = bindparam("values", type_=JSON)
    if dialect == "postgresql":
        each = func.json_array_elements_text(cast(values, JSON)).alias("value")
        return column.in_(select(cast(literal_column("value"), column.type)).select_from(each))
    return column.in_(select(literal_column("value")).select_from(func.json_each(values)))


def listed(values: Iterable[Any]) -> dict[str, Any]:
    """The parameters of a statement with :func:`one_of` for ``values``."""
    return {"values": list(values)}


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
        record = ", ".join(f"{q(name)} {_pg_type(dialect, table.c[name])}" for name in columns)
        rows_of = f"json_to_recordset(%s::json) AS batch ({record})"
        if kind == "insert":
            sql = f"INSERT INTO {q(table.name)} ({names}) SELECT {names} FROM {rows_of}{action}{tail}"  # noqa: S608
        else:
            sql = f"WITH batch AS (SELECT * FROM {rows_of}) UPDATE {q(table.name)}{action}{tail}"  # noqa: S608
        # JSON columns go in as the values themselves, inside the one JSON document.
        pg_converts = [(i, convert) for i, convert, _ in converts if not isinstance(table.c[columns[i]].type, JSON)]

        def on_postgresql(conn: Connection, rows: Sequence[Row]) -> list[Any]:
            by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
            for i, convert in pg_converts:
                by_column[i] = _converted(by_column[i], convert)
            result = conn.exec_driver_sql(sql, (_document([dict(zip(columns, row, strict=True))
                                                          for row in zip(*by_column, strict=True)]),))  # fmt: skip
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


def _document(records: list[dict[str, Any]]) -> str:
    """The records as one JSON document (orjson; the standard library for what orjson refuses: an integer past 64
    bits in a device's options)."""
    try:
        return orjson.dumps(records).decode()
    except TypeError:
        return json.dumps(records, default=lambda value: value.isoformat())


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
