"""Near-duplicate search: "have we seen this before, and where?".

Frames are compared, then frame hits are aggregated per candidate file (vPDQ style).

Per query frame, four variants are tried against every indexed frame:

- ``full``: the frame as hashed (letterbox/pillarbox borders are trimmed at hashing time);
- ``masked``: both sides' hashes computed with the bottom subtitle band masked;
- ``mirrored`` and ``mirrored+masked``: the query's hashes as they would be for the
  left-right mirrored frame, derived from the stored hash bits (dHash exactly; pHash and PDQ
  by the DCT sign rule, which is approximate for coefficients near the median).

The search key is the 64-bit dHash (the most overlay-robust hash measured, and a 64-bit
column is 4x cheaper to scan than PDQ), scanned exactly at `SCAN_DHASH` bits. Each candidate
frame is then confirmed (see `frame_tier`): pHash must agree too, or PDQ (256 bits, far
more discriminating) must be within `MATCH_PDQ`. A single 64-bit hash is never enough on its
own. Low-information frames are not indexed and never queried. Thresholds come from
`bench/matching` (docs/matching.md).

A candidate file is a *match* when at least `MATCH_FRACTION` of the query's frames, or of the
candidate's, match on one consistent time offset, and a *suggestion* when at least
`SUGGEST_FRACTION` do at the looser frame tier.
"""

import contextlib
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from verify.analysis import (
    COMPARABLE_PIPELINES,
    PIPELINE,
    AnalysisResult,
    FrameHash,
    incomplete_note,
    to_unsigned64,
)
from verify.dbread import Reader, Source, rows_in
from verify.errors import AnalysisError, BadInputError, NotFoundError
from verify.index import COMPARABLE_PARAMS, COMPARABLE_SQL, FrameIndex, frames_of_files, load_index
from verify.index import self_join as mih_self_join
from verify.services.provread import STANDING
from verify.services.refs import case_id as case_id_of
from verify.services.refs import case_slug, media_row

if TYPE_CHECKING:
    from verify.analysis.sandbox import ChildRun

# --- thresholds (bits); chosen in bench/matching, see docs/matching.md ----------------------
# Frame "match": dHash and pHash both close, or dHash close and PDQ (256 bits, unrelated
# pairs sit at 128 +- 8) well inside its range. At these values none of 45.8M unrelated
# corpus frame pairs matched in any variant (95 % bound 6.5e-8 per pair; docs/matching.md).
MATCH_DHASH = 12
MATCH_PHASH = 14
MATCH_PDQ = 60  # with dHash <= SUGGEST_DHASH
# The masked variants (bottom subtitle band ignored) have no PDQ to confirm them and hash only
# 75 % of the picture: they match MASKED_MARGIN bits tighter on both hashes (dHash <= 8,
# pHash <= 10). Subtitled copies sit at 0-5 bits there; at the full thresholds, near-blank
# white frames with one small object matched each other (docs/matching.md).
MASKED_MARGIN = 4
# Frame "suggestion": looser, still needs two hashes to agree.
SUGGEST_DHASH = 14
SUGGEST_PHASH = 18
SUGGEST_PDQ = 80
# The exact scan radius on the dHash key (the loosest dHash threshold above).
SCAN_DHASH = SUGGEST_DHASH
# `verify dupes` joins all pairs by multi-index hashing (4 x 16-bit chunks). At 7 bits each
# pair is found by probing 17 values per chunk; at 10 bits it takes 137 and ~5x the time
# (bench/search). So dupes keys on dHash <= 7 in any variant, then applies the same frame
# tiers: a frame pair 8-10 dHash bits apart is found by `verify search`, not by dupes.
DUPES_DHASH = 7
# File level: share of frames (of the query or of the candidate) matched on one offset.
MATCH_FRACTION = 0.5
SUGGEST_FRACTION = 0.2
# Offset voting: pts differences within this many seconds of the winning offset agree.
OFFSET_TOLERANCE = 1.5

VARIANTS = ("full", "masked", "mirrored", "mirrored+masked")
_TIER_RANK = {"match": 2, "suggestion": 1}


# --- query-time mirroring of stored hashes ------------------------------------------------

_REV8 = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], dtype=np.uint8)
# pHash bit (r, c) sits at position 63 - (8r + c) (imagehash order); c is the horizontal
# frequency. Mirroring negates odd horizontal frequencies: flip those bits.
_PHASH_ODD_COLUMNS = np.uint64(0x5555555555555555)


def _pdq_mirror_mask() -> npt.NDArray[np.uint64]:
    # PDQ bit k = 16 i + j (j: horizontal frequency j + 1), packed as packbits(bits[::-1]).
    bits = np.array([(k % 16) % 2 == 0 for k in range(256)], dtype=np.bool_)
    raw = np.packbits(bits[::-1]).tobytes()
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


_PDQ_MIRROR = _pdq_mirror_mask()


