"""The analysis sandbox: any failure of a parser becomes one AnalysisError line, fast.

Hostile inputs (G2/G3 in shared/research/reliability-anchors.md) are built here; the real
corpus (`corpus` fixture) is compared with exiftool's reading through the sandbox.
"""

import csv
import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.test_metadata import APPLE_TAGS, camera_exif, make_video, png_bomb, save_image
from verify.analysis import PIPELINE, AnalysisResult, FrameHash, sandbox
from verify.analysis.metadata import NORMALISED_KEYS, parse_iso6709, read_metadata
from verify.analysis.sandbox import (
    AnalysisPool,
    _child_env,
    _wait_exit,
    analyse_in_child,
    analyse_many,
    limits,
    parse_size,
    result_from_json,
    run_in_child,
    warm_pools,
)
from verify.errors import AnalysisError, BadInputError

REPO = Path(__file__).resolve().parent.parent
READ = "verify.analysis.metadata:read_metadata"
DECODE = "tests.sandbox_targets:metadata_and_decode"
T = "tests.sandbox_targets:"


@pytest.fixture(autouse=True)
def _child_finds_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child imports `tests.sandbox_targets` from the repository, wherever pytest runs."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("VERIFY_ANALYSIS_TIMEOUT", raising=False)
    monkeypatch.delenv("VERIFY_ANALYSIS_MEMORY", raising=False)


def fails(target: str, path: Path | str, **kwargs: Any) -> tuple[str, float]:
    """Run `target` in the sandbox expecting AnalysisError; (reason, seconds)."""
    start = time.monotonic()
    with pytest.raises(AnalysisError) as err:
        run_in_child(target, str(path), **kwargs)
    elapsed = time.monotonic() - start
    reason = str(err.value)
    assert "\n" not in reason and "Traceback" not in reason and reason == reason.strip()
    assert elapsed < 10, f"{reason!r} took {elapsed:.1f} s"
    return reason, elapsed


# ---------------------------------------------------------------------------- hostile input


def makernote_bomb_tiff(count: int = 2**32 - 1, size: int = 120) -> bytes:
    """G2: 120-byte little-endian TIFF: IFD0 -> ExifOffset -> MakerNote (type 7) with `count`."""
    data = b"II*\x00" + struct.pack("<I", 8)
    data += struct.pack("<H", 1) + struct.pack("<HHII", 0x8769, 4, 1, 26) + struct.pack("<I", 0)
    data += struct.pack("<H", 1) + struct.pack("<HHII", 0x927C, 7, count, 44) + struct.pack("<I", 0)
    return data + bytes(size - len(data))


def with_app1(jpeg: bytes, tiff: bytes) -> bytes:
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpeg[:2] + app1 + jpeg[2:]


@pytest.fixture(scope="module")
def gigapixel_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(png_bomb(40_000, 40_000))
    return path


def test_png_bomb(gigapixel_png: Path) -> None:
    assert 150_000 < gigapixel_png.stat().st_size < 250_000  # ~194 KB declaring 1.6 gigapixels
    reason, _ = fails(READ, gigapixel_png)
    assert reason == "decompression bomb: 1600000000 pixels exceeds the limit"


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert fails(READ, empty)[0] == "empty file (0 bytes): nothing to analyse"


def test_truncated_mp4(tmp_path: Path) -> None:
    path = make_video(tmp_path / "t.mp4", "mp4", frames=20)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    reason, _ = fails(READ, path)
    assert reason == "truncated or corrupt video: Invalid data found when processing input"


