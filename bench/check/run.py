"""`verify check` on a synthetic archive, against reading what it has to read.

    .venv/bin/python -m bench.check.run                       # 2,000 files x 100 frames
    .venv/bin/python -m bench.check.run --files 500 --frames 60 --object-kib 2048
    VERIFY_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python -m bench.check.run                   # the rows on PostgreSQL

The archive is built through the intake's own write path (`services.intake._record`: blob,
frames, media row and `media.add` audit entry with its analysis digest, one transaction per
file), from random bytes and random frame hashes, so that it checks clean. Claims and
statuses, and for every `--provenance-every`-th file an appearance on a new account, an
attribution changed once, a note and an account edit, make the replay see every kind of
entry it compares. Then, in the same run:

- **baseline**: what `check` cannot avoid reading, read as plainly as Python can: the SHA-256
  of every stored object (hashlib, 1 MiB reads) and every row of the tables `check` compares
  (`SELECT *`, fetched). For PostgreSQL the rows are fetched through the same driver.
- **`verify check`**: the command, in a fresh process, wall time (median of `--reps`);
- **database only**: `check_archive(objects=[])` in this process (the chain, the replay of
  the rows, the analysis digests, SQLite's integrity and foreign-key checks), and the
  objects' re-hashing alone (`ObjectStore.verify_object` for each).

Reported as ratios to the baseline (machines here are noisy): how much `check` costs beyond
reading the evidence once. Numbers go to stdout as a table and to bench/results/ as JSON.
"""

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "src"))

TABLES = (
    "audit_entries",
    "blobs",
    "frames",
    "media",
    "cases",
    "claims",
    "status_changes",
    "notes",
    "accounts",
    "appearances",
    "attributions",
    "attribution_changes",
)


def build(
    home: Path, url: str | None, files: int, frames: int, object_kib: int, every: int
) -> None:
    """A consistent archive of `files` media of `frames` frames each, in case `bench`, with
    provenance records for every `every`-th file (none for 0)."""
    from verify.analysis import AnalysisResult, FrameHash
    from verify.archive import open_archive
    from verify.services import cases, intake, provenance, status
    from verify.vocab import Role

    roles = list(Role)

    rng = random.Random(7)
    archive = open_archive(home=home, database_url=url, actor="bench")
    try:
        cases.open_case(archive, "Check bench", slug="bench", claims=["a claim", "another"])
        status.set_status(archive, "bench", "in_progress", why="bench archive")
        src = home / "incoming"
        src.mkdir()
        t0 = time.perf_counter()
        for i in range(files):
            path = src / f"file{i:05d}.bin"
            path.write_bytes(rng.randbytes(object_kib << 10))
            kept = archive.store.put_file(str(path))
            path.unlink()
            meta = {
                "duration": frames * 1.0,
                "width": 1280,
                "height": 720,
                "make": "Bench",
                "model": f"M{i % 7}",
                "gps": {"lat": 48.0 + i / 1e4, "lon": 37.0 - i / 1e4},
                "raw": {f"Tag{k}": f"value {k} of {i}" for k in range(40)},
            }
            hashes = [
                FrameHash(
                    idx=k,
                    pts=float(k),
                    phash=rng.getrandbits(64),
                    dhash=rng.getrandbits(64),
                    phash_masked=rng.getrandbits(64),
                    dhash_masked=rng.getrandbits(64),
                    pdq=rng.randbytes(32),
                    pdq_quality=100,
                )
                for k in range(frames)
            ]
            outcome = AnalysisResult(kind="video", mime="video/mp4", meta=meta, frames=hashes)
            result = intake.AddResult(path=str(path))
            intake._record(
                archive,
                "bench",
                "bench",
                kept,
                result,
                outcome,
                source_url=None,
                platform=None,
                acquired_via="bench",
                label=None,
            )
            if every and i % every == 0 and result.media_id is not None:
                k = i // every
                ap = provenance.add_appearance(
                    archive,
                    "bench",
                    account=f"telegram:@poster{k}",
                    posted=f"2023-05-{1 + k % 28:02d}T{k // 28 % 24:02d}:00Z",
                    media=str(result.media_id),
                )
                provenance.edit_account(archive, f"telegram:@poster{k}", credibility="unknown")
                attr = provenance.attribute(
                    archive,
                    "bench",
                    roles[k % len(roles)],
                    f"x:@actor{k}",
                    target=f"appearance:{ap['id']}",
                )
                provenance.set_attribution_state(
                    archive, attr["id"], "corroborated", evidence=f"bench evidence {k}"
                )
                cases.add_note(archive, "bench", f"bench note {k}")
            if (i + 1) % 500 == 0:
                rate = (i + 1) / (time.perf_counter() - t0)
                print(f"  built {i + 1}/{files} files ({rate:.0f}/s)", file=sys.stderr)
        status.set_status(archive, "bench", "verified", why="bench archive, done")
    finally:
        archive.close()


