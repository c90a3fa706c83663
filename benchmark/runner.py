"""The benchmark runner: datasets x methods x protocol -> predictions -> metrics -> tables.

A notebook calls :func:`run` exactly as the CLI does::

    from benchmark.runner import RunConfig, run
    result = run(RunConfig(suite="fr", datasets=["synth"], out="results"))
    result.summary            # pandas frame of medians / means / stds

Plans:

* ``within``: each dataset's official split, or ``n_repeats`` content-disjoint
  random 80/20 splits (Kim et al. 2017, Section V).
* ``one-vs-one``: train on all of A, test on all of B (Yang et al. Table 2).
* ``lodo``: train on all datasets but B, test on B (Yang et al. Table 3).
* ``shared-types``: both sides restricted to the distortion types A and B share
  (Bosse et al. Table II).
* synthetic-to-authentic: the one-vs-one results with a synthetic-distortion
  training set and an authentic test set, tabulated on their own.

The run holds records, predictions and metrics, never decoded images.  A method
that fails to build or train is reported and skipped; an image a method cannot
process is reported and left out of that method's evaluation.
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .datasets import DatasetError, get_dataset_info, list_datasets, load_dataset
from .evaluation import evaluate
from .methods.base import MethodInfo, RunContext, get_method_info, list_methods
from .protocol import CrossPlan, Split, cross_plans, lodo_plans, plan_splits, shared_types
from .storage import PredictionStore, atomic_to_csv, atomic_write_text, fingerprint

__all__ = ["RunConfig", "RunResult", "run", "select_methods", "resolve_datasets", "cpu_excluded", "SUITES"]

SUITES = ("fr", "classical", "deep", "cross", "all")
# The --quick preset also shrinks the built-in set (fewer source photos, same distortions and levels).
QUICK_DATASET_OPTIONS: dict[str, dict] = {"synth": {"n_contents": 6}}


@dataclass
class RunConfig:
    suite: str = "all"
    datasets: Sequence[str] | None = None      # None: synth + every dataset found under data_root
    data_root: str | None = None
    out: str = "results"
    methods: Sequence[str] | None = None       # restrict to these registry names
    quick: bool = False
    n_repeats: int | None = None               # default 10 (quick: 3)
    deep_repeats: int | None = None            # trained CNNs: default n_repeats with a GPU, else at most 3 (quick: 1)
    test_size: float = 0.2
    protocol: str = "auto"                     # auto | random | official
    seed: int = 0
    mapping: str = "logistic5"
    n_jobs: int = 1                            # the CLI defaults to -1 (all cores)
    scheduler: str | None = None
    weights: dict[str, str] = field(default_factory=dict)
    device: str | None = None
    cache_dir: Any = True
    cross: bool | None = None                  # None: suites "cross" and "all"
    plots: bool = True
    progress: bool = True
    dataset_options: dict[str, dict] = field(default_factory=dict)
    cpu_train: bool = False                    # also train methods with cpu_default=False without a GPU

    @property
    def repeats(self) -> int:
        return self.n_repeats if self.n_repeats is not None else (3 if self.quick else 10)

    def repeats_for(self, info: MethodInfo) -> int:
        """Splits for one method: trained CNNs on a CPU get at most 3, 1 with ``quick`` (stated in the table notes)."""
        if not (info.trainable and info.suite == "deep"):
            return self.repeats
        if self.deep_repeats is not None:
            return min(self.deep_repeats, self.repeats)
        return self.repeats if _cuda_available(self.device) else min(self.repeats, 1 if self.quick else 3)

    @property
    def do_cross(self) -> bool:
        return self.cross if self.cross is not None else self.suite in ("cross", "all")


def _cuda_available(device: str | None) -> bool:
    if device is not None:
        return device.startswith("cuda")
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cpu_excluded(cfg: RunConfig, methods: Sequence[MethodInfo]) -> list[MethodInfo]:
    """The methods a run leaves out: ``cpu_default=False`` ones when no CUDA device is used, unless
    ``cfg.cpu_train`` (or ``cfg.quick``: its tiny presets only test the plumbing) is set."""
    if cfg.cpu_train or cfg.quick or _cuda_available(cfg.device):
        return []
    return [m for m in methods if not m.cpu_default]


@dataclass
class RunResult:
    metrics: pd.DataFrame
    summary: pd.DataFrame
    per_type: pd.DataFrame
    failures: pd.DataFrame
    out: Path
    files: list[Path]
    wall_s: float


def select_methods(suite: str, names: Sequence[str] | None = None) -> list[MethodInfo]:
    """Registered methods of a suite (``cross`` = every trainable method), optionally restricted by name."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; choose from {SUITES}")
    if names:
        infos = [get_method_info(n) for n in names]
    elif suite == "cross":
        infos = [m for m in list_methods("all") if m.trainable]
    else:
        infos = list_methods(suite)
    return infos


