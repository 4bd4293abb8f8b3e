"""Matching quality: recall per transform and false matches, with the product's hashes and
rules (issue #5; docs/matching.md holds the tables this prints).

    .venv/bin/python bench/matching/run.py [--corpus ../shared/corpus] [--sweep]

1. Every image and video in the corpus is hashed with the hashing recipe (`verify.analysis`),
   video at the product's sampling. They form the archive the queries run against, with the
   generated originals below.
2. Corpus near-duplicate sets (inventory.csv `neardup_group`/`neardup_role`): every variant
   is queried; is the group's original found, and at which tier?
3. Generated transforms of informative corpus photos (images) and of 60 s clips rendered
   from corpus photos (video): re-encode 480p at low quality, 50 % scale, frame-rate change,
   greyscale, burned-in subtitles, corner logo, letterbox to 2.35:1, horizontal mirror, a
   10 s excerpt (video), 5 % crop per side, and windowboxes (the picture as 16:9, 720 px
   wide, in a 1080x1920 frame of black or white: a vertical repost). Recall = share of
   copies whose source is reported at tier "match"; any *other* file reported at "match" is
   a false match.
4. False matches over all cross pairs of unrelated frames (different files and groups),
   per frame tier, and the low-information frames (not indexed; shown what they would do).
5. The same over every *decoded* frame of every corpus video plus every image (`pairs.py`;
   ~46M unrelated pairs, enough to bound the rate near 1e-7), unless `--no-dense`.

Stills that miss a transform are printed with their distances per variant.

`--sweep` repeats 3-4 for a few (dHash, pHash) match thresholds.
"""

import argparse
import csv
import io
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "src"))

from verify.analysis import FrameHash  # noqa: E402
from verify.analysis.hashing import hash_gray, hash_image  # noqa: E402
from verify.index import FrameIndex  # noqa: E402
from verify.services import search  # noqa: E402

# ------------------------------------------------------------------------------- hashing


def frame_of(i: int, pts: float, h: object) -> FrameHash:
    return FrameHash(
        idx=i,
        pts=pts,
        phash=h.phash,  # type: ignore[attr-defined]
        dhash=h.dhash,  # type: ignore[attr-defined]
        phash_masked=h.phash_masked,  # type: ignore[attr-defined]
        dhash_masked=h.dhash_masked,  # type: ignore[attr-defined]
        pdq=h.pdq,  # type: ignore[attr-defined]
        pdq_quality=h.pdq_quality,  # type: ignore[attr-defined]
        informative=h.informative,  # type: ignore[attr-defined]
    )


def hash_still(img: Image.Image) -> list[FrameHash]:
    return [frame_of(0, 0.0, hash_image(img))]


def hash_image_file(path: Path) -> list[FrameHash]:
    """The product's still path (JPEG draft decoding) when present."""
    try:
        from verify.analysis.frames import extract_frames
    except ImportError:
        with Image.open(path) as im:
            im.load()
            return hash_still(im)
    return extract_frames(str(path), "image", {})


def variant_distances(q: FrameHash, s: FrameHash) -> dict[str, tuple[int, int, int]]:
    """(dHash, pHash, PDQ) distances of a query frame to a stored one in every variant, as
    `search._frame_pairs` computes them (PDQ -1 for the masked variants)."""
    qq, ss = search.query_of([q]), search.query_of([s])
    out = {}
    for v, name in enumerate(search.VARIANTS):
        masked = name.endswith("masked")
        qd, qp = (qq.dhash_m, qq.phash_m) if masked else (qq.dhash, qq.phash)
        sd, sp = (ss.dhash_m, ss.phash_m) if masked else (ss.dhash, ss.phash)
        qpdq = qq.pdq
        if v >= 2:
            qd, qp, qpdq = search.mirror_dhash(qd), search.mirror_phash(qp), search.mirror_pdq(qpdq)
        dq = -1 if masked else int(np.bitwise_count(qpdq ^ ss.pdq).sum())
        out[name] = (int(np.bitwise_count(qd ^ sd)[0]), int(np.bitwise_count(qp ^ sp)[0]), dq)
    return out


