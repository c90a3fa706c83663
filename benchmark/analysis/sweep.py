"""``python -m benchmark sweep``: vary one parameter of one method, tabulate SROCC/PLCC, plot.

Parameters with a dedicated route (the papers' design choices):

``n_crops`` (ImageNet CNN features + SVR, ``*_svr``)
    Bianco et al. (paper 003) Fig. 3: the number of random 224x224 crops per image.  The
    features of ``max(values)`` crops per image are extracted once (:class:`.crops.CropFeatures`,
    the crops ``CNNFeatures`` averages); a value ``k`` uses the first ``k`` of them, for training
    and test images alike.  ``pooling`` (one line each) picks Bianco's aggregation: feature
    ``mean`` / ``min`` / ``max`` pooling, ``concat`` (feature concatenation) or ``prediction``
    (one SVR score per crop, averaged; the SVR is trained on crop rows, at most
    ``train_crops`` crops per training image, labelled with the image's score).
``pooling`` (same methods)
    The aggregation strategies at a fixed number of crops (``crops``).
``n_patches`` (deepIQA / WaDIQaM, ``deepiqa_*``)
    Bosse et al. (paper 002) Fig. 3: the number ``N_p`` of random 32x32 patches whose scores are
    pooled at test time, for one trained model per split (as in the paper: the model is not
    retrained per ``N_p``).  Cheapest faithful route: the network scores a pool of
    ``max(values)`` random patches of every test image once; ``N_p`` patches are drawn from that
    pool without replacement ``draws`` times (different draws per image) and pooled with the
    method's own rule (mean, Eq. 1; weighted average, Eq. 4-5); SROCC/PLCC are averaged over the
    draws.  ``"all"`` is every non-overlapping patch (the paper's "complete set").
``kernel`` (any features + SVR method)
    The SVR kernel (``rbf``, ``linear``, ``poly``, ``sigmoid``), hyper-parameters re-searched.

Any other name is set on the method's estimator with ``set_params`` (e.g. ``scaler``, or
``features__n_crops``) and the method is refitted per value.

Training and test sets are the dataset's protocol splits (official split, or ``repeats``
content-disjoint random splits); ``max_train`` keeps a random subset of each training split
(stated in the table caption) when the full one is too costly.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluation import evaluate

__all__ = ["SPECIAL", "SweepConfig", "parse_values", "run_sweep"]

SPECIAL = ("n_crops", "pooling", "n_patches", "kernel")


@dataclass
class SweepConfig:
    method: str
    param: str
    values: Sequence[Any]
    dataset: str = "synth"
    data_root: str | None = None
    out: str = "results/sweep"
    pooling: Sequence[str] = ("mean",)        # n_crops: one line per pooling
    crops: int | None = None                  # pooling sweep: number of crops (default: largest of 25 / preset)
    train_crops: int = 4                      # prediction pooling: crops per training image
    draws: int = 5                            # n_patches: random draws per N_p
    repeats: int = 3                          # random splits (datasets without an official split)
    max_train: int | None = None
    max_test: int | None = None
    cached_only: bool = False                 # crop sweeps: only images whose per-crop features are cached
    quick: bool = False                       # small SVR grid / quick presets
    seed: int = 0
    weights: dict[str, str] = field(default_factory=dict)
    set_params: dict[str, Any] = field(default_factory=dict)   # fixed constructor overrides of the method
    cache_dir: Any = True
    device: str | None = None
    n_jobs: int = 1
    progress: bool = True
    plots: bool = True


def parse_values(values: Sequence[str]) -> list[Any]:
    """Command-line values -> int, float or str (``"all"`` stays a string)."""
    out: list[Any] = []
    for v in values:
        for x in str(v).replace(",", " ").split():
            try:
                out.append(int(x))
            except ValueError:
                try:
                    out.append(float(x))
                except ValueError:
                    out.append(x)
    return out


def _ctx(cfg: SweepConfig, seed: int):
    from ..methods.base import RunContext

    return RunContext(cache_dir=cfg.cache_dir, n_jobs=cfg.n_jobs, quick=cfg.quick, weights=dict(cfg.weights),
                      device=cfg.device, seed=seed, progress=cfg.progress)


def _metrics(rec: pd.DataFrame, pred: np.ndarray, higher_better: bool) -> dict:
    ok = np.isfinite(pred)
    if ok.sum() < 3:
        return {"n": int(ok.sum()), "srocc": np.nan, "plcc": np.nan}
    e = evaluate(rec["score"].to_numpy(float)[ok], pred[ok], true_higher_better=bool(rec["higher_better"].iloc[0]),
                 pred_higher_better=higher_better)
    return {"n": e["n"], "srocc": e["srocc"], "plcc": e["plcc"]}


def _splits(cfg: SweepConfig):
    from ..datasets import load_dataset
    from ..protocol import plan_splits

    rec = load_dataset(cfg.dataset, data_root=cfg.data_root)
    splits = plan_splits(rec, "auto", n_repeats=cfg.repeats, seed=cfg.seed)
    out = []
    for sp in splits:
        tr, te = sp.frames(rec)
        if cfg.max_train is not None and len(tr) > cfg.max_train:
            tr = tr.sample(n=cfg.max_train, random_state=cfg.seed).reset_index(drop=True)
        if cfg.max_test is not None and len(te) > cfg.max_test:
            te = te.sample(n=cfg.max_test, random_state=cfg.seed).reset_index(drop=True)
        out.append((sp, tr, te))
    return rec, out


# ------------------------------------------------------------------------------ CNN crops + SVR
def _svr_estimator(cfg: SweepConfig, info, seed: int, kernel: str = "rbf"):
    from ..methods.regression import FeatureSVR

    return FeatureSVR(features=None, kernel=kernel, quick=cfg.quick, n_jobs=cfg.n_jobs)


class _Matrix:
    """A features stand-in for FeatureSVR: records -> rows of a precomputed matrix (by image path)."""

    def __init__(self, table: dict[str, np.ndarray], dim: int):
        self.table, self.dim = table, dim

    def get_params(self, deep: bool = True) -> dict:
        return {"table": self.table, "dim": self.dim}

    def set_params(self, **p):
        for k, v in p.items():
            setattr(self, k, v)
        return self

    def fit(self, X, y=None):
        self.failures_ = {}
        return self

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)

    def transform(self, X):
        out = np.full((len(X), self.dim), np.nan)
        for i, p in enumerate(X["image"]):
            v = self.table.get(str(p))
            if v is not None:
                out[i] = v
        return out


def _crop_tensor(cfg: SweepConfig, info, images: Sequence[str], n: int) -> tuple[dict[str, np.ndarray], Any]:
    from ..methods.deep_transfer import resolve_weights
    from .crops import CropFeatures

    est = info.factory(_ctx(cfg, cfg.seed))
    cnn = est.features
    if type(cnn).__name__ != "CNNFeatures":
        raise ValueError(f"{cfg.method}: crop sweeps need a CNN features + SVR method (*_svr)")
    arch = cnn.arch
    cnn = cnn.__class__(**{**cnn.get_params(), "n_crops": int(n), "crop_size": None, "upsample_small": False,
                           "weights": resolve_weights(arch, _ctx(cfg, cfg.seed))})
    cf = CropFeatures(cnn, progress=cfg.progress)
    F = cf.transform(list(images), cache_only=cfg.cached_only)
    return {p: F[i] for i, p in enumerate(images) if np.all(np.isfinite(F[i]))}, cf


def _fit_predict_pooled(cfg, info, table3d, tr, te, k, pooling, seed):
    from ..methods.regression import FeatureSVR
    from .crops import pool_crops

    if pooling == "prediction":
        return _fit_predict_crop_svr(cfg, table3d, tr, te, k)
    keys = list(table3d)
    F = np.stack([table3d[p] for p in keys])
    pooled = pool_crops(F, k, pooling)
    feats = _Matrix(dict(zip(keys, pooled)), pooled.shape[1])
    est = FeatureSVR(features=feats, kernel="rbf", quick=cfg.quick, n_jobs=cfg.n_jobs)
    est.fit(tr)
    return est.predict(te)


def _fit_predict_crop_svr(cfg, table3d, tr, te, k):
    """Prediction pooling: an SVR on crop rows (<= train_crops per training image), scores averaged over k crops."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    from ..methods.base import training_target
    from ..methods.regression import svr_grid

    t = training_target(tr)
    m = min(k, cfg.train_crops)
    X, y, g = [], [], []
    for p, target, c in zip(tr["image"], t, tr["content"].astype(str)):
        f = table3d.get(str(p))
        if f is None:
            continue
        X.append(f[:m])
        y += [target] * m
        g += [c] * m
    X = np.vstack(X)
    y = np.asarray(y)
    mu, sd = y.mean(), y.std() or 1.0
    folds = max(2, min(5, len(set(g))))
    search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("svr", SVR(kernel="rbf"))]),
                          svr_grid("rbf", cfg.quick), cv=GroupKFold(folds), scoring="neg_mean_squared_error",
                          n_jobs=cfg.n_jobs)
    search.fit(X, (y - mu) / sd, groups=np.asarray(g))
    out = np.full(len(te), np.nan)
    for i, p in enumerate(te["image"]):
        f = table3d.get(str(p))
        if f is not None:
            out[i] = search.best_estimator_.predict(f[:k]).mean() * sd + mu
    return out


