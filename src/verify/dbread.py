"""Read-only SQL for the duplicate-search path, without the ORM.

`verify search` and `verify dupes` only read a handful of columns. Importing SQLModel and
SQLAlchemy costs ~0.6 s of start-up, more than the search itself on a 1M-frame archive, so
the search services talk to the database through the small `Reader` protocol below:

- `SqlAlchemyReader` wraps a SQLAlchemy connection (any archive: SQLite or PostgreSQL;
  `Archive.reader()`);
- `SqliteReader` wraps a stdlib `sqlite3` connection opened read-only (`ReadOnlyArchive`,
  what the CLI uses for a SQLite archive already at the current schema; anything unusual -
  no database yet, an older schema, a PostgreSQL URL - takes the normal path instead).

SQL is written once, in the portable subset both databases accept, with `:name` parameters.
This module imports nothing heavy (stdlib only).
"""

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from verify.errors import BadInputError, BusyError, IntegrityFailure, VerifyError

# Bump with every migration; a test checks it equals Alembic's head.
SCHEMA_HEAD = "0006"
BUSY_TIMEOUT_MS = 30_000
# Values per `IN (...)` list (SQLite allows 32,766 parameters; keep statements small).
IN_CHUNK = 500


def busy_timeout_ms() -> int:
    """How long a writer waits for another one: `VERIFY_BUSY_TIMEOUT_MS`, default 30 s."""
    raw = os.environ.get("VERIFY_BUSY_TIMEOUT_MS", "").strip()
    if not raw:
        return BUSY_TIMEOUT_MS
    if not raw.isdigit():
        raise BadInputError(
            f"bad VERIFY_BUSY_TIMEOUT_MS {raw!r}: give a whole number of milliseconds"
        )
    return int(raw)


def configure_sqlite(conn: sqlite3.Connection, timeout_ms: int) -> None:
    """What every connection that may write a SQLite archive needs, whoever opens it (the
    SQLAlchemy engine of `verify.db` or the ORM-free intake of `verify.dbwrite`): our own
    BEGINs (Python's transaction handling off), the busy timeout, foreign keys, WAL and
    full fsync."""
    conn.isolation_level = None  # we issue BEGIN ourselves
    cur = conn.cursor()
    try:
        cur.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cur.execute("PRAGMA foreign_keys=ON")
        set_wal(cur, timeout_ms)
        cur.execute("PRAGMA synchronous=FULL")
    finally:
        cur.close()


def set_wal(cur: sqlite3.Cursor, timeout_ms: int) -> None:
    """`PRAGMA journal_mode=WAL`, retried while the database is locked, up to the busy
    timeout. Switching a new database to WAL needs an exclusive lock, and SQLite can refuse
    it at once ("database is locked") without waiting in the busy handler: two processes
    opening a blank archive together failed so, now and then, under load in CI."""
    deadline = time.monotonic() + timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.25)


class Reader(Protocol):
    """Rows of one read transaction."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """All rows of a SELECT with `:name` parameters, as tuples."""
        ...


class Source(Protocol):
    """What the search services need of an archive: its home (for the index sidecar) and
    read transactions. `verify.archive.Archive` and `ReadOnlyArchive` both qualify."""

    @property
    def home(self) -> Path: ...

    def reader(self) -> contextlib.AbstractContextManager[Reader]: ...


def rows_in(
    reader: Reader,
    sql: str,
    values: Sequence[Any],
    params: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of `sql` whose `{in}` placeholder is an IN list of `values`, in chunks of
    IN_CHUNK (the caller orders the combined rows itself)."""
    out: list[tuple[Any, ...]] = []
    for lo in range(0, len(values), IN_CHUNK):
        chunk = values[lo : lo + IN_CHUNK]
        names = {f"in_{i}": v for i, v in enumerate(chunk)}
        placeholders = ", ".join(f":{n}" for n in names)
        out.extend(reader.rows(sql.format(**{"in": placeholders}), {**(params or {}), **names}))
    return out


class SqlAlchemyReader:
    """`Reader` over a SQLAlchemy connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        return [tuple(r) for r in self._conn.execute(text(sql), dict(params or {})).all()]


class SqliteReader:
    """`Reader` over a stdlib sqlite3 connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._conn.execute(sql, dict(params or {})).fetchall()]
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise BusyError("the archive is busy; try again") from exc
            raise


READ_ONLY = (
    "the archive's database is read-only here; the change being written was not recorded "
    "(make it writable, or choose another --home)"
)


def is_read_only(exc: BaseException) -> bool:
    """SQLite may not write the database (a read-only file or file system, `query_only`)."""
    return "readonly database" in str(exc)


def sqlite_reason(exc: BaseException) -> str | None:
    """The SQLite error's first line for `exc` (stdlib sqlite3's, or one SQLAlchemy wraps),
    else None."""
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError
    for err in (exc, orig):
        if isinstance(err, sqlite3.Error):
            return (str(err).strip().splitlines() or [""])[0]
    return None


def number_too_large(exc: BaseException) -> bool:
    """The driver refused a number beyond the signed 64 bits of a database id (a claim
    number or attribution id typed on the command line; SQLite: OverflowError, PostgreSQL:
    "integer out of range"). Any other overflow is not this."""
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError: the driver's error
    sqlite = isinstance(exc, OverflowError) and "to SQLite INTEGER" in str(exc)
    postgres = type(orig).__name__ == "NumericValueOutOfRange" and "integer" in str(orig)
    return sqlite or postgres