def test_makernote_count_bomb_bare_tiff(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tif"
    path.write_bytes(makernote_bomb_tiff())
    assert path.stat().st_size == 120
    reason, _ = fails(READ, path)
    assert reason == "not a media file we can read: image header not recognised by Pillow"


def test_makernote_count_bomb_in_a_real_jpeg_is_skipped_fast(tmp_path: Path) -> None:
    """The same EXIF inside a decodable JPEG: Pillow skips the tag, exifread runs with
    details=False (no MakerNote loop), so the photo is read, quickly."""
    path = tmp_path / "mn.jpg"
    plain = save_image(tmp_path / "plain.jpg", "JPEG").read_bytes()
    path.write_bytes(with_app1(plain, makernote_bomb_tiff()))
    start = time.monotonic()
    kind, mime, meta = run_in_child(READ, str(path))
    assert time.monotonic() - start < 10
    assert (kind, mime) == ("image", "image/jpeg")
    assert meta["raw"]["pillow"]["_warning0"] == "Tag data larger than file. Skipping tag 37500"


def test_exifread_makernote_loop_is_contained(tmp_path: Path) -> None:
    """ExifRead's own MakerNote loop (exif-py #182, open) on the bomb: linear in 2**32-1.
    The sandbox stops it by memory or wall clock, whichever comes first."""
    path = tmp_path / "mn.jpg"
    plain = save_image(tmp_path / "plain.jpg", "JPEG").read_bytes()
    path.write_bytes(with_app1(plain, makernote_bomb_tiff()))
    reason, _ = fails(T + "exifread_details", path, timeout=3, memory=512 << 20)
    assert reason in ("timed out after 3 s", "out of memory (limit 512 MiB)")


def test_segfault_in_child(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    assert fails(T + "segfault", path)[0] == "crashed (signal SIGSEGV)"


def test_hang_past_timeout_is_killed(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    reason, elapsed = fails(T + "sleep", path, timeout=1.5)
    assert reason == "timed out after 1.5 s"
    assert 1.4 < elapsed < 5


def test_timeout_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    monkeypatch.setenv("VERIFY_ANALYSIS_TIMEOUT", "1")
    assert fails(T + "spin", path)[0] == "timed out after 1 s"


def test_memory_limit(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    assert fails(T + "hog_memory", path, memory=1 << 30)[0] == "out of memory (limit 1 GiB)"


def test_memory_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    monkeypatch.setenv("VERIFY_ANALYSIS_MEMORY", "768M")
    assert fails(T + "hog_memory", path)[0] == "out of memory (limit 768 MiB)"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_child_inherits_no_handles(tmp_path: Path, archive: Any, home: Path) -> None:
    """The CLI's open database (and any other descriptor) never reaches a parser."""
    path = save_image(tmp_path / "a.jpg", "JPEG")
    secret = tmp_path / "held-open.txt"
    secret.write_text("not for parsers")
    with open(secret, "rb"):
        single = run_in_child(T + "open_fds", str(path))
        with AnalysisPool(T + "open_fds") as pool:
            pooled = pool.run(str(path))
    for targets in (single, pooled):
        assert not [t for t in targets if t == str(secret) or t.startswith(str(home))], targets
        assert not [t for t in targets if t.endswith((".jpg", ".db", ".sqlite"))], targets


def test_exit_without_result_and_nonzero_exit(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    assert fails(T + "exit_quietly", path)[0] == "analysis process returned no valid result"
    assert fails(T + "exit_quietly", path, status=3)[0] == (
        "analysis process failed (exit status 3)"
    )


def test_unexpected_exception_is_one_line(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    assert fails(T + "raise_value_error", path)[0] == (
        "analysis failed: ValueError: line one line two"
    )


def test_stdout_noise_does_not_corrupt_the_reply(tmp_path: Path) -> None:
    path = save_image(tmp_path / "a.jpg", "JPEG")
    assert run_in_child(T + "chatty", str(path)) == {
        "size": path.stat().st_size,
        "bytes": "00ff",
        "tuple": [1, 2],
    }


def test_sandboxed_read_equals_in_process_read(tmp_path: Path) -> None:
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    clip = make_video(tmp_path / "b.mov", "mov", rotation=-90, tags=APPLE_TAGS)
    for path in (photo, clip):
        expected = json.loads(json.dumps(list(read_metadata(str(path)))))
        assert run_in_child(READ, str(path)) == expected


def test_bad_limits_are_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERIFY_ANALYSIS_MEMORY", "lots")
    with pytest.raises(BadInputError, match="VERIFY_ANALYSIS_MEMORY must be a size"):
        sandbox.limits()
    monkeypatch.setenv("VERIFY_ANALYSIS_MEMORY", "2G")
    monkeypatch.setenv("VERIFY_ANALYSIS_TIMEOUT", "soon")
    with pytest.raises(BadInputError, match="VERIFY_ANALYSIS_TIMEOUT must be a number"):
        sandbox.limits()
    monkeypatch.setenv("VERIFY_ANALYSIS_TIMEOUT", "30")
    assert sandbox.limits() == sandbox.Limits(timeout=30.0, memory=2 << 30)
    assert sandbox.limits().cpu_seconds == 91
    assert (parse_size("512M"), parse_size("1.5GiB"), parse_size("1048576")) == (
        512 << 20,
        3 << 29,
        1 << 20,
    )


# ---------------------------------------------------------------------------- analyse_in_child


def test_analyse_in_child_rebuilds_dataclasses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "ANALYSE_TARGET", T + "analyse_with_stub_frames")
    path = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    result = analyse_in_child(str(path), fast=True)
    assert isinstance(result, AnalysisResult)
    assert (result.kind, result.mime, result.pipeline) == ("image", "image/jpeg", PIPELINE)
    assert result.meta["make"] == "TestCam"
    assert result.frames == [
        FrameHash(
            idx=0,
            pts=0.0,
            phash=0xFFEE000000000001,
            dhash=0,
            pdq=bytes(range(32)),
            pdq_quality=100,
            informative=True,
            scene_change=True,
        ),
        FrameHash(idx=1, pts=1.5, phash=0x8000000000000000, dhash=5, informative=False),
    ]


def test_analyse_in_child_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "ANALYSE_TARGET", T + "analyse_with_stub_frames")
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    with pytest.raises(AnalysisError, match=r"^empty file \(0 bytes\): nothing to analyse$"):
        analyse_in_child(str(empty))


def _nested(levels: int) -> Any:
    value: Any = "deep"
    for _ in range(levels):
        value = [value]
    return value


def test_real_metadata_depth_passes() -> None:
    """The depth limit leaves room: a few levels of nesting, as metadata has, is accepted."""
    payload = _good_payload()
    payload["meta"]["raw"].update(x=_nested(25))
    assert result_from_json(payload).meta["raw"]["x"] == _nested(25)


def _good_payload() -> dict[str, Any]:
    meta: dict[str, Any] = dict.fromkeys(NORMALISED_KEYS)
    meta.update(raw={}, disagreements=[])
    frames = [{"idx": 0, "pts": 0, "phash": 1, "dhash": 2}]
    return {"kind": "image", "mime": "image/png", "meta": meta, "pipeline": "v1", "frames": frames}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.update(kind="pdf"), "kind 'pdf'"),
        (lambda p: p["meta"].pop("gps"), "meta lacks gps"),
        (lambda p: p["meta"].update(rotation=45), "rotation 45"),
        (lambda p: p["meta"].update(gps={"lat": "north"}), "gps"),
        (lambda p: p.update(frames={}), "frames is not a list"),
        (lambda p: p["frames"][0].update(phash=-1), "frame 0 phash is not an unsigned 64-bit"),
        (lambda p: p["frames"][0].update(phash=1 << 64), "frame 0 phash is not an unsigned 64-bit"),
        (lambda p: p["frames"][0].update(pdq="abcd"), "frame 0 pdq is not 32 bytes of hex"),
        (lambda p: p["frames"][0].update(informative="yes"), "frame 0 flags"),
        (lambda p: p["meta"]["raw"].update(x=_nested(40)), "metadata nested too deeply"),
    ],
)
def test_result_shape_is_validated(mutate: Callable[[dict[str, Any]], Any], message: str) -> None:
    payload = _good_payload()
    assert result_from_json(payload).frames[0] == FrameHash(idx=0, pts=0.0, phash=1, dhash=2)
    mutate(payload)
    with pytest.raises(
        AnalysisError, match="analysis returned an invalid result: " + re.escape(message)
    ):
        result_from_json(payload)


# ---------------------------------------------------------------------------- pool


def test_pool_isolates_every_file(tmp_path: Path) -> None:
    """One fork server, a fresh limited child per file: a crash, a hang or a memory hog
    fails that file only, and the next file is read normally."""
    names = ["good1.jpg", "segv.jpg", "good2.jpg", "hang.jpg", "oom.jpg", "exit.jpg", "good3.jpg"]
    for name in names:
        save_image(tmp_path / name, "JPEG", exif=camera_exif())
    outcomes: list[str] = []
    with AnalysisPool(T + "by_name", timeout=4, memory=1 << 30) as pool:
        for name in names:
            start = time.monotonic()
            try:
                kind, _, meta = pool.run(str(tmp_path / name))
                outcomes.append(f"{kind} {meta['make']}")
            except AnalysisError as exc:
                outcomes.append(str(exc))
            assert time.monotonic() - start < 10
    assert outcomes == [
        "image TestCam",
        "crashed (signal SIGSEGV)",
        "image TestCam",
        "timed out after 4 s",
        "out of memory (limit 1 GiB)",
        "analysis process failed (exit status 3)",
        "image TestCam",
    ]


def test_pool_results_equal_single_child(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "b.mov", "mov", rotation=-90, tags=APPLE_TAGS)
    with AnalysisPool(READ) as pool:
        assert pool.run(str(clip)) == run_in_child(READ, str(clip))


def test_analyse_many_in_order_with_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "ANALYSE_TARGET", T + "analyse_with_stub_frames")
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    clip = make_video(tmp_path / "b.mov", "mov", rotation=-90, tags=APPLE_TAGS)
    out = list(analyse_many([str(photo), str(empty), str(clip)], fast=True))
    assert [p for p, _ in out] == [str(photo), str(empty), str(clip)]
    first, second, third = (r for _, r in out)
    assert isinstance(first, AnalysisResult) and first.meta["make"] == "TestCam"
    assert first.frames[0].scene_change is True  # fast=True reached the target
    assert isinstance(second, AnalysisError)
    assert str(second) == "empty file (0 bytes): nothing to analyse"
    assert isinstance(third, AnalysisResult) and third.meta["rotation"] == 90


