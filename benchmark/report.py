"""Writes a run's outputs: tidy CSV/JSON, Markdown/LaTeX tables, plots, the failure report.

Layout under the output folder::

    tables.md, tables.tex          every table of the run, in order
    tables/<name>.md|.tex          each table on its own
    metrics.csv, metrics.json      one row per method x plan x train set x test set x split
    summary.csv                    median / mean / std over splits, split counts, failure reasons
    per_distortion.csv             SROCC within each distortion type, per split
    failures.csv                   images (training or test), method attempts and datasets that failed
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
from .protocol import SHARED_BOTH, SHARED_TEST_ONLY
from .tables import (Table, column_table, cross_matrix_table, per_distortion_table, single_dataset_table,
                     summarise)

__all__ = ["write_all", "build_tables", "failure_summary", "SYNTH_NOTE", "plcc_note", "short_reason"]

SYNTH_NOTE = ("synth: the built-in dataset's score is the distortion severity level (1-5, lower is better), "
              "not a human opinion; its correlations measure agreement with the severity ordering.")


MAPPING_NAMES = {"logistic5": "5-parameter logistic of Sheikh et al. 2006",
                 "logistic4": "4-parameter VQEG logistic"}


def plcc_note(mapping: str) -> str:
    """What the PLCC columns hold (stated under every table that shows them)."""
    from .evaluation import MONOTONIC_ALPHA

    return (f"PLCC: after a monotonic {MAPPING_NAMES[mapping]} fitted on each test set when the predictor is "
            f"monotonic beyond chance (Spearman p < {MONOTONIC_ALPHA:g}), otherwise after a straight line (then "
            f"equal to the plain PLCC); PLCC raw: plain Pearson correlation of the predictions, no mapping "
            f"(as Yang et al. and Bianco et al. report).")


DASH_NOTE = ("A dash: no result attempted (an FR metric on a dataset without references; cross-dataset plans "
             "are for trainable methods); 'failed': attempted without a result (reason in the notes and "
             "failures.csv).")


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


def _info(method: str, meta: dict | None = None):
    """The method's metadata: as the run saved it (``run.json`` ``method_info``), else the registry's."""
    from .methods.base import MethodInfo, get_method_info

    saved = ((meta or {}).get("method_info") or {}).get(method)
    if saved:
        try:
            return MethodInfo.from_metadata(saved)
        except (KeyError, TypeError, ValueError):
            pass
    try:
        return get_method_info(method)
    except (KeyError, ValueError, ImportError):
        return None


def _deep_trained(method: str, preset: str | None = None, meta: dict | None = None) -> bool:
    """Whether the method trains a network whose ``preset`` schedule the table note must state
    (the ImageNet transfer rows' 'cpu' preset is the papers' recipe: no note)."""
    info = _info(method, meta)
    if info is None:
        return False
    if preset == "cpu" and info.backbone:
        return False
    return bool(info.trains_network)


def short_reason(reason: str, width: int = 90, gist: bool = True) -> str:
    """A failure reason in a few words: its first line, without the exception class and without the
    details after the first ``": "``, cut to ``width`` characters (``failures.csv`` has all of it)."""
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else "unknown reason"
    head, sep, rest = text.partition(": ")
    if sep and head.replace("_", "").isalnum() and head[:1].isupper() and " " not in head:
        text = rest
    head, sep, _ = text.partition(": ")          # "no resnet50 weights offline: pass --weights ..." -> the gist
    if gist and sep and len(head) >= 12:
        text = head
    if gist and "; " in text and len(text.split("; ")[0]) >= 12:
        text = text.split("; ")[0]
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _plain(name: str) -> str:
    """A plan's train/test name without its type list (``tid2013[jpeg,...]`` -> ``tid2013``)."""
    return str(name).split("[", 1)[0]


def _split_counts(within: pd.DataFrame, d: str) -> int:
    """The split count the caption states for dataset ``d``: the most any row attempted."""
    w = within[within["test_set"] == d]
    return int(w["n_attempted"].max()) if len(w) else 0


