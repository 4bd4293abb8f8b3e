"""In-memory exact Hamming index over every informative frame hash in the archive.

The database stays the source of truth. This module keeps a packed copy of the frame hashes
in numpy arrays, one contiguous column per 64-bit word (the layout that makes an XOR +
`np.bitwise_count` scan run at memory speed), and persists it as a sidecar under
``<home>/index/`` so that a CLI call does not pull millions of rows through the ORM:

    <home>/index/frames-v1.json          manifest: generation dir, frame count, max frame id
    <home>/index/frames-v1-<gen>/*.npy   one raw array per column

Staleness is detected cheaply: ``max(frames.id)`` (a rowid lookup) and ``count(*)`` (a scan
of the small blob_id index, ~5 ms at 1M rows; asked as two statements, because SQLite
answers the combined ``SELECT count(*), max(id)`` with a full table scan, 0.1 s at 1M), plus
the audit trail: the manifest keeps the seq and hash of the audit head it was built at, and a
database whose entry at that seq has another hash is another archive (another database or
schema behind the same home: its frame ids mean other frames), so the sidecar is rebuilt.
Frames are only ever removed by an audited action (`media.reanalyse`), after which ids can
be reused, so a sidecar older than such an entry is rebuilt too. Only frames of
files hashed with a recipe comparable with this version's (`COMPARABLE_PIPELINES`) are
indexed; a sidecar written by a version with another recipe (`PIPELINE`) is rebuilt.
Frames added since the sidecar was written are read from the database by primary key and
appended in memory; the sidecar is rewritten when that delta grows large, or rebuilt when
frames were removed.

Only frames flagged informative are indexed: low-information frames (black, uniform, blank)
are never matched on. The search itself is exact (no approximate structure): at 10M frames a
flat scan of two 64-bit columns takes tens of milliseconds per query frame.

The public surface (`FrameIndex.range_search`, `FrameIndex.pdq_distance`, `self_join`,
`load_index`) is small on purpose: each scan runs on numpy or FAISS, picked by work.
"""

import json
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from verify.analysis import COMPARABLE_PIPELINES, PIPELINE
from verify.dbread import Reader, Source, rows_in, writable

FORMAT = "frames-v1"
COLUMNS = ("frame_id", "blob_id", "idx", "pts", "phash", "dhash", "phash_masked", "dhash_masked")
HASH64 = ("phash", "dhash", "phash_masked", "dhash_masked")
# Rows read from the database on top of the sidecar before the sidecar is rewritten.
MAX_DELTA = 20_000
# Rows per scan block (64-bit column: 256 KiB, stays in L2) and query frames per block.
CHUNK_ROWS = 32_768
QUERY_BLOCK = 8
# Below this many (row x query) comparisons a scan is not worth a second thread.
PARALLEL_MIN_WORK = 4_000_000
# Backend per scan, by work (rows x query hashes). FAISS's fused XOR/popcount loop
# (`hamming_range_search`, what `IndexBinaryFlat.range_search` runs, called here on the
# column in place: no copy, no extra memory) is 2-5x faster than numpy's separate passes,
# but importing faiss costs 0.04-0.2 s and its first call ~0.02 s more. A single image
# (4 scans of 1 hash) stays on numpy, where 1M rows take ~2 ms per hash; a 60-frame video
# (4 scans of 60 hashes) goes to FAISS. Switch point measured in bench/search (--backends):
# see docs/performance.md. VERIFY_NO_FAISS=1 forces numpy.
FAISS_MIN_WORK = 32_000_000


def _faiss() -> Any:
    """The faiss module, or None when it is not installed or disabled."""
    if os.environ.get("VERIFY_NO_FAISS"):
        return None
    import importlib

    try:
        faiss = importlib.import_module("faiss")
    except ImportError:
        return None
    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    return faiss