def test_analyse_many_uses_and_closes_warm_pools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pools started early (`media add` starts them before its own imports) do the work,
    no other pool is made, and every server is gone afterwards."""
    monkeypatch.setattr(sandbox, "ANALYSE_TARGET", T + "analyse_with_stub_frames")
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    clip = make_video(tmp_path / "b.mov", "mov", rotation=-90, tags=APPLE_TAGS)
    pools = warm_pools(2)
    servers = [pool._proc for pool in pools]
    assert all(s is not None and s.poll() is None for s in servers)

    def no_new_pool(*args: object, **kwargs: object) -> AnalysisPool:
        raise AssertionError("analyse_many made a pool of its own")

    monkeypatch.setattr(sandbox, "AnalysisPool", no_new_pool)
    out = dict(analyse_many([str(photo), str(clip)], workers=2, pools=pools))
    assert all(isinstance(r, AnalysisResult) for r in out.values())
    assert all(s is not None and s.poll() is not None for s in servers)


def test_unused_warm_pools_are_closed_by_the_caller() -> None:
    pools = warm_pools(1)
    server = pools[0]._proc
    assert server is not None and server.poll() is None
    pools[0].close()
    assert server.poll() is not None


# ---------------------------------------------------------------------------- real corpus


def inventory(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "inventory.csv", newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["kind"] in ("image", "video")]


@pytest.mark.corpus
def test_corpus_corrupt_files(corpus: Path) -> None:
    """The corpus files its inventory marks as corrupt or frame-less.

    `exif-samples/jpg/corrupted.jpg` is *not* on this list: exif-py's fixture is damaged in a
    way Pillow and exiftool both read through (EXIF and pixels decode), so it is valid evidence.
    """
    reason, _ = fails(
        READ, corpus / "near-duplicates/imagededup-ukbench/mixed_images/ukbench09268_corrupt.jpg"
    )
    assert reason == "not a media file we can read: unrecognised content (starts 38f2af67ceb1c772)"
    # jcodec's metadata-only stub: its container reads, no frame decodes.
    stub = corpus / "jcodec/metaedit/keyed.mp4"
    kind, _, meta = run_in_child(READ, str(stub))
    assert (kind, meta["rotation"], meta["gps"]["lat"]) == ("video", 90, 33.9951)
    assert fails(DECODE, stub)[0].startswith("truncated or corrupt video: ")
    kind, _, meta = run_in_child(DECODE, str(corpus / "exif-samples/jpg/corrupted.jpg"))
    assert (kind, meta["make"], meta["model"]) == ("image", "OLYMPUS IMAGING CORP.", "u1020,S1020")


_DT = re.compile(
    r"(\d{4})[:-](\d\d)[:-](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?"
)


def _when(text: str | None) -> tuple[datetime, datetime | None] | None:
    """(wall clock, instant if a zone is written) of "2019:07:24 08:25:57[.123][Z|+03:00]"."""
    m = _DT.search(text or "")
    if m is None or m.group(1) == "0000":
        return None
    try:
        wall = datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:
        return None
    zone = m.group(7)
    if not zone:
        return wall, None
    if zone == "Z":
        return wall, wall.replace(tzinfo=UTC)
    zone = zone.replace(":", "")
    delta = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return wall, wall.replace(tzinfo=timezone(delta if zone[0] == "+" else -delta))


def _same_time(expected: tuple[datetime, datetime | None], ours: Any) -> bool:
    got = _when(ours)
    if got is None:
        return False
    if expected[1] is not None and got[1] is not None:
        return abs((expected[1] - got[1]).total_seconds()) < 1
    return expected[0] == got[0]


def _norm(text: str | None) -> str | None:
    return " ".join(text.split()).casefold() if text else None


def _inventory_gps(text: str) -> tuple[float, float] | None:
    m = re.match(r"^\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)", text)
    if m:
        return float(m.group(1)), float(m.group(2))
    gps = parse_iso6709(text)
    return (
        (gps["lat"], gps["lon"])
        if gps and gps["lat"] is not None and gps["lon"] is not None
        else None
    )


def compare_with_exiftool(
    row: dict[str, str], meta: dict[str, Any] | None
) -> Iterator[tuple[str, str, str, bool]]:
    """(field, exiftool, ours, agree) for make, model, capture time and GPS where exiftool
    has a value. Capture time: DateTimeOriginal, else CreateDate (for video the QuickTime
    CreateDate, UTC, compared with our container creation_time: the same field). GPS: the
    inventory holds exiftool's GPS:GPSLatitude/Longitude under -n, which are unsigned (the
    hemisphere is in the Ref tags), so magnitudes are compared."""
    meta = meta or {}
    video = row["kind"] == "video"
    for field in ("make", "model"):
        if row[field]:
            yield (
                field,
                row[field],
                str(meta.get(field)),
                _norm(row[field]) == _norm(meta.get(field)),
            )
    expected = _when(row["datetime_original"])
    source, ours = row["datetime_original"], meta.get("captured_at") or meta.get("captured_at_raw")
    if expected is None:
        expected, source = _when(row["create_date"]), row["create_date"]
        if video and expected is not None:
            expected = (expected[0], expected[1] or expected[0].replace(tzinfo=UTC))
            ours = meta.get("creation_time")
    if expected is not None:
        yield "time", source, str(ours), _same_time(expected, ours)
    if row["has_gps"] == "Y" and _inventory_gps(row["gps"]):
        lat, lon = _inventory_gps(row["gps"])  # type: ignore[misc]
        gps = meta.get("gps") or meta.get("gps_placeholder")  # 0,0 is kept aside as a placeholder
        ok = (
            gps is not None
            and abs(abs(gps["lat"]) - abs(lat)) <= 1e-4
            and abs(abs(gps["lon"]) - abs(lon)) <= 1e-4
        )
        ours_gps = f"{gps['lat']:.6f},{gps['lon']:.6f}" if gps else "None"
        yield "gps", row["gps"], ours_gps, ok


def _image_extras(row: dict[str, str], meta: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """EXIF Orientation as written, and the size: exiftool's is as stored (HEIF: before the
    container's rotation), ours upright, so the pair is compared in either order."""
    if row["exif_orientation"] not in ("", "0"):
        yield (
            "orientation",
            row["exif_orientation"],
            meta["orientation"] == int(row["exif_orientation"]),
        )
    if row["width"] and row["height"]:
        w, h = int(row["width"]), int(row["height"])
        yield "size", f"{w}x{h}", (meta["width"], meta["height"]) in ((w, h), (h, w))


