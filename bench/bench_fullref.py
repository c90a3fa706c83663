"""Speed of the full-reference metrics against scikit-image and OpenCV contrib (a benchmark, not a test).

Times each :mod:`features.fullref` metric on 512x384 pairs (the TID2013 calibration
pairs in ``../shared/data/calibration`` when present, else a synthetic pair) and, in
the same run, the references:

* scikit-image ``structural_similarity`` configured as in Wang et al. 2004
  (``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255``);
* OpenCV contrib ``cv2.quality.QualitySSIM_compute``, ``QualityGMSD_compute``,
  ``QualityPSNR_compute``.

Reference and ours get the same input (grey uint8 for SSIM/GMSD, RGB uint8 for PSNR);
a second "ours" row times the RGB input (which adds MATLAB ``rgb2gray``).  Reported:
median wall time of ``--repeats`` calls (after one warm-up call; ours and the reference
interleaved, so that load on a shared machine hits both alike) and the ratio ours /
reference, as a Markdown table on stdout.  OpenCV runs single-threaded unless
``--threads`` says otherwise (our SSIM/VIF filters use OpenCV too).

    python bench/bench_fullref.py [--repeats 30] [--threads 1]

The issue-18 targets (SSIM, GMSD, PSNR at most OpenCV's time) are checked together with the
other hot paths by ``bench/bench_speed.py``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from features import fullref  # noqa: E402
from features.imageio import load_image  # noqa: E402
from features.matlab import rgb2gray  # noqa: E402


def load_pairs() -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    root = Path(os.environ.get("IQABENCH_SHARED", REPO.parent / "shared")) / "data" / "calibration"
    if (root / "ref_dir").is_dir():
        names = sorted(p.name for p in (root / "ref_dir").iterdir())
        return [(load_image(root / "ref_dir" / n), load_image(root / "dist_dir" / n)) for n in names], \
            f"{len(names)} TID2013 calibration pairs (512x384)"
    from skimage import data, transform

    ref = (transform.resize(data.astronaut(), (384, 512), anti_aliasing=True) * 255).round().astype(np.uint8)
    rng = np.random.default_rng(0)
    dist = np.clip(ref + rng.normal(0, 10, ref.shape), 0, 255).astype(np.uint8)
    return [(ref, dist)], "1 synthetic pair (astronaut 512x384 + noise)"


def median_ms(*funcs: Callable[[], object], pairs_count: int, repeats: int) -> list[float]:
    """Median ms per pair of each function; calls are interleaved so that load on a shared
    machine hits ours and the reference alike."""
    for f in funcs:
        f()  # warm-up (imports, caches)
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeats):
        for f, acc in zip(funcs, times):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    return [1000.0 * float(np.median(t)) / pairs_count for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per entry (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads (default 1: one core)")
    a = ap.parse_args()

    import cv2
    from skimage.metrics import structural_similarity

    cv2.setNumThreads(a.threads)
    pairs, what = load_pairs()
    grey = [(rgb2gray(r), rgb2gray(d)) for r, d in pairs]
    n = len(pairs)

    def over(func, data):
        return lambda: [func(r, d) for r, d in data]

    sk_ssim = over(lambda r, d: structural_similarity(r, d, gaussian_weights=True, sigma=1.5,
                                                      use_sample_covariance=False, data_range=255), grey)
    references = {
        "ssim": [("scikit-image structural_similarity", sk_ssim),
                 ("cv2.quality.QualitySSIM_compute", over(cv2.quality.QualitySSIM_compute, grey))],
        "gmsd": [("cv2.quality.QualityGMSD_compute", over(cv2.quality.QualityGMSD_compute, grey))],
        "psnr": [("cv2.quality.QualityPSNR_compute", over(cv2.quality.QualityPSNR_compute, pairs))],
    }
    ours = {"psnr": fullref.psnr, "ssim": fullref.ssim, "ms_ssim": fullref.ms_ssim, "fsimc": fullref.fsim,
            "gmsd": fullref.gmsd, "vif": fullref.vif}

    print(f"Full-reference metrics, {what}; median of {a.repeats} runs per pair; cv2 threads = {a.threads}\n")
    print("| metric | ours, grey in (ms) | ours, RGB in (ms) | reference | reference (ms) | ratio ours/ref |")
    print("|---|---:|---:|---|---:|---:|")
    for name, func in ours.items():
        on_rgb = over(func, pairs)
        on_grey = on_rgb if name in ("psnr", "fsimc") else over(func, grey)
        same = on_rgb if name == "psnr" else on_grey   # ours on the input the reference gets
        refs = references.get(name) or [("-", None)]
        for label, rfunc in refs:
            if rfunc is None:
                t_rgb, t_grey = median_ms(on_rgb, on_grey, pairs_count=n, repeats=a.repeats)
                print(f"| {name} | {t_grey:.2f} | {t_rgb:.2f} | - | - | - |")
                continue
            t_rgb, t_grey, t_same, t_ref = median_ms(on_rgb, on_grey, same, rfunc, pairs_count=n,
                                                     repeats=a.repeats)
            print(f"| {name} | {t_grey:.2f} | {t_rgb:.2f} | {label} | {t_ref:.2f} | {t_same / t_ref:.2f} |")
    print("\nPSNR and FSIMc take RGB (FSIMc uses YIQ colour), so their 'grey' column repeats the RGB timing.")


if __name__ == "__main__":
    main()