def _sweep_crops(cfg, info, splits, rows, log):
    values = [int(v) for v in cfg.values] if cfg.param == "n_crops" else list(cfg.values)
    n = max(values) if cfg.param == "n_crops" else int(cfg.crops or 25)
    poolings = list(cfg.pooling) if cfg.param == "n_crops" else values
    images = sorted({str(p) for _, tr, te in splits for p in list(tr["image"]) + list(te["image"])})
    t0 = time.perf_counter()
    table3d, cf = _crop_tensor(cfg, info, images, n)
    log(f"per-crop features of {len(images)} images ({n} crops): {time.perf_counter() - t0:.0f} s, "
        f"{len(cf.failures_)} failed, {len(images) - len(table3d)} without features")
    if cfg.cached_only:      # keep the images whose features were cached (the table states the counts)
        splits[:] = [(sp, tr[tr["image"].astype(str).isin(table3d)].reset_index(drop=True),
                      te[te["image"].astype(str).isin(table3d)].reset_index(drop=True)) for sp, tr, te in splits]
    for sp, tr, te in splits:
        for pooling in poolings:
            for k in (values if cfg.param == "n_crops" else [n]):
                t1 = time.perf_counter()
                pred = _fit_predict_pooled(cfg, info, table3d, tr, te, int(k), pooling, sp.seed)
                m = _metrics(te, pred, True)
                value = k if cfg.param == "n_crops" else pooling
                rows.append({"value": value, "line": pooling if cfg.param == "n_crops" else "", "split": sp.name,
                             "draw": 0, **m, "seconds": round(time.perf_counter() - t1, 2)})
                log(f"{sp.name} {pooling} k={k}: SROCC {m['srocc']:.3f} PLCC {m['plcc']:.3f}")