@pytest.mark.corpus
def test_corpus_metadata_agrees_with_exiftool(corpus: Path) -> None:
    rows = inventory(corpus)

    local = threading.local()
    pools: list[AnalysisPool] = []

    def read(row: dict[str, str]) -> tuple[dict[str, str], dict[str, Any] | None, str | None]:
        if not hasattr(local, "pool"):
            local.pool = AnalysisPool(READ, timeout=30)
            pools.append(local.pool)
        try:
            _, _, meta = local.pool.run(str(corpus / row["path"]))
            return row, meta, None
        except AnalysisError as exc:
            return row, None, str(exc)

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=2) as executor:
            results = list(executor.map(read, rows))
    finally:
        for pool in pools:
            pool.close()
    elapsed = time.monotonic() - start

    totals = {f: [0, 0] for f in ("make", "model", "time", "gps")}
    mismatches: list[str] = []
    failures = [(row["path"], err) for row, _, err in results if err]
    for row, meta, err in results:
        for field, theirs, ours, ok in compare_with_exiftool(row, meta):
            totals[field][1] += 1
            totals[field][0] += ok
            if not ok:
                note = f" ({err})" if err else ""
                mismatches.append(f"| {row['path']} | {field} | {theirs} | {ours}{note} |")
        if row["kind"] == "image" and meta is not None:
            for field, theirs, ok in _image_extras(row, meta):
                totals.setdefault(field, [0, 0])[1] += 1
                totals[field][0] += ok
                if not ok:
                    ours = meta["orientation"] if field == "orientation" else meta["width"]
                    mismatches.append(f"| {row['path']} | {field} | {theirs} | {ours} |")
        if row["kind"] == "video" and meta is not None:
            # ffprobe's display-matrix angle is counter-clockwise; ours is clockwise.
            expected_rotation = (-int(row["rotation"] or 0)) % 360
            ok = meta["rotation"] == expected_rotation
            totals.setdefault("rotation", [0, 0])[1] += 1
            totals["rotation"][0] += ok
            if not ok:
                mismatches.append(
                    f"| {row['path']} | rotation | {row['rotation']} | {meta['rotation']} |"
                )
    table = "\n".join(
        [
            f"corpus: {len(rows)} files through the sandbox in {elapsed:.1f} s",
            *(f"{f}: {a}/{b} agree ({100 * a / b:.1f}%)" for f, (a, b) in totals.items() if b),
            "| file | field | exiftool | verify |",
            "|---|---|---|---|",
            *mismatches,
            *(f"analysis failed: {p}: {e}" for p, e in failures),
        ]
    )
    print(table, file=sys.stderr)
    for agree, total in totals.values():
        assert total > 0 and agree / total >= 0.95, table
    # Only the two files that are not media we read fail: ukbench's corrupt JPEG (random
    # bytes) and the JPEG XL sample (no reader yet).
    assert sorted(p for p, _ in failures) == [
        "immich-test-assets/formats/jxl/8bit-sRGB.jxl",
        "near-duplicates/imagededup-ukbench/mixed_images/ukbench09268_corrupt.jpg",
    ], table