def database_failure(exc: BaseException) -> VerifyError | None:
    """The one-line error for SQLite saying its file is damaged (exit 3) or cannot grow
    (disk full: exit 2), or for a number too large for an id (exit 2), met by any
    command; None for anything else (an internal error). The transaction is rolled back:
    the change being written is not recorded. What committed before it (in a `media add`
    batch, each earlier file in its own transaction, its id already printed) stays."""
    if number_too_large(exc):
        return BadInputError(
            "a number given is too large for an id (at most 9223372036854775807); check it"
        )
    reason = sqlite_reason(exc)
    if reason is None:
        return None
    if "malformed" in reason or "not a database" in reason:
        # also seen, transiently, reading a read-only copy while its owner writes it:
        # retry and check before restoring an older backup over newer entries
        return IntegrityFailure(
            f"the archive's database reads as damaged ({reason}); the change being written "
            "was not recorded; try again, then run `verify check` before restoring verify.db "
            "from a backup"
        )
    if "database or disk is full" in reason:
        return BadInputError(
            f"the disk holding the archive's database is full ({reason}); the change "
            "being written was not recorded; free some space and try again"
        )
    return None


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite gave up waiting for another connection's lock (busy timeout)."""
    return "locked" in str(exc) or "busy" in str(exc)


@dataclass
class ReadOnlyArchive:
    """A SQLite archive opened read-only with stdlib sqlite3 (see the module docstring).
    Create with `open_readonly`."""

    home: Path
    _conn: sqlite3.Connection = field(repr=False)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Reader]:
        """One read transaction (a consistent snapshot in WAL mode)."""
        self._conn.execute("BEGIN")
        try:
            yield SqliteReader(self._conn)
        finally:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def readonly_uri(db: Path) -> str:
    """The SQLite URI opening `db` read-only where its folder cannot be written.

    A WAL database whose folder cannot be written can be read with SQLite's locking
    (`mode=ro`) only while its shared-memory file `verify.db-shm` exists, that is while
    someone who can write it has it open (SQLite removes it when the last writer closes);
    otherwise SQLite is told the file is immutable (no locks, no WAL). So:

    - changes still in a non-empty `verify.db-wal` (the archive copied or write-protected
      while in use): `mode=ro`, never immutable, which would skip them;
    - a read-only file system (write-protected media, a read-only mount): nobody can change
      the file: immutable;
    - a folder only closed to this user: `mode=ro` with locking while its owner has it
      open (`-shm` there), immutable when nobody has (a writer who opens it during a long
      read is not seen: the read is of the file as it was)."""
    wal = db.with_name(db.name + "-wal")
    shm = db.with_name(db.name + "-shm")
    try:
        pending = wal.stat().st_size > 0
    except OSError:
        pending = False
    base = db.resolve().as_uri()
    immutable = not pending and (read_only_file_system(db.parent) or not shm.exists())
    return f"{base}?mode=ro&immutable=1" if immutable else f"{base}?mode=ro"


def holds_archive(home: Path) -> bool:
    """Whether `home` holds a SQLite archive (its database and its store)."""
    return (home / "verify.db").is_file() and (home / "objects").is_dir()


def writable(home: Path) -> bool:
    """Whether this process may create files in `home`."""
    return os.access(home, os.W_OK | os.X_OK)


def read_only_file_system(path: Path) -> bool:
    """Whether `path` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False


def open_readonly(home: str | os.PathLike[str] | None) -> ReadOnlyArchive | None:
    """The archive at `home` (default as `open_archive` resolves it) opened read-only, or
    None when it must take the normal path (see `connect_at_head`)."""
    opened = connect_at_head(home, readonly=True)
    return None if opened is None else ReadOnlyArchive(home=opened[0], _conn=opened[1])


def connect_at_head(
    home: str | os.PathLike[str] | None, *, readonly: bool
) -> tuple[Path, sqlite3.Connection] | None:
    """(home, stdlib connection) of the SQLite archive at `home` (default as `open_archive`
    resolves it) for the ORM-free paths, or None when the command must take the normal path
    (`open_archive`), which reports or repairs what is unusual: a database URL is
    configured, the archive does not exist yet or (to write) is not writable, its schema is not
    `SCHEMA_HEAD` (the normal path migrates it), or SQLite refuses the file."""
    if os.environ.get("VERIFY_DATABASE_URL"):
        return None
    if home is not None:
        home_path = Path(home).expanduser()
    else:
        from verify.archive import default_home

        home_path = default_home()
    db = home_path / "verify.db"
    if not holds_archive(home_path):
        return None
    can_write = writable(home_path)
    if not can_write and not readonly:
        return None
    if not can_write:  # an archive on read-only media (see `readonly_uri`)
        target, uri = readonly_uri(db), True
    else:
        # to read a writable archive: a normal connection with `query_only` (writes are
        # refused), not `mode=ro`, which cannot checkpoint at close and so left verify.db-wal
        # and verify.db-shm beside the database after every read
        target, uri = str(db), False
    try:
        conn = sqlite3.connect(
            target,
            uri=uri,
            timeout=busy_timeout_ms() / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error:
        return None
    try:
        if readonly and can_write:
            conn.execute("PRAGMA query_only=ON")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        conn.close()
        return None
    if row is None or row[0] != SCHEMA_HEAD:
        conn.close()
        return None
    return home_path, conn
