"""Search speed on synthetic archives (issue #5, performance-anchors.md W3/W5/W6).

    .venv/bin/python bench/search/run.py                 # 1M frames + dupes over 100k images
    .venv/bin/python bench/search/run.py --sizes 1000000 10000000

For each size N: N random frame hashes in files of 60 frames, with 5 planted re-encodes of
the query video (every hash a few bits off; one mirrored, one subtitled = only the masked
hashes close). The sidecar is written to a temp dir, then a fresh child process measures:

- load: `FrameIndex.load` vs `np.load` of the same .npy files (ratio target <= 3);
- query: `match_files` for a 60-frame query video (4 variants x 60 frames scanned on the
  dHash key, confirmation, offset voting) vs, in the same process, FAISS
  `IndexBinaryFlat.range_search` doing the same scans (same keys, same radius; 2 threads),
  and vs FAISS on the 60 PDQ hashes at T=31 (the issue's reference workload);
- recall of the 5 planted files (must be 1.0, all tier "match");
- peak RSS of the child after load + query, before FAISS is built (target < 400 MB at 10M).

Dupes: 100k one-frame files, 30 % near-duplicates planted, `find_clusters`' join
(`_self_links`) vs FAISS flat self range_search on one dHash variant. Numbers go to stdout
as JSON lines and a table; copy them into docs/performance.md.
"""

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))
sys.path.insert(0, str(HERE.parents[2]))  # bench.clips

FRAMES_PER_FILE = 60
PLANTED = 5


def _flip(values: np.ndarray, max_bits: int, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = values.copy()
    for _ in range(max_bits):
        pos = rng.integers(0, bits, size=values.shape).astype(np.uint64)
        keep = rng.random(values.shape) < 0.5
        out ^= np.where(keep, np.uint64(1) << (pos % np.uint64(64)), np.uint64(0))
    return out


def generate(n: int, out: Path, seed: int = 0) -> dict[str, object]:
    """Write a synthetic index of n frames to `out` (as FrameIndex.save would)."""
    from verify.services.search import mirror_dhash, mirror_pdq, mirror_phash

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    files = n // FRAMES_PER_FILE
    n = files * FRAMES_PER_FILE
    blob = np.repeat(np.arange(1, files + 1, dtype=np.int64), FRAMES_PER_FILE)
    idx = np.tile(np.arange(FRAMES_PER_FILE, dtype=np.int32), files)
    pts = idx.astype(np.float64)
    np.save(out / "frame_id.npy", np.arange(1, n + 1, dtype=np.int64))
    np.save(out / "blob_id.npy", blob)
    np.save(out / "idx.npy", idx)
    np.save(out / "pts.npy", pts)
    ids, counts = np.unique(blob, return_counts=True)
    np.save(out / "blob_ids.npy", ids)
    np.save(out / "blob_counts.npy", counts.astype(np.int64))
    del blob, idx, pts
    # the query video (60 frames) and the planted files (rows of files 1..PLANTED)
    q = {
        k: rng.integers(0, 2**63, 60, dtype=np.int64).view(np.uint64) * np.uint64(2)
        for k in ("phash", "dhash", "phash_masked", "dhash_masked")
    }
    q["pdq"] = rng.integers(0, 2**63, (60, 4), dtype=np.int64).view(np.uint64)
    offset = 7  # planted copies start 7 s into their file
    rows = {p: slice((p - 1) * 60 + offset, (p - 1) * 60 + 60) for p in range(1, PLANTED + 1)}
    nq = 60 - offset  # frames of the query that exist in each planted file
    for k in ("phash", "dhash", "phash_masked", "dhash_masked"):
        col = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) * np.uint64(2)
        for p, sl in rows.items():
            base = q[k][:nq]
            if p == 4:  # mirrored copy
                base = mirror_dhash(base) if k.startswith("dhash") else mirror_phash(base)
            if p == 5 and not k.endswith("masked"):  # subtitled: full-frame hashes unrelated
                base = rng.integers(0, 2**63, nq, dtype=np.int64).view(np.uint64)
            col[sl] = _flip(base, 4, 64, rng)
        np.save(out / f"{k}.npy", col)
        del col
    pdq = rng.integers(0, 2**63, (4, n), dtype=np.int64).view(np.uint64)
    for p, sl in rows.items():
        base = q["pdq"][:nq]
        if p == 4:
            base = mirror_pdq(base)
        pdq[:, sl] = base.T
    np.save(out / "pdq.npy", pdq)
    del pdq
    np.save(out / "has_pdq.npy", np.ones(n, dtype=np.bool_))
    np.save(
        out / "query.npy",
        np.stack([q[k] for k in ("phash", "dhash", "phash_masked", "dhash_masked")]),
    )
    np.save(out / "query_pdq.npy", q["pdq"])
    return {"n": n, "files": files}


