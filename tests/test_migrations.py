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


def test_0004_backfills_who_added_each_claim_from_the_trail(
    engine: Engine, url: str, tmp_path: Path
) -> None:
    """An archive at 0003, whose claims have no creation stamp: 0004 gives each the one its
    creating entry records (`by`/`at` of a `case.open` that lists it), else that entry's
    actor and time (a `claim add` of the command line); an import's `claim.add`, which
    does not say (the file did not), gives none; a claim no entry created, its case's
    opening. `verify check` then compares them with the trail and finds nothing."""
    from sqlmodel import select

    from verify import audit
    from verify.models import Case, Claim
    from verify.timeutil import iso

    cfg = db.alembic_config()
    with engine.execution_options(verify_write=True).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    # (slug, when it was opened, by whom, its claims and who last changed each, entries:
    # (at, actor, action, payload)), as 0003 wrote them
    archive_cases = [
        ("typed", "2024-01-02 09:59:59.500000", "ann", [("one", "ann"), ("two", "ann"),
                                                        ("three", "carol")], [
            ("2024-01-02T10:00:00.250001Z", "ann", "case.open",
             {"title": "T", "summary": "", "claims": ["one", "two"], "by": "ann",
              "at": "2024-01-02T09:59:59.5Z"}),
            ("2024-01-03T11:00:00.000007Z", "carol", "claim.add", {"n": 3, "text": "three"}),
        ]),
        # before `case.open` recorded who and when: its actor and time
        ("older", "2024-01-04 07:59:59.000000", "dave", [("x", "dave")], [
            ("2024-01-04T08:00:00Z", "dave", "case.open",
             {"title": "T", "summary": "", "claims": ["x"]}),
        ]),
        # an import's claim.add named the importer only: who wrote the claim is not known
        ("filed", "2023-05-01 00:00:00.000000", "zoe", [("from a file", "erin")], [
            ("2024-01-05T08:00:00Z", "erin", "case.open",
             {"title": "T", "summary": "", "claims": [], "import": "f.toml"}),
            ("2024-01-05T08:00:00.1Z", "erin", "claim.add",
             {"n": 1, "text": "from a file", "import": "f.toml"}),
        ]),
        ("untracked", "2024-01-01 00:00:00.000000", "fred", [("no entry", "fred")], []),
    ]  # fmt: skip
    with engine.execution_options(verify_write=True).begin() as conn:
        seq, prev = 0, audit.GENESIS
        for slug, opened, by, claims, entries in archive_cases:
            case_id = conn.execute(
                text(
                    "INSERT INTO cases (slug, title, summary, status, created_at, created_by, "
                    "updated_at, updated_by) VALUES (:slug, 'T', '', 'unverified', :t, :by, :t, "
                    ":by) RETURNING id"
                ),
                {"slug": slug, "t": opened, "by": by},
            ).scalar_one()
            for n, (claim, changed_by) in enumerate(claims, start=1):
                conn.execute(
                    text(
                        "INSERT INTO claims (case_id, position, text, finding, rationale, "
                        "updated_at, updated_by) VALUES (:case, :n, :text, 'unassessed', '', "
                        ":t, :by)"
                    ),
                    {"case": case_id, "n": n, "text": claim, "t": opened, "by": changed_by},
                )
            for at, actor, action, payload in entries:
                seq += 1
                body = audit.canonical_json(payload)
                digest = audit.entry_hash(seq, at, actor, action, slug, body, prev)
                conn.execute(
                    text(
                        "INSERT INTO audit_entries (seq, at, actor, action, case_slug, payload, "
                        "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :slug, :body, "
                        ":prev, :hash)"
                    ),
                    {"seq": seq, "at": at, "actor": actor, "action": action, "slug": slug,
                     "body": body, "prev": prev, "hash": digest},
                )  # fmt: skip
                prev = digest
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)"),
            {"seq": seq, "hash": prev},
        )
    archive = open_archive(tmp_path / "home", database_url=url, actor="a")
    try:
        assert db.current_revision(archive.engine) == db.SCHEMA_HEAD
        with archive.read() as session:
            slugs = {c.id: c.slug for c in session.exec(select(Case)).all()}
            stamps = {
                (slugs[c.case_id], c.position): (c.created_by, iso(c.created_at))
                for c in session.exec(select(Claim)).all()
            }
        assert stamps == {
            ("typed", 1): ("ann", "2024-01-02T09:59:59.500000Z"),
            ("typed", 2): ("ann", "2024-01-02T09:59:59.500000Z"),
            ("typed", 3): ("carol", "2024-01-03T11:00:00.000007Z"),
            ("older", 1): ("dave", "2024-01-04T08:00:00Z"),
            ("filed", 1): (None, None),
            ("untracked", 1): ("fred", "2024-01-01T00:00:00Z"),
        }
        report = log.check_archive(archive)
        assert report.ok, report.findings
        # and a stamp edited in the database from then on is a difference from the trail
        with archive.engine.execution_options(verify_write=True).begin() as conn:
            conn.execute(text("UPDATE claims SET created_by = 'mallory' WHERE position = 3"))
        assert [
            (f.subject, f.detail.split(" (seq")[0]) for f in log.check_archive(archive).findings
        ] == [
            (
                "case typed claim 3",
                "created-by is 'mallory' but the audit trail last recorded 'carol'",
            )
        ]
    finally:
        archive.close()