# ------------------------------------------------------------------------------ deepIQA N_p
def _patch_scores(est, paths: Sequence[str], n_pool: int | None, seed: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Per image: (patch scores on the training target scale, patch weights alpha or None) for a pool of
    ``n_pool`` random positions (None: every non-overlapping patch)."""
    import torch

    from deep.patches import gather_patches, sample_positions
    from features.imageio import load_image

    hp = est.hyper_parameters_
    p = int(hp["patch_size"])
    lo, hi = est.target_range_
    model = est.model_.eval()
    dev = next(model.parameters()).device
    encode = est._encode(hp)           # the encoding DeepIQA.predict uses (uint8 C x H x W)
    out = []
    with torch.inference_mode():
        for i, path in enumerate(paths):
            img = torch.from_numpy(encode(load_image(path)))
            h, w = img.shape[-2:]
            if n_pool is None:
                pos = sample_positions(h, w, p, None, "grid", None)
            else:
                pos = sample_positions(h, w, p, int(n_pool), "random", np.random.default_rng([seed, i]))
            pos = torch.from_numpy(pos)
            ys, als = [], []
            for s in range(0, len(pos), 512):
                x = gather_patches(img, pos[s:s + 512, 0], pos[s:s + 512, 1], p).to(dev).float().div_(255.0)
                y, a = model(x, None)
                ys.append(y.float().cpu().numpy())
                if a is not None:
                    als.append(a.float().cpu().numpy())
            y = np.concatenate(ys) * (hi - lo) + lo
            out.append((y, np.concatenate(als) if als else None))
    return out


def _pool_patches(y: np.ndarray, alpha: np.ndarray | None, idx: np.ndarray) -> float:
    from deep.losses import BOSSE_EPS

    if alpha is None:
        return float(y[idx].mean())                                   # Eq. 1
    a = np.maximum(alpha[idx], 0.0) + BOSSE_EPS                        # Eq. 3
    return float((a * y[idx]).sum() / a.sum())                         # Eq. 4-5


def _sweep_patches(cfg, info, splits, rows, log):
    numeric = [int(v) for v in cfg.values if v != "all"]
    for sp, tr, te in splits:
        est = info.factory(_ctx(cfg, sp.seed if sp.seed is not None else cfg.seed))
        if cfg.set_params:
            est.set_params(**cfg.set_params)
        t0 = time.perf_counter()
        est.fit(tr)
        log(f"{sp.name}: trained {cfg.method} on {len(tr)} images in {time.perf_counter() - t0:.0f} s")
        paths = [str(p) for p in te["image"]]
        pools = {}
        if numeric:
            pools["random"] = _patch_scores(est, paths, max(numeric), cfg.seed)
        if "all" in cfg.values:
            pools["grid"] = _patch_scores(est, paths, None, cfg.seed)
        for v in cfg.values:
            draws = 1 if v == "all" or int(v) >= max(numeric or [0]) else cfg.draws
            pool = pools["grid" if v == "all" else "random"]
            for d in range(draws):
                rng = np.random.default_rng([cfg.seed, d, 17])
                pred = np.array([_pool_patches(y, a, np.arange(len(y)) if v == "all" else
                                               rng.choice(len(y), size=min(int(v), len(y)), replace=False))
                                 for y, a in pool])
                m = _metrics(te, pred, True)
                rows.append({"value": v, "line": "", "split": sp.name, "draw": d, **m, "seconds": 0.0})
            last = [r for r in rows if r["value"] == v and r["split"] == sp.name]
            log(f"{sp.name} N_p={v}: SROCC {np.mean([r['srocc'] for r in last]):.3f} "
                f"PLCC {np.mean([r['plcc'] for r in last]):.3f} ({draws} draw(s))")


# ------------------------------------------------------------------------------ generic
def _sweep_generic(cfg, info, splits, rows, log):
    for sp, tr, te in splits:
        for v in cfg.values:
            est = info.factory(_ctx(cfg, sp.seed if sp.seed is not None else cfg.seed))
            params = {**cfg.set_params, cfg.param: v}
            if not hasattr(est, "set_params"):
                raise ValueError(f"{cfg.method} has no set_params: cannot set {cfg.param}")
            est.set_params(**params)
            t1 = time.perf_counter()
            pred = np.asarray(est.fit(tr).predict(te), dtype=float) if info.trainable else \
                np.asarray(est.predict(te), dtype=float)
            m = _metrics(te, pred, info.higher_better)
            rows.append({"value": v, "line": "", "split": sp.name, "draw": 0, **m,
                         "seconds": round(time.perf_counter() - t1, 2)})
            log(f"{sp.name} {cfg.param}={v}: SROCC {m['srocc']:.3f} PLCC {m['plcc']:.3f}")


# ------------------------------------------------------------------------------ entry point
def check_config(cfg: SweepConfig) -> None:
    """Fail fast (before any work) on a method/parameter mismatch."""
    from ..methods.base import get_method_info

    info = get_method_info(cfg.method)
    if not cfg.values:
        raise ValueError("--values: give at least one value")
    if cfg.param in ("n_crops", "pooling") and not cfg.method.endswith("_svr"):
        raise ValueError(f"{cfg.param} sweeps apply to CNN features + SVR methods (*_svr), not {cfg.method}")
    if cfg.param == "n_patches" and not cfg.method.startswith("deepiqa_"):
        raise ValueError(f"n_patches sweeps apply to deepIQA methods (deepiqa_*), not {cfg.method}")
    if cfg.param == "n_crops" and any(not isinstance(v, int) or v < 1 for v in cfg.values):
        raise ValueError("n_crops values must be positive integers")
    if cfg.param == "n_patches" and any(v != "all" and (not isinstance(v, int) or v < 1) for v in cfg.values):
        raise ValueError("n_patches values must be positive integers or 'all'")
    from .crops import POOLINGS

    bad = [p for p in (cfg.values if cfg.param == "pooling" else cfg.pooling if cfg.param == "n_crops" else [])
           if p not in POOLINGS]
    if bad:
        raise ValueError(f"unknown pooling {bad}; choose from {POOLINGS}")
    if cfg.param == "kernel" and not info.trainable:
        raise ValueError(f"{cfg.method} is training-free: it has no SVR kernel")


def run_sweep(cfg: SweepConfig, log=print) -> dict[str, Any]:
    """Run the sweep; write ``sweep_<method>_<param>.csv|.md|.tex|.png`` and a JSON of the config under ``cfg.out``."""
    from ..methods.base import get_method_info
    from ..storage import atomic_to_csv, atomic_write_text

    check_config(cfg)
    info = get_method_info(cfg.method)
    t0 = time.perf_counter()
    _rec, splits = _splits(cfg)
    rows: list[dict] = []
    if cfg.param in ("n_crops", "pooling"):
        _sweep_crops(cfg, info, splits, rows, log)
    elif cfg.param == "n_patches":
        _sweep_patches(cfg, info, splits, rows, log)
    elif cfg.param == "kernel":
        for sp, tr, te in splits:
            for v in cfg.values:
                est = info.factory(_ctx(cfg, sp.seed if sp.seed is not None else cfg.seed))
                est.set_params(kernel=v, **cfg.set_params)
                t1 = time.perf_counter()
                m = _metrics(te, np.asarray(est.fit(tr).predict(te), dtype=float), True)
                rows.append({"value": v, "line": "", "split": sp.name, "draw": 0, **m,
                             "seconds": round(time.perf_counter() - t1, 2)})
                log(f"{sp.name} kernel={v}: SROCC {m['srocc']:.3f} PLCC {m['plcc']:.3f}")
    else:
        _sweep_generic(cfg, info, splits, rows, log)
    frame = pd.DataFrame(rows, columns=["value", "line", "split", "draw", "n", "srocc", "plcc", "seconds"])
    out = Path(cfg.out)
    stem = f"sweep_{cfg.method}_{cfg.param}"
    n_train = sorted({len(tr) for _, tr, _ in splits})      # after a cached_only restriction
    n_test = sorted({len(te) for _, _, te in splits})
    table = sweep_table(frame, cfg, n_train, n_test)
    files = [atomic_to_csv(frame, out / f"{stem}.csv"), atomic_write_text(out / f"{stem}.md", table.to_markdown()),
             atomic_write_text(out / f"{stem}.tex", table.to_latex())]
    meta = {"config": {k: v for k, v in asdict(cfg).items()}, "wall_s": round(time.perf_counter() - t0, 1),
            "n_train": n_train, "n_test": n_test, "splits": [sp.name for sp, _, _ in splits]}
    files.append(atomic_write_text(out / f"{stem}.json", json.dumps(meta, indent=1, default=str)))
    if cfg.plots:
        files.append(sweep_plot(frame, cfg, out / f"{stem}.png"))
    return {"frame": frame, "table": table, "files": files, "wall_s": meta["wall_s"]}


def _summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over draws, then median over splits, per (line, value) in the order given."""
    per_split = frame.groupby(["line", "value", "split"], sort=False)[["srocc", "plcc"]].mean().reset_index()
    return per_split.groupby(["line", "value"], sort=False)[["srocc", "plcc"]].median().reset_index()


def sweep_table(frame: pd.DataFrame, cfg: SweepConfig, n_train: list[int], n_test: list[int]):
    from ..tables import Table

    s = _summary(frame)
    lines = list(dict.fromkeys(s["line"]))
    values = list(dict.fromkeys(s["value"]))
    cols = [(ln or "", m) for ln in lines for m in ("SROCC", "PLCC")] if len(lines) > 1 or lines[0] else \
        [("SROCC", ""), ("PLCC", "")]
    vals = np.full((len(values), len(cols)), np.nan)
    for i, v in enumerate(values):
        for j, ln in enumerate(lines):
            hit = s[(s["line"] == ln) & (s["value"] == v)]
            if len(hit):
                vals[i, 2 * j:2 * j + 2] = [hit["srocc"].iloc[0], hit["plcc"].iloc[0]]
    n_splits = frame["split"].nunique()
    sub = "".join([f"; random subset of {cfg.max_train} training images" if cfg.max_train else "",
                   f"; random subset of {cfg.max_test} test images" if cfg.max_test else "",
                   "; only images whose per-crop features were cached" if cfg.cached_only else ""])
    extra = {"n_crops": f" Crops of 224x224; lines: aggregation ({', '.join(cfg.pooling)}); prediction pooling "
                        f"trains on at most {cfg.train_crops} crops per image.",
             "n_patches": f" N_p random 32x32 patches from a pool scored once per test image, {cfg.draws} draws "
                          f"averaged; 'all' = every non-overlapping patch.",
             "pooling": f" {cfg.crops or 25} crops per image."}.get(cfg.param, "")
    grid = ""
    if cfg.param in ("n_crops", "pooling", "kernel") or cfg.method.endswith("_svr"):
        grid = " Small (quick) SVR grid." if cfg.quick else " Full SVR grid."
    caption = (f"{cfg.method} on {cfg.dataset} ({n_train} training / {n_test} test images{sub}; median over "
               f"{n_splits} split(s)) as {cfg.param} varies.{extra}{grid}")
    return Table(f"Sweep of {cfg.param} for {cfg.method}", caption, [str(v) for v in values], cols, vals,
                 bold_top=1, stub=cfg.param)


def sweep_plot(frame: pd.DataFrame, cfg: SweepConfig, path: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..storage import atomic_write_bytes

    s = _summary(frame)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    numeric = all(isinstance(v, (int, float)) for v in s["value"] if v != "all")
    for ax, metric in zip(axes, ("srocc", "plcc")):
        for k, (ln, g) in enumerate(s.groupby("line", sort=False)):
            xs = list(g["value"])
            if numeric and "all" in xs:
                top = max(v for v in xs if v != "all")
                xs = [top * 2 if v == "all" else v for v in xs]
            x = xs if numeric else list(range(len(xs)))
            ax.plot(x, g[metric], marker="o", color=f"C{k}", label=ln or metric.upper())
            if not numeric:
                ax.set_xticks(x, [str(v) for v in g["value"]])
        if numeric and cfg.param in ("n_patches",):
            ax.set_xscale("log", base=2)
        ax.set_xlabel(cfg.param + (" ('all' plotted at 2 x the largest)" if "all" in list(s["value"]) else ""))
        ax.set_ylabel(f"{metric.upper()} (median over splits)")
        ax.grid(alpha=0.3)
        if s["line"].nunique() > 1 or s["line"].iloc[0]:
            ax.legend(fontsize=7)
    fig.suptitle(f"{cfg.method} on {cfg.dataset}: {cfg.param} sweep", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
