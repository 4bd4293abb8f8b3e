"""Cost of isolation per file: in-process read vs one child per file vs the fork-server pool.

    .venv/bin/python bench/sandbox.py [N]

Generates N 1080p JPEGs with EXIF (default 40) and one 720p H.264 clip, reads their metadata
three ways in the same run, and prints seconds per file and the ratios to in-process. The
ratios are the result; absolute times depend on the machine and its load.
"""

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from PIL import Image

from verify.analysis.metadata import read_metadata
from verify.analysis.sandbox import AnalysisPool, run_in_child

TARGET = "verify.analysis.metadata:read_metadata"


def make_files(folder: Path, n: int) -> list[str]:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "BenchCam", "B1"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:01 12:00:00"
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        pixels = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", exif=exif, quality=85)
        paths.append(str(path))
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(
                np.full((720, 1280, 3), i * 4, np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    paths.append(str(clip))
    return paths


def per_file(fn: Callable[[str], object], paths: list[str], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for path in paths:
            fn(path)
        times.append((time.perf_counter() - start) / len(paths))
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_files(Path(tmp), n)
        base = per_file(read_metadata, paths)
        child = per_file(lambda p: run_in_child(TARGET, p), paths[:10], rounds=1)
        with AnalysisPool(TARGET) as pool:
            pool.run(paths[0])  # server start-up excluded: paid once per command
            pooled = per_file(pool.run, paths)
    print(f"files: {n} JPEG 1920x1080 + 1 H.264 720p clip")
    print(f"in-process     {base * 1000:8.1f} ms/file   1.0x")
    print(f"run_in_child   {child * 1000:8.1f} ms/file  {child / base:6.1f}x")
    print(f"AnalysisPool   {pooled * 1000:8.1f} ms/file  {pooled / base:6.1f}x")


if __name__ == "__main__":
    main()