def test_video_mutants_fail_cleanly(tmp_path: Path) -> None:
    """G1-style: truncations and byte flips of a generated MP4, metadata + full decode in the
    pool. Every file either reads or fails with one known-shaped line, each within 10 s."""
    import random

    seed = make_video(tmp_path / "seed.mp4", "mp4", rotation=-90, tags=APPLE_TAGS, frames=24)
    data = seed.read_bytes()
    rng = random.Random(1234)
    mutants = [data[:cut] for cut in (0, 8, 64, 406, 1024, len(data) // 3, len(data) - 10)]
    for _ in range(50):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 64)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        mutants.append(bytes(flipped))
    known = (
        "empty file",
        "not a media file",
        "truncated or corrupt",
        "analysis failed: ",
        "crashed (signal",
    )
    reasons: list[str] = []
    with AnalysisPool(DECODE, timeout=10) as pool:
        for i, blob in enumerate(mutants):
            path = tmp_path / f"m{i:03d}"
            path.write_bytes(blob)
            start = time.monotonic()
            try:
                pool.run(str(path))
            except AnalysisError as exc:
                reasons.append(str(exc))
            assert time.monotonic() - start < 10
    assert reasons, "some mutants must fail"
    for reason in reasons:
        assert "\n" not in reason and reason.startswith(known), reason


@pytest.mark.corpus
def test_corpus_c2pa_manifests(corpus: Path) -> None:
    """Needs the optional c2pa-python; the corpus's signed fixtures, valid and broken."""
    pytest.importorskip("c2pa", reason="optional extra c2pa-python not installed")
    base = corpus / "c2pa-python"
    with AnalysisPool(READ) as pool:
        summaries = {
            name: pool.run(str(base / name))[2]["c2pa"]
            for name in (
                "A.jpg",
                "C.jpg",
                "video1.mp4",
                "files-for-reading-tests/XCA.jpg",
                "files-for-reading-tests/E-sig-CA.jpg",
            )
        }
    assert summaries["A.jpg"] is None  # unsigned camera baseline
    assert summaries["C.jpg"] == {
        "state": "valid",  # signature fine, but the test CA is on no trust list
        "claim_generator": "make_test_images/0.26.0 c2pa-rs/0.26.0",
        "signer": "C2PA Signer",
        "issuer": "C2PA Test Signing Cert",
        "signed_at": "2023-09-29T17:40:14+00:00",
        "failures": ["signingCredential.untrusted"],
    }
    assert summaries["video1.mp4"]["state"] == "valid"
    assert summaries["files-for-reading-tests/XCA.jpg"]["state"] == "invalid"
    assert "assertion.dataHash.mismatch" in summaries["files-for-reading-tests/XCA.jpg"]["failures"]
    assert (
        "claimSignature.mismatch" in summaries["files-for-reading-tests/E-sig-CA.jpg"]["failures"]
    )


def test_a_thread_that_cannot_start_is_out_of_memory() -> None:
    """Threads' stacks count against the address-space limit: Python's "can't start new
    thread" is reported as out of memory, naming the limit."""
    from verify.analysis.worker import describe

    reason = describe(RuntimeError("can't start new thread"), 300 << 20)
    assert reason == "out of memory (limit 300 MiB): could not start a thread"
    assert describe(RuntimeError("other"), 300 << 20) == "analysis failed: RuntimeError: other"


# Set in every test of this file (and so inherited by the servers and children they start):
# `_running` counts only processes carrying it, not those of tests running at the same time in
# another worker (`make test` runs test files in parallel) that use the same targets.
_RUN_TOKEN = f"VERIFY_TEST_RUN={uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _run_token(monkeypatch: pytest.MonkeyPatch) -> None:
    name, value = _RUN_TOKEN.split("=")
    monkeypatch.setenv(name, value)


def _running(marker: str) -> list[int]:
    """Live processes of this test file whose command line names `marker` (servers and the
    children they forked carry the server's command line)."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read()
            if marker.encode() not in cmdline:
                continue
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if _RUN_TOKEN.encode() in environ and state != "Z":
            found.append(int(entry))
    return found


def _assert_stopped(servers: list[Any]) -> None:
    """Every server has exited, and no `slow_analysis` server or child is left (within 5 s:
    a killed child is reaped by the init process, not at once)."""
    assert all(s is not None and s.poll() is not None for s in servers)
    deadline = time.monotonic() + 5
    while _running("sandbox_targets:slow_analysis") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running("sandbox_targets:slow_analysis") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; pdeathsig")
def test_stopping_analyse_many_stops_what_runs(tmp_path: Path) -> None:
    """Ctrl-C (here: an exception from a signal handler) while files are analysed: the
    servers and the children analysing are killed at once, not left to finish (or to the
    timeout), and nothing is left running."""
    import signal

    target = T + "slow_analysis"  # each analysis takes 30 s
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    pools = [AnalysisPool(target, timeout=60).start() for _ in range(2)]
    servers = [pool._proc for pool in pools]

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    old = signal.signal(signal.SIGALRM, interrupt)
    start = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        with pytest.raises(Interrupted):
            list(analyse_many([str(f), str(f), str(f)], workers=2, pools=pools))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - start < 15  # not the 30 s the analyses would take
    _assert_stopped(servers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; pdeathsig")
def test_analysis_dies_with_the_command(tmp_path: Path) -> None:
    """A command killed outright (SIGKILL: no clean-up runs) leaves no analysis behind: the
    server dies with it, and the child analysing dies with the server."""
    import os
    import signal
    import subprocess

    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from verify.analysis.sandbox import AnalysisPool\n"
        "p = AnalysisPool('tests.sandbox_targets:' + 'sleep', timeout=60).start()\n"
        "p.run(sys.argv[2])\n"
    )
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", script, root, str(f)])
    deadline = time.monotonic() + 20
    while len(_running("sandbox_targets:sleep")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the server and the child it forked for the file
    assert len(_running("sandbox_targets:sleep")) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while _running("sandbox_targets:sleep") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running("sandbox_targets:sleep") == []


# ---------------------------------------------------------------------------- server start-up


def _server(target: str, stdin: int = subprocess.PIPE) -> "subprocess.Popen[bytes]":
    lim = limits(20, 1 << 30)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verify.analysis.worker",
            "--serve",
            target,
            str(lim.memory),
            str(lim.cpu_seconds),
            repr(lim.timeout),
        ],
        stdin=stdin,
        stdout=subprocess.PIPE,
        env=_child_env(),
    )


def test_a_waiting_request_is_served_before_the_warm_up(tmp_path: Path) -> None:
    """`media add`: the request is waiting when the server has imported what analysis
    needs, so its child is forked at once, without the rest of the warm-up; that runs while
    the second file's child parses, and the third file's child has it."""
    photo = save_image(tmp_path / "a.jpg", "JPEG")
    read_end, write_end = os.pipe()
    os.write(write_end, (json.dumps({"path": str(photo)}).encode() + b"\n") * 3)
    os.close(write_end)  # the requests wait in the pipe before the server even starts
    server = _server(T + "warmed_up", stdin=read_end)
    os.close(read_end)
    assert server.stdout is not None
    try:
        replies = [json.loads(server.stdout.readline()) for _ in range(3)]
    finally:
        server.kill()
        server.wait()
    assert [r["result"] for r in replies] == [False, False, True]


def test_an_idle_server_warms_up_before_the_first_request(tmp_path: Path) -> None:
    photo = save_image(tmp_path / "a.jpg", "JPEG")
    server = _server(T + "warmed_up")
    assert server.stdin is not None and server.stdout is not None
    try:
        deadline = time.monotonic() + 20
        # past its check for a waiting request once it maps pillow-heif (a warm-up import)
        while "pillow_heif" not in _maps(server.pid):
            if time.monotonic() > deadline:
                pytest.fail("the server did not get to its warm-up within 20 s")
            time.sleep(0.05)
        server.stdin.write(json.dumps({"path": str(photo)}).encode() + b"\n")
        server.stdin.flush()
        reply = json.loads(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
    assert reply["result"] is True


def _maps(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return ""


def _fork_in_process(path: Path, meanwhile: Callable[[], object], timeout: float) -> Any:
    from verify.analysis import analyse_file
    from verify.analysis.worker import _fork_one

    reply_fd = os.open(os.devnull, os.O_WRONLY)
    try:
        # no limits in the child: it is a copy of this test process, whatever its size
        return _fork_one(analyse_file, {"path": str(path)}, reply_fd, 0, 0, timeout, meanwhile)
    finally:
        os.close(reply_fd)


def test_a_failing_warm_up_does_not_fail_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm-up that runs while a child parses only saves time: if it fails, the file's
    reply is the child's."""
    from verify.analysis import worker

    def broken() -> None:
        raise OSError("no temporary directory")

    monkeypatch.setattr(worker, "_warm_up_call", broken)
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    reply = _fork_in_process(photo, worker._warm_rest, 20.0)
    assert reply["ok"] is True and reply["result"]["kind"] == "image"


def test_a_reply_waiting_at_the_deadline_is_not_a_timeout(tmp_path: Path) -> None:
    """A warm-up that outlasts the file's time (a loaded machine, a short timeout) while the
    child finished: the reply counts."""
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())

    def outlast() -> None:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)  # the child has finished (not reaped)
        time.sleep(1.5)  # past the 1 s deadline

    reply = _fork_in_process(photo, outlast, 1.0)
    assert reply.get("ok") is True, reply


