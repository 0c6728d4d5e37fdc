"""Many new rows of one table in one INSERT, through the driver: what ingest's batch and the notifier write.

SQLAlchemy's Core `insert(table)` with a list of rows compiles once but then, per row, builds a parameter dict
and runs every column's bind processor in Python; for an ingest batch that was a fifth of an event's cost. The
rows written here are ours and already of the right types, so only the conversions the database needs are
made: an aware datetime becomes SQLite's text form (the one SQLAlchemy's SQLite `DATETIME` writes, so both
read it back alike) and a bool an integer; PostgreSQL's driver takes datetimes and bools as they are, and
sends the rows in one pipeline instead of a round trip each. A table with a column of any other type that
needs converting (none of those written here has one) goes the SQLAlchemy way, so no value is ever written
unconverted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any, Literal

from sqlalchemy import Boolean, DateTime, Enum, Integer, String, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session
from sqlmodel.sql.sqltypes import AutoString

from hub.store.types import UTCDateTime

Convert = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy's SQLite DATETIME stores it (text compares in time order):
    # the 26 characters before the "+00:00".
    return value.isoformat(" ", "microseconds")[:26]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value


def _sqlite_bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _converter(column_type: Any, dialect: Dialect) -> Convert | None | Literal[False]:
    """The conversion a value of this column needs on `dialect`: a function, None (none), False (unknown)."""
    sqlite = dialect.name == "sqlite"
    if isinstance(column_type, UTCDateTime | DateTime):
        return _sqlite_datetime if sqlite else _aware
    if isinstance(column_type, Boolean):
        return _sqlite_bool if sqlite else None
    if isinstance(column_type, Integer | String | AutoString) and not isinstance(column_type, Enum):
        return None  # both drivers take ints and strs as they are (AutoString: sqlmodel's str column)
    return False  # JSON, enums, numerics...: SQLAlchemy's processing, not a guess here


def _mark(dialect: Dialect) -> str:
    """A positional placeholder as the driver takes it (psycopg: %s; exec_driver_sql passes SQL on as it is)."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


@cache
def _plan(
    table: Table, dialect: Dialect, names: tuple[str, ...]
) -> tuple[str, tuple[Convert | None, ...], tuple[Any, ...]] | None:
    """The INSERT for these columns, each one's conversion, and the constant defaults of the columns left out;
    None when SQLAlchemy must do it (a type that needs its conversion, a default made per row)."""
    converters: list[Convert | None] = []
    for name in names:
        found = _converter(table.c[name].type, dialect)
        if found is False:
            return None
        converters.append(found)
    # Columns the rows leave out take their default, as with SQLAlchemy's INSERT: a constant is written into
    # the statement's parameters; a default made per row (a function) is SQLAlchemy's to make.
    defaults: list[tuple[str, Any]] = []
    for column in table.columns:
        if column.name in names or column.default is None:
            continue
        if not column.default.is_scalar:
            return None
        convert = _converter(column.type, dialect)
        if convert is False:
            return None
        value = column.default.arg  # type: ignore[attr-defined]
        defaults.append((column.name, convert(value) if convert else value))
    quote = dialect.identifier_preparer
    written = (*names, *(name for name, _ in defaults))
    marks = ", ".join(_mark(dialect) for _ in written)
    sql = (f"INSERT INTO {quote.format_table(table)} ({', '.join(quote.quote(n) for n in written)}) "
           f"VALUES ({marks})")
    return sql, tuple(converters), tuple(value for _, value in defaults)


def update_column(session: Session, table: Table, column: str, key: str, values: Mapping[Any, Any]) -> None:
    """`UPDATE table SET column = value WHERE key = k` for each `k: value` of `values`, in one executemany."""
    if not values:
        return
    connection = session.connection()
    dialect = connection.dialect
    convert = _converter(table.c[column].type, dialect)
    if convert is False or _converter(table.c[key].type, dialect) is not None:
        for k, value in values.items():
            session.execute(table.update().where(table.c[key] == k).values({column: value}))
        return
    quote = dialect.identifier_preparer
    mark = _mark(dialect)
    sql = f"UPDATE {quote.format_table(table)} SET {quote.quote(column)} = {mark} WHERE {quote.quote(key)} = {mark}"
    connection.exec_driver_sql(sql, [(convert(value) if convert else value, k) for k, value in values.items()])


def direct(table: Table, dialect: Dialect, names: Iterable[str]) -> bool:
    """Whether `insert_rows` writes these columns of `table` through the driver (not through SQLAlchemy)."""
    return _plan(table, dialect, tuple(names)) is not None


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]],
                names: Iterable[str] | None = None, skip_existing: bool = False) -> None:
    """Insert `rows` (each with a value for every one of `names`, default: the first row's keys) in one go;
    with `skip_existing`, a row that would break a unique constraint is left out instead of failing the lot."""
    if not rows:
        return
    columns = tuple(names) if names is not None else tuple(rows[0])
    connection = session.connection()
    plan = _plan(table, connection.dialect, columns)
    if plan is None:
        statement: Any = insert(table)
        if skip_existing:
            dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = dialect.insert(table).on_conflict_do_nothing()
        session.execute(statement, [{name: row[name] for name in columns} for row in rows])
        return
    sql, converters, defaults = plan
    if skip_existing:
        sql += " ON CONFLICT DO NOTHING"  # SQLite (3.24 on) and PostgreSQL alike
    take = itemgetter(*columns)
    params: list[Any] = [take(row) for row in rows]
    if len(columns) == 1:
        params = [(value,) for value in params]
    converting = [(i, convert) for i, convert in enumerate(converters) if convert is not None]
    if converting:
        # A row often holds one value in several columns (an order's created and updated time), and rows share
        # values: each object is converted once. Keyed by identity, valid while `rows` hold the objects.
        done: dict[tuple[Convert, int], Any] = {}
        for n, values in enumerate(params):
            values = list(values)
            for i, convert in converting:
                value = values[i]
                key = (convert, id(value))
                converted = done.get(key, done)
                if converted is done:
                    converted = done[key] = convert(value)
                values[i] = converted
            params[n] = tuple(values)
    if defaults:
        params = [(*values, *defaults) for values in params]
    # A list of tuples: the driver's executemany (SQLite's loop in C; psycopg's pipeline).
    connection.exec_driver_sql(sql, params)