U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@dataclass
class FrameIndex:
    """Column arrays over N indexed frames (row order = frames.id order).

    `pdq` is (4, N) uint64 (word w is bytes 8w..8w+8 of the 32-byte hash, big-endian);
    `has_pdq` marks rows whose frame has a PDQ hash. Masked hashes fall back to the full-frame
    hash when a frame has none.
    """

    frame_id: npt.NDArray[np.int64]
    blob_id: npt.NDArray[np.int64]
    idx: npt.NDArray[np.int32]
    pts: npt.NDArray[np.float64]
    phash: U64
    dhash: U64
    phash_masked: U64
    dhash_masked: U64
    pdq: U64
    has_pdq: npt.NDArray[np.bool_]
    max_id: int = 0
    # per-file frame counts (sorted unique blob ids, counts), computed once and persisted
    _blobs: tuple[I64, I64] | None = None

    @property
    def size(self) -> int:
        return int(self.frame_id.shape[0])

    def column(self, name: str) -> U64:
        if name not in HASH64:
            raise ValueError(f"unknown hash column {name!r}")
        col: U64 = getattr(self, name)
        return col

    # -- search ---------------------------------------------------------------------------

    def range_search(
        self, name: str, queries: U64, threshold: int
    ) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
        """Every (query i, row r) with popcount(queries[i] ^ column[r]) <= threshold, as
        (query indexes, row indexes, distances) in no particular order. (All pairs within
        the index: `self_join`.)
        """
        col = self.column(name)
        q = np.ascontiguousarray(queries, dtype=np.uint64)
        n = col.shape[0]
        if n == 0 or q.shape[0] == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty.copy(), np.empty(0, dtype=np.uint8)
        faiss = _faiss() if n * q.shape[0] >= FAISS_MIN_WORK else None
        if faiss is not None:
            return _faiss_scan(faiss, col, q, threshold)
        starts = list(range(0, n, CHUNK_ROWS))
        workers = 2 if n * q.shape[0] >= PARALLEL_MIN_WORK and (os.cpu_count() or 1) > 1 else 1
        if workers == 1:
            parts = [_scan(col, q, threshold, starts)]
        else:
            with ThreadPoolExecutor(workers) as pool:
                futures = [
                    pool.submit(_scan, col, q, threshold, starts[w::workers])
                    for w in range(workers)
                ]
                parts = [f.result() for f in futures]
        qi = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] for p in parts])
        dist = np.concatenate([p[2] for p in parts])
        return qi, rows, dist

    def take(self, name: str, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        """column[rows] as an in-memory copy. Memory-mapped columns are released right after:
        the kernel maps up to 64 KiB around every page faulted in, so a few thousand scattered
        rows would otherwise leave the whole column resident."""
        arr = getattr(self, name)
        out: npt.NDArray[Any] = np.array(arr[rows])
        _release(arr)
        return out

    def hamming64(self, name: str, rows: I64, values: U64) -> npt.NDArray[np.uint8]:
        """popcount(column[rows] ^ values), element-wise."""
        self.column(name)  # validates the name
        out: npt.NDArray[np.uint8] = np.bitwise_count(
            np.bitwise_xor(self.take(name, rows), np.asarray(values, dtype=np.uint64))
        )
        return out

    def pdq_distance(self, rows: I64, words: U64) -> npt.NDArray[np.int16]:
        """PDQ Hamming distance of rows against (len(rows), 4) query words; -1 where either
        side has no PDQ (the caller treats -1 as "no evidence")."""
        w = np.asarray(words, dtype=np.uint64).reshape(-1, 4)
        total = np.zeros(rows.shape[0], dtype=np.int16)
        for k in range(4):
            word = np.array(self.pdq[k][rows])
            _release(self.pdq)
            total += np.bitwise_count(np.bitwise_xor(word, w[:, k])).astype(np.int16)
        missing = ~self.take("has_pdq", rows) | np.all(w == 0, axis=1)
        total[missing] = -1
        return total

    def blob_summary(self) -> tuple[I64, I64]:
        if self._blobs is None:
            ids, counts = np.unique(np.asarray(self.blob_id), return_counts=True)
            self._blobs = (ids.astype(np.int64), counts.astype(np.int64))
        return self._blobs

    def frame_counts(self, blob_ids: list[int]) -> dict[int, int]:
        """Indexed (informative) frames per file."""
        ids, counts = self.blob_summary()
        want = np.asarray(blob_ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(ids, want), 0, max(ids.shape[0] - 1, 0))
        found = ids[pos] == want if ids.shape[0] else np.zeros(want.shape[0], dtype=np.bool_)
        return {
            b: int(counts[p]) if f else 0
            for b, p, f in zip(blob_ids, pos.tolist(), found.tolist(), strict=True)
        }

    def rows_of_blob(self, blob_id: int) -> I64:
        found: I64 = np.flatnonzero(self.blob_id == blob_id).astype(np.int64)
        _release(self.blob_id)
        return found

    # -- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name in COLUMNS:
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)
        np.save(directory / "pdq.npy", self.pdq, allow_pickle=False)
        np.save(directory / "has_pdq.npy", self.has_pdq, allow_pickle=False)
        ids, counts = self.blob_summary()
        np.save(directory / "blob_ids.npy", ids, allow_pickle=False)
        np.save(directory / "blob_counts.npy", counts, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, *, max_id: int) -> "FrameIndex":
        """Open a saved index. The scanned columns (dhash, dhash_masked) are read into memory;
        the rest are memory-mapped, so only the rows a query touches are paged in."""

        def arr(name: str, scanned: bool = False) -> Any:
            return np.load(directory / f"{name}.npy", mmap_mode=None if scanned else "r")

        return cls(
            frame_id=arr("frame_id"),
            blob_id=arr("blob_id"),
            idx=arr("idx"),
            pts=arr("pts"),
            phash=arr("phash"),
            dhash=arr("dhash", scanned=True),
            phash_masked=arr("phash_masked"),
            dhash_masked=arr("dhash_masked", scanned=True),
            pdq=arr("pdq"),
            has_pdq=arr("has_pdq"),
            max_id=max_id,
            _blobs=(np.load(directory / "blob_ids.npy"), np.load(directory / "blob_counts.npy")),
        )

    @classmethod
    def empty(cls) -> "FrameIndex":
        return cls.from_rows([])

    @classmethod
    def from_rows(cls, rows: list[Any]) -> "FrameIndex":
        """Rows of (id, blob_id, idx, pts, phash, dhash, phash_masked, dhash_masked, pdq)
        with the 64-bit hashes in their stored signed form."""
        n = len(rows)
        frame_id = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        blob_id = np.fromiter((r[1] for r in rows), dtype=np.int64, count=n)
        idx = np.fromiter((r[2] for r in rows), dtype=np.int32, count=n)
        pts = np.fromiter((r[3] for r in rows), dtype=np.float64, count=n)

        def signed(i: int, fallback: int | None = None) -> U64:
            it = (r[i] if r[i] is not None else r[fallback or i] for r in rows)
            a: U64 = np.fromiter(it, dtype=np.int64, count=n).view(np.uint64)
            return a

        phash = signed(4)
        dhash = signed(5)
        phash_masked = signed(6, 4)
        dhash_masked = signed(7, 5)
        has_pdq = np.fromiter(
            (r[8] is not None and len(r[8]) == 32 for r in rows), dtype=np.bool_, count=n
        )
        raw = b"".join(r[8] if r[8] is not None and len(r[8]) == 32 else bytes(32) for r in rows)
        pdq = np.ascontiguousarray(
            np.frombuffer(raw, dtype=">u8").reshape(n, 4).astype(np.uint64).T
        )
        return cls(
            frame_id=frame_id,
            blob_id=blob_id,
            idx=idx,
            pts=pts,
            phash=phash,
            dhash=dhash,
            phash_masked=phash_masked,
            dhash_masked=dhash_masked,
            pdq=pdq,
            has_pdq=has_pdq,
            max_id=int(frame_id.max()) if n else 0,
        )

    def extended(self, other: "FrameIndex") -> "FrameIndex":
        if other.size == 0:
            return self
        ids_a, counts_a = self.blob_summary()
        ids_b, counts_b = other.blob_summary()
        ids, inverse = np.unique(np.concatenate([ids_a, ids_b]), return_inverse=True)
        counts = np.zeros(ids.shape[0], dtype=np.int64)
        np.add.at(counts, inverse, np.concatenate([counts_a, counts_b]))
        return FrameIndex(
            frame_id=np.concatenate([self.frame_id, other.frame_id]),
            blob_id=np.concatenate([self.blob_id, other.blob_id]),
            idx=np.concatenate([self.idx, other.idx]),
            pts=np.concatenate([self.pts, other.pts]),
            phash=np.concatenate([self.phash, other.phash]),
            dhash=np.concatenate([self.dhash, other.dhash]),
            phash_masked=np.concatenate([self.phash_masked, other.phash_masked]),
            dhash_masked=np.concatenate([self.dhash_masked, other.dhash_masked]),
            pdq=np.concatenate([self.pdq, other.pdq], axis=1),
            has_pdq=np.concatenate([self.has_pdq, other.has_pdq]),
            max_id=max(self.max_id, other.max_id),
            _blobs=(ids.astype(np.int64), counts),
        )


