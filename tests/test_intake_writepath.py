"""`verify media add` writes a SQLite archive without the ORM (verify.dbwrite.IntakeArchive):
every row, the output, the errors and the exit codes must be those of the normal path
(`Archive.writer()`, SQLAlchemy), which PostgreSQL archives take."""

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.conftest import RunCli
from tests.media import write_jpeg
from tests.provhelp import ensure_blob, sha_of
from verify import dbwrite
from verify.archive import Archive, open_archive
from verify.dbread import READ_ONLY
from verify.services import intake

NOW = "2024-03-01T10:00:00.123456Z"  # microseconds: stored as the ORM stores them


@pytest.fixture
def backend() -> str:
    """SQLite, whatever `--backend` says: this module is about the SQLite archive's own
    write path (`TestEveryBackend` runs on both)."""
    return "sqlite"


def _files(tmp: Path) -> list[Path]:
    from bench.clips import render

    d = tmp / "in"
    d.mkdir()
    jpeg = write_jpeg(d / "photo.jpg", seed=3)
    other = write_jpeg(d / "other.jpg", seed=4)
    clip = d / "clip.mp4"
    render(clip, width=160, height=120, seconds=2.0, gop=30)
    text = d / "notes.txt"
    text.write_text("not media\n")
    broken = d / "broken.jpg"
    broken.write_bytes(jpeg.read_bytes()[:600])
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return [jpeg, clip, text, broken, empty, other, jpeg, d / "missing.jpg"]


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def _run(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch, home: Path, files: list[Path], *, orm: bool
) -> tuple[Result, Result, list[bool]]:
    """Open a case, pre-record `other.jpg` as a pending blob, then `media add` the files."""
    monkeypatch.setenv("VERIFY_HOME", str(home))
    monkeypatch.setenv("VERIFY_FAKE_NOW", NOW)
    assert cli("case", "open", "Intake", "--slug", "intake").exit_code == 0
    archive = open_archive(home, actor="tester")
    try:
        ensure_blob(archive, sha_of(files[5].read_bytes()), size=files[5].stat().st_size)
    finally:
        archive.close()
    opened: list[bool] = []
    real = dbwrite.open_intake

    def spy(h: Any, actor: Any) -> Any:
        got = None if orm else real(h, actor)
        opened.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(dbwrite, "open_intake", spy)
        added = cli("media", "add", "intake", *map(str, files), "--platform", "telegram")
        again = cli("media", "add", "intake", str(files[0]), "--json")
    return added, again, opened


def test_both_write_paths_store_the_same_rows(
    cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = _files(tmp_path)
    fast_home, normal_home = tmp_path / "fast", tmp_path / "normal"
    fast = _run(cli, monkeypatch, fast_home, files, orm=False)
    normal = _run(cli, monkeypatch, normal_home, files, orm=True)
    assert fast[2] == [True, True]  # both commands took the ORM-free path
    assert normal[2] == [False, False]
    for a, b in zip(fast[:2], normal[:2], strict=True):
        assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr)
    assert fast[0].exit_code == 2  # the broken, empty and missing files
    assert fast[0].stdout.split() == ["1", "2", "3", "4", "5", "6", "7"]
    rows = _dump(fast_home / "verify.db")
    assert rows == _dump(normal_home / "verify.db")
    # what was written: 6 distinct stored files, the pending one analysed, 8 media rows
    blobs = {r[1]: r for r in rows["blobs"]}
    assert len(blobs) == 6 and len(rows["media"]) == 8
    assert all(r[5] in ("ok", "analysis_failed") for r in rows["blobs"])
    assert {r[3] for r in rows["blobs"]} == {"image", "video", "other"}
    assert len(rows["audit_entries"]) == 1 + 8
    monkeypatch.setenv("VERIFY_HOME", str(fast_home))
    check = cli("check")
    assert check.exit_code == 0, check.stderr


