"""An archive on read-only media (a write-protected drive, a read-only mount of an evidence
image): every command that only reads it works, every command that would change it is
refused with one line and exit 2 before it does anything, and nothing under the archive's
folder changes. The folder is made "read-only" by making `os.access` say so (tests may run
as root, for whom permissions do not stop writes); the SQLite database is then opened with
`mode=ro&immutable=1`, which refuses writes by itself."""

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.media import write_jpeg
from verify.dbread import SCHEMA_HEAD

REFUSED = (
    "error: the archive {home} is read-only (its folder cannot be written), so this command, "
    "which changes it, cannot run; copy the archive to a writable place (cp -a) and use the "
    "copy with --home"
)


@pytest.fixture
def backend() -> str:
    """SQLite, whatever `--backend` says: read-only archives are SQLite archives."""
    return "sqlite"


def _tree(home: Path) -> dict[str, str]:
    """Every file under `home` with a hash of its bytes."""
    return {
        str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def make_read_only(
    home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], None]:
    if database_url is not None:
        pytest.skip("read-only archives are SQLite archives on read-only media")

    return lambda: pretend_read_only(home, monkeypatch)


def pretend_read_only(
    home: Path, monkeypatch: pytest.MonkeyPatch, *, file_system: bool = True
) -> None:
    """`home` is on a read-only mount: `os.access` says it cannot be written, and its file
    system says it is read-only (`file_system=False`: only closed to this user)."""
    import verify.dbread

    if file_system:
        monkeypatch.setattr(verify.dbread, "read_only_file_system", lambda path: True)
    real = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if mode & os.W_OK and Path(str(path)).resolve() == home.resolve():
            return False
        return real(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)


@pytest.fixture
def filled(cli: RunCli, home: Path, tmp_path: Path) -> dict[str, object]:
    """An archive with a case, a status change and a photo."""
    assert cli("case", "open", "Flooding in Derna", "--slug", "derna").exit_code == 0
    assert cli("status", "set", "derna", "in_progress").exit_code == 0
    photo = write_jpeg(tmp_path / "photo.jpg", seed=5)
    r = cli("media", "add", "derna", str(photo))
    assert r.exit_code == 0, r.stderr
    return {"case": "derna", "photo": photo, "media": r.stdout.strip()}


