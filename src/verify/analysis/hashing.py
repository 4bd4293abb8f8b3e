"""The fixed, versioned hashing recipe (PIPELINE "v3"; see docs/hashing.md).

From one decoded picture (a still or a video frame) to the hashes stored per frame:

1. upright: EXIF transpose for stills (`gray_from_image`), the stream's display rotation for
   video frames (`hash_gray(..., rotation_cw=...)`);
2. to 8-bit luma ('L', ITU-R 601 as Pillow and imagehash): alpha composited onto white,
   16-bit/int/float images scaled into 0-255;
3. uniform borders trimmed (letterbox/pillarbox/windowbox bars of any flat colour; never
   everything);
4. the trimmed picture area-downscaled (Pillow BOX) to fit in 512x512 (never upscaled):
   the "working image" every hash below is computed from;
5. pHash and dHash (64-bit, bit-identical to imagehash.phash/dhash of the working image),
   the same two on the top 75 % of it (bottom subtitle band masked), PDQ (256-bit) and its
   quality, and the informative flag (False for uniform, black or near-blank pictures:
   PDQ quality < 50 or luma standard deviation < 2).

Changing any step or constant here changes the hashes: bump `PIPELINE` in
`verify.analysis` when you do (stored hashes from another recipe are not comparable, unless
the change is listed in `COMPARABLE_PIPELINES`).

Recipe history: v1 trimmed lines up to std-dev 8; v2 (2026-11-25) only up to 3 (TRIM_STD);
v3 (2026-12) trims bars at both ends of an axis down to 15 % of it when the box left is
within 3:1 (TRIM_KEEP_PAIRED, TRIM_ASPECT: windowboxed vertical reposts), else 25 % as in
v2. v2 and v3 differ only on pictures with such bars, so their hashes are comparable.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from verify.analysis import PIPELINE
from verify.analysis.pdq import hamming256, pdq_hash

__all__ = [
    "MASK_KEEP",
    "MIN_PDQ_QUALITY",
    "PIPELINE",
    "WORK_SIZE",
    "Hashes",
    "dhash64",
    "gray_from_image",
    "hamming64",
    "hamming256",
    "hash_gray",
    "hash_image",
    "phash64",
    "query_variants",
    "rotate_gray",
    "trim_box",
    "working_image",
]

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]

WORK_SIZE = 512  # the working image fits in WORK_SIZE x WORK_SIZE
MASK_KEEP = 0.75  # masked variant: the top 75 % of the working image
MIN_PDQ_QUALITY = 50  # below: not informative (ThreatExchange/HMA discard <= 49)
MIN_STD = 2.0  # luma standard deviation below this: uniform, not informative
# A border line is "uniform" when its std-dev is at most TRIM_STD ... Real letterbox and
# pillarbox bars measure <= 0.6 even after H.264 (threatexchange-tmk samples). Recipe v1 used
# 8, which also took dark or flat *picture* edges for bars (textured shadows, walls at std
# 4-8); whether such an edge was trimmed then flipped with a 1 % resize or a logo in it and
# moved every hash by 15-20 bits (docs/matching.md). v2: 3.
TRIM_STD = 3.0
TRIM_MEAN = 8.0  # ... and its mean is within this of the outermost line's mean
TRIM_KEEP = 0.25  # never trim an axis to less than this fraction of it ...
# ... except with bars at both of its ends (v3): a vertical repost puts a 16:9 picture,
# scaled to two thirds of the width, in the middle of a 9:16 frame with flat bars on all
# four sides (a "windowbox"; 1080x1920 with the picture 720x405: 21 % of the rows), which
# the 25 % floor left untrimmed, so the copy was never found. Two-sided trims may go down
# to TRIM_KEEP_PAIRED of the axis when the box left is no more elongated than TRIM_ASPECT
# (3:1 or 1:3), so a picture is never cut to a thin strip: a landscape frame that keeps
# its full width loses no more rows than before. One-sided trims keep TRIM_KEEP.
TRIM_KEEP_PAIRED = 0.15
TRIM_ASPECT = 3.0
# Without a pairing rule, a flat sky, field or wall at the frame's edge (each row of a
# vertical gradient is "uniform") was trimmed as if it were a letterbox, and a burned-in
# subtitle band then changed the trim box and moved every hash by 18-24 bits. So: a dark
# bar (mean luma <= TRIM_DARK) is trimmed as found (a subtitle inside the bottom bar makes
# bars asymmetric); a lighter bar only when the opposite side has a matching one (real grey
# or white letterboxes are symmetric; skies and walls are not).
TRIM_DARK = 48.0
TRIM_PAIR = 0.03  # matching bars: lengths within this fraction of the axis (or 2 lines)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WIDE_MODES = {"I", "F", "I;16", "I;16B", "I;16L", "I;16N"}


@dataclass(frozen=True)
class Hashes:
    phash: int  # unsigned 64-bit
    dhash: int
    phash_masked: int
    dhash_masked: int
    pdq: bytes  # 32 bytes, big-endian (hex = reference hex)
    pdq_quality: int
    informative: bool
    # the trimmed region in the upright luma image: (top, bottom, left, right) as slice bounds
    box: tuple[int, int, int, int]


# --------------------------------------------------------------------------- conversions


def gray_from_image(img: Image.Image, *, transpose: bool = True) -> U8:
    """Upright 8-bit luma of a Pillow image: EXIF transpose (unless `transpose=False`),
    alpha composited onto white, 16-bit/int/float scaled into 0-255, any other mode
    converted through RGB. Returns a (H, W) uint8 array."""
    if transpose:
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode in _WIDE_MODES:
        return _scale_wide(np.asarray(img), float_mode=mode == "F")
    if mode in _ALPHA_MODES or (mode in ("P", "L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.uint8)
    if mode == "LAB":
        return np.asarray(img.getchannel(0), dtype=np.uint8)
    if mode in ("RGB", "1", "P", "CMYK", "YCbCr"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8)


def _scale_wide(a: npt.NDArray[np.generic], *, float_mode: bool) -> U8:
    """16-bit, 32-bit int and float images: keep 0 at 0 and scale so the maximum lands at
    255 when it exceeds 255 (a 12-bit or 16-bit picture keeps its look; a nearly flat one
    stays flat instead of having its noise stretched). Float images in [0, 1] are x255."""
    f = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if f.size == 0:
        return np.zeros(f.shape, dtype=np.uint8)
    lo = min(0.0, float(f.min()))
    f = f - lo
    hi = float(f.max())
    if float_mode and hi <= 1.0:
        f = f * 255.0
    elif hi > 255.0:
        f = f * (255.0 / hi)
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def rotate_gray(g: U8, rotation_cw: int) -> U8:
    """Rotate clockwise by 0/90/180/270 degrees (the metadata `rotation` convention)."""
    k = (int(rotation_cw) // 90) % 4
    return g if k == 0 else np.rot90(g, k=-k)


# --------------------------------------------------------------------------- trimming


def _uniform_run(mean: F64, std: F64) -> int:
    """How many leading lines are flat and of the outermost line's level."""
    if std[0] > TRIM_STD:
        return 0
    ok = (std <= TRIM_STD) & (np.abs(mean - mean[0]) <= TRIM_MEAN)
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else len(ok)