def test_busy_archive_is_one_line_exit_75(
    cli: RunCli, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Another process holding the write lock: the ORM-free path reports it as the normal
    path does (exit 75), and writes nothing."""
    assert cli("case", "open", "Busy", "--slug", "busy").exit_code == 0
    jpeg = write_jpeg(tmp_path / "p.jpg")
    monkeypatch.setenv("VERIFY_BUSY_TIMEOUT_MS", "200")
    holder = sqlite3.connect(home / "verify.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    opened: list[bool] = []
    real = dbwrite.open_intake

    def spy(h: Any, actor: Any) -> Any:
        got = real(h, actor)
        opened.append(got is not None)
        return got

    try:
        with monkeypatch.context() as m:
            m.setattr(dbwrite, "open_intake", spy)
            got = cli("media", "add", "busy", str(jpeg))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert opened == [True]  # the ORM-free path met the lock
    assert got.exit_code == 75
    assert got.stderr.count("\n") == 1 and "busy" in got.stderr
    assert cli("media", "list", "busy", "--json").stdout.strip() == "[]"


def test_media_add_imports_no_orm(home: Path, tmp_path: Path) -> None:
    """The point of the ORM-free path: on an existing SQLite archive `media add` never
    imports SQLModel or SQLAlchemy (0.4-0.6 s of CPU)."""
    archive = open_archive(home, actor="tester")
    archive.close()
    env = {**os.environ, "VERIFY_HOME": str(home), "VERIFY_USER": "tester"}
    verify = [sys.executable, "-m", "verify"]
    subprocess.run([*verify, "case", "open", "Imports", "--slug", "imp"], env=env, check=True)
    jpeg = write_jpeg(tmp_path / "p.jpg")
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "verify", "media", "add", "imp", str(jpeg)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "numpy" in imported  # the near-duplicate search ran
    assert not {"sqlmodel", "sqlalchemy", "verify.models", "alembic"} & imported


def test_sqlite_writer_stores_what_the_orm_stores(tmp_path: Path) -> None:
    """Rows written through `SqliteWriter` are byte for byte those an ORM flush writes, for
    every kind of value the intake tables hold: datetimes in another zone and with
    microseconds (stored in UTC), JSON with non-ASCII text and None (stored as `null`),
    booleans, bytes, floats and signed 64-bit hashes."""
    from datetime import UTC, datetime, timedelta, timezone

    from verify.models import Blob, Case, Frame, Media

    at = datetime(2024, 5, 23, 12, 30, 15, 250001, tzinfo=timezone(timedelta(hours=3)))
    case = {
        "slug": "c",
        "title": "Видео",
        "summary": "",
        "status": "unverified",
        "created_at": at,
        "created_by": "t",
        "updated_at": at,
        "updated_by": "t",
    }
    blobs = [
        {
            "sha256": "a" * 64,
            "size": 2**40,
            "kind": "video",
            "mime": "video/mp4",
            "analysis_state": "ok",
            "analysis_error": None,
            "pipeline": "v2",
            "analysis_mode": "full",
            "meta": {"make": "Apple", "title": "Белгород «22»", "gps": None, "n": [1, 2.5]},
            "analysed_at": at,
            "stored_at": datetime(2024, 5, 23, 9, 0, tzinfo=UTC),
        },
        {
            "sha256": "b" * 64,
            "size": 0,
            "kind": "other",
            "mime": None,
            "analysis_state": "analysis_failed",
            "analysis_error": "crashed (signal SIGSEGV)",
            "pipeline": None,
            "analysis_mode": None,
            "meta": None,
            "analysed_at": None,
            "stored_at": at,
        },
    ]
    media = {
        "case_id": 1,
        "blob_id": 1,
        "original_name": "légion.mp4",
        "label": None,
        "source_url": "https://t.me/x/1",
        "platform": "telegram",
        "acquired_via": None,
        "acquired_by": "t",
        "acquired_at": at,
    }
    frame = {
        "blob_id": 1,
        "idx": 0,
        "pts": 1.0 / 3.0,
        "phash": -(2**63),
        "dhash": 2**63 - 1,
        "phash_masked": None,
        "dhash_masked": -1,
        "pdq": bytes(range(32)),
        "pdq_quality": 100,
        "informative": False,
        "scene_change": True,
    }

    orm_home, lite_home = tmp_path / "orm", tmp_path / "lite"
    archive = open_archive(orm_home, actor="t")
    try:
        with archive.write() as session:
            session.add(Case(**case))
            session.add_all([Blob(**b) for b in blobs])
            session.flush()
            session.add(Media(**media))
            session.add(Frame(**frame))
    finally:
        archive.close()
    open_archive(lite_home, actor="t").close()
    lite = dbwrite.open_intake(lite_home, "t")
    assert lite is not None
    try:
        with lite.writer() as w:
            assert w.insert("cases", case) == 1
            assert [w.insert("blobs", b) for b in blobs] == [1, 2]
            assert w.insert("media", media) == 1
            w.insert_many("frames", [frame])
    finally:
        lite.close()
    assert _dump(lite_home / "verify.db") == _dump(orm_home / "verify.db")


def test_a_new_blob_starts_from_the_models_defaults() -> None:
    """`intake._NEW_BLOB` restates the `Blob` model's defaults (the ORM-free path cannot ask
    the model without importing it): they must not drift apart."""
    from verify.models import Blob

    defaults = {
        name: field.default
        for name, field in Blob.model_fields.items()
        if name not in ("id", "sha256", "size", "stored_at")
    }
    assert defaults == intake._NEW_BLOB


def test_naive_datetimes_are_refused() -> None:
    """The models' datetime columns refuse naive values; so does the ORM-free writer."""
    from datetime import datetime

    with pytest.raises(ValueError, match="naive"):
        dbwrite.sqlite_datetime(datetime(2024, 1, 1, 12, 0))


