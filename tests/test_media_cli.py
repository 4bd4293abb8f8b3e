"""`verify media add|list|show|frames`: custody, refusal of special files, hostile input."""

import hashlib
import json
import os
import random
import re
import socket
from pathlib import Path

import pytest
from bench.clips import render as write_clip
from PIL import Image
from sqlalchemy import event

from tests.conftest import RunCli
from tests.media import write_jpeg
from tests.search_helpers import ensure_case, random_frames, store
from verify.archive import Archive
from verify.models import Blob, Media, pk
from verify.services import mediaread
from verify.timeutil import now

SLUG = "frl-video"


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "FRL video", "--slug", SLUG).exit_code == 0
    return SLUG


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audit_actions(cli: RunCli) -> list[str]:
    return [e["action"] for e in json.loads(cli("log", "--json").stdout)]


def test_an_empty_case_lists_no_media_with_a_hint(cli: RunCli, case: str) -> None:
    r = cli("media", "list", case)
    assert (r.exit_code, r.stdout) == (0, "")
    assert (
        r.stderr
        == f"no media in case {case} yet; add files with `verify media add {case} FILE...`\n"
    )
    assert cli("media", "list", case, "--json").stdout.strip() == "[]"


def test_refused_inputs_write_nothing(cli: RunCli, case: str, tmp_path: Path, home: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    before = audit_actions(cli)
    cases = {
        str(fifo): "not a regular file",
        str(tmp_path): "a directory",
        str(link): "is a symbolic link",
        str(dangling): "is a dangling symbolic link",
        str(tmp_path / "missing.mp4"): "no such file",
        str(sock_path): "not a regular file",
    }
    for path, reason in cases.items():
        r = cli("media", "add", case, path)
        assert r.exit_code == 2, path
        assert r.stdout == ""
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
        assert len(lines) == 1 and path in lines[0] and reason in lines[0], r.stderr
    sock.close()
    assert audit_actions(cli) == before
    assert not list((home / "objects").rglob("tmp-*"))
    objects = [p for p in (home / "objects").rglob("*") if p.is_file()]
    assert objects == []


def test_add_image_custody_and_metadata(cli: RunCli, case: str, tmp_path: Path, home: Path) -> None:
    photo = write_jpeg(tmp_path / "IMG_0001.JPG", exif={0x010F: "Canon", 0x0110: "Canon EOS 5D"})
    r = cli(
        "media",
        "add",
        case,
        str(photo),
        "--source-url",
        "https://t.me/x/1",
        "--platform",
        "telegram",
        "--acquired-via",
        "telegram desktop export",
    )
    assert r.exit_code == 0, r.stderr
    media_id = r.stdout.strip()
    assert media_id.isdigit()
    shown = json.loads(cli("media", "show", media_id, "--json").stdout)
    digest = sha256(photo)
    assert shown["sha256"] == f"sha256:{digest}"
    assert shown["size"] == photo.stat().st_size
    assert shown["kind"] == "image"
    assert shown["original_name"] == "IMG_0001.JPG"
    assert shown["acquired_by"] == "tester"
    assert shown["source_url"] == "https://t.me/x/1"
    assert shown["metadata"]["make"] == "Canon"
    assert shown["metadata"]["model"] == "Canon EOS 5D"
    assert (shown["metadata"]["width"], shown["metadata"]["height"]) == (640, 480)
    assert len(shown["frames"]) == 1
    frame = shown["frames"][0]
    assert len(frame["phash"]) == 16 and len(frame["dhash"]) == 16
    assert frame["informative"] is True
    stored = home / "objects" / "sha256" / digest[:2] / digest[2:]
    assert stored.read_bytes() == photo.read_bytes()
    assert not os.access(stored, os.W_OK) or os.geteuid() == 0
    assert stored.stat().st_mode & 0o222 == 0
    # by sha256 prefix too
    again = json.loads(cli("media", "show", f"sha256:{digest[:10]}", "--json").stdout)
    assert again["id"] == shown["id"]
    assert "media.add" in audit_actions(cli)
    assert cli("check").exit_code == 0


def test_who_obtained_the_file_and_when_can_be_given(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    """--acquired-by/--acquired-at record a custody step before the archive (a colleague's
    download, a hand-over); the audit entry still names who recorded it, and when."""
    photo = write_jpeg(tmp_path / "handed-over.jpg")
    r = cli("media", "add", case, str(photo), "--acquired-by", " field team B ",
            "--acquired-at", "2023-05-24T09:00+03:00", "--acquired-via", "USB stick")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    shown = json.loads(cli("media", "show", r.stdout.strip(), "--json").stdout)
    assert (shown["acquired_by"], shown["acquired_at"]) == ("field team B", "2023-05-24T06:00:00Z")
    [entry] = [e for e in json.loads(cli("log", "--json").stdout) if e["action"] == "media.add"]
    assert entry["actor"] == "tester" and entry["at"] > "2026"
    assert entry["payload"]["acquired_by"] == "field team B"
    assert entry["payload"]["acquired_at"] == "2023-05-24T06:00:00Z"
    assert cli("check").exit_code == 0
    # a bare date is 00:00 UTC
    r = cli("media", "add", case, str(photo), "--acquired-at", "2023-05-24", "--json")
    [added] = json.loads(r.stdout)
    shown = json.loads(cli("media", "show", str(added["media"]), "--json").stdout)
    assert (shown["acquired_by"], shown["acquired_at"]) == ("tester", "2023-05-24T00:00:00Z")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--acquired-at", "yesterday"], "bad --acquired-at 'yesterday': use ISO 8601"),
        (["--acquired-at", "2999-01-01"], "--acquired-at '2999-01-01' is in the future"),
        (["--acquired-by", "  "], "--acquired-by is empty"),
        (["--acquired-by", "a\x1bb"], "--acquired-by contains a control character"),
    ],
)
def test_a_bad_acquisition_stores_nothing(
    cli: RunCli, case: str, tmp_path: Path, home: Path, args: list[str], says: str
) -> None:
    photo = write_jpeg(tmp_path / "a.jpg")
    before = audit_actions(cli)
    r = cli("media", "add", case, str(photo), *args)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.startswith(f"error: {says}") and r.stderr.count("\n") == 1, r.stderr
    assert audit_actions(cli) == before
    assert not [p for p in (home / "objects").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("X", "x"),
        (" Twitter ", "x"),
        ("tg", "telegram"),
        ("Rumble", "rumble"),
        ("FB", "facebook"),
        ("vkontakte", "vk"),
        ("bsky", "bluesky"),
    ],
)
def test_media_platform_is_normalised_as_an_appearances(
    cli: RunCli, case: str, tmp_path: Path, given: str, stored: str
) -> None:
    """`--platform X` was stored and reported as `X`, where an appearance has `x`."""
    photo = write_jpeg(tmp_path / "a.jpg")
    r = cli("media", "add", case, str(photo), "--platform", given, "--json")
    assert r.exit_code == 0, r.stderr
    [added] = json.loads(r.stdout)
    shown = json.loads(cli("media", "show", str(added["media"]), "--json").stdout)
    assert shown["platform"] == stored
    [entry] = [e for e in json.loads(cli("log", "--json").stdout) if e["action"] == "media.add"]
    assert entry["payload"]["platform"] == stored
    assert cli("prov", "appearance", "add", case, "--platform", given).exit_code == 0
    [appearance] = json.loads(cli("prov", "appearance", "list", case, "--json").stdout)
    assert appearance["platform"] == stored


