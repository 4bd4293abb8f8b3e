"""`verify media list`, `media show` and `media frames` without the ORM
(`verify.services.mediaread`): the same data as the ORM's reading of the same rows, on
SQLite (stdlib sqlite3 and SQLAlchemy Core) and PostgreSQL (Core). (That they import no
SQLModel on a SQLite archive: `test_caselist.test_reads_import_no_orm`.)"""

from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.clips import render as write_clip
from sqlmodel import col, select

from tests.conftest import RunCli, stdlib_reader
from tests.media import write_jpeg
from verify.analysis import hex64
from verify.archive import Archive
from verify.models import Blob, Case, Frame, Media
from verify.services import mediaread
from verify.timeutil import iso


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _orm_reading(archive: Archive, media_id: int) -> dict[str, Any]:
    """The media as the ORM reads its rows (the models' own conversions of times, booleans,
    JSON and bytes): the reference the plain-SQL reader must equal."""
    with archive.read() as session:
        media = session.get(Media, media_id)
        assert media is not None
        blob = session.get(Blob, media.blob_id)
        case = session.get(Case, media.case_id)
        assert blob is not None and case is not None
        frames = session.exec(
            select(Frame).where(Frame.blob_id == blob.id).order_by(col(Frame.idx))
        ).all()
        return {
            "id": media.id,
            "case": case.slug,
            "sha256": f"sha256:{blob.sha256}",
            "size": blob.size,
            "kind": blob.kind,
            "mime": blob.mime,
            "original_name": media.original_name,
            "label": media.label,
            "source_url": media.source_url,
            "platform": media.platform,
            "acquired_via": media.acquired_via,
            "acquired_by": media.acquired_by,
            "acquired_at": iso(media.acquired_at),
            "analysis": blob.analysis_state,
            "analysis_error": blob.analysis_error,
            "pipeline": blob.pipeline,
            "analysis_mode": blob.analysis_mode,
            "metadata": dict(blob.meta or {}),
            "frame_count": len(frames),
            "frames": [
                {
                    "index": f.idx,
                    "pts": round(f.pts, 6),
                    "phash": hex64(f.phash),
                    "dhash": hex64(f.dhash),
                    "phash_masked": None if f.phash_masked is None else hex64(f.phash_masked),
                    "dhash_masked": None if f.dhash_masked is None else hex64(f.dhash_masked),
                    "pdq": f.pdq.hex() if f.pdq is not None else None,
                    "pdq_quality": f.pdq_quality,
                    "informative": f.informative,
                    "scene_change": f.scene_change,
                }
                for f in frames
            ],
        }


def _same(got: Any, want: Any) -> bool:
    """Equal as JSON, types included (`True == 1` in Python, not in the output)."""
    return bool(orjson.dumps(got) == orjson.dumps(want))


@pytest.fixture
def filled(cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Media of every shape: a photo with EXIF (make, model, a capture time with a zone, a
    multi-line description), a clip with scene changes, a file whose analysis failed, and
    in a second case another clip as keyframes only (`--fast`) and the photo again."""
    monkeypatch.setenv("VERIFY_FAKE_NOW", "2023-05-23T09:30:00.250001+03:00")  # µs, a zone
    assert cli("case", "open", "Legion", "--slug", "legion").exit_code == 0
    assert cli("case", "open", "Other", "--slug", "other").exit_code == 0
    assert cli("case", "open", "Empty", "--slug", "empty").exit_code == 0
    photo = write_jpeg(
        tmp_path / "фото 1.jpg",
        exif={
            0x010F: "Canon",
            0x0110: "EOS «R»",
            0x010E: "line one\nline two",
            0x0132: "2023:05:22 18:01:02",
        },
    )
    clip = write_clip(tmp_path / "clip.mp4", seconds=4.0, fps=10, scene_len=2.0)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    r = cli(
        "media", "add", "legion", str(photo), str(clip), str(broken),
        "--source-url", "https://t.me/x/1", "--platform", "telegram", "--label", "a\nb",
    )  # fmt: skip
    assert r.stdout.split() == ["1", "2", "3"], r.stderr
    monkeypatch.delenv("VERIFY_FAKE_NOW")  # the real clock: microseconds vary
    other = write_clip(tmp_path / "other.mp4", seconds=4.0, fps=10, seed=1)
    assert cli("media", "add", "other", str(other), "--fast").stdout.split() == ["4"]
    assert cli("media", "add", "other", str(photo)).stdout.split() == ["5"]
    return [1, 2, 3, 4, 5]


def test_show_and_list_are_the_orms(archive: Archive, filled: list[int]) -> None:
    for media_id in filled:
        shown = mediaread.show_media(archive, str(media_id))
        stored = Path(shown.pop("stored"))
        assert shown.pop("in_store") is True
        assert stored == archive.store.path_for(shown["sha256"][7:]).absolute()
        assert _same(shown, _orm_reading(archive, media_id))
    shapes = {m: mediaread.show_media(archive, str(m)) for m in filled}
    assert shapes[1]["metadata"]["make"] == "Canon" and shapes[1]["frame_count"] == 1
    assert shapes[2]["frame_count"] > 2 and any(f["scene_change"] for f in shapes[2]["frames"])
    assert shapes[3]["analysis"] == "analysis_failed" and shapes[3]["frames"] == []
    assert shapes[4]["analysis_mode"] == "keyframes"
    assert shapes[1]["acquired_at"] == "2023-05-23T06:30:00.250001Z"
    for slug, ids in (("legion", [1, 2, 3]), ("other", [4, 5]), ("empty", [])):
        listed = mediaread.list_media(archive, slug)
        assert [m["id"] for m in listed] == ids
        for m in listed:
            want = {k: v for k, v in _orm_reading(archive, m["id"]).items() if k != "frames"}
            assert _same(m, want)


def test_stdlib_reader_gives_the_same(
    archive: Archive, home: Path, backend: str, filled: list[int]
) -> None:
    with stdlib_reader(home, backend) as readonly:
        for media_id in filled:
            want = mediaread.show_media(archive, str(media_id))
            assert _same(mediaread.show_media(readonly, str(media_id)), want)
        for slug in ("legion", "other", "empty"):
            assert _same(mediaread.list_media(readonly, slug), mediaread.list_media(archive, slug))


def test_a_copy_not_in_this_store_is_said(archive: Archive, filled: list[int]) -> None:
    shown = mediaread.show_media(archive, "1")
    Path(shown["stored"]).unlink()
    assert mediaread.show_media(archive, "1")["in_store"] is False


def test_references_and_errors(cli: RunCli, filled: list[int], archive: Archive) -> None:
    photo = mediaread.show_media(archive, "1")["sha256"]
    broken = mediaread.show_media(archive, "3")["sha256"]
    assert mediaread.show_media(archive, broken[:13])["id"] == 3  # sha256: and 6 digits
    r = cli("media", "show", photo[:13])  # held as media 1 and 5
    assert (r.exit_code, r.stderr) == (
        2,
        f"error: {photo[:13]} is held as several media (1, 5); use the media id instead\n",
    )
    r = cli("media", "show", "99")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no media 99; `verify media list CASE` shows media ids\n",
    )
    r = cli("media", "list", "nope")
    assert (r.exit_code, r.stderr) == (
        4,
        "error: no case 'nope'; `verify case list` shows the cases\n",
    )
    r = cli("media", "frames", "3")
    assert r.exit_code == 2 and r.stderr.startswith("error: media 3 has no sampled frames")
