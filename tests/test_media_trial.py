"""Defects a new-user trial found in media handling: HEIC frame export, truncated camera
JPEGs, GPS 0/0, VERIFY_FAKE_NOW and a --home that is a file."""

import json
import os
import stat
from pathlib import Path

import pytest
from PIL import Image
from pillow_heif import register_heif_opener

from tests.conftest import RunCli
from tests.media import write_jpeg
from tests.test_metadata import camera_exif
from verify.analysis.metadata import read_metadata
from verify.archive import open_archive
from verify.services.report import _gps

register_heif_opener()  # for writing the test HEIC here; the export child is its own process

SLUG = "trial"


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "Trial", "--slug", SLUG).exit_code == 0
    return SLUG


def _one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def _add(cli: RunCli, case: str, path: Path) -> dict[str, object]:
    r = cli("media", "add", case, str(path), "--json")
    out: dict[str, object] = json.loads(r.stdout)[0]
    return out


# ---------------------------------------------------------------------------- HEIC export


def test_heic_frames_export(cli: RunCli, case: str, tmp_path: Path) -> None:
    heic = tmp_path / "photo.heic"
    Image.new("RGB", (96, 64), "orange").save(heic, "HEIF")
    media = _add(cli, case, heic)["media"]
    out = tmp_path / "frames"
    r = cli("media", "frames", str(media), "--export", str(out), "--json")
    assert r.exit_code == 0, r.stderr
    written = json.loads(r.stdout)
    assert len(written) == 1
    with Image.open(written[0]["path"]) as im:
        assert (im.format, im.size) == ("JPEG", (96, 64))
    assert sorted(p.name for p in out.iterdir()) == [written[0]["name"]]  # no staging left


def test_heic_frames_export_corpus(cli: RunCli, case: str, tmp_path: Path, corpus: Path) -> None:
    media = _add(cli, case, corpus / "exif-samples/heic/IMG_5195.HEIC")["media"]
    r = cli("media", "frames", str(media), "--export", str(tmp_path / "out"), "--json")
    assert r.exit_code == 0, r.stderr
    assert len(json.loads(r.stdout)) == 1