def test_same_bytes_twice_stored_once_and_told(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    photo = write_jpeg(tmp_path / "a.jpg")
    first = cli("media", "add", case, str(photo)).stdout.strip()
    assert cli("case", "open", "Other", "--slug", "other").exit_code == 0
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(photo.read_bytes())
    r = cli("media", "add", "other", str(copy))
    assert r.exit_code == 0
    assert f"same bytes already in case {SLUG} as media {first} (a.jpg)" in r.stderr
    # in the same case again: a second acquisition record, and said to be in this case
    again = cli("media", "add", case, str(photo))
    assert again.exit_code == 0
    assert f"same bytes already in this case as media {first} (a.jpg)" in again.stderr
    objects = [p for p in (home / "objects" / "sha256").rglob("*") if p.is_file()]
    assert len(objects) == 1
    data = json.loads(cli("media", "add", "other", str(copy), "--json").stdout)
    assert data[0]["already_stored"] is True
    assert (data[0]["analysis"], data[0]["analysis_mode"]) == ("ok", "full")
    assert data[0]["analysis_error"] is None and data[0]["error"] is None
    assert {c["case"] for c in data[0]["exact_copies"]} == {SLUG, "other"}


def test_add_video_frames_have_pts(cli: RunCli, case: str, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", seconds=4.0)
    r = cli("media", "add", case, str(clip))
    assert r.exit_code == 0, r.stderr
    shown = json.loads(cli("media", "show", r.stdout.strip(), "--json").stdout)
    assert shown["kind"] == "video"
    assert shown["metadata"]["duration"] == pytest.approx(4.0, abs=0.2)
    pts = [f["pts"] for f in shown["frames"]]
    assert len(pts) >= 4 and pts == sorted(pts)
    assert pts[0] < 0.5 and pts[-1] > 2.5


def test_a_truncated_video_is_added_with_a_warning_everywhere_it_shows(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """A video cut short decodes its beginning only. It is analysed (its frames are
    evidence too), but `media add`, `media reanalyse`, `media show` (text and JSON) and the
    report say where it stops; it was reported as "ok, full" with the stated duration."""
    from tests.media import cut_video

    cut = cut_video(write_clip(tmp_path / "whole.mp4", seconds=12.0, gop=30), tmp_path / "c.mp4")
    r = cli("media", "add", case, str(cut))
    assert (r.exit_code, r.stdout) == (0, "1\n")
    warning = r.stderr.splitlines()[1]
    assert re.fullmatch(
        r"  warning: the video stops at [3-6]\.\d s of the 12\.0 s its container states "
        r"\(truncated or damaged\): its frames and hashes cover only that part",
        warning,
    ), r.stderr
    note = warning.removeprefix("  warning: ")
    shown = json.loads(cli("media", "show", "1", "--json").stdout)
    assert shown["analysis"] == "ok" and shown["frame_count"] >= 3
    assert set(shown["metadata"]["incomplete"]) == {"ends_at", "duration"}
    assert f"warning:   {note}\n" in cli("media", "show", "1").stdout
    again = cli("media", "reanalyse", "1", "--fast")
    assert again.exit_code == 0 and "  warning: the video stops at " in again.stderr
    searched = cli("search", str(cut))  # a file searched, not stored: warned the same
    assert f"\nwarning: {cut}: the video stops at " in searched.stderr
    query = json.loads(cli("search", str(cut), "--json").stdout)["query"]
    assert query["incomplete"].startswith("the video stops at ")
    note = again.stderr.splitlines()[1].removeprefix("  warning: ")  # as --fast found it
    report = json.loads(cli("report", case, "-f", "json", "-o", "-").stdout)
    assert report["media"][0]["analysis"]["incomplete"] == note
    md = cli("report", case, "-f", "md", "-o", "-").stdout
    assert f"**warning:** {note}" in md
    listed = cli("media", "list", case)  # the listing marks it and says why on stderr
    assert " ok (keyframes, incomplete) " in listed.stdout.splitlines()[1]
    assert listed.stderr == f"warning: media 1: {note}\n"
    # reanalysed with --fast: the report says keyframes only, as `media show` does
    assert report["media"][0]["analysis"]["mode"] == "keyframes"
    assert "; keyframes only (`media add --fast`: weaker in search)" in md


def test_export_frames_recorded_as_derivation(cli: RunCli, case: str, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", seconds=3.0)
    media_id = cli("media", "add", case, str(clip)).stdout.strip()
    out = tmp_path / "frames"
    r = cli("media", "frames", media_id, "--export", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    written = json.loads(r.stdout)
    assert written and all(Path(w["path"]).is_file() for w in written)
    assert all(Path(w["path"]).parent == out.resolve() for w in written)
    entry = json.loads(cli("log", "--json").stdout)[-1]
    assert entry["action"] == "media.frames.export"
    assert entry["payload"]["source"] == f"sha256:{sha256(clip)}"
    assert [o["sha256"] for o in entry["payload"]["outputs"]] == [
        f"sha256:{sha256(Path(w['path']))}" for w in written
    ]


def test_twenty_files_three_bad(cli: RunCli, case: str, tmp_path: Path) -> None:
    """Issue: adding 20 files where 3 are bad preserves all 20 and analyses the 17 good
    ones; each bad file gets one error line, the command exits 2, no traceback."""
    from tests.test_metadata import png_bomb

    good = [write_jpeg(tmp_path / f"g{i:02d}.jpg", seed=i, size=(160, 120)) for i in range(17)]
    truncated = tmp_path / "truncated.mp4"
    full = write_clip(tmp_path / "full.mp4", seconds=2.0)
    truncated.write_bytes(full.read_bytes()[:700])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(40_000, 40_000))
    files = [*good[:5], truncated, *good[5:11], empty, *good[11:], bomb]
    assert len(files) == 20
    r = cli("media", "add", case, *map(str, files))
    assert r.exit_code == 2
    assert len(r.stdout.split()) == 20  # every file preserved, one media id each
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 3
    assert "Traceback" not in r.stderr
    assert any("decompression bomb" in e and "bomb.png" in e for e in errors)
    assert any("empty file" in e and "empty.jpg" in e for e in errors)
    listed = json.loads(cli("media", "list", case, "--json").stdout)
    states = {m["original_name"]: m["analysis"] for m in listed}
    assert sum(v == "ok" for v in states.values()) == 17
    assert {k for k, v in states.items() if v == "analysis_failed"} == {
        "truncated.mp4",
        "empty.jpg",
        "bomb.png",
    }
    assert cli("check").exit_code == 0


def test_missing_file_among_good_ones_is_refused(cli: RunCli, case: str, tmp_path: Path) -> None:
    good = write_jpeg(tmp_path / "g.jpg")
    r = cli("media", "add", case, str(good), str(tmp_path / "missing.jpg"))
    assert r.exit_code == 2
    assert len(r.stdout.split()) == 1
    assert r.stderr.splitlines()[-1] == f"error: {tmp_path / 'missing.jpg'}: no such file"


def test_near_duplicates_across_calls_and_within_one(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    """`media add` loads the index once per call: a copy finds an original stored by an
    earlier call and one stored earlier in the same call; an unrelated file finds neither."""
    from PIL import Image

    def copy_of(src: Path, name: str) -> Path:
        out = tmp_path / name
        Image.open(src).resize((400, 300)).save(out, quality=75)
        return out

    first = write_jpeg(tmp_path / "first.jpg", seed=11)
    r = cli("media", "add", case, str(first))
    assert r.exit_code == 0, r.stderr
    other = write_jpeg(tmp_path / "other.jpg", seed=12)
    files = [copy_of(first, "first-copy.jpg"), other, copy_of(other, "other-copy.jpg")]
    r = cli("media", "add", case, *map(str, files), "--json")
    assert r.exit_code == 0, r.stderr
    added = json.loads(r.stdout)
    found = [[h["media"] for h in a["near_duplicates"]] for a in added]
    assert found == [[1], [], [added[1]["media"]]]
    assert "near-duplicate" not in r.stderr  # --json: notices are in the JSON only


def test_show_gives_the_byte_size_and_picture_apart(cli: RunCli, case: str, tmp_path: Path) -> None:
    """A file whose analysis failed is preserved all the same: its size is its byte count;
    its unknown picture geometry is '-' (it read 'size: -x-')."""
    text = tmp_path / "text.jpg"
    text.write_bytes(b"hello\n")
    photo = write_jpeg(tmp_path / "photo.jpg", size=(320, 240))
    assert cli("media", "add", case, str(text)).exit_code == 2
    assert cli("media", "add", case, str(photo)).exit_code == 0

    def fields(media: str) -> dict[str, str]:
        r = cli("media", "show", media)
        assert r.exit_code == 0, r.stderr
        pairs = (ln.split(":", 1) for ln in r.stdout.splitlines() if ":" in ln)
        return {k: v.strip() for k, v in pairs}

    failed = fields("1")
    assert failed["analysis"].startswith("analysis_failed: ")
    assert failed["size"] == "6 bytes"
    assert failed["picture"] == "-"
    assert failed["kind"] == "other (unknown type)"
    assert failed["device"] == "-"  # not "- -"
    ok = fields("2")
    assert ok["size"] == f"{photo.stat().st_size} bytes"
    assert ok["picture"] == "320x240"
    assert ok["kind"] == "image (image/jpeg)"
    made = write_jpeg(tmp_path / "made.jpg", seed=3, exif={0x010F: "GoPro"})  # no model
    assert cli("media", "add", case, str(made)).exit_code == 0
    assert fields("3")["device"] == "GoPro"
    assert ok["captured"] == failed["captured"] == "-"
    # where it came from: it read "- (-)" with neither, "- (telegram)" with a platform only
    assert ok["source"] == "-"
    args = ("media", "add", case, str(write_jpeg(tmp_path / "tg.jpg", seed=4)))
    assert cli(*args, "--platform", "telegram").exit_code == 0
    assert fields("4")["source"] == "platform telegram, no URL recorded"
    args = ("media", "add", case, str(write_jpeg(tmp_path / "x.jpg", seed=5)))
    assert cli(*args, "--source-url", "https://x.com/a/status/1").exit_code == 0
    assert fields("5")["source"] == "https://x.com/a/status/1"
    # EXIF models often start with the make: not "Canon Canon PowerShot S80"
    canon = {0x010F: "Canon", 0x0110: "Canon PowerShot S80"}
    args = ("media", "add", case, str(write_jpeg(tmp_path / "c.jpg", seed=6, exif=canon)))
    assert cli(*args).exit_code == 0
    assert fields("6")["device"] == "Canon PowerShot S80"


@pytest.mark.parametrize(
    ("exif", "captured"),
    [
        # the capture time as the timeline and the reports give it, then as written
        ({0x9003: "2023:05:22 14:03:11", 0x9011: "+03:00"},
         "2023-05-22T11:03:11Z (as written: 2023:05:22 14:03:11 +03:00)"),
        ({0x9003: "2008:10:22 16:28:39"},
         "2008-10-22 16:28:39 (camera local time, offset unknown) (as written: 2008:10:22 "
         "16:28:39)"),
    ],
)  # fmt: skip
def test_show_gives_the_capture_time_as_the_timeline_does(
    cli: RunCli, case: str, tmp_path: Path, exif: dict[int, str], captured: str
) -> None:
    photo = tmp_path / "photo.jpg"
    img = Image.open(write_jpeg(photo, size=(64, 48)))
    ex = img.getexif()
    ex.get_ifd(0x8769).update(exif)  # the Exif IFD, where the capture time is
    img.save(photo, "JPEG", exif=ex.tobytes())
    assert cli("media", "add", case, str(photo)).exit_code == 0
    line = next(
        ln for ln in cli("media", "show", "1").stdout.splitlines() if ln.startswith("captured:")
    )
    assert line == f"captured:  {captured}"


def test_list_counts_frames_in_the_database(archive: Archive) -> None:
    """`media list` counts each file's frames with one GROUP BY query: it loads no frame
    rows, and its number of queries does not grow with the number of files."""
    rng = random.Random(4)
    video = store(archive, "listed", "video.mp4", random_frames(7, rng))
    store(archive, "listed", "photo.jpg", random_frames(1, rng))
    store(archive, "listed", "again.mp4", [], blob_id=video.blob_id)  # same bytes twice
    store(archive, "other", "copy.mp4", [], blob_id=video.blob_id)  # and in another case
    store(archive, "other", "long.mp4", random_frames(30, rng))
    with archive.write() as session:  # a file whose analysis failed: no frames
        blob = Blob(sha256="f" * 64, size=6, analysis_state="analysis_failed", stored_at=now())
        session.add(blob)
        session.flush()
        session.add(
            Media(
                case_id=ensure_case(archive, "listed"),
                blob_id=pk(blob),
                original_name="text.jpg",
                acquired_by="tester",
                acquired_at=now(),
            )
        )

    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(archive.engine, "before_cursor_execute", record)
    try:
        listed = mediaread.list_media(archive, "listed")
    finally:
        event.remove(archive.engine, "before_cursor_execute", record)
    counts = {m["original_name"]: m["frame_count"] for m in listed}
    assert counts == {"video.mp4": 7, "photo.jpg": 1, "again.mp4": 7, "text.jpg": 0}
    for m in listed:  # the same count and fields as `media show`
        shown = mediaread.show_media(archive, str(m["id"]))
        assert len(shown.pop("frames")) == m["frame_count"]
        assert Path(shown.pop("stored")).name == m["sha256"][9:]  # objects/sha256/ab/cdef…
        shown.pop("in_store")
        assert shown == m
    selects = [s for s in statements if s.startswith("SELECT")]
    assert not [s for s in selects if "frames.phash" in s], selects
    assert len(selects) == 3, selects  # the case, its media with their blobs, the counts


def test_a_slow_file_is_said_to_be_analysing_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal, a file analysed for more than 2 s gets a line rewritten in place with
    its time so far and the limit, cleared before the next output; nothing before 2 s. A
    long path is shortened in the middle so that the file name and the counter stay on one
    screen line."""
    import io
    import os
    import shutil

    from verify.cli.media import _Ticker

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((100, 20)))
    out = io.StringIO()
    ticker = _Ticker(out, 60.0)
    ticker.show(1, 3, "a.mp4", 1.2)
    ticker.clear()
    assert out.getvalue() == ""
    ticker.show(1, 3, "a.mp4", 2.4)
    ticker.show(1, 3, "a.mp4", 3.4)
    ticker.clear()
    ticker.clear()
    line = "[1/3] a.mp4: analysing, {} s of at most 60 s (VERIFY_ANALYSIS_TIMEOUT)"
    assert out.getvalue() == (
        "\r\x1b[K" + line.format(2) + "\r\x1b[K" + line.format(3) + "\r\x1b[K"
    )
    out.truncate(0)
    out.seek(0)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((80, 20)))
    ticker.show(2, 3, "/evidence/" + "x" * 100 + "/clip.mp4", 5.0)
    shown = out.getvalue().removeprefix("\r\x1b[K")
    assert len(shown) == 79 and "…" in shown
    assert shown.endswith("/clip.mp4: analysing, 5 s of at most 60 s (VERIFY_ANALYSIS_TIMEOUT)")
    assert shown.startswith("[2/3] /ev")


def test_hints_name_the_archive_given_with_home(cli: RunCli, tmp_path: Path) -> None:
    """A hint's command pasted as is must act on the same archive: with --home DIR when the
    command was given one (VERIFY_HOME points elsewhere here)."""
    from bench.clips import render

    clip = render(tmp_path / "clip.mp4", seconds=1.0, gop=15)
    other = tmp_path / "evidence drive"
    assert cli("--home", str(other), "case", "open", "T", "--slug", "t").exit_code == 0
    assert cli("--home", str(other), "media", "add", "t", str(clip), "--fast").exit_code == 0
    shown = cli("--home", str(other), "media", "show", "1").stdout
    assert f"`verify --home '{other}' media reanalyse 1` hashes every sampled frame" in shown
    again = cli("--home", str(other), "media", "add", "t", str(clip))
    assert f"`verify --home '{other}' media reanalyse 2` analyses them in full" in again.stderr
