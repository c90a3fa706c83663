"""Tables and plots of the analyses (built from a run's results; nothing here is edited by hand)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..tables import Table, _method_rows, cell_matrix
from . import significance as sig
from .severity import MAX_STEP, SUBJECTIVE, severity_frame, severity_summary

__all__ = ["intervals", "plots", "recognition_tables", "severity_tables", "shape_tables", "significance_tables"]


def intervals(results: list) -> pd.DataFrame:
    return sig.srocc_intervals(results)


def _labels(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics.drop_duplicates("method")[["method", "label", "group"]]


# ------------------------------------------------------------------------------------- significance
def significance_tables(results: list, metrics: pd.DataFrame, cfg: dict) -> list[tuple[str, Table, pd.DataFrame]]:
    out = []
    w = metrics[metrics["plan"] == "within"]
    test_size = float(cfg.get("test_size", 0.2) or 0.2)
    for ds in dict.fromkeys(w["test_set"]):
        pairs = sig.pairwise_tests(results, ds, metrics, test_size=test_size)
        if pairs.empty:
            continue
        tested = set(pairs["method_a"]) | set(pairs["method_b"])
        meta = _labels(w[(w["test_set"] == ds) & w["method"].isin(tested)])   # failed rows have no test
        methods, labels, groups = _method_rows(meta, None)
        M = sig.significance_matrix(pairs, methods)
        design = pairs["design"].iloc[0]
        if design == "splits":
            k = int(pairs["n"].max())
            how = (f"Wilcoxon signed-rank test on the per-split SROCCs of the same {k} content-disjoint splits "
                   f"(two-sided, exact), Holm-corrected over the {len(pairs)} pair(s) (family-wise "
                   f"alpha {sig.ALPHA})")
            notes = [f"With {k} splits the smallest attainable p is {2 / 2 ** k:.3g}; Holm's first threshold "
                     f"is {sig.ALPHA / len(pairs):.3g}" + (": no pair can be significant." if 2 / 2 ** k >=
                                                             sig.ALPHA / len(pairs) else ".")]
            fewer = pairs[pairs["n"] < k]
            if len(fewer):
                notes.append(f"{len(fewer)} pair(s) compared on fewer common splits (trained CNNs on a CPU), "
                             f"see the CSV.")
        else:
            n = int(pairs["n"].max())
            how = (f"paired bootstrap of the SROCC difference over the {n} test images of the official split "
                   f"({sig.N_BOOT} draws, seed {sig.SEED}; normal-approximation p from the bootstrap standard "
                   f"error), Holm-corrected over the {len(pairs)} pair(s) (family-wise alpha {sig.ALPHA})")
            notes = ["The CSV gives each pair's 95% percentile interval of the SROCC difference (uncorrected)."]
        t = Table(f"Significance matrix on {ds}", f"1: the row's SROCC is significantly higher than the "
                  f"column's; -1: significantly lower; 0: not significantly different. Test: {how}.",
                  labels, [(lab, "") for lab in labels], M, groups, bold_top=0, digits=0, notes=notes)
        out.append((f"significance_{ds}", t, pairs))
    return out


# ------------------------------------------------------------------------------------- severity
def severity_tables(results: list) -> tuple[list, pd.DataFrame]:
    frame = severity_frame(results)
    if frame.empty:
        return [], frame
    summ = severity_summary(frame)
    datasets = list(dict.fromkeys(summ["test_set"]))
    meta = summ.drop_duplicates("method")[["method", "label", "group"]].copy()
    meta["group"] = meta["group"].fillna("")
    real = meta[meta["method"] != SUBJECTIVE]
    methods, labels, groups = _method_rows(real, None)
    methods, labels, groups = [SUBJECTIVE] + methods, ["Subjective scores"] + labels, ["Reference"] + groups
    cols = [(d, m) for d in datasets for m in ("SROCC", "step 1", "step 2")]
    vals = np.full((len(methods), len(cols)), np.nan)
    idx = summ.set_index(["method", "test_set"])
    for i, m in enumerate(methods):
        for j, d in enumerate(datasets):
            if (m, d) in idx.index:
                r = idx.loc[(m, d)]
                vals[i, 3 * j:3 * j + 3] = [r["srocc"], r["acc_step1"], r["acc_step2"]]
    n_groups = summ[summ["method"] == SUBJECTIVE].set_index("test_set")
    notes = [f"{d}: {int(n_groups.at[d, 'n_groups'])} (content, type) groups with 3+ levels over "
             f"{int(n_groups.at[d, 'n_splits'])} split(s); {int(n_groups.at[d, 'pairs_step1'])} adjacent-level pairs."
             for d in datasets if d in n_groups.index]
    t = Table("Severity sensitivity on the same content", "Within each group of test images sharing content and "
              "distortion type: SROCC between predicted quality and negated severity level (mean over groups), and "
              "the fraction of image pairs one level step (step 1: adjacent levels) or two steps apart that the "
              "method orders correctly (ties count one half); mean over splits. 'Subjective scores' applies the "
              "same statistics to the dataset's own scores (Bianco et al., final remarks).",
              labels, cols, vals, groups, bold_top=0, notes=notes)
    return [("severity", t, summ)], frame


# ------------------------------------------------------------------------------------- recognition
def _context(cfg: dict):
    from ..methods.base import RunContext

    return RunContext(cache_dir=cfg.get("cache_dir", True), n_jobs=1, quick=bool(cfg.get("quick")),
                      weights=dict(cfg.get("weights") or {}), device=cfg.get("device"), seed=int(cfg.get("seed", 0)),
                      progress=False, offline=cfg.get("offline"))


def _datasets_and_splits(names: list[str], cfg: dict) -> tuple[dict, list[str]]:
    from ..datasets import load_dataset
    from ..protocol import plan_splits
    from ..runner import QUICK_DATASET_OPTIONS, RunConfig

    out, notes = {}, []
    known = {k: v for k, v in cfg.items() if k in RunConfig.__dataclass_fields__}
    rc = RunConfig(**known)
    for name in names:
        opts = dict((rc.dataset_options or {}).get(name, {}))
        if rc.quick:
            for k, v in QUICK_DATASET_OPTIONS.get(name, {}).items():
                opts.setdefault(k, v)
        try:
            rec = load_dataset(name, data_root=rc.data_root, **opts)
            splits = plan_splits(rec, rc.protocol, n_repeats=rc.repeats, test_size=rc.test_size, seed=rc.seed)
        except Exception as exc:  # noqa: BLE001 - the analysis must not end the run
            notes.append(f"{name}: records not reloaded for recognition ({type(exc).__name__}: {exc})")
            continue
        out[name] = (rec, splits)
    return out, notes


def recognition_tables(metrics: pd.DataFrame, cfg: dict):
    from .recognition import MAJORITY, feature_sets, recognition_frame

    w = metrics[metrics["plan"] == "within"]
    typed = [d for d in dict.fromkeys(w["test_set"])]
    if not typed or not cfg:
        return [], None, []
    methods = list(dict.fromkeys(w["method"]))
    sets, skipped = feature_sets(methods, _context(cfg))
    if not sets:
        return [], None, []
    data, notes = _datasets_and_splits(typed, cfg)
    res = recognition_frame(data, sets, quick=bool(cfg.get("quick")), seed=int(cfg.get("seed", 0)))
    if res.accuracy.empty:
        return [], res, notes
    acc = res.accuracy.groupby(["method", "dataset"], sort=False)["accuracy"].mean().reset_index()
    labels_of = dict(zip(res.accuracy["method"], res.accuracy["label"]))
    order = [MAJORITY] + [fs.method for fs in sets if fs.method in labels_of]
    datasets = list(dict.fromkeys(acc["dataset"]))
    vals = cell_matrix(acc.set_index(["method", "dataset"])["accuracy"], order, datasets)
    n_types = {d: data[d][0]["dist_type"].nunique() for d in datasets}
    n_splits = res.accuracy.groupby("dataset")["split"].nunique().to_dict()
    tnotes = [f"{d}: {n_types[d]} distortion types, {n_splits[d]} split(s)." for d in datasets]
    tnotes += [f"{d}: {m} left out: {why}" for (d, m), why in res.skipped.items()]
    how = ("C = 10 (--quick: no search)" if cfg.get("quick")
           else "C by grouped cross-validation on the training contents")
    t = Table("Distortion-type recognition", f"Accuracy of an SVC (RBF; {how}) predicting the distortion type "
              "from each method's features, on the run's content-disjoint splits (mean over splits). "
              "'Majority class' predicts the training split's most frequent type. Confusion matrices: recognition_confusion.csv and plots/recognition_<dataset>.png.",
              [labels_of.get(m, m) if m != MAJORITY else "Majority class" for m in order],
              [(d, "") for d in datasets], vals, ["Reference"] + ["Features"] * (len(order) - 1), bold_top=1,
              notes=tnotes)
    return [("recognition", t, res.accuracy)], res, notes + [f"{m}: not a feature set ({why})"
                                                               for m, why in skipped.items()]


# ------------------------------------------------------------------------------------- paper table shapes
def shape_tables(results: list, summary: pd.DataFrame) -> list[tuple[str, Table, pd.DataFrame | None]]:
    from ..tables import cross_matrix_table, lodo_best_table
    from .shapes import cross_per_distortion_tables, tid2013_group_table

    out = []
    if summary is not None and not summary.empty and (summary["plan"] == "one-vs-one").any():
        ds = list(dict.fromkeys(list(summary.loc[summary["plan"] == "within", "test_set"]) +
                                list(summary.loc[summary["plan"] == "one-vs-one", "train_set"])))
        t = cross_matrix_table(summary, ds, metric="plcc", caption=(
            "Cross-dataset PLCC (after the 5-parameter logistic) as Yang et al. Table 2: train on all images of the "
            "row's dataset, test on all images of the column's; the diagonal is the single-dataset median."))
        out.append(("cross_dataset_plcc", t, None))
        if (summary["plan"] == "lodo").any():
            for metric in ("plcc", "srocc"):
                out.append((f"leave_one_out_best_{metric}", lodo_best_table(summary, metric=metric, caption=(
                    f"Leave-one-dataset-out {metric.upper()} (train on every other dataset) as Yang et al. Table 3, "
                    f"with the best one-vs-one {metric.upper()} for each test set.")), None))
    out += cross_per_distortion_tables(results)
    g = tid2013_group_table(results)
    if g is not None:
        out.append(g)
    return out


# ------------------------------------------------------------------------------------- plots
def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from ..storage import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plots(folder: Path, sev_frame: pd.DataFrame | None, rec: Any) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    if sev_frame is not None and not sev_frame.empty:
        summ = severity_summary(sev_frame)
        for ds, g in summ.groupby("test_set", sort=False):
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            steps = np.arange(1, MAX_STEP + 1)
            for k, r in enumerate(g.itertuples()):
                y = [getattr(r, f"acc_step{s}") for s in steps]
                subj = r.method == SUBJECTIVE
                ax.plot(steps, y, marker="o", lw=2.5 if subj else 1.2, color="k" if subj else f"C{k % 10}",
                        ls="--" if subj else "-", label=str(r.label))
            ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
            ax.set_xticks(steps)
            ax.set_xlabel("level step between the two images (same content and type)")
            ax.set_ylabel("pairs ordered correctly")
            ax.set_ylim(0.0, 1.02)
            ax.set_title(f"{ds}: severity sensitivity", fontsize=10)
            ax.legend(fontsize=6, ncol=2, loc="lower right")
            files.append(_save(fig, folder / f"severity_{ds}.png"))
    if rec is not None and not rec.confusion.empty:
        for ds, g in rec.confusion.groupby("dataset", sort=False):
            methods = list(dict.fromkeys(g["method"]))
            types = sorted(set(g["true"]) | (set(g["predicted"]) - {""}))
            cols = min(4, len(methods))
            rows = int(np.ceil(len(methods) / cols))
            fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.9 * rows), squeeze=False)
            for ax, m in zip(axes.flat, methods):
                c = g[g["method"] == m].pivot_table(index="true", columns="predicted", values="count",
                                                    aggfunc="sum", fill_value=0)
                c = c.reindex(index=types, columns=types, fill_value=0).to_numpy(float)
                c = c / np.maximum(c.sum(1, keepdims=True), 1)
                ax.imshow(c, vmin=0, vmax=1, cmap="Blues")
                acc = rec.accuracy[(rec.accuracy["dataset"] == ds) & (rec.accuracy["method"] == m)]
                lab = acc["label"].iloc[0] if len(acc) else m
                ax.set_title(f"{lab}: {acc['accuracy'].mean():.2f}" if len(acc) else lab, fontsize=7)
                ax.set_xticks(range(len(types)), types, rotation=90, fontsize=5)
                ax.set_yticks(range(len(types)), types, fontsize=5)
            for ax in list(axes.flat)[len(methods):]:
                ax.set_visible(False)
            fig.suptitle(f"{ds}: distortion-type confusion (rows: true, columns: predicted; row-normalised)",
                         fontsize=9)
            fig.tight_layout()
            files.append(_save(fig, folder / f"recognition_{ds}.png"))
    return files


