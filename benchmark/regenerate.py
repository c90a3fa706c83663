"""Rebuild metrics, tables and plots from a run's saved predictions (nothing is recomputed)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .methods.base import MethodInfo, get_method_info
from .storage import PredictionStore

__all__ = ["load_results", "regenerate"]


def _info(name: str, saved: dict | None = None) -> MethodInfo:
    """The method as the run saved it (``saved``: the prediction sidecar's or ``run.json``'s
    metadata), so a plugin's rows keep their label, group and direction without importing it; for
    files written before the metadata was saved, the registry's entry; else a bare row."""
    if saved:
        try:
            return MethodInfo.from_metadata(saved)
        except (KeyError, TypeError, ValueError):
            pass
    try:
        return get_method_info(name)
    except (KeyError, ImportError):  # a method no longer registered: keep its rows under its own name
        return MethodInfo.from_metadata({"name": name, "kind": "NR", "group": "NR hand-crafted", "suite": "classical"})


def _run_meta(out: Path) -> dict:
    p = Path(out) / "run.json"
    try:
        return json.loads(p.read_text()) if p.exists() else {}
    except (OSError, json.JSONDecodeError):
        return {}


def load_results(out: Path) -> list:
    """``(info, plan, train, test, split, predictions)`` for every saved per-split prediction file."""
    store = PredictionStore(out / "predictions")
    root = store.root
    saved = _run_meta(out).get("method_info") or {}
    infos: dict[str, MethodInfo] = {}
    results = []
    for csv in sorted(root.glob("*/*/*.csv")):
        method, plan = csv.parent.parent.name, csv.parent.name
        train, test, split = csv.stem.split("__")
        if plan == "within" and split == "all":
            continue  # a training-free metric's all-image file: its per-split subsets are listed too
        if train == "-":
            train = test
        df = pd.read_csv(csv, keep_default_na=False, na_values=[""], dtype={"content": str, "dist_type": str})
        df["dist_type"] = df["dist_type"].fillna("")
        if method not in infos:
            infos[method] = _info(method, store.method_info(csv) or saved.get(method))
        results.append((infos[method], plan, train, test, split, df))
    return results


def _in_run_order(results: list, meta: dict) -> list:
    """Sort saved results as the run listed them (its methods, then its datasets), so the
    regenerated tables have the run's row and column order rather than the folders' order."""
    methods = {m: i for i, m in enumerate(meta.get("methods") or [])}
    datasets = {d: i for i, d in enumerate(meta.get("datasets") or {})}
    plans = {"within": 0, "one-vs-one": 1, "lodo": 2, "shared-types-test": 3, "shared-types-both": 4}
    big = 10 ** 6

    def key(r):
        info, plan, train, test, split, _ = r
        return (methods.get(info.name, big), info.name, plans.get(plan, 9), datasets.get(test, big), test,
                datasets.get(train, big), train, split)

    return sorted(results, key=key)


def failed_attempts(failures: pd.DataFrame, meta: dict | None = None) -> list[dict]:
    """The attempts of a run that produced no prediction, from its ``failures.csv`` (stage ``method``);
    ``meta`` (``run.json``) supplies the methods' saved metadata."""
    if failures.empty or "stage" not in failures.columns:
        return []
    saved = (meta or {}).get("method_info") or {}
    out = []
    for _, f in failures[(failures["stage"] == "method") & (failures["image"] == "")].iterrows():
        info = _info(str(f["method"]), saved.get(str(f["method"])))
        out.append({"method": info.name, "label": info.display, "group": info.group, "kind": info.kind,
                    "plan": f["plan"], "train_set": f["train_set"], "test_set": f["dataset"], "split": f["split"],
                    "reason": f["reason"]})
    return out


def regenerate(out: Path, mapping: str = "logistic5", plots: bool = True, aggregate: str | None = None) -> list[Path]:
    """Rewrite metrics, tables and plots of the run in ``out`` from its saved predictions.

    ``aggregate`` defaults to the run's own (``run.json``), else the median.
    """
    from . import report
    from .evaluation import metric_rows

    out = Path(out)
    results = load_results(out)
    if not results:
        raise FileNotFoundError(f"no saved predictions under {out / 'predictions'}")
    meta = _run_meta(out)
    results = _in_run_order(results, meta)
    fail_path = out / "failures.csv"
    failures = pd.read_csv(fail_path, keep_default_na=False, dtype=str) if fail_path.exists() else pd.DataFrame(
        columns=["method", "dataset", "image", "stage", "plan", "train_set", "split", "reason"])
    n_jobs = (meta.get("config") or {}).get("n_jobs", -1)
    metrics, per_type = metric_rows(results, mapping, failed_attempts(failures, meta), n_jobs=n_jobs)
    if aggregate is None:
        aggregate = (meta.get("config") or {}).get("aggregate", "median")
    meta["regenerated"] = True
    files, _ = report.write_all(out, metrics, per_type, failures, meta, results, plots=plots, mapping=mapping,
                                aggregate=aggregate)
    return files
