"""Robustness on generated clips (hermetic): the recall table's key rows at video level.

A 20 s clip of textured scenes is re-encoded with each transform; its frames are sampled at
1 fps and hashed with the product recipe (`verify.analysis.hashing`); the copy must come
out as a *match* of the original, on the right offset, and never match an unrelated clip.
"""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from verify.analysis import FrameHash, to_signed64
from verify.analysis.frames import frame_hash
from verify.analysis.hashing import hash_gray
from verify.index import FrameIndex
from verify.services import search

SIZE = (384, 216)
FPS = 4
SECONDS = 20


def _texture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (9, 16, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((SIZE[0] * 2, SIZE[1] * 2), Image.Resampling.BICUBIC)


def _frame(t: float, seed: int) -> Image.Image:
    """Slow pan over a textured picture; a new picture every 5 s."""
    tex = _texture(seed * 100 + int(t // 5))
    u = (t % 5) / 5
    x0 = int(u * SIZE[0] * 0.5)
    img = tex.crop((x0, 40, x0 + SIZE[0] * 1.5, 40 + SIZE[1] * 1.5)).resize(SIZE)
    d = ImageDraw.Draw(img)
    r = 18
    cx = int(40 + t * 12) % SIZE[0]
    d.ellipse([cx - r, 60 - r, cx + r, 60 + r], fill=(240, 220, 40))
    return img


def _subtitles(img: Image.Image) -> Image.Image:
    img = img.copy()
    d = ImageDraw.Draw(img)
    w, h = img.size
    for k, line in enumerate(["They said it happened here", "translated by @someone"]):
        d.text(
            (w * 0.18, h * 0.80 + k * 14),
            line,
            fill=(255, 255, 255),
            stroke_width=2,
            stroke_fill=(0, 0, 0),
            font_size=12,
        )
    return img


def _logo(img: Image.Image) -> Image.Image:
    img = img.copy()
    w, h = img.size
    ImageDraw.Draw(img).rectangle([w * 0.82, h * 0.03, w * 0.98, h * 0.13], fill=(220, 30, 40))
    return img


def _letterbox(img: Image.Image) -> Image.Image:
    w, h = img.size
    ph = int(w / 2.35)
    out = Image.new("RGB", (w, h))
    out.paste(img.resize((w, ph)), (0, (h - ph) // 2))
    return out


def _write(
    path: Path,
    fn=None,
    *,
    scale: float = 1.0,
    crf: int = 20,
    fps: int = FPS,
    start: float = 0.0,
    stop: float = SECONDS,
    seed: int = 1,
) -> Path:
    w, h = int(SIZE[0] * scale) // 2 * 2, int(SIZE[1] * scale) // 2 * 2
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": str(crf)}
        n = int((stop - start) * fps)
        for i in range(n):
            img = _frame(start + i / fps, seed)
            if fn is not None:
                img = fn(img)
            frame = av.VideoFrame.from_image(img.resize((w, h)))
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in s.encode(frame):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return path


def _hash(path: Path) -> list[FrameHash]:
    """1 fps samples hashed with the product recipe."""
    out: list[FrameHash] = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        nxt = 0.0
        for fr in c.decode(st):
            t = float(fr.pts * st.time_base)
            if t + 1e-6 < nxt:
                continue
            h = hash_gray(fr.to_ndarray(format="gray"))
            out.append(frame_hash(len(out), t, h))
            nxt = float(np.floor(t)) + 1.0
    return out


def _index(files: dict[int, list[FrameHash]]) -> FrameIndex:
    rows = []
    for blob, frames in files.items():
        for f in frames:
            if f.informative:
                rows.append(
                    (
                        len(rows) + 1,
                        blob,
                        f.idx,
                        f.pts,
                        to_signed64(f.phash),
                        to_signed64(f.dhash),
                        to_signed64(f.phash_masked or 0),
                        to_signed64(f.dhash_masked or 0),
                        f.pdq,
                    )
                )
    return FrameIndex.from_rows(rows)


@pytest.fixture(scope="module")
def archive_index(tmp_path_factory: pytest.TempPathFactory) -> FrameIndex:
    d = tmp_path_factory.mktemp("clips")
    return _index({1: _hash(_write(d / "orig.mp4")), 2: _hash(_write(d / "other.mp4", seed=7))})


TRANSFORMS = {
    "re-encode at half size, CRF 40": dict(scale=0.5, crf=40),
    "frame-rate change 4 -> 3 fps": dict(fps=3),
    "greyscale": dict(fn=lambda im: ImageOps.grayscale(im).convert("RGB")),
    "burned-in subtitles": dict(fn=_subtitles),
    "corner logo": dict(fn=_logo),
    "letterbox to 2.35:1": dict(fn=_letterbox),
    "horizontal mirror": dict(fn=ImageOps.mirror),
    "10 s excerpt": dict(start=6.0, stop=16.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformed_copy_matches_original(
    name: str, archive_index: FrameIndex, tmp_path: Path
) -> None:
    frames = _hash(_write(tmp_path / "copy.mp4", **TRANSFORMS[name]))  # type: ignore[arg-type]
    verdicts = search.match_files(archive_index, search.query_of(frames), query_kind="video")
    assert set(verdicts) == {1}, verdicts  # the original, and never the unrelated clip
    v = verdicts[1]
    assert v["tier"] == "match"
    assert v["query_fraction"] >= 0.9
    start = TRANSFORMS[name].get("start", 0.0)
    assert v["offset"] == pytest.approx(start, abs=1.0)
    if name == "horizontal mirror":
        assert v["variant"] == "mirrored"