def hash_video_file(path: Path) -> list[FrameHash]:
    """The product's sampling when `verify.analysis.frames` is present, else 1 fps."""
    try:
        from verify.analysis.frames import extract_frames
        from verify.analysis.metadata import read_metadata

        kind, _, meta = read_metadata(str(path))
        return extract_frames(str(path), kind, meta)
    except ImportError:
        pass
    out: list[FrameHash] = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        nxt = 0.0
        for fr in c.decode(s):
            t = float(fr.pts * s.time_base) if fr.pts is not None else 0.0
            if t + 1e-6 < nxt:
                continue
            g = fr.to_ndarray(format="gray")
            out.append(frame_of(len(out), t, hash_gray(g)))
            nxt = np.floor(t) + 1.0
    return out


# ------------------------------------------------------------------------------- archive


@dataclass
class File:
    name: str
    group: str
    kind: str
    frames: list[FrameHash]
    blob: int = 0
    # every group this file shows (a generated clip shows its source photos' groups too)
    groups: set[str] = field(default_factory=set)

    def related(self, other: "File") -> bool:
        return bool((self.groups | {self.group}) & (other.groups | {other.group}))


@dataclass
class Archive:
    files: list[File] = field(default_factory=list)

    def add(self, f: File) -> int:
        f.blob = len(self.files) + 1
        self.files.append(f)
        return f.blob

    def index(self) -> FrameIndex:
        rows = []
        fid = 0
        for f in self.files:
            for fr in f.frames:
                if not fr.informative:
                    continue
                fid += 1
                rows.append(
                    (
                        fid,
                        f.blob,
                        fr.idx,
                        fr.pts,
                        _s(fr.phash),
                        _s(fr.dhash),
                        _s(fr.phash_masked),
                        _s(fr.dhash_masked),
                        fr.pdq,
                    )
                )
        return FrameIndex.from_rows(rows)


def _s(u: int | None) -> int | None:
    if u is None:
        return None
    return u - (1 << 64) if u >= (1 << 63) else u


def query(ix: FrameIndex, frames: list[FrameHash], kind: str) -> dict[int, dict[str, object]]:
    return search.match_files(ix, search.query_of(frames), query_kind=kind)


# ------------------------------------------------------------------------------- corpus


# Files in the corpus that show the same picture without an inventory near-duplicate label
# (checked by eye): EXIF-orientation samples of one photo, C2PA-signed copies of one photo,
# one image in two formats, HDR on/off pairs of one scene. Treated as related.
FAMILIES = [
    (r"exif-samples/jpg/orientation/landscape_", "fam-orientation-landscape"),
    (r"exif-samples/jpg/orientation/portrait_", "fam-orientation-portrait"),
    (r"c2pa-python/(A\.jpg|files-for-reading-tests/(CA|E-sig-CA|XCA|boxhash)\.jpg)", "fam-c2pa-A"),
    (r"imageio-test-images/chelsea\.", "fam-chelsea"),
    (r"HTC Desire\.", "fam-htc-desire"),
    (r"exif-samples/jpg/hdr/(\w+)_hdr_", "fam-hdr-"),
    # metadata-extractor's sample clips: one clip in several containers
    (r"metadata-extractor-images/(3g2|3gp|m2v|mp4)/sample", "fam-mde-sample"),
    (r"metadata-extractor-images/(m4v/sample_iPod|mov/sample_iTunes)", "fam-mde-apple-sample"),
    (r"metadata-extractor-images/(mov/xmp480qt|mp4/uuid540)", "fam-mde-sea"),
]


def family(path: str, group: str) -> str:
    import re

    for rx, name in FAMILIES:
        m = re.search(rx, path)
        if m:
            return name + (m.group(1) if name.endswith("-") else "")
    return group


