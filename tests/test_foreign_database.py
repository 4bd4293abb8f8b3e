"""A database that holds another application's tables (and none of an archive's) is
refused, one line and exit 2, with nothing created in it; an empty one becomes an archive
on first use. PostgreSQL (a throwaway schema; skipped without VERIFY_TEST_POSTGRES_URL)
and SQLite alike."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import RunCli, postgres_schema, require_postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema, as the URL of a database whose search_path is it."""
    with postgres_schema(require_postgres()) as url:
        yield url


def pg_run(url: str, *statements: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))
    engine.dispose()


def pg_tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_of(url: str) -> str:
    return str(make_url(url).query["options"]).removeprefix("-csearch_path=")


@pytest.mark.postgres
def test_another_applications_postgres_schema_is_refused(
    cli: RunCli, home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pg_run(pg_url, "CREATE TABLE invoices (id integer)", "CREATE VIEW unpaid AS SELECT 1 AS n")
    monkeypatch.setenv("VERIFY_DATABASE_URL", pg_url)
    r = cli("case", "list")
    shown = make_url(pg_url).render_as_string(hide_password=True)
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"error: the database {shown} is not a verify archive: its schema {schema_of(pg_url)} "
        "holds 2 tables (invoices, unpaid) and none of verify's; nothing was created in it: "
        "point VERIFY_DATABASE_URL at a verify archive or an empty database, or give the "
        "archive a schema of its own (CREATE SCHEMA verify, then add "
        "?options=-csearch_path%3Dverify to the URL)\n",
    )
    assert pg_tables(pg_url) == {"invoices"}  # (the view is not a table)
    assert not home.exists()
    # a changing command alike
    assert cli("case", "open", "Bridge").exit_code == 2
    assert pg_tables(pg_url) == {"invoices"}


@pytest.mark.postgres
def test_another_alembic_applications_schema_is_refused(
    cli: RunCli, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its `alembic_version` is not verify's: with a revision and none of verify's tables,
    the database is another application's."""
    pg_run(
        pg_url,
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('ae1027a6acf')",
    )
    monkeypatch.setenv("VERIFY_DATABASE_URL", pg_url)
    r = cli("case", "list")
    assert r.exit_code == 2
    assert "holds 1 table (alembic_version) and none of verify's" in r.stderr
    assert pg_tables(pg_url) == {"alembic_version"}


@pytest.mark.postgres
def test_an_empty_postgres_schema_is_initialised(
    cli: RunCli, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_DATABASE_URL", pg_url)
    r = cli("case", "list")
    assert (r.exit_code, r.stderr) == (0, "no cases yet; open one with `verify case open TITLE`\n")
    assert {"cases", "claims", "audit_entries", "alembic_version"} <= pg_tables(pg_url)
    assert cli("case", "open", "Bridge").exit_code == 0


def sqlite_tables(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def another_apps_sqlite(db: Path) -> Path:
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE invoices (id integer)")
    conn.commit()
    conn.close()
    return db


def test_another_applications_sqlite_database_is_refused(
    cli: RunCli, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = another_apps_sqlite(tmp_path / "books.db")
    monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{db}")
    r = cli("case", "list")
    assert (r.exit_code, r.stdout, r.stderr) == (
        2,
        "",
        f"error: the database {db} is not a verify archive: it holds 1 table (invoices) and "
        "none of verify's; nothing was created in it: point VERIFY_DATABASE_URL at a verify "
        "archive or a new file\n",
    )
    assert sqlite_tables(db) == {"invoices"}
    assert not home.exists()  # nor the home it would have used


def test_a_home_holding_another_sqlite_database_is_refused(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VERIFY_DATABASE_URL", raising=False)
    folder = tmp_path / "books"
    folder.mkdir()
    db = another_apps_sqlite(folder / "verify.db")
    r = cli("--home", str(folder), "case", "open", "Bridge")
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: the database {db} is not a verify archive: it holds 1 table (invoices) and "
        "none of verify's; nothing was created in it: choose another --home (or VERIFY_HOME) "
        "for the archive\n",
    )
    assert sqlite_tables(db) == {"invoices"}
    assert sorted(p.name for p in folder.iterdir()) == ["verify.db"]  # no objects/ either


def test_an_empty_sqlite_file_is_initialised(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "new.db"
    db.touch()
    monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{db}")
    assert cli("case", "open", "Bridge").exit_code == 0
    assert {"cases", "alembic_version"} <= sqlite_tables(db)
