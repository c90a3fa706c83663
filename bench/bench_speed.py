"""Speed of every hot path against its target, in one run (issue 18; a benchmark, not a test).

Prints one Markdown table: for BRISQUE features, SSIM, GMSD and PSNR our time and OpenCV
contrib's C++ time (``cv2.quality``: ``QualityBRISQUE_computeFeatures``,
``QualitySSIM_compute``, ``QualityGMSD_compute``, ``QualityPSNR_compute``) on the *same*
grey ``uint8`` input, the ratio ours / OpenCV and its target (<= 1.0); then the seconds per
image of DIIVINE, BLIINDS-II and cues (RGB input; targets 0.25 s, 0.03 s, 0.06 s) and of the
CORNIA encoding (``CorniaFeatures.transform_image``) at ``K = 1000`` and ``K = 10000``.

Conditions: one core -- BLAS/OpenMP limited to one thread (environment variables set before
numpy is imported, and :mod:`threadpoolctl`), ``cv2.setNumThreads(1)``.  Images: the five
TID2013 calibration pairs of ``../shared`` (512x384) when present, else scikit-image photos
resized to 512x384 (with a noisy copy as the distorted image).  Every timed call is preceded
by one warm-up call; ours and the reference are **interleaved** (ours, reference, ours, ...
on each image in turn, ``--repeat`` rounds) so that load on a shared machine hits both alike;
reported times are medians over all calls (one call = one image or one pair).  The ratio is
the ratio of the two medians of the same run.

The CORNIA codebook is a random sample of whitened patches (``codebook="random"``): the
encoding cost depends on ``K`` and the patch count, not on how the words were learned.

    nice python bench/bench_speed.py [--repeat 7] [--only brisque,ssim,...] [--skip-cornia]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: name -> target (ratio for the OpenCV rows, seconds per image for the others)
RATIO_TARGETS = {"brisque": 1.0, "ssim": 1.0, "gmsd": 1.0, "psnr": 1.0}
SECONDS_TARGETS = {"diivine": 0.25, "bliinds2": 0.03, "cues": 0.06}
CORNIA_K = (1000, 10000)


def load_pairs() -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from features.imageio import load_image

    root = Path(os.environ.get("IQABENCH_SHARED", REPO.parent / "shared")) / "data" / "calibration"
    if (root / "ref_dir").is_dir():
        names = sorted(p.name for p in (root / "ref_dir").iterdir())
        return ([(load_image(root / "ref_dir" / n), load_image(root / "dist_dir" / n)) for n in names],
                f"{len(names)} TID2013 calibration pairs (512x384)")
    from skimage import data, transform

    rng = np.random.default_rng(0)
    pairs = []
    for photo in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket()):
        ref = (transform.resize(photo, (384, 512), anti_aliasing=True) * 255).round().astype(np.uint8)
        pairs.append((ref, np.clip(ref + rng.normal(0, 10, ref.shape), 0, 255).astype(np.uint8)))
    return pairs, "4 scikit-image photos resized to 512x384 (+ Gaussian noise as the distorted image)"


def grey_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of uint8 RGB (rounded half away from zero), as uint8."""
    from features.imageio import rgb_to_gray

    return np.floor(rgb_to_gray(rgb) + 0.5).astype(np.uint8)


CLOCK = time.perf_counter


def interleaved(funcs: list[Callable[[object], object]], inputs: list[object], repeat: int) -> list[float]:
    """Median seconds per call of each function, calls interleaved (after one warm-up each)."""
    for f in funcs:
        f(inputs[0])
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeat):
        for x in inputs:
            for f, acc in zip(funcs, times):
                t0 = CLOCK()
                f(x)
                acc.append(CLOCK() - t0)
    return [statistics.median(t) for t in times]


