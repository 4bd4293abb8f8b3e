"""Recipe v3: a picture re-posted inside a vertical frame with flat bars on all four sides
(a "windowbox") is trimmed to the picture and found; nothing else trims differently from v2
(flat picture edges, one-sided bars, light bars without a pair); v2 hashes stay comparable
and `media reanalyse --outdated` re-hashes them; v1 stays out of search."""

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from bench.clips import canvas
from bench.hashing.trimdiff import trim_v2  # recipe v2's trim rule
from PIL import Image

from tests.conftest import RunCli
from tests.provhelp import set_pipeline
from verify.analysis import COMPARABLE_PIPELINES, PIPELINE
from verify.analysis.hashing import gray_from_image, hamming64, hash_image, trim_box
from verify.analysis.pdq import hamming256
from verify.archive import open_archive

SLUG = "vertical-reposts"


def picture(w: int = 960, h: int = 540, seed: int = 3) -> Image.Image:
    return Image.fromarray(canvas(w, h, seed))


def windowbox(
    img: Image.Image, frame: tuple[int, int] = (1080, 1920), fill: int = 0
) -> Image.Image:
    """The picture scaled to two thirds of the frame's width, centred in a flat frame."""
    fw, fh = frame
    pw = fw * 2 // 3
    ph = round(pw * img.height / img.width)
    out = Image.new("RGB", frame, (fill,) * 3)
    out.paste(
        img.convert("RGB").resize((pw, ph), Image.Resampling.BILINEAR),
        ((fw - pw) // 2, (fh - ph) // 2),
    )
    return out


def jpeg(img: Image.Image, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf)


# ----------------------------------------------------------------------------- the trim rule


@pytest.mark.parametrize("fill", [0, 255, 90])
def test_windowbox_is_trimmed_to_the_picture(fill: int) -> None:
    pic = picture()
    boxed = jpeg(windowbox(pic, fill=fill))
    g = gray_from_image(boxed)
    # 720x405 in the middle of 1080x1920: 21 % of the rows, below the one-sided 25 % floor
    y0, y1, x0, x1 = trim_box(g)
    assert abs(y0 - 757) <= 4 and abs(y1 - 1162) <= 4, (y0, y1)
    assert abs(x0 - 180) <= 4 and abs(x1 - 900) <= 4, (x0, x1)
    assert trim_v2(g)[:2] == (0, 1920)  # what v2 did: the rows were kept
    a, b = hash_image(pic), hash_image(boxed)
    assert hamming64(a.dhash, b.dhash) <= 6 and hamming64(a.phash, b.phash) <= 8
    assert hamming256(a.pdq, b.pdq) <= 40


def test_landscape_frame_with_a_small_portrait_picture() -> None:
    """The same rule across: a 9:16 picture 405 px wide in a 1920x1080 frame (21 % of its
    columns)."""
    frame = np.zeros((1080, 1920), np.uint8)
    frame[180:900, 757:1162] = np.asarray(picture(405, 720).convert("L"))
    y0, y1, x0, x1 = trim_box(frame)
    assert abs(x0 - 757) <= 4 and abs(x1 - 1162) <= 4
    assert abs(y0 - 180) <= 4 and abs(y1 - 900) <= 4
    assert trim_v2(frame)[2:] == (0, 1920)


def test_a_picture_is_never_cut_to_a_strip() -> None:
    """Flat dark edges at the top and bottom of a landscape picture (night sky, dark ground)
    leaving a band under 25 % of the rows: the band would be 10:1, so nothing is trimmed,
    as in v2."""
    g = np.asarray(picture(640, 360).convert("L")).copy()
    g[:150] = 12
    g[-150:] = 14
    assert trim_box(g) == trim_v2(g) == (0, 360, 0, 640)


def test_flat_sky_is_still_not_trimmed() -> None:
    """A flat light edge on one side only (sky, wall) is picture, in a portrait frame too."""
    g = np.asarray(picture(720, 1280).convert("L")).copy()
    g[:900] = 200  # a sky over 70 % of the picture
    assert trim_box(g) == trim_v2(g) == (0, 1280, 0, 720)


def test_light_bars_still_need_a_pair() -> None:
    """White at both ends, of different lengths (snow below a bright sky), is not a pair of
    bars: not trimmed, however little picture would be left."""
    g = np.full((1920, 1080), 235, np.uint8)
    g[1000:1300, 180:900] = np.asarray(picture(720, 300).convert("L"))
    assert trim_box(g)[:2] == trim_v2(g)[:2] == (0, 1920)


def test_one_sided_bars_keep_the_25_percent_floor() -> None:
    """A black bar at one end only: trimmed when 25 % or more is left, never below."""
    pic = np.asarray(picture(720, 405).convert("L"))
    low = np.zeros((1920, 720), np.uint8)  # picture at the bottom: 21 % of the rows
    low[-405:] = pic
    assert trim_box(low) == trim_v2(low) == (0, 1920, 0, 720)
    tall = np.zeros((1500, 720), np.uint8)  # 27 %: trimmed, as in v2
    tall[-405:] = pic
    y0, y1, _, _ = trim_box(tall)
    assert abs(y0 - 1095) <= 4 and y1 == 1500
    assert trim_box(tall) == trim_v2(tall)


def test_pipeline_identity() -> None:
    assert PIPELINE == "v3"
    assert {"v2", "v3"} == COMPARABLE_PIPELINES and "v1" not in COMPARABLE_PIPELINES


def test_no_corpus_image_trims_differently(corpus: Path) -> None:
    """v3 changes the trim box of no corpus image, decoded as the product decodes it
    (`bench/hashing/trimdiff.py` also checks the frames sampled from every corpus video)."""
    from bench.hashing.trimdiff import Recorder, recording

    from verify.analysis.frames import image_hashes

    rec = Recorder()
    with (corpus / "inventory.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] == "image"]
    with recording(rec):
        for r in rows:
            p = corpus / r["path"]
            if not p.is_file() or p.stat().st_size < 200:  # LFS pointers
                continue
            try:
                image_hashes(str(p))
            except Exception:  # the corpus has deliberately broken files
                continue
    assert len(rec.boxes) > 100
    assert [(shape, b2, b3) for shape, b2, b3 in rec.boxes if b2 != b3] == []


# ----------------------------------------------------------------------------- search


def _add(cli: RunCli, path: Path) -> int:
    r = cli("media", "add", SLUG, str(path))
    assert r.exit_code == 0, r.stderr
    return int(r.stdout.split()[0])


def _search(cli: RunCli, path: Path) -> tuple[list[dict[str, object]], str]:
    r = cli("search", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)["hits"], r.stderr


@pytest.fixture
def case(cli: RunCli) -> str:
    assert cli("case", "open", "Vertical reposts", "--slug", SLUG).exit_code == 0
    return SLUG


@pytest.mark.parametrize("fill", [0, 255])
def test_windowboxed_still_is_found(cli: RunCli, case: str, tmp_path: Path, fill: int) -> None:
    pic = picture()
    pic.save(tmp_path / "original.jpg", quality=90)
    original = _add(cli, tmp_path / "original.jpg")
    windowbox(pic, fill=fill).save(tmp_path / "vertical.jpg", quality=80)
    hits, _ = _search(cli, tmp_path / "vertical.jpg")
    assert [(h["media"], h["tier"]) for h in hits] == [(original, "match")]
    # 0 bits when measured: the trimmed copy is the picture, rescaled and re-encoded
    assert int(hits[0]["best_distance"]) <= 4  # type: ignore[call-overload]
    assert hits[0]["variant"] == "full"


def _write_clip(path: Path, frame: tuple[int, int] | None = None, *, fill: int = 0) -> Path:
    """6 s at 5 fps of 16:9 scenes (a cut every 2 s, a slow pan), or their windowbox in a
    vertical `frame`."""
    w, h = frame or (480, 270)
    fps = 5
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "23"}
        scenes = [canvas(640, 360, seed) for seed in (11, 12, 13)]
        for i in range(6 * fps):
            t = i / fps
            x0 = int((t % 2) * 40)
            img = Image.fromarray(scenes[int(t // 2)]).crop((x0, 0, x0 + 560, 315))
            img = img.resize((480, 270))
            if frame is not None:
                img = windowbox(img, frame=frame, fill=fill)
            vf = av.VideoFrame.from_image(img)
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for pkt in s.encode(vf):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("fill", [0, 255])
def test_windowboxed_clip_is_found(cli: RunCli, case: str, tmp_path: Path, fill: int) -> None:
    original = _add(cli, _write_clip(tmp_path / "original.mp4"))
    vertical = _write_clip(tmp_path / "vertical.mp4", (360, 640), fill=fill)
    hits, _ = _search(cli, vertical)
    assert [(h["media"], h["tier"]) for h in hits] == [(original, "match")]
    hit = hits[0]
    assert int(hit["best_distance"]) <= 4 and float(hit["median_distance"]) <= 4  # type: ignore[call-overload, arg-type]
    assert hit["frames_matched"] == {"query": 6, "candidate": 6}
    assert hit["offset"] == 0


# ----------------------------------------------------------------------------- v2 archives


def test_v2_files_stay_searchable_until_reanalysed(
    cli: RunCli, case: str, tmp_path: Path, home: Path
) -> None:
    pic = picture()
    pic.save(tmp_path / "original.jpg", quality=90)
    pic.resize((480, 270)).save(tmp_path / "copy.jpg", quality=70)
    original = _add(cli, tmp_path / "original.jpg")
    other = _add(cli, _write_clip(tmp_path / "other.mp4"))
    assert _search(cli, tmp_path / "copy.jpg")[0][0]["media"] == original

    set_pipeline(home, original, "v2")
    hits, err = _search(cli, tmp_path / "copy.jpg")
    assert [(h["media"], h["tier"]) for h in hits] == [(original, "match")]
    assert "1 stored file was hashed with an earlier recipe: searched" in err
    assert "older recipe" not in err
    # a pair with a v2 side is compared (`prov derive --evidence-from-search`)
    from verify.services.search import compare_media, search_evidence

    archive = open_archive(home, actor="tester")
    try:
        said = compare_media(archive, str(original), str(other))
        assert said["problem"] is None
        assert said["recipes"] == ["v2", PIPELINE]
        # the evidence a derivation records says the one file's hashes are v2
        evidence = search_evidence({"tier": "match"}, said["recipes"])
        assert (evidence["recipe"], evidence["hashed_with"]) == (PIPELINE, ["v2", PIPELINE])
        assert "hashed_with" not in search_evidence({"tier": "match"}, [PIPELINE, PIPELINE])
    finally:
        archive.close()

    r = cli("media", "reanalyse", "--outdated", "--json")
    assert r.exit_code == 0, r.stderr
    (done,) = json.loads(r.stdout)
    assert done["media"] == [original]
    assert (done["pipeline_before"], done["pipeline"]) == ("v2", PIPELINE)
    hits, err = _search(cli, tmp_path / "copy.jpg")
    assert hits[0]["media"] == original and err == ""
    assert cli("check").exit_code == 0


def test_v1_files_stay_out_of_search(cli: RunCli, case: str, tmp_path: Path, home: Path) -> None:
    pic = picture()
    pic.save(tmp_path / "original.jpg", quality=90)
    pic.resize((480, 270)).save(tmp_path / "copy.jpg", quality=70)
    original = _add(cli, tmp_path / "original.jpg")
    other = _add(cli, _write_clip(tmp_path / "other.mp4"))
    set_pipeline(home, original, "v1")
    hits, err = _search(cli, tmp_path / "copy.jpg")
    assert hits == []
    assert "1 stored file was hashed with an older recipe and not searched" in err
    from verify.services.search import compare_media

    archive = open_archive(home, actor="tester")
    try:
        problem = compare_media(archive, str(other), str(original))["problem"]
    finally:
        archive.close()
    assert problem is not None and "older recipe" in problem
