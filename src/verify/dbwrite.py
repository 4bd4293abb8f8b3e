"""Rows written by evidence intake (`verify media add`) and the audit trail, without the ORM.

Importing SQLModel and SQLAlchemy costs 0.4-0.6 s of CPU, more than storing and recording
a photo, and on 2 cores it slows the analysis child that runs meanwhile. So intake and audit
appends write through the small `Writer` protocol below, as the search path reads through
`verify.dbread.Reader`:

- `SqlAlchemyWriter` wraps a SQLAlchemy connection in a write transaction (any archive,
  SQLite or PostgreSQL: `Archive.writer()`, or an ORM session's connection). Rows go through
  the tables' own column types, so they are stored exactly as ORM rows are.
- `SqliteWriter` wraps a stdlib `sqlite3` connection (`IntakeArchive`, what `verify media add`
  uses for a SQLite archive already at the current schema). It stores values as SQLAlchemy's
  SQLite dialect does: datetimes as `YYYY-MM-DD HH:MM:SS.ffffff` text (UTC), the JSON
  columns as `json.dumps` text (None as `null`), booleans as 0/1. A test writes the same
  files through both and compares every row.

The rows themselves are built once, by the callers (`verify.services.intake`,
`verify.audit.append_row`), whichever writer stores them. This module imports nothing heavy.
"""

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from verify.dbread import (
    READ_ONLY,
    Reader,
    ReadOnlyArchive,
    SqlAlchemyReader,
    SqliteReader,
    busy_timeout_ms,
    configure_sqlite,
    connect_at_head,
    is_busy,
    is_read_only,
)
from verify.errors import BadInputError, BusyError

if TYPE_CHECKING:
    from verify.store import ObjectStore

# Columns of type JSON (`verify.models.JSONType`); a test checks this against the models.
JSON_COLUMNS = frozenset({("blobs", "meta"), ("derivations", "evidence")})


class Writer(Reader, Protocol):
    """Reads and writes of one write transaction."""

    def insert(self, table: str, values: Mapping[str, Any], *, returns_id: bool = True) -> int:
        """Insert one row; its new `id`, or 0 when `returns_id` is False (a table whose
        key is given, such as `audit_entries`)."""
        ...

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows that all have the same columns."""
        ...

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        """Set `values` on the row whose `id` is `row_id`."""
        ...


def sqlite_datetime(value: datetime) -> str:
    """A datetime as the models' columns store it on SQLite: in UTC (sqlmodel's
    `UTCDateTime`, which refuses naive values), as SQLAlchemy's SQLite dialect writes it
    (`YYYY-MM-DD HH:MM:SS.ffffff`)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} for a UTC column")
    value = value.astimezone(UTC)
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _sqlite_value(table: str, column: str, value: Any) -> Any:
    if (table, column) in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):
        return sqlite_datetime(value)
    return value


def _insert_sql(table: str, columns: list[str]) -> str:
    """INSERT with `?` parameters. Table and column names come from this package's code,
    never from input; values are always parameters."""
    names, marks = ", ".join(columns), ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - names are ours


BUSY_WRITING = "the archive is busy (another verify process is writing); try again"


def _typed(exc: sqlite3.OperationalError) -> Exception:
    """A driver error while writing as the error to raise: busy (exit 75), read-only
    (exit 2), else itself."""
    if is_busy(exc):
        return BusyError(BUSY_WRITING)
    if is_read_only(exc):
        return BadInputError(READ_ONLY)
    return exc


