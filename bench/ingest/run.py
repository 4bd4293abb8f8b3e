"""Ingest benchmark: frame sampling + hashing as ratios against baselines run in the same process.

Video (per clip, generated once into bench/results/media/):
    baseline  = PyAV decode of every frame, thread_type AUTO, no conversion;
    measured  = verify.analysis.frames.extract_frames (the ingest path) and its fast mode;
    targets   : <= 0.75 with B-frames, <= 1.15 without, fast <= 0.2.
    floor of the fast mode = PyAV decode of the keyframes alone (skip_frame NONKEY, slice
    threads: what `ffmpeg -skip_frame nokey` does), reported beside it (research W2c: the
    fast mode within 1.2x of it).
Images (300 1080p + 100 12 MP generated JPEGs, 2 worker processes):
    baseline  = naive imagehash: Image.open + imagehash.phash + imagehash.dhash, full decode;
    measured  = extract_frames(kind="image") (draft decode, trim, pHash/dHash + masked, PDQ),
                and the same recipe without PDQ;
    targets   : throughput >= 2.5x naive with PDQ, >= 6x without.

Usage: python -m bench.ingest.run [--seconds 60] [--reps 3] [--only video|images] [--quick]
Writes bench/results/ingest-<UTC time>.json and prints a table. The machine is shared: runs
are short and interleave baseline and measured runs; read ratios, not absolute times.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

import av
import numpy as np
from PIL import Image

from bench.clips import canvas, render
from verify.analysis.frames import extract_frames

RESULTS = Path(__file__).resolve().parent.parent / "results"
GRAIN = 3.0  # per-frame noise std-dev of the generated clips (see bench/clips.py)
# x264 defaults (3 B-frames, b-pyramid normal) but the veryfast preset, to render the clips
# in minutes on a shared 2-core machine; B-frame structure is what decoding cost depends on
PRESET = "veryfast"
MEDIA = RESULTS / "media"


# --------------------------------------------------------------------------- video


def decode_all(path: Path) -> int:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for _ in c.decode(s))


def decode_keyframes(path: Path) -> int:
    """The floor of any keyframes-only analysis: decode the keyframes and nothing else."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "SLICE"
        s.codec_context.skip_frame = "NONKEY"
        return sum(1 for _ in c.decode(s))


def has_b_frames(path: Path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.video[0].codec_context.has_b_frames)