def _rss_mb() -> float:
    """Peak resident set of this process image (VmHWM; ru_maxrss would include the parent's
    peak inherited across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _query_frames(directory: Path) -> list[Any]:
    """The planted query video's 60 frames, as `generate` wrote them."""
    from verify.analysis import FrameHash

    qa = np.load(directory / "query.npy")
    qp = np.load(directory / "query_pdq.npy")
    return [
        FrameHash(
            idx=i,
            pts=float(i),
            phash=int(qa[0, i]),
            dhash=int(qa[1, i]),
            phash_masked=int(qa[2, i]),
            dhash_masked=int(qa[3, i]),
            pdq=b"".join(int(w).to_bytes(8, "big") for w in qp[i]),
        )
        for i in range(FRAMES_PER_FILE)
    ]


def measure(directory: Path, reps: int) -> dict[str, object]:
    """Run in a fresh process: load, query, RSS, FAISS baseline."""
    from verify.index import FrameIndex
    from verify.services.search import SCAN_DHASH, match_files, query_of

    files = sorted(p for p in directory.glob("*.npy") if not p.name.startswith("query"))
    nbytes = sum(p.stat().st_size for p in files)
    t_np, t_load = [], []
    for _ in range(reps):
        t = time.perf_counter()
        arrays = [np.load(p) for p in files]
        t_np.append(time.perf_counter() - t)
        del arrays
        t = time.perf_counter()
        index = FrameIndex.load(directory, max_id=0)
        index.dhash.sum()
        t_load.append(time.perf_counter() - t)
    frames = _query_frames(directory)
    query = query_of(frames)
    os.environ["VERIFY_NO_FAISS"] = "1"  # the dependency-free numpy scan first
    t_q = []
    verdicts: dict[int, dict[str, object]] = {}
    for _ in range(reps):
        t = time.perf_counter()
        verdicts = match_files(index, query, query_kind="video")
        t_q.append(time.perf_counter() - t)
    del os.environ["VERIFY_NO_FAISS"]
    rss = _rss_mb()
    found = {b: v["tier"] for b, v in verdicts.items()}
    recall = sum(1 for p in range(1, PLANTED + 1) if found.get(p) == "match") / PLANTED
    out: dict[str, object] = {
        "n": index.size,
        "bytes": nbytes,
        "np_load_s": median(t_np),
        "index_load_s": median(t_load),
        "load_ratio": median(t_load) / median(t_np),
        "query_numpy_s": median(t_q),
        "recall_planted": recall,
        "other_hits": len([b for b in found if b > PLANTED]),
        "offsets": [verdicts[p]["offset"] for p in range(1, PLANTED + 1) if p in verdicts],
        "variants": [verdicts[p]["variant"] for p in range(1, PLANTED + 1) if p in verdicts],
        "rss_mb_after_np_load_and_query": rss,
    }
    try:
        import faiss
    except ImportError:
        out["faiss"] = None
        return out
    faiss.omp_set_num_threads(2)
    from verify.services.search import mirror_dhash

    def flat(col: np.ndarray, d: int) -> object:
        ix = faiss.IndexBinaryFlat(d)
        ix.add(np.ascontiguousarray(col).view(np.uint8).reshape(-1, d // 8))
        return ix

    def as_codes(v: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(v).view(np.uint8).reshape(v.shape[0], -1)

    t_qf = []
    verdicts_f: dict[int, dict[str, object]] = {}
    for _ in range(reps + 1):  # the first call pays faiss's import and thread start-up
        t = time.perf_counter()
        verdicts_f = match_files(index, query, query_kind="video")
        t_qf.append(time.perf_counter() - t)
    out["rss_mb_with_faiss_backend_same_process"] = _rss_mb()
    out["faiss_backend_first_query_s"] = t_qf[0]
    out["faiss_backend_same_verdicts"] = verdicts_f == verdicts
    dh = flat(np.asarray(index.dhash), 64)
    dm = flat(np.asarray(index.dhash_masked), 64)
    q_full = np.concatenate([query.dhash, mirror_dhash(query.dhash)])
    q_mask = np.concatenate([query.dhash_m, mirror_dhash(query.dhash_m)])
    t_f = []
    for _ in range(reps):
        t = time.perf_counter()
        dh.range_search(as_codes(q_full), SCAN_DHASH + 1)  # FAISS: distance < radius
        dm.range_search(as_codes(q_mask), SCAN_DHASH + 1)
        t_f.append(time.perf_counter() - t)
    del dh, dm
    pdq_rows = np.ascontiguousarray(np.asarray(index.pdq).T).astype(">u8")
    px = flat(pdq_rows, 256)
    qp = np.load(directory / "query_pdq.npy")
    qcodes = np.ascontiguousarray(qp.astype(">u8")).view(np.uint8).reshape(60, 32)
    t_p = []
    for _ in range(reps):
        t = time.perf_counter()
        px.range_search(qcodes, 32)
        t_p.append(time.perf_counter() - t)
    out.update(
        faiss="faiss-cpu " + faiss.__version__,
        faiss_same_scans_s=median(t_f),
        numpy_ratio_vs_faiss_same_scans=median(t_q) / median(t_f),
        faiss_pdq60_s=median(t_p),
        numpy_ratio_vs_faiss_pdq60=median(t_q) / median(t_p),
        query_faiss_backend_s=median(t_qf[1:]),
        faiss_backend_ratio_vs_faiss_same_scans=median(t_qf[1:]) / median(t_f),
        faiss_backend_ratio_vs_faiss_pdq60=median(t_qf[1:]) / median(t_p),
    )
    return out


def rss_child(directory: Path) -> dict[str, object]:
    """Peak RSS of a process that only loads the index and answers one query (numpy backend)."""
    os.environ["VERIFY_NO_FAISS"] = "1"
    from verify.index import FrameIndex
    from verify.services.search import match_files, query_of

    base = _rss_mb()
    index = FrameIndex.load(directory, max_id=0)
    frames = _query_frames(directory)
    found = match_files(index, query_of(frames), query_kind="video")
    return {"rss_mb_imports": base, "rss_mb_index_and_query": _rss_mb(), "found": len(found)}


def _planted(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """n random one-frame files' 64-bit hash columns, 30 % of them (rows `dst`, second half)
    near-duplicates of rows `src` (first half): every hash 0-3 bits off."""
    rng = np.random.default_rng(seed)
    cols = {
        k: rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64) * np.uint64(2)
        for k in ("phash", "dhash", "phash_masked", "dhash_masked")
    }
    k = int(n * 0.3)
    src = rng.choice(n // 2, k, replace=False)
    dst = n // 2 + rng.choice(n - n // 2, k, replace=False)
    for col in cols.values():
        col[dst] = _flip(col[src], 3, 64, rng)
    return cols, src, dst


def dupes(n: int, reps: int, seed: int = 1) -> dict[str, object]:
    from verify.index import FrameIndex
    from verify.services.search import _self_links

    cols, src, dst = _planted(n, seed)
    index = FrameIndex(
        frame_id=np.arange(1, n + 1, dtype=np.int64),
        blob_id=np.arange(1, n + 1, dtype=np.int64),
        idx=np.zeros(n, dtype=np.int32),
        pts=np.zeros(n),
        phash=cols["phash"],
        dhash=cols["dhash"],
        phash_masked=cols["phash_masked"],
        dhash_masked=cols["dhash_masked"],
        pdq=np.zeros((4, n), dtype=np.uint64),
        has_pdq=np.zeros(n, dtype=np.bool_),
    )
    times = []
    links: list[tuple[int, int, dict[str, object]]] = []
    for _ in range(reps):
        t = time.perf_counter()
        links = _self_links(index)
        times.append(time.perf_counter() - t)
    want = {(int(a) + 1, int(b) + 1) for a, b in zip(src, dst, strict=True)}
    got = {(a, b) for a, b, _ in links}
    out: dict[str, object] = {
        "dupes_n": n,
        "dupes_s": median(times),
        "dupes_recall": len(want & got) / len(want),
        "dupes_extra_links": len(got - want),
    }
    try:
        import faiss
    except ImportError:
        return out
    faiss.omp_set_num_threads(2)
    ix = faiss.IndexBinaryFlat(64)
    codes = cols["dhash"].view(np.uint8).reshape(n, 8)
    ix.add(codes)
    t = time.perf_counter()
    ix.range_search(codes, 11)
    out["faiss_selfjoin_one_variant_s"] = time.perf_counter() - t
    return out


def _new_archive(home: Path, files: int, kind: str, suffix: str) -> sqlite3.Connection:
    """An archive with one case "bench" holding `files` stored files (blob and media rows
    1..files, analysed with this version's recipe), open with plain sqlite3 for the caller
    to add frame rows fast and commit."""
    from verify.analysis import PIPELINE
    from verify.archive import open_archive
    from verify.services.cases import open_case

    archive = open_archive(home, actor="bench")
    open_case(archive, "bench", slug="bench")
    archive.close()
    db = sqlite3.connect(home / "verify.db")
    now = "2026-01-01 00:00:00.000000"
    db.executemany(
        "INSERT INTO blobs (id, sha256, size, kind, analysis_state, pipeline, stored_at) "
        "VALUES (?, ?, 1, ?, 'ok', ?, ?)",
        ((b, f"{b:064x}", kind, PIPELINE, now) for b in range(1, files + 1)),
    )
    db.executemany(
        "INSERT INTO media (case_id, blob_id, original_name, acquired_by, acquired_at) "
        "VALUES (1, ?, ?, 'bench', ?)",
        ((b, f"{kind}{b}.{suffix}", now) for b in range(1, files + 1)),
    )
    return db


def _build_e2e_archive(home: Path, n: int) -> int:
    """A SQLite archive of n stored frames (60-frame files, one case), written with plain
    sqlite3 for speed. Returns the number of frames."""
    rng = np.random.default_rng(3)
    files = n // FRAMES_PER_FILE
    db = _new_archive(home, files, "video", "mp4")
    h = rng.integers(-(2**63), 2**63 - 1, size=(files * FRAMES_PER_FILE, 4), dtype=np.int64)
    pdq = rng.integers(0, 255, size=(files * FRAMES_PER_FILE, 32), dtype=np.uint8)
    db.executemany(
        "INSERT INTO frames (blob_id, idx, pts, phash, dhash, phash_masked, dhash_masked, "
        "pdq, pdq_quality, informative, scene_change) VALUES (?,?,?,?,?,?,?,?,90,1,0)",
        (
            (
                r // FRAMES_PER_FILE + 1,
                r % FRAMES_PER_FILE,
                float(r % FRAMES_PER_FILE),
                *map(int, h[r]),
                pdq[r].tobytes(),
            )
            for r in range(files * FRAMES_PER_FILE)
        ),
    )
    db.commit()
    db.close()
    return files * FRAMES_PER_FILE


def _query_image(path: Path) -> Path:
    """A 640x480 JPEG that is not in the archive (the `verify search IMAGE` query)."""
    from bench.clips import canvas
    from PIL import Image

    Image.fromarray(canvas(640, 480, seed=11)).save(path, quality=90)
    return path


def _timed_runs(cmd: list[str], reps: int) -> tuple[list[float], list[float], str]:
    """Wall and CPU (user + sys) seconds of `reps` runs of cmd; stdout of the last."""
    times, cpu = [], []
    out = ""
    for _ in range(reps):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return times, cpu, out


def e2e(n: int, reps: int = 5, keep: Path | None = None) -> dict[str, object]:
    """Wall time of `verify search MEDIA --json` and `verify search IMAGE --json` (process
    start to output; IMAGE is a file not in the archive, analysed in the sandboxed child) on
    an archive of n stored frames (SQLite rows + the sidecar the first call writes), vs
    `python -c pass`. With `keep`, the archive lives there and is reused by later runs."""
    with tempfile.TemporaryDirectory(prefix="verify-e2e-") as tmp:
        home = keep if keep is not None else Path(tmp) / "home"
        # a kept archive is reused as built by an earlier run (with the same n)
        frames = n if (home / "verify.db").is_file() else _build_e2e_archive(home, n)
        image = _query_image(Path(tmp) / "query.jpg")
        verify = [sys.executable, "-m", "verify", "--home", str(home), "search"]
        t = time.perf_counter()
        first = subprocess.run([*verify, "1", "--json"], capture_output=True, text=True, check=True)
        t_first = time.perf_counter() - t
        base, _, _ = _timed_runs([sys.executable, "-c", "pass"], reps)
        # interleaved so that machine noise hits both alike
        media_t: list[float] = []
        media_c: list[float] = []
        image_t: list[float] = []
        image_c: list[float] = []
        image_out = ""
        for _ in range(reps):
            t1, c1, _ = _timed_runs([*verify, "1", "--json"], 1)
            t2, c2, image_out = _timed_runs([*verify, str(image), "--json"], 1)
            media_t += t1
            media_c += c1
            image_t += t2
            image_c += c2
        return {
            "e2e_frames": frames,
            "e2e_first_call_s": t_first,
            "e2e_search_media_s": median(media_t),
            "e2e_search_media_cpu_s": median(media_c),
            "e2e_search_image_s": median(image_t),
            "e2e_search_image_min_s": min(image_t),
            "e2e_search_image_cpu_s": median(image_c),
            "python_start_s": median(base),
            "media_hits": len(json.loads(first.stdout)["hits"]),
            "image_hits": len(json.loads(image_out)["hits"]),
            "load_after": os.getloadavg()[0],
        }


def backends(n: int, reps: int) -> list[dict[str, object]]:
    """The numpy/FAISS switch point (index.FAISS_MIN_WORK): one `range_search` of nq query
    hashes over n rows on each backend, and what a process pays once to use FAISS at all
    (import + first call; measured in fresh interpreters, minus numpy's import)."""
    import verify.index as vi

    def once(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    prelude = "import numpy as np; import verify.index; c = np.zeros(1 << 20, dtype=np.uint64); "
    first = (
        "import faiss; faiss.omp_set_num_threads(2); "
        "verify.index._faiss_scan(faiss, c, c[:8].copy(), 14)"
    )
    env_path = f"import sys; sys.path.insert(0, {str(HERE.parents[2] / 'src')!r}); "
    setup = [once(env_path + prelude + first) - once(env_path + prelude) for _ in range(reps)]
    rng = np.random.default_rng(5)
    col = rng.integers(0, 2**63, n, dtype=np.int64).view(np.uint64)
    index = vi.FrameIndex.empty()
    index.dhash = col
    faiss = vi._faiss()
    out = []
    for nq in (1, 2, 4, 8, 16, 32, 60, 120):
        q = np.ascontiguousarray(col[:nq] ^ np.uint64(0b111))
        t_np, t_f = [], []
        for _ in range(reps):
            t = time.perf_counter()
            parts = [vi._scan(col, q, 14, list(range(0, n, vi.CHUNK_ROWS)), False)]
            t_np.append(time.perf_counter() - t)
            if n * nq >= vi.PARALLEL_MIN_WORK:  # what range_search does: 2 threads
                os.environ["VERIFY_NO_FAISS"] = "1"
                vi.FAISS_MIN_WORK, keep = 1 << 62, vi.FAISS_MIN_WORK
                t = time.perf_counter()
                index.range_search("dhash", q, 14)
                t_np[-1] = time.perf_counter() - t
                vi.FAISS_MIN_WORK = keep
                del os.environ["VERIFY_NO_FAISS"]
            t = time.perf_counter()
            vi._faiss_scan(faiss, col, q, 14)
            t_f.append(time.perf_counter() - t)
        del parts
        out.append(
            {
                "n": n,
                "queries": nq,
                "work": n * nq,
                "numpy_s": median(t_np),
                "faiss_s": median(t_f),
                "faiss_setup_once_s": median(setup),
                "numpy_faster_end_to_end": median(t_np) < median(t_f) + median(setup),
            }
        )
    return out


def _build_dupes_archive(home: Path, n: int, seed: int = 1) -> int:
    """A SQLite archive of n one-frame images (one case), 30 % of them planted near-duplicates
    of another (every hash 0-3 bits off), as `dupes` plants them. Returns the planted pairs."""
    cols, _, dst = _planted(n, seed)
    db = _new_archive(home, n, "image", "jpg")
    signed = {name: col.view(np.int64) for name, col in cols.items()}
    db.executemany(
        "INSERT INTO frames (blob_id, idx, pts, phash, dhash, phash_masked, dhash_masked, "
        "pdq, pdq_quality, informative, scene_change) VALUES (?,0,0.0,?,?,?,?,NULL,NULL,1,0)",
        (
            (
                r + 1,
                int(signed["phash"][r]),
                int(signed["dhash"][r]),
                int(signed["phash_masked"][r]),
                int(signed["dhash_masked"][r]),
            )
            for r in range(n)
        ),
    )
    db.commit()
    db.close()
    return int(dst.shape[0])


def e2e_dupes(n: int, reps: int = 3, keep: Path | None = None) -> dict[str, object]:
    """Wall time of `verify dupes --json` (process start to output) over n stored images with
    30 % planted near-duplicates; the first call also writes the index sidecar."""
    with tempfile.TemporaryDirectory(prefix="verify-e2e-dupes-") as tmp:
        home = keep if keep is not None else Path(tmp) / "home"
        planted = int(n * 0.3) if (home / "verify.db").is_file() else _build_dupes_archive(home, n)
        cmd = [sys.executable, "-m", "verify", "--home", str(home), "dupes", "--json"]
        t = time.perf_counter()
        first = subprocess.run(cmd, capture_output=True, text=True, check=True)
        t_first = time.perf_counter() - t
        times, cpu, out = _timed_runs(cmd, reps)
        clusters = json.loads(out)
        return {
            "e2e_dupes_images": n,
            "e2e_dupes_first_call_s": t_first,
            "e2e_dupes_s": median(times),
            "e2e_dupes_cpu_s": median(cpu),
            "planted_pairs": planted,
            "clusters": len(clusters) if isinstance(clusters, list) else None,
            "same_output_as_first_call": out == first.stdout,
            "load_after": os.getloadavg()[0],
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--dupes", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--e2e", type=int, default=0, help="frames for the end-to-end CLI run")
    ap.add_argument("--e2e-home", type=Path, help="keep (and reuse) the end-to-end archive here")
    ap.add_argument("--e2e-dupes", type=int, default=0, help="images for `verify dupes` end to end")
    ap.add_argument("--backends", action="store_true", help="measure the numpy/FAISS switch point")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        print(json.dumps(rss_child(Path(args.rss_child))))
        return
    if args.child:
        print(json.dumps(measure(Path(args.child), args.reps)))
        return
    print(
        f"# machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, numpy {np.__version__}"
    )
    if args.backends:
        for n in args.sizes:
            for row in backends(n, args.reps):
                print(json.dumps(row))
        return
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
            t = time.perf_counter()
            generate(n, Path(tmp))
            gen = time.perf_counter() - t
            reps = args.reps if n <= 2_000_000 else min(args.reps, 3)
            res = subprocess.run(
                [sys.executable, str(HERE), "--child", tmp, "--reps", str(reps)],
                capture_output=True,
                text=True,
                check=True,
            )
            data = json.loads(res.stdout.strip().splitlines()[-1])
            data["generate_s"] = gen
            # peak RSS in its own process (the one above also held np.load's copies)
            res = subprocess.run(
                [sys.executable, str(HERE), "--rss-child", tmp],
                capture_output=True,
                text=True,
                check=True,
            )
            data.update(json.loads(res.stdout.strip().splitlines()[-1]))
            print(json.dumps(data))
    if args.dupes:
        print(json.dumps(dupes(args.dupes, reps=1)))
    if args.e2e:
        print(json.dumps(e2e(args.e2e, reps=args.reps, keep=args.e2e_home)))
    if args.e2e_dupes:
        print(json.dumps(e2e_dupes(args.e2e_dupes, reps=min(args.reps, 3))))


if __name__ == "__main__":
    main()
