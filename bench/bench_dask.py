"""Scale-out of feature extraction on a Dask cluster: 1 vs 2 workers (a benchmark, not a test).

Every registered extractor (``features.extraction.list_extractors()``) and the CNN features of
the transfer rows (:class:`deep.features.CNNFeatures`, MobileNetV2 global pool at the ``cpu``
preset, ``../shared/weights`` when present, else random weights: the same work) run over the
same generated images on a ``distributed.LocalCluster`` with 1 and then 2 worker processes of
one thread each (BLAS/OpenMP one thread per worker, as Dask's nanny sets it), no feature cache,
after a warm-up call (imports, each worker's network); CNN tasks of 4 images.
Reported: wall seconds of each extraction and the ratio (2 workers / 1 worker; 0.5 is perfect
scaling on two cores).  The values must equal the serial ones (checked for every extractor).

    python bench/bench_dask.py [--images 24] [--size 384 512] [--extractors brisque cues] [--no-cnn]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"


def generated_images(root: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[str]:
    """``n`` PNGs of ``size`` (h, w): smooth random scenes with edges and noise (not constant, not flat)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    h, w = size
    paths = []
    for i in range(n):
        base = gaussian_filter(rng.normal(size=(h, w, 3)), sigma=(6, 6, 0)) * 600 + 128
        yy, xx = np.mgrid[:h, :w]
        base += 40 * ((xx // (16 + i % 7) + yy // 23) % 2)[..., None]
        img = np.clip(base + rng.normal(0, 3 + i % 5, size=base.shape), 0, 255).astype(np.uint8)
        p = root / f"gen{i:05d}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    return paths


def cnn_transformer():
    """MobileNetV2 features of the benchmark's ``cpu`` preset (what ``mobilenet_v2_svr`` uses on a CPU)."""
    from benchmark.methods.deep_transfer import FEATURE_PRESETS
    from deep.features import CNNFeatures

    weights = SHARED / "weights" / "mobilenet_v2-b0353104.pth"
    return CNNFeatures(arch="mobilenet_v2", weights=str(weights) if weights.exists() else "random", seed=0,
                       device="cpu", cache_dir=None, progress=False, **FEATURE_PRESETS["cpu"])


def _run(name: str, paths: list[str], client, chunk: int = 4) -> tuple[np.ndarray, float]:
    import deep.features as df
    from features.extraction import extract_features

    t0 = time.perf_counter()
    if name == "cnn":
        df.CLUSTER_CHUNK = chunk          # several tasks even for a few images (the suite's default: 32)
        est = cnn_transformer().set_params(scheduler=client)
        X = est.fit(paths).transform(paths)
    else:
        X = extract_features(paths, name, cache=None, scheduler=client).X
    return X, time.perf_counter() - t0


def scaling(paths: list[str], names: list[str], workers: tuple[int, ...] = (1, 2)) -> dict[str, dict[int, float]]:
    """Wall seconds per extractor name (``"cnn"``: the CNN features) and number of workers."""
    from distributed import Client, LocalCluster

    seconds: dict[str, dict[int, float]] = {n: {} for n in names}
    ref: dict[str, np.ndarray] = {}
    for k in workers:
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(lambda: __import__("deep.features"))   # import torch once per worker, outside the timing
            for name in names:
                _run(name, paths[:k], client, chunk=1)         # warm-up: imports and the workers' networks
                X, sec = _run(name, paths, client)
                seconds[name][k] = sec
                if name in ref and not np.allclose(X, ref[name], rtol=1e-6, atol=1e-9, equal_nan=True):
                    raise AssertionError(f"{name}: {k} workers gave other values than {workers[0]}")
                ref.setdefault(name, X)
                print(f"  {name}: {k} worker(s) {sec:.2f} s", flush=True)
    return seconds


def default_names(cnn: bool = True) -> list[str]:
    from features.extraction import list_extractors

    return list_extractors() + (["cnn"] if cnn else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--size", type=int, nargs=2, default=[384, 512], metavar=("H", "W"))
    ap.add_argument("--extractors", nargs="+", help="default: every registered extractor")
    ap.add_argument("--no-cnn", action="store_true")
    a = ap.parse_args(argv)
    names = a.extractors or default_names(not a.no_cnn)
    print(f"Dask LocalCluster, 1 vs 2 worker processes x 1 thread; {a.images} generated {a.size[0]}x{a.size[1]} "
          f"images, no cache; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        paths = generated_images(Path(tmp), a.images, tuple(a.size))
        sec = scaling(paths, names)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}\n")
    print("| extractor | 1 worker (s) | 2 workers (s) | ratio 2/1 |\n|---|---:|---:|---:|")
    for name, s in sec.items():
        print(f"| {name} | {s[1]:.2f} | {s[2]:.2f} | {s[2] / s[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
