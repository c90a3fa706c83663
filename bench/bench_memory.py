"""Peak memory of a suite run as the dataset grows (a benchmark, not a test).

Each run is a fresh subprocess (``python -m benchmark run ...``); its peak resident
set size is read with ``resource.getrusage(RUSAGE_CHILDREN)``.  A run holds records,
feature vectors and predictions, never the decoded images, so the peak should stay
flat as the number of images grows (beyond the feature matrix, a few KB per image).

The slope of peak RSS against the number of images (least squares over the sizes, MB per
1000 images) is printed beside what the feature matrix itself needs (BRISQUE's 36 float64 per
image: 0.29 MB per 1000 images, plus the records and per-split predictions); synth has 35
images per source photo and at most 17 photos (595 images); beyond that ``--copies`` uses the
``synth_copies`` plugin dataset (``bench/synth_copies_plugin.py``: synth generated with several
noise seeds and sizes, 565 images per copy), e.g. ``--copies 2 9 18`` for 1130 to 10170 images.
Feature extraction is fresh in every run (``--no-cache``); the generated images are kept in
``$IQABENCH_CACHE``.

    python bench/bench_memory.py                       # synth with 3, 6 and 10 source photos
    python bench/bench_memory.py --copies 2 9 18       # 1130, 5085 and 10170 images
    python bench/bench_memory.py --data-root ../shared/data --datasets biq2021
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time

import numpy as np

WRAPPER = """
import resource, runpy, sys
sys.argv = ["benchmark"] + sys.argv[1:]
try:
    runpy.run_module("benchmark", run_name="__main__")
except SystemExit:
    pass
print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``python -m benchmark ARGS`` in a fresh process; its own peak RSS (MB) and wall time."""
    args = cmd[3:]  # drop "python -m benchmark"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", WRAPPER, *args], check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    kb = [int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_RSS_KB")][-1]
    return kb / 1024.0, wall


IMAGES_PER_CONTENT = 35      # synth: 1 reference + 34 distorted versions per source photo
COPY_IMAGES = 565            # synth_copies: images per copy (17 photos)


def synth_memory(sizes: list[int], methods: list[str], repeats: int = 2) -> list[tuple[int, float, float]]:
    """``(images, peak RSS MB, wall s)`` of a fresh ``run --suite all`` on synth with each number of photos."""
    base = [sys.executable, "-m", "benchmark", "run", "--suite", "all", "--no-progress", "--no-plots",
            "--no-cross", "--repeats", str(repeats), "--methods", *methods]
    rows = []
    for n in sorted(sizes):
        with tempfile.TemporaryDirectory() as out:
            mb, wall = peak_rss_mb(base + ["--datasets", "synth", "--synth-contents", str(n), "--out", out])
        rows.append((n * IMAGES_PER_CONTENT, mb, wall))
        print(f"| synth, {n} photos | {n * IMAGES_PER_CONTENT} | {mb:.0f} | {wall:.1f} |", flush=True)
    return rows


def copies_memory(copies: list[int], methods: list[str], repeats: int = 2) -> list[tuple[int, float, float]]:
    """``(images, peak RSS MB, wall s)`` of a ``run --suite all --no-cache`` on ``synth_copies``."""
    from pathlib import Path

    plugin = str(Path(__file__).resolve().parent / "synth_copies_plugin.py")
    base = [sys.executable, "-m", "benchmark", "run", "--suite", "all", "--no-progress", "--no-plots",
            "--no-cross", "--no-cache", "--repeats", str(repeats), "--methods", *methods, "--plugin", plugin,
            "--datasets", "synth_copies"]
    rows = []
    for n in sorted(copies):
        with tempfile.TemporaryDirectory() as out:
            mb, wall = peak_rss_mb(base + ["--dataset-option", f"synth_copies.copies={n}", "--out", out])
        rows.append((n * COPY_IMAGES, mb, wall))
        print(f"| synth_copies, {n} copies | {n * COPY_IMAGES} | {mb:.0f} | {wall:.1f} |", flush=True)
    return rows


def slope_mb_per_1000(rows: list[tuple[int, float, float]]) -> float:
    """Least-squares slope of peak RSS (MB) against images, per 1000 images."""
    n = np.array([r[0] for r in rows], dtype=float)
    mb = np.array([r[1] for r in rows], dtype=float)
    return float(np.polyfit(n, mb, 1)[0] * 1000) if len(rows) > 1 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["brisque", "psnr"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[3, 6, 10], help="synth source photos")
    ap.add_argument("--copies", nargs="+", type=int, help="synth_copies copies (565 images each) instead of --sizes")
    ap.add_argument("--data-root")
    ap.add_argument("--datasets", nargs="+")
    a = ap.parse_args()
    base = [sys.executable, "-m", "benchmark", "run", "--suite", "all", "--no-progress", "--no-plots",
            "--no-cross", "--repeats", "2", "--methods", *a.methods]
    print("| run | images | peak RSS (MB) | wall (s) |\n|---|---:|---:|---:|")
    if a.datasets:
        with tempfile.TemporaryDirectory() as out:
            cmd = base + ["--datasets", *a.datasets, "--out", out] + (["--data-root", a.data_root] if a.data_root else [])
            mb, wall = peak_rss_mb(cmd)
            print(f"| {' '.join(a.datasets)} | - | {mb:.0f} | {wall:.1f} |")
        return
    rows = copies_memory(a.copies, a.methods) if a.copies else synth_memory(a.sizes, a.methods)
    print(f"\npeak RSS slope: {slope_mb_per_1000(rows):.1f} MB per 1000 images ({rows[0][0]} to {rows[-1][0]} "
          f"images; the 36-D float64 feature matrix alone: 0.29 MB per 1000)")


if __name__ == "__main__":
    main()
