"""`verify media export`: the preserved bytes copied out, checked against their SHA-256,
recorded in the audit trail, all or nothing, never over an existing file."""

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.media import write_jpeg
from verify.services import media as media_svc
from verify.services.media import export_name

SLUG = "frl-video"


@pytest.fixture
def two(cli: RunCli, tmp_path: Path) -> list[tuple[str, Path]]:
    """Two photos added to a case: (media id, the file as handed over)."""
    assert cli("case", "open", "FRL video", "--slug", SLUG).exit_code == 0
    added = []
    (tmp_path / "in").mkdir()
    for name, seed in (("legion.jpg", 1), ("screenshot 2.jpg", 2)):
        photo = write_jpeg(tmp_path / "in" / name, seed=seed)
        r = cli("media", "add", SLUG, str(photo))
        assert r.exit_code == 0, r.stderr
        added.append((r.stdout.strip(), photo))
    return added


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _object(cli: RunCli, media: str) -> Path:
    return Path(json.loads(cli("media", "show", media, "--json").stdout)["stored"])


def test_copies_are_the_preserved_bytes_and_are_recorded(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "to-legal" / "batch 1"
    (a, photo_a), (b, photo_b) = two
    r = cli("media", "export", a, b, a, "-o", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    written = json.loads(r.stdout)
    assert [(w["media"], Path(w["path"]).name) for w in written] == [
        (int(a), f"{a}-legion.jpg"),
        (int(b), f"{b}-screenshot 2.jpg"),
    ]
    for w, photo in zip(written, (photo_a, photo_b), strict=True):
        path = Path(w["path"])
        assert path.parent == out.absolute()
        assert path.read_bytes() == photo.read_bytes()
        assert w["sha256"] == _sha(photo) and w["size"] == photo.stat().st_size
        assert w["case"] == SLUG
    assert sorted(p.name for p in out.iterdir()) == [f"{a}-legion.jpg", f"{b}-screenshot 2.jpg"]
    log = json.loads(cli("log", "--json").stdout)
    assert [e["action"] for e in log[-2:]] == ["media.export", "media.export"]
    assert [e["payload"] for e in log[-2:]] == [
        {k: w[k] for k in ("media", "sha256", "size", "path")} for w in written
    ]
    assert all(e["case"] == SLUG for e in log[-2:])
    check = cli("check")
    assert check.exit_code == 0, check.stdout + check.stderr
    # plain output: one path per line
    r = cli("media", "export", b, "-o", str(tmp_path / "plain"))
    assert r.stdout == f"{(tmp_path / 'plain' / f'{b}-screenshot 2.jpg').absolute()}\n"


def test_the_default_is_the_current_directory(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    (a, photo), _ = two
    assert cli("media", "export", a).exit_code == 0
    assert (here / f"{a}-legion.jpg").read_bytes() == photo.read_bytes()


def test_an_existing_file_is_never_replaced_and_nothing_is_written(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (a, _), (b, _) = two
    (out / f"{b}-screenshot 2.jpg").write_bytes(b"someone's own file")
    before = len(json.loads(cli("log", "--json").stdout))
    r = cli("media", "export", a, b, "-o", str(out))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: {out / f'{b}-screenshot 2.jpg'} already exists; nothing was exported (choose "
        "another directory, or move that file away)\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [f"{b}-screenshot 2.jpg"]
    assert (out / f"{b}-screenshot 2.jpg").read_bytes() == b"someone's own file"
    assert len(json.loads(cli("log", "--json").stdout)) == before


def test_a_file_appearing_meanwhile_is_not_replaced(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before copying and the placing are apart in time: placing never replaces."""
    out = tmp_path / "out"
    (a, _), (b, _) = two
    real = media_svc._place

    def racing(tmp: Path, final: Path) -> None:
        if final.name.startswith(f"{b}-"):
            final.write_bytes(b"arrived meanwhile")
        real(tmp, final)

    monkeypatch.setattr(media_svc, "_place", racing)
    r = cli("media", "export", a, b, "-o", str(out))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {out / f'{b}-screenshot 2.jpg'} already exists; nothing was exported (choose "
        "another directory, or move that file away)\n",
    )
    assert [p.name for p in out.iterdir()] == [f"{b}-screenshot 2.jpg"]
    assert (out / f"{b}-screenshot 2.jpg").read_bytes() == b"arrived meanwhile"


def test_without_hard_links_the_copy_is_renamed_into_place(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT (USB sticks) has no hard links: os.link fails with EPERM there."""

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "usb"
    (a, photo), _ = two
    r = cli("media", "export", a, "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert [p.name for p in out.iterdir()] == [f"{a}-legion.jpg"]
    assert (out / f"{a}-legion.jpg").read_bytes() == photo.read_bytes()
    r = cli("media", "export", a, "-o", str(out))
    assert r.exit_code == 2 and "already exists; nothing was exported" in r.stderr


def test_an_unknown_media_writes_nothing(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    out = tmp_path / "new" / "dir"
    (a, _), _ = two
    r = cli("media", "export", a, "99", "-o", str(out))
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no media 99; `verify media list CASE` shows media ids\n",
    )
    assert not (tmp_path / "new").exists()


def test_a_damaged_or_missing_object_is_an_integrity_failure(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    (a, _), (b, _) = two
    stored = _object(cli, b)
    original = stored.read_bytes()
    os.chmod(stored, 0o644)
    stored.write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])
    out = tmp_path / "out"
    r = cli("media", "export", a, b, "-o", str(out))
    assert (r.exit_code, r.stdout) == (3, "")
    sha = _sha_hex(original)
    assert r.stderr.startswith(
        f"error: media {b}: the stored file sha256:{sha} no longer has that SHA-256 (it reads as "
        "sha256:"
    )
    assert r.stderr.endswith("it was altered or damaged; nothing was exported\n")
    assert not out.exists()
    stored.unlink()
    r = cli("media", "export", b, "-o", str(out))
    assert r.exit_code == 3
    assert r.stderr == (
        f"error: media {b}: the stored file sha256:{sha} is not in the evidence store "
        f"{stored.parents[2]} (deleted, or this archive's files are kept in another folder: see "
        "--home and VERIFY_HOME); nothing was exported\n"
    )
    assert not out.exists()


def _sha_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_show_says_where_the_preserved_file_is(
    cli: RunCli, two: list[tuple[str, Path]], home: Path
) -> None:
    (a, photo), _ = two
    stored = _object(cli, a)
    assert stored.is_relative_to(home) and stored.read_bytes() == photo.read_bytes()
    assert not stored.stat().st_mode & 0o222
    shown = cli("media", "show", a).stdout
    assert f"stored:    {stored} (read-only; `verify media export {a}` copies it out)\n" in shown


def test_show_gives_the_stored_path_normalised(
    cli: RunCli, two: list[tuple[str, Path]], home: Path, tmp_path: Path
) -> None:
    """A home given with `..` (`/tmp/x/work/../archive`) gave that spelling, `..` and all;
    it is resolved without following symbolic links, except where a `..` follows one (the
    system then goes up from the link's target, so the spelling given is kept)."""
    (a, _), _ = two
    (tmp_path / "work").mkdir()
    roundabout = tmp_path / "work" / ".." / home.name
    assert home.parent == tmp_path and roundabout.is_dir()
    stored = json.loads(cli("--home", str(roundabout), "media", "show", a, "--json").stdout)
    assert stored["stored"] == str(_object(cli, a)) and ".." not in stored["stored"]
    assert stored["in_store"] is True
    shown = cli("--home", str(roundabout), "media", "show", a).stdout
    assert f"stored:    {_object(cli, a)} (read-only" in shown
    # a link to the archive is not followed
    (tmp_path / "link").symlink_to(home)
    linked = json.loads(cli("--home", str(tmp_path / "link"), "media", "show", a, "--json").stdout)
    assert linked["stored"].startswith(str(tmp_path / "link" / "objects") + os.sep)
    # a `..` after a link: lexically `link2/../archive` is the archive above, but the system
    # goes up from the link's target, to a copy of it; the path is kept as given (absolute)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    shutil.copytree(home, elsewhere / home.name)
    (tmp_path / "link2").symlink_to(elsewhere / "deep")
    odd = tmp_path / "link2" / ".." / home.name
    kept = json.loads(cli("--home", str(odd), "media", "show", a, "--json").stdout)["stored"]
    assert kept.startswith(str(odd) + os.sep) and Path(kept).is_file()


def test_exports_are_not_changes_a_report_must_postdate(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    (a, _), _ = two
    written = cli("report", SLUG, "-o", "-")
    generated = json.loads(cli("log", SLUG, "--json").stdout)[-1]["payload"]["generated_at"]
    assert cli("media", "export", a, "-o", str(tmp_path / "out")).exit_code == 0
    again = cli("report", SLUG, "--at", generated, "-o", "-")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == written.stdout


@pytest.mark.parametrize(
    ("original", "name"),
    [
        ("legion.mp4", "legion.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\desk\\clip.mov", "clip.mov"),
        ("line\nbreak\x1b[31m.jpg", "line_break_[31m.jpg"),
        ("invoice\u202egpj.exe", "invoice_gpj.exe"),
        ("a\u2028b\u00adc\u061cd.jpg", "a_b_c_d.jpg"),
        ("zero\u200bwidth\u2066.jpg", "zero_width_.jpg"),
        ('what? "really" <1|2>*:.mov', "what_ _really_ _1_2___.mov"),
        ("trailing dots... ", "trailing dots"),
        (" . ", "file"),
        ("", "file"),
        (None, "file"),
        ("..", "file"),
        ("dir/", "file"),
        (".hidden", ".hidden"),
        ("ж" * 150 + ".mp4", "ж" * 98 + ".mp4"),
        ("x" * 300, "x" * 200),
        ("x" * 250 + ".not-an-extension-at-all", "x" * 200),
    ],
)
def test_export_names_are_safe(original: str | None, name: str) -> None:
    assert export_name(original) == name
    assert len(export_name(original).encode()) <= 200


def test_a_copy_the_trail_cannot_record_is_removed(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archive busy (or its disk full) when the export is recorded: the copies go too,
    so that running the command again works."""
    from verify import audit
    from verify.errors import BusyError

    def busy(*args: object, **kwargs: object) -> None:
        raise BusyError("the archive is busy (another command is writing it); try again")

    real = audit.append
    monkeypatch.setattr(audit, "append", busy)
    out = tmp_path / "out"
    (a, _), (b, _) = two
    r = cli("media", "export", a, b, "-o", str(out))
    assert r.exit_code == 75 and r.stderr.startswith("error: the archive is busy")
    assert not out.exists()
    monkeypatch.setattr(audit, "append", real)
    assert cli("media", "export", a, b, "-o", str(out)).exit_code == 0


def test_sigterm_during_an_export_leaves_nothing(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from verify.store import ObjectStore

    real = ObjectStore.copy_out
    calls = []

    def killed_midway(self: ObjectStore, sha256: str, directory: Path) -> Path:
        calls.append(sha256)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, sha256, directory)

    monkeypatch.setattr(ObjectStore, "copy_out", killed_midway)
    out = tmp_path / "out"
    (a, _), (b, _) = two
    r = cli("media", "export", a, b, "-o", str(out))
    assert r.exit_code == 130
    assert not out.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back afterwards


def test_bad_targets_are_one_line_errors(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    (a, _), _ = two
    afile = tmp_path / "afile"
    afile.write_bytes(b"x")
    for target, message in (
        (str(afile), f"error: {afile} is not a directory; nothing was exported\n"),
        (str(afile / "sub"), f"error: {afile / 'sub'} is not a directory; nothing was exported\n"),
        (
            str(tmp_path / ("d" * 300)),
            f"error: cannot write into {tmp_path / ('d' * 300)}: File name too long; nothing "
            "was exported\n",
        ),
    ):
        r = cli("media", "export", a, "-o", target)
        assert (r.exit_code, r.stdout, r.stderr) == (2, "", message)
    assert afile.read_bytes() == b"x"


@pytest.mark.parametrize("replacement", ["symlink", "directory"])
def test_a_stored_object_that_is_not_a_file_is_an_integrity_failure(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, replacement: str
) -> None:
    (a, _), _ = two
    stored = _object(cli, a)
    kept = tmp_path / "kept"
    stored.rename(kept)
    if replacement == "symlink":
        stored.symlink_to(kept)
    else:
        stored.mkdir()
    out = tmp_path / "out"
    r = cli("media", "export", a, "-o", str(out))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr.startswith(f"error: media {a}: the stored file sha256:")
    assert ("cannot be read: " if replacement == "symlink" else "is not a regular file") in r.stderr
    assert not out.exists()
    # `verify check` gives the same verdict (it used to follow the link and say ok)
    r = cli("check")
    assert r.exit_code == 3
    assert (
        f"unreadable: {_sha(kept)}: object cannot be read (not a regular file, or an error "
        f"reading it) (media {a} in case {SLUG})\n"
    ) in r.stdout
    assert json.loads(cli("media", "show", a, "--json").stdout)["in_store"] is False


def test_without_hard_links_a_file_arriving_meanwhile_is_not_replaced(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    real_rename = os.rename

    def racing_rename(src: str, dst: str) -> None:
        raise AssertionError("renamed without taking the name first")

    monkeypatch.setattr(os, "link", no_links)
    out = tmp_path / "usb"
    (a, _), _ = two
    real = media_svc._place

    def arriving(tmp: Path, final: Path) -> None:
        final.write_bytes(b"arrived meanwhile")
        monkeypatch.setattr(os, "rename", racing_rename)
        try:
            real(tmp, final)
        finally:
            monkeypatch.setattr(os, "rename", real_rename)

    monkeypatch.setattr(media_svc, "_place", arriving)
    r = cli("media", "export", a, "-o", str(out))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {out / f'{a}-legion.jpg'} already exists; nothing was exported (choose "
        "another directory, or move that file away)\n",
    )
    assert [p.name for p in out.iterdir()] == [f"{a}-legion.jpg"]
    assert (out / f"{a}-legion.jpg").read_bytes() == b"arrived meanwhile"


def test_frame_working_copies_are_refused_from_an_altered_or_missing_file(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path
) -> None:
    """Frames exported from bytes that are no longer the recorded ones would be working
    copies of something else: exit 3, nothing written, nothing recorded."""
    (a, _), _ = two
    stored = _object(cli, a)
    original = stored.read_bytes()
    os.chmod(stored, 0o644)
    stored.write_bytes(original + b"\0")
    before = len(json.loads(cli("log", "--json").stdout))
    out = tmp_path / "frames"
    r = cli("media", "frames", a, "--export", str(out))
    assert (r.exit_code, r.stdout) == (3, "")
    assert r.stderr.startswith(f"error: media {a}: the stored file sha256:{_sha_hex(original)} ")
    assert r.stderr.endswith("it was altered or damaged; nothing was exported\n")
    assert not out.exists()
    stored.unlink()
    r = cli("media", "frames", a, "--export", str(out))
    assert r.exit_code == 3 and "is not in the evidence store" in r.stderr
    assert not out.exists()
    assert len(json.loads(cli("log", "--json").stdout)) == before


@pytest.fixture
def clip(cli: RunCli, tmp_path: Path) -> tuple[str, list[str]]:
    """A video added to a case: (media id, its exported frames' names in order)."""
    from bench.clips import render

    assert cli("case", "open", "Clip", "--slug", "clip").exit_code == 0
    r = cli("media", "add", "clip", str(render(tmp_path / "clip.mp4", seconds=3.0)))
    assert r.exit_code == 0, r.stderr
    media = r.stdout.strip()
    r = cli("media", "frames", media, "--export", str(tmp_path / "first"), "--json")
    names = [w["name"] for w in json.loads(r.stdout)]
    assert len(names) >= 3
    return media, names


def test_frames_are_never_exported_over_a_file_and_nothing_is_written(
    cli: RunCli, clip: tuple[str, list[str]], tmp_path: Path
) -> None:
    """As `media export`: one existing file (the last frame's name, so that the check is
    before anything is written) refuses the whole export, exit 2."""
    media, names = clip
    out = tmp_path / "out"
    out.mkdir()
    (out / names[-1]).write_bytes(b"someone's own file")
    before = len(json.loads(cli("log", "--json").stdout))
    r = cli("media", "frames", media, "--export", str(out))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: {out / names[-1]} already exists; nothing was exported (choose another "
        "directory, or move that file away)\n"
    )
    assert [p.name for p in out.iterdir()] == [names[-1]]  # no frame, no staging folder
    assert (out / names[-1]).read_bytes() == b"someone's own file"
    assert len(json.loads(cli("log", "--json").stdout)) == before
    r = cli("media", "frames", media, "--export", str(out / names[-1]))  # a file, not a folder
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {out / names[-1]} is not a directory; nothing was exported\n",
    )


def test_frames_the_trail_cannot_record_are_removed(
    cli: RunCli, clip: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As `media export`: the archive busy when the frame export is recorded, the frames go
    too (they stayed on disk, unrecorded), so running the command again works."""
    from verify import audit
    from verify.errors import BusyError

    def busy(*args: object, **kwargs: object) -> None:
        raise BusyError("the archive is busy (another command is writing it); try again")

    media, names = clip
    real = audit.append
    monkeypatch.setattr(audit, "append", busy)
    out = tmp_path / "out"
    r = cli("media", "frames", media, "--export", str(out))
    assert r.exit_code == 75 and r.stderr.startswith("error: the archive is busy")
    assert not out.exists() or list(out.iterdir()) == []
    monkeypatch.setattr(audit, "append", real)
    r = cli("media", "frames", media, "--export", str(out))
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_a_frame_file_appearing_meanwhile_is_not_replaced(
    cli: RunCli, clip: tuple[str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check and the placing are apart in time: placing never replaces, and the frames
    placed before it are taken back."""
    media, names = clip
    out = tmp_path / "out"
    real = media_svc._place

    def racing(tmp: Path, final: Path) -> None:
        if final.name == names[1]:
            final.write_bytes(b"arrived meanwhile")
        real(tmp, final)

    monkeypatch.setattr(media_svc, "_place", racing)
    r = cli("media", "frames", media, "--export", str(out))
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {out / names[1]} already exists; nothing was exported (choose another "
        "directory, or move that file away)\n",
    )
    assert [p.name for p in out.iterdir()] == [names[1]]
    assert (out / names[1]).read_bytes() == b"arrived meanwhile"


def test_check_names_the_media_of_missing_files_and_a_wrong_home(
    cli: RunCli,
    two: list[tuple[str, Path]],
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str | None,
) -> None:
    """A colleague on the same database with a home of his own (another evidence folder):
    `check` names the media of each file it lacks, and says the home is the likely cause."""
    (a, photo_a), (b, photo_b) = two
    if database_url is None:
        monkeypatch.setenv("VERIFY_DATABASE_URL", f"sqlite:///{home / 'verify.db'}")
    elsewhere = tmp_path / "bob"
    r = cli("--home", str(elsewhere), "check")
    assert r.exit_code == 3
    for media, photo in ((a, photo_a), (b, photo_b)):
        assert (
            f"missing: {_sha(photo)}: object not in the evidence store (media {media} in case "
            f"{SLUG})\n"
        ) in r.stdout
    assert r.stderr == (
        f"error: none of the archive's 2 stored files is in its evidence store "
        f"{elsewhere / 'objects'}: is --home (or VERIFY_HOME) the folder they were added under?\n"
    )
    assert r.stdout.splitlines()[-1].endswith("; 2 objects checked, 2 not in the evidence store")
    # the report says none was re-hashed (it said "2 stored objects re-hashed"), and why
    r = cli("--home", str(elsewhere), "report", SLUG, "--format", "md", "-o", "-")
    assert r.exit_code == 0
    assert (
        "**FAILED**, 0 of 2 stored objects re-hashed, 2 not in the evidence store of the home "
        "this report was written from, 2 findings"
    ) in r.stdout
    assert r.stderr.endswith(
        "(files not in this home's evidence store: is --home, or VERIFY_HOME, the folder they "
        "were added under?)\n"
    )
    shown = json.loads(cli("--home", str(elsewhere), "media", "show", a, "--json").stdout)
    assert shown["in_store"] is False
    assert "(not in this evidence store" in cli("--home", str(elsewhere), "media", "show", a).stdout
    assert json.loads(cli("media", "show", a, "--json").stdout)["in_store"] is True
    # with one file, said so
    (elsewhere / "objects" / "sha256").mkdir(parents=True, exist_ok=True)
    held = _object(cli, b)
    copy = elsewhere / held.relative_to(home)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(held.read_bytes())
    r = cli("--home", str(elsewhere), "check")
    assert r.exit_code == 3 and r.stderr == "error: integrity check failed\n"


def test_an_ignored_sighup_stays_ignored(
    cli: RunCli, two: list[tuple[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nohup verify media export ...` goes on when the terminal closes."""
    import signal

    from verify.store import ObjectStore

    real = ObjectStore.copy_out

    def hung_up(self: ObjectStore, sha256: str, directory: Path) -> Path:
        os.kill(os.getpid(), signal.SIGHUP)
        return real(self, sha256, directory)

    monkeypatch.setattr(ObjectStore, "copy_out", hung_up)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        (a, _), _ = two
        r = cli("media", "export", a, "-o", str(tmp_path / "out"))
        assert r.exit_code == 0, r.stderr
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
    assert [p.name for p in (tmp_path / "out").iterdir()] == [f"{a}-legion.jpg"]


def test_show_says_not_in_store_when_the_folder_cannot_be_read(
    cli: RunCli, two: list[tuple[str, Path]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A colleague's store partly closed to this user: one line of output, not a crash."""
    (a, _), _ = two
    stored = _object(cli, a)
    real = os.lstat

    def closed(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if Path(str(path)) == stored:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "lstat", closed)
    r = cli("media", "show", a, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["in_store"] is False
