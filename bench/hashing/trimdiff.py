"""Which corpus pictures a trim-rule change moves: the trim box of recipe v3 against v2's
(the same rule with the two-sided floor at the one-sided 25 %) for every corpus image, every
frame the product samples from every corpus video, and with `--every-frame` every decoded
video frame too (docs/hashing.md, recipe history).

    .venv/bin/python -m bench.hashing.trimdiff [--corpus ../shared/corpus] [--every-frame]

Stills are decoded as the product decodes them (`frames.image_hashes`: JPEG draft decoding),
videos sampled by `frames.extract_frames`; each picture handed to the recipe is trimmed by
both rules. Prints the counts and every picture whose box differs.
"""

import argparse
import csv
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))

from verify.analysis import frames, hashing  # noqa: E402
from verify.analysis.metadata import read_metadata  # noqa: E402

Box = tuple[int, int, int, int]


def trim_v2(g: Any) -> Box:
    """Recipe v2's trim box: no two-sided trim below TRIM_KEEP."""
    saved = hashing.TRIM_KEEP_PAIRED
    hashing.TRIM_KEEP_PAIRED = hashing.TRIM_KEEP
    try:
        return hashing.trim_box(g)
    finally:
        hashing.TRIM_KEEP_PAIRED = saved


_lock = threading.Lock()  # trim_v2 swaps a module constant; the product hashes on threads


class Recorder:
    def __init__(self) -> None:
        self.boxes: list[tuple[tuple[int, int], Box, Box]] = []

    def add(self, g: Any) -> None:
        with _lock:
            self.boxes.append((g.shape[:2], trim_v2(g), hashing.trim_box(g)))


@contextmanager
def recording(rec: Recorder) -> Iterator[None]:
    """Every picture the product hands to `hash_gray` is trimmed by both rules."""
    original = frames.hash_gray

    def spy(g: Any, **kw: Any) -> hashing.Hashes:
        rec.add(np.asarray(g, dtype=np.uint8))
        with _lock:
            return original(g, **kw)

    frames.hash_gray = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        frames.hash_gray = original  # type: ignore[assignment]


def every_frame(path: str, rec: Recorder) -> None:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for fr in c.decode(s):
            rec.add(np.asarray(fr.to_ndarray(format="gray"), dtype=np.uint8))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.environ.get("VERIFY_CORPUS", "/work/shared/corpus"))
    ap.add_argument("--every-frame", action="store_true", help="also every decoded video frame")
    args = ap.parse_args()
    corpus = Path(args.corpus)
    t0 = time.perf_counter()
    counts = {"images": [0, 0], "sampled video frames": [0, 0], "decoded video frames": [0, 0]}
    files = {"images": 0, "videos": 0}
    changed: list[str] = []
    for r in csv.DictReader((corpus / "inventory.csv").open()):
        if r["kind"] not in ("image", "video"):
            continue
        p = corpus / r["path"]
        if not p.is_file() or p.stat().st_size < 200:  # LFS pointers
            continue
        jobs = [("images" if r["kind"] == "image" else "sampled video frames", False)]
        if r["kind"] == "video" and args.every_frame:
            jobs.append(("decoded video frames", True))
        for what, dense in jobs:
            rec = Recorder()
            try:
                if dense:
                    every_frame(str(p), rec)
                elif r["kind"] == "image":
                    with recording(rec):
                        frames.image_hashes(str(p))
                else:
                    kind, _, meta = read_metadata(str(p))
                    with recording(rec):
                        frames.extract_frames(str(p), kind, meta)
            except Exception as exc:  # the corpus has deliberately broken files
                print(f"  {r['path']}: {type(exc).__name__}", file=sys.stderr)
            if not dense and rec.boxes:
                files["images" if r["kind"] == "image" else "videos"] += 1
            counts[what][0] += len(rec.boxes)
            for i, (shape, b2, b3) in enumerate(rec.boxes):
                if b2 != b3:
                    counts[what][1] += 1
                    changed.append(f"{r['path']} [{what} {i}] {shape[1]}x{shape[0]}: {b2} -> {b3}")
    print(f"# {files['images']} images, {files['videos']} videos, {time.perf_counter() - t0:.0f} s")
    for what, (n, diff) in counts.items():
        if n:
            print(f"{what}: {n}, trim box changed v2 -> v3: {diff}")
    for line in changed:
        print(f"  {line}")


if __name__ == "__main__":
    main()
