"""Files whose analysis gives nothing to compare: a video with no decodable frame, a file that
cannot be read at all, a picture that is blank (never compared). They are flagged (never "no near-duplicates"), and the exact-bytes
answer (SHA-256) is still given."""

import json
import random
import struct
from pathlib import Path

import pytest
from bench.clips import render

from tests.conftest import RunCli
from tests.search_helpers import random_frames, store
from verify.archive import Archive

SLUG = "t"
NO_FRAMES = "could not sample any frame of this video (no decodable frames)"


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "t", "--slug", SLUG).exit_code == 0
    return SLUG


@pytest.fixture(scope="module")
def frameless(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MP4 whose container and metadata read but whose picture data is all zeros: not one
    frame decodes."""
    d = tmp_path_factory.mktemp("frameless")
    data = bytearray(render(d / "clip.mp4", seconds=1.0, gop=30).read_bytes())
    at = data.find(b"mdat") - 4
    (size,) = struct.unpack(">I", data[at : at + 4])
    data[at + 8 : at + size] = bytes(size - 8)
    path = d / "frameless.mp4"
    path.write_bytes(bytes(data))
    return path


def test_video_without_frames_is_a_failed_analysis(
    cli: RunCli,
    case: str,
    frameless: Path,
    tmp_path: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = cli("media", "add", case, str(frameless))
    assert r.exit_code == 2
    assert r.stdout == "1\n"  # preserved all the same
    assert f"error: {frameless}: preserved, but {NO_FRAMES}\n" in r.stderr
    assert f"[1/1] {frameless}: video, failed\n" in r.stderr  # the kind was read
    shown = json.loads(cli("media", "show", "1", "--json").stdout)
    assert (shown["analysis"], shown["analysis_error"]) == ("analysis_failed", NO_FRAMES)
    assert (shown["kind"], shown["metadata"]["width"], shown["frame_count"]) == ("video", 320, 0)
    added = [e for e in json.loads(cli("log", "--json").stdout) if e["action"] == "media.add"]
    assert added[0]["payload"]["analysis"] == "analysis_failed"

    # searching with it: the exact copy is told, then why nothing else was compared; exit 2
    r = cli("search", str(frameless))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr == (
        "same bytes in case t as media 1 (frameless.mp4)\n"
        f"error: {frameless}: near-duplicate search not possible: {NO_FRAMES}\n"
    )
    r = cli("search", "1")
    assert r.exit_code == 2
    assert "no near-duplicates" not in r.stderr
    assert r.stderr.startswith("error: media 1 has no frame hashes to search with: its analysis")

    # its frames: one line, not an empty table
    r = cli("media", "frames", "1")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: media 1 has no sampled frames: its analysis failed: {NO_FRAMES} "
        "(`verify media reanalyse 1` retries it)\n"
    )
    # exporting them: the same line (it said "has no sampled frames to export"), nothing written
    out = tmp_path / "frames"
    r = cli("media", "frames", "1", "--export", str(out))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        f"error: media 1 has no sampled frames: its analysis failed: {NO_FRAMES} "
        "(`verify media reanalyse 1` retries it)\n"
    )
    assert not out.exists()
    # named with --home where `verify` alone would open another archive
    monkeypatch.delenv("VERIFY_HOME")
    for args in [("media", "frames", "1"), ("media", "frames", "1", "--export", str(out))]:
        r = cli("--home", str(home), *args)
        assert r.stderr.endswith(f"(`verify --home {home} media reanalyse 1` retries it)\n")
    monkeypatch.setenv("VERIFY_HOME", str(home))

    # re-analysis gives the same verdict and says so
    r = cli("media", "reanalyse", "1")
    assert r.exit_code == 2
    assert NO_FRAMES in r.stderr

    # the report does not claim it was compared
    r = cli("report", case, "-o", "-")
    assert r.exit_code == 0, r.stderr
    assert "nothing was compared" in r.stdout
    assert "No near-duplicates found" not in r.stdout


def test_search_of_an_unreadable_file_still_finds_the_same_bytes(
    cli: RunCli, case: str, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\x13\x37" * 500)
    assert cli("media", "add", case, str(junk)).exit_code == 2
    r = cli("search", str(junk))
    assert r.exit_code == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "same bytes in case t as media 1 (junk.jpg)"
    assert lines[1].startswith(f"error: {junk}: near-duplicate search not possible: not a media")
    assert len(lines) == 2
    r = cli("search", str(junk), "--json")
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert data["exact_copies"] == [{"case": "t", "media": 1, "original_name": "junk.jpg"}]
    assert data["hits"] == []
    assert data["error"].startswith("near-duplicate search not possible: not a media file")
    # a file never seen: no exact copy, the same one error line
    other = tmp_path / "other.jpg"
    other.write_bytes(b"\x42" * 100)
    r = cli("search", str(other))
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {other}: near-duplicate search not possible:")
    assert len(r.stderr.splitlines()) == 1


def test_search_media_recorded_ok_without_frames_is_not_never_seen(
    archive: Archive, cli: RunCli
) -> None:
    """An archive written before frameless videos counted as failed: state ok, no frames."""
    store(archive, "t", "with-frames.mp4", random_frames(5, random.Random(1)))
    empty = store(archive, "t", "empty.mp4", [], kind="video")
    r = cli("search", str(empty.media_id))
    assert r.exit_code == 2
    assert r.stderr == (
        f"error: media {empty.media_id} has no frame hashes to search with: {NO_FRAMES}\n"
    )


UNINFORMATIVE = (
    "every sampled frame of this image is uniform, black or near-blank, which would match "
    "unrelated pictures, so it is not compared (only exact copies are looked for)"
)


@pytest.mark.parametrize("colour", [(0, 0, 0), (200, 200, 200)], ids=["black", "grey"])
def test_a_blank_picture_is_not_reported_as_having_no_near_duplicates(
    cli: RunCli, case: str, tmp_path: Path, colour: tuple[int, int, int]
) -> None:
    """Blank frames are never indexed nor queried, so a search made only of them compares
    nothing: it says so (exit 2) instead of "no near-duplicates", after the exact copies."""
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGB", (640, 360), colour).save(blank)
    r = cli("search", str(blank))
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"error: {blank}: near-duplicate search not possible: {UNINFORMATIVE}\n"
    assert cli("media", "add", case, str(blank)).exit_code == 0  # preserved and analysed
    r = cli("search", str(blank), "--json")
    assert r.exit_code == 2
    data = json.loads(r.stdout)
    assert (data["query"]["frames"], data["query"]["informative_frames"]) == (1, 0)
    assert [c["media"] for c in data["exact_copies"]] == [1]
    assert data["error"] == f"near-duplicate search not possible: {UNINFORMATIVE}"
    r = cli("search", "1")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == f"error: media 1: near-duplicate search not possible: {UNINFORMATIVE}\n"
    stored = json.loads(cli("search", "1", "--json").stdout)["query"]
    assert (stored["frames"], stored["informative_frames"]) == (1, 0)  # as for a file
