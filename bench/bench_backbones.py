"""ImageNet backbones on a CPU: throughput, memory, accuracy against the number of crops (a benchmark).

Three commands (each prints a Markdown table and writes JSON under ``--out``)::

    # 1. speed: the network's own throughput on random tensors against the pipelines, interleaved
    #    in one process (median of --repeat rounds): forward (crops/s) vs the feature extractor
    #    (CNNFeatures: decode + crop + forward), forward+backward+SGD step (crops/s, batch 48) vs
    #    the fine-tuning loop (FineTunedCNN's in-memory crops through deep.trainer.Trainer)
    python bench/bench_backbones.py speed --archs alexnet mobilenet_v2 --threads 1 \
        --weights mobilenet_v2=../shared/weights/mobilenet_v2-b0353104.pth

    # 2. memory: peak RSS of one forward+backward step at batch 48 per arch (fresh processes)
    python bench/bench_backbones.py memory --archs alexnet mobilenet_v2 resnet50 vgg16

    # 3. crops: SROCC/PLCC of CNN features + SVR against the number of crops averaged per image,
    #    from one extraction of per-crop features (crop corners are prefix-stable, so the first k
    #    of 25 crops are exactly a k-crop run's), with a paired bootstrap of the test set
    python bench/bench_backbones.py crops --arch mobilenet_v2 --data-root ../shared/data \
        --dataset biq2021 --weights mobilenet_v2=../shared/weights/mobilenet_v2-b0353104.pth

Timings on a shared machine are noisy: speeds are reported as ratios against the network's
own figure measured in the same rounds.  ``--threads`` sets ``torch.set_num_threads``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def _weights(values: list[str] | None) -> dict[str, str]:
    out = {}
    for v in values or []:
        arch, path = v.split("=", 1)
        out[arch] = path
    return out


def _spec(arch: str, given: dict[str, str]) -> str:
    return given.get(arch, "random")


def _images(a: argparse.Namespace, n: int) -> list[str]:
    from benchmark.datasets import load_dataset

    rec = load_dataset(a.dataset, data_root=a.data_root)
    return list(rec["image"])[:n]


# ----------------------------------------------------------------------------------- speed
def _net_forward(net, batch: int, size: int = 224) -> float:
    import torch

    x = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        t0 = time.perf_counter()
        net(x)
        return batch / (time.perf_counter() - t0)


def _net_train(model, batch: int, size: int = 224, steps: int = 2) -> float:
    import torch

    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.rand(batch)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.l1_loss(model(x).float(), y)
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def speed(a: argparse.Namespace) -> dict:
    import pandas as pd
    import torch

    from deep.backbones import build_backbone
    from deep.features import CNNFeatures, FeatureNet
    from deep.finetune import FineTunedCNN, RegressionCNN

    torch.set_num_threads(a.threads)
    given = _weights(a.weights)
    paths = _images(a, a.images)
    rows = []
    for arch in a.archs:
        spec = _spec(arch, given)
        tap = {"alexnet": "conv5", "vgg16": "conv5"}.get(arch, "pool")
        fnet = FeatureNet.for_inference(build_backbone(arch, spec), arch, tap)
        tnet = RegressionCNN(build_backbone(arch, spec), arch, "pool" if tap == "conv5" else "classifier")
        _net_forward(fnet, 8)                                          # warm-up
        res = {"fwd": [], "extract": [], "train": [], "loop": [], "loop_disk": []}
        for r in range(a.repeat):
            res["fwd"].append(_net_forward(fnet, 50))
            f = CNNFeatures(arch=arch, weights=spec, tap=tap, n_crops=25, seed=r, cache_dir=None, batch_size=50)
            f._net()                                                   # network built outside the timing
            t0 = time.perf_counter()
            f.fit_transform(paths[: a.extract_images])
            res["extract"].append(25 * a.extract_images / (time.perf_counter() - t0))
            res["train"].append(_net_train(tnet, 48, steps=a.steps))
            # the fine-tuning loop: a.steps batches of 48 crops (one epoch over steps*48 crops), no validation
            n_img = a.steps * 48 // 4
            rec = pd.DataFrame({"image": paths[:n_img], "score": np.linspace(0, 1, n_img), "higher_better": True,
                                "content": [str(i) for i in range(n_img)], "dataset": "bench"})
            ft = FineTunedCNN(arch, spec, head="pool" if tap == "conv5" else None, epochs=1, n_train_crops=4,
                              val_fraction=0.0, batch_size=48, seed=r, device="cpu")
            ft.fit(rec)
            res["loop"].append(ft.train_result_.items_seen / ft.train_result_.seconds)
            ft.hold_bytes = 0                                         # images decoded again for each batch
            ft.fit(rec)
            res["loop_disk"].append(ft.train_result_.items_seen / ft.train_result_.seconds)
        med = {k: statistics.median(v) for k, v in res.items()}
        row = {"arch": arch, "threads": a.threads, **{f"{k}_crops_s": round(v, 2) for k, v in med.items()},
               "extract_ratio": round(med["extract"] / med["fwd"], 3),
               "loop_ratio": round(med["loop"] / med["train"], 3),
               "loop_disk_ratio": round(med["loop_disk"] / med["train"], 3), "rounds": a.repeat}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| arch | threads | forward (crops/s) | extractor (crops/s) | ratio | fwd+bwd (crops/s) | "
          "fine-tuning loop, held (crops/s) | ratio | loop, from files (crops/s) | ratio |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arch']} | {r['threads']} | {r['fwd_crops_s']} | {r['extract_crops_s']} | {r['extract_ratio']} | "
              f"{r['train_crops_s']} | {r['loop_crops_s']} | {r['loop_ratio']} | {r['loop_disk_crops_s']} | "
              f"{r['loop_disk_ratio']} |")
    return {"speed": rows}


# ---------------------------------------------------------------------------------- memory
_MEM = """
import resource, sys, torch, torchvision.models as tvm
torch.set_num_threads(1)
arch, batch, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = getattr(tvm, arch)(weights=None)
x = torch.randn(batch, 3, 224, 224)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if mode == "train":
    m.train(); opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    opt.zero_grad(); m(x).sum().backward(); opt.step()