def load_corpus(corpus: Path, arch: Archive) -> dict[str, File]:
    by_path: dict[str, File] = {}
    rows = list(csv.DictReader((corpus / "inventory.csv").open()))
    for r in rows:
        if r["kind"] not in ("image", "video"):
            continue
        p = corpus / r["path"]
        if not p.is_file() or p.stat().st_size < 200:  # LFS pointers
            continue
        try:
            frames = hash_image_file(p) if r["kind"] == "image" else hash_video_file(p)
        except Exception as exc:  # corpus has deliberately broken files
            print(f"  skip {r['path']}: {type(exc).__name__}", file=sys.stderr)
            continue
        group = family(r["path"], r["neardup_group"] or f"sha:{r['sha256']}")
        f = File(r["path"], group, r["kind"], frames)
        arch.add(f)
        by_path[r["path"]] = f
    return by_path


def corpus_sets(arch: Archive, ix: FrameIndex, by_path: dict[str, File], corpus: Path) -> list:
    rows = list(csv.DictReader((corpus / "inventory.csv").open()))
    originals: dict[str, list[File]] = defaultdict(list)
    for r in rows:
        if r["neardup_role"] == "original" and r["path"] in by_path:
            originals[r["neardup_group"]].append(by_path[r["path"]])
    out = []
    for r in rows:
        if r["neardup_role"] != "variant" or r["path"] not in by_path:
            continue
        f = by_path[r["path"]]
        hits = query(ix, f.frames, f.kind)
        want = {o.blob for o in originals[r["neardup_group"]]}
        tiers = [hits[b]["tier"] for b in want if b in hits]
        tier = "match" if "match" in tiers else ("suggestion" if tiers else "-")
        variant = next((hits[b]["variant"] for b in want if b in hits), "-")
        wrong = [
            arch.files[b - 1].name
            for b, v in hits.items()
            if v["tier"] == "match" and not arch.files[b - 1].related(f)
        ]
        informative = sum(fr.informative for fr in f.frames)
        out.append((r["path"], tier, variant, informative, wrong))
    return out


# ------------------------------------------------------------------------------- transforms


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(8, size))