def _corrupt_stored(home: Path, photo: Path) -> None:
    """Cut the archive's copy of `photo` so that decoding its pixels fails."""
    import hashlib

    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    stored = home / "objects" / "sha256" / sha[:2] / sha[2:]
    assert stored.is_file()
    data = stored.read_bytes()
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_bytes(data[: len(data) // 2])


def test_failed_export_leaves_nothing(cli: RunCli, case: str, tmp_path: Path, home: Path) -> None:
    photo = write_jpeg(tmp_path / "p.jpg", size=(320, 240))
    media = _add(cli, case, photo)["media"]
    _corrupt_stored(home, photo)
    created = tmp_path / "new"
    r = cli("media", "frames", str(media), "--export", str(created / "a" / "b"))
    assert r.exit_code == 3, r.stderr  # its bytes are no longer the recorded ones
    assert "it was altered or damaged; nothing was exported" in _one_error(r.stderr)
    assert not created.exists()  # every directory it made is gone
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    r = cli("media", "frames", str(media), "--export", str(existing))
    assert r.exit_code == 3
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]  # no staging, no frames


# ---------------------------------------------------------------------------- truncated JPEG


def test_truncated_camera_jpeg_keeps_its_metadata(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    whole = write_jpeg(tmp_path / "whole.jpg", size=(640, 480))
    with Image.open(whole) as im:
        im.save(tmp_path / "cam.jpg", "JPEG", quality=90, exif=camera_exif().tobytes())
    data = (tmp_path / "cam.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = cli("media", "add", case, str(cut))
    assert r.exit_code == 2
    shown = json.loads(cli("media", "show", r.stdout.strip(), "--json").stdout)
    assert (shown["kind"], shown["mime"]) == ("image", "image/jpeg")
    assert shown["analysis"] == "analysis_failed"
    assert shown["analysis_error"].startswith("truncated or corrupt image: ")
    assert str(home) not in shown["analysis_error"] and "objects" not in shown["analysis_error"]
    meta = shown["metadata"]
    assert (meta["make"], meta["model"]) == ("TestCam", "X100")
    assert meta["captured_at"] == "2023-05-23T10:15:00+03:00"
    assert meta["gps"]["lat"] == pytest.approx(50.45, abs=0.01)
    assert shown["frames"] == []
    text = cli("media", "show", str(shown["id"])).stdout
    assert "device:    TestCam X100" in text


def test_truncated_camera_jpeg_search_still_refused(cli: RunCli, case: str, tmp_path: Path) -> None:
    whole = write_jpeg(tmp_path / "whole.jpg", size=(640, 480), exif={0x010F: "TestCam"})
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[:5000])
    r = cli("search", str(cut))
    assert r.exit_code == 2
    assert "truncated or corrupt image" in _one_error(r.stderr)


def test_truncated_corpus_jpeg_keeps_its_metadata(cli: RunCli, case: str, corpus: Path) -> None:
    r = cli("media", "add", case, str(corpus / "pillow/ultrahdr.jpg"))
    assert r.exit_code == 2
    shown = json.loads(cli("media", "show", r.stdout.strip(), "--json").stdout)
    assert (shown["kind"], shown["mime"]) == ("image", "image/jpeg")
    assert shown["analysis_error"].startswith("truncated or corrupt image: image file is truncated")
    meta = shown["metadata"]
    assert (meta["make"], meta["model"]) == ("Google", "Pixel 6")
    assert meta["captured_at_raw"] == "2024:05:07 09:33:04"
    assert meta["gps"]["lat"] == pytest.approx(30.62765, abs=1e-4)
    assert meta["gps"]["lon"] == pytest.approx(119.738767, abs=1e-4)


# ---------------------------------------------------------------------------- GPS 0, 0


def _null_island_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (0.0, 0.0, 0.0)
    gps[3], gps[4] = "E", (0.0, 0.0, 0.0)
    return exif


def test_gps_zero_zero_is_a_placeholder(cli: RunCli, case: str, tmp_path: Path) -> None:
    photo = tmp_path / "zero.jpg"
    Image.new("RGB", (80, 60), "green").save(photo, "JPEG", exif=_null_island_exif().tobytes())
    _, _, meta = read_metadata(str(photo))
    assert meta["gps"] is None
    assert meta["gps_placeholder"] == {"lat": 0.0, "lon": 0.0, "alt": None}
    assert meta["raw"]["pillow"]["GPS:GPSLatitude"]  # the tags as written are kept
    media = _add(cli, case, photo)["media"]
    text = cli("media", "show", str(media)).stdout
    assert "gps:       - (0, 0 in the file" in text and "0.000000" not in text


def test_real_gps_has_no_placeholder(tmp_path: Path) -> None:
    photo = tmp_path / "cam.jpg"
    Image.new("RGB", (80, 60), "green").save(photo, "JPEG", exif=camera_exif().tobytes())
    _, _, meta = read_metadata(str(photo))
    assert meta["gps"] is not None and meta["gps_placeholder"] is None


def test_report_never_maps_zero_zero() -> None:
    # also what an earlier version stored as `gps`
    assert _gps({"gps": {"lat": 0.0, "lon": 0.0, "alt": None}}) is None
    assert _gps({"gps": None, "gps_placeholder": {"lat": 0.0, "lon": 0.0, "alt": None}}) is None
    located = _gps({"gps": {"lat": 0.0, "lon": 12.5, "alt": None}})
    assert located is not None and "openstreetmap" in located["map_url"]


def test_gps_zero_zero_corpus_video(cli: RunCli, case: str, corpus: Path) -> None:
    media = _add(cli, case, corpus / "metadata-extractor-images/mp4/ftyp3gp5.mp4")["media"]
    shown = json.loads(cli("media", "show", str(media), "--json").stdout)
    assert shown["metadata"]["gps"] is None
    assert shown["metadata"]["gps_placeholder"]["lat"] == 0


# ---------------------------------------------------------------------------- environment


def test_bad_fake_now_names_the_variable(
    cli: RunCli, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERIFY_FAKE_NOW", "garbage")
    r = cli("note", "add", case, "hi")
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        "error: VERIFY_FAKE_NOW must be an ISO 8601 date-time, e.g. 2024-05-01T12:00:00Z; "
        "got 'garbage'"
    )


def test_home_that_is_a_file(cli: RunCli, tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    r = cli("--home", str(f), "case", "list")
    assert r.exit_code == 2
    assert _one_error(r.stderr) == (
        f"error: the archive home {f} is not a directory; choose another with --home or VERIFY_HOME"
    )
    with pytest.raises(Exception, match="not a directory"):
        open_archive(f, create=False)