def test_wait_exit_ends_when_the_process_does() -> None:
    quick = subprocess.Popen([sys.executable, "-c", "pass"])
    assert _wait_exit(quick, 10.0) and quick.returncode == 0
    assert _wait_exit(quick, 10.0)  # already reaped
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        start = time.monotonic()
        assert not _wait_exit(slow, 0.2)
        assert time.monotonic() - start < 5 and slow.returncode is None
    finally:
        slow.kill()
        slow.wait()


def test_closing_a_pool_does_not_wait_for_its_start_up() -> None:
    """A command that fails before analysing anything (an unknown case) closes the servers
    it started early: one still importing is killed, not waited for."""
    pool = AnalysisPool("tests.slow_import_target:analyse").start()
    server = pool._proc
    assert server is not None
    time.sleep(0.2)
    start = time.monotonic()
    pool.close()
    assert time.monotonic() - start < 3.0
    assert server.returncode == -signal.SIGKILL  # killed while importing, not exited


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_closing_analyses_with_work_left_stops_it(tmp_path: Path) -> None:
    """`Analyses.close` before every result was taken (a write failed while files were
    still being analysed): what runs is killed at once, what waits never starts, and every
    server is gone."""
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    pools = [AnalysisPool(T + "slow_analysis", timeout=60).start() for _ in range(2)]
    servers = [pool._proc for pool in pools]
    batch = sandbox.Analyses(workers=2, pools=pools)
    for _ in range(3):
        batch.submit(str(f))
    time.sleep(1.0)  # both servers have a child analysing
    start = time.monotonic()
    batch.close()
    assert time.monotonic() - start < 10  # not the 30 s an analysis takes
    _assert_stopped(servers)
    assert list(batch) == []