def test_a_failed_write_reports_its_own_error(home: Path) -> None:
    """After an error that ends SQLite's transaction itself (disk full), the writer does not
    hide it behind "cannot rollback - no transaction is active"."""
    from datetime import UTC, datetime

    open_archive(home, actor="t").close()
    lite = dbwrite.open_intake(home, "t")
    assert lite is not None
    try:
        pages = lite._conn.execute("PRAGMA page_count").fetchone()[0]
        lite._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        row = {
            "sha256": "c" * 64,
            "size": 1,
            "kind": "other",
            "analysis_state": "analysis_failed",
            "analysis_error": "x" * 400_000,  # more than the pages left
            "stored_at": datetime.now(UTC),
        }
        with pytest.raises(sqlite3.OperationalError, match="full"), lite.writer() as w:
            w.insert("blobs", row)
        with lite.reader() as db:
            assert db.rows("SELECT count(*) FROM blobs") == [(0,)]
    finally:
        lite.close()


def test_json_columns_match_the_models() -> None:
    from sqlalchemy import JSON
    from sqlmodel import SQLModel

    import verify.models  # noqa: F401

    found = {
        (t.name, c.name)
        for t in SQLModel.metadata.tables.values()
        for c in t.columns
        if isinstance(c.type, JSON)
    }
    assert found == dbwrite.JSON_COLUMNS


class TestEveryBackend:
    @pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
    def backend(self, request: pytest.FixtureRequest) -> str:
        return str(request.param)

    def test_intake_through_sqlalchemy(self, archive: Archive, tmp_path: Path) -> None:
        """`Archive.writer()` (the path PostgreSQL archives take): rows, chain, search."""
        from PIL import Image

        from verify.services import cases, log

        cases.open_case(archive, "Backends", slug="backends")
        a = write_jpeg(tmp_path / "a.jpg", seed=1)
        b = tmp_path / "b.jpg"
        with Image.open(a) as im:
            im.resize((480, 360)).save(b, quality=70)  # a near-duplicate of a
        results = intake.add_media(archive, "backends", [str(a), str(b), str(a)])
        assert [r.media_id for r in results] == [1, 2, 3]
        assert [r.analysis for r in results] == ["ok", "ok", "ok"]
        assert results[2].already_stored and results[2].exact_copies[0]["media"] == 1
        assert results[1].near_duplicates and results[1].near_duplicates[0]["media"] == 1
        report = log.check_archive(archive)
        assert not report.findings, report.findings
        assert report.audit_entries == 1 + 3