class SqliteWriter(SqliteReader):
    """`Writer` over a stdlib sqlite3 connection inside BEGIN IMMEDIATE."""

    def _run(self, sql: str, params: Sequence[Any] | Sequence[Sequence[Any]], many: bool) -> int:
        try:
            if many:
                self._conn.executemany(sql, params)
                return 0
            return int(self._conn.execute(sql, params).lastrowid or 0)
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc

    def insert(self, table: str, values: Mapping[str, Any], *, returns_id: bool = True) -> int:
        columns = list(values)
        sql = _insert_sql(table, columns)
        rowid = self._run(sql, [_sqlite_value(table, c, values[c]) for c in columns], False)
        return rowid if returns_id else 0

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        sql = _insert_sql(table, columns)
        params = [[_sqlite_value(table, c, row[c]) for c in columns] for row in rows]
        self._run(sql, params, True)

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        columns = list(values)
        assignments = ", ".join(f"{c} = ?" for c in columns)
        sql = f"UPDATE {table} SET {assignments} WHERE id = ?"  # noqa: S608 - names are ours
        self._run(sql, [*(_sqlite_value(table, c, values[c]) for c in columns), row_id], False)


class SqlAlchemyWriter(SqlAlchemyReader):
    """`Writer` over a SQLAlchemy connection in a write transaction: each row goes through its
    table's column types, as an ORM flush would."""

    @staticmethod
    def _table(name: str) -> Any:
        from sqlmodel import SQLModel

        import verify.models  # noqa: F401 - registers the tables

        return SQLModel.metadata.tables[name]

    def insert(self, table: str, values: Mapping[str, Any], *, returns_id: bool = True) -> int:
        from sqlalchemy import insert

        result = self._conn.execute(insert(self._table(table)).values(dict(values)))
        # the dialect's way to the new key: RETURNING where the database has it, else the
        # cursor's lastrowid (SQLite before 3.35), as an ORM flush does
        return int(result.inserted_primary_key[0]) if returns_id else 0

    def insert_many(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        from sqlalchemy import insert

        if rows:
            self._conn.execute(insert(self._table(table)), [dict(r) for r in rows])

    def update(self, table: str, row_id: int, values: Mapping[str, Any]) -> None:
        from sqlalchemy import update

        t = self._table(table)
        self._conn.execute(update(t).where(t.c.id == row_id).values(dict(values)))


@dataclass
class IntakeArchive(ReadOnlyArchive):
    """A SQLite archive at the current schema opened for intake with stdlib sqlite3 (see the
    module docstring): what `add_media` needs of an archive (`verify.services.intake`), as
    `verify.archive.Archive` also provides it; reads as `ReadOnlyArchive` does. Create with
    `open_intake`."""

    given_actor: str | None = None

    @cached_property
    def actor(self) -> str:
        from verify.archive import resolve_actor

        return resolve_actor(self.given_actor)

    @cached_property
    def store(self) -> "ObjectStore":
        from verify.store import ObjectStore

        return ObjectStore(self.home / "objects")

    def require_writable(self) -> None:
        """Opened only where the archive can be written (`connect_at_head`)."""

    @contextlib.contextmanager
    def writer(self) -> Iterator[Writer]:
        """A short BEGIN IMMEDIATE transaction, committed when the block ends, rolled back on
        any error. No hashing or decoding inside."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _typed(exc) from exc
        try:
            yield SqliteWriter(self._conn)
        except BaseException:
            # SQLite has already rolled back after some errors (disk full, I/O, no memory):
            # a second ROLLBACK would raise and hide the real error
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")


def open_intake(home: str | os.PathLike[str] | None, actor: str | None) -> IntakeArchive | None:
    """The archive at `home` opened for intake without the ORM, or None when it must take
    the normal path (`open_archive`): a database URL is configured, the archive does not
    exist yet or is not writable, its schema is not `SCHEMA_HEAD` (the normal path migrates
    it), or SQLite refuses the file (the normal path says why). `actor` (--as) is checked
    as the normal path checks it."""
    from verify.archive import given_actor

    who = given_actor(actor)
    opened = connect_at_head(home, readonly=False)
    if opened is None:
        return None
    home_path, conn = opened
    try:
        configure_sqlite(conn, busy_timeout_ms())
    except sqlite3.Error:
        conn.close()
        return None
    return IntakeArchive(home=home_path, given_actor=who, _conn=conn)