else:
    m.eval()
    with torch.inference_mode():
        m(x)
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(a: argparse.Namespace) -> dict:
    rows = []
    print("| arch | mode | batch | peak RSS (MB) | of which after import+model (MB) |\n|---|---|---:|---:|---:|")
    for arch in a.archs:
        for mode, batch in (("forward", 50), ("train", 48), ("train", 16)):
            out = subprocess.run([sys.executable, "-c", _MEM, arch, str(batch), mode], check=True,
                                 capture_output=True, text=True).stdout.split()
            base, peak = int(out[0]) / 1024, int(out[1]) / 1024
            rows.append({"arch": arch, "mode": mode, "batch": batch, "peak_mb": round(peak), "base_mb": round(base)})
            print(f"| {arch} | {mode} | {batch} | {peak:.0f} | {base:.0f} |", flush=True)
    return {"memory": rows}


# ----------------------------------------------------------------------------------- crops
def crops(a: argparse.Namespace) -> dict:
    from sklearn.base import BaseEstimator, TransformerMixin

    from benchmark.datasets import load_dataset
    from benchmark.evaluation import evaluate
    from benchmark.methods.regression import FeatureSVR
    from benchmark.protocol import plan_splits
    from deep.backbones import build_backbone
    from deep.features import FeatureNet, crop_outputs
    from features.cache import file_digest

    import torch

    torch.set_num_threads(a.threads)
    rec = load_dataset(a.dataset, data_root=a.data_root)
    paths = list(rec["image"])
    tap = a.tap or {"alexnet": "conv5", "vgg16": "conv5"}.get(a.arch, "pool")
    spec = _spec(a.arch, _weights(a.weights))
    store = Path(a.out) / f"percrop-{a.dataset}-{a.arch}-{tap}-{a.n_crops}.npy"
    if store.is_file():
        F = np.load(store)
        extract_s = None
    else:
        net = FeatureNet.for_inference(build_backbone(a.arch, spec), a.arch, tap)
        F = None
        t0 = time.perf_counter()
        for i, vec, err in crop_outputs(net, paths, [file_digest(p) for p in paths], n_crops=a.n_crops, size=224,
                                        seed=0, batch_size=50, pool=None, progress=True):
            if err is not None:
                raise RuntimeError(f"{paths[i]}: {err}")
            if F is None:
                F = np.zeros((len(paths), a.n_crops, vec.shape[1]), np.float32)
            F[i] = vec
        extract_s = time.perf_counter() - t0
        store.parent.mkdir(parents=True, exist_ok=True)
        np.save(store, F)

    class Lookup(TransformerMixin, BaseEstimator):
        def __init__(self, table=None):
            self.table = table

        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return np.stack([self.table[p] for p in X["image"]])

    split = plan_splits(rec, "auto", n_repeats=1, test_size=0.2, seed=0)[0]
    tr, te = split.frames(rec)
    index = {p: i for i, p in enumerate(paths)}
    rng = np.random.default_rng(0)
    boot = [rng.integers(0, len(te), len(te)) for _ in range(a.bootstrap)]
    rows, preds = [], {}
    for k in a.ks:
        M = F[:, :k].astype(np.float64).mean(axis=1)
        table = {p: M[index[p]] for p in paths}
        t0 = time.perf_counter()
        m = FeatureSVR(features=Lookup(table), n_jobs=1).fit(tr)
        pred = m.predict(te)
        e = evaluate(te["score"], pred, true_higher_better=bool(te["higher_better"].iloc[0]), pred_higher_better=True)
        preds[k] = pred
        rows.append({"k": k, "srocc": round(e["srocc"], 4), "plcc": round(e["plcc"], 4),
                     "svr_s": round(time.perf_counter() - t0, 1)})
        print(json.dumps(rows[-1]), flush=True)
    from scipy.stats import spearmanr

    y = te["score"].to_numpy(float) * (1.0 if bool(te["higher_better"].iloc[0]) else -1.0)   # higher is better
    kmax = max(a.ks)
    for r in rows:
        d = [spearmanr(preds[r["k"]][b], y[b]).statistic - spearmanr(preds[kmax][b], y[b]).statistic for b in boot]
        r["d_srocc_vs_max"] = round(float(np.median(d)), 4)
        r["d_srocc_ci95"] = [round(float(np.percentile(d, 2.5)), 4), round(float(np.percentile(d, 97.5)), 4)]
    lines = [f"{a.arch}-{tap} + SVR on {a.dataset} ({split.name} split, {len(tr)}/{len(te)} images), the mean "
             f"feature of the first k of {a.n_crops} random 224x224 crops per image; paired bootstrap of the "
             f"test set ({a.bootstrap} resamples). Per-crop extraction: "
             f"{'cached' if extract_s is None else f'{extract_s:.0f} s'}, {a.threads} torch thread(s).", "",
             f"| crops | SROCC | PLCC | SROCC - SROCC({kmax}) (median, 95% CI) |", "|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['k']} | {r['srocc']:.3f} | {r['plcc']:.3f} | {r['d_srocc_vs_max']:+.3f} "
                     f"[{r['d_srocc_ci95'][0]:+.3f}, {r['d_srocc_ci95'][1]:+.3f}] |")
    print("\n" + "\n".join(lines))
    (Path(a.out) / f"crops-{a.dataset}-{a.arch}-{tap}.md").write_text("\n".join(lines) + "\n")
    return {"crops": rows, "arch": a.arch, "tap": tap, "dataset": a.dataset, "extract_s": extract_s,
            "n_images": len(paths)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("speed", "memory", "crops"):
        p = sub.add_parser(name)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--weights", action="append", metavar="ARCH=PATH")
        p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "bench_backbones"))
        p.add_argument("--data-root")
        p.add_argument("--dataset", default="synth")
        if name in ("speed", "memory"):
            p.add_argument("--archs", nargs="+", default=["alexnet", "mobilenet_v2", "resnet50", "vgg16"])
        if name == "speed":
            p.add_argument("--repeat", type=int, default=3)
            p.add_argument("--images", type=int, default=64)
            p.add_argument("--extract-images", type=int, default=8)
            p.add_argument("--steps", type=int, default=2, help="batches of 48 crops per training measurement")
        if name == "crops":
            p.add_argument("--arch", default="mobilenet_v2")
            p.add_argument("--tap")
            p.add_argument("--n-crops", type=int, default=25)
            p.add_argument("--ks", nargs="+", type=int, default=[1, 2, 5, 10, 15, 25])
            p.add_argument("--bootstrap", type=int, default=1000)
    a = ap.parse_args()
    os.environ.setdefault("IQABENCH_OFFLINE", "1")
    result = {"speed": speed, "memory": memory, "crops": crops}[a.cmd](a)
    result["conditions"] = {"threads": a.threads, "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
                            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.cmd}-{int(time.time())}.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