def cornia_encoders(images: list[np.ndarray], ks: tuple[int, ...]) -> dict[int, Callable]:
    from PIL import Image

    from features.cornia import CorniaFeatures

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(images):
            p = Path(tmp) / f"{i}.png"
            Image.fromarray(img).save(p)
            paths.append(str(p))
        for k in ks:
            model = CorniaFeatures(codebook_size=k, codebook="random", n_codebook_patches=max(20_000, 2 * k),
                                   cache_dir=None).fit(paths)
            out[k] = model.transform_image
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7, help="interleaved rounds over the images (default 7)")
    ap.add_argument("--only", default="", help="comma-separated subset of rows (brisque,ssim,gmsd,psnr,"
                                              "diivine,bliinds2,cues,cornia)")
    ap.add_argument("--skip-cornia", action="store_true", help="skip the CORNIA rows")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall (perf_counter, default) or cpu (process_time: this process's CPU seconds, "
                         "steadier on a loaded machine; everything timed runs on one thread)")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    def wanted(name: str) -> bool:
        return not only or name in only

    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)

    from features import bliinds2, brisque, cues, diivine
    from features.fullref import gmsd, psnr, ssim

    pairs, what = load_pairs()
    rgb = [r for r, _ in pairs]
    grey_pairs = [(grey_uint8(r), grey_uint8(d)) for r, d in pairs]
    grey = [g for g, _ in grey_pairs]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Images: {what}. One core (BLAS/OpenMP 1 thread, cv2.setNumThreads(1)); {args.repeat} interleaved "
          f"rounds, median per call; {args.clock} clock; load average {load:.1f} on {os.cpu_count()} CPUs. "
          f"numpy {np.__version__}, OpenCV {cv2.__version__}.\n")

    rows: list[tuple[str, str, float, str, float | None, str, bool]] = []

    def ratio_row(name: str, label: str, ours: Callable, ref: Callable, inputs: list, ref_label: str) -> None:
        t_ours, t_ref = interleaved([ours, ref], inputs, args.repeat)
        ratio = t_ours / t_ref
        target = RATIO_TARGETS[name]
        rows.append((label, f"{t_ours * 1e3:.2f} ms", ratio, ref_label, t_ref, f"<= {target:.2f}x", ratio <= target))

    if wanted("brisque"):
        ratio_row("brisque", "BRISQUE features (grey uint8)", brisque.extract,
                  cv2.quality.QualityBRISQUE_computeFeatures, grey, "QualityBRISQUE_computeFeatures")
    if wanted("ssim"):
        ratio_row("ssim", "SSIM (grey uint8 pair)", lambda p: ssim(*p),
                  lambda p: cv2.quality.QualitySSIM_compute(*p), grey_pairs, "QualitySSIM_compute")
    if wanted("gmsd"):
        ratio_row("gmsd", "GMSD (grey uint8 pair)", lambda p: gmsd(*p),
                  lambda p: cv2.quality.QualityGMSD_compute(*p), grey_pairs, "QualityGMSD_compute")
    if wanted("psnr"):
        ratio_row("psnr", "PSNR (grey uint8 pair)", lambda p: psnr(*p),
                  lambda p: cv2.quality.QualityPSNR_compute(*p), grey_pairs, "QualityPSNR_compute")
        ratio_row("psnr", "PSNR (RGB uint8 pair)", lambda p: psnr(*p),
                  lambda p: cv2.quality.QualityPSNR_compute(*p), pairs, "QualityPSNR_compute")

    for name, mod in (("diivine", diivine), ("bliinds2", bliinds2), ("cues", cues)):
        if wanted(name):
            (sec,) = interleaved([mod.extract], rgb, args.repeat)
            target = SECONDS_TARGETS[name]
            rows.append((f"{name} (RGB, per image)", f"{sec:.4f} s", float("nan"), "-", None,
                         f"<= {target:.2f} s", sec <= target))
    if wanted("cornia") and not args.skip_cornia:
        for k, enc in cornia_encoders(rgb, CORNIA_K).items():
            (sec,) = interleaved([enc], rgb, args.repeat)
            rows.append((f"cornia encoding K={k} (RGB, per image)", f"{sec:.4f} s", float("nan"), "-", None,
                         "(report)", True))

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Load average at the end: {load_end:.1f}.\n")
    print("| path | ours | reference (OpenCV C++) | reference time | ratio ours/ref | target | pass |")
    print("|---|---:|---|---:|---:|---|---|")
    for label, ours, ratio, ref_label, t_ref, target, ok in rows:
        ref_t = "-" if t_ref is None else f"{t_ref * 1e3:.2f} ms"
        r = "-" if np.isnan(ratio) else f"{ratio:.2f}"
        verdict = "-" if target == "(report)" else ("pass" if ok else "FAIL")
        print(f"| {label} | {ours} | {ref_label} | {ref_t} | {r} | {target} | {verdict} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