def subtitles(img: Image.Image, text: str = "They said it happened here, today") -> Image.Image:
    im = img.convert("RGB").copy()
    w, h = im.size
    d = ImageDraw.Draw(im)
    size = max(10, h // 16)
    f = _font(size)
    for k, line in enumerate([text, "translated by @someone"]):
        y = int(h * 0.80) + k * int(size * 1.25)
        tw = d.textlength(line, font=f)
        d.text(
            ((w - tw) / 2, y),
            line,
            font=f,
            fill=(255, 255, 255),
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return im


def logo(img: Image.Image) -> Image.Image:
    im = img.convert("RGB").copy()
    w, h = im.size
    d = ImageDraw.Draw(im)
    bw, bh = int(w * 0.16), int(h * 0.10)
    x0, y0 = w - bw - int(w * 0.02), int(h * 0.03)
    d.rectangle([x0, y0, x0 + bw, y0 + bh], fill=(230, 30, 40))
    d.text((x0 + 4, y0 + 2), "NEWS", font=_font(bh // 2), fill=(255, 255, 255))
    return im


def letterbox235(img: Image.Image) -> Image.Image:
    w, h = img.size
    ph = max(2, int(w / 2.35))
    pic = img.convert("RGB").resize((w, ph), Image.Resampling.BILINEAR)
    out = Image.new("RGB", (w, max(h, ph)), (0, 0, 0))
    out.paste(pic, (0, (out.size[1] - ph) // 2))
    return out


def windowbox(img: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """A vertical repost: the picture as 16:9 (squeezed, as the letterbox row), 720 px wide,
    in the middle of a 1080x1920 frame of one flat colour (bars on all four sides; the
    picture is 21 % of the frame's height, below the 25 % trim floor of recipe v2)."""
    pic = img.convert("RGB").resize((720, 405), Image.Resampling.BILINEAR)
    out = Image.new("RGB", (1080, 1920), fill)
    out.paste(pic, ((1080 - 720) // 2, (1920 - 405) // 2))
    return out


def crop5(img: Image.Image) -> Image.Image:
    w, h = img.size
    dx, dy = int(w * 0.05), int(h * 0.05)
    return img.crop((dx, dy, w - dx, h - dy)).resize((w, h), Image.Resampling.BILINEAR)


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def reencode_480(img: Image.Image) -> Image.Image:
    w, h = img.size
    s = min(1.0, 480 / h)
    small = img.convert("RGB").resize((max(1, int(w * s)), max(1, int(h * s))))
    return jpeg(small, 30)


IMAGE_TRANSFORMS = {
    "re-encode 480p, JPEG q30": reencode_480,
    "scale 50 %": lambda im: im.resize((max(1, im.width // 2), max(1, im.height // 2))),
    "greyscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "burned-in subtitles": subtitles,
    "corner logo": logo,
    "letterbox to 2.35:1": letterbox235,
    "horizontal mirror": ImageOps.mirror,
    "5 % crop per side": crop5,
    # stored as JPEG q85, as a platform would
    "windowbox 9:16, black": lambda im: jpeg(windowbox(im, (0, 0, 0)), 85),
    "windowbox 9:16, white": lambda im: jpeg(windowbox(im, (255, 255, 255)), 85),
}


def image_transforms(arch: Archive, ix: FrameIndex, sources: list[tuple[File, Image.Image]]):
    table = {}
    misses = []
    for name, fn in IMAGE_TRANSFORMS.items():
        ok = wrong = 0
        variants: dict[str, int] = defaultdict(int)
        for f, img in sources:
            q = hash_still(fn(img))
            hits = query(ix, q, "image")
            v = hits.get(f.blob)
            if v is not None and v["tier"] == "match":
                ok += 1
                variants[str(v["variant"])] += 1
            else:
                tier = v["tier"] if v is not None else "-"
                src = f.frames[0]
                misses.append((name, f.name, tier, src.pdq_quality, variant_distances(q[0], src)))
            wrong += sum(
                1
                for b, h in hits.items()
                if h["tier"] == "match" and not arch.files[b - 1].related(f)
            )
        table[name] = (ok, len(sources), wrong, dict(variants))
    return table, misses


# ------------------------------------------------------------------------------- video


def render_clip(
    photos: list[Image.Image],
    path: Path,
    *,
    fps: int = 5,
    seconds: int = 60,
    size: tuple[int, int] = (960, 540),
) -> None:
    """Slow pan and zoom over the photos, seconds/len(photos) each (a real-photo clip)."""
    w, h = size
    per = seconds / len(photos)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "20", "preset": "veryfast", "g": str(fps * 2)}
        for i in range(seconds * fps):
            t = i / fps
            k = min(int(t // per), len(photos) - 1)
            u = (t - k * per) / per
            ph = photos[k]
            zoom = 1.0 + 0.15 * u
            cw, ch = ph.width / zoom, ph.width / zoom * h / w
            ch = min(ch, ph.height)
            x0 = (ph.width - cw) * u
            y0 = (ph.height - ch) / 2
            frame = ph.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch))).resize((w, h))
            vf = av.VideoFrame.from_image(frame)
            for pkt in s.encode(vf):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def transcode(
    src: Path,
    dst: Path,
    *,
    fn=None,
    scale: float = 1.0,
    crf: int = 23,
    fps: int | None = None,
    start: float = 0.0,
    stop: float | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    with av.open(str(src)) as ic, av.open(str(dst), "w") as oc:
        ist = ic.streams.video[0]
        in_fps = float(ist.average_rate or 5)
        out_fps = fps or round(in_fps)
        w = int(ist.codec_context.width * scale) // 2 * 2
        h = int(ist.codec_context.height * scale) // 2 * 2
        if size is not None:  # `fn` changes the frame size (windowbox)
            w, h = size
        ost = oc.add_stream("libx264", rate=out_fps)
        first = None
        n = 0
        for fr in ic.decode(ist):
            t = float(fr.pts * ist.time_base)
            if t < start or (stop is not None and t >= stop):
                continue
            img = fr.to_image()
            if fn is not None:
                img = fn(img)
            img = img.resize((w, h)) if img.size != (w, h) else img
            if first is None:
                ost.width, ost.height, ost.pix_fmt = (
                    img.width // 2 * 2,
                    img.height // 2 * 2,
                    "yuv420p",
                )
                ost.options = {"crf": str(crf), "preset": "veryfast"}
                first = t
            # resample to out_fps by timestamps
            while n / out_fps <= t - first + 1e-9:
                vf = av.VideoFrame.from_image(img.resize((ost.width, ost.height)))
                vf.pts = n
                vf.time_base = Fraction(1, out_fps)
                for pkt in ost.encode(vf):
                    oc.mux(pkt)
                n += 1
        for pkt in ost.encode():
            oc.mux(pkt)


VIDEO_TRANSFORMS = {
    "re-encode 480p, CRF 35": dict(scale=480 / 540, crf=35),
    "scale 50 %": dict(scale=0.5),
    "frame-rate change 5 -> 4 fps": dict(fps=4),
    "greyscale": dict(fn=lambda im: ImageOps.grayscale(im).convert("RGB")),
    "burned-in subtitles": dict(fn=subtitles),
    "corner logo": dict(fn=logo),
    "letterbox to 2.35:1": dict(fn=letterbox235),
    "horizontal mirror": dict(fn=ImageOps.mirror),
    "10 s excerpt of 60 s": dict(start=20.0, stop=30.0),
    "5 % crop per side": dict(fn=crop5),
    "windowbox 9:16, black": dict(fn=lambda im: windowbox(im, (0, 0, 0)), size=(1080, 1920)),
    "windowbox 9:16, white": dict(fn=lambda im: windowbox(im, (255, 255, 255)), size=(1080, 1920)),
}


def video_transforms(
    arch: Archive, ix_builder, photos: list[tuple[File, Image.Image]], tmp: Path, n_clips: int
):
    clips = []
    for k in range(n_clips):
        src = tmp / f"clip{k}.mp4"
        used = photos[k * 6 : k * 6 + 6]
        render_clip([img for _, img in used], src)
        f = File(
            f"generated clip {k}",
            f"gen-clip-{k}",
            "video",
            hash_video_file(src),
            groups={p.group for p, _ in used},
        )
        arch.add(f)
        clips.append((f, src))
    ix = ix_builder()
    table = {}
    frame_level = {}
    for name, kw in VIDEO_TRANSFORMS.items():
        ok = wrong = 0
        fq = fn_ = 0
        variants: dict[str, int] = defaultdict(int)
        for f, src in clips:
            dst = tmp / f"t-{abs(hash(name))}-{f.blob}.mp4"
            transcode(src, dst, **kw)
            frames = hash_video_file(dst)
            hits = query(ix, frames, "video")
            v = hits.get(f.blob)
            if v is not None and v["tier"] == "match":
                ok += 1
                variants[str(v["variant"])] += 1
                fm = v["frames_matched"]
                fq += fm["query"]  # type: ignore[index]
            fn_ += sum(fr.informative for fr in frames)
            wrong += sum(
                1
                for b, h in hits.items()
                if h["tier"] == "match" and not arch.files[b - 1].related(f)
            )
        table[name] = (ok, len(clips), wrong, dict(variants))
        frame_level[name] = (fq, fn_)
    return table, frame_level, ix


# ------------------------------------------------------------------------------- false matches


def unrelated_pairs(arch: Archive, ix: FrameIndex, low_info: list[FrameHash]) -> dict[str, object]:
    """Frame tiers over all cross pairs of frames of unrelated files (different groups)."""
    nf = len(arch.files)
    rel = np.zeros((nf + 1, nf + 1), dtype=np.bool_)
    for i, a in enumerate(arch.files, start=1):
        for j, b in enumerate(arch.files, start=1):
            rel[i, j] = a.related(b)
    fb = np.asarray(ix.blob_id)
    n = ix.size
    q = search.Query(
        pts=np.asarray(ix.pts),
        dhash=np.asarray(ix.dhash),
        phash=np.asarray(ix.phash),
        dhash_m=np.asarray(ix.dhash_masked),
        phash_m=np.asarray(ix.phash_masked),
        pdq=np.ascontiguousarray(np.asarray(ix.pdq).T),
    )
    pairs = search._frame_pairs(ix, q, None)
    unrelated = ~rel[fb[pairs.qi], fb[pairs.row]] & (pairs.qi < pairs.row)
    related_frames = rel[fb[:, None], fb[None, :]]
    cross = int(np.triu(~related_frames, 1).sum())
    m = int(((pairs.tier == 2) & unrelated).sum())
    bad = np.flatnonzero((pairs.tier == 2) & unrelated)[:10]
    examples = [
        (
            arch.files[fb[pairs.qi[k]] - 1].name,
            arch.files[fb[pairs.row[k]] - 1].name,
            int(pairs.dd[k]),
            int(pairs.dq[k]),
            search.VARIANTS[pairs.variant[k]],
        )
        for k in bad
    ]
    s = int(((pairs.tier == 1) & unrelated).sum())
    # minimum distances between unrelated frames per hash (full frame)
    mins = {}
    for name in ("dhash", "phash"):
        col = np.asarray(getattr(ix, name))
        d = np.bitwise_count(col[:, None] ^ col[None, :]).astype(np.int16)
        d[related_frames] = 999
        mins[name] = int(d.min())
    pdq = np.ascontiguousarray(np.asarray(ix.pdq).T)
    dp = np.zeros((n, n), dtype=np.int16)
    for k in range(4):
        dp += np.bitwise_count(pdq[:, k][:, None] ^ pdq[:, k][None, :]).astype(np.int16)
    dp[related_frames] = 999
    mins["pdq"] = int(dp.min())
    # low-information frames: what they would do if they were indexed
    li = np.array([f.dhash for f in low_info], dtype=np.uint64)
    lp = np.array([f.phash for f in low_info], dtype=np.uint64)
    if li.size > 1:
        dd = np.bitwise_count(li[:, None] ^ li[None, :])
        ddp = np.bitwise_count(lp[:, None] ^ lp[None, :])
        iu = np.triu_indices(li.size, 1)
        li_pairs = int(iu[0].size)
        li_close = int(((dd[iu] <= search.MATCH_DHASH) & (ddp[iu] <= search.MATCH_PHASH)).sum())
    else:
        li_pairs = li_close = 0
    return {
        "frames": n,
        "cross_pairs": cross,
        "match_pairs": m,
        "suggestion_pairs": s,
        "match_rate": m / cross if cross else 0.0,
        "match_examples": examples,
        "min_unrelated": mins,
        "low_info_frames": int(li.size),
        "low_info_pairs": li_pairs,
        "low_info_pairs_within_match_thresholds": li_close,
    }


# ------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.environ.get("VERIFY_CORPUS", "/work/shared/corpus"))
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--no-dense", action="store_true", help="skip the every-frame pair count")
    ap.add_argument("--tmp", default="/tmp/verify-bench-matching")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    arch = Archive()
    by_path = load_corpus(corpus, arch)
    low_info = [fr for f in arch.files for fr in f.frames if not fr.informative]
    print(
        f"# corpus: {len(arch.files)} files, "
        f"{sum(len(f.frames) for f in arch.files)} frames "
        f"({len(low_info)} low-information), {time.perf_counter() - t0:.1f} s"
    )
    # sources for generated transforms: informative photos, not variants of each other
    photos: list[tuple[File, Image.Image]] = []
    seen_groups = set()
    for f in arch.files:
        if f.kind != "image" or not f.frames[0].informative or f.group in seen_groups:
            continue
        if (f.frames[0].pdq_quality or 0) < 80:
            continue
        with Image.open(corpus / f.name) as im:
            if im.mode not in ("RGB", "L") or "transparency" in im.info:
                continue  # alpha/16-bit: our RGB transforms would change the picture itself
            img = ImageOps.exif_transpose(im).convert("RGB")
        if min(img.size) < 200:
            continue
        seen_groups.add(f.group)
        img.thumbnail((1280, 1280))
        photos.append((f, img))
    rng = np.random.default_rng(5)
    order = rng.permutation(len(photos))
    photos = [photos[i] for i in order]
    img_sources = photos[: args.images]
    clip_photos = photos[len(img_sources) : len(img_sources) + 6 * args.clips]

    def build() -> FrameIndex:
        return arch.index()

    table_v, frame_level, ix = video_transforms(arch, build, clip_photos, tmp, args.clips)
    sets = corpus_sets(arch, ix, by_path, corpus)
    table_i, misses = image_transforms(arch, ix, img_sources)
    fp = unrelated_pairs(arch, ix, low_info)

    print(
        f"\n## Thresholds: frame match dHash <= {search.MATCH_DHASH} and pHash <= "
        f"{search.MATCH_PHASH} (or PDQ <= {search.MATCH_PDQ}); suggestion dHash <= "
        f"{search.SUGGEST_DHASH} with pHash <= {search.SUGGEST_PHASH} or PDQ <= "
        f"{search.SUGGEST_PDQ}; file match >= {search.MATCH_FRACTION:.0%} of frames\n"
    )
    print("### Corpus near-duplicate sets (variant -> its group's original)\n")
    print("| variant | found as | via | informative frames | false matches |")
    print("|---|---|---|---:|---|")
    for path, tier, variant, inf, wrong in sets:
        print(
            f"| `{path.replace('near-duplicates/', '')}` | {tier} | {variant} | {inf} | "
            f"{', '.join(wrong) or 0} |"
        )
    print(f"\n### Generated image transforms ({len(img_sources)} corpus photos)\n")
    print("| transform | recall at match | false matches | matched via |")
    print("|---|---:|---:|---|")
    for name, (ok, n, wrong, v) in table_i.items():
        print(f"| {name} | {ok}/{n} = {ok / n:.2f} | {wrong} | {v} |")
    print(
        "\nStills not found at tier match (distances dHash/pHash/PDQ per variant to the source):\n"
    )
    for name, path, tier, quality, d in misses:
        dist = ", ".join(f"{v} {a}/{b}/{c}" for v, (a, b, c) in d.items())
        print(f"- {name}: `{path}` (PDQ quality {quality}) found as {tier}; {dist}")
    print(f"\n### Generated video transforms ({args.clips} clips of 60 s from corpus photos)\n")
    print("| transform | recall at match (video level) | frames matched | false matches | via |")
    print("|---|---:|---:|---:|---|")
    for name, (ok, n, wrong, v) in table_v.items():
        fq, fn_ = frame_level[name]
        print(f"| {name} | {ok}/{n} = {ok / n:.2f} | {fq}/{fn_} | {wrong} | {v} |")
    print("\n### Unrelated frame pairs\n")
    for k, v in fp.items():
        print(f"- {k}: {v}")
    if not args.no_dense:
        import pairs

        dense = pairs.report(corpus, family)
        print("\n### Every decoded frame: unrelated cross pairs (all 4 variants)\n")
        print(
            f"{dense['files']} files, {dense['decoded_frames']} decoded frames, "
            f"{dense['informative_frames']} informative, {dense['distinct_pictures']} distinct "
            f"pictures (PDQ > 31 from every kept frame of the same file); "
            f"{dense['seconds'][0]} s hashing, {dense['seconds'][1]} s counting\n"
        )
        print("| pairs over | unrelated pairs | match | suggestion | 95 % bound per pair |")
        print("|---|---:|---:|---:|---:|")
        for key, label in (("every_frame", "every frame"), ("distinct", "distinct pictures")):
            c = dense[key]
            bound = f"{c['bound95']:.1e}" if c["bound95"] is not None else "-"
            print(
                f"| {label} | {c['unrelated_pairs']:,} | {c['match']} | {c['suggestion']} | "
                f"{bound} |"
            )
        for key in ("every_frame", "distinct"):
            c = dense[key]
            print(f"\n{key}: match per variant {c['match_per_variant']}")
            print(f"  near misses, route 1 (dHash/pHash both <= threshold + k): {c['near_route1']}")
            print(f"  near misses, route 2 (dHash <= 14 + k, PDQ <= 60 + 4k): {c['near_route2']}")
            print(f"  closest unrelated pair per hash: {c['min_unrelated']}")
            print(f"  matches: {c['examples']}")
            print(f"  within 2 bits (route 1): {c['near_examples']}")
    print(f"\n# total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