def test_a_file_name_that_is_not_utf8_is_kept_escaped(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    """Such names (old archives, other systems) reach Python as lone surrogates, which the
    database and JSON refuse: the file is stored, its name recorded with the odd bytes as
    backslash escapes, rather than the command failing with an internal error."""
    import json

    assert cli("case", "open", "Names", "--slug", "names").exit_code == 0
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/lat\xe9.jpg"))
    write_jpeg(odd)
    added = cli("media", "add", "names", str(odd), "--json")
    assert added.exit_code == 0, added.stderr
    (row,) = json.loads(added.stdout)
    assert row["path"].endswith("lat\\xe9.jpg") and row["analysis"] == "ok"
    shown = json.loads(cli("media", "show", "1", "--json").stdout)
    assert shown["original_name"] == "lat\\xe9.jpg"
    assert cli("check").exit_code == 0


def test_a_batch_stopped_midway_says_what_it_recorded(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are recorded one by one; when a later one stops the batch (here the archive
    turns busy), the ids of those already recorded have been printed, so a retry can leave
    them out instead of recording them twice."""
    import json

    from verify.errors import BusyError

    assert cli("case", "open", "Batch", "--slug", "batch").exit_code == 0
    files = [str(write_jpeg(tmp_path / f"{i}.jpg", seed=i)) for i in range(3)]
    real = intake._record
    calls: list[int] = []

    def busy_on_second(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise BusyError("the archive is busy (another verify process is writing); try again")
        real(*args, **kwargs)

    monkeypatch.setattr(intake, "_record", busy_on_second)
    text = cli("media", "add", "batch", *files)
    assert text.exit_code == 75
    assert text.stdout == "1\n"
    calls.clear()
    as_json = cli("media", "add", "batch", *files, "--json")
    assert as_json.exit_code == 75
    assert [r["media"] for r in json.loads(as_json.stdout)] == [2]


def _query_only(configure: Callable[[sqlite3.Connection, int], None]) -> Any:
    """`configure_sqlite` that also makes the connection read-only (`PRAGMA query_only`:
    what a read-only file or file system does, which root's tests cannot get from modes)."""

    def read_only(conn: sqlite3.Connection, timeout_ms: int) -> None:
        configure(conn, timeout_ms)
        conn.execute("PRAGMA query_only = 1")

    return read_only


def test_a_read_only_database_is_one_line_exit_2(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database SQLite may not write (read-only file system or file; simulated with
    `PRAGMA query_only`, since root ignores file modes) is bad input, not an internal error."""
    assert cli("case", "open", "Ro", "--slug", "ro").exit_code == 0
    jpeg = write_jpeg(tmp_path / "p.jpg")
    with monkeypatch.context() as m:
        m.setattr(dbwrite, "configure_sqlite", _query_only(dbwrite.configure_sqlite))
        got = cli("media", "add", "ro", str(jpeg))
    assert got.exit_code == 2
    assert got.stderr.splitlines()[-1] == f"error: {READ_ONLY}"
    assert "internal error" not in got.stderr
    assert cli("media", "list", "ro", "--json").stdout.strip() == "[]"


def test_a_read_only_database_through_the_orm_is_one_line_exit_2(
    cli: RunCli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for commands that write through SQLAlchemy (`case open`, `status set`): the
    database layer says read-only, as it says busy, wherever the write is refused."""
    from verify import db

    assert cli("case", "open", "Ro", "--slug", "ro").exit_code == 0
    with monkeypatch.context() as m:
        m.setattr(db, "configure_sqlite", _query_only(db.configure_sqlite))
        opened = cli("case", "open", "Another", "--slug", "another")
        status = cli("status", "set", "ro", "in_progress", "--why", "started")
    for got in (opened, status):
        assert got.exit_code == 2, got.stderr
        assert got.stderr == f"error: {READ_ONLY}\n"
    assert [c["slug"] for c in json.loads(cli("case", "list", "--json").stdout)] == ["ro"]


def test_an_unwritable_store_is_one_line_per_file(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evidence store cannot take files (read-only file system, disk full): each file
    says so in one line, exit 2, nothing recorded, no temp file left."""
    import errno

    from verify import store

    assert cli("case", "open", "Full", "--slug", "full").exit_code == 0
    files = [str(write_jpeg(tmp_path / f"{i}.jpg", seed=i)) for i in range(2)]

    def no_space(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(store.tempfile, "mkstemp", no_space)
        got = cli("media", "add", "full", *files)
    assert got.exit_code == 2
    errors = [line for line in got.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("cannot be stored in" in e for e in errors)
    assert "internal error" not in got.stderr
    assert cli("media", "list", "full", "--json").stdout.strip() == "[]"
    assert not list((home / "objects").rglob("tmp-*"))


def test_an_empty_file_name_says_so(cli: RunCli, home: Path) -> None:
    assert cli("case", "open", "Empty", "--slug", "empty").exit_code == 0
    got = cli("media", "add", "empty", "")
    assert got.exit_code == 2
    assert got.stderr.splitlines()[-1] == (
        "error: an empty file name was given (an unset shell variable?)"
    )


def test_each_file_is_analysed_as_soon_as_it_is_stored(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's analysis starts when its bytes are stored, while the next files are still
    being copied (not once the whole batch is stored); bytes already handed to analysis in
    the same batch are not analysed twice."""
    from verify.analysis import sandbox
    from verify.services import cases
    from verify.store import ObjectStore

    cases.open_case(archive, "Pipeline", slug="pipeline")
    a, b, c = (write_jpeg(tmp_path / f"{n}.jpg", seed=i) for i, n in enumerate("abc"))
    events: list[str] = []
    real_put, real_submit = ObjectStore.put_file, sandbox.Analyses.submit

    def put(self: ObjectStore, path: str) -> Any:
        kept = real_put(self, path)
        events.append(f"store {Path(path).name}")
        return kept

    def submit(self: sandbox.Analyses, path: str) -> None:
        events.append("analyse")
        real_submit(self, path)

    monkeypatch.setattr(ObjectStore, "put_file", put)
    monkeypatch.setattr(sandbox.Analyses, "submit", submit)
    results = intake.add_media(archive, "pipeline", [str(a), str(b), str(a), str(c)])
    assert events == [
        "store a.jpg",
        "analyse",
        "store b.jpg",
        "analyse",
        "store a.jpg",
        "store c.jpg",
        "analyse",
    ]
    assert [r.analysis for r in results] == ["ok"] * 4
    assert [r.frames for r in results] == [1, 1, 1, 1]
    assert [r.sha256 for r in results] == [sha_of(p.read_bytes()) for p in (a, b, a, c)]
    assert len({r.blob_id for r in results}) == 3 and results[2].blob_id == results[0].blob_id
    assert results[2].already_stored


def test_add_media_says_which_file_it_waits_for(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`waiting` is called about once a second with (i, n, that file's result, seconds)
    while the batch waits for a slow analysis."""
    from verify.analysis.sandbox import AnalysisPool
    from verify.services import cases

    monkeypatch.setenv("VERIFY_WORKERS", "1")
    cases.open_case(archive, "Slow", slug="slow")
    photo = write_jpeg(tmp_path / "slow.jpg", seed=5)
    calls: list[tuple[int, int, str, float]] = []
    pool = AnalysisPool("tests.sandbox_targets:analyse_file_slowly")
    [result] = intake.add_media(
        archive,
        "slow",
        [str(photo)],
        pools=[pool],
        waiting=lambda i, n, r, s: calls.append((i, n, r.path, s)),
    )
    assert result.analysis == "ok" and result.frames == 1
    assert len(calls) >= 1 and all(c[:3] == (1, 1, str(photo)) for c in calls)
    assert [c[3] for c in calls] == sorted(c[3] for c in calls)
