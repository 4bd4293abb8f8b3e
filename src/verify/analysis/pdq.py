"""PDQ (Meta's 256-bit perceptual hash) in numpy.

A port of the reference algorithm in facebook/ThreatExchange `pdq/cpp/hashing/pdqhashing.cpp`
and `pdq/cpp/downscaling/downscaling.cpp` (the `pdqhash` package has no wheels, see
docs/hashing.md):

1. luma Y = 0.299 R + 0.587 G + 0.114 B as float (grey input is used as is);
2. two passes of a Jarosz tent filter (box filter along rows, then along columns; window
   ceil(n / 128)), then decimation to 64x64 at the target centres;
3. quality = sum of quantised gradients of the 64x64 image / 90, capped at 100;
4. the 16x16 block of DCT coefficients (1..16) x (1..16) of the 64x64 image;
5. bit k = i * 16 + j is set when coefficient [i][j] is above the median (Torben's median,
   the 128th smallest of 256).

The hash is returned as 32 bytes, big-endian: `pdq.hex()` is the reference's 64-digit hex
(its `Hash256::format` prints word 15 first), so bit 255 is the top bit of byte 0.

Differences from the C++ reference: sums are accumulated in float64 (the reference runs a
float32 running sum), which can flip a coefficient that sits on the median; measured against
the reference hashes this costs 0-2 bits. The reference *photo hasher* tool also squashes
images larger than 512 px to 512x512 with CImg's nearest-neighbour resize before hashing;
that is a choice of the caller (`reference_resize`), not part of the hash.
"""

import functools
import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIHEDRAL",
    "hamming256",
    "pdq_dihedral",
    "pdq_hash",
    "pdq_hash_mirrored",
    "pdq_hex",
    "reference_resize",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

MIN_HASHABLE_DIM = 5
_NUM_JAROSZ_XY_PASSES = 2
_EMPTY = bytes(32)


def _dct_matrix() -> F64:
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    out: F64 = np.sqrt(2.0 / 64.0) * np.cos((math.pi / 2.0 / 64.0) * i * (2.0 * j + 1.0))
    return out


_DCT = _dct_matrix()  # 16 x 64


def _luma(image: npt.NDArray[np.generic]) -> F32:
    """Float luma of a (H, W) grey or (H, W, >=3) RGB array (uint8 scale)."""
    a = np.asarray(image)
    if a.ndim == 2:
        return a.astype(np.float32)
    if a.ndim == 3 and a.shape[2] >= 3:
        rgb = a[:, :, :3].astype(np.float32)
        y = (
            np.float32(0.299) * rgb[:, :, 0]
            + np.float32(0.587) * rgb[:, :, 1]
            + np.float32(0.114) * rgb[:, :, 2]
        )
        return np.asarray(y, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0].astype(np.float32)
    raise ValueError(f"PDQ needs a (H, W) or (H, W, 3) array, got shape {a.shape}")


def _window(old: int, new: int = 64) -> int:
    return (old + 2 * new - 1) // (2 * new)


def _box_transpose(v: F64, window: int) -> F64:
    """v @ B for the reference box filter B (box1DFloat): output i of B is the mean of input
    [i - L, i + R] clipped to the vector, with R = (window + 2) // 2 - 1, L = window - 1 - R."""
    n = v.shape[1]
    if window <= 1:
        return v
    right = (window + 2) // 2 - 1
    left = window - 1 - right
    idx = np.arange(n)
    hi = np.minimum(n, idx + right + 1)
    lo = np.maximum(0, idx - left)
    w = v / (hi - lo)[None, :]
    # diff[r, lo[j]] += w[r, j] for every (r, j) in order, then diff[r, hi[j]] -= w[r, j]:
    # what two np.add.at calls do, as one bincount over the flattened positions, which adds
    # the same terms in the same order from 0.0, so gives the same bits (np.add.at took
    # 2-6 ms per size, paid by every analysis child for its picture's sizes)
    rows, width = v.shape[0], n + 1
    base = (np.arange(rows) * width)[:, None]
    where = np.concatenate([(base + lo[None, :]).ravel(), (base + hi[None, :]).ravel()])
    diff = np.bincount(where, np.concatenate([w.ravel(), (-w).ravel()]), rows * width)
    return np.cumsum(diff.reshape(rows, width)[:, :n], axis=1)


@functools.lru_cache(maxsize=32)
def _resampler(n: int) -> tuple[npt.NDArray[np.intp], F32]:
    """Two Jarosz box passes then decimation to 64 samples at the centres, as one linear
    operator (the passes along rows and along columns commute), stored banded: output i is
    sum_k weight[i, k] * input[index[i, k]]."""
    sel = (((np.arange(64) + 0.5) * n) / 64).astype(np.intp)
    m = np.zeros((64, n))
    m[np.arange(64), sel] = 1.0
    window = _window(n)
    for _ in range(_NUM_JAROSZ_XY_PASSES):
        m = _box_transpose(m, window)
    nz = m != 0.0
    first = nz.argmax(axis=1)
    last = n - 1 - nz[:, ::-1].argmax(axis=1)
    span = int((last - first).max()) + 1
    index = np.minimum(first[:, None] + np.arange(span)[None, :], n - 1)
    weight = np.take_along_axis(m, index, axis=1)
    # columns clamped at the edge repeat the last index: zero their weight
    weight[first[:, None] + np.arange(span)[None, :] > n - 1] = 0.0
    index.setflags(write=False)
    w32 = weight.astype(np.float32)
    w32.setflags(write=False)
    return index, w32