def baseline(home: Path, url: str | None) -> dict[str, float]:
    """Hash every stored object and fetch every row `check` compares, plainly; the times,
    and how many objects and rows were read."""
    objects = rows = 0
    t0 = time.perf_counter()
    for path in sorted((home / "objects" / "sha256").glob("*/*")):
        objects += 1
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    hashed = time.perf_counter() - t0
    t0 = time.perf_counter()
    if url is None:
        import sqlite3

        con = sqlite3.connect(home / "verify.db")
        for table in TABLES:
            rows += len(con.execute(f"SELECT * FROM {table}").fetchall())
        con.close()
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as con:
            for table in TABLES:
                rows += len(con.execute(text(f"SELECT * FROM {table}")).fetchall())
        engine.dispose()
    read = time.perf_counter() - t0
    return {
        "hash_objects": hashed,
        "read_rows": read,
        "total": hashed + read,
        "objects": objects,
        "rows": rows,
    }


def in_process(home: Path, url: str | None) -> dict[str, float]:
    """`check_archive` without the objects, then the objects' re-hashing alone."""
    from verify.archive import open_archive
    from verify.services.log import check_archive

    archive = open_archive(home=home, database_url=url, actor="bench")
    try:
        t0 = time.perf_counter()
        report = check_archive(archive, objects=[])
        database = time.perf_counter() - t0
        if report.findings:
            raise SystemExit(f"the bench archive does not check clean: {report.findings[:3]}")
        t0 = time.perf_counter()
        for sha in archive.store.iter_objects():
            archive.store.verify_object(sha)
        objects = time.perf_counter() - t0
    finally:
        archive.close()
    return {"database": database, "objects": objects}


def command(home: Path, url: str | None) -> float:
    env = dict(os.environ)
    if url is not None:
        env["VERIFY_DATABASE_URL"] = url
    verify = Path(sys.executable).with_name("verify")
    t0 = time.perf_counter()
    done = subprocess.run(
        [str(verify), "--home", str(home), "check"], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"verify check exited {done.returncode}: {done.stderr.strip()}")
    return wall


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as con:
        con.execute(text("DROP SCHEMA public CASCADE"))
        con.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--frames", type=int, default=100, help="frames per file")
    ap.add_argument("--object-kib", type=int, default=256, help="size of each stored file")
    ap.add_argument(
        "--provenance-every",
        type=int,
        default=10,
        help="an appearance, account, attribution and note for every N-th file (0: none)",
    )
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    url = os.environ.get("VERIFY_BENCH_DATABASE_URL") or None
    with tempfile.TemporaryDirectory(prefix="verify-bench-check-") as tmp:
        home = Path(tmp) / "archive"
        if url is not None:
            _reset_postgres(url)  # the bench's own database: emptied, then built
        t0 = time.perf_counter()
        build(home, url, args.files, args.frames, args.object_kib, args.provenance_every)
        built = time.perf_counter() - t0
        runs: list[dict[str, float]] = []
        for _ in range(args.reps):  # interleaved, so that a noisy minute hits all three
            base = baseline(home, url)
            wall = command(home, url)
            parts = in_process(home, url)
            runs.append({**{f"baseline_{k}": v for k, v in base.items()}, "check": wall, **parts})
    med = {k: median(r[k] for r in runs) for k in runs[0]}
    ratio = med["check"] / med["baseline_total"]
    rows = args.files * args.frames
    print(
        f"archive: {args.files} files x {args.frames} frames ({rows:,} frame rows), "
        f"{args.files * args.object_kib / 1024:.0f} MiB of objects, "
        f"{'PostgreSQL' if url else 'SQLite'}; built in {built:.1f} s"
    )
    print(f"{'':32}{'median':>9}  runs")
    for key, label in (
        ("baseline_hash_objects", "baseline: hash the objects"),
        ("baseline_read_rows", "baseline: fetch the rows"),
        ("baseline_total", "baseline"),
        ("check", "verify check (command)"),
        ("database", "  database part (in process)"),
        ("objects", "  objects part (in process)"),
    ):
        runs_text = " ".join(f"{r[key]:.2f}" for r in runs)
        print(f"{label:32}{med[key]:8.2f}s  {runs_text}")
    print(f"ratio check / baseline: {ratio:.2f}")
    print(f"database part per million frame rows: {med['database'] / rows * 1e6:.1f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record: dict[str, Any] = {
        "args": vars(args),
        "backend": "postgresql" if url else "sqlite",
        "runs": runs,
        "median": med,
        "ratio": ratio,
        "built_s": built,
    }
    target = out / f"check-{stamp}.json"
    target.write_text(json.dumps(record, indent=1))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
