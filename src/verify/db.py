"""Engine, sessions and transactions.

SQLite: WAL, foreign keys on, busy_timeout on every connection, and every write
transaction opened with ``BEGIN IMMEDIATE``. Measured with library defaults, two
processes doing 500 read-modify-write updates each lost 437 of 1,000; deferred BEGIN
raised "database is locked" 642 times; BEGIN IMMEDIATE lost none with no errors. Python's
sqlite3 transaction handling is therefore switched off (``isolation_level=None``) and the
BEGIN is emitted here.

PostgreSQL: write transactions take a transaction-level advisory lock, so audit-chain
appends (read head, write next) are serialised exactly as on SQLite.
"""

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session, create_engine

# SCHEMA_HEAD and busy_timeout_ms live in the import-light verify.dbread (the ORM-free
# search path checks the schema too); re-exported here.
from verify.dbread import BUSY_TIMEOUT_MS as BUSY_TIMEOUT_MS
from verify.dbread import READ_ONLY, configure_sqlite, is_read_only
from verify.dbread import SCHEMA_HEAD as SCHEMA_HEAD
from verify.dbread import busy_timeout_ms as busy_timeout_ms
from verify.errors import BadInputError, BusyError

if TYPE_CHECKING:
    from alembic.config import Config

# Arbitrary constant naming the archive-wide writer lock on PostgreSQL ("veri"); the lock's
# second key is the archive's schema, so archives in different schemas of one database do not
# queue behind one another (two schemas whose names hash alike only share a queue).
PG_WRITE_LOCK = 0x76657269
# The first statement of every read transaction on PostgreSQL.
SNAPSHOT_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def make_engine(url: str) -> Engine:
    """Create an engine with the pragmas and BEGIN behaviour this project relies on."""
    timeout_ms = busy_timeout_ms()
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": timeout_ms / 1000, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            configure_sqlite(dbapi_conn, timeout_ms)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("verify_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine

    engine = create_engine(url, pool_pre_ping=True)

    @event.listens_for(engine, "begin")
    def _on_pg_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("verify_write"):
            # lock_timeout bounds the wait for the advisory lock like busy_timeout on SQLite.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
            conn.exec_driver_sql(
                f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK}, hashtext(current_schema()))"
            )
        else:
            # A read sees one snapshot, as a deferred BEGIN does in WAL mode on SQLite. At
            # PostgreSQL's default READ COMMITTED every statement sees the latest commit, so
            # `check` could read the audit trail before a colleague's write and the claims
            # after it, and report a mismatch that is not there; a report could mix two
            # states of a case.
            conn.exec_driver_sql(SNAPSHOT_READ)

    return engine


def _is_locked(exc: OperationalError) -> bool:
    message = str(exc.orig)
    return any(s in message for s in ("database is locked", "database is busy", "lock timeout"))


@contextlib.contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A short write transaction: BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    Never hash, decode or wait on a child process inside it.
    """
    session = Session(engine.execution_options(verify_write=True))
    with _write_errors(), session, session.begin():
        yield session


@contextlib.contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A short write transaction on a plain connection (BEGIN IMMEDIATE on SQLite, the
    advisory lock on PostgreSQL), for rows through `verify.dbwrite.SqlAlchemyWriter`;
    committed when the block ends, rolled back on any error."""
    with (
        _write_errors(),
        engine.execution_options(verify_write=True).connect() as conn,
        conn.begin(),
    ):
        yield conn


@contextlib.contextmanager
def _write_errors() -> Iterator[None]:
    """A lock timeout inside a write transaction as BusyError (exit 75); a database SQLite
    may not write as BadInputError (exit 2)."""
    try:
        yield
    except OperationalError as exc:
        if is_read_only(exc):
            raise BadInputError(READ_ONLY) from exc
        if _is_locked(exc):
            raise BusyError(
                "the archive is busy (another verify process is writing); try again"
            ) from exc
        raise