def _within_notes(t: Table, within: pd.DataFrame, datasets: list[str], expected: dict[str, int],
                  split_limits: dict[str, int], stat: str) -> None:
    """Notes for cells aggregating fewer splits than the caption states, and for failed cells."""
    has = within[within["n_splits"] > 0]
    limited = [m for m in dict.fromkeys(has["method"]) if m in split_limits]
    if limited:
        labels = ", ".join(dict.fromkeys(str(has.loc[has["method"] == m, "label"].iloc[0]) for m in limited))
        ks = sorted({split_limits[m] for m in limited})
        t.notes.append(f"{labels}: networks trained on a CPU are trained and tested on the first "
                       f"{'/'.join(map(str, ks))} split(s) only (every split on a CUDA device), to keep a 2-core run "
                       f"short; methods that only extract features (features + SVR) use every split.")
    failed: dict[tuple[str, str], list[str]] = {}       # (dataset, reason) -> labels: one note per reason
    for d in datasets:
        w = within[within["test_set"] == d]
        for _, row in w.iterrows():
            n, lab = int(row["n_splits"]), str(row["label"])
            if n == 0:
                if int(row["n_failed_splits"]) > 0:
                    failed.setdefault((d, short_reason(row["reason"])), []).append(lab)
                elif int(row["n_undefined"]) > 0:
                    t.notes.append(f"{lab} on {d}: no split with a defined correlation "
                                   f"({short_reason(row['reason'])}).")
                continue
            parts = []
            if int(row["n_undefined"]):
                parts.append(f"{int(row['n_undefined'])} with an undefined correlation "
                             f"({short_reason(row['reason'], 60)})")
            if int(row["n_failed_splits"]):
                parts.append(f"{int(row['n_failed_splits'])} failed ({short_reason(row['reason'], 60)})")
            if parts:
                t.notes.append(f"{lab} on {d}: {stat} of {n} of {int(row['n_attempted'])} splits; left out: "
                               f"{'; '.join(parts)}.")
    for (d, reason), failed_labels in failed.items():
        t.notes.append(f"{', '.join(failed_labels)} on {d}: failed ({reason}).")
    lin = within[within.get("n_linear", pd.Series(0, index=within.index)).fillna(0) > 0]
    if len(lin):
        cells = ", ".join(f"{row['label']} on {row['test_set']} ({int(row['n_linear'])} of {int(row['n_splits'])})"
                          for _, row in lin.iterrows())
        t.notes.append(f"PLCC after a straight line, the predictor not being monotonic beyond chance, in: {cells} "
                       f"split(s).")


