"""Migrations: blank -> head equals the models; SCHEMA_HEAD is Alembic's head; open is cheap
once migrated; an archive at an older revision is upgraded on open, and one at a revision
this version does not know (a newer verify's) is refused by every command, changing
nothing. SQLite and PostgreSQL (the latter in a throwaway schema per test, skipped without
VERIFY_TEST_POSTGRES_URL)."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

import verify.models  # noqa: F401  (registers every table on SQLModel.metadata)
from tests.conftest import RunCli, postgres_schema, require_postgres
from tests.media import write_jpeg
from verify import db
from verify.archive import open_archive, sqlite_url
from verify.services import cases, log


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'verify.db'}"
        return
    with postgres_schema(require_postgres()) as pg:
        yield pg


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The tests using `home` (the command line's) run on SQLite and PostgreSQL alike."""
    return str(request.param)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    e = db.make_engine(url)
    yield e
    e.dispose()


def schema_diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, SQLModel.metadata))


def test_schema_head_is_alembic_head() -> None:
    script = ScriptDirectory.from_config(db.alembic_config())
    assert script.get_heads() == [db.SCHEMA_HEAD]  # one head: no forked history


def test_blank_database_migrates_to_the_models(engine: Engine) -> None:
    assert db.current_revision(engine) is None
    db.migrate(engine)
    assert db.current_revision(engine) == db.SCHEMA_HEAD
    assert schema_diff(engine) == []
    tables = set(inspect(engine).get_table_names())
    assert tables == {*SQLModel.metadata.tables, "alembic_version"}


def test_second_open_does_not_run_migrations(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_upgrade = command.upgrade

    def counting_upgrade(cfg: Any, revision: str, **kw: Any) -> None:
        calls.append(revision)
        real_upgrade(cfg, revision, **kw)

    monkeypatch.setattr(command, "upgrade", counting_upgrade)
    first = open_archive(tmp_path / "home", database_url=url, actor="a")
    cases.open_case(first, "kept across opens")
    first.close()
    assert calls == ["head"]
    second = open_archive(tmp_path / "home", database_url=url, actor="a")
    assert [c["slug"] for c in cases.list_cases(second)] == ["kept-across-opens"]
    second.close()
    assert calls == ["head"]  # the second open only read alembic_version


def older_revisions() -> list[str]:
    """Every revision before head, oldest first, plus `base` (an empty, stamped database)."""
    script = ScriptDirectory.from_config(db.alembic_config())
    revs = [r.revision for r in script.walk_revisions("base", "heads")][::-1]
    return ["base", *[r for r in revs if r != db.SCHEMA_HEAD]]


@pytest.mark.parametrize("revision", older_revisions())
def test_older_archive_is_upgraded_on_open(
    engine: Engine, url: str, tmp_path: Path, revision: str
) -> None:
    cfg = db.alembic_config()
    with engine.execution_options(verify_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        if revision == "base":
            command.stamp(cfg, "base")
        else:
            command.upgrade(cfg, revision)
    if revision != "base":
        # Data written by an older version must survive the upgrade: a case and an
        # audit entry inserted with the columns of revision 0001.
        with engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO cases (slug, title, summary, status, created_at, created_by, "
                    "updated_at, updated_by) VALUES ('old-case', 'Old', '', 'unverified', "
                    ":t, 'old', :t, 'old')"
                ),
                {"t": "2024-01-01 00:00:00.000000"},
            )
    assert db.current_revision(engine) == (None if revision == "base" else revision)
    archive = open_archive(tmp_path / "home", database_url=url, actor="a")
    try:
        assert db.current_revision(archive.engine) == db.SCHEMA_HEAD
        assert schema_diff(archive.engine) == []
        slugs = [c["slug"] for c in cases.list_cases(archive)]
        assert slugs == ([] if revision == "base" else ["old-case"])
        assert log.check_archive(archive).ok
    finally:
        archive.close()


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    """The initial migration is reversible (drops exactly what it created)."""
    db.migrate(engine)
    cfg = db.alembic_config()
    with engine.execution_options(verify_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    db.migrate(engine)
    assert schema_diff(engine) == []


NEWER = "0007_from_the_future"


def _rows(engine: Engine) -> dict[str, Any]:
    """What a refused command must leave as it was: the revision and every table's rows."""
    with engine.connect() as conn:
        found: dict[str, Any] = {
            "revision": conn.execute(text("SELECT version_num FROM alembic_version")).all()
        }
        for table in sorted(SQLModel.metadata.tables):
            found[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    return found


def test_an_archive_written_by_a_newer_verify_is_refused_by_every_command(
    cli: RunCli, home: Path, database_url: str | None, tmp_path: Path
) -> None:
    """A newer verify's migration (a revision this version has none for) was an internal
    error, exit 1, out of Alembic: now one line naming both revisions and the way out, exit
    2, from reading commands and changing ones alike, with nothing read or written."""
    assert cli("case", "open", "Kept").exit_code == 0
    photo = write_jpeg(tmp_path / "photo.jpg")
    assert cli("media", "add", "kept", str(photo)).exit_code == 0
    engine = db.make_engine(database_url or sqlite_url(home / "verify.db"))
    try:
        with engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})
        before = _rows(engine)
    finally:
        engine.dispose()
    objects = sorted((home / "objects").rglob("*"))
    where = (
        str(home / "verify.db")
        if database_url is None
        else make_url(database_url).render_as_string(hide_password=True)
    )
    refused = (
        f"error: the archive {where} was written by a newer verify (schema revision {NEWER}, "
        f"this version knows up to {db.SCHEMA_HEAD}); upgrade verify to use it\n"
    )
    other = write_jpeg(tmp_path / "other.jpg", seed=1)
    for args in (
        ("case", "list"),
        ("case", "list", "--json"),
        ("case", "show", "kept"),
        ("media", "list", "kept"),
        ("check",),
        ("log",),
        ("search", str(photo)),
        ("prov", "derivations", "kept"),
        ("timeline", "kept"),
        ("case", "open", "New"),
        ("media", "add", "kept", str(other)),
        ("status", "set", "kept", "in_progress"),
        ("report", "kept", "-o", str(tmp_path / "report.md")),
    ):
        r = cli(*args)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", refused), args
    engine = db.make_engine(database_url or sqlite_url(home / "verify.db"))
    try:
        assert _rows(engine) == before
    finally:
        engine.dispose()
    assert sorted((home / "objects").rglob("*")) == objects
    assert not (tmp_path / "report.md").exists()


def test_open_archive_refuses_a_newer_revision(url: str, tmp_path: Path) -> None:
    archive = open_archive(tmp_path / "home", database_url=url, actor="a")
    cases.open_case(archive, "Kept")
    with archive.engine.execution_options(verify_write=True).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": NEWER})
    archive.close()
    with pytest.raises(db.NewerSchema) as exc:
        open_archive(tmp_path / "home", database_url=url, actor="a")
    assert exc.value.exit_code == 2 and exc.value.revision == NEWER
    engine = db.make_engine(url)
    try:
        assert db.current_revision(engine) == NEWER
    finally:
        engine.dispose()