def mirror_dhash(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """dHash of the left-right mirrored frame (exact except for equal neighbours): each row
    byte reversed and inverted."""
    v = np.ascontiguousarray(values, dtype=np.uint64)
    rev = _REV8[v.view(np.uint8)].view(np.uint64).reshape(v.shape)
    out: npt.NDArray[np.uint64] = np.bitwise_not(rev)
    return out


def mirror_phash(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    out: npt.NDArray[np.uint64] = np.bitwise_xor(
        np.asarray(values, dtype=np.uint64), _PHASH_ODD_COLUMNS
    )
    return out


def mirror_pdq(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    w = np.asarray(words, dtype=np.uint64).reshape(-1, 4)
    out: npt.NDArray[np.uint64] = np.where(
        np.all(w == 0, axis=1, keepdims=True), w, np.bitwise_xor(w, _PDQ_MIRROR[None, :])
    )
    return out


def pdq_words(pdq: bytes | None) -> npt.NDArray[np.uint64]:
    if pdq is None or len(pdq) != 32:
        return np.zeros(4, dtype=np.uint64)
    return np.frombuffer(pdq, dtype=">u8").astype(np.uint64)


# --- frame level ----------------------------------------------------------------------------


def frame_tier(variant: str, dd: int, dp: int, dq: int) -> str | None:
    """The tier of one frame pair: "match", "suggestion" or None.

    dd/dp: dHash/pHash distances of this variant; dq: PDQ distance, -1 when unknown (either
    side has no PDQ, or the masked variants, where PDQ has no masked form).
    """
    masked = variant.endswith("masked")
    pdq_known = dq >= 0 and not masked
    margin = MASKED_MARGIN if masked else 0
    if dd <= MATCH_DHASH - margin and dp <= MATCH_PHASH - margin:
        return "match"
    if pdq_known and dq <= MATCH_PDQ and dd <= SUGGEST_DHASH:
        return "match"
    if dd <= SUGGEST_DHASH and (dp <= SUGGEST_PHASH or (pdq_known and dq <= SUGGEST_PDQ)):
        return "suggestion"
    return None


@dataclass
class Query:
    pts: npt.NDArray[np.float64]
    dhash: npt.NDArray[np.uint64]
    phash: npt.NDArray[np.uint64]
    dhash_m: npt.NDArray[np.uint64]
    phash_m: npt.NDArray[np.uint64]
    pdq: npt.NDArray[np.uint64]  # (n, 4)

    @property
    def size(self) -> int:
        return int(self.pts.shape[0])


def query_of(frames: list[FrameHash]) -> Query:
    use = [f for f in frames if f.informative]
    n = len(use)

    def u64(values: list[int]) -> npt.NDArray[np.uint64]:
        return np.array([to_unsigned64(v) for v in values], dtype=np.uint64).reshape(n)

    return Query(
        pts=np.array([f.pts for f in use], dtype=np.float64).reshape(n),
        dhash=u64([f.dhash for f in use]),
        phash=u64([f.phash for f in use]),
        dhash_m=u64([f.dhash if f.dhash_masked is None else f.dhash_masked for f in use]),
        phash_m=u64([f.phash if f.phash_masked is None else f.phash_masked for f in use]),
        pdq=np.array([pdq_words(f.pdq) for f in use], dtype=np.uint64).reshape(n, 4),
    )


@dataclass
class _Pairs:
    """Frame pairs as parallel arrays (one entry per query frame x indexed row)."""

    qi: npt.NDArray[np.int64]
    row: npt.NDArray[np.int64]
    tier: npt.NDArray[np.int8]  # 2 match, 1 suggestion
    variant: npt.NDArray[np.int8]  # index into VARIANTS
    dd: npt.NDArray[np.int16]
    dq: npt.NDArray[np.int16]

    @property
    def size(self) -> int:
        return int(self.qi.shape[0])


def _frame_pairs(
    index: FrameIndex, query: Query, threshold: int | None, *, self_join: bool = False
) -> _Pairs:
    """All (query frame, indexed row) pairs with a tier, keeping the best variant per pair.

    With `self_join` the query is the index itself: each unordered pair of frames of
    different files is found once, by multi-index hashing at `DUPES_DHASH` bits."""
    parts: list[_Pairs] = []
    if query.size and index.size:
        variants = [
            ("dhash", query.dhash, "phash", query.phash, query.pdq),
            ("dhash_masked", query.dhash_m, "phash_masked", query.phash_m, None),
            (
                "dhash",
                mirror_dhash(query.dhash),
                "phash",
                mirror_phash(query.phash),
                mirror_pdq(query.pdq),
            ),
            (
                "dhash_masked",
                mirror_dhash(query.dhash_m),
                "phash_masked",
                mirror_phash(query.phash_m),
                None,
            ),
        ]
        scan = SCAN_DHASH if threshold is None else max(SCAN_DHASH, threshold)
        for v, (dcol, dvals, pcol, pvals, pdq_q) in enumerate(variants):
            if self_join:
                qi, rows, dd8 = mih_self_join(
                    dvals, index.column(dcol), DUPES_DHASH, group=np.asarray(index.blob_id)
                )
            else:
                qi, rows, dd8 = index.range_search(dcol, dvals, scan)
            if qi.size == 0:
                continue
            dd = dd8.astype(np.int16)
            dp = index.hamming64(pcol, rows, pvals[qi]).astype(np.int16)
            if pdq_q is None:
                dq = np.full(qi.shape[0], -1, dtype=np.int16)
            else:
                dq = index.pdq_distance(rows, pdq_q[qi])
            tier = _tiers(VARIANTS[v], dd, dp, dq, threshold)
            keep = tier > 0
            parts.append(
                _Pairs(
                    qi[keep],
                    rows[keep],
                    tier[keep],
                    np.full(int(keep.sum()), v, dtype=np.int8),
                    dd[keep],
                    dq[keep],
                )
            )
    if not parts:
        e = np.empty(0, dtype=np.int64)
        s = np.empty(0, dtype=np.int16)
        return _Pairs(e, e.copy(), np.empty(0, np.int8), np.empty(0, np.int8), s, s.copy())
    qi = np.concatenate([p.qi for p in parts])
    row = np.concatenate([p.row for p in parts])
    tier = np.concatenate([p.tier for p in parts])
    var = np.concatenate([p.variant for p in parts])
    dd = np.concatenate([p.dd for p in parts])
    dq = np.concatenate([p.dq for p in parts])
    # best per (qi, row): highest tier, then lowest dHash distance, then earliest variant
    order = np.lexsort((var, dd, -tier, row, qi))
    qi, row = qi[order], row[order]
    first = np.ones(qi.shape[0], dtype=np.bool_)
    first[1:] = (qi[1:] != qi[:-1]) | (row[1:] != row[:-1])
    sel = order[first]
    return _Pairs(qi[first], row[first], tier[sel], var[sel], dd[sel], dq[sel])


def _tiers(
    variant: str,
    dd: npt.NDArray[np.int16],
    dp: npt.NDArray[np.int16],
    dq: npt.NDArray[np.int16],
    threshold: int | None,
) -> npt.NDArray[np.int8]:
    """Vectorised `frame_tier` (2 match, 1 suggestion, 0 none); --threshold N replaces the
    dHash/pHash match thresholds (the masked variants stay MASKED_MARGIN bits tighter)."""
    masked = variant.endswith("masked")
    pdq_known = (dq >= 0) & (not masked)
    md, mp = (
        (MATCH_DHASH, MATCH_PHASH)
        if threshold is None
        else (threshold, threshold + MATCH_PHASH - MATCH_DHASH)
    )
    # the masked variants stay MASKED_MARGIN bits tighter, but never below 0 (identical)
    margin = MASKED_MARGIN if masked else 0
    match = ((dd <= max(0, md - margin)) & (dp <= max(0, mp - margin))) | (
        pdq_known & (dq <= MATCH_PDQ) & (dd <= SUGGEST_DHASH)
    )
    suggest = (dd <= max(SUGGEST_DHASH, md)) & (
        (dp <= max(SUGGEST_PHASH, mp)) | (pdq_known & (dq <= SUGGEST_PDQ))
    )
    out: npt.NDArray[np.int8] = np.where(match, 2, np.where(suggest, 1, 0)).astype(np.int8)
    return out


# --- file level -----------------------------------------------------------------------------


def _offset(deltas: list[float]) -> float:
    """The pts difference most frame pairs agree on (1 s bins, neighbours counted)."""
    bins: dict[int, int] = defaultdict(int)
    for d in deltas:
        bins[round(d)] += 1
    scored = {b: bins[b] + 0.5 * (bins.get(b - 1, 0) + bins.get(b + 1, 0)) for b in bins}
    winner = max(sorted(scored), key=lambda b: scored[b])
    near = [d for d in deltas if abs(d - winner) <= OFFSET_TOLERANCE]
    return float(statistics.median(near))


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return (
        f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"
        if s >= 3600
        else f"{s // 60:02d}:{s % 60:02d}"
    )


def aggregate(
    pairs: list[tuple[float, float, int, int, str, str, int, int]],
    n_query: int,
    n_candidate: int,
    *,
    query_is_video: bool,
    candidate_is_video: bool,
) -> dict[str, Any] | None:
    """One candidate's verdict from its frame pairs.

    pairs: (query pts, candidate pts, query frame, candidate frame, tier, variant, dHash
    distance, PDQ distance or -1). Returns None when the candidate is below both tiers.
    """
    if not pairs or n_query == 0 or n_candidate == 0:
        return None
    both_video = query_is_video and candidate_is_video
    if both_video:
        offset = _offset([c - q for q, c, *_ in pairs])
        pairs = [p for p in pairs if abs((p[1] - p[0]) - offset) <= OFFSET_TOLERANCE]
    else:
        offset = None
    strong = [p for p in pairs if p[4] == "match"]

    def frac(
        sel: list[tuple[float, float, int, int, str, str, int, int]],
    ) -> tuple[float, int, int]:
        q = len({p[2] for p in sel})
        c = len({p[3] for p in sel})
        return max(q / n_query, c / n_candidate), q, c

    f_match, _, _ = frac(strong)
    f_any, _, _ = frac(pairs)
    if f_match >= MATCH_FRACTION:
        tier = "match"
        used = strong
    elif f_any >= SUGGEST_FRACTION or strong:
        tier = "suggestion"
        used = pairs
    else:
        return None
    fr, q_n, c_n = frac(used)
    # best pair per query frame for the distance summary
    per_q: dict[int, int] = {}
    for p in used:
        per_q[p[2]] = min(per_q.get(p[2], 64), p[6])
    dists = sorted(per_q.values())
    variants: dict[str, int] = defaultdict(int)
    for p in used:
        variants[p[5]] += 1
    variant = max(VARIANTS, key=lambda v: (variants.get(v, 0), -VARIANTS.index(v)))
    pdqs = [p[7] for p in used if p[7] >= 0]
    median = float(statistics.median(dists))
    out: dict[str, Any] = {
        "tier": tier,
        "score": round(fr * (1.0 - median / 64.0), 3),
        "query_frames": n_query,
        "candidate_frames": n_candidate,
        "frames_matched": {"query": q_n, "candidate": c_n},
        "query_fraction": round(q_n / n_query, 3),
        "candidate_fraction": round(c_n / n_candidate, 3),
        "best_distance": dists[0],
        "median_distance": median,
        "distance_hash": "dhash",
        "pdq_best": min(pdqs) if pdqs else None,
        "variant": variant,
        "variants": dict(sorted(variants.items())),
        "offset": None,
        "query_range": None,
        "candidate_range": None,
        "aligned": None,
    }
    if both_video and offset is not None:
        qs = [p[0] for p in used]
        cs = [p[1] for p in used]
        off = round(offset, 1) + 0.0  # + 0.0: -0.04 rounds to -0.0, shown as `-0 s`
        out["offset"] = off
        out["query_range"] = [round(min(qs), 3), round(max(qs), 3)]
        out["candidate_range"] = [round(min(cs), 3), round(max(cs), 3)]
        out["aligned"] = (
            f"query {_clock(min(qs))}-{_clock(max(qs))} ~ candidate "
            f"{_clock(min(cs))}-{_clock(max(cs))}, offset {off:+g} s"
        )
    elif query_is_video or candidate_is_video:
        video_pts = [p[0] for p in used] if query_is_video else [p[1] for p in used]
        where = "query" if query_is_video else "candidate"
        out["aligned"] = f"image ~ {where} frame at {_clock(min(video_pts))}"
        if len(set(video_pts)) > 1:
            out["aligned"] += f" (and {len(set(video_pts)) - 1} more)"
    return out


# --- services -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Held:
    """One media holding a file (a row of media x cases x blobs)."""

    media: int
    case_id: int
    case: str  # slug
    original_name: str
    blob: int
    sha256: str
    kind: str


_HOLDINGS = (
    "SELECT m.id, m.case_id, c.slug, m.original_name, m.blob_id, b.sha256, b.kind "
    "FROM media m JOIN cases c ON c.id = m.case_id JOIN blobs b ON b.id = m.blob_id "
    "WHERE m.blob_id IN ({in})"
)


def holdings(db: Reader, blob_ids: list[int]) -> dict[int, list[_Held]]:
    """The media holding each file, in media id order."""
    if not blob_ids:
        return {}
    blob_ids = sorted(set(blob_ids))  # a file given twice would come back twice
    rows = sorted(rows_in(db, _HOLDINGS, blob_ids), key=lambda r: int(r[0]))
    out: dict[int, list[_Held]] = defaultdict(list)
    for r in rows:
        held = _Held(int(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5]), str(r[6]))
        out[held.blob].append(held)
    return out


T = TypeVar("T")


class _Early(Generic[T]):
    """A value computed ahead of its use (while the query's child process runs); an error is
    raised where the value is used, so errors surface in the same order as without."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._error: Exception | None = None
        try:
            self._value: T | None = compute()
        except Exception as exc:  # noqa: BLE001 - re-raised by get()
            self._value, self._error = None, exc

    def get(self) -> T:
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _counts(index: FrameIndex, blob_ids: list[int]) -> dict[int, int]:
    return index.frame_counts(blob_ids) if blob_ids else {}


Tuple8 = tuple[float, float, int, int, str, str, int, int]


def _group(
    key: npt.NDArray[np.int64],
    q_pts: npt.NDArray[np.float64],
    c_pts: npt.NDArray[np.float64],
    q_idx: npt.NDArray[np.int64],
    c_idx: npt.NDArray[Any],
    pairs: "_Pairs",
    keep: npt.NDArray[np.bool_],
) -> dict[int, list[Tuple8]]:
    """Frame pairs grouped by `key` as `aggregate` tuples."""
    tiers = np.where(pairs.tier[keep] == 2, "match", "suggestion").tolist()
    variants = [VARIANTS[v] for v in pairs.variant[keep].tolist()]
    out: dict[int, list[Tuple8]] = defaultdict(list)
    for k, qp, cp, qx, cx, t, v, dd, dq in zip(
        key.tolist(),
        q_pts.tolist(),
        c_pts.tolist(),
        q_idx.tolist(),
        c_idx.tolist(),
        tiers,
        variants,
        pairs.dd[keep].tolist(),
        pairs.dq[keep].tolist(),
        strict=True,
    ):
        out[k].append((qp, cp, qx, cx, t, v, dd, dq))
    return out


def match_files(
    index: FrameIndex,
    query: Query,
    *,
    query_kind: str,
    exclude_blob_id: int | None = None,
    threshold: int | None = None,
) -> dict[int, dict[str, Any]]:
    """The verdict for every indexed file that matches or is suggested: {blob id: verdict}.
    Pure computation over the index (no database)."""
    pairs = _frame_pairs(index, query, threshold)
    cand_blob = index.take("blob_id", pairs.row)
    keep = cand_blob != (-1 if exclude_blob_id is None else exclude_blob_id)
    by_blob = _group(
        cand_blob[keep],
        query.pts[pairs.qi[keep]],
        index.take("pts", pairs.row[keep]),
        pairs.qi[keep],
        index.take("idx", pairs.row[keep]),
        pairs,
        keep,
    )
    counts = _counts(index, list(by_blob))
    query_is_video = query_kind == "video"
    verdicts: dict[int, dict[str, Any]] = {}
    for blob, tuples in by_blob.items():
        cand_video = counts[blob] > 1 or any(t[1] > 0 for t in tuples)
        verdict = aggregate(
            tuples,
            query.size,
            counts[blob],
            query_is_video=query_is_video,
            candidate_is_video=cand_video,
        )
        if verdict is not None:
            verdicts[blob] = verdict
    return verdicts


def search_frames(
    archive: Source,
    query_frames: list[FrameHash],
    *,
    query_kind: str,
    exclude_blob_id: int | None = None,
    case: str | None = None,
    threshold: int | None = None,
    index: "FrameIndex | Sequence[FrameIndex] | _Early[FrameIndex] | None" = None,
    query_sha256: str | None = None,
) -> list[dict[str, Any]]:
    """Ranked near-duplicates of a set of frame hashes, one entry per media holding a
    matching file (the same file in two cases gives two entries with the same verdict)."""
    if threshold is not None and not 0 <= threshold <= 32:
        raise BadInputError(f"threshold {threshold} is out of range: give 0-32 dHash bits")
    query = query_of(query_frames)
    if query.size == 0:
        return []
    if index is None:
        index = load_index(archive)
    elif isinstance(index, _Early):
        index = index.get()
    # several indexes partition the frames by file (e.g. `media add`'s base + what it added)
    indexes = [index] if isinstance(index, FrameIndex) else list(index)
    case_id = None
    if case is not None:
        with archive.reader() as db:
            case_id = case_id_of(db, case)
    verdicts: dict[int, dict[str, Any]] = {}
    for part in indexes:
        verdicts.update(
            match_files(
                part,
                query,
                query_kind=query_kind,
                exclude_blob_id=exclude_blob_id,
                threshold=threshold,
            )
        )
    with archive.reader() as db:
        held = holdings(db, list(verdicts))
    hits: list[dict[str, Any]] = []
    for blob, verdict in verdicts.items():
        for m in held.get(blob, []):
            if case_id is not None and m.case_id != case_id:
                continue
            hit = {
                "case": m.case,
                "media": m.media,
                "original_name": m.original_name,
                "sha256": f"sha256:{m.sha256}",
                "kind": m.kind,
                "exact": query_sha256 is not None and m.sha256 == query_sha256,
            }
            hit.update(verdict)
            hits.append(hit)
    # byte-identical copies first among equals: same tier and score, the exact bytes win
    hits.sort(key=lambda h: (-_TIER_RANK[h["tier"]], -h["score"], not h["exact"], h["media"]))
    for rank, h in enumerate(hits, start=1):
        h["rank"] = rank
    return hits


def _stored_frames(index: FrameIndex, blob_id: int) -> list[FrameHash]:
    rows = index.rows_of_blob(blob_id)
    out = []
    for r in rows.tolist():
        words = [int(index.pdq[k][r]) for k in range(4)]
        pdq = b"".join(w.to_bytes(8, "big") for w in words) if index.has_pdq[r] else None
        out.append(
            FrameHash(
                idx=int(index.idx[r]),
                pts=float(index.pts[r]),
                phash=int(index.phash[r]),
                dhash=int(index.dhash[r]),
                phash_masked=int(index.phash_masked[r]),
                dhash_masked=int(index.dhash_masked[r]),
                pdq=pdq,
            )
        )
    return out


def near_duplicates_of_blob(
    archive: Source,
    blob_id: int,
    *,
    case: str | None = None,
    threshold: int | None = None,
    indexes: "Sequence[FrameIndex] | None" = None,
) -> list[dict[str, Any]]:
    """Near-duplicates of a stored file in every case (itself excluded). Exact copies (same
    SHA-256) are the same blob and so are not listed here. `indexes`: the frame index as
    parts that partition the files (default: `load_index`)."""
    with archive.reader() as db:
        found = db.rows("SELECT kind FROM blobs WHERE id = :id", {"id": blob_id})
    if not found:
        raise NotFoundError(f"no stored file with id {blob_id}")
    kind = str(found[0][0])
    parts = list(indexes) if indexes is not None else [load_index(archive)]
    frames: list[FrameHash] = []
    for part in parts:
        frames = frames or _stored_frames(part, blob_id)
    return search_frames(
        archive,
        frames,
        query_kind=kind,
        exclude_blob_id=blob_id,
        case=case,
        threshold=threshold,
        index=parts,
    )


def search_media(
    archive: Source, media_ref: str, *, case: str | None = None, threshold: int | None = None
) -> dict[str, Any]:
    """Near-duplicates of media already in the archive (`12` or `sha256:ab12cd`)."""
    case = None if case is None else case_slug(case)
    with archive.reader() as db:
        media_id, blob_id, _, sha, kind = media_row(db, media_ref)
        if sha is None:
            raise NotFoundError(f"media {media_ref} refers to a missing file")
        hashed = _hashed(db, int(media_id), int(blob_id), str(kind), "search with")
        frames, problem = (hashed.frames, hashed.informative), hashed.problem
        copies = holdings(db, [blob_id]).get(blob_id, [])
    data: dict[str, Any] = {
        "query": {
            "media": media_id,
            "sha256": f"sha256:{sha}",
            "kind": kind,
            "frames": frames[0],
            "informative_frames": frames[1],
        },
        "exact_copies": [
            {"case": m.case, "media": m.media, "original_name": m.original_name}
            for m in copies
            if m.media != media_id and (case is None or m.case == case)
        ],
        "hits": [],
        "error": problem,
    }
    if problem is None:
        data["hits"] = near_duplicates_of_blob(archive, blob_id, case=case, threshold=threshold)
    return data


def compare_media(archive: Source, query_ref: str, candidate_ref: str) -> dict[str, Any]:
    """What search says of one pair of media (e.g. a derivation being recorded): the
    candidate's verdict for the query's frames at the default threshold, with no other
    file in the way. Returns {"query", "candidate": media ids, "same_bytes": bool, "kinds":
    [query's, candidate's],
    "verdict": the search verdict or None, "problem": why the pair cannot be compared, or
    None, and once both are compared "recipes": the recipe of each file's hashes}."""
    with archive.reader() as db:
        q_media, q_blob, _, q_sha, q_kind = media_row(db, query_ref)
        c_media, c_blob, _, c_sha, c_kind = media_row(db, candidate_ref)
        out: dict[str, Any] = {
            "query": int(q_media),
            "candidate": int(c_media),
            "same_bytes": q_sha is not None and q_sha == c_sha,
            "kinds": [q_kind, c_kind],  # image, video, other; None for a missing file row
            "verdict": None,
            "problem": None,
        }
        if out["same_bytes"]:
            return out
        for media, blob, sha, kind in (
            (q_media, q_blob, q_sha, q_kind),
            (c_media, c_blob, c_sha, c_kind),
        ):
            if sha is None:
                out["problem"] = f"media {media} refers to a missing file"
            else:
                out["problem"] = _hashed(
                    db, int(media), int(blob), str(kind), "compare", recipe=True
                ).problem
            if out["problem"]:
                return out
        # the two files' frames alone, not the archive's index (which may be millions)
        index = frames_of_files(db, [int(q_blob), int(c_blob)])
        # the recipe each file's hashes come from (an earlier one is still comparable)
        recipes = dict(
            db.rows(
                "SELECT id, pipeline FROM blobs WHERE id IN (:q, :c)",
                {"q": int(q_blob), "c": int(c_blob)},
            )
        )
        out["recipes"] = [recipes.get(int(q_blob)), recipes.get(int(c_blob))]
    for media, blob in ((q_media, q_blob), (c_media, c_blob)):
        if not len(index.rows_of_blob(int(blob))):  # changed since the counts were read
            out["problem"] = f"media {media} has no frame hashes to compare; try again"
            return out
    query = query_of(_stored_frames(index, int(q_blob)))
    candidate = _subset(index, index.rows_of_blob(int(c_blob)))
    verdicts = match_files(candidate, query, query_kind=str(q_kind))
    out["verdict"] = verdicts.get(int(c_blob))
    return out


# what a derivation keeps of a search verdict as its evidence (`prov derive
# --evidence-from-search`, the demo)
EVIDENCE_KEYS = (
    "tier",
    "score",
    "variant",
    "offset",
    "aligned",
    "frames_matched",
    "query_frames",
    "candidate_frames",
    "best_distance",
    "median_distance",
)


def search_evidence(
    verdict: dict[str, Any], recipes: list[str | None] | None = None
) -> dict[str, Any]:
    """A search verdict as a derivation's evidence: its main fields, the recipe of the
    search that produced it, and (`hashed_with`, child's then parent's) the recipes the two
    files' hashes come from when one is not that recipe (an earlier, comparable one)."""
    found = {k: verdict[k] for k in EVIDENCE_KEYS if k in verdict}
    hashed = {"hashed_with": recipes} if recipes and any(r != PIPELINE for r in recipes) else {}
    return {"source": "verify search", "recipe": PIPELINE, **hashed, **found}


@dataclass(frozen=True)
class _Hashed:
    frames: int
    informative: int
    problem: str | None  # why the file cannot be searched with or compared, or None


def _hashed(
    db: Reader, media: int, blob: int, kind: str, doing: str, *, recipe: bool = False
) -> _Hashed:
    """A stored file's frame hashes, counted, and why search cannot use them (`doing`:
    "search with" or "compare"; `recipe`: hashes of an older recipe are a reason too)."""
    state, error, pipeline = db.rows(
        "SELECT analysis_state, analysis_error, pipeline FROM blobs WHERE id = :id", {"id": blob}
    )[0]
    counted = db.rows(
        "SELECT count(*), SUM(CASE WHEN informative THEN 1 ELSE 0 END) FROM frames "
        "WHERE blob_id = :id",
        {"id": blob},
    )
    frames, informative = int(counted[0][0]), int(counted[0][1] or 0)
    problem = None
    if state != "ok":
        problem = (
            f"media {media} has no frame hashes to {doing}: its analysis "
            f"{'failed: ' + str(error) if error else 'did not run'} "
            "(`verify media reanalyse` retries it)"
        )
    elif not frames:
        problem = (
            f"media {media} has no frame hashes to {doing}: could not sample any "
            f"frame of this {kind} (no decodable frames)"
        )
    elif recipe and pipeline not in COMPARABLE_PIPELINES:
        problem = (
            f"media {media} was hashed with an older recipe: `verify media reanalyse "
            f"{media}` hashes it again"
        )
    elif not informative:
        what = "search" if doing == "search with" else "comparison"
        problem = f"media {media}: near-duplicate {what} not possible: " + _UNINFORMATIVE.format(
            kind=kind
        )
    return _Hashed(frames, informative, problem)


_COPIES = (
    "SELECT m.id, c.slug, m.original_name "
    "FROM media m JOIN cases c ON c.id = m.case_id JOIN blobs b ON b.id = m.blob_id "
    "WHERE b.sha256 = :sha ORDER BY m.id"
)


def search_file(
    archive: Source,
    path: str,
    *,
    case: str | None = None,
    threshold: int | None = None,
    fast: bool = False,
    analysis: "ChildRun | None" = None,
) -> dict[str, Any]:
    """Near-duplicates of a file that is not (necessarily) in the archive. The file is
    analysed in a child process and not stored; the index is loaded while it runs.

    `analysis`: the child already started on `path` (`start_analysis(path, fast=fast)`; the
    caller closes it), so that it overlaps the caller's own start-up too."""
    from verify.analysis.sandbox import start_analysis
    from verify.store import hash_file

    case = None if case is None else case_slug(case)
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"no file {path}; give a file path or a media reference")
    with contextlib.ExitStack() as stack:
        child = analysis or stack.enter_context(start_analysis(str(p), fast=fast))
        # as `media add` reads files: regular files only, a symbolic link is refused
        sha, _ = hash_file(p)
        index = _Early(lambda: load_index(archive))
        result: AnalysisResult | None = None
        problem: str | None = None
        try:
            result = child.analysis()
        except AnalysisError as exc:
            problem = exc.message
    if result is not None:
        problem = unsearchable(result)
    # the exact-bytes question needs no decoding: it is answered even when the file
    # cannot be analysed
    with archive.reader() as db:
        copies = db.rows(_COPIES, {"sha": sha})
    exact = [
        {"case": slug, "media": int(mid), "original_name": name}
        for mid, slug, name in copies
        if case is None or slug == case
    ]
    if result is None or problem is not None:
        return {
            "query": {
                "media": None,
                "path": path,
                "sha256": f"sha256:{sha}",
                "kind": result.kind if result is not None else None,
                "frames": len(result.frames) if result is not None else 0,
                "informative_frames": 0,
                "incomplete": incomplete_note(result.meta) if result is not None else None,
            },
            "exact_copies": exact,
            "hits": [],
            "error": f"near-duplicate search not possible: {problem}",
        }
    hits = search_frames(
        archive,
        result.frames,
        query_kind=result.kind,
        case=case,
        threshold=threshold,
        index=index,
        query_sha256=sha,
    )
    informative = sum(1 for f in result.frames if f.informative)
    return {
        "query": {
            "media": None,
            "path": path,
            "sha256": f"sha256:{sha}",
            "kind": result.kind,
            "frames": len(result.frames),
            "informative_frames": informative,
            # a truncated video: its frames cover only its beginning (as `media add` says)
            "incomplete": incomplete_note(result.meta),
        },
        "exact_copies": exact,
        "hits": hits,
        "error": None,
    }


def unsearchable(result: AnalysisResult) -> str | None:
    """Why the frames of an analysis cannot be searched with, or None when they can."""
    if result.kind not in ("image", "video"):
        return "not an image or video this tool can hash"
    if not result.frames:
        return f"could not sample any frame of this {result.kind} (no decodable frames)"
    if not any(f.informative for f in result.frames):
        return _UNINFORMATIVE.format(kind=result.kind)
    return None


# Frames that are never compared (docs/matching.md): a query made only of them finds nothing
# by construction, which must not read as "no near-duplicates".
_UNINFORMATIVE = (
    "every sampled frame of this {kind} is uniform, black or near-blank, which would match "
    "unrelated pictures, so it is not compared (only exact copies are looked for)"
)


# --- clusters -------------------------------------------------------------------------------


_ANALYSED = "SELECT count(*) FROM blobs WHERE analysis_state = 'ok'"
_COMPARABLE = f"{_ANALYSED} AND pipeline IN {COMPARABLE_SQL}"


def outdated_files(archive: Source) -> int:
    """Analysed files whose hashes come from a recipe not comparable with this version's:
    the index leaves them out until `verify media reanalyse --outdated`."""
    with archive.reader() as db:
        rows = db.rows(
            f"{_ANALYSED} AND pipeline NOT IN {COMPARABLE_SQL}",
            COMPARABLE_PARAMS,
        )
    return int(rows[0][0])


def earlier_recipe_files(archive: Source) -> int:
    """Analysed files hashed with an earlier recipe that is still comparable with this
    version's (v2 under v3): searched, but a picture the recipes trim differently (a
    windowbox) is only found in them after `verify media reanalyse --outdated`."""
    with archive.reader() as db:
        rows = db.rows(
            f"{_COMPARABLE} AND pipeline <> :current",
            {**COMPARABLE_PARAMS, "current": PIPELINE},
        )
    return int(rows[0][0])


def keyframes_only_files(archive: Source) -> int:
    """Searched files hashed from keyframes only (`media add --fast`): matches against them
    are weaker, with fewer frames, until `verify media reanalyse --outdated` hashes every
    sampled frame."""
    with archive.reader() as db:
        rows = db.rows(
            f"{_COMPARABLE} AND analysis_mode = 'keyframes'",
            COMPARABLE_PARAMS,
        )
    return int(rows[0][0])


def searched_files(
    archive: Source, case: str | None = None, *, excluding: str | None = None
) -> int:
    """How many stored files a search compares with: analysed with a comparable recipe, in
    the archive or among the media of `case`, not counting the query's own bytes
    (`excluding`: its SHA-256 hex). What a search with no hits looked through."""
    sql = f"{_COMPARABLE} AND sha256 <> :sha"
    params: dict[str, Any] = {**COMPARABLE_PARAMS, "sha": excluding or ""}
    with archive.reader() as db:
        if case is not None:
            params["case"] = case_id_of(db, case_slug(case))
            sql += " AND id IN (SELECT blob_id FROM media WHERE case_id = :case)"
        rows = db.rows(sql, params)
    return int(rows[0][0])


def find_clusters(archive: Source, case: str | None = None) -> list[dict[str, Any]]:
    """Groups of near-duplicate files (match tier, transitively) and exact copies across the
    archive, or among the media of one case."""
    case = None if case is None else case_slug(case)
    index = load_index(archive)
    with archive.reader() as db:
        if case is not None:
            cid = case_id_of(db, case)
            rows = db.rows("SELECT blob_id FROM media WHERE case_id = :case", {"case": cid})
            allowed: set[int] | None = {int(r[0]) for r in rows}
        else:
            allowed = None
        multi = [(int(b), int(m)) for b, m in db.rows("SELECT blob_id, id FROM media")]
    # one case: its rows only; the whole archive: the index itself (a subset would copy it all)
    if allowed is None:
        sub = index
    else:
        keep = np.isin(index.blob_id, np.array(sorted(allowed), dtype=np.int64))
        sub = _subset(index, np.flatnonzero(keep).astype(np.int64))
    links = _self_links(sub)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        return _root(parent, x)

    for a, b, _ in links:
        parent[find(a)] = find(b)
    media_count: dict[int, int] = defaultdict(int)
    for blob_id, _mid in multi:
        if allowed is None or blob_id in allowed:
            media_count[blob_id] += 1
    for blob_id, n in media_count.items():
        if n > 1:
            find(blob_id)
    groups: dict[int, set[int]] = defaultdict(set)
    for x in list(parent):
        groups[find(x)].add(x)
    # each cluster's links, in link order (one pass: a cluster per link scan is quadratic)
    links_of: dict[int, list[tuple[int, int, dict[str, Any]]]] = defaultdict(list)
    for link in links:
        links_of[find(link[0])].append(link)
    with archive.reader() as db:
        held = holdings(db, sorted(parent))
        recorded = _derivations_between(db, held)
    # files joined by recorded derivations, directly or through other files (A <- B <- C
    # relates A and C: no derivation is missing between them)
    lineage: dict[int, int] = {}

    def line_of(x: int) -> int:
        return _root(lineage, x)

    for x, y in recorded:
        lineage[line_of(x)] = line_of(y)
    clusters: list[dict[str, Any]] = []
    for root, members in groups.items():
        media_rows = [
            m
            for blob in sorted(members)
            for m in held.get(blob, [])
            if case is None or m.case == case
        ]
        if len(media_rows) < 2:
            continue
        blob_media: dict[int, list[int]] = defaultdict(list)
        for m in media_rows:
            blob_media[m.blob].append(m.media)
        cl_links = [
            {
                "a": blob_media[a][0],
                "b": blob_media[b][0],
                "tier": v["tier"],
                "score": v["score"],
                "variant": v["variant"],
                "offset": v["offset"],
                "aligned": v["aligned"],
                "derivations": recorded.get((min(a, b), max(a, b)), []),
                "related": line_of(a) == line_of(b),
            }
            for a, b, v in links_of[root]
            if blob_media.get(a) and blob_media.get(b)
        ]
        clusters.append(
            {
                "media": [
                    {
                        "case": m.case,
                        "media": m.media,
                        "original_name": m.original_name,
                        "sha256": f"sha256:{m.sha256}",
                        "kind": m.kind,
                    }
                    for m in media_rows
                ],
                "links": cl_links,
            }
        )
    clusters.sort(key=lambda cl: min(m["media"] for m in cl["media"]))
    for n, cl in enumerate(clusters, start=1):
        cl["cluster"] = n
    return clusters


def _root(parent: dict[int, int], x: int) -> int:
    """Union-find: the representative of `x`'s set in `parent` (path halving; a new `x` is
    a set of its own)."""
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _derivations_between(
    db: Reader, held: dict[int, list[_Held]]
) -> dict[tuple[int, int], list[dict[str, Any]]]:
    """Recorded derivations between media of the given files, by their pair of files
    (lower blob id first): {"id", "child", "kind", "parent"}, in id order; retracted ones
    are left out (they relate nothing)."""
    blob_of = {m.media: blob for blob, ms in held.items() for m in ms}
    out: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    if not blob_of:
        return out
    rows = rows_in(
        db,
        "SELECT id, child_id, kind, parent_id FROM derivations "  # noqa: S608 - constants
        f"WHERE {STANDING} AND child_id IN ({{in}})",
        sorted(blob_of),
    )
    for d_id, child, kind, parent in sorted(rows):
        a, b = blob_of.get(int(child)), blob_of.get(int(parent))
        if a is None or b is None or a == b:
            continue
        out[(min(a, b), max(a, b))].append(
            {"id": int(d_id), "child": int(child), "kind": str(kind), "parent": int(parent)}
        )
    return out


def _subset(index: FrameIndex, rows: npt.NDArray[np.int64]) -> FrameIndex:
    return FrameIndex(
        frame_id=np.asarray(index.frame_id[rows]),
        blob_id=np.asarray(index.blob_id[rows]),
        idx=np.asarray(index.idx[rows]),
        pts=np.asarray(index.pts[rows]),
        phash=np.asarray(index.phash[rows]),
        dhash=np.asarray(index.dhash[rows]),
        phash_masked=np.asarray(index.phash_masked[rows]),
        dhash_masked=np.asarray(index.dhash_masked[rows]),
        pdq=np.ascontiguousarray(index.pdq[:, rows]),
        has_pdq=np.asarray(index.has_pdq[rows]),
        max_id=index.max_id,
    )


def _self_links(index: FrameIndex) -> list[tuple[int, int, dict[str, Any]]]:
    """Match-tier links between distinct files, from an all-pairs self-join of the index."""
    n = index.size
    if n < 2:
        return []
    query = Query(
        pts=np.asarray(index.pts, dtype=np.float64),
        dhash=np.asarray(index.dhash),
        phash=np.asarray(index.phash),
        dhash_m=np.asarray(index.dhash_masked),
        phash_m=np.asarray(index.phash_masked),
        pdq=np.ascontiguousarray(index.pdq.T),
    )
    pairs = _frame_pairs(index, query, None, self_join=True)
    counts = _counts(index, sorted(set(index.blob_id.tolist())))
    a_blob = np.asarray(index.blob_id[pairs.qi])
    b_blob = np.asarray(index.blob_id[pairs.row])
    keep = a_blob != b_blob
    # rows are in frames.id order, so within a pair of files a < b except when frame ids
    # interleave; key the pair by (min, max) and orient frames the same way
    lo = np.minimum(a_blob, b_blob)
    swap = a_blob > b_blob
    q_row = np.where(swap, pairs.row, pairs.qi)
    c_row = np.where(swap, pairs.qi, pairs.row)
    hi = np.maximum(a_blob, b_blob)
    # fast path for two one-frame files (stills): the frame verdict is the file verdict
    ids, cnts = index.blob_summary()
    single = (
        keep & (cnts[np.searchsorted(ids, a_blob)] == 1) & (cnts[np.searchsorted(ids, b_blob)] == 1)
    )
    fast = single & (pairs.tier == 2)
    links: list[tuple[int, int, dict[str, Any]]] = [
        (a, b, _still_verdict(dd, dq, VARIANTS[v]))
        for a, b, v, dd, dq in zip(
            lo[fast].tolist(),
            hi[fast].tolist(),
            pairs.variant[fast].tolist(),
            pairs.dd[fast].tolist(),
            pairs.dq[fast].tolist(),
            strict=True,
        )
    ]
    keep &= ~single
    key = lo * (1 << 32) + hi
    grouped = _group(
        key[keep],
        np.asarray(index.pts[q_row[keep]]),
        np.asarray(index.pts[c_row[keep]]),
        np.asarray(index.idx[q_row[keep]]).astype(np.int64),
        np.asarray(index.idx[c_row[keep]]),
        pairs,
        keep,
    )
    by_pair = {(k >> 32, k & 0xFFFFFFFF): v for k, v in grouped.items()}
    for (a, b), plist in sorted(by_pair.items()):
        verdict = aggregate(
            plist,
            counts[a],
            counts[b],
            query_is_video=counts[a] > 1,
            candidate_is_video=counts[b] > 1,
        )
        if verdict is not None and verdict["tier"] == "match":
            links.append((a, b, verdict))
    links.sort(key=lambda link: (link[0], link[1]))
    return links


def _still_verdict(dd: int, dq: int, variant: str) -> dict[str, Any]:
    """What `aggregate` returns for one matching frame pair between two stills."""
    return {
        "tier": "match",
        "score": round(1.0 - dd / 64.0, 3),
        "query_frames": 1,
        "candidate_frames": 1,
        "frames_matched": {"query": 1, "candidate": 1},
        "query_fraction": 1.0,
        "candidate_fraction": 1.0,
        "best_distance": dd,
        "median_distance": float(dd),
        "distance_hash": "dhash",
        "pdq_best": dq if dq >= 0 else None,
        "variant": variant,
        "variants": {variant: 1},
        "offset": None,
        "query_range": None,
        "candidate_range": None,
        "aligned": None,
    }


def search(
    archive: Source,
    target: str,
    *,
    case: str | None = None,
    threshold: int | None = None,
    analysis: "ChildRun | None" = None,
) -> dict[str, Any]:
    """`verify search`: a file path when one exists, else a media reference. `analysis`: see
    `search_file`."""
    if Path(target).is_file():
        return search_file(archive, target, case=case, threshold=threshold, analysis=analysis)
    if Path(target).exists():
        raise BadInputError(f"{target} is not a regular file; give a file or a media reference")
    if not (target.strip().isdigit() or target.startswith("sha256:")):
        # a missing file, as `media add` refuses one (exit 2); an unknown media id is 4
        raise BadInputError(
            f"no file {target} and it is not a media reference (an id like 12 or sha256:ab12cd)"
        )
    return search_media(archive, target, case=case, threshold=threshold)