def _common_split_metrics(metrics: pd.DataFrame, datasets: list[str]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Within-dataset metric rows restricted, per dataset, to the splits every method with a result has."""
    w = metrics[(metrics["plan"] == "within") & metrics["status"].eq("ok")]
    keep, common = [], {}
    for d in datasets:
        wd = w[w["test_set"] == d]
        sets = [set(g["split"]) for _, g in wd.groupby("method", sort=False)]
        if not sets:
            continue
        c = set.intersection(*sets)
        common[d] = sorted(c)
        keep.append(wd[wd["split"].isin(c)])
    return (pd.concat(keep, ignore_index=True) if keep else w.iloc[:0]), common


def build_tables(metrics: pd.DataFrame, per_type: pd.DataFrame, deep_preset: str | None = None, *,
                 aggregate: str = "median", mapping: str = "logistic5",
                 meta: dict | None = None) -> tuple[list[tuple[str, Table]], pd.DataFrame]:
    """Every table a run's metrics support, as ``(file stem, Table)``; and the summary frame.

    ``aggregate`` (``"median"`` or ``"mean"`` over splits) and ``mapping`` are stated in every
    caption.  ``deep_preset`` (``"cpu"``/``"quick"``) adds a note that the deep rows were
    trained with a short CPU schedule.  ``meta`` (the run's ``run.json``) supplies the method
    list (every method gets its row, even one without any result), ``split_limits`` and the backbone
    weights and crop presets of the deep transfer rows (:func:`benchmark.methods.deep_transfer.table_notes`),
    ``cpu_excluded`` (the trained CNNs a CPU run left out: a note on how to include them) and
    ``config.quick`` (a note that the table is a smoke test of the pipeline, not results).
    """
    from .tables import _check_stat

    _check_stat(aggregate)
    if metrics.empty:
        return [], pd.DataFrame()
    meta = meta or {}
    stat = aggregate
    summary = summarise(metrics)
    tables: list[tuple[str, Table]] = []
    order = list(meta.get("methods") or [])
    within = summary[summary["plan"] == "within"].copy()
    datasets = list(dict.fromkeys(within["test_set"]))
    split_limits = dict(meta.get("split_limits") or {})
    if datasets:
        # every method of the run gets its row, even one that was attempted nowhere (dashes)
        absent = [m for m in order if m not in set(within["method"])]
        extra = []
        for m in absent:
            info = _info(m, meta)
            extra.append({"method": m, "plan": "within", "train_set": datasets[0], "test_set": datasets[0],
                          "label": info.display if info else m, "group": info.group if info else "",
                          "n_splits": 0, "n_undefined": 0, "n_failed_splits": 0, "n_attempted": 0})
        if extra:
            within = pd.concat([within, pd.DataFrame(extra)], ignore_index=True)
        expected = {d: _split_counts(within, d) for d in datasets}
        w_splits = metrics[metrics["plan"] == "within"].groupby("test_set")["split"].agg(set).to_dict()

        def how_of(d: str) -> str:
            if w_splits.get(d) == {"official"}:
                return "its official split"
            n = expected[d]
            return f"{stat} of {n} random split{'s' if n != 1 else ''}"

        how = ", ".join(f"{d}: {how_of(d)}" for d in datasets)
        t = single_dataset_table(within, datasets, stat=stat, method_order=order, expected_splits=expected,
                                 caption=_caption(
            f"SROCC, PLCC and plain PLCC on the test sets of each dataset's official split or of content-disjoint "
            f"random 80/20 splits ({how}); a number "
            f"followed by (k) aggregates k splits instead; top three per column in bold. {plcc_note(mapping)} "
            f"{DASH_NOTE}", datasets))
        _within_notes(t, within, datasets, expected, split_limits, stat)
        if bool((meta.get("config") or {}).get("quick")):
            t.notes.append("--quick: a smoke test of the pipeline (tiny presets: few splits, codebooks, crops, "
                           "patches and epochs), not results; run without --quick for the benchmark's numbers.")
        elif deep_preset == "cpu":
            has = within[within["n_splits"] > 0]
            deep = [str(lab) for m, lab in zip(has["method"], has["label"]) if _deep_trained(m, deep_preset, meta)]
            if deep:
                t.notes.append(f"{', '.join(dict.fromkeys(deep))}: the 'cpu' presets of a run without a GPU "
                               f"(smaller inputs or fewer patches than the papers', trained until early stopping "
                               f"on a validation split of the training split); see the README.")
        excluded = list(meta.get("cpu_excluded") or ())
        if excluded:
            labels = ", ".join(_info(m, meta).display if _info(m, meta) else m for m in excluded)
            t.notes.append(f"Not in this CPU run: {labels} (too slow on a few CPU cores: each needs more than "
                           f"10 CPU-minutes even on synth); run `--suite deep` on a GPU, or add `--cpu-train` "
                           f"(README: 'Trained CNNs on a CPU').")
        if meta:
            from .methods.deep_transfer import table_notes

            rows = within[within["n_splits"] > 0].drop_duplicates("method")   # rows with a result
            t.notes += table_notes(list(rows["method"]), [str(x) for x in rows["label"]], meta)
        t.notes += [str(n) for n in (meta.get("config") or {}).get("notes") or ()]
        tables.append(("single_dataset", t))
        # rows over different splits: the same comparison on the splits every row has
        ok_rows = within[within["n_splits"] > 0]
        mixed = [d for d in datasets
                 if ok_rows.loc[ok_rows["test_set"] == d, "splits"].nunique() > 1]
        if mixed:
            sub, common = _common_split_metrics(metrics, mixed)
            if not sub.empty:
                cs = summarise(sub)
                cs_datasets = [d for d in mixed if common.get(d)]
                desc = "; ".join(f"{d}: {stat} of {len(common[d])} split(s) ({', '.join(common[d])})"
                                 for d in cs_datasets)
                t2 = single_dataset_table(cs, cs_datasets, stat=stat, method_order=order,
                                          title="Single-dataset performance on the splits common to every row",
                                          expected_splits={d: len(common[d]) for d in cs_datasets},
                                          caption=_caption(
                    f"The single-dataset comparison restricted to the splits that every row with a result has "
                    f"({desc}), so that all rows aggregate the same test sets. {plcc_note(mapping)}", cs_datasets))
                tables.append(("single_dataset_common_splits", t2))
                t.notes.append(f"Rows aggregate different splits on {', '.join(mixed)}; "
                               f"'single_dataset_common_splits' compares every row on the splits they share.")
    cross_ds = list(dict.fromkeys(summary.loc[summary["plan"] == "one-vs-one", "train_set"]))
    if cross_ds:
        ds = list(dict.fromkeys(datasets + cross_ds))
        tables.append(("cross_dataset", cross_matrix_table(summary, ds, stat=stat, method_order=order, caption=_caption(
            f"Cross-dataset SROCC: train on all images of the row's dataset, test on all images of the column's "
            f"(one run per cell); the diagonal is the single-dataset {stat} over splits. Methods without a "
            f"cross-dataset result (training-free metrics, whose score does not depend on a training set) are not "
            f"listed. Training sets pooled from several datasets (leave-one-out) have each dataset's scores "
            f"min-max scaled to [0, 1] on its own range. {DASH_NOTE}", ds))))
    three = ("srocc", "plcc", "plcc_raw")
    if (summary["plan"] == "lodo").any():
        tables.append(("leave_one_out", column_table(summary, "lodo", metrics=three, stat=stat, method_order=order,
                                                     title="Leave-one-dataset-out", caption=_caption(
            f"Train on every other dataset, test on the column's dataset (one run per cell). The pooled training "
            f"set has each dataset's scores turned to higher-is-better and min-max scaled to [0, 1] on that "
            f"dataset's own range (after Bosse et al. 2018, Sec. IV-B, who rescale TID2013 and CSIQ to LIVE's "
            f"range), and content ids prefixed with the dataset's name. {plcc_note(mapping)}", datasets))))
    for plan, stem, title, cap in (
            (SHARED_TEST_ONLY, "shared_types_test", "Cross-dataset on shared distortion types (test set restricted)",
             "Trained on all images of A, tested on the images of B whose distortion type A also has (the protocol "
             "of Bosse et al. 2018, Table II: trained on the full LIVE, tested on the CSIQ and TID2013 subsets "
             "with the four types shared with LIVE). One run per cell; the types of each pair are in the notes."),
            (SHARED_BOTH, "shared_types_both", "Cross-dataset on shared distortion types (both sides restricted)",
             "Trained only on the images of A with a distortion type B also has, tested on the same types of B "
             "(a stricter variant than Bosse et al. Table II, which trains on all of A). One run per cell; the "
             "types of each pair are in the notes.")):
        s = summary[summary["plan"] == plan].copy()
        if s.empty:
            continue
        s["pair"] = s["train_set"].map(_plain) + " → " + s["test_set"].map(_plain)
        t = column_table(s, plan, columns="pair", metrics=three, stat=stat, method_order=order, title=title,
                         caption=_caption(f"{cap} {plcc_note(mapping)}",
                                          list(s["train_set"].map(_plain)) + list(s["test_set"].map(_plain))))
        for pair, test in dict(zip(s["pair"], s["test_set"])).items():
            types = str(test).partition("[")[2].rstrip("]")
            t.notes.append(f"{pair}: {types.replace(',', ', ')}.")
        tables.append((stem, t))
    o = summary[summary["plan"] == "one-vs-one"].copy()
    if not o.empty:
        o = o[o["train_set"].map(_kind).eq("synthetic") & o["test_set"].map(_kind).eq("authentic")]
        if not o.empty:
            o["plan"] = "synthetic-to-authentic"
            o["pair"] = o["train_set"] + " → " + o["test_set"]
            tables.append(("synthetic_to_authentic", column_table(
                o, "synthetic-to-authentic", columns="pair", metrics=three, stat=stat, method_order=order,
                title="Synthetic-to-authentic", caption=_caption(
                    "Trained on all images of a synthetic-distortion dataset, tested on all images of an "
                    f"authentic-distortion dataset (one run per cell). {plcc_note(mapping)}",
                    list(o["train_set"])))))
    if per_type is not None and not per_type.empty:
        for d in dict.fromkeys(per_type["test_set"]):
            tables.append((f"per_distortion_{d}", per_distortion_table(per_type, d, stat=stat, method_order=order,
                                                                       caption=_caption(
                f"SROCC within each distortion type of {d} ({stat} over the splits where it is defined).", [d]))))
    return tables, summary


def write_all(out: Path, metrics: pd.DataFrame, per_type: pd.DataFrame, failures: pd.DataFrame,
              meta: dict[str, Any], results: list, plots: bool = True, mapping: str = "logistic5",
              aggregate: str = "median"):
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    tables, summary = build_tables(metrics, per_type, deep_preset=meta.get("deep_preset"), aggregate=aggregate,
                                   mapping=mapping, meta=meta)
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
        files += write_plots(out / "plots", metrics, results, mapping, aggregate)
    from .analysis import write_analyses  # significance, severity, recognition, paper table shapes (issue 17)

    files += write_analyses(out, results, metrics, summary, meta, plots=plots)
    return files, summary


def write_plots(folder: Path, metrics: pd.DataFrame, results: list, mapping: str,
                aggregate: str = "median") -> list[Path]:
    """Scatter (predicted vs subjective, fitted logistic) per dataset; SROCC bars by method."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluation import fit_mapping, orient

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
            kind = ""
            if np.ptp(p) > 0 and np.ptp(y) > 0:
                # the curve the mapped PLCC used (a line when the predictor is not monotonic beyond
                # chance), fitted on the oriented values as evaluated, drawn in raw units
                fit = fit_mapping(p, y, mapping)
                kind = "" if fit.kind == mapping else f", {fit.kind}"
                xs = np.linspace(x_raw.min(), x_raw.max(), 200)
                ax.plot(xs, orient(fit(orient(xs, phb)), thb), color="C3", lw=1.5)
            ax.set_title(f"{info.display} ({split}{kind})", fontsize=8)
            ax.set_xlabel(f"prediction ({'higher' if phb else 'lower'} = better)", fontsize=7)
            ax.set_ylabel(f"subjective ({'higher' if thb else 'lower'} = better)", fontsize=7)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        fig.suptitle(f"{ds}: predicted vs subjective, with the fitted {mapping} (or line)", fontsize=10)
        fig.tight_layout()
        files.append(save(fig, folder / f"scatter_{ds}.png"))

    w = metrics[metrics["plan"] == "within"] if not metrics.empty else metrics
    for ds in dict.fromkeys(w["test_set"]) if not w.empty else []:
        g = w[w["test_set"] == ds].groupby(["label"], sort=False)["srocc"]
        s = (g.median() if aggregate == "median" else g.mean()).dropna().sort_values()
        if s.empty:
            continue
        fig, ax = plt.subplots(figsize=(6, 0.3 * len(s) + 1.2))
        ax.barh(list(s.index), s.to_numpy(), color="C0")
        ax.set_xlabel(f"SROCC ({aggregate} over splits)")
        ax.set_xlim(min(0.0, float(s.min()) - 0.05), 1.0)
        ax.set_title(f"{ds}: SROCC by method", fontsize=10)
        files.append(save(fig, folder / f"srocc_{ds}.png"))
    return files


def failure_summary(failures: pd.DataFrame, failed_methods: dict[str, str]) -> str:
    """The end-of-run report of what failed and why (methods without any result first)."""
    if failures.empty and not failed_methods:
        return "no failures"
    f = failures.copy()
    for col in ("stage", "plan", "train_set", "split"):
        if col not in f.columns:
            f[col] = ""
    f = f.fillna("")
    lines = ["failures:"]
    for m, reason in failed_methods.items():
        lines.append(f"  method {m}: no result at all: {short_reason(reason, 300, gist=False)}")
    meth = f[(f["image"] == "") & (f["method"] != "")]
    for (m, d), g in meth.groupby(["method", "dataset"], sort=False):
        if m in failed_methods and g["reason"].nunique() == 1 and g["reason"].iloc[0] == failed_methods[m]:
            continue
        lines.append(f"  {m} on {d}: {len(g)} attempt(s) failed, e.g. {g['plan'].iloc[0]} {g['split'].iloc[0]}: "
                     f"{short_reason(g['reason'].iloc[0], 300, gist=False)}")
    img = f[f["image"] != ""]
    for (m, d, stage), g in img.groupby(["method", "dataset", "stage"], sort=False):
        what = {"train": "training image(s) left out of training", "test": "test image(s) skipped"}.get(
            stage, "image(s) skipped")
        lines.append(f"  {m} on {d}: {g['image'].nunique()} {what}, e.g. {g['image'].iloc[0]}: {g['reason'].iloc[0]}")
    ds = f[(f["image"] == "") & (f["method"] == "")]
    for _, row in ds.iterrows():
        lines.append(f"  dataset {row['dataset']}: {' '.join(str(row['reason']).split(chr(10))[:2])}")
    return "\n".join(lines)
