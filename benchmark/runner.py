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
* ``shared-types-test``: train on all of A, test on the part of B with the distortion
  types A and B share (Bosse et al. Table II); ``shared-types-both``: both sides
  restricted to those types.  Built for every pair of datasets sharing a type.
* synthetic-to-authentic: the one-vs-one results with a synthetic-distortion
  training set and an authentic test set, tabulated on their own.

A training set pooled from several datasets (``lodo``) has every dataset's scores
min-max scaled to [0, 1] (higher is better) on its own range and its content ids
prefixed with the dataset's name (:func:`~benchmark.protocol.pool_training_sets`).

The run holds records, predictions and metrics, never decoded images.  A method fails
only where it failed: a method that cannot be built (e.g. missing weights) fails every
attempt, but one that fails to train or predict on one split of one dataset fails that
split only, and keeps its row with ``failed`` in the tables.  An image a method cannot
process (in training or at test) is reported and left out.
"""
from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .datasets import DatasetError, get_dataset_info, list_datasets, load_dataset
from .datasets.base import DatasetWarning
from .evaluation import MIN_PLCC_N, load_metrics_memo, metric_rows, save_metrics_memo, srocc_oriented  # noqa: F401
from .methods.base import MethodInfo, RunContext, get_method_info, list_methods
from .protocol import (SHARED_BOTH, SHARED_TEST_ONLY, CrossPlan, Split, cross_plans, lodo_plans,  # noqa: F401
                       plan_splits, pool_training_sets, shared_type_plans)
from .storage import PredictionStore, atomic_to_csv, atomic_write_text, fingerprint  # noqa: F401

__all__ = ["RunConfig", "RunResult", "RunConfigError", "run", "select_methods", "resolve_datasets", "cpu_excluded",
           "SUITES",
           "FAILURE_COLUMNS"]

#: columns of ``failures.csv``: ``stage`` is ``dataset`` (a dataset problem), ``method`` (the method
#: failed on a whole plan/split; ``image`` empty), ``train`` or ``test`` (one image, first occurrence)
FAILURE_COLUMNS = ["method", "dataset", "image", "stage", "plan", "train_set", "split", "reason"]


class RunConfigError(ValueError):
    """A configuration mistake found before any work starts (the CLI prints it as one line)."""

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
    aggregate: str = "median"                  # median | mean over splits, in every table
    n_jobs: int = 1                            # the CLI defaults to -1 (all cores)
    scheduler: str | None = None
    weights: dict[str, str] = field(default_factory=dict)
    offline: bool | None = None                # never download weights; None: the IQABENCH_OFFLINE variable
    device: str | None = None
    cache_dir: Any = True
    cross: bool | None = None                  # None: suites "cross" and "all"
    plots: bool = True
    progress: bool = True
    dataset_options: dict[str, dict] = field(default_factory=dict)
    cpu_train: bool = False                    # also train methods with cpu_default=False without a GPU
    plugins: Sequence[str] = ()                # modules or .py files imported first (benchmark.plugins)
    notes: Sequence[str] = ()                  # free-text notes of the main table (e.g. a dataset subset rule)

    @property
    def repeats(self) -> int:
        return self.n_repeats if self.n_repeats is not None else (3 if self.quick else 10)

    def repeats_for(self, info: MethodInfo) -> int:
        """Splits for one method: every method gets all of them, except methods that train or
        fine-tune a network (``MethodInfo.trains_network``), which on a CPU get at most 3
        (1 with ``quick``; ``deep_repeats`` overrides); the table notes say so.  Features + SVR
        on CNN features costs what a classical row costs once the features are cached, so it
        uses every split."""
        if not getattr(info, "trains_network", False):
            return self.repeats
        if self.deep_repeats is not None:
            return min(self.deep_repeats, self.repeats)
        return self.repeats if _cuda_available(self.device) else min(self.repeats, 1 if self.quick else 3)

    @property
    def do_cross(self) -> bool:
        return self.cross if self.cross is not None else self.suite in ("cross", "all")

    def validate(self) -> None:
        """Raise :class:`RunConfigError` for a mistake that would otherwise surface after the work."""
        from features.registry import DuplicateNameError, PluginError

        from .plugins import load_plugins
        from .tables import AGGREGATES

        try:
            load_plugins(self.plugins)
        except (PluginError, DuplicateNameError) as exc:
            raise RunConfigError(" ".join(str(exc).split())) from None
        if self.suite not in SUITES:
            raise RunConfigError(f"unknown suite {self.suite!r}; choose from {', '.join(SUITES)}")
        for what, v in (("n_repeats", self.n_repeats), ("deep_repeats", self.deep_repeats)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise RunConfigError(f"{what} must be a positive integer, got {v!r}")
        if not 0 < self.test_size < 1:
            raise RunConfigError(f"test_size must be in (0, 1), got {self.test_size!r}")
        if self.protocol not in ("auto", "random", "official"):
            raise RunConfigError(f"protocol must be auto, random or official, got {self.protocol!r}")
        if self.mapping not in ("logistic5", "logistic4"):
            raise RunConfigError(f"mapping must be logistic5 or logistic4, got {self.mapping!r}")
        if self.aggregate not in AGGREGATES:
            raise RunConfigError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}")
        if self.data_root is not None and not Path(self.data_root).expanduser().is_dir():
            raise RunConfigError(f"data root {self.data_root}: no such folder")
        out = Path(self.out).expanduser()
        if out.exists() and not out.is_dir():
            raise RunConfigError(f"output folder {self.out}: exists and is not a folder")
        for parent in out.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise RunConfigError(f"output folder {self.out}: {parent} is not a folder")
                break
        if self.cache_dir not in (True, False, None):
            c = Path(os.fspath(self.cache_dir)).expanduser()
            if c.exists() and not c.is_dir():
                raise RunConfigError(f"cache folder {self.cache_dir}: exists and is not a folder")
        for name in self.datasets or []:
            try:
                get_dataset_info(name)
            except KeyError:
                known = ", ".join(sorted(d.name for d in list_datasets()))
                raise RunConfigError(f"unknown dataset {name!r}; known: {known}") from None
        chosen = select_methods(self.suite, self.methods)
        excluded = cpu_excluded(self, chosen) if self.methods else []
        if excluded:
            raise RunConfigError(f"--methods {' '.join(m.name for m in excluded)}: not run on a CPU by default "
                                 f"(more than 10 CPU-minutes even on synth); add --cpu-train, or run on a GPU")


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
    ``cfg.cpu_train`` is set.  ``--quick`` leaves them out too: their tiny presets would only test
    plumbing their own tests cover, and the six deepIQA/WaDIQaM-FR rows alone took 45 of the 62 minutes
    of a quick run at load 12 on 2 cores."""
    if cfg.cpu_train or _cuda_available(cfg.device):
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
    #: methods that were attempted and produced no result at all -> the first reason
    failed_methods: dict[str, str] = field(default_factory=dict)


