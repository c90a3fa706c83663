"""Feature-extraction speed on 512x384 images (a benchmark, not a test).

For every registered hand-crafted extractor (brisque, bliinds2, diivine, cues) and the
CORNIA encoding (``CorniaFeatures.transform_image`` after a fit, codebook sizes of the
quick and full presets), the median time of one in-memory image (decoding excluded,
single process) and the images per second.  In the same run BRISQUE is compared with
OpenCV contrib's C++ ``cv2.quality.QualityBRISQUE_computeFeatures`` on the same grey
images.  The issue-18 targets (BRISQUE at most 1.0x OpenCV, DIIVINE/BLIINDS-II/cues seconds
per image, CORNIA encoding) are printed in one table by ``bench/bench_speed.py``.

Images: the five TID2013 calibration references of ``../shared`` (512x384) when present,
otherwise scikit-image photos resized to 512x384.  BLAS is limited to one thread so the
numbers are per core::

    nice python bench/bench_features.py [--repeat 5] [--skip-cornia-full]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def test_images() -> tuple[list[np.ndarray], str]:
    from features.imageio import load_image

    cal = REPO.parent / "shared" / "data" / "calibration" / "ref_dir"
    files = sorted(cal.glob("*.bmp")) if cal.is_dir() else []
    if files:
        return [load_image(p) for p in files], f"{len(files)} TID2013 calibration references ({cal})"
    from skimage import data, transform

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    imgs = [(transform.resize(p, (384, 512), anti_aliasing=True) * 255).round().astype(np.uint8) for p in photos]
    return imgs, "scikit-image photos resized to 512x384"


def per_image_seconds(func, images: list[np.ndarray], repeat: int) -> float:
    func(images[0])                                   # warm-up (caches, lazy tables)
    times = []
    for _ in range(repeat):
        for img in images:
            t0 = time.perf_counter()
            func(img)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-cornia-full", action="store_true", help="skip the K = 10000 CORNIA encoding")
    args = ap.parse_args(argv)

    import cv2

    from features.extraction import get_extractor, list_extractors
    from features.matlab import rgb2gray

    images, what = test_images()
    print(f"images: {what}; shape {images[0].shape}; repeat {args.repeat}; median per image, one core\n")
    rows: list[tuple[str, float]] = []
    for name in ("brisque", "bliinds2", "diivine", "cues"):
        if name not in list_extractors():
            print(f"{name:28s} (not registered)")
            continue
        rows.append((name, per_image_seconds(get_extractor(name), images, args.repeat)))

    import tempfile

    from PIL import Image

    from features.cornia import CorniaFeatures
    from benchmark.methods.classical import CORNIA_CODEBOOK, CORNIA_CODEBOOK_PATCHES

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, img in enumerate(images):
            p = Path(tmp) / f"{i}.png"
            Image.fromarray(img).save(p)
            paths.append(str(p))
        for preset in ("quick", "full"):
            if preset == "full" and args.skip_cornia_full:
                continue
            k = CORNIA_CODEBOOK[preset]
            t0 = time.perf_counter()
            model = CorniaFeatures(codebook_size=k, n_codebook_patches=CORNIA_CODEBOOK_PATCHES[preset],
                                   cache_dir=None).fit(paths)
            fit_s = time.perf_counter() - t0
            print(f"cornia K={k:<5d} fit on {len(paths)} images "
                  f"({CORNIA_CODEBOOK_PATCHES[preset]} patches): {fit_s:.1f} s")
            rows.append((f"cornia transform (K={k})", per_image_seconds(model.transform_image, images, args.repeat)))

    # interleaved, so that load on a shared machine hits both alike
    grays = [rgb2gray(img) for img in images]
    brisque = get_extractor("brisque")
    t_ours, t_ocv = [], []
    for _ in range(args.repeat + 1):
        for g in grays:
            for func, acc in ((brisque, t_ours), (cv2.quality.QualityBRISQUE_computeFeatures, t_ocv)):
                t0 = time.perf_counter()
                func(g)
                acc.append(time.perf_counter() - t0)
    ours = statistics.median(t_ours[len(grays):])          # first round is the warm-up
    ocv = statistics.median(t_ocv[len(grays):])

    print(f"\n{'extractor':28s} {'s/image':>9s} {'images/s':>9s}")
    for name, sec in rows:
        print(f"{name:28s} {sec:9.4f} {1 / sec:9.1f}")
    print(f"\nBRISQUE on grey input: ours {ours * 1e3:.1f} ms, OpenCV C++ {ocv * 1e3:.1f} ms, "
          f"ratio ours/OpenCV = {ours / ocv:.2f} (target <= 1.0; see bench/bench_speed.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