def _release(arr: Any) -> None:
    """Drop the resident pages of a memory-mapped column (they stay in the page cache)."""
    mm = getattr(arr, "_mmap", None)
    if mm is None:
        return
    import mmap

    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # platforms without madvise
        return


def _faiss_scan(
    faiss: Any, col: U64, q: U64, threshold: int
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """`range_search` by FAISS's `hamming_range_search` over the column as it is (8-byte
    codes; FAISS keeps distances strictly below the radius)."""
    codes = np.ascontiguousarray(col)
    result = faiss.RangeSearchResult(q.shape[0])
    faiss.hamming_range_search(
        faiss.swig_ptr(q.view(np.uint8)),
        faiss.swig_ptr(codes.view(np.uint8)),
        q.shape[0],
        codes.shape[0],
        threshold + 1,
        8,
        result,
    )
    lims = faiss.rev_swig_ptr(result.lims, q.shape[0] + 1).astype(np.int64)
    found = int(lims[-1])
    rows = faiss.rev_swig_ptr(result.labels, found).astype(np.int64)
    dist = faiss.rev_swig_ptr(result.distances, found).astype(np.uint8)
    qi = np.repeat(np.arange(q.shape[0], dtype=np.int64), np.diff(lims))
    return qi, rows, dist


def _scan(
    col: U64, q: U64, threshold: int, starts: list[int]
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """Blocked scan of the row chunks at `starts` against all queries (numpy releases the
    GIL, so two of these run in parallel)."""
    qi_parts: list[I64] = []
    row_parts: list[I64] = []
    dist_parts: list[npt.NDArray[np.uint8]] = []
    nq = q.shape[0]
    n = col.shape[0]
    xbuf = np.empty((QUERY_BLOCK, CHUNK_ROWS), dtype=np.uint64)
    cbuf = np.empty((QUERY_BLOCK, CHUNK_ROWS), dtype=np.uint8)
    mbuf = np.empty((QUERY_BLOCK, CHUNK_ROWS), dtype=np.bool_)
    thr = np.uint8(min(max(threshold, 0), 255))
    for lo in starts:
        hi = min(lo + CHUNK_ROWS, n)
        block = col[lo:hi]
        width = hi - lo
        for qlo in range(0, nq, QUERY_BLOCK):
            qhi = min(qlo + QUERY_BLOCK, nq)
            h = qhi - qlo
            x = xbuf[:h, :width]
            c = cbuf[:h, :width]
            m = mbuf[:h, :width]
            np.bitwise_xor(block[None, :], q[qlo:qhi, None], out=x)
            np.bitwise_count(x, out=c)
            np.less_equal(c, thr, out=m)
            if not m.any():
                continue
            qq, rr = np.nonzero(m)
            qq = qq.astype(np.int64) + qlo
            rr = rr.astype(np.int64) + lo
            qi_parts.append(qq)
            row_parts.append(rr)
            dist_parts.append(c[qq - qlo, rr - lo])
    if not qi_parts:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0, dtype=np.uint8)
    return np.concatenate(qi_parts), np.concatenate(row_parts), np.concatenate(dist_parts)


# Multi-index hashing for all-pairs joins: 4 chunks of 16 bits; a pair within radius r
# differs by at most r // 4 bits in at least one chunk (pigeonhole), so probing every chunk
# value within that many bits of the query's finds every pair exactly.
MIH_CHUNKS = 4
MIH_MAX_RADIUS = 11  # per-chunk radius 2: 137 probes per chunk
MIH_BATCH = 2_000_000  # candidate pairs verified per batch (bounds memory)


def _masks(bits: int, radius: int) -> npt.NDArray[np.uint64]:
    from itertools import combinations

    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << b for b in combo) for combo in combinations(range(bits), k))
    return np.array(out, dtype=np.uint64)


