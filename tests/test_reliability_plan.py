"""Items of the reliability test plan (shared/research/reliability-anchors.md, section 5,
T01-T33) that the rest of the suite did not cover, or covered only in part.

Working through the plan found six defects (a damaged stored copy kept when the same bytes
came again, `-o` replacing the archive's own files, a damaged database page or a full
database disk as internal errors, who/when of an acquisition unchecked, evidence text
forging output lines); their tests here reproduce each and pin the fix.

Hermetic: temp archive home (`home`/`cli` fixtures), media generated here, no network.
Crash tests run the command in a child process (`os._exit` / SIGKILL cannot be taken
in-process).
"""

import errno
import hashlib
import json
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from collections import Counter
from pathlib import Path
from sqlite3 import dbapi2 as sqlite_dbapi2
from typing import Any

import pytest
from PIL import Image

from tests.conftest import RunCli
from tests.media import write_jpeg

SLUG = "plan"


@pytest.fixture
def backend() -> str:
    """SQLite, whatever `--backend` says: these tests read, damage and cap `verify.db` and
    its store themselves (the PostgreSQL parity of T19 lives in the modules that run on
    both backends)."""
    return "sqlite"


@pytest.fixture
def case(cli: RunCli) -> str:
    r = cli("case", "open", "Reliability plan", "--slug", SLUG)
    assert r.exit_code == 0, r.stderr
    return SLUG


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _object(home: Path, sha_hex: str) -> Path:
    return home / "objects" / "sha256" / sha_hex[:2] / sha_hex[2:]


def _objects(home: Path) -> list[Path]:
    base = home / "objects" / "sha256"
    return sorted(p for p in base.glob("??/*") if p.is_file()) if base.is_dir() else []


def _temps(home: Path) -> list[Path]:
    return sorted((home / "objects").rglob("tmp-*")) if (home / "objects").is_dir() else []


def _log(cli: RunCli) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(cli("log", "--json").stdout)
    return out


