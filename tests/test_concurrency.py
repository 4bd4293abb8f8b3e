"""Two OS processes x 200 read-modify-write status changes on one archive (T10).

Each worker re-opens the archive every 10 changes (so opening, too, meets a busy writer), reads
the case's status and flips it between in_progress and needs_review. A 1 ms pause is
injected after every SELECT inside the write transaction, so a non-atomic read-modify-write
(deferred BEGIN, library defaults) would interleave and lose updates: measured 437 of
1,000 lost with SQLAlchemy defaults, 642 "database is locked" with a deferred BEGIN.

Pass: exactly 400 status changes and 400 status audit entries; the history is one unbroken
alternation (every change's `from` is the previous change's `to`); the chain verifies; no
"database is locked" (or any busy error) surfaced. A worker whose flip lost the race
(the other process flipped first, so its target is now the current status) gets the
ordinary "is already X" refusal and re-reads: that is counted, not an error.
"""

import itertools
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import postgres_schema, require_postgres

N = 200
REOPEN_EVERY = 10
SLUG = "contended"


def worker(home: str, url: str, actor: str, start: Any, results: Any) -> None:
    """Runs in a spawned process. Reports (actor, done, refused, errors)."""
    from sqlalchemy import event

    from verify.archive import open_archive
    from verify.errors import BadInputError
    from verify.services import cases, status

    def pause(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            time.sleep(0.001)

    done = refused = attempts = 0
    errors: list[str] = []
    archive = None
    start.wait()
    while done < N and len(errors) < 5:
        try:
            if attempts % REOPEN_EVERY == 0:  # as separate CLI commands would
                if archive is not None:
                    archive.close()
                archive = open_archive(home, database_url=url, actor=actor)
                event.listen(archive.engine, "after_cursor_execute", pause)
            attempts += 1
            current = cases.show_case(archive, SLUG)["status"]
            target = "needs_review" if current == "in_progress" else "in_progress"
            status.set_status(archive, SLUG, target)
            done += 1
        except BadInputError as exc:
            if " is already " not in str(exc):
                errors.append(f"{type(exc).__name__}: {exc}")
            refused += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    if archive is not None:
        archive.close()
    results.put((actor, done, refused, errors))


def run_contention(home: Path, url: str) -> None:
    from verify.archive import open_archive
    from verify.services import cases, log, logread, status

    archive = open_archive(home, database_url=url, actor="setup")
    cases.open_case(archive, "Contended case", slug=SLUG)
    archive.close()

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(str(home), url, name, start, results))
        for name in ("worker-a", "worker-b")
    ]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0

    for actor, done, _refused, errors in outcomes:
        assert errors == [], (actor, errors)
        assert done == N, actor

    archive = open_archive(home, database_url=url, actor="check")
    try:
        history = status.status_history(archive, SLUG)[1:]  # [0] is the opening
        assert len(history) == 2 * N
        assert history[0]["from"] == "unverified"
        for before, after in itertools.pairwise(history):
            assert after["from"] == before["to"], (before, after)
            assert after["to"] != after["from"]
        assert {h["by"] for h in history} == {"worker-a", "worker-b"}
        assert sum(h["by"] == "worker-a" for h in history) == N
        entries = logread.read_log(archive)
        assert [e["seq"] for e in entries] == list(range(1, 2 * N + 2))
        assert sum(e["action"] == "status.set" for e in entries) == 2 * N
        report = log.check_archive(archive)
        assert report.ok, report.findings
        assert report.audit_entries == 2 * N + 1
    finally:
        archive.close()


@pytest.mark.slow
def test_two_processes_sqlite(tmp_path: Path) -> None:
    run_contention(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'verify.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_postgres(tmp_path: Path) -> None:
    with postgres_schema(require_postgres()) as url:
        run_contention(tmp_path / "home", url)


def first_open(home: str, url: str, name: str, start: Any, results: Any) -> None:
    from verify.archive import open_archive
    from verify.services import cases

    start.wait()
    try:
        archive = open_archive(home, database_url=url, actor=name)
        cases.open_case(archive, f"opened by {name}", slug=name)
        archive.close()
        results.put((name, None))
    except Exception as exc:
        # the driver's own error too, so a rare failure says which statement was refused
        cause = exc.__cause__ or exc.__context__
        results.put((name, f"{type(exc).__name__}: {exc} (cause: {cause!r})"))


def run_first_open(home: Path, url: str) -> None:
    """Two processes opening a blank archive at once: one migrates, the other waits."""
    from verify.archive import open_archive
    from verify.services import cases, log

    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    names = ("first-a", "first-b")
    procs = [
        ctx.Process(target=first_open, args=(str(home), url, n, start, results)) for n in names
    ]
    for p in procs:
        p.start()
    start.set()
    outcomes = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    assert outcomes == {n: None for n in names}
    archive = open_archive(home, database_url=url, actor="check")
    try:
        assert sorted(c["slug"] for c in cases.list_cases(archive)) == list(names)
        assert log.check_archive(archive).ok
    finally:
        archive.close()


def test_concurrent_first_open_sqlite(tmp_path: Path) -> None:
    run_first_open(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'verify.db'}")


@pytest.mark.postgres
def test_concurrent_first_open_postgres(tmp_path: Path) -> None:
    with postgres_schema(require_postgres()) as url:
        run_first_open(tmp_path / "home", url)


def test_switching_to_wal_is_retried_while_locked() -> None:
    """SQLite can refuse the switch of a new database to WAL at once, without its busy
    handler, while another process holds the lock: it is retried up to the busy timeout."""
    import sqlite3

    from verify.dbread import set_wal as _set_wal

    class Cursor:
        def __init__(self, errors: list[str]) -> None:
            self.errors = errors
            self.calls = 0

        def execute(self, sql: str) -> None:
            self.calls += 1
            if self.errors:
                raise sqlite3.OperationalError(self.errors.pop(0))

    locked = Cursor(["database is locked", "database is locked"])
    _set_wal(locked, 5_000)  # type: ignore[arg-type]
    assert locked.calls == 3
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _set_wal(Cursor(["disk I/O error"]), 5_000)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _set_wal(Cursor(["database is locked"] * 1000), 0)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_read_sees_one_snapshot_while_another_user_writes(home: Path) -> None:
    """A read transaction sees the archive as it was at its first statement, on both
    databases, so `check` and reports never mix two states of it (PostgreSQL's default,
    READ COMMITTED, would show the colleague's case to the second query)."""
    from sqlalchemy import text

    from verify.archive import open_archive
    from verify.services.cases import open_case

    reading = open_archive(home, actor="reader")
    writing = open_archive(home, actor="colleague")
    try:
        open_case(writing, "Before")
        count = "SELECT count(*) FROM cases"
        with reading.reader() as reader:
            before = reader.rows(count)[0][0]
            open_case(writing, "During")
            assert reader.rows(count)[0][0] == before == 1
        with reading.read() as session:
            assert session.execute(text(count)).scalar_one() == 2
            open_case(writing, "During the session")
            assert session.execute(text(count)).scalar_one() == 2
        with reading.reader() as reader:
            assert reader.rows(count)[0][0] == 3
    finally:
        reading.close()
        writing.close()