def video_clips(seconds: float) -> list[tuple[str, Path]]:
    MEDIA.mkdir(parents=True, exist_ok=True)
    specs = [
        ("720p gop60", 1280, 720, 60, None),
        ("720p gop250", 1280, 720, 250, None),
        ("1080p gop60", 1920, 1080, 60, None),
        ("1080p gop250", 1920, 1080, 250, None),
        ("720p gop60 bf=0", 1280, 720, 60, 0),
    ]
    out = []
    for name, w, h, gop, bf in specs:
        path = (
            MEDIA
            / f"{name.replace(' ', '_').replace('=', '')}_{int(seconds)}s_g{GRAIN:g}_{PRESET}.mp4"
        )
        if not path.exists():
            t = time.perf_counter()
            tmp = path.with_suffix(".tmp.mp4")
            render(tmp, width=w, height=h, seconds=seconds, gop=gop, bframes=bf, scene_len=10.0)
            tmp.rename(path)
            print(f"  rendered {path.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        out.append((name, path))
    return out


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


VERIFY = Path(sys.executable).parent / "verify"


def compile_package() -> None:
    """Byte-compile the `verify` package, as `pip install .` does for a user. An editable
    install under PYTHONDONTWRITEBYTECODE=1 (set on some CI machines) would otherwise
    compile every module from source on each `verify` call: about 0.1 s more per call."""
    import compileall

    import verify

    compileall.compile_dir(str(Path(verify.__file__).parent), quiet=1)


def media_add(paths: list[Path], *, fast: bool = False) -> float:
    """Wall time of `verify media add` (end to end: process start, store copy, sandboxed
    metadata + frames, database) into a fresh temporary archive."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as home:
        env = {**os.environ, "VERIFY_HOME": home, "VERIFY_USER": "bench"}
        subprocess.run(
            [str(VERIFY), "case", "open", "bench", "--slug", "bench"],
            env=env,
            check=True,
            capture_output=True,
        )
        cmd = [str(VERIFY), "media", "add", "bench", *map(str, paths)]
        if fast:
            cmd.append("--fast")
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return time.perf_counter() - t


def bench_video(seconds: float, reps: int, e2e: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    if e2e:
        compile_package()
    for name, path in video_clips(seconds):
        base, keys, meas, fast, add, add_fast = [], [], [], [], [], []
        n_frames = n_fast = 0
        for _ in range(reps):  # interleaved so load changes hit both alike
            base.append(timed(lambda p=path: decode_all(p)))
            keys.append(timed(lambda p=path: decode_keyframes(p)))
            if e2e:
                add.append(media_add([path]))
                add_fast.append(media_add([path], fast=True))
            fr: list[object] = []
            meas.append(timed(lambda p=path, fr=fr: fr.extend(extract_frames(str(p), "video", {}))))
            n_frames = len(fr)
            ff: list[object] = []
            fast.append(
                timed(
                    lambda p=path, ff=ff: ff.extend(extract_frames(str(p), "video", {}, fast=True))
                )
            )
            n_fast = len(ff)
        b, m, f = statistics.median(base), statistics.median(meas), statistics.median(fast)
        k = statistics.median(keys)
        bframes = has_b_frames(path)
        e2e_row = {}
        if e2e:
            a, af = statistics.median(add), statistics.median(add_fast)
            e2e_row = {
                "media_add_s": round(a, 3),
                "media_add_ratio": round(a / b, 3),
                "media_add_fast_s": round(af, 3),
                "media_add_fast_ratio": round(af / b, 3),
                "media_add_fast_over_keyframes": round(af / k, 3),
            }
        rows.append(
            {
                **e2e_row,
                "clip": name,
                "b_frames": bframes,
                "baseline_s": round(b, 3),
                "ingest_s": round(m, 3),
                "fast_s": round(f, 3),
                "ratio": round(m / b, 3),
                "fast_ratio": round(f / b, 3),
                "keyframes_s": round(k, 3),
                "keyframes_ratio": round(k / b, 3),
                "fast_over_keyframes": round(f / k, 3),
                "target": 0.75 if bframes else 1.15,
                "frames": n_frames,
                "fast_frames": n_fast,
                "runs": {
                    "baseline": base,
                    "keyframes": keys,
                    "ingest": meas,
                    "fast": fast,
                    "media_add": add,
                    "media_add_fast": add_fast,
                },
            }
        )
        r = rows[-1]
        print(
            f"{name:18} B={bframes!s:5} decode {b:6.2f}s  ingest {m:6.2f}s "
            f"ratio {r['ratio']:.2f} (target {r['target']})  fast {f:5.2f}s "
            f"ratio {r['fast_ratio']:.2f} (target 0.2; keyframes alone {r['keyframes_ratio']:.2f}, "
            f"fast/keyframes {r['fast_over_keyframes']:.2f})  frames {n_frames}/{n_fast}"
            + (
                f"  | media add {r['media_add_s']:.2f}s ratio {r['media_add_ratio']:.2f}, "
                f"--fast ratio {r['media_add_fast_ratio']:.2f} "
                f"({r['media_add_fast_over_keyframes']:.2f}x keyframes alone)"
                if e2e
                else ""
            )
        )
    return rows


# --------------------------------------------------------------------------- images


def make_images(n_hd: int, n_12mp: int, grain: float) -> list[Path]:
    """Photo-like JPEGs: smooth gradients, filled shapes, a tiled noise texture (sensor-like
    grain, std-dev `grain`) at a random offset, quality 80-92. 12 MP ones are upscaled
    canvases plus the grain. Grain sets the file size and so the entropy-decoding cost that
    no reduced decode avoids: grain 3 gives ~0.3-0.5 MB per 1080p file, grain 6 ~0.4-0.9 MB."""
    d = MEDIA / f"images_{n_hd}_{n_12mp}_g{grain:g}"
    files = sorted(d.glob("*.jpg"))
    if len(files) == n_hd + n_12mp:
        return files
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    noise = rng.normal(0, grain, (512, 512, 3)).astype(np.float32)
    big = [canvas(2400, 1500, s) for s in range(6)]
    out = []
    for i in range(n_hd):
        src = big[i % len(big)]
        y, x = int(rng.integers(0, 1500 - 1080)), int(rng.integers(0, 2400 - 1920))
        arr = src[y : y + 1080, x : x + 1920].astype(np.float32)
        gy, gx = int(rng.integers(0, 512)), int(rng.integers(0, 512))
        tile = np.roll(noise, (gy, gx), axis=(0, 1))
        arr += np.tile(tile, (3, 4, 1))[:1080, :1920]
        p = d / f"hd_{i:03d}.jpg"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p, quality=int(85 + i % 11))
        out.append(p)
    for i in range(n_12mp):
        small = Image.fromarray(canvas(1008, 756, 50 + i % 10))
        arr = np.asarray(small.resize((4032, 3024), Image.Resampling.BICUBIC), dtype=np.float32)
        gy, gx = int(rng.integers(0, 512)), int(rng.integers(0, 512))
        arr = arr + np.tile(np.roll(noise, (gy, gx), axis=(0, 1)), (6, 8, 1))[:3024, :4032]
        p = d / f"mp12_{i:03d}.jpg"
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p, quality=90)
        out.append(p)
    return out


def naive(path: str) -> tuple[str, str]:
    import imagehash

    with Image.open(path) as im:
        im.load()
        return str(imagehash.phash(im)), str(imagehash.dhash(im))


def ours_pdq(path: str) -> int:
    return len(extract_frames(path, "image", {}))


def ours_no_pdq(path: str) -> tuple[int, int]:
    """The hashing recipe minus PDQ (draft decode, luma, trim, fit 512, pHash + dHash + masked)."""
    from verify.analysis.hashing import (
        MASK_KEEP,
        WORK_SIZE,
        dhash64,
        gray_from_image,
        phash64,
        working_image,
    )

    with Image.open(path) as im:
        w, h = im.size
        s = WORK_SIZE / max(w, h)
        if s < 1.0:
            im.draft("L", (max(1, int(w * s)), max(1, int(h * s))))
        g = gray_from_image(im)
    work, _ = working_image(g)
    top = work[: max(1, round(work.shape[0] * MASK_KEEP))]
    phash64(top), dhash64(top)
    return phash64(work), dhash64(work)


def run_pool(fn: Callable[[str], object], files: list[str], workers: int) -> float:
    with Pool(workers) as pool:
        pool.map(fn, files[:4])  # warm the workers' imports
        t = time.perf_counter()
        pool.map(fn, files, chunksize=8)
        return time.perf_counter() - t


def bench_images(
    reps: int, n_hd: int, n_12mp: int, grain: float, e2e: bool, workers: int = 2
) -> dict[str, object]:
    paths = make_images(n_hd, n_12mp, grain)
    files = [str(p) for p in paths]
    mean_kb = {
        kind: round(
            float(np.mean([p.stat().st_size for p in paths if p.name.startswith(kind)])) / 1024
        )
        for kind in ("hd", "mp12")
    }
    for f in files:  # page cache
        Path(f).read_bytes()
    times: dict[str, list[float]] = {"naive": [], "ours_pdq": [], "ours_no_pdq": []}
    if e2e:
        times["media_add"] = []
        compile_package()
    for _ in range(reps):
        times["naive"].append(run_pool(naive, files, workers))
        times["ours_pdq"].append(run_pool(ours_pdq, files, workers))
        times["ours_no_pdq"].append(run_pool(ours_no_pdq, files, workers))
        if e2e:
            times["media_add"].append(media_add(paths))
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(files)
    res = {
        "files": n,
        "hd": n_hd,
        "mp12": n_12mp,
        "workers": workers,
        "grain": grain,
        "mean_kb": mean_kb,
        "img_per_s": {k: round(n / v, 1) for k, v in med.items()},
        "speedup_pdq": round(med["naive"] / med["ours_pdq"], 2),
        "speedup_no_pdq": round(med["naive"] / med["ours_no_pdq"], 2),
        "speedup_media_add": round(med["naive"] / med["media_add"], 2) if e2e else None,
        "targets": {"speedup_pdq": 2.5, "speedup_no_pdq": 6.0},
        "runs": times,
    }
    ips = res["img_per_s"]
    print(
        f"images x{n} ({n_hd} 1080p ~{mean_kb['hd']} KB + {n_12mp} 12 MP ~{mean_kb['mp12']} KB, "
        f"grain {grain:g}, {workers} workers): "
        f"naive {ips['naive']} img/s, "
        f"ours+PDQ {ips['ours_pdq']} img/s ({res['speedup_pdq']}x, target 2.5x), "
        f"ours no PDQ {ips['ours_no_pdq']} img/s ({res['speedup_no_pdq']}x, target 6x)"
        + (f", media add {ips['media_add']} img/s ({res['speedup_media_add']}x)" if e2e else "")
    )
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=["video", "images"])
    ap.add_argument("--quick", action="store_true", help="20 s clips, 60+20 images, 1 rep")
    ap.add_argument("--grain", type=float, default=3.0, help="image grain std-dev (file size)")
    ap.add_argument("--e2e", action="store_true", help="also time `verify media add` end to end")
    args = ap.parse_args()
    seconds, reps, n_hd, n_12 = args.seconds, args.reps, 300, 100
    if args.quick:
        seconds, reps, n_hd, n_12 = 20.0, 1, 60, 20
    report: dict[str, object] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "load_before": os.getloadavg(),
            "python": platform.python_version(),
            "av": av.__version__,
            "numpy": np.__version__,
            "pillow": Image.__version__,
        },
        "seconds": seconds,
        "reps": reps,
    }
    if args.only in (None, "video"):
        report["video"] = bench_video(seconds, reps, args.e2e)
    if args.only in (None, "images"):
        report["images"] = bench_images(reps, n_hd, n_12, args.grain, args.e2e)
    report["load_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ingest-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
