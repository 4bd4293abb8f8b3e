"""`verify search` / `verify dupes` read a SQLite archive without the ORM (verify.dbread):
the output, the errors and the exit codes must be byte-identical to the normal path."""

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.conftest import RunCli
from tests.search_helpers import near_copy, random_frames, store
from verify import dbread
from verify.archive import Archive


def _image(path: Path, seed: int) -> Any:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (18, 32, 3), dtype=np.uint8)).resize(
        (640, 360), Image.Resampling.BICUBIC
    )
    img.save(path, quality=80)
    return img


@pytest.fixture
def populated(archive: Archive, tmp_path: Path) -> dict[str, Path]:
    if not archive.is_sqlite:
        pytest.skip("the ORM-free read path is for SQLite archives")
    from sqlalchemy import text

    from verify.analysis.frames import frame_hash
    from verify.analysis.hashing import hash_image

    rng = random.Random(31)
    original = random_frames(40, rng)
    a = store(archive, "telegram-original", "orig.mp4", original)
    store(archive, "x-reupload", "subtitled.mp4", near_copy(original[12:42], rng, shift=-12.0))
    store(archive, "x-reupload", "unrelated.mp4", random_frames(20, rng))
    store(archive, "mirror", "copy.mp4", original, blob_id=a.blob_id)  # same bytes, 2 cases
    # an image stored twice (near copy + the exact bytes of the query file)
    query = tmp_path / "query.jpg"
    img = _image(query, seed=4)
    frame = frame_hash(0, 0.0, hash_image(img))
    store(archive, "photos", "photo.png", [frame], kind="image")
    exact = store(archive, "photos", "query-as-stored.jpg", [frame], kind="image")
    sha = hashlib.sha256(query.read_bytes()).hexdigest()
    with archive.write() as session:
        session.connection().execute(
            text("UPDATE blobs SET sha256 = :sha WHERE id = :id"), {"sha": sha, "id": exact.blob_id}
        )
    other = tmp_path / "other.jpg"
    _image(other, seed=5)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not media\n")
    return {"query": query, "other": other, "text": text_file, "dir": tmp_path}


def _both(cli: RunCli, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Result, Result, bool]:
    """(fast path result, normal path result, whether the fast path opened the archive)."""
    opened: list[bool] = []
    real = dbread.open_readonly

    def spy(home: Any) -> Any:
        got = real(home)
        opened.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(dbread, "open_readonly", spy)
        fast = cli(*args)
    with monkeypatch.context() as m:
        m.setattr(dbread, "open_readonly", lambda home: None)
        normal = cli(*args)
    return fast, normal, any(opened)


def _argv(populated: dict[str, Path]) -> list[list[str]]:
    q, other, txt, d = (str(populated[k]) for k in ("query", "other", "text", "dir"))
    return [
        ["search", "1"],
        ["search", "1", "--json"],
        ["search", "2", "--json"],
        ["search", "1", "--case", "x-reupload"],
        ["search", "1", "--threshold", "13", "--json"],
        [
            "search",
            "sha256:" + hashlib.sha256(b"orig.mp4" + b"x").hexdigest()[:8],
        ],  # unknown prefix
        ["search", q],
        ["search", q, "--json"],
        ["search", q, "--case", "photos", "--json"],
        ["search", other, "--json"],
        ["search", "999"],
        ["search", "sha256:zz"],
        ["search", "1", "--case", "no-such-case"],
        ["search", "1", "--case", "Bad Slug"],
        ["search", q, "--case", "no-such-case"],
        ["search", "1", "--threshold", "40"],
        ["search", "missing.mp4"],
        ["search", d],
        ["search", txt],
        ["dupes"],
        ["dupes", "--json"],
        ["dupes", "--case", "x-reupload"],
        ["dupes", "--case", "no-such-case"],
    ]


def test_fast_read_path_output_is_identical(
    populated: dict[str, Path], cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    for argv in _argv(populated):
        fast, normal, used = _both(cli, monkeypatch, *argv)
        assert used, argv  # the comparison is meaningful: the fast path really ran
        assert (fast.exit_code, fast.stdout, fast.stderr) == (
            normal.exit_code,
            normal.stdout,
            normal.stderr,
        ), argv
    # the comparisons above covered hits, exact copies, errors and clusters
    fast, _, _ = _both(cli, monkeypatch, "search", str(populated["query"]))
    assert "(same bytes)" in fast.stdout and "same bytes in case photos" in fast.stderr
    fast, _, _ = _both(cli, monkeypatch, "dupes")
    assert fast.stdout.startswith("cluster 1:")


def test_fast_read_path_falls_back(
    archive: Archive, cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if not archive.is_sqlite:
        pytest.skip("SQLite only")
    home = archive.home
    assert dbread.open_readonly(home) is not None
    monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{home / 'verify.db'}")
    assert dbread.open_readonly(home) is None  # a configured URL: the normal path
    monkeypatch.delenv("VERIFY_DATABASE_URL")
    assert dbread.open_readonly(tmp_path / "nowhere") is None  # no archive yet
    import sqlite3

    db = sqlite3.connect(home / "verify.db")
    db.execute("UPDATE alembic_version SET version_num = 'older'")
    db.commit()
    db.close()
    assert dbread.open_readonly(home) is None  # not at head: the normal path migrates


def test_read_only_connection_refuses_writes(archive: Archive) -> None:
    if not archive.is_sqlite:
        pytest.skip("SQLite only")
    import sqlite3

    ro = dbread.open_readonly(archive.home)
    assert ro is not None
    with pytest.raises(sqlite3.OperationalError, match="readonly"), ro.reader() as db:
        db.rows("DELETE FROM cases")
    ro.close()