@contextlib.contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only session (deferred transaction, consistent snapshot in WAL mode)."""
    try:
        with Session(engine) as session:
            yield session
    except OperationalError as exc:
        if _is_locked(exc):
            raise BusyError("the archive is busy; try again") from exc
        raise


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read transaction on a plain connection (deferred BEGIN; a consistent snapshot in WAL
    mode), for SQL through `verify.dbread.SqlAlchemyReader`."""
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except OperationalError as exc:
        if _is_locked(exc):
            raise BusyError("the archive is busy; try again") from exc
        raise


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except (OperationalError, ProgrammingError) as exc:
            # A blank database: SQLite says "no such table", PostgreSQL UndefinedTable.
            if "alembic_version" in str(exc.orig):
                return None
            raise
    return None if row is None else str(row[0])


def alembic_config() -> "Config":
    """Alembic configuration for the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


class ForeignDatabase(Exception):
    """The database (on PostgreSQL: its current schema) holds tables, none of them an
    archive's: another application's. Nothing is created in it."""

    def __init__(self, tables: list[str], schema: str | None) -> None:
        super().__init__(", ".join(tables))
        self.tables = tables
        self.schema = schema  # PostgreSQL's current schema; None on SQLite


def _tables(engine: Engine) -> tuple[set[str], str | None]:
    """The tables and views where the archive's would be created: SQLite's database, or
    PostgreSQL's current schema (the first of the search_path that exists; none when none
    does, which creating a table then reports)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            ).all()
            return {str(r[0]) for r in rows}, None
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        rows = conn.exec_driver_sql(
            "SELECT c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        ).all()
        return {str(r[0]) for r in rows}, None if schema is None else str(schema)


def foreign_tables(engine: Engine, revision: str | None) -> ForeignDatabase | None:
    """Another application's tables where the archive's would go, or None: the database
    is empty (it becomes an archive) or holds one (of any schema version). Only
    `alembic_version` with no revision (a blank, stamped database) counts as empty: with a
    revision and none of the archive's tables, it is another application's."""
    import sqlmodel

    import verify.models  # noqa: F401  (registers the archive's tables)

    names, schema = _tables(engine)
    if names & set(sqlmodel.SQLModel.metadata.tables):
        return None
    others = names if revision is not None else names - {"alembic_version"}
    return ForeignDatabase(sorted(others), schema) if others else None


class NewerSchema(BadInputError):
    """The archive's `alembic_version` holds a revision this version has no migration for:
    a newer verify wrote it. Refused (exit 2) before anything is read or written, by every
    command, the read-only ones included: this version cannot tell what the newer schema
    means."""

    def __init__(self, where: str, revision: str) -> None:
        super().__init__(
            f"the archive {where} was written by a newer verify (schema revision "
            f"{revision}, this version knows up to {SCHEMA_HEAD}); upgrade verify to use it"
        )
        self.revision = revision


def known_revisions() -> set[str]:
    """Every schema revision this version has a migration for (imports Alembic)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return {r.revision for r in script.walk_revisions("base", "heads")}


def check_known(engine: Engine, revision: str | None, where: str | None = None) -> None:
    """Raise NewerSchema when `revision` (read from the archive, not SCHEMA_HEAD) is none
    of this version's: upgrading from it is impossible, and so is reading what it holds.
    The archive is named `where`, else by its database: SQLite's file, PostgreSQL's URL
    without its password."""
    if revision is None or revision in known_revisions():
        return
    if where is None:
        url = engine.url
        sqlite = url.get_backend_name() == "sqlite"
        where = (url.database or "") if sqlite else url.render_as_string(hide_password=True)
    raise NewerSchema(where, revision)


def migrate(engine: Engine) -> bool:
    """Bring the schema to head. Cheap when already there (one SELECT, no Alembic import).
    Raises ForeignDatabase, creating nothing, for a database that holds other tables and
    none of an archive's, and NewerSchema, changing nothing, for an archive at a revision
    this version does not know (a newer verify's). True when the database was empty: the
    archive was created now."""
    revision = current_revision(engine)
    if revision == SCHEMA_HEAD:
        return False
    foreign = foreign_tables(engine, revision)
    if foreign is not None:
        raise foreign
    check_known(engine, revision)
    from alembic import command

    cfg = alembic_config()
    with engine.execution_options(verify_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return revision is None
