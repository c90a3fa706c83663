"""Writes a run's outputs: tidy CSV/JSON, Markdown/LaTeX tables, plots, the failure report.

Layout under the output folder::

    tables.md, tables.tex          every table of the run, in order
    tables/<name>.md|.tex          each table on its own
    metrics.csv, metrics.json      one row per method x plan x train set x test set x split
    summary.csv                    median / mean / std over splits
    per_distortion.csv             SROCC within each distortion type, per split
    failures.csv                   images (or whole methods) that failed, with the reason
    run.json                       configuration, datasets, wall time
    predictions/...                per-split predictions (see benchmark.storage)
    plots/scatter_<dataset>.png    predicted vs subjective with the fitted logistic, per method
    plots/srocc_<dataset>.png      SROCC bar chart by method
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .datasets import get_dataset_info
from .storage import atomic_to_csv, atomic_write_bytes, atomic_write_text
from .tables import (Table, column_table, cross_matrix_table, per_distortion_table, single_dataset_table,
                     summarise)

__all__ = ["write_all", "build_tables", "failure_summary", "SYNTH_NOTE"]

SYNTH_NOTE = ("synth: the built-in dataset's score is the distortion severity level (1-5, lower is better), "
              "not a human opinion; its correlations measure agreement with the severity ordering.")


def _caption(base: str, datasets: list[str]) -> str:
    parts = [base]
    if "synth" in datasets:
        parts.append(SYNTH_NOTE)
    return " ".join(parts)


def _kind(name: str) -> str:
    try:
        return get_dataset_info(name).kind
    except KeyError:
        return ""


def _deep_trained(method: str) -> bool:
    from .methods.base import get_method_info

    try:
        info = get_method_info(method)
    except (KeyError, ValueError):
        return False
    return info.trainable and info.suite == "deep"


def _label(method: str) -> str:
    from .methods.base import get_method_info

    try:
        return get_method_info(method).display
    except KeyError:
        return method


def build_tables(metrics: pd.DataFrame, per_type: pd.DataFrame, deep_preset: str | None = None,
                 cpu_excluded: list[str] | tuple[str, ...] = (),
                 quick: bool = False) -> tuple[list[tuple[str, Table]], pd.DataFrame]:
    """Every table a run's metrics support, as ``(file stem, Table)``; and the summary frame.

    ``deep_preset`` (``"cpu"``/``"quick"``) adds a note on the CPU presets of the deep rows;
    ``cpu_excluded`` (method names) a note on the trained CNNs a CPU run left out and how to
    include them; ``quick`` a note that the table is a smoke test of the pipeline, not results.
    """
    if metrics.empty:
        return [], pd.DataFrame()
    summary = summarise(metrics)
    tables: list[tuple[str, Table]] = []
    within = summary[summary["plan"] == "within"]
    datasets = list(dict.fromkeys(within["test_set"]))
    if datasets:
        n_splits = within.groupby("test_set")["n_splits"].max().to_dict()
        how = ", ".join(f"{d}: {'official split' if n_splits[d] == 1 else f'median of {n_splits[d]} splits'}"
                        for d in datasets)
        t = single_dataset_table(summary, datasets, caption=_caption(
            f"SROCC and PLCC (after 5-parameter logistic mapping) on the test sets of content-disjoint "
            f"80/20 splits ({how}); top three per column in bold.", datasets))
        for d in datasets:
            fewer = within[(within["test_set"] == d) & (within["n_splits"] < n_splits[d])]
            for k, g in fewer.groupby("n_splits"):
                labels = ", ".join(g["label"].astype(str))
                t.notes.append(f"{d}: {labels}: median of {int(k)} split(s) only (trained CNNs on a CPU).")
        if quick:
            t.notes.append("--quick: a smoke test of the pipeline (tiny presets: few splits, codebooks, crops, "
                           "patches and epochs), not results; run without --quick for the benchmark's numbers.")
        elif deep_preset == "cpu":
            deep = [str(lab) for m, lab in zip(within["method"], within["label"]) if _deep_trained(m)]
            if deep:
                t.notes.append(f"{', '.join(dict.fromkeys(deep))}: the 'cpu' presets of a run without a GPU "
                               f"(smaller inputs or fewer patches than the papers', trained until early stopping "
                               f"on a validation split of the training split); see the README.")
        if cpu_excluded:
            labels = ", ".join(_label(m) for m in cpu_excluded)
            t.notes.append(f"Not in this CPU run: {labels} (too slow to converge on a few CPU cores); run "
                           f"`--suite deep` on a GPU, or add `--cpu-train` (hours per split on 2 cores).")
        tables.append(("single_dataset", t))
    cross_ds = list(dict.fromkeys(summary.loc[summary["plan"] == "one-vs-one", "train_set"]))
    if cross_ds:
        ds = list(dict.fromkeys(datasets + cross_ds))
        tables.append(("cross_dataset", cross_matrix_table(summary, ds, caption=_caption(
            "Cross-dataset SROCC: train on all images of the row's dataset, test on all images of the column's; "
            "the diagonal is the single-dataset median. Methods without a cross-dataset result (training-free "
            "metrics, whose score does not depend on a training set) are not listed.", ds))))
    if (summary["plan"] == "lodo").any():
        tables.append(("leave_one_out", column_table(summary, "lodo", metrics=("srocc", "plcc"),
                                                     title="Leave-one-dataset-out", caption=_caption(
            "Train on every other dataset, test on the column's dataset (SROCC, PLCC).", datasets))))
    if (summary["plan"] == "shared-types").any():
        s = summary[summary["plan"] == "shared-types"].copy()
        s["pair"] = s["train_set"] + " → " + s["test_set"]
        tables.append(("shared_types", column_table(s, "shared-types", columns="pair", metrics=("srocc", "plcc"),
                                                    title="Cross-dataset on shared distortion types",
                                                    caption="Both sides restricted to the distortion types the "
                                                            "two datasets share (Bosse et al. Table II).")))
    o = summary[summary["plan"] == "one-vs-one"].copy()
    if not o.empty:
        o = o[o["train_set"].map(_kind).eq("synthetic") & o["test_set"].map(_kind).eq("authentic")]
        if not o.empty:
            o["plan"] = "synthetic-to-authentic"
            o["pair"] = o["train_set"] + " → " + o["test_set"]
            tables.append(("synthetic_to_authentic", column_table(
                o, "synthetic-to-authentic", columns="pair", metrics=("srocc", "plcc"),
                title="Synthetic-to-authentic", caption=_caption(
                    "Trained on all images of a synthetic-distortion dataset, tested on all images of an "
                    "authentic-distortion dataset (SROCC, PLCC).", list(o["train_set"])))))
    if per_type is not None and not per_type.empty:
        for d in dict.fromkeys(per_type["test_set"]):
            tables.append((f"per_distortion_{d}", per_distortion_table(per_type, d, caption=_caption(
                f"SROCC within each distortion type of {d} (median over splits).", [d]))))
    return tables, summary


def write_all(out: Path, metrics: pd.DataFrame, per_type: pd.DataFrame, failures: pd.DataFrame,
              meta: dict[str, Any], results: list, plots: bool = True, mapping: str = "logistic5"):
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    tables, summary = build_tables(metrics, per_type, deep_preset=meta.get("deep_preset"),
                                   cpu_excluded=meta.get("cpu_excluded") or (),
                                   quick=bool((meta.get("config") or {}).get("quick")))
    md = ["# iqabench results", ""]
    tex = ["% iqabench results (generated; do not edit)", "% needs \\usepackage{booktabs}", ""]
    for stem, t in tables:
        files.append(atomic_write_text(out / "tables" / f"{stem}.md", t.to_markdown()))
        files.append(atomic_write_text(out / "tables" / f"{stem}.tex", t.to_latex()))
        md.append(t.to_markdown())
        tex.append(t.to_latex())
    files.append(atomic_write_text(out / "tables.md", "\n".join(md)))
    files.append(atomic_write_text(out / "tables.tex", "\n".join(tex)))
    files.append(atomic_to_csv(metrics, out / "metrics.csv"))
    files.append(atomic_write_text(out / "metrics.json", metrics.to_json(orient="records", indent=1)))
    files.append(atomic_to_csv(summary, out / "summary.csv"))
    files.append(atomic_to_csv(per_type if per_type is not None else pd.DataFrame(), out / "per_distortion.csv"))
    files.append(atomic_to_csv(failures, out / "failures.csv"))
    files.append(atomic_write_text(out / "run.json", json.dumps(meta, indent=1, default=str)))
    if plots and results:
        files += write_plots(out / "plots", metrics, results, mapping)
    return files, summary


def write_plots(folder: Path, metrics: pd.DataFrame, results: list, mapping: str) -> list[Path]:
    """Scatter (predicted vs subjective, fitted logistic) per dataset; SROCC bars by method."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluation import fit_logistic, orient

    files: list[Path] = []
    by_ds: dict[str, list] = {}
    for info, plan, _train, test, split, df in results:
        if plan != "within":
            continue
        by_ds.setdefault(test, [])
        if split in ("official", "r00", "all") and all(x[0].name != info.name for x in by_ds[test]):
            by_ds[test].append((info, split, df))

    def save(fig, path):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        return atomic_write_bytes(path, buf.getvalue())

    for ds, items in by_ds.items():
        if not items:
            continue
        n = len(items)
        cols = min(4, n)
        rows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
        for ax, (info, split, df) in zip(axes.flat, items):
            d = df[np.isfinite(df["y_pred"])]
            if len(d) < 3:
                ax.set_visible(False)
                continue
            phb, thb = bool(d["pred_higher_better"].iloc[0]), bool(d["true_higher_better"].iloc[0])
            x_raw, y_raw = d["y_pred"].to_numpy(float), d["y_true"].to_numpy(float)
            ax.scatter(x_raw, y_raw, s=6, alpha=0.5)
            p, y = orient(x_raw, phb), orient(y_raw, thb)
            if np.ptp(p) > 0:
                # the logistic is fitted on the oriented values (as evaluated), drawn in raw units
                fit = fit_logistic(p, y, mapping)
                xs = np.linspace(x_raw.min(), x_raw.max(), 200)
                ax.plot(xs, orient(fit(orient(xs, phb)), thb), color="C3", lw=1.5)
            ax.set_title(f"{info.display} ({split})", fontsize=8)
            ax.set_xlabel(f"prediction ({'higher' if phb else 'lower'} = better)", fontsize=7)
            ax.set_ylabel(f"subjective ({'higher' if thb else 'lower'} = better)", fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        fig.suptitle(f"{ds}: predicted vs subjective, with the fitted {mapping}", fontsize=10)
        fig.tight_layout()
        files.append(save(fig, folder / f"scatter_{ds}.png"))

    w = metrics[metrics["plan"] == "within"] if not metrics.empty else metrics
    for ds in dict.fromkeys(w["test_set"]) if not w.empty else []:
        s = w[w["test_set"] == ds].groupby(["label"], sort=False)["srocc"].median().sort_values()
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(s) + 1.2))
        ax.barh(list(s.index), s.to_numpy(), color="C0")
        ax.set_xlabel("SROCC (median over splits)")
        ax.set_xlim(min(0.0, float(s.min()) - 0.05), 1.0)
        ax.set_title(f"{ds}: SROCC by method", fontsize=10)
        files.append(save(fig, folder / f"srocc_{ds}.png"))
    return files


def failure_summary(failures: pd.DataFrame, failed_methods: dict[str, str]) -> str:
    """The end-of-run report of what failed and why."""
    if failures.empty and not failed_methods:
        return "no failures"
    lines = ["failures:"]
    for m, reason in failed_methods.items():
        lines.append(f"  method {m}: {reason}")
    img = failures[failures["image"] != ""]
    for (m, d), g in img.groupby(["method", "dataset"]):
        lines.append(f"  {m} on {d}: {len(g)} image(s) skipped, e.g. {g['image'].iloc[0]}: {g['reason'].iloc[0]}")
    ds = failures[(failures["image"] == "") & (failures["method"] == "")]
    for _, row in ds.iterrows():
        lines.append(f"  dataset {row['dataset']}: {row['reason'].splitlines()[0]}")
    return "\n".join(lines)