def _downsample64(y: F32) -> F64:
    """Element-wise products and sums only: no BLAS call, whose thread pool stalls badly
    next to a multi-threaded video decoder on a loaded machine (measured 0.4 -> 54 ms)."""
    rows, cols = y.shape
    if rows == 64 and cols == 64:
        return y.astype(np.float64)
    ri, rw = _resampler(rows)
    ci, cw = _resampler(cols)
    t = (y[ri] * rw[:, :, None]).sum(axis=1, dtype=np.float64)  # 64 x cols
    out = (t[:, ci] * cw[None, :, :]).sum(axis=2)  # 64 x 64
    return np.asarray(out, dtype=np.float64)


def _quality(b: F64) -> int:
    b32 = b.astype(np.float32)
    dv = np.trunc((b32[:-1, :] - b32[1:, :]) * np.float32(100) / np.float32(255))
    dh = np.trunc((b32[:, :-1] - b32[:, 1:]) * np.float32(100) / np.float32(255))
    gradient_sum = int(np.abs(dv).sum() + np.abs(dh).sum())
    return min(100, gradient_sum // 90)


def pdq_float(image: npt.NDArray[np.generic]) -> tuple[F64, int]:
    """The 16x16 DCT block and the quality of an RGB or grey uint8-scale array."""
    y = _luma(image)
    if y.shape[0] < MIN_HASHABLE_DIM or y.shape[1] < MIN_HASHABLE_DIM:
        return np.zeros((16, 16)), 0
    b64 = _downsample64(y)
    quality = _quality(b64)
    # two small products; einsum keeps them off the BLAS thread pool (see _downsample64)
    t = np.einsum("ik,kl->il", _DCT, b64)
    return np.einsum("il,jl->ij", t, _DCT), quality


def _bits(dct16: F64) -> bytes:
    flat = dct16.reshape(256)
    median = np.partition(flat, 127)[127]
    bits = flat > median  # bit k = i * 16 + j
    return np.packbits(bits[::-1]).tobytes()


def pdq_hash(image: npt.NDArray[np.generic]) -> tuple[bytes, int]:
    """PDQ of an RGB (H, W, 3) or grey (H, W) uint8-scale array -> (32 bytes, quality 0-100).

    Images smaller than 5 px on a side hash to 32 zero bytes with quality 0 (as the reference).
    """
    dct16, quality = pdq_float(image)
    if quality == 0 and not dct16.any():
        return _EMPTY, 0
    return _bits(dct16), quality


# Dihedral transforms on the DCT block (reference dct16OriginalTo*). Names as the reference:
# flipx mirrors top-bottom, flipy mirrors left-right (what "mirrored video" means).
_ODD = (np.arange(16) % 2).astype(bool)  # index i stands for frequency i + 1
_SIGN_EVEN_NEG = np.where(_ODD, 1.0, -1.0)  # -1 at even index (odd frequency)
_CHECKER = np.where((np.arange(16)[:, None] + np.arange(16)[None, :]) % 2 == 1, -1.0, 1.0)


def _dihedral_blocks(a: F64) -> dict[str, F64]:
    rows_neg = _SIGN_EVEN_NEG[:, None] * a  # negate even i
    cols_neg = a * _SIGN_EVEN_NEG[None, :]  # negate even j
    return {
        "original": a,
        "rotate90": cols_neg.T,
        "rotate180": a * _CHECKER,
        "rotate270": rows_neg.T,
        "flipx": rows_neg,
        "flipy": cols_neg,
        "flipplus1": a.T,
        "flipminus1": (a * _CHECKER).T,
    }


DIHEDRAL = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
)


def pdq_dihedral(image: npt.NDArray[np.generic]) -> tuple[dict[str, bytes], int]:
    """The 8 dihedral PDQ hashes from one DCT: {name: 32 bytes} (names in `DIHEDRAL`), quality.

    Each is the hash of the image transformed that way (within a few bits of hashing the
    transformed pixels), as the reference `pdqDihedralHash256esFromFloatLuma`."""
    dct16, quality = pdq_float(image)
    if quality == 0 and not dct16.any():
        return dict.fromkeys(DIHEDRAL, _EMPTY), 0
    return {k: _bits(v) for k, v in _dihedral_blocks(dct16).items()}, quality


def pdq_hash_mirrored(image: npt.NDArray[np.generic]) -> tuple[bytes, int]:
    """PDQ of the horizontally mirrored image (left-right), by the DCT sign trick."""
    dct16, quality = pdq_float(image)
    if quality == 0 and not dct16.any():
        return _EMPTY, 0
    return _bits(dct16 * _SIGN_EVEN_NEG[None, :]), quality


def reference_resize(image: npt.NDArray[np.generic], limit: int = 512) -> npt.NDArray[np.generic]:
    """What the reference photo hasher does before hashing: an image with a side over `limit`
    is squashed to limit x limit by nearest neighbour (CImg `resize` default). Only for
    conformance checks against the reference's published image hashes."""
    a = np.asarray(image)
    rows, cols = a.shape[:2]
    if rows <= limit and cols <= limit:
        return a
    ri = (np.arange(limit) * rows) // limit
    ci = (np.arange(limit) * cols) // limit
    return a[np.ix_(ri, ci)] if a.ndim == 2 else a[ri][:, ci]


def pdq_hex(h: bytes) -> str:
    return h.hex()


def hamming256(a: bytes, b: bytes) -> int:
    """Hamming distance between two 32-byte PDQ hashes."""
    if len(a) != 32 or len(b) != 32:
        raise ValueError(f"PDQ hashes are 32 bytes, got {len(a)} and {len(b)}")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()