def _media(cli: RunCli, case: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(cli("media", "list", case, "--json").stdout)
    return out


def _check(cli: RunCli) -> tuple[int, dict[str, Any]]:
    r = cli("check", "--json")
    return r.exit_code, json.loads(r.stdout)


def _error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error: ")]


# ------------------------------------------------------------------ 5.1 integrity, custody


def test_t01_hash_vectors(cli: RunCli, case: str, home: Path, tmp_path: Path) -> None:
    """0 bytes, "abc" and 1 MiB + 1 byte: the known SHA-256 values, stored with their
    algorithm prefix, at a store path that derives from the hash alone."""
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    abc = tmp_path / "abc.txt"
    abc.write_bytes(b"abc")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) + b"!")
    r = cli("media", "add", case, str(empty), str(abc), str(big))
    assert r.exit_code == 2  # none of them is media we can analyse: preserved all the same
    assert r.stdout.split() == ["1", "2", "3"]
    rows = _media(cli, case)
    assert [(m["sha256"], m["size"]) for m in rows] == [
        ("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0),
        ("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3),
        ("sha256:" + _sha(big.read_bytes()), (1 << 20) + 1),
    ]
    for m, src in zip(rows, (empty, abc, big), strict=True):
        assert _object(home, m["sha256"][7:]).read_bytes() == src.read_bytes()
    adds = [e["payload"] for e in _log(cli) if e["action"] == "media.add"]
    assert [p["sha256"] for p in adds] == [m["sha256"] for m in rows]
    assert cli("check").exit_code == 0


def test_t02_same_bytes_three_names_two_sources_two_cases(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """One object; one media (custody) record and one `media.add` entry per acquisition,
    each with its own name and source."""
    photo = write_jpeg(tmp_path / "a.jpg", seed=21)
    names = [photo, tmp_path / "b.jpg", tmp_path / "c.jpg"]
    for n in names[1:]:
        n.write_bytes(photo.read_bytes())
    assert cli("case", "open", "Other", "--slug", "other").exit_code == 0
    adds = [
        (case, names[0], "https://t.me/a/1"),
        (case, names[1], "https://x.com/b/2"),
        ("other", names[2], "https://t.me/a/1"),
    ]
    for slug, path, url in adds:
        r = cli("media", "add", slug, str(path), "--source-url", url)
        assert r.exit_code == 0, r.stderr
    sha = "sha256:" + _sha(photo.read_bytes())
    assert _objects(home) == [_object(home, sha[7:])]
    rows = _media(cli, case) + _media(cli, "other")
    assert [(m["case"], m["original_name"], m["source_url"], m["sha256"]) for m in rows] == [
        (slug, path.name, url, sha) for slug, path, url in adds
    ]
    entries = [e for e in _log(cli) if e["action"] == "media.add"]
    assert [
        (e["case"], e["payload"]["original_name"], e["payload"]["sha256"]) for e in entries
    ] == [(slug, path.name, sha) for slug, path, _ in adds]
    assert len({m["id"] for m in rows}) == 3
    assert cli("check").exit_code == 0


def test_t03_check_reports_each_store_tampering_and_clears_after_restore(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """A bit flipped in one object, one truncated, one deleted, a stray object added:
    exactly those findings, exit 3. (There is no separate size category: a truncated
    object is a hash mismatch.) Restored from a copy: exit 0, the stray left as a
    harmless orphan."""
    files = []
    for i in range(6):
        f = tmp_path / f"f{i}.bin"
        f.write_bytes(os.urandom(2000 + i))
        files.append(f)
    assert cli("media", "add", case, *map(str, files)).stdout.split() == [
        str(i) for i in range(1, 7)
    ]
    assert _check(cli)[0] == 0
    flipped, truncated, deleted = (_object(home, _sha(f.read_bytes())) for f in files[:3])
    for p in (flipped, truncated):
        p.chmod(0o644)
    data = bytearray(flipped.read_bytes())
    data[1000] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:100])
    deleted.unlink()
    stray = os.urandom(100)
    _object(home, _sha(stray)).parent.mkdir(parents=True, exist_ok=True)
    _object(home, _sha(stray)).write_bytes(stray)

    code, report = _check(cli)
    assert code == 3 and report["ok"] is False
    found = sorted((f["category"], f["subject"]) for f in report["findings"])
    assert found == sorted(
        [
            ("hash-mismatch", "sha256:" + _sha(files[0].read_bytes())),
            ("hash-mismatch", "sha256:" + _sha(files[1].read_bytes())),
            ("missing", "sha256:" + _sha(files[2].read_bytes())),
            ("orphan", "sha256:" + _sha(stray)),
        ]
    )
    assert report["objects_checked"] == 6
    r = cli("check")
    assert r.exit_code == 3 and r.stderr == "error: integrity check failed\n"

    for f, p in zip(files[:3], (flipped, truncated, deleted), strict=True):
        p.unlink(missing_ok=True)
        p.write_bytes(f.read_bytes())
        p.chmod(0o444)
    code, report = _check(cli)
    assert code == 0
    assert [f["category"] for f in report["findings"]] == ["orphan"]


def test_check_lists_stray_entries_of_the_store(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """Names the store never writes are listed as `stray` (harmless: exit 0), each entry
    once and not walked into, and are not taken for objects (an `orphan` such as
    `sha256:abzz`) or temp files; the evidence beside them is still checked."""
    f = tmp_path / "clip.bin"
    f.write_bytes(os.urandom(3000))
    assert cli("media", "add", case, str(f)).stdout.split() == ["1"]  # not media: exit 2
    obj = _object(home, _sha(f.read_bytes()))
    base = home / "objects" / "sha256"
    (base / "zzz").write_text("x")  # a file where only fan-out folders belong
    (base / "notes").mkdir()  # a folder that is no fan-out
    (base / "notes" / "a.txt").write_text("x")
    (obj.parent / "zz").write_text("x")  # a name no object has, beside the object
    (obj.parent / obj.name.upper()).write_text("x")  # upper-case hex is no object name
    (base / "tmp-dir").mkdir()  # a folder named as a temp file
    (home / "objects" / "readme.txt").write_text("x")
    (base / "tmp-left").write_text("x")  # a real temp-file leftover

    code, report = _check(cli)
    assert code == 0 and report["ok"] is True and report["objects_checked"] == 1
    found = sorted((x["category"], x["subject"]) for x in report["findings"])
    assert found == sorted(
        [
            ("stray", str(base / "zzz")),
            ("stray", str(base / "notes")),
            ("stray", str(obj.parent / "zz")),
            ("stray", str(obj.parent / obj.name.upper())),
            ("stray", str(base / "tmp-dir")),
            ("stray", str(home / "objects" / "readme.txt")),
            ("temp-file", str(base / "tmp-left")),
        ]
    )
    r = cli("check")
    assert r.exit_code == 0
    assert f"stray: {base / 'zzz'}: not an object of the store" in r.stdout

    # a link in the store is no stray: what it leads to is outside the store, and a fan-out
    # folder moved elsewhere and linked back still "holds" the objects the database refers
    # to; deleting it as a stray would lose them. It fails the check.
    elsewhere = tmp_path / "elsewhere"
    obj.parent.rename(elsewhere)
    obj.parent.symlink_to(elsewhere)
    (base / "tmp-link").symlink_to(f)  # a link named as a temp file is no temp file
    code, report = _check(cli)
    assert code == 3 and report["ok"] is False
    links = sorted(x["subject"] for x in report["findings"] if x["category"] == "link")
    assert links == sorted([str(obj.parent), str(base / "tmp-link")])
    r = cli("check")
    assert r.exit_code == 3
    assert f"link: {obj.parent}: a symbolic link in the evidence store" in r.stdout
    obj.parent.unlink()
    elsewhere.rename(obj.parent)
    (base / "tmp-link").unlink()

    obj.chmod(0o644)
    obj.write_bytes(b"altered")  # damage beside the strays still fails the check
    code, report = _check(cli)
    assert code == 3 and ("hash-mismatch", "sha256:" + _sha(f.read_bytes())) in [
        (x["category"], x["subject"]) for x in report["findings"]
    ]


# ------------------------------------------------------------------ 5.2 crashes and faults


def _verify(*args: str, **kwargs: Any) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(
        [sys.executable, "-m", "verify", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        **kwargs,
    )


def _assert_consistent(cli: RunCli, case: str, home: Path) -> None:
    """What a crash may leave: orphans and temp files (harmless), nothing else; every media
    row has its entry and its intact object."""
    code, report = _check(cli)
    assert code == 0, report["findings"]
    assert {f["category"] for f in report["findings"]} <= {"orphan", "temp-file"}
    rows = _media(cli, case)
    adds = [e["payload"] for e in _log(cli) if e["action"] == "media.add"]
    assert [m["id"] for m in rows] == [p["media"] for p in adds]
    for m in rows:
        assert _object(home, m["sha256"][7:]).is_file()


def test_t12_sigkill_during_a_media_add_batch(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """SIGKILL once the first file is recorded, and once early: the archive checks clean
    (orphans and temp files allowed), the ids printed before the kill are recorded, and
    the same batch then goes through."""
    files = [str(write_jpeg(tmp_path / f"k{i}.jpg", seed=40 + i)) for i in range(8)]
    files += [str(tmp_path / f"r{i}.bin") for i in range(4)]
    for i, f in enumerate(files[8:]):
        Path(f).write_bytes(os.urandom(300_000 * (i + 1)))
    proc = _verify("media", "add", case, *files)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed as soon as the first file is recorded
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert first.strip().isdigit()
    assert int(first) in [m["id"] for m in _media(cli, case)]
    _assert_consistent(cli, case, home)

    proc = _verify("media", "add", case, *files)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _assert_consistent(cli, case, home)

    r = cli("media", "add", case, *files)
    assert r.exit_code == 2  # the random .bin files cannot be analysed; all are preserved
    assert len(r.stdout.split()) == len(files)
    _assert_consistent(cli, case, home)
    held = {m["sha256"][7:] for m in _media(cli, case)}
    assert held == {_sha(Path(f).read_bytes()) for f in files}


CRASH_HELPER = r'''
"""Run the verify CLI in this process and die with os._exit(137) at CRASH_STEP."""
import os, sys
import verify.audit as audit
import verify.store as store
from verify.services import intake

def die(*args, **kwargs):
    os._exit(137)

step = os.environ["CRASH_STEP"]
if step == "after-temp-write":  # the copy is written, not yet flushed
    os.fsync = die
elif step == "after-fsync":  # flushed, not yet made read-only and renamed
    os.chmod = die
elif step == "after-rename":
    real_replace = os.replace
    def replace(a, b):
        real_replace(a, b)
        die()
    os.replace = replace
elif step == "after-blob-row":  # blob and media rows inserted, no audit entry yet
    audit.append_row = die
elif step == "before-commit":  # rows and entry inserted, not committed
    real_insert = intake.insert_media
    def insert_media(*args, **kwargs):
        real_insert(*args, **kwargs)
        die()
    intake.insert_media = insert_media
elif step == "after-commit":
    real_record = intake._record
    def record(*args, **kwargs):
        real_record(*args, **kwargs)
        die()
    intake._record = record
sys.argv = ["verify", *sys.argv[1:]]
from verify.cli import main
main()
'''


@pytest.mark.parametrize(
    ("step", "recorded"),
    [
        ("after-temp-write", False),
        ("after-fsync", False),
        ("after-rename", False),
        ("after-blob-row", False),
        ("before-commit", False),
        ("after-commit", True),
    ],
)
def test_t13_crash_at_each_step_of_media_add(
    cli: RunCli, case: str, home: Path, tmp_path: Path, step: str, recorded: bool
) -> None:
    """The process dies (os._exit) after each step of the write protocol: recorded if and
    only if committed; never a row or entry without its object; at most one orphan or temp
    file; and adding the file again works and checks clean."""
    helper = tmp_path / "crash.py"
    helper.write_text(CRASH_HELPER)
    raw = tmp_path / "evidence.bin"
    raw.write_bytes(os.urandom(50_000))
    before = len(_log(cli))
    done = subprocess.run(
        [sys.executable, str(helper), "media", "add", case, str(raw)],
        env={**os.environ, "CRASH_STEP": step},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 137, done.stderr
    assert len(_media(cli, case)) == int(recorded)
    assert len(_log(cli)) == before + int(recorded)
    assert len(_objects(home)) + len(_temps(home)) <= 1
    _assert_consistent(cli, case, home)
    r = cli("media", "add", case, str(raw))
    assert r.stdout.strip().isdigit(), r.stderr
    _assert_consistent(cli, case, home)
    assert [p.read_bytes() for p in _objects(home)] == [raw.read_bytes()]


@pytest.mark.parametrize(
    ("function", "code"),
    [
        ("fsync", errno.EIO),
        ("fsync", errno.ENOSPC),
        ("replace", errno.ENOSPC),
        ("replace", errno.EIO),
        ("chmod", errno.EPERM),
    ],
)
def test_t14_io_errors_while_storing_write_nothing(
    cli: RunCli,
    case: str,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    code: int,
) -> None:
    """An I/O error at a step of storing a file: one error line, exit 1 or 2, no row, no
    audit entry, no object and no temp file left."""
    photo = write_jpeg(tmp_path / "p.jpg", seed=7)
    before = _log(cli)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    with monkeypatch.context() as m:
        m.setattr(os, function, fail)
        r = cli("media", "add", case, str(photo))
    # the store's own errors (full, no permission) are bad input; EIO is a failing disk,
    # which stays an internal error (docs/exit-codes.md)
    assert r.exit_code == (1 if code == errno.EIO else 2), r.stderr
    assert r.stdout == ""
    assert len(_error_lines(r.stderr)) == 1 and "Traceback" not in r.stderr
    assert _log(cli) == before
    assert _media(cli, case) == []
    assert _objects(home) == [] and _temps(home) == []
    assert cli("media", "add", case, str(photo)).exit_code == 0


# ------------------------------------------------------------------ 5.3 hostile input


def test_t23_every_short_prefix_of_an_exif_jpeg_is_metadata_or_a_typed_error(
    tmp_path: Path,
) -> None:
    """The metadata reader on each prefix of a camera-like JPEG (every length through the
    EXIF segment, then every 61st): metadata or an AnalysisError, never another exception."""
    from verify.analysis.metadata import read_metadata
    from verify.errors import AnalysisError

    photo = write_jpeg(
        tmp_path / "cam.jpg",
        seed=9,
        size=(320, 240),
        exif={
            0x010F: "Canon",
            0x0110: "Canon EOS 5D",
            0x0131: "Firmware 1.1",
            0x0132: "2023:05:22 18:40:00",
            0x013B: "someone",
            0x8298: "(c) nobody",
        },
    )
    data = photo.read_bytes()
    lengths = [*range(0, 1200), *range(1200, len(data), 61), len(data)]
    prefix = tmp_path / "prefix.jpg"
    outcomes: Counter[str] = Counter()
    for n in lengths:
        prefix.write_bytes(data[:n])
        try:
            kind, _, _ = read_metadata(str(prefix))
        except AnalysisError:
            outcomes["error"] += 1
        else:
            outcomes[kind] += 1
    assert outcomes["image"] > 0 and outcomes["error"] > 0
    assert sum(outcomes.values()) == len(lengths)


def _gif_bomb(path: Path) -> Path:
    """A 35-byte GIF declaring 65535 x 65535 pixels."""
    head = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    path.write_bytes(
        head + b"," + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02D\x01\0;"
    )
    return path


def _jpeg_bomb(path: Path) -> Path:
    """A small JPEG whose frame header declares 65500 x 65500 pixels."""
    Image.new("L", (16, 16), 128).save(path, "JPEG")
    data = bytearray(path.read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    path.write_bytes(bytes(data))
    return path


def _png_bomb(path: Path) -> Path:
    """A 1 x (2^31 - 1) PNG of a few hundred bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 1, 2**31 - 1, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0\0" * 1000))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


def _tiff_bomb(path: Path) -> Path:
    """An 8 x 8 bilevel TIFF with its width and height tags set to 200000."""
    Image.new("1", (8, 8)).save(path, "TIFF")
    data = bytearray(path.read_bytes())
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    for k in range(struct.unpack(order + "H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
        if tag in (256, 257):
            value = (
                struct.pack(order + "H", 60000) if kind == 3 else struct.pack(order + "I", 200000)
            )
            data[entry + 8 : entry + 8 + len(value)] = value
    path.write_bytes(bytes(data))
    return path


def test_t25_generated_decompression_bombs_are_one_line_each(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """GIF, JPEG, PNG and TIFF headers declaring billions of pixels: each preserved, each one
    `decompression bomb` line, quickly, nothing else on stderr but progress."""
    bombs = [
        _gif_bomb(tmp_path / "b.gif"),
        _jpeg_bomb(tmp_path / "b.jpg"),
        _png_bomb(tmp_path / "b.png"),
        _tiff_bomb(tmp_path / "b.tif"),
    ]
    start = time.monotonic()
    r = cli("media", "add", case, *map(str, bombs))
    assert time.monotonic() - start < 20
    assert r.exit_code == 2
    assert r.stdout.split() == ["1", "2", "3", "4"]
    errors = _error_lines(r.stderr)
    assert len(errors) == 4
    for bomb, line in zip(bombs, errors, strict=True):
        assert re.fullmatch(
            rf"error: {re.escape(str(bomb))}: preserved, but decompression bomb: \d+ pixels "
            r"exceeds the limit",
            line,
        ), line
    assert "Traceback" not in r.stderr
    assert cli("check").exit_code == 0


def test_t28_special_and_changing_files(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A character device named directly, an unreadable file, and a file that grows while
    it is copied (still downloading): refused in one line each, nothing written."""
    before = _log(cli)
    r = cli("media", "add", case, "/dev/null")
    assert (r.exit_code, r.stdout) == (2, "")
    assert _error_lines(r.stderr) == [
        "error: /dev/null: not a regular file; only regular files can be preserved"
    ]

    locked = write_jpeg(tmp_path / "locked.jpg", seed=3)
    real_open = os.open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "open", refuse)
        r = cli("media", "add", case, str(locked))
    assert (r.exit_code, r.stdout) == (2, "")
    assert _error_lines(r.stderr) == [f"error: {locked}: cannot open: Permission denied"]

    growing = write_jpeg(tmp_path / "growing.jpg", seed=4)
    real_fdopen = os.fdopen

    class Appending:
        """The source file as read by the store: someone appends to it after the first read."""

        def __init__(self, fh: Any) -> None:
            self.fh = fh
            self.reads = 0

        def read(self, n: int = -1) -> bytes:
            chunk: bytes = self.fh.read(n)
            self.reads += 1
            if self.reads == 1:
                with open(growing, "ab") as more:
                    more.write(b"\0" * 4096)
            return chunk

        def fileno(self) -> int:
            fd: int = self.fh.fileno()
            return fd

        def __enter__(self) -> "Appending":
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = real_fdopen(fd, mode, *args, **kwargs)
        if mode == "rb" and os.path.samefile(f"/proc/self/fd/{fd}", growing):
            return Appending(fh)
        return fh

    with monkeypatch.context() as m:
        m.setattr(os, "fdopen", fdopen)
        r = cli("media", "add", case, str(growing))
    assert (r.exit_code, r.stdout) == (2, "")
    assert _error_lines(r.stderr) == [
        f"error: {growing}: the file changed while it was being copied (still downloading?); "
        "nothing was stored"
    ]
    assert _log(cli) == before
    assert _objects(home) == [] and _temps(home) == []


HOSTILE_NAMES = [
    "\x1b[2Jclear.jpg",
    "invoice\u202egpj.exe",
    "-leading-dash.jpg",
    "=HYPERLINK(1).jpg",
    "cafe\u0301-nfd.jpg",
    "caf\u00e9-nfc.jpg",
    "x" * 240 + ".jpg",
]


def test_t29_hostile_file_names_round_trip_and_never_make_paths(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """Names with escapes, bidi overrides, a leading dash, formula characters, NFC/NFD
    forms and 244 bytes: kept exactly in JSON, never part of a store path."""
    paths = []
    for i, name in enumerate(HOSTILE_NAMES):
        d = tmp_path / f"d{i}"
        d.mkdir()
        paths.append(write_jpeg(d / name, seed=60 + i, size=(160, 120)))
    r = cli("media", "add", case, *map(str, paths))
    assert r.exit_code == 0, r.stderr
    rows = _media(cli, case)
    assert [m["original_name"] for m in rows] == HOSTILE_NAMES
    for m, p in zip(rows, paths, strict=True):
        assert _object(home, m["sha256"][7:]).read_bytes() == p.read_bytes()
    stored = {p.relative_to(home / "objects" / "sha256").as_posix() for p in _objects(home)}
    assert all(re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{62}", s) for s in stored)


# C0 (but tab and newline), DEL, C1 and the bidi overrides and isolates (the plan's list)
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
PAYLOAD = "A\x1b[2J\x1b]52;c;ZXZpbA==\x07B\u202eC\u009bD\x7fE\u2067F\rG"


def test_t32_human_output_carries_no_terminal_controls(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """Every field a user, a case file or the evidence can fill, through every reading
    command's human output: no escape, BEL, DEL, C1 or bidi control reaches the terminal;
    `--json` keeps the exact strings."""
    photo = write_jpeg(
        tmp_path / f"x{PAYLOAD}.jpg", seed=5, exif={0x010F: "Canon\x1b[2J", 0x0131: PAYLOAD}
    )
    steps = [
        ("case", "edit", case, "--title", PAYLOAD, "--summary", PAYLOAD),
        ("claim", "add", case, PAYLOAD),
        ("claim", "assess", case, "1", "--finding", "supported", "--why", PAYLOAD),
        ("note", "add", case, PAYLOAD),
        ("status", "set", case, "false", "--why", PAYLOAD),
        ("media", "add", case, str(photo), "--source-url", f"https://e.org/{PAYLOAD}",
         "--acquired-via", PAYLOAD, "--label", PAYLOAD),
        ("prov", "account", "add", "x:@abc", "--name", PAYLOAD, "--credibility", PAYLOAD),
        ("prov", "appearance", "add", case, "--account", "x:@abc", "--caption", PAYLOAD,
         "--url", f"https://x.com/{PAYLOAD}", "--note", PAYLOAD, "--posted", "2023-05-01",
         "--media", "1"),
        ("prov", "attribute", case, "subtitler", "x:@abc", "--evidence", PAYLOAD,
         "--according-to", PAYLOAD),
    ]  # fmt: skip
    for args in steps:
        r = cli("--as", f"me{PAYLOAD}", *args)
        assert r.exit_code == 0, (args, r.stderr)
        assert not TERMINAL_CONTROL.search(r.stdout + r.stderr), args
    reading = [
        ("case", "show", case), ("case", "list"), ("status", "history", case), ("log",),
        ("timeline", case), ("media", "show", "1"), ("media", "list", case),
        ("media", "frames", "1"), ("prov", "account", "list"),
        ("prov", "appearance", "list", case), ("prov", "attributions", case),
        ("prov", "earliest", case), ("check",), ("dupes",), ("search", "1"),
    ]  # fmt: skip
    for args in reading:
        r = cli(*args)
        assert r.exit_code == 0, (args, r.stderr)
        leaked = TERMINAL_CONTROL.findall(r.stdout + r.stderr)
        assert not leaked, (args, leaked)
    shown = json.loads(cli("case", "show", case, "--json").stdout)
    assert (shown["title"], shown["summary"]) == (PAYLOAD, PAYLOAD)
    assert shown["claims"][0]["text"] == PAYLOAD
    media = json.loads(cli("media", "show", "1", "--json").stdout)
    assert media["original_name"] == photo.name
    assert media["acquired_by"] == f"me{PAYLOAD}"


# ------------------------------------------------------------------ defects found, fixed


def _damage(stored: Path, photo: Path, damage: str) -> None:
    if damage == "hash-mismatch":
        stored.chmod(0o644)
        damaged = bytearray(stored.read_bytes())
        damaged[5000] ^= 0xFF
        stored.write_bytes(bytes(damaged))
        stored.chmod(0o444)
    elif damage == "missing":
        stored.unlink()
    elif damage == "link":
        stored.unlink()
        stored.symlink_to(photo)
    elif damage == "folder":  # a folder in its place
        stored.unlink()
        stored.mkdir()
    else:  # a file in place of its folder
        stored.unlink()
        stored.parent.rmdir()
        stored.parent.write_bytes(b"not a folder")


@pytest.mark.parametrize(
    "damage", ["hash-mismatch", "link", "folder", "file-for-folder", "missing"]
)
def test_adding_the_original_bytes_again_restores_a_damaged_copy(
    cli: RunCli, case: str, home: Path, tmp_path: Path, damage: str
) -> None:
    """The store kept a damaged copy when the same bytes came again (exit 0, "preserved"),
    and threw the good bytes away. A copy that is altered, or a link or folder in its
    place, is now replaced by the new file, whose bytes have its SHA-256, once the add is
    recorded; the damaged copy is kept aside (the trace of what happened), and the add
    says so on stderr, in `--json` and in its `media.add` entry. A missing copy is simply
    stored again: with a home per user on a shared database, "missing" is the normal case."""
    photo = write_jpeg(tmp_path / "original.jpg", seed=11)
    assert cli("media", "add", case, str(photo)).exit_code == 0
    stored = _object(home, _sha(photo.read_bytes()))
    before = stored.read_bytes()
    _damage(stored, photo, damage)
    assert cli("check").exit_code == 3

    r = cli("media", "add", case, str(photo), "--source-url", "https://example.org/fresh")
    assert (r.exit_code, r.stdout) == (0, "2\n"), r.stderr
    assert not stored.is_symlink() and stored.read_bytes() == before
    assert stored.stat().st_mode & 0o777 == 0o444
    assert cli("check").exit_code == 0
    payload = _log(cli)[-1]["payload"]
    if damage == "missing":
        assert "restored" not in payload and "restored" not in r.stderr
        return
    problem = "hash-mismatch" if damage == "hash-mismatch" else "unreadable"
    was = "altered or damaged" if damage == "hash-mismatch" else "unreadable"
    aside = home / "objects" / payload["damaged_copy"]
    assert payload["restored"] == problem
    assert payload["damaged_copy"].startswith(f"damaged/{_sha(before)}.")
    assert (
        f"  the archive's copy of these bytes was {was}: restored from this file (same "
        f"SHA-256); the damaged copy is kept at {aside}"
    ) in r.stderr.splitlines()
    assert aside.exists() or aside.is_symlink()
    # an intact copy is left alone, and nothing is said
    again = cli("media", "add", case, str(photo), "--json")
    assert json.loads(again.stdout)[0]["restored"] is None
    assert "restored" not in _log(cli)[-1]["payload"]


@pytest.mark.parametrize("files", [1, 3])
def test_a_restore_that_cannot_be_recorded_changes_nothing(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int
) -> None:
    """Busy archive: the add exits 75 and the damaged copies stay as they were, for `check`
    to keep reporting; the verified bytes waiting to replace them are removed, also those
    of the files of a batch it did not reach (a batch stops at its first file)."""
    photos = [write_jpeg(tmp_path / f"original{i}.jpg", seed=16 + i) for i in range(files)]
    assert cli("media", "add", case, *map(str, photos)).exit_code == 0
    stored = [_object(home, _sha(p.read_bytes())) for p in photos]
    for obj, photo in zip(stored, photos, strict=True):
        _damage(obj, photo, "hash-mismatch")
    damaged = [obj.read_bytes() for obj in stored]
    before = _log(cli)
    monkeypatch.setenv("VERIFY_BUSY_TIMEOUT_MS", "200")
    holder = sqlite3.connect(home / "verify.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = cli("media", "add", case, *map(str, photos))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.exit_code == 75, r.stderr
    assert [obj.read_bytes() for obj in stored] == damaged
    assert _temps(home) == []
    assert not (home / "objects" / "damaged").exists()
    assert _log(cli) == before
    assert cli("check").exit_code == 3


def test_a_recorded_restore_that_fails_keeps_the_verified_bytes(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restore is recorded, then putting the bytes in place fails (a full disk, an
    interrupt): the verified bytes stay in the store (a temp file `check` lists), never
    deleted by the batch's cleanup, since the trail says they replaced the damaged copy."""
    from verify.store import ObjectStore

    photo = write_jpeg(tmp_path / "original.jpg", seed=21)
    assert cli("media", "add", case, str(photo)).exit_code == 0
    stored = _object(home, _sha(photo.read_bytes()))
    _damage(stored, photo, "hash-mismatch")

    def failing_restore(self: ObjectStore, obj: Any, aside: Path) -> None:
        raise OSError(errno.EIO, "simulated failure putting the bytes in place")

    monkeypatch.setattr(ObjectStore, "restore", failing_restore)
    r = cli("media", "add", case, str(photo))
    assert r.exit_code == 1, r.stderr  # an I/O error of the store: internal, one line
    assert "restored" in _log(cli)[-1]["payload"]  # recorded before the failure
    [kept] = _temps(home)
    assert kept.read_bytes() == photo.read_bytes()


def test_outputs_never_replace_the_archives_own_files(
    cli: RunCli, case: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report -o` and `case export -o` replace the file named (a rename, which ignores the
    objects' read-only mode): pointed at a preserved object or the database they destroyed
    it. Every output path is refused inside the store or the index, or over the database,
    however it is spelt (relative, through `..` or a link), and nothing is written."""
    photo = write_jpeg(tmp_path / "evidence.jpg", seed=12)
    assert cli("media", "add", case, str(photo)).exit_code == 0
    stored = _object(home, _sha(photo.read_bytes()))
    (tmp_path / "link").symlink_to(stored.parent)
    monkeypatch.chdir(home)
    before = _log(cli)
    evidence = f"is inside the archive's evidence store ({(home / 'objects').resolve()})"
    database = f"is the archive's database ({(home / 'verify.db').resolve()})"
    for args, says in [
        (("report", case, "-f", "md", "-o", str(stored)), evidence),
        (("report", case, "-f", "html", "-o", "objects/new.html"), evidence),
        (("report", case, "-o", str(tmp_path / "link" / stored.name)), evidence),
        (("report", case, "-f", "md", "-o", "verify.db"), database),
        (("report", case, "-f", "md", "-o", "./objects/../verify.db-wal"), database),
        (("case", "export", case, "-o", str(stored)), evidence),
        (("case", "export", case, "-o", "index/x.toml"), "is inside the archive's frame index"),
        (("media", "export", "1", "-o", str(stored.parent)), evidence),
        (("media", "frames", "1", "--export", "objects"), evidence),
    ]:
        r = cli(*args)
        assert (r.exit_code, r.stdout) == (2, ""), (args, r.stderr)
        assert r.stderr.startswith("error: ") and says in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") == 1
    assert stored.read_bytes() == photo.read_bytes()
    assert not (home / "objects" / "new.html").exists()
    assert _log(cli) == before
    assert cli("check").exit_code == 0
    # beside the archive, in its home, is fine
    assert cli("report", case, "-f", "md", "-o", "report.md").exit_code == 0
    # a link planted where a temp file might be named is never followed
    out = tmp_path / "out"
    out.mkdir()
    (out / ".case.toml.tmp").symlink_to(home / "verify.db")
    assert cli("case", "export", case, "-o", str(out / "case.toml")).exit_code == 0
    assert cli("check").exit_code == 0
    # a path through a link loop is a one-line refusal, not an internal error
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    r = cli("report", case, "-o", str(tmp_path / "loop-a" / "x.md"))
    assert r.exit_code == 2 and r.stderr.startswith("error: cannot write "), r.stderr


def test_outputs_through_a_second_mount_of_the_archive_are_refused(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """Folders are compared by identity, not by path: the same store seen through a bind
    mount (or another spelling on a case-insensitive file system) is refused too."""
    photo = write_jpeg(tmp_path / "evidence.jpg", seed=15)
    assert cli("media", "add", case, str(photo)).exit_code == 0
    alias = tmp_path / "alias"
    alias.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(home), str(alias)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        sha = _sha(photo.read_bytes())
        for target in (f"objects/sha256/{sha[:2]}/{sha[2:]}", "verify.db"):
            r = cli("report", case, "-f", "md", "-o", str(alias / target))
            assert r.exit_code == 2, (target, r.stderr)
        assert cli("check").exit_code == 0
    finally:
        subprocess.run(["umount", str(alias)], check=True)


def test_check_of_a_database_with_a_zeroed_page(cli: RunCli, case: str, home: Path) -> None:
    """A damaged page made `verify check` itself fail as an internal error (exit 1)."""
    for i in range(30):
        assert cli("note", "add", case, f"note {i} " + "x" * 400).exit_code == 0
    db = home / "verify.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'notes'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\0" * page_size)
    r = cli("check")
    assert r.exit_code == 3, r.stderr
    assert "db-integrity" in r.stdout
    assert r.stdout.splitlines() == [
        "db-integrity: database: cannot be read: database disk image is malformed",
        "FAILED: the database could not be read; the audit trail and the evidence store were "
        "not checked",
    ]
    # any other command meeting the damage: one line, exit 3, not an internal error
    r = cli("note", "add", case, "one more")
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr == (
        "error: the archive's database reads as damaged (database disk image is malformed); "
        "the change being written was not recorded; try again, then run `verify check` before "
        "restoring verify.db from a backup\n"
    )


def test_edited_acquisition_who_and_when_fail_check(
    cli: RunCli, case: str, home: Path, tmp_path: Path
) -> None:
    """Who acquired a file and when are custody facts (`media show`, the report's timeline):
    `media.add` records them and `verify check` compares them with the rows."""
    photo = write_jpeg(tmp_path / "p.jpg", seed=13)
    assert cli("--as", "alice", "media", "add", case, str(photo)).exit_code == 0
    conn = sqlite3.connect(home / "verify.db")
    conn.execute(
        "UPDATE media SET acquired_by = 'mallory', acquired_at = '2023-05-20 10:00:00.000000'"
    )
    conn.commit()
    conn.close()
    shown = json.loads(cli("media", "show", "1", "--json").stdout)
    assert shown["acquired_by"] == "mallory"  # what `media show` and the report now say
    r = cli("check")
    assert r.exit_code == 3
    assert "acquired-by is 'mallory' but the audit trail last recorded 'alice'" in r.stdout
    assert "acquired-at is '2023-05-20T10:00:00Z' but the audit trail last recorded" in r.stdout


def test_media_show_lines_cannot_be_forged_by_newlines(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    forged = "sha256:    " + "0" * 64
    photo = write_jpeg(
        tmp_path / "p.jpg", seed=14, exif={0x010F: "Canon", 0x0110: f"EOS\n{forged}"}
    )
    r = cli("media", "add", case, str(photo), "--source-url", f"https://e.org/a\n{forged}")
    assert r.exit_code == 0, r.stderr
    out = cli("media", "show", "1").stdout
    real = "sha256:    " + _sha(photo.read_bytes())
    assert [ln for ln in out.splitlines() if ln.startswith("sha256:")] == [real]
    assert f"device:    Canon EOS?{forged}" in out.splitlines()
    # a case's multi-line text keeps its lines, each under its field
    assert cli("case", "edit", case, "--summary", "line one\nstatus:   verified").exit_code == 0
    lines = cli("case", "show", case).stdout.splitlines()
    assert [ln for ln in lines if ln.startswith("status:")] == ["status:   unverified"]
    assert "          status:   verified" in lines


def test_a_full_database_is_one_line_and_writes_nothing(
    cli: RunCli, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLITE_FULL ('database or disk is full') was an internal error (exit 1)."""
    real_connect = sqlite3.connect

    def capped(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real_connect(*args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full
        return conn

    before = _log(cli)
    with monkeypatch.context() as m:
        m.setattr(sqlite3, "connect", capped)
        m.setattr(sqlite_dbapi2, "connect", capped)
        r = cli("note", "add", case, "x" * 50_000)
    assert _log(cli) == before  # nothing was written
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "error: the disk holding the archive's database is full (database or disk is full); "
        "the change being written was not recorded; free some space and try again\n"
    )