def self_join(
    queries: U64, column: U64, radius: int, *, group: npt.NDArray[np.int64] | None = None
) -> tuple[I64, I64, npt.NDArray[np.uint8]]:
    """All pairs i < j with popcount(queries[i] ^ column[j]) <= radius, exactly, by
    multi-index hashing (far fewer comparisons than the N^2/2 of a flat self-join).

    `queries` is `column` or a transform of it that is an isometric involution (the
    mirror), so that (i, j) and (j, i) are the same pair. Pairs with equal `group` (frames
    of the same file) are skipped.
    """
    if radius > MIH_MAX_RADIUS:
        raise ValueError(f"self_join radius {radius} > {MIH_MAX_RADIUS}")
    n = column.shape[0]
    empty = np.empty(0, dtype=np.int64)
    if n < 2:
        return empty, empty.copy(), np.empty(0, dtype=np.uint8)
    per_chunk = radius // MIH_CHUNKS
    masks = _masks(16, per_chunk)
    same = queries is column or bool(np.array_equal(queries, column))
    found_q: list[I64] = []
    found_r: list[I64] = []
    for c in range(MIH_CHUNKS):
        shift = np.uint64(16 * c)
        ckey = ((column >> shift) & np.uint64(0xFFFF)).astype(np.int32)
        order = np.argsort(ckey, kind="stable").astype(np.int32)
        offsets = np.zeros(65537, dtype=np.int32)
        np.cumsum(np.bincount(ckey, minlength=65536), out=offsets[1:])
        qkey = ((queries >> shift) & np.uint64(0xFFFF)).astype(np.int32)
        qrows = np.arange(n, dtype=np.int32)
        masks32 = masks.astype(np.int32)
        step = max(1, MIH_BATCH // max(1, n))
        for m0 in range(0, masks.shape[0], step):
            probe = (qkey[None, :] ^ masks32[m0 : m0 + step, None]).ravel()
            qi_all = np.tile(qrows, min(step, masks.shape[0] - m0))
            start = offsets[probe]
            length = offsets[probe + 1] - start
            live = length > 0
            if same:
                # the bucket pair (v, v^f) is visited from both sides: keep one side
                own = np.tile(qkey, min(step, masks.shape[0] - m0))
                live &= probe >= own
            qi_live, start, length = qi_all[live], start[live], length[live]
            parts_q: list[npt.NDArray[np.int32]] = []
            parts_r: list[npt.NDArray[np.int32]] = []
            depth = 0
            while qi_live.shape[0]:
                # the depth-th member of every bucket still holding that many rows
                parts_q.append(qi_live)
                parts_r.append(order[start + depth])
                depth += 1
                more = length > depth
                qi_live, start, length = qi_live[more], start[more], length[more]
            if not parts_q:
                continue
            qi = np.concatenate(parts_q)
            rows = np.concatenate(parts_r)
            if same:  # orient each pair as (lower row, higher row)
                qi, rows = np.minimum(qi, rows), np.maximum(qi, rows)
            keep = qi < rows
            if group is not None:
                keep &= group[qi] != group[rows]
            qi, rows = qi[keep], rows[keep]
            dist = np.bitwise_count(queries[qi] ^ column[rows])
            close = dist <= radius
            found_q.append(qi[close].astype(np.int64))
            found_r.append(rows[close].astype(np.int64))
    if not found_q:
        return empty, empty.copy(), np.empty(0, dtype=np.uint8)
    qi = np.concatenate(found_q)
    rows = np.concatenate(found_r)
    pair = np.unique(qi * n + rows)  # a pair close in several chunks is found several times
    qi, rows = pair // n, pair % n
    return qi, rows, np.bitwise_count(queries[qi] ^ column[rows])


# -- keeping the sidecar consistent with the database --------------------------------------

# Only frames of files hashed with a recipe comparable with this version's are indexed:
# files analysed with another one are left out until `verify media reanalyse` (search says
# so). `COMPARABLE_PIPELINES` as an SQL list (`pipeline IN {COMPARABLE_SQL}`) with its
# parameters:
COMPARABLE_PARAMS = {f"pipeline_{i}": p for i, p in enumerate(sorted(COMPARABLE_PIPELINES))}
COMPARABLE_SQL = "(" + ", ".join(f":{k}" for k in COMPARABLE_PARAMS) + ")"
_FRAMES = (
    "SELECT f.id, f.blob_id, f.idx, f.pts, f.phash, f.dhash, f.phash_masked, f.dhash_masked, "
    "f.pdq FROM frames f JOIN blobs b ON b.id = f.blob_id"
)
_INDEXABLE = f"{_FRAMES} WHERE f.informative AND b.pipeline IN {COMPARABLE_SQL}"
_SELECT = _INDEXABLE + " AND f.id > :after ORDER BY f.id"
_OF_FILES = _INDEXABLE + " AND f.blob_id IN ({in})"  # `rows_in` fills the list


def index_dir(archive: Source) -> Path:
    return archive.home / "index"


# Audited actions that delete frame rows. Frame ids can then be reused (SQLite hands out
# max(rowid) + 1), so count and max(id) alone could look unchanged: a sidecar older than
# such an entry is rebuilt.
FRAME_REMOVING_ACTIONS = ("media.reanalyse",)


def _db_state(db: Reader) -> tuple[int, int, int, str]:
    """(frame count, max frame id, audit head seq, its hash), each from an index or the
    primary key."""
    count = db.rows("SELECT count(*) FROM frames")[0][0]
    top = db.rows("SELECT coalesce(max(id), 0) FROM frames")[0][0]
    head = db.rows("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
    seq, digest = (int(head[0][0]), str(head[0][1])) if head else (0, "")
    return int(count), int(top), seq, digest


def _same_trail(db: Reader, seq: int, digest: object, archive: Source) -> bool:
    """Whether this database's audit entry `seq` has the hash the sidecar was built at: the
    hash chains the whole trail up to it, so another archive (another database, or another
    schema, behind the same home) never has it."""
    if not isinstance(digest, str):
        # a sidecar written before the hash was kept: rebuilt once, except where the rebuilt
        # one could not be stored (a read-only archive would read every frame each time)
        return not writable(index_dir(archive))
    if seq == 0:
        return digest == ""
    row = db.rows("SELECT hash FROM audit_entries WHERE seq = :seq", {"seq": seq})
    return bool(row) and str(row[0][0]) == digest


def _frames_removed_since(db: Reader, seq: int) -> bool:
    return any(
        db.rows(
            "SELECT 1 FROM audit_entries WHERE seq > :seq AND action = :action LIMIT 1",
            {"seq": seq, "action": action},
        )
        for action in FRAME_REMOVING_ACTIONS
    )


def _read_rows(db: Reader, after: int) -> list[Any]:
    return db.rows(_SELECT, {"after": after, **COMPARABLE_PARAMS})


def frames_of_files(db: Reader, blob_ids: list[int]) -> FrameIndex:
    """The indexable frames of these stored files alone, read from the database: what
    comparing two files needs, without loading the archive's whole index."""
    rows = rows_in(db, _OF_FILES, sorted(set(blob_ids)), COMPARABLE_PARAMS)
    return FrameIndex.from_rows(sorted(rows, key=lambda r: int(r[0])))


def frames_after(db: Reader, after: int) -> FrameIndex:
    """The indexable frames with id > `after`, as a small index of their own (what
    `load_index` would append). Its `max_id` is `after` when there are none."""
    part = FrameIndex.from_rows(_read_rows(db, after))
    part.max_id = max(part.max_id, after)
    return part


def _manifest_path(archive: Source) -> Path:
    return index_dir(archive) / f"{FORMAT}.json"


def _read_manifest(archive: Source) -> dict[str, Any] | None:
    try:
        data = json.loads(_manifest_path(archive).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    # written by a version with another recipe: the frames it left out may differ (v2's
    # index had no v3 frames), so it is rebuilt once
    if data.get("pipeline", "v1") != PIPELINE:
        return None
    return data


def write_sidecar(
    archive: Source, index: FrameIndex, *, db_count: int, audit_seq: int, audit_hash: str
) -> None:
    """Write `index` as a new generation and point the manifest at it (atomic rename);
    older generations are removed. Best effort: a read-only home just skips the sidecar."""
    base = index_dir(archive)
    gen = f"{FORMAT}-{index.max_id}-{secrets.token_hex(4)}"
    try:
        index.save(base / gen)
        manifest = {
            "format": FORMAT,
            "pipeline": PIPELINE,
            "generation": gen,
            "db_count": db_count,
            "audit_seq": audit_seq,
            "audit_hash": audit_hash,
            "max_id": index.max_id,
            "rows": index.size,
        }
        tmp = base / f".{gen}.json"
        tmp.write_text(json.dumps(manifest, sort_keys=True))
        os.replace(tmp, _manifest_path(archive))
    except OSError:
        shutil.rmtree(base / gen, ignore_errors=True)
        return
    for old in base.glob(f"{FORMAT}-*"):
        if old.name != gen and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def load_index(archive: Source) -> FrameIndex:
    """The frame index, consistent with the database at the time of the call.

    Loads the sidecar, appends frames newer than it from the database, and rebuilds it from
    scratch when frames were removed or the sidecar is missing or unreadable. The database
    is read in one transaction (one snapshot). The sidecar is rewritten after a rebuild and
    when the delta read from the database exceeds `MAX_DELTA` rows.
    """
    with archive.reader() as db:
        return _load_index(archive, db)


def _load_index(archive: Source, db: Reader) -> FrameIndex:
    db_count, db_max, seq, head = _db_state(db)
    manifest = _read_manifest(archive)
    base: FrameIndex | None = None
    base_count = 0
    if manifest is not None:
        gen_dir = index_dir(archive) / str(manifest.get("generation"))
        try:
            base = FrameIndex.load(gen_dir, max_id=int(manifest["max_id"]))
            base_count = int(manifest["db_count"])
            base_seq = int(manifest["audit_seq"])
        except (OSError, ValueError, KeyError):
            base = None
        if base is not None and (
            base.max_id > db_max
            or base_count > db_count
            or base_seq > seq
            or not _same_trail(db, base_seq, manifest.get("audit_hash"), archive)
            or _frames_removed_since(db, base_seq)
        ):
            base = None  # another archive's sidecar, or frames were removed: rebuild
    if base is None:
        return _rebuild(archive, db, db_count=db_count, db_max=db_max, seq=seq, head=head)
    if base.max_id == db_max and base_count == db_count:
        return base
    after = {"after": base.max_id}
    new_total = int(db.rows("SELECT count(*) FROM frames WHERE id > :after", after)[0][0])
    if base_count + new_total != db_count:  # rows removed below max_id
        return _rebuild(archive, db, db_count=db_count, db_max=db_max, seq=seq, head=head)
    merged = base.extended(FrameIndex.from_rows(_read_rows(db, base.max_id)))
    merged.max_id = db_max
    if new_total > MAX_DELTA:
        write_sidecar(archive, merged, db_count=db_count, audit_seq=seq, audit_hash=head)
    return merged


def _rebuild(
    archive: Source, db: Reader, *, db_count: int, db_max: int, seq: int, head: str
) -> FrameIndex:
    """The whole index read from the database, written as the new sidecar."""
    full = FrameIndex.from_rows(_read_rows(db, 0)) if db_count else FrameIndex.empty()
    full.max_id = db_max
    if db_count:
        write_sidecar(archive, full, db_count=db_count, audit_seq=seq, audit_hash=head)
    return full
