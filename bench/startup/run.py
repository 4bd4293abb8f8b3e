"""Start-up cost of the CLI, as ratios against bare Python measured in the same run.

    .venv/bin/python bench/startup/run.py [--runs 21] [--json]

Measures the wall time of whole processes (fork + exec + interpreter start + imports +
work), interleaved so that machine noise hits every variant alike, and reports the
median of each, its ratio to `python -c pass` and the difference in milliseconds, for
wall time and for CPU time (user + sys of the child; steadier than wall time on a loaded
machine):

- baseline:       python -c pass
- help:           verify --help            (no database; heavy imports must stay out)
- version:        verify --version
- case list:      verify case list          (SQLite archive with 20 cases, already migrated)
- case list json: verify case list --json
- add jpeg:       verify media add CASE photo.jpg   (bytes already stored: no
                  analysis, but the server starts; row, audit entry, near-duplicate search)
- search jpeg:    verify search photo.jpg   (its analysis child runs)

The console script in the same venv as this interpreter is used (`<venv>/bin/verify`), so
the numbers include its entry-point shim, as a user would experience it.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    verify = str(Path(sys.executable).with_name("verify"))
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "VERIFY_HOME": home, "VERIFY_USER": "bench"}
        env.pop("VERIFY_DATABASE_URL", None)
        for i in range(20):
            subprocess.run(
                [verify, "case", "open", f"Bench case {i}", "--claim", "a claim"],
                env=env,
                stdout=subprocess.DEVNULL,
                check=True,
            )
        # a small photo: `media add` of bytes already stored (no analysis, but the server
        # starts, the row, audit entry and near-duplicate search are written and run) and
        # `search` of it (its analysis child runs): the fixed cost of the two intake commands
        photo = Path(home) / "photo.jpg"
        Image.effect_noise((640, 480), 64).convert("RGB").save(photo, quality=90)
        subprocess.run(
            [verify, "media", "add", "bench-case-0", str(photo)],
            env=env,
            capture_output=True,
            check=True,
        )
        variants = {
            "baseline": [sys.executable, "-c", "pass"],
            "help": [verify, "--help"],
            "version": [verify, "--version"],
            "case list": [verify, "case", "list"],
            "case list json": [verify, "case", "list", "--json"],
            "add jpeg": [verify, "media", "add", "bench-case-0", str(photo)],
            "search jpeg": [verify, "search", str(photo)],
        }
        for cmd in variants.values():  # warm the page cache and .pyc files
            timed(cmd, env)
        wall: dict[str, list[float]] = {k: [] for k in variants}
        cpu: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.runs):
            for name, cmd in variants.items():
                w, c = timed(cmd, env)
                wall[name].append(w)
                cpu[name].append(c)

    def summary(samples: dict[str, list[float]]) -> dict[str, dict[str, float]]:
        base = statistics.median(samples["baseline"])
        return {
            name: {
                "median_ms": round(statistics.median(s) * 1000, 1),
                "ratio": round(statistics.median(s) / base, 2),
                "delta_ms": round((statistics.median(s) - base) * 1000, 1),
            }
            for name, s in samples.items()
        }

    results = {"wall": summary(wall), "cpu": summary(cpu)}
    meta = {
        "runs": args.runs,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
        return
    print(
        f"median of {args.runs} runs, Python {meta['python']}, {meta['cpus']} CPUs, "
        f"load average {meta['loadavg_1m']}"
    )
    for kind, rows in results.items():
        print(f"\n{kind:<16} {'median ms':>10} {'x baseline':>11} {'+ms':>8}")
        for name, r in rows.items():
            print(f"{name:<16} {r['median_ms']:>10} {r['ratio']:>11} {r['delta_ms']:>8}")


if __name__ == "__main__":
    main()