def test_a_stopped_pool_starts_no_server_again(tmp_path: Path) -> None:
    """`AnalysisPool.stop` (what `Analyses.close` does to every pool, from another thread
    than the one running it): the server is killed, and a `run` after it, which would
    otherwise start a new server and analyse the file in full, is an AnalysisError at once."""
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    pool = AnalysisPool(T + "slow_analysis", timeout=60).start()
    server = pool._proc
    assert server is not None
    pool.stop()
    start = time.monotonic()
    for _ in range(2):  # the killed server seen dying, then found dead: never a new one
        with pytest.raises(AnalysisError, match=r"stopped|exited unexpectedly"):
            pool.run(str(f))
    assert time.monotonic() - start < 5
    assert pool._proc in (None, server)
    assert server.wait(5) is not None
    with pytest.raises(AnalysisError, match="stopped"):
        pool.run(str(f))
    assert pool._proc in (None, server)
    pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_media_add_stopped_while_storing_stops_the_analyses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while `add_media` is still copying files, with the first files already being
    analysed: the command stops at once (not when their analyses end) and leaves no
    analysis process behind."""
    from verify.archive import open_archive
    from verify.services import cases, intake
    from verify.store import ObjectStore

    monkeypatch.setenv("VERIFY_WORKERS", "2")
    archive = open_archive(tmp_path / "home", actor="tester")
    cases.open_case(archive, "Stop", slug="stop")
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.bin")
        files[-1].write_bytes(bytes([i]))
    real_put = ObjectStore.put_file
    stored: list[str] = []

    def put(self: ObjectStore, path: str) -> Any:
        if len(stored) == 2:
            time.sleep(1.0)  # both servers have a child analysing by now
            raise KeyboardInterrupt
        stored.append(path)
        return real_put(self, path)

    monkeypatch.setattr(ObjectStore, "put_file", put)
    pools = [AnalysisPool(T + "slow_analysis", timeout=60).start() for _ in range(2)]
    servers = [pool._proc for pool in pools]
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            intake.add_media(archive, "stop", [str(f) for f in files], pools=pools)
    finally:
        archive.close()
    assert time.monotonic() - start < 10  # not the 30 s each analysis takes
    _assert_stopped(servers)


@pytest.mark.parametrize(
    ("target", "timeout", "reason"),
    [
        ("metadata_then_hang", 3, "timed out after 3 s"),
        ("analyse_file_frames_hang", 3, "timed out after 3 s"),
        ("metadata_then_segfault", 30, "crashed (signal SIGSEGV)"),
        ("metadata_then_error", 30, "out of memory"),
    ],
)
def test_a_failure_after_the_metadata_keeps_it(
    tmp_path: Path, target: str, timeout: int, reason: str
) -> None:
    """A video whose frames time out, crash the decoder or run out of memory keeps the
    metadata its child had read and reported (`on_partial`): kind, type, camera, size, with
    the failure as its error and no frames."""
    clip = make_video(tmp_path / "b.mov", "mov", rotation=-90, tags=APPLE_TAGS)
    pools = [AnalysisPool(T + target, timeout=timeout)]
    [(_, outcome)] = list(analyse_many([str(clip)], workers=1, pools=pools))
    assert isinstance(outcome, AnalysisResult), outcome
    assert outcome.error is not None and outcome.error.startswith(reason)
    assert outcome.kind == "video" and outcome.mime == "video/quicktime"
    assert outcome.meta["make"] == "Apple" and outcome.meta["rotation"] == 90
    assert outcome.frames == []


@pytest.mark.parametrize("target", ["off_contract_then_segfault", "huge_report_then_segfault"])
def test_a_report_off_contract_or_too_large_is_not_kept(tmp_path: Path, target: str) -> None:
    """What a failed child reported is kept only when it is metadata by the contract and
    fits MAX_PARTIAL (the server holds no memory limit); otherwise the failure stands alone."""
    clip = make_video(tmp_path / "b.mov", "mov")
    pools = [AnalysisPool(T + target, timeout=30)]
    [(_, outcome)] = list(analyse_many([str(clip)], workers=1, pools=pools))
    assert isinstance(outcome, AnalysisError)
    assert str(outcome).startswith("crashed (signal SIGSEGV)")


def test_analyse_file_reports_the_metadata_before_the_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verify.analysis import analyse_file

    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    events: list[object] = []

    def sampled(*args: Any, **kwargs: Any) -> list[FrameHash]:
        events.append("frames")
        return []

    monkeypatch.setattr("verify.analysis.frames.extract_frames", sampled)
    result = analyse_file(str(photo), on_partial=events.append)
    assert events == [{"kind": "image", "mime": result.mime, "meta": result.meta}, "frames"]


def test_waiting_for_a_slow_analysis_is_reported(tmp_path: Path) -> None:
    """`Analyses.next_outcome(waiting=...)` says, while the next file is not ready, how long
    its analysis has run (what `media add` shows on a terminal for a long video)."""
    photo = save_image(tmp_path / "a.jpg", "JPEG", exif=camera_exif())
    seen: list[float] = []
    with sandbox.Analyses(workers=1, pools=[AnalysisPool(T + "analyse_file_slowly")]) as batch:
        batch.submit(str(photo))
        path, outcome = batch.next_outcome(every=0.5, waiting=seen.append)
        with pytest.raises(StopIteration):
            batch.next_outcome()
    assert path == str(photo) and isinstance(outcome, AnalysisResult) and outcome.frames
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] >= 1.5


def test_large_replies_are_read_whole_and_the_pool_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply of many pipe-sized reads comes back whole, the next one on the same server
    too; one over the parent's limit is an error and the server is closed (its reply is
    not left in the pipe for the next file), and the pool starts a new one."""
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    with AnalysisPool(T + "big_result") as pool:
        assert pool.run(str(f), size=3_000_000) == "x" * 3_000_000
        assert pool.run(str(f), size=5) == "xxxxx"
        monkeypatch.setattr(sandbox, "MAX_REPLY_BYTES", 1 << 20)
        with pytest.raises(AnalysisError, match="larger than 1 MiB"):
            pool.run(str(f), size=2_000_000)
        assert pool._proc is None
        assert pool.run(str(f), size=7) == "x" * 7
