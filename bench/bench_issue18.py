"""Every speed target of issue 18 in one run, as Markdown tables (a benchmark, not a test).

Sections, each from the project's own bench scripts:

1. ``bench_speed``: BRISQUE features, SSIM, GMSD and PSNR against OpenCV contrib's C++ on the
   same grey input (ratio ours / OpenCV); DIIVINE, BLIINDS-II, cues and the CORNIA encoding in
   seconds per 512x384 image (one core, interleaved, medians, ``--clock cpu``);
2. the suite: ``python -m benchmark run --suite all`` on ``synth`` with a fresh feature cache,
   then again on the same cache and output folder (the cached re-run: features and the saved
   predictions of ``OUT/predictions`` are reused); wall seconds of both, their ratio, and the
   costliest methods from ``run.json``'s ``method_seconds``;
3. ``bench_memory``: peak RSS of fresh suite runs on ``synth_copies`` (up to 10170 images), slope in MB per
   1000 images;
4. ``bench_dask``: every extractor, CNN features included, on a ``LocalCluster`` with 1 and 2
   workers (ratio of wall times).

A summary table closes the run.  ``--fast`` is a smoke run of the same code on tiny inputs
(quick preset, two methods, about 100 images: a few minutes, mostly process start-up); its numbers
are not the targets..
Transfer rows: pass ``--weights ARCH=PATH`` (repeatable) and set ``TORCH_HOME`` as for the CLI.

    python bench/bench_issue18.py [--fast] [--skip speed,suite,memory,dask] [--weights alexnet=...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the caller's environment: the suite runs in it (a user's run does not limit its threads)
USER_ENV = dict(os.environ)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

SUITE_TARGET_S = 600.0          # issue 18: at most 10 minutes
CACHED_TARGET = 0.05            # the cached re-run: at most 5 % of the fresh one


def suite_times(fast: bool, weights: list[str], offline: bool = True) -> dict:
    """Fresh and cached ``run --suite all`` on synth in a temporary cache: wall seconds and method seconds."""
    args = ["--suite", "all", "--datasets", "synth", "--no-progress", "--no-plots"]
    if fast:
        args += ["--quick", "--methods", "brisque", "psnr", "--synth-contents", "3", "--repeats", "2", "--no-cross"]
    for w in weights:
        args += ["--weights", w]
    if offline:
        args.append("--offline")
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(USER_ENV, IQABENCH_CACHE=str(Path(tmp) / "cache"), PYTHONPATH=str(REPO))
        dest = Path(tmp) / "out"           # the same output folder: its saved predictions are the cache
        for run in ("fresh", "cached"):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "benchmark", "run", *args, "--out", str(dest)], env=env,
                           cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wall = time.perf_counter() - t0
            meta = json.loads((dest / "run.json").read_text())
            out[run] = {"wall_s": wall, "method_seconds": meta.get("method_seconds", {})}
            print(f"  suite {run}: {wall:.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="smoke run on tiny inputs (not the targets' numbers)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: speed,suite,memory,dask")
    ap.add_argument("--repeat", type=int, default=7, help="interleaved rounds of bench_speed (default 7)")
    ap.add_argument("--weights", action="append", default=[], metavar="ARCH=PATH")
    ap.add_argument("--memory-copies", type=int, nargs="+", default=[2, 9, 18],
                    help="synth_copies copies per memory run (565 images each; 18: 10170 images)")
    ap.add_argument("--dask-images", type=int, default=120)
    a = ap.parse_args(argv)
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    load0 = os.getloadavg()[0]
    print(f"# Issue 18 targets{' (--fast smoke run: not the targets numbers)' if a.fast else ''}\n\n"
          f"{os.cpu_count()} CPUs, load average {load0:.1f} at start\n", flush=True)
    summary: list[tuple[str, str, str, str]] = []

    if "speed" not in skip:
        import bench_speed

        print("## Hot paths (bench_speed)\n", flush=True)
        speed_args = ["--clock", "cpu", "--repeat", str(1 if a.fast else a.repeat)]
        if a.fast:
            speed_args += ["--only", "brisque,ssim,gmsd,psnr,bliinds2"]
        bench_speed.main(speed_args)
        summary.append(("hot paths vs OpenCV, DIIVINE/BLIINDS-II/cues/CORNIA", "table above", "see table", "-"))
        print()

    if "suite" not in skip:
        print("## Suite on synth (fresh cache, then cached)\n", flush=True)
        st = suite_times(a.fast, a.weights)
        fresh, cached = st["fresh"]["wall_s"], st["cached"]["wall_s"]
        top = list(st["fresh"]["method_seconds"].items())[:8]
        print("| method | seconds (fresh run) |\n|---|---:|")
        for name, sec in top:
            print(f"| {name} | {sec:.1f} |")
        print()
        summary.append(("`run --suite all` on synth, fresh cache", f"{fresh:.0f} s", f"<= {SUITE_TARGET_S:.0f} s",
                        "pass" if fresh <= SUITE_TARGET_S else "FAIL"))
        summary.append(("cached re-run / fresh", f"{cached:.1f} / {fresh:.1f} s = {cached / fresh:.3f}",
                        f"<= {CACHED_TARGET:.2f}", "pass" if cached / fresh <= CACHED_TARGET else "FAIL"))

    if "memory" not in skip:
        import bench_memory

        print("## Peak memory against dataset size (bench_memory)\n", flush=True)
        print("| run | images | peak RSS (MB) | wall (s) |\n|---|---:|---:|---:|")
        if a.fast:
            rows = bench_memory.synth_memory([3, 4], ["brisque"])
        else:
            rows = bench_memory.copies_memory(a.memory_copies, ["brisque", "psnr"])
        slope = bench_memory.slope_mb_per_1000(rows)
        print()
        summary.append((f"peak RSS slope, {rows[0][0]} to {rows[-1][0]} images", f"{slope:.1f} MB / 1000 images",
                        "feature matrix only", "-"))

    if "dask" not in skip:
        import bench_dask

        print("## Dask LocalCluster, 1 vs 2 workers (bench_dask)\n", flush=True)
        names = ["brisque"] if a.fast else bench_dask.default_names(cnn=True)
        n, size = (4, (96, 128)) if a.fast else (a.dask_images, (384, 512))
        with tempfile.TemporaryDirectory() as tmp:
            paths = bench_dask.generated_images(Path(tmp), n, size)
            sec = bench_dask.scaling(paths, names)
        print("\n| extractor | 1 worker (s) | 2 workers (s) | ratio 2/1 |\n|---|---:|---:|---:|")
        for name, s in sec.items():
            print(f"| {name} | {s[1]:.2f} | {s[2]:.2f} | {s[2] / s[1]:.2f} |")
            summary.append((f"Dask 2 / 1 workers: {name}", f"{s[2] / s[1]:.2f}", "about 0.5 on 2 cores", "-"))
        print()

    print(f"## Summary (load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end)\n")
    print("| target | measured | goal | pass |\n|---|---|---|---|")
    for row in summary:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
