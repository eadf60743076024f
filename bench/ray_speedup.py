"""The local Ray executor against the local one, on one chapter's grid, in one run.

    .venv/bin/python bench/ray_speedup.py [--repeats 3] [--seeds 6]

The grid is the alpha study's sweep at a small scale (its teacher, then one unit per seed: 11
alphas and the scratch student on 2,000 images for 10 epochs), run as ``python -m kdlib.run``
from an empty cache each time. A unit computes the same numbers with as many threads as a local
run (results depend on the thread count in their last bits), so on this 2-core machine each
Ray task takes both cores and the tasks run one at a time; with ``OMP_NUM_THREADS=1`` the
tasks run two at a time (and the numbers are a 1-thread run's). Runs are interleaved and the
medians reported, because timings here jump by up to 20x for a while.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = {"n_train": 2000, "n_test": 1000, "epochs": 10, "snapshots": "[10]", "batch_size": 32}
VARIANTS = {  # name: (executor, threads)
    "local, 2 threads": ("local", "2"),
    "ray, 2 threads per task (one task at a time)": ("ray", "2"),
    "local, 1 thread": ("local", "1"),
    "ray, 1 thread per task (two at a time)": ("ray", "1"),
}


def sweep(executor: str, threads: str, seeds: int) -> float:
    """Wall seconds of the grid from an empty cache."""
    args = [a for k, v in {**GRID, "seeds": seeds, "executor": executor}.items()
            for a in ("-p", k, str(v))]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "KD_CACHE_DIR": cache, "OMP_NUM_THREADS": threads,
               "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kdlib.run", "alpha", "--profile", "quick",
                        *args], env=env, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    """Time every variant, interleaved; print medians and the ratios to the local run."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=6)
    a = ap.parse_args()
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(a.repeats):
        for name, (executor, threads) in VARIANTS.items():
            times[name].append(sweep(executor, threads, a.seeds))
    print(f"alpha grid: teacher + {a.seeds} seeds x 12 students, {GRID['n_train']} images, "
          f"{GRID['epochs']} epochs; {os.cpu_count()} cores; medians of {a.repeats}\n")
    print("| executor | wall (s) | speed-up over local, same threads |\n| --- | ---: | ---: |")
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, (_, threads) in VARIANTS.items():
        base = med[f"local, {threads} thread" + ("s" if threads != "1" else "")]
        print(f"| {name} | {med[name]:.1f} | {base / med[name]:.2f}x |")


if __name__ == "__main__":
    main()