def resolve_datasets(cfg: RunConfig, log) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Load the requested datasets; a dataset that cannot be loaded is reported, not fatal."""
    problems: list[dict] = []
    names: list[str]
    if cfg.datasets:
        names = [get_dataset_info(n).name for n in cfg.datasets]
    else:
        names = ["synth"]
        if cfg.data_root:
            for info in list_datasets():
                if not info.builtin and info.find_root(cfg.data_root) is not None:
                    names.append(info.name)
    out: dict[str, pd.DataFrame] = {}
    for name in dict.fromkeys(names):
        info = get_dataset_info(name)
        try:
            opts = dict(cfg.dataset_options.get(name, {}))
            if cfg.quick:
                for k, v in QUICK_DATASET_OPTIONS.get(info.name, {}).items():
                    opts.setdefault(k, v)
            rec = load_dataset(name, data_root=cfg.data_root, **opts)
        except (DatasetError, OSError, ValueError) as exc:
            log(f"dataset {name}: not loaded: {exc}")
            problems.append({"method": "", "dataset": name, "image": "", "reason": str(exc)})
            continue
        out[name] = rec
        log(f"dataset {name}: {len(rec)} images, {rec['content'].nunique()} contents")
    return out, problems


def _pred_frame(rec: pd.DataFrame, pred: np.ndarray, info: MethodInfo) -> pd.DataFrame:
    return pd.DataFrame({
        "image": rec["image"].to_numpy(),
        "content": rec["content"].astype(str).to_numpy(),
        "dist_type": rec["dist_type"].astype(str).to_numpy(),
        "y_true": rec["score"].to_numpy(dtype=float),
        "true_higher_better": rec["higher_better"].to_numpy(dtype=bool),
        "y_pred": np.asarray(pred, dtype=float),
        "pred_higher_better": info.higher_better,
    })


class _Runner:
    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.store = PredictionStore(self.out / "predictions")
        self.failures: list[dict] = []
        self.failed_methods: dict[str, str] = {}
        self.results: list[tuple[MethodInfo, str, str, str, str, pd.DataFrame]] = []
        self.log_lines: list[str] = []
        self.seconds: dict[str, float] = {}    # compute time per method (cached predictions cost nothing)

    def log(self, msg: str) -> None:
        self.log_lines.append(msg)
        if self.cfg.progress:
            from tqdm.auto import tqdm

            tqdm.write(msg)

    def ctx(self, seed: int, work: Path) -> RunContext:
        c = self.cfg
        return RunContext(cache_dir=c.cache_dir, n_jobs=c.n_jobs, scheduler=c.scheduler, quick=c.quick,
                          weights=dict(c.weights), device=c.device, seed=seed, work_dir=work,
                          progress=c.progress)

    def _fp(self, info: MethodInfo, train: pd.DataFrame | None, test: pd.DataFrame, seed: int) -> str:
        c = self.cfg
        extra = {}
        if info.suite == "deep":  # a CPU run's short 'cpu' preset must not be reused by a CUDA run
            from .methods.base import deep_preset

            extra["preset"] = deep_preset(self.ctx(seed, Path(c.out)))
        return fingerprint(method=info.name, quick=c.quick, seed=seed, weights=sorted(c.weights.items()),
                           train=None if train is None else (list(train["image"]), list(train["score"])),
                           test=list(test["image"]), **extra)

    def predict(self, info: MethodInfo, plan: str, train_name: str, test_name: str, split: str,
                train: pd.DataFrame | None, test: pd.DataFrame, seed: int) -> pd.DataFrame | None:
        """Predictions for one (method, plan, train, test, split): from the store, or computed and saved."""
        if info.name in self.failed_methods:
            return None
        fp = self._fp(info, train if info.trainable else None, test, seed)
        cached = self.store.load(info.name, plan, train_name, test_name, split, fp)
        if cached is not None:
            self._note_failures(info, test_name, self.store.failures(info.name, plan, train_name, test_name, split))
            return cached
        work = self.out / "checkpoints" / info.name / plan / f"{train_name}__{test_name}__{split}"
        t0 = time.perf_counter()
        try:
            method = info.factory(self.ctx(seed, work))
            if info.trainable:
                assert train is not None
                method.fit(train)
            pred = np.asarray(method.predict(test), dtype=float)
        except Exception as exc:  # one failing method must not end the run
            reason = f"{type(exc).__name__}: {exc}"
            self.failed_methods[info.name] = reason
            self.log(f"method {info.name}: FAILED on {plan} {train_name}->{test_name} {split}: {reason}")
            self.failures.append({"method": info.name, "dataset": test_name, "image": "", "reason": reason})
            return None
        finally:
            self.seconds[info.name] = self.seconds.get(info.name, 0.0) + time.perf_counter() - t0
        if pred.shape != (len(test),):
            raise RuntimeError(f"{info.name}.predict returned shape {pred.shape} for {len(test)} records")
        fails = dict(getattr(method, "failures_", {}) or {})
        for img, ok in zip(test["image"], np.isfinite(pred)):
            if not ok and img not in fails:
                fails[img] = "prediction is not a finite number"
        df = _pred_frame(test, pred, info)
        self.store.save(df, info.name, plan, train_name, test_name, split, fp, fails)
        self._note_failures(info, test_name, fails)
        return df

    def _note_failures(self, info: MethodInfo, dataset: str, fails: dict[str, str]) -> None:
        for img, reason in fails.items():
            self.failures.append({"method": info.name, "dataset": dataset, "image": img, "reason": reason})

    def add(self, info, plan, train_name, test_name, split, df) -> None:
        if df is not None:
            self.results.append((info, plan, train_name, test_name, split, df))

    # -- plans ---------------------------------------------------------------------------------------
    def within(self, name: str, rec: pd.DataFrame, methods: list[MethodInfo]) -> None:
        c = self.cfg
        splits = plan_splits(rec, c.protocol, n_repeats=c.repeats, test_size=c.test_size, seed=c.seed)
        has_ref = bool((rec["ref"] != "").all())
        from tqdm.auto import tqdm

        for info in tqdm(methods, desc=f"{name}: methods", disable=not c.progress, leave=False):
            if info.kind == "FR" and not has_ref:
                continue
            if not info.trainable:
                # A training-free metric does not depend on the split: predict every image once.
                full = self.predict(info, "within", "-", name, "all", None, rec, c.seed)
                if full is None:
                    continue
                for sp in splits:
                    sub = full.iloc[sp.test].reset_index(drop=True)
                    self.store.save(sub, info.name, "within", "-", name, sp.name, "derived-from-all")
                    self.add(info, "within", name, name, sp.name, sub)
                continue
            mine = splits[: c.repeats_for(info)]
            for sp in tqdm(mine, desc=f"{info.name}: splits", disable=not c.progress or len(mine) == 1,
                           leave=False):
                tr, te = sp.frames(rec)
                df = self.predict(info, "within", name, name, sp.name, tr, te, sp.seed if sp.seed is not None else c.seed)
                self.add(info, "within", name, name, sp.name, df)

    def cross(self, data: dict[str, pd.DataFrame], methods: list[MethodInfo]) -> None:
        names = list(data)
        trainable = [m for m in methods if m.trainable]
        plans: list[CrossPlan] = cross_plans(names) + lodo_plans(names)
        for a in names:
            for b in names:
                if a == b:
                    continue
                types = shared_types(data[a], data[b])
                if types and get_dataset_info(a).kind == "synthetic" and get_dataset_info(b).kind == "synthetic":
                    plans.append(CrossPlan("shared-types", (a,), b, types))
        for plan in plans:
            train = pd.concat([data[n] for n in plan.train_sets], ignore_index=True)
            test = data[plan.test_set]
            if plan.types:
                train = train[train["dist_type"].isin(plan.types)].reset_index(drop=True)
                test = test[test["dist_type"].isin(plan.types)].reset_index(drop=True)
            for info in trainable:
                if info.kind == "FR" and not ((train["ref"] != "").all() and (test["ref"] != "").all()):
                    continue
                df = self.predict(info, plan.kind, plan.train_name, plan.test_name, "all", train, test, self.cfg.seed)
                self.add(info, plan.kind, plan.train_name, plan.test_name, "all", df)


#: per-distortion subsets smaller than this get SROCC only (their ``plcc`` is left empty)
MIN_PLCC_N = 10


def srocc_oriented(y_true, y_pred, true_higher_better: bool, pred_higher_better: bool) -> float:
    """SROCC with both sides turned to higher-is-better (0 when either side is constant)."""
    from .evaluation import orient, srocc

    p, y = orient(y_pred, pred_higher_better), orient(y_true, true_higher_better)
    if np.ptp(p) == 0 or np.ptp(y) == 0:
        return 0.0
    return srocc(p, y)


def _metric_rows(results, mapping: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, type_rows = [], []
    for info, plan, train_name, test_name, split, df in results:
        ok = np.isfinite(df["y_pred"].to_numpy(dtype=float))
        d = df[ok]
        base = {"method": info.name, "label": info.display, "group": info.group, "kind": info.kind,
                "plan": plan, "train_set": train_name, "test_set": test_name, "split": split,
                "n_failed": int((~ok).sum())}
        if len(d) < 3:
            continue
        thb, phb = bool(d["true_higher_better"].iloc[0]), bool(d["pred_higher_better"].iloc[0])
        m = evaluate(d["y_true"], d["y_pred"], true_higher_better=thb, pred_higher_better=phb, mapping=mapping)
        rows.append({**base, **m})
        if plan == "within":
            for t, g in d.groupby("dist_type"):
                if not t or len(g) < 3:
                    continue
                if len(g) >= MIN_PLCC_N:
                    e = evaluate(g["y_true"], g["y_pred"], true_higher_better=thb, pred_higher_better=phb,
                                 mapping=mapping)
                else:  # a 4-5 parameter curve through a handful of points is not a correlation
                    e = {"n": len(g), "plcc": np.nan,
                         "srocc": srocc_oriented(g["y_true"], g["y_pred"], thb, phb)}
                type_rows.append({**base, "dist_type": t, "n": e["n"], "srocc": e["srocc"], "plcc": e["plcc"]})
    base_cols = ["method", "label", "group", "kind", "plan", "train_set", "test_set", "split", "n_failed"]
    return (pd.DataFrame(rows, columns=base_cols + ["n", "srocc", "krocc", "plcc", "plcc_raw", "rmse", "mapping"]),
            pd.DataFrame(type_rows, columns=base_cols + ["dist_type", "n", "srocc", "plcc"]))


def run(cfg: RunConfig) -> RunResult:
    """Run a suite end to end and write tables, CSV/JSON, predictions and plots under ``cfg.out``."""
    from . import report

    t0 = time.perf_counter()
    r = _Runner(cfg)
    methods = select_methods(cfg.suite, cfg.methods)
    excluded = cpu_excluded(cfg, methods)
    if excluded and cfg.methods:
        raise ValueError(f"{', '.join(m.name for m in excluded)}: not trained on a CPU by default (too slow to "
                         f"converge on a few cores); use a CUDA device, or cpu_train=True (--cpu-train)")
    methods = [m for m in methods if m not in excluded]
    data, problems = resolve_datasets(cfg, r.log)
    r.failures += problems
    if not data:
        raise DatasetError("(all)", cfg.data_root, "no dataset could be loaded")
    r.log(f"suite {cfg.suite}: {len(methods)} methods on {len(data)} datasets "
          f"({', '.join(data)}), {cfg.repeats} splits where there is no official split")
    for name, rec in data.items():
        r.within(name, rec, methods)
    if cfg.do_cross and len(data) > 1:
        r.cross(data, methods)
    metrics, per_type = _metric_rows(r.results, cfg.mapping)
    failures = pd.DataFrame(r.failures, columns=["method", "dataset", "image", "reason"]).drop_duplicates()
    wall = time.perf_counter() - t0
    meta = {"config": {k: v for k, v in asdict(cfg).items()}, "wall_s": wall, "python": platform.python_version(),
            "datasets": {k: {"n_images": len(v), "kind": get_dataset_info(k).kind,
                             "higher_better": bool(v["higher_better"].iloc[0])} for k, v in data.items()},
            "methods": [m.name for m in methods], "failed_methods": r.failed_methods,
            "cpu_excluded": [m.name for m in excluded],
            "method_seconds": {k: round(v, 2) for k, v in sorted(r.seconds.items(), key=lambda kv: -kv[1])}}
    if any(m.suite == "deep" and m.trainable for m in methods):
        from .methods.base import deep_preset

        meta["deep_preset"] = deep_preset(r.ctx(cfg.seed, Path(cfg.out)))
    files, summary = report.write_all(Path(cfg.out), metrics, per_type, failures, meta, r.results,
                                      plots=cfg.plots, mapping=cfg.mapping)
    r.log(report.failure_summary(failures, r.failed_methods))
    r.log(f"wrote {len(files)} files to {cfg.out} in {wall:.1f} s")
    return RunResult(metrics, summary, per_type, failures, Path(cfg.out), files, wall)