def _paired(a: int, b: int, mean: F64) -> tuple[int, int]:
    """Apply the bar rule to the runs `a` (start side) and `b` (end side) of one axis."""
    n = len(mean)
    tol = max(2, TRIM_PAIR * n)
    matched = a > 0 and b > 0 and abs(a - b) <= tol and abs(mean[0] - mean[-1]) <= TRIM_MEAN
    keep_a = a if (a > 0 and (mean[0] <= TRIM_DARK or matched)) else 0
    keep_b = b if (b > 0 and (mean[-1] <= TRIM_DARK or matched)) else 0
    return keep_a, keep_b


def _trim_once(g: U8) -> tuple[int, int, int, int]:
    """Uniform lines at each edge of `g`: (top, bottom, left, right) counts."""
    h, w = g.shape[:2]
    if h < 4 or w < 4:
        return 0, 0, 0, 0
    s = max(1, min(h, w) // 256)
    sub = g[::s, ::s].astype(np.float32)
    rmean, rstd = sub.mean(axis=1), sub.std(axis=1)
    cmean, cstd = sub.mean(axis=0), sub.std(axis=0)
    top, bottom = _paired(_uniform_run(rmean, rstd), _uniform_run(rmean[::-1], rstd[::-1]), rmean)
    left, right = _paired(_uniform_run(cmean, cstd), _uniform_run(cmean[::-1], cstd[::-1]), cmean)
    # back to full-resolution lines (a subsampled line stands for s lines; the cut may be
    # off by up to s - 1 lines, which moves no hash measurably)
    return min(h, top * s), min(h, bottom * s), min(w, left * s), min(w, right * s)


def trim_box(g: U8) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) slice bounds of `g` without its uniform borders.

    A border line (row or column) has std-dev <= TRIM_STD and a mean within TRIM_MEAN of the
    outermost line, which tolerates compression noise in bars. Dark bars are trimmed as
    found; lighter ones only in matching pairs (see TRIM_DARK), so a flat sky or wall at one
    edge is picture, not a bar. Statistics
    are taken on a subsample (every s-th pixel, s = short side // 256) for speed. Trimming is
    repeated on the result until nothing changes (at most 4 passes), so a black bar followed
    by a flat white sky ends where the sky alone would: the letterboxed copy and the
    original reach the same box. An axis is never trimmed below TRIM_KEEP of its lines (a
    uniform or near-uniform picture is never trimmed away), or below TRIM_KEEP_PAIRED when
    the pass trims both of its ends and the box left is within TRIM_ASPECT (a windowbox)."""
    h, w = g.shape[:2]
    y0, y1, x0, x1 = 0, h, 0, w
    for _ in range(4):
        top, bottom, left, right = _trim_once(g[y0:y1, x0:x1])
        rows, cols = (y1 - bottom) - (y0 + top), (x1 - right) - (x0 + left)
        cut_rows = _allowed(top, bottom, rows, h, TRIM_KEEP)
        cut_cols = _allowed(left, right, cols, w, TRIM_KEEP)
        deep_rows = not cut_rows and _allowed(top, bottom, rows, h, TRIM_KEEP_PAIRED, paired=True)
        deep_cols = not cut_cols and _allowed(left, right, cols, w, TRIM_KEEP_PAIRED, paired=True)
        # a trim below TRIM_KEEP only where the box this pass leaves is not a strip: both
        # deep trims together, else each alone
        for take_rows, take_cols in (
            (deep_rows, deep_cols),
            (deep_rows, False),
            (False, deep_cols),
        ):
            if not (take_rows or take_cols):
                continue
            bh = rows if (cut_rows or take_rows) else y1 - y0
            bw = cols if (cut_cols or take_cols) else x1 - x0
            if max(bh, bw) <= TRIM_ASPECT * min(bh, bw):
                cut_rows, cut_cols = cut_rows or take_rows, cut_cols or take_cols
                break
        if cut_rows:
            y0, y1 = y0 + top, y1 - bottom
        if cut_cols:
            x0, x1 = x0 + left, x1 - right
        if not (cut_rows or cut_cols):
            break
    return y0, y1, x0, x1


def _allowed(a: int, b: int, left: int, n: int, keep: float, *, paired: bool = False) -> bool:
    """Whether trimming `a` and `b` lines off an axis of `n` lines (leaving `left`) is within
    the floor `keep`; `paired`: only when both ends have bars."""
    if paired and not (a and b):
        return False
    return bool(a or b) and left >= max(1, keep * n)


def _fit(h: int, w: int, limit: int = WORK_SIZE) -> tuple[int, int]:
    if h <= limit and w <= limit:
        return h, w
    scale = limit / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def working_image(g: U8, *, trim: bool = True) -> tuple[U8, tuple[int, int, int, int]]:
    """Trim uniform borders, then BOX-downscale to fit WORK_SIZE (never upscale)."""
    h, w = g.shape[:2]
    box = trim_box(g) if trim else (0, h, 0, w)
    y0, y1, x0, x1 = box
    crop = g[y0:y1, x0:x1]
    th, tw = _fit(crop.shape[0], crop.shape[1])
    if (th, tw) == crop.shape[:2]:
        return np.ascontiguousarray(crop), box
    im = Image.fromarray(np.ascontiguousarray(crop))
    return np.asarray(im.resize((tw, th), Image.Resampling.BOX), dtype=np.uint8), box


# --------------------------------------------------------------------------- 64-bit hashes


def _dct_rows(n: int, k: int) -> F64:
    """First k rows of the unnormalised DCT-II matrix (scipy.fftpack.dct, type 2)."""
    i = np.arange(k, dtype=np.float64)[:, None]
    j = np.arange(n, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * i * (2.0 * j + 1.0) / (2.0 * n))


_C8x32 = _dct_rows(32, 8)


def _bits_to_int(bits: npt.NDArray[np.bool_]) -> int:
    return int.from_bytes(np.packbits(bits.reshape(-1)).tobytes(), "big")


def phash64(g: U8) -> int:
    """imagehash.phash (hash_size 8) of this 'L' array, as an unsigned 64-bit int: LANCZOS to
    32x32, 2-D DCT-II, low 8x8 block against its median. Numpy matrix DCT instead of scipy;
    coefficients within 1e-9 of zero relative to the block are snapped to 0 so uniform
    pictures give imagehash's exact value (solid colour 0x8000000000000000, black 0)."""
    if g.size == 0:
        return 0
    im = Image.fromarray(np.ascontiguousarray(g))
    px = np.asarray(im.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    d = _C8x32 @ px @ _C8x32.T
    d[np.abs(d) <= 1e-9 * (np.abs(d).max() + 1.0)] = 0.0
    return _bits_to_int(d > np.median(d))


def dhash64(g: U8) -> int:
    """imagehash.dhash (hash_size 8) of this 'L' array: LANCZOS to 9x8, left < right."""
    if g.size == 0:
        return 0
    im = Image.fromarray(np.ascontiguousarray(g))
    px = np.asarray(im.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int(px[:, 1:] > px[:, :-1])


def hamming64(a: int, b: int) -> int:
    """Hamming distance of two 64-bit hashes, signed (as stored) or unsigned."""
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


# --------------------------------------------------------------------------- the recipe


def _hash_working(work: U8, box: tuple[int, int, int, int]) -> Hashes:
    if work.size == 0:
        return Hashes(0, 0, 0, 0, bytes(32), 0, False, box)
    keep = max(1, round(work.shape[0] * MASK_KEEP))
    top = work[:keep]
    pdq, quality = pdq_hash(work)
    informative = quality >= MIN_PDQ_QUALITY and float(work.std()) >= MIN_STD
    return Hashes(
        phash=phash64(work),
        dhash=dhash64(work),
        phash_masked=phash64(top),
        dhash_masked=dhash64(top),
        pdq=pdq,
        pdq_quality=quality,
        informative=informative,
        box=box,
    )


def hash_gray(g: U8, *, rotation_cw: int = 0, mirror: bool = False, trim: bool = True) -> Hashes:
    """The recipe on an 8-bit luma array as decoded (any size): rotate clockwise by
    `rotation_cw` to upright, trim uniform borders, fit in 512 px, hash. `mirror=True` hashes
    the left-right mirrored picture (query-time variant). `box` is reported in the upright
    image's coordinates.

    Trimming and the downscale are done before the rotation (it commutes with both), so a
    rotated video frame is only rotated at working size."""
    g = np.asarray(g, dtype=np.uint8)
    if g.ndim != 2:
        raise ValueError(f"hash_gray needs a (H, W) uint8 array, got shape {g.shape}")
    work, box = working_image(g, trim=trim)
    k = (int(rotation_cw) // 90) % 4
    if k:
        work = np.ascontiguousarray(rotate_gray(work, rotation_cw))
        box = _rotate_box(box, g.shape[0], g.shape[1], k)
    if mirror:
        work = np.ascontiguousarray(work[:, ::-1])
    return _hash_working(work, box)


def _rotate_box(
    box: tuple[int, int, int, int], h: int, w: int, k: int
) -> tuple[int, int, int, int]:
    """Map slice bounds through k clockwise quarter turns of an h x w image."""
    y0, y1, x0, x1 = box
    for _ in range(k):
        # clockwise: new row = old column, new column = (h - old row)
        y0, y1, x0, x1 = x0, x1, h - y1, h - y0
        h, w = w, h
    return y0, y1, x0, x1


def hash_image(img: Image.Image) -> Hashes:
    """The recipe on a Pillow image (EXIF transpose, alpha onto white, luma, ...)."""
    return hash_gray(gray_from_image(img))


def query_variants(g: U8, *, rotation_cw: int = 0) -> dict[str, Hashes]:
    """Query-time variants of one frame: {"full": ..., "mirrored": ...}. Each carries its
    subtitle-masked pair too; "borders trimmed" is part of every variant."""
    return {
        "full": hash_gray(g, rotation_cw=rotation_cw),
        "mirrored": hash_gray(g, rotation_cw=rotation_cw, mirror=True),
    }