def select_methods(suite: str, names: Sequence[str] | None = None) -> list[MethodInfo]:
    """Registered methods of a suite (``cross`` = every trainable method), optionally restricted by name."""
    if suite not in SUITES:
        raise RunConfigError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    if names:
        infos = []
        for n in names:
            try:
                infos.append(get_method_info(n))
            except KeyError:
                known = ", ".join(sorted(m.name for m in list_methods("all", include_unavailable=True)))
                raise RunConfigError(f"unknown method {n!r}; known: {known}") from None
    elif suite == "cross":
        infos = [m for m in list_methods("all") if m.trainable]
    else:
        infos = list_methods(suite)
    return infos


def resolve_datasets(cfg: RunConfig, log) -> tuple[dict[str, pd.DataFrame], list[dict]]:
    """Load the requested datasets; a dataset that cannot be loaded is reported, not fatal.

    ``log(message, always=True)`` receives dataset errors and warnings (duplicate rows, ...).
    The built-in ``synth`` set is generated under ``cfg.cache_dir`` when that is a folder.
    """
    problems: list[dict] = []
    names: list[str]
    if cfg.data_root is not None and not Path(cfg.data_root).expanduser().is_dir():
        raise RunConfigError(f"data root {cfg.data_root}: no such folder")
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
            root = None
            if info.generated_in_cache and cfg.cache_dir not in (True, False, None):
                root = Path(os.fspath(cfg.cache_dir)).expanduser()   # generated images live with the cache
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DatasetWarning)
                rec = load_dataset(name, root, data_root=cfg.data_root, **opts)
            for w in caught:
                if issubclass(w.category, DatasetWarning):
                    log(f"dataset {name}: warning: {w.message}", always=True)
                    problems.append({"method": "", "dataset": name, "image": "", "stage": "dataset",
                                     "reason": f"warning: {w.message}"})
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        except (DatasetError, OSError, ValueError) as exc:
            log(f"dataset {name}: not loaded: {exc}", always=True)
            problems.append({"method": "", "dataset": name, "image": "", "stage": "dataset", "reason": str(exc)})
            continue
        out[name] = rec
        log(f"dataset {name}: {len(rec)} images, {rec['content'].nunique()} contents")
    return out, problems