def test_reading_commands_work_and_change_nothing(
    cli: RunCli,
    home: Path,
    tmp_path: Path,
    filled: dict[str, object],
    make_read_only: Callable[[], None],
) -> None:
    (home / "index").mkdir(exist_ok=True)  # the search index cache, if any, stays as it is
    make_read_only()
    before = _tree(home)
    media = str(filled["media"])
    listed = cli("case", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [c["slug"] for c in json.loads(listed.stdout)] == ["derna"]
    shown = cli("media", "show", media, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["kind"] == "image"
    for args in (
        ("case", "show", "derna"),
        ("media", "list", "derna"),
        ("media", "frames", media),
        ("status", "history", "derna"),
        ("timeline", "derna"),
        ("log",),
        ("check",),
        ("dupes",),
    ):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
    found = cli("search", str(filled["photo"]), "--json")
    assert found.exit_code == 0, found.stderr
    assert found.stdout.count('"media"') >= 1 and media in found.stdout
    assert _tree(home) == before


def test_a_report_and_a_frame_export_are_written_but_not_recorded(
    cli: RunCli,
    home: Path,
    tmp_path: Path,
    filled: dict[str, object],
    make_read_only: Callable[[], None],
) -> None:
    log_before = json.loads(cli("log", "--json").stdout)
    make_read_only()
    before = _tree(home)
    out = tmp_path / "out" / "derna.html"
    out.parent.mkdir()
    r = cli("report", "derna", "--format", "html", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == str(out) and out.stat().st_size > 0
    assert r.stderr.splitlines()[0] == (
        "note: the archive is read-only: this report is not recorded in its audit trail"
    )
    frames = tmp_path / "frames"
    r = cli("media", "frames", str(filled["media"]), "--export", str(frames))
    assert r.exit_code == 0, r.stderr
    assert len(list(frames.glob("*.jpg"))) == 1
    assert r.stderr.strip() == (
        "note: the archive is read-only: this export is not recorded in its audit trail"
    )
    copies = tmp_path / "copies"
    r = cli("media", "export", str(filled["media"]), "-o", str(copies))
    assert r.exit_code == 0, r.stderr
    assert [p.name for p in copies.iterdir()] == [Path(r.stdout.strip()).name]
    assert r.stderr.strip() == (
        "note: the archive is read-only: this export is not recorded in its audit trail"
    )
    assert _tree(home) == before
    assert json.loads(cli("log", "--json").stdout) == log_before


@pytest.mark.parametrize(
    "args",
    [
        ("case", "open", "Another claim"),
        ("status", "set", "derna", "needs_review"),
        ("note", "add", "derna", "seen on Telegram first"),
        ("claim", "add", "derna", "shows Derna"),
        ("media", "reanalyse", "MEDIA"),
        ("media", "reanalyse", "--outdated"),
        ("media", "add", "derna", "NEWFILE"),
    ],
    ids=lambda a: " ".join(a[:2]) + (f" {a[2]}" if a[2].startswith("--") else ""),
)
def test_a_command_that_changes_the_archive_is_refused_before_it_does_anything(
    cli: RunCli,
    home: Path,
    tmp_path: Path,
    filled: dict[str, object],
    make_read_only: Callable[[], None],
    args: tuple[str, ...],
) -> None:
    new = write_jpeg(tmp_path / "new.jpg", seed=11)
    make_read_only()
    before = _tree(home)
    given = [
        str(filled["media"]) if a == "MEDIA" else str(new) if a == "NEWFILE" else a for a in args
    ]
    r = cli(*given)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [REFUSED.format(home=home)]
    assert _tree(home) == before


def test_a_read_only_archive_of_another_schema_says_it_cannot_be_upgraded(
    cli: RunCli, home: Path, filled: dict[str, object], make_read_only: Callable[[], None]
) -> None:
    with sqlite3.connect(home / "verify.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    conn.close()
    make_read_only()
    r = cli("case", "list")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"error: the archive {home} is read-only and was written by another version of verify "
        f"(schema 0001, this version uses {SCHEMA_HEAD}); copy it to a writable place (cp -a) and open "
        "the copy with --home"
    ]


def test_a_read_only_archive_of_a_newer_verify_says_to_upgrade_verify(
    cli: RunCli, home: Path, filled: dict[str, object], make_read_only: Callable[[], None]
) -> None:
    """Copying it to a writable place would not help: this version cannot read it at all."""
    from verify.dbread import SCHEMA_HEAD

    with sqlite3.connect(home / "verify.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0007_x'")
    conn.close()
    before = _tree(home)
    make_read_only()
    for args in (("case", "list"), ("log",), ("check",)):
        r = cli(*args)
        assert (r.exit_code, r.stdout) == (2, ""), args
        assert r.stderr.splitlines() == [
            f"error: the archive {home / 'verify.db'} was written by a newer verify (schema "
            f"revision 0007_x, this version knows up to {SCHEMA_HEAD}); upgrade verify to use it"
        ]
    assert _tree(home) == before


def test_immutable_only_on_a_read_only_file_system_without_wal_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verify.dbread
    from verify.dbread import readonly_uri

    db = tmp_path / "verify.db"
    db.write_bytes(b"")
    # a folder only this user cannot write, nobody using it (no -shm): nothing to lock
    assert readonly_uri(db).endswith("?mode=ro&immutable=1")
    # ... its owner has it open: SQLite's locking, through the owner's -shm
    (tmp_path / "verify.db-shm").write_bytes(b"")
    assert readonly_uri(db).endswith("?mode=ro")
    monkeypatch.setattr(verify.dbread, "read_only_file_system", lambda path: True)
    assert readonly_uri(db).endswith("?mode=ro&immutable=1")
    (tmp_path / "verify.db-wal").write_bytes(b"")  # empty: nothing to miss
    assert readonly_uri(db).endswith("?mode=ro&immutable=1")
    (tmp_path / "verify.db-wal").write_bytes(b"x" * 32)
    assert readonly_uri(db).endswith("?mode=ro")  # immutable would ignore the WAL


def test_changes_still_in_the_wal_are_read(
    cli: RunCli, home: Path, filled: dict[str, object], make_read_only: Callable[[], None]
) -> None:
    """An archive copied or write-protected while a writer held changes in verify.db-wal
    (with its -shm beside it): those changes are read, not silently skipped."""
    import sqlite3

    writer = sqlite3.connect(home / "verify.db", isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE cases SET title = 'Flooding in Derna (renamed)'")
        assert (home / "verify.db-wal").stat().st_size > 0
        make_read_only()
        shown = json.loads(cli("case", "show", "derna", "--json").stdout)
        assert shown["title"] == "Flooding in Derna (renamed)"
    finally:
        writer.close()


@pytest.mark.parametrize("name", ["a b", "p%20q", "w?x", "h#1"])
def test_any_folder_name_holds_the_archive(
    cli: RunCli,
    tmp_path: Path,
    database_url: str | None,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """`?`, `#` and `%` in the archive's folder were read as URL syntax: a home named `w?x`
    had its database opened at `w` by some commands and at `w?x/verify.db` by others."""
    if database_url is not None:
        pytest.skip("the folder names a SQLite database")
    home = tmp_path / name
    monkeypatch.setenv("VERIFY_HOME", str(home))
    assert cli("case", "open", "Derna", "--slug", "derna").exit_code == 0
    photo = write_jpeg(tmp_path / "photo.jpg", seed=8)
    assert cli("media", "add", "derna", str(photo)).stdout == "1\n"  # the ORM-free writer
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "photo.jpg"])
    assert (home / "verify.db").is_file()
    listed = json.loads(cli("media", "list", "derna", "--json").stdout)  # the ORM reader
    assert [m["id"] for m in listed] == [1]
    pretend_read_only(home, monkeypatch)  # now on read-only media
    listed = json.loads(cli("media", "list", "derna", "--json").stdout)
    assert [m["id"] for m in listed] == [1]
    found = cli("search", str(photo), "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["exact_copies"][0]["media"] == 1


def test_a_folder_only_closed_to_this_user_is_read_when_nobody_has_it_open(
    cli: RunCli, home: Path, filled: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A colleague's archive you may read but not write, not in use: SQLite cannot make its
    shared-memory file there, so it is read as immutable (and nothing is written)."""
    assert not (home / "verify.db-shm").exists()  # every connection closed
    pretend_read_only(home, monkeypatch, file_system=False)
    before = _tree(home)
    listed = cli("case", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [c["slug"] for c in json.loads(listed.stdout)] == ["derna"]
    assert cli("search", str(filled["photo"])).exit_code == 0
    assert _tree(home) == before