def _pred_frame(rec: pd.DataFrame, pred: np.ndarray, info: MethodInfo) -> pd.DataFrame:
    return pd.DataFrame({
        "image": rec["image"].to_numpy(),
        "content": rec["content"].astype(str).to_numpy(),
        "dist_type": rec["dist_type"].astype(str).to_numpy(),
        "dist_level": (rec["dist_level"].to_numpy(dtype=float) if "dist_level" in rec.columns
                       else np.full(len(rec), np.nan)),
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
        self.unbuildable: dict[str, str] = {}      # methods whose factory failed -> reason
        self.failed_attempts: list[dict] = []      # (method, plan, train, test, split) with no prediction
        self.results: list[tuple[MethodInfo, str, str, str, str, pd.DataFrame]] = []
        self.split_limits: dict[str, int] = {}     # method -> splits it was limited to (networks on a CPU)
        self.log_lines: list[str] = []
        self.seconds: dict[str, float] = {}    # compute time per method (cached predictions cost nothing)
        self._cross_preds: dict[tuple[str, str, str], pd.DataFrame | str] = {}
        self.weights: dict[str, Any] = {}      # arch -> deep.backbones.ResolvedWeights, once per run

    def log(self, msg: str, always: bool = False) -> None:
        """Progress messages go to tqdm when ``progress``; errors and warnings (``always``) are
        printed to stderr even without it."""
        self.log_lines.append(msg)
        if self.cfg.progress:
            from tqdm.auto import tqdm

            tqdm.write(msg)
        elif always:
            print(msg, file=sys.stderr, flush=True)

    def ctx(self, seed: int, work: Path) -> RunContext:
        c = self.cfg
        return RunContext(cache_dir=c.cache_dir, n_jobs=c.n_jobs, scheduler=c.scheduler, quick=c.quick,
                          weights={**c.weights, **{a: w.path for a, w in self.weights.items()}}, device=c.device,
                          seed=seed, work_dir=work, progress=c.progress, offline=c.offline,
                          weights_sha256={a: w.sha256 for a, w in self.weights.items()})

    def resolve_weights(self, methods: list[MethodInfo]) -> None:
        """Find each backbone's ImageNet weights once (--weights, torch's cache, download); a method
        whose weights cannot be found is reported absent, with the reason, before any work."""
        archs = sorted({m.backbone for m in methods if m.backbone})
        if not archs:
            return
        from .methods.deep_transfer import resolve_backbones

        self.weights, errors = resolve_backbones(archs, self.cfg.weights, self.cfg.offline, self.cfg.progress)
        for m in methods:
            if m.backbone in errors:
                self.unbuildable[m.name] = errors[m.backbone]   # every attempt fails with this reason
                self.log(f"method {m.name}: not run: {errors[m.backbone]}", always=True)

    def _fp(self, info: MethodInfo, train: pd.DataFrame | None, test: pd.DataFrame, seed: int,
            method: Any = None) -> str:
        """Everything that produced a prediction: method, its versions and built estimator
        (:func:`benchmark.versioning.method_version`), preset, seed, weights and the images."""
        from .versioning import method_version

        c = self.cfg
        extra = {}
        if info.preset_dependent:  # a CPU run's short 'cpu' preset must not be reused by a CUDA run
            from .methods.base import deep_preset

            extra["preset"] = deep_preset(self.ctx(seed, Path(c.out)))
        if info.backbone in self.weights:
            extra["weights_sha256"] = self.weights[info.backbone].sha256
        return fingerprint(method=info.name, quick=c.quick, seed=seed, weights=sorted(c.weights.items()),
                           train=None if train is None else (list(train["image"]), list(train["score"])),
                           test=list(test["image"]), versions=method_version(info, method), **extra)

    def _fail(self, info: MethodInfo, plan: str, train_name: str, test_name: str, split: str, reason: str,
              log: bool = True) -> None:
        """Record an attempt that produced no prediction (its cell shows ``failed``)."""
        self.failed_attempts.append({"method": info.name, "label": info.display, "group": info.group,
                                     "kind": info.kind, "plan": plan, "train_set": train_name,
                                     "test_set": test_name, "split": split, "reason": reason})
        self.failures.append({"method": info.name, "dataset": test_name, "image": "", "stage": "method",
                              "plan": plan, "train_set": train_name, "split": split, "reason": reason})
        if log:
            self.log(f"method {info.name}: FAILED on {plan} {train_name}->{test_name} {split}: {reason}",
                     always=True)

    def predict(self, info: MethodInfo, plan: str, train_name: str, test_name: str, split: str,
                train: pd.DataFrame | None, test: pd.DataFrame, seed: int) -> pd.DataFrame | None:
        """Predictions for one (method, plan, train, test, split): from the store, or computed and saved.

        ``None`` when the method failed there (recorded; its other attempts still run, unless
        the method could not be built at all).
        """
        if info.name in self.unbuildable:
            self._fail(info, plan, train_name, test_name, split, self.unbuildable[info.name], log=False)
            return None
        work = checkpoint_dir(self.out, info, plan, train_name, test_name, split)
        t0 = time.perf_counter()
        try:
            method = info.factory(self.ctx(seed, work))   # cheap: built to read its versions
        except Exception as exc:  # cannot be built (missing weights, ...): the same everywhere
            reason = f"{type(exc).__name__}: {exc}"
            self.unbuildable[info.name] = reason
            self._fail(info, plan, train_name, test_name, split, reason)
            self.seconds[info.name] = self.seconds.get(info.name, 0.0) + time.perf_counter() - t0
            return None
        fp = self._fp(info, train if info.trainable else None, test, seed, method)
        cached = self.store.load(info.name, plan, train_name, test_name, split, fp)
        where = {"plan": plan, "train_set": train_name, "split": split}
        if cached is not None:
            if "dist_level" in test.columns and cached["dist_level"].isna().all():  # saved before dist_level was
                cached["dist_level"] = test["dist_level"].to_numpy(dtype=float)   # (rows follow `test`: fingerprint)
            self._note_failures(info, test_name, self.store.failures(info.name, plan, train_name, test_name, split),
                                "test", where)
            self._note_train_failures(info, train, self.store.train_failures(info.name, plan, train_name,
                                                                             test_name, split), where)
            return cached
        train_fails: dict[str, str] = {}
        try:
            try:
                if info.trainable:
                    assert train is not None
                    method.fit(train)
                    train_fails = dict(getattr(method, "failures_", {}) or {})
                pred = np.asarray(method.predict(test), dtype=float)
            except Exception as exc:  # fails here only: the method's other attempts still run
                if info.trainable and not train_fails:
                    train_fails = dict(getattr(method, "failures_", {}) or {})
                self._note_train_failures(info, train, train_fails, where)
                self._fail(info, plan, train_name, test_name, split, f"{type(exc).__name__}: {exc}")
                return None
        finally:
            self.seconds[info.name] = self.seconds.get(info.name, 0.0) + time.perf_counter() - t0
        if pred.shape != (len(test),):
            raise RuntimeError(f"{info.name}.predict returned shape {pred.shape} for {len(test)} records")
        # a method that leaves its training failures in ``failures_`` must not report them as test images
        test_images = set(test["image"])
        fails = {k: v for k, v in (getattr(method, "failures_", {}) or {}).items() if k in test_images}
        for img, ok in zip(test["image"], np.isfinite(pred)):
            if not ok and img not in fails:
                fails[img] = "prediction is not a finite number"
        df = _pred_frame(test, pred, info)
        self.store.save(df, info.name, plan, train_name, test_name, split, fp, fails, train_failures=train_fails,
                        info=info.metadata())
        self._note_failures(info, test_name, fails, "test", where)
        self._note_train_failures(info, train, train_fails, where)
        if len(test) and not np.isfinite(pred).any():
            ex = next(iter(fails.items()), ("", ""))
            self.log(f"method {info.name}: every one of the {len(test)} test images failed on {plan} "
                     f"{train_name}->{test_name} {split}, e.g. {ex[0]}: {ex[1]}", always=True)
        return df

    def _note_failures(self, info: MethodInfo, dataset: str, fails: dict[str, str], stage: str,
                       where: dict) -> None:
        for img, reason in fails.items():
            self.failures.append({"method": info.name, "dataset": dataset, "image": img, "stage": stage,
                                  **where, "reason": reason})

    def _note_train_failures(self, info: MethodInfo, train: pd.DataFrame | None, fails: dict[str, str],
                             where: dict) -> None:
        if not fails:
            return
        owner = dict(zip(train["image"], train["dataset"])) if train is not None and "dataset" in train else {}
        for img, reason in fails.items():
            self.failures.append({"method": info.name, "dataset": owner.get(img, where.get("train_set", "")),
                                  "image": img, "stage": "train", **where, "reason": reason})

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
                    self.store.save(sub, info.name, "within", "-", name, sp.name, "derived-from-all",
                                    info=info.metadata())
                    self.add(info, "within", name, name, sp.name, sub)
                continue
            n = c.repeats_for(info)
            if n < len(splits):
                self.split_limits[info.name] = n
            mine = splits[:n]
            for sp in tqdm(mine, desc=f"{info.name}: splits", disable=not c.progress or len(mine) == 1,
                           leave=False):
                tr, te = sp.frames(rec)
                df = self.predict(info, "within", name, name, sp.name, tr, te, sp.seed if sp.seed is not None else c.seed)
                self.add(info, "within", name, name, sp.name, df)

    def cross(self, data: dict[str, pd.DataFrame], methods: list[MethodInfo]) -> None:
        names = list(data)
        trainable = [m for m in methods if m.trainable]
        plans: list[CrossPlan] = cross_plans(names) + lodo_plans(names) + shared_type_plans(data)
        for plan in plans:
            train = pool_training_sets({n: data[n] for n in plan.train_sets})
            test = data[plan.test_set]
            if plan.restricts_train:
                train = train[train["dist_type"].isin(plan.types)].reset_index(drop=True)
            if plan.types:
                test = test[test["dist_type"].isin(plan.types)].reset_index(drop=True)
            # the same model as the one-vs-one plan when the training set is the whole of A
            same_model = plan.kind in (SHARED_TEST_ONLY, SHARED_BOTH) and len(train) == len(data[plan.train_sets[0]])
            for info in trainable:
                if info.kind == "FR" and not ((train["ref"] != "").all() and (test["ref"] != "").all()):
                    continue
                if same_model:
                    df = self._derived(info, plan)
                else:
                    df = self.predict(info, plan.kind, plan.train_name, plan.test_name, "all", train, test,
                                      self.cfg.seed)
                if plan.kind == "one-vs-one":
                    key = (info.name, plan.train_sets[0], plan.test_set)
                    self._cross_preds[key] = df if df is not None else self._last_reason(info)
                self.add(info, plan.kind, plan.train_name, plan.test_name, "all", df)

    def _last_reason(self, info: MethodInfo) -> str:
        for f in reversed(self.failed_attempts):
            if f["method"] == info.name:
                return f["reason"]
        return "failed"

    def _derived(self, info: MethodInfo, plan: CrossPlan) -> pd.DataFrame | None:
        """A shared-type plan whose model is the one-vs-one plan's: its predictions on the shared types."""
        got = self._cross_preds.get((info.name, plan.train_sets[0], plan.test_set))
        if got is None or isinstance(got, str):
            self._fail(info, plan.kind, plan.train_name, plan.test_name, "all",
                       got or "the one-vs-one model it reuses was not trained", log=False)
            return None
        sub = got[got["dist_type"].isin(plan.types)].reset_index(drop=True)
        self.store.save(sub, info.name, plan.kind, plan.train_name, plan.test_name, "all", "derived-from-one-vs-one",
                        info=info.metadata())
        return sub


def _metric_rows(results, mapping: str, failed=()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deprecated alias of :func:`benchmark.evaluation.metric_rows`."""
    return metric_rows(results, mapping, failed)


def checkpoint_dir(out: Path, info: MethodInfo, plan: str, train_name: str, test_name: str, split: str) -> Path:
    """Where a method keeps its checkpoints for one plan and split (``RunContext.work_dir``): under
    ``info.checkpoints_of`` when it shares another method's training runs, else under its own name."""
    return Path(out) / "checkpoints" / (info.checkpoints_of or info.name) / plan / f"{train_name}__{test_name}__{split}"


def failed_methods(metrics: pd.DataFrame) -> dict[str, str]:
    """Methods with at least one attempt and no result at all (no split with a defined value) -> reason."""
    out: dict[str, str] = {}
    if metrics.empty:
        return out
    for m, g in metrics.groupby("method", sort=False):
        if not g["status"].eq("ok").any():
            r = g.loc[g["reason"].astype(str) != "", "reason"]
            out[str(m)] = str(r.iloc[0]) if len(r) else "no result"
    return out


def run(cfg: RunConfig) -> RunResult:
    """Run a suite end to end and write tables, CSV/JSON, predictions and plots under ``cfg.out``.

    Configuration mistakes raise :class:`RunConfigError` before any work starts.
    """
    from . import report

    cfg.validate()
    t0 = time.perf_counter()
    r = _Runner(cfg)
    methods = select_methods(cfg.suite, cfg.methods)
    excluded = cpu_excluded(cfg, methods)     # named in --methods: refused by cfg.validate() above
    methods = [m for m in methods if m not in excluded]
    data, problems = resolve_datasets(cfg, r.log)
    r.failures += problems
    if not data:
        raise DatasetError("(all)", cfg.data_root, "no dataset could be loaded")
    r.resolve_weights(methods)
    r.log(f"suite {cfg.suite}: {len(methods)} methods on {len(data)} datasets "
          f"({', '.join(data)}), {cfg.repeats} splits where there is no official split")
    for name, rec in data.items():
        r.within(name, rec, methods)
    if cfg.do_cross and len(data) > 1:
        r.cross(data, methods)
    used: dict = {}
    metrics, per_type = metric_rows(r.results, cfg.mapping, r.failed_attempts,
                                    memo=load_metrics_memo(cfg.out).get("entries", {}), used=used, n_jobs=cfg.n_jobs)
    save_metrics_memo(cfg.out, used)
    # an image that failed is listed once (its first plan and split); a method failure once per attempt
    allf = pd.DataFrame(r.failures, columns=FAILURE_COLUMNS).fillna("")
    failures = pd.concat([allf[allf["image"] == ""].drop_duplicates(),
                          allf[allf["image"] != ""].drop_duplicates(["method", "dataset", "image", "stage", "reason"])],
                         ignore_index=True)
    no_result = failed_methods(metrics)
    wall = time.perf_counter() - t0
    meta = {"config": {k: v for k, v in asdict(cfg).items()}, "wall_s": wall, "python": platform.python_version(),
            "datasets": {k: {"n_images": len(v), "kind": get_dataset_info(k).kind,
                             "higher_better": bool(v["higher_better"].iloc[0])} for k, v in data.items()},
            "methods": [m.name for m in methods], "failed_methods": no_result,
            "method_info": {m.name: m.metadata() for m in methods},
            "split_limits": dict(r.split_limits), "repeats": cfg.repeats,
            "cpu_excluded": [m.name for m in excluded],
            "method_seconds": {k: round(v, 2) for k, v in sorted(r.seconds.items(), key=lambda kv: -kv[1])},
            "weights": {a: w.as_dict() for a, w in r.weights.items()}}
    if any(m.preset_dependent and m.trainable for m in methods):
        from .methods.base import deep_preset

        meta["deep_preset"] = deep_preset(r.ctx(cfg.seed, Path(cfg.out)))
    files, summary = report.write_all(Path(cfg.out), metrics, per_type, failures, meta, r.results,
                                      plots=cfg.plots, mapping=cfg.mapping, aggregate=cfg.aggregate)
    r.log(report.failure_summary(failures, no_result), always=not failures.empty or bool(no_result))
    r.log(f"wrote {len(files)} files to {cfg.out} in {wall:.1f} s")
    return RunResult(metrics, summary, per_type, failures, Path(cfg.out), files, wall, no_result)
